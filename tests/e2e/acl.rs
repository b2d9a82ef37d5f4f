//! ACLs and Object Ownership through the real binary (issue 19): canned ACLs and grant headers
//! on writes, Put/Get of bucket and object ACLs (by version), grants deciding other users',
//! AuthenticatedUsers' and anonymous requests, Block Public Access acting on ACLs, the owner
//! each ownership mode gives an object, and refusals that change nothing.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketVersioningStatus, ObjectCannedAcl, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, Permission, PublicAccessBlockConfiguration, Type,
    VersioningConfiguration,
};

use crate::harness::{Flavour, Gateway, expect_err, get, hyper_request, put, raw_request};
use crate::hostile::{Payload, Signer};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

async fn create(c: &Client, bucket: &str, ownership: ObjectOwnership) {
    c.create_bucket().bucket(bucket).object_ownership(ownership).send().await.unwrap();
}

/// An unsigned GET's status.
async fn anonymous_get(gw: &Gateway, path: &str) -> u16 {
    hyper_request("GET", &format!("{}/{path}", gw.endpoint()), &[], Vec::new()).await.status
}

/// The owner id and the (grantee id or group URI, permission) pairs of an object's ACL.
async fn object_acl(c: &Client, b: &str, k: &str, v: Option<&str>) -> (String, Vec<String>) {
    let acl = c.get_object_acl().bucket(b).key(k).set_version_id(v.map(str::to_owned));
    let acl = acl.send().await.unwrap();
    let owner = acl.owner().and_then(|o| o.id()).unwrap_or_default().to_owned();
    let grants = acl
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee().map_or(String::new(), |g| match g.r#type() {
                Type::Group => g.uri().unwrap_or_default().to_owned(),
                _ => g.id().unwrap_or_default().to_owned(),
            });
            format!("{who} {}", g.permission().map_or("", Permission::as_str))
        })
        .collect();
    (owner, grants)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_acls_decide_reads() {
    let gw = Gateway::start();
    let (ak, sk) = gw.add_user("alice");
    let (bk, bs) = gw.add_user("bob");
    let alice = gw.client_as(&ak, &sk, Flavour::Default);
    let bob = gw.client_as(&bk, &bs, Flavour::Default);
    let b = "acl-reads";
    create(&alice, b, ObjectOwnership::ObjectWriter).await;
    let ownership = alice.get_bucket_ownership_controls().bucket(b).send().await.unwrap();
    let rule = &ownership.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership(), &ObjectOwnership::ObjectWriter);

    // public-read: anyone reads it with a plain unsigned GET; private: nobody but alice.
    alice
        .put_object()
        .bucket(b)
        .key("pub")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"hello world".to_vec().into())
        .send()
        .await
        .unwrap();
    put(&alice, b, "priv", b"secret").await;
    let raw = hyper_request("GET", &format!("{}/{b}/pub", gw.endpoint()), &[], Vec::new()).await;
    assert_eq!((raw.status, raw.body.as_slice()), (200, &b"hello world"[..]));
    assert_eq!(anonymous_get(&gw, &format!("{b}/priv")).await, 403);
    // The public ACL lets nobody list the bucket, nor read another key: and a missing key is
    // AccessDenied, never NoSuchKey, to whoever may not list.
    assert_eq!(anonymous_get(&gw, b).await, 403);
    assert_eq!(anonymous_get(&gw, &format!("{b}/missing")).await, 403);
    let (owner, grants) = object_acl(&alice, b, "pub", None).await;
    assert_eq!(owner, "alice");
    assert_eq!(grants, [format!("{ALL_USERS} READ"), "alice FULL_CONTROL".to_owned()]);

    // A grant to bob by id: bob reads it, anonymous still does not; bob may not read the ACL.
    expect_err(bob.get_object().bucket(b).key("priv").send().await, 403, "AccessDenied", "bob");
    alice.put_object_acl().bucket(b).key("priv").grant_read("id=bob").send().await.unwrap();
    assert_eq!(get(&bob, b, "priv").await, b"secret");
    assert_eq!(anonymous_get(&gw, &format!("{b}/priv")).await, 403);
    expect_err(
        bob.get_object_acl().bucket(b).key("priv").send().await,
        403,
        "AccessDenied",
        "bob's READ is not READ_ACP",
    );
    expect_err(
        bob.put_object_acl().bucket(b).key("priv").acl(ObjectCannedAcl::PublicRead).send().await,
        403,
        "AccessDenied",
        "bob's READ is not WRITE_ACP",
    );
    assert_eq!(anonymous_get(&gw, &format!("{b}/priv")).await, 403);

    // authenticated-read: every signed user, nobody anonymous.
    alice
        .put_object()
        .bucket(b)
        .key("auth")
        .acl(ObjectCannedAcl::AuthenticatedRead)
        .body(b"members".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&bob, b, "auth").await, b"members");
    assert_eq!(anonymous_get(&gw, &format!("{b}/auth")).await, 403);

    // IgnorePublicAcls: public grants count for nothing while it is on; BlockPublicAcls:
    // a public ACL is refused and nothing is written.
    let pab = |block: bool, ignore: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(block)
            .ignore_public_acls(ignore)
            .build()
    };
    let set_pab = |c: PublicAccessBlockConfiguration| {
        alice.put_public_access_block().bucket(b).public_access_block_configuration(c).send()
    };
    set_pab(pab(false, true)).await.unwrap();
    assert_eq!(anonymous_get(&gw, &format!("{b}/pub")).await, 403);
    assert_eq!(get(&bob, b, "priv").await, b"secret", "a grant to a user is not public");
    set_pab(pab(true, false)).await.unwrap();
    assert_eq!(anonymous_get(&gw, &format!("{b}/pub")).await, 200);
    expect_err(
        alice
            .put_object()
            .bucket(b)
            .key("blocked")
            .acl(ObjectCannedAcl::PublicRead)
            .body(b"x".to_vec().into())
            .send()
            .await,
        403,
        "AccessDenied",
        "BlockPublicAcls on PutObject",
    );
    assert!(alice.head_object().bucket(b).key("blocked").send().await.is_err());
    expect_err(
        alice.put_object_acl().bucket(b).key("priv").acl(ObjectCannedAcl::PublicRead).send().await,
        403,
        "AccessDenied",
        "BlockPublicAcls on PutObjectAcl",
    );
    assert_eq!(anonymous_get(&gw, &format!("{b}/priv")).await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_grants_and_ownership_modes() {
    let gw = Gateway::start();
    let (ak, sk) = gw.add_user("alice");
    let (bk, bs) = gw.add_user("bob");
    let alice = gw.client_as(&ak, &sk, Flavour::Default);
    let bob = gw.client_as(&bk, &bs, Flavour::Default);
    for (b, ownership) in [
        ("own-writer", ObjectOwnership::ObjectWriter),
        ("own-preferred", ObjectOwnership::BucketOwnerPreferred),
    ] {
        create(&alice, b, ownership.clone()).await;
        expect_err(
            bob.put_object().bucket(b).key("k").body(b"x".to_vec().into()).send().await,
            403,
            "AccessDenied",
            "no grant yet",
        );
        // WRITE on the bucket: bob writes; READ is still alice's alone.
        alice.put_bucket_acl().bucket(b).grant_write("id=bob").send().await.unwrap();
        put(&bob, b, "plain", b"by bob").await;
        bob.put_object()
            .bucket(b)
            .key("given")
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .body(b"for alice".to_vec().into())
            .send()
            .await
            .unwrap();
        expect_err(bob.list_objects_v2().bucket(b).send().await, 403, "AccessDenied", "no READ");
        // The writer owns what it writes, except under BucketOwnerPreferred with
        // bucket-owner-full-control, where the bucket owner does.
        let given_owner = if ownership == ObjectOwnership::ObjectWriter { "bob" } else { "alice" };
        assert_eq!(object_acl(&alice, b, "plain", None).await.0, "bob", "{b}");
        let (owner, grants) = object_acl(&alice, b, "given", None).await;
        assert_eq!(owner, given_owner, "{b}");
        if ownership == ObjectOwnership::ObjectWriter {
            assert_eq!(grants, ["bob FULL_CONTROL", "alice FULL_CONTROL"], "{b}");
        }
        // bob owns `plain`: he reads it and its ACL.
        assert_eq!(get(&bob, b, "plain").await, b"by bob");
        assert_eq!(object_acl(&bob, b, "plain", None).await.0, "bob");
        // READ on the bucket: bob lists.
        alice.put_bucket_acl().bucket(b).grant_read("id=bob").send().await.unwrap();
        let listed = bob.list_objects_v2().bucket(b).send().await.unwrap();
        assert_eq!(listed.contents().len(), 2, "{b}");
        // A public bucket ACL cannot be kept when ACLs are switched off.
        alice.put_bucket_acl().bucket(b).acl(BucketCannedAcl::PublicRead).send().await.unwrap();
        let enforced = OwnershipControls::builder()
            .rules(
                OwnershipControlsRule::builder()
                    .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let switch = || {
            alice
                .put_bucket_ownership_controls()
                .bucket(b)
                .ownership_controls(enforced.clone())
                .send()
        };
        expect_err(switch().await, 400, "InvalidBucketAclWithObjectOwnership", "public ACL");
        alice.put_bucket_acl().bucket(b).acl(BucketCannedAcl::Private).send().await.unwrap();
        switch().await.unwrap();
        // ACLs off: bob's grants are gone, the bucket owner owns everything.
        expect_err(
            bob.get_object().bucket(b).key("plain").send().await,
            403,
            "AccessDenied",
            "enforced",
        );
        assert_eq!(object_acl(&alice, b, "plain", None).await.0, "alice");
        alice.delete_bucket_ownership_controls().bucket(b).send().await.unwrap();
        expect_err(
            alice.get_bucket_ownership_controls().bucket(b).send().await,
            404,
            "OwnershipControlsNotFoundError",
            "deleted",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_by_version_and_refusals() {
    let gw = Gateway::start();
    let (ak, sk) = gw.add_user("alice");
    let alice = gw.client_as(&ak, &sk, Flavour::Default);
    let b = "acl-versions";
    create(&alice, b, ObjectOwnership::BucketOwnerPreferred).await;
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled);
    let v = alice.put_bucket_versioning().bucket(b).versioning_configuration(enabled.build());
    v.send().await.unwrap();
    let v1 = alice
        .put_object()
        .bucket(b)
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    put(&alice, b, "k", b"two").await;
    // The old version keeps its public ACL; the latest is private.
    let (_, grants) = object_acl(&alice, b, "k", Some(&v1)).await;
    assert!(grants.contains(&format!("{ALL_USERS} READ")), "{grants:?}");
    let (_, grants) = object_acl(&alice, b, "k", None).await;
    assert_eq!(grants, ["alice FULL_CONTROL"]);
    assert_eq!(anonymous_get(&gw, &format!("{b}/k?versionId={v1}")).await, 200);
    assert_eq!(anonymous_get(&gw, &format!("{b}/k")).await, 403);

    // A malformed ACL document is MalformedACLError and changes nothing.
    let signer = Signer { ak: ak.clone(), sk: sk.clone(), ..Signer::root(&gw) };
    let send = |target: String, headers: Vec<(&'static str, String)>, body: &'static [u8]| {
        let signer = signer.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let req = signer.request("PUT", &target, &h, &[], body, &Payload::Sha256);
            raw_request(signer.port, &req).await
        }
    };
    let bad = b"<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee>\
                <Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>";
    send(format!("/{b}/k?acl&versionId={v1}"), vec![], bad).await.assert_error(
        400,
        "MalformedACLError",
        "grantee without xsi:type",
    );
    send(format!("/{b}?acl"), vec![], b"not xml").await.assert_error(
        400,
        "MalformedACLError",
        "not xml",
    );
    let (_, grants) = object_acl(&alice, b, "k", Some(&v1)).await;
    assert!(grants.contains(&format!("{ALL_USERS} READ")), "unchanged: {grants:?}");
    // An unknown canonical id, and any e-mail grantee, are refused as AWS refuses them.
    expect_err(
        alice.put_bucket_acl().bucket(b).grant_read("id=nobody").send().await,
        400,
        "InvalidArgument",
        "unknown id",
    );
    expect_err(
        alice.put_bucket_acl().bucket(b).grant_read("emailAddress=\"a@example.com\"").send().await,
        400,
        "UnresolvableGrantByEmailAddress",
        "email",
    );
    let acl = alice.get_bucket_acl().bucket(b).send().await.unwrap();
    assert_eq!(acl.grants().len(), 1, "the bucket ACL is still private");

    // A bucket created without the header is BucketOwnerEnforced: ACLs are refused.
    let plain = "acl-enforced";
    alice.create_bucket().bucket(plain).send().await.unwrap();
    let got = alice.get_bucket_ownership_controls().bucket(plain).send().await.unwrap();
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership(), &ObjectOwnership::BucketOwnerEnforced);
    expect_err(
        alice
            .put_object()
            .bucket(plain)
            .key("k")
            .acl(ObjectCannedAcl::PublicRead)
            .body(b"x".to_vec().into())
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        "enforced",
    );
    expect_err(
        alice.create_bucket().bucket("acl-public").acl(BucketCannedAcl::PublicRead).send().await,
        400,
        "InvalidBucketAclWithObjectOwnership",
        "public bucket ACL without ownership",
    );
    assert!(alice.head_bucket().bucket("acl-public").send().await.is_err());
    // With ObjectWriter, a public bucket ACL is set at creation: anyone lists.
    alice
        .create_bucket()
        .bucket("acl-public")
        .acl(BucketCannedAcl::PublicRead)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get(&gw, "acl-public").await, 200);
}
