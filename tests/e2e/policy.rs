//! Bucket policies through the real binary: Put/Get/DeleteBucketPolicy and
//! GetBucketPolicyStatus, and the authorization layer deciding other users' and anonymous
//! requests by them (prefix grants, `s3:prefix` on ListBucket, `aws:SourceIp`, a Deny that binds
//! the owner, root's lock-out exemption, DeleteObjects per key, copies' sources).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::harness::{
    Flavour, Gateway, create_bucket, err_info, expect_err, get, hyper_request, put,
};

const ACCOUNT: &str = "000000000000";

fn policy(statements: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_policy_grants_and_denies() {
    let gw = Gateway::start();
    let (ak, sk) = gw.add_user("alice");
    let (bk, bs) = gw.add_user("bob");
    let root = gw.client(Flavour::Default);
    let alice = gw.client_as(&ak, &sk, Flavour::Default);
    let bob = gw.client_as(&bk, &bs, Flavour::Default);
    let b = "shared";
    create_bucket(&alice, b).await;
    put(&alice, b, "pub/a.txt", b"public a").await;
    put(&alice, b, "priv/b.txt", b"private b").await;

    // Unset: 404 NoSuchBucketPolicy for the policy and its status.
    expect_err(
        alice.get_bucket_policy().bucket(b).send().await,
        404,
        "NoSuchBucketPolicy",
        "unset",
    );
    expect_err(
        alice.get_bucket_policy_status().bucket(b).send().await,
        404,
        "NoSuchBucketPolicy",
        "unset status",
    );
    // Bob can do nothing yet.
    expect_err(
        bob.get_object().bucket(b).key("pub/a.txt").send().await,
        403,
        "AccessDenied",
        "no policy",
    );
    // Nobody but the owner (and root) manages the policy.
    let grant_bob = policy(&format!(
        r#"{{"Sid": "BobReadsPub", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:user/bob"}},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/pub/*"}},
           {{"Sid": "BobListsPub", "Effect": "Allow", "Principal": {{"AWS": "bob"}},
            "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::{b}",
            "Condition": {{"StringLike": {{"s3:prefix": "pub/*"}}}}}},
           {{"Sid": "BobDeletesPub", "Effect": "Allow", "Principal": {{"AWS": "bob"}},
            "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::{b}/pub/*"}}"#
    ));
    expect_err(
        bob.put_bucket_policy().bucket(b).policy(&grant_bob).send().await,
        403,
        "AccessDenied",
        "bob sets alice's policy",
    );
    alice.put_bucket_policy().bucket(b).policy(&grant_bob).send().await.unwrap();
    let got = alice.get_bucket_policy().bucket(b).send().await.unwrap();
    assert_eq!(got.policy(), Some(grant_bob.as_str()), "the policy comes back as written");
    let status = alice.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(
        status.policy_status().and_then(aws_sdk_s3::types::PolicyStatus::is_public),
        Some(false)
    );

    // Bob reads pub/, not priv/; lists with the prefix only; writes nothing.
    assert_eq!(get(&bob, b, "pub/a.txt").await, b"public a");
    expect_err(
        bob.get_object().bucket(b).key("priv/b.txt").send().await,
        403,
        "AccessDenied",
        "priv",
    );
    let listed = bob.list_objects_v2().bucket(b).prefix("pub/").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    expect_err(
        bob.list_objects_v2().bucket(b).send().await,
        403,
        "AccessDenied",
        "list without prefix",
    );
    // A missing key is 404 where bob may list it, 403 where he may not (AWS's rule).
    let head = |k: &'static str| bob.head_object().bucket(b).key(k).send();
    expect_err(head("pub/none").await, 404, "", "missing, listable");
    expect_err(head("priv/none").await, 403, "", "missing, unlistable");
    let get_missing = bob.get_object().bucket(b).key("pub/none").send().await;
    expect_err(get_missing, 404, "NoSuchKey", "missing");
    expect_err(
        bob.put_object().bucket(b).key("pub/new").body(ByteStream::from_static(b"x")).send().await,
        403,
        "AccessDenied",
        "bob writes",
    );
    // DeleteObjects is decided per key: pub/ goes, priv/ stays with AccessDenied.
    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("pub/a.txt").build().unwrap())
        .objects(ObjectIdentifier::builder().key("priv/b.txt").build().unwrap())
        .build()
        .unwrap();
    let out = bob.delete_objects().bucket(b).delete(del).send().await.unwrap();
    assert_eq!(out.deleted().len(), 1, "{out:?}");
    assert_eq!(out.deleted()[0].key(), Some("pub/a.txt"));
    assert_eq!(out.errors().len(), 1, "{out:?}");
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert_eq!(get(&alice, b, "priv/b.txt").await, b"private b");
    // A copy needs read access to its source: bob may not copy priv/ into his own bucket.
    create_bucket(&bob, "bobs").await;
    let copy =
        bob.copy_object().bucket("bobs").key("stolen").copy_source(format!("{b}/priv/b.txt"));
    expect_err(copy.send().await, 403, "AccessDenied", "copy from a denied source");
    put(&alice, b, "pub/c.txt", b"copy me").await;
    let copy = bob.copy_object().bucket("bobs").key("mine").copy_source(format!("{b}/pub/c.txt"));
    copy.send().await.unwrap();
    assert_eq!(get(&bob, "bobs", "mine").await, b"copy me");

    // An explicit Deny binds the owner too; root may still repair the policy.
    let lockout = policy(&format!(
        r#"{{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::{b}", "arn:aws:s3:::{b}/*"]}}"#
    ));
    alice.put_bucket_policy().bucket(b).policy(&lockout).send().await.unwrap();
    expect_err(
        alice.get_object().bucket(b).key("priv/b.txt").send().await,
        403,
        "AccessDenied",
        "owner denied",
    );
    expect_err(
        alice.delete_bucket_policy().bucket(b).send().await,
        403,
        "AccessDenied",
        "owner locked out",
    );
    expect_err(
        root.get_object().bucket(b).key("priv/b.txt").send().await,
        403,
        "AccessDenied",
        "root denied",
    );
    root.delete_bucket_policy().bucket(b).send().await.unwrap();
    assert_eq!(get(&alice, b, "priv/b.txt").await, b"private b");
    expect_err(
        bob.get_object().bucket(b).key("pub/c.txt").send().await,
        403,
        "AccessDenied",
        "policy gone",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_and_source_ip() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = "www";
    create_bucket(&c, b).await;
    put(&c, b, "site/index.html", b"<h1>hello</h1>").await;
    put(&c, b, "secret", b"no").await;
    let url = |k: &str| format!("{}/{b}/{k}", gw.endpoint());
    hyper_request("GET", &url("site/index.html"), &[], Vec::new()).await.assert_error(
        403,
        "AccessDenied",
        "anonymous before the policy",
    );

    let public = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::{b}/site/*"}}"#
    ));
    c.put_bucket_policy().bucket(b).policy(&public).send().await.unwrap();
    let status = c.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(
        status.policy_status().and_then(aws_sdk_s3::types::PolicyStatus::is_public),
        Some(true)
    );
    let raw = hyper_request("GET", &url("site/index.html"), &[], Vec::new()).await;
    assert_eq!((raw.status, raw.body.as_slice()), (200, &b"<h1>hello</h1>"[..]), "{}", raw.text());
    hyper_request("GET", &url("secret"), &[], Vec::new()).await.assert_error(
        403,
        "AccessDenied",
        "anonymous outside the grant",
    );
    hyper_request("PUT", &url("site/evil"), &[], b"x".to_vec()).await.assert_error(
        403,
        "AccessDenied",
        "anonymous write",
    );
    hyper_request("GET", &format!("{}/{b}", gw.endpoint()), &[], Vec::new()).await.assert_error(
        403,
        "AccessDenied",
        "anonymous list",
    );
    hyper_request("GET", &format!("{}/nosuchbucket/k", gw.endpoint()), &[], Vec::new())
        .await
        .assert_error(404, "NoSuchBucket", "anonymous on a missing bucket");

    // A Deny for the client's address (the tests talk over 127.0.0.1) wins over the Allow.
    let fenced = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::{b}/site/*"}},
           {{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::{b}/site/*",
            "Condition": {{"IpAddress": {{"aws:SourceIp": "127.0.0.0/8"}}}}}}"#
    ));
    c.put_bucket_policy().bucket(b).policy(&fenced).send().await.unwrap();
    hyper_request("GET", &url("site/index.html"), &[], Vec::new()).await.assert_error(
        403,
        "AccessDenied",
        "denied by source ip",
    );
    expect_err(
        c.get_object().bucket(b).key("site/index.html").send().await,
        403,
        "AccessDenied",
        "owner too",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_policies_change_nothing() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = "strict";
    create_bucket(&c, b).await;
    let good = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"}}"#
    ));
    c.put_bucket_policy().bucket(b).policy(&good).send().await.unwrap();
    for (what, text) in [
        ("not json", "nope".to_owned()),
        ("unknown action", good.replace("s3:GetObject", "s3:FlyToTheMoon")),
        ("another bucket", good.replace(&format!(":::{b}/"), ":::other/")),
        ("unknown user", good.replace(r#""Principal": "*""#, r#""Principal": {"AWS": "nobody"}"#)),
        ("no principal", good.replace(r#""Principal": "*", "#, "")),
        ("too large", format!("{}{}", good, " ".repeat(21 * 1024))),
    ] {
        let res = c.put_bucket_policy().bucket(b).policy(&text).send().await;
        let (status, code) = err_info(&res.expect_err(what));
        assert_eq!((status, code.as_str()), (400, "MalformedPolicy"), "{what}");
    }
    let got = c.get_bucket_policy().bucket(b).send().await.unwrap();
    assert_eq!(got.policy(), Some(good.as_str()), "a refused policy changes nothing");
    expect_err(
        c.get_bucket_policy().bucket("nosuch").send().await,
        404,
        "NoSuchBucket",
        "missing bucket",
    );
    c.delete_bucket_policy().bucket(b).send().await.unwrap();
    c.delete_bucket_policy().bucket(b).send().await.unwrap();
    expect_err(c.get_bucket_policy().bucket(b).send().await, 404, "NoSuchBucketPolicy", "deleted");
    // The bucket's policy goes with the bucket.
    c.put_bucket_policy().bucket(b).policy(&good).send().await.unwrap();
    c.delete_bucket().bucket(b).send().await.unwrap();
    create_bucket(&c, b).await;
    expect_err(
        c.get_bucket_policy().bucket(b).send().await,
        404,
        "NoSuchBucketPolicy",
        "new bucket",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tags_in_conditions() {
    let gw = Gateway::start();
    let (bk, bs) = gw.add_user("bob");
    let c = gw.client(Flavour::Default);
    let bob = gw.client_as(&bk, &bs, Flavour::Default);
    let b = "tagged";
    create_bucket(&c, b).await;
    for (key, tag) in [("open", "security=public"), ("closed", "security=secret")] {
        let body = ByteStream::from_static(b"data");
        c.put_object().bucket(b).key(key).tagging(tag).body(body).send().await.unwrap();
    }
    let text = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "bob"}}, "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::{b}/*",
            "Condition": {{"StringEquals": {{"s3:ExistingObjectTag/security": "public"}}}}}},
           {{"Effect": "Allow", "Principal": {{"AWS": "bob"}}, "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::{b}/*",
            "Condition": {{"StringEquals": {{"s3:RequestObjectTag/team": "blue"}}}}}}"#
    ));
    c.put_bucket_policy().bucket(b).policy(&text).send().await.unwrap();
    assert_eq!(get(&bob, b, "open").await, b"data");
    let closed = bob.get_object().bucket(b).key("closed").send().await;
    expect_err(closed, 403, "AccessDenied", "secret tag");
    let put = |tag: &'static str| {
        bob.put_object().bucket(b).key("up").tagging(tag).body(ByteStream::from_static(b"x")).send()
    };
    expect_err(put("team=red").await, 403, "AccessDenied", "wrong request tag");
    put("team=blue").await.unwrap();
    let stored = c.head_object().bucket(b).key("up").send().await.unwrap();
    assert_eq!(stored.content_length(), Some(1));
}

/// Block Public Access on a bucket: Put/Get/DeletePublicAccessBlock, BlockPublicPolicy refusing
/// a public policy (and only a public one), RestrictPublicBuckets cutting anonymous requesters
/// off a public policy while the account's users keep what it grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_public_access() {
    use aws_sdk_s3::types::PublicAccessBlockConfiguration as Bpa;
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = "bpa";
    create_bucket(&c, b).await;
    put(&c, b, "page", b"public page").await;
    let (bob_key, bob_secret) = gw.add_user("bob");
    let bob = gw.client_as(&bob_key, &bob_secret, Flavour::Default);
    let err = c.get_public_access_block().bucket(b).send().await;
    expect_err(err, 404, "NoSuchPublicAccessBlockConfiguration", "unset");
    let bpa = |policy: bool, restrict: bool| {
        Bpa::builder().block_public_policy(policy).restrict_public_buckets(restrict).build()
    };
    c.put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(bpa(true, false))
        .send()
        .await
        .unwrap();
    let got = c.get_public_access_block().bucket(b).send().await.unwrap();
    let got = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (got.block_public_policy(), got.restrict_public_buckets(), got.block_public_acls()),
        (Some(true), Some(false), Some(false))
    );

    let public = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"}}"#
    ));
    let for_bob = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "bob"}}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"}}"#
    ));
    let err = c.put_bucket_policy().bucket(b).policy(&public).send().await;
    expect_err(err, 403, "AccessDenied", "BlockPublicPolicy refuses a public policy");
    expect_err(
        c.get_bucket_policy().bucket(b).send().await,
        404,
        "NoSuchBucketPolicy",
        "nothing stored",
    );
    c.put_bucket_policy().bucket(b).policy(&for_bob).send().await.unwrap();

    // Public policy, then RestrictPublicBuckets: anonymous reads stop, bob's and the owner's go on.
    c.put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(bpa(false, false))
        .send()
        .await
        .unwrap();
    let both = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"}}"#
    ));
    c.put_bucket_policy().bucket(b).policy(&both).send().await.unwrap();
    let url = format!("{}/{b}/page", gw.endpoint());
    let r = hyper_request("GET", &url, &[], Vec::new()).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"public page"[..]));
    c.put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(bpa(false, true))
        .send()
        .await
        .unwrap();
    hyper_request("GET", &url, &[], Vec::new()).await.assert_error(
        403,
        "AccessDenied",
        "restricted",
    );
    assert_eq!(get(&bob, b, "page").await, b"public page");
    assert_eq!(get(&c, b, "page").await, b"public page");

    // A malformed configuration changes nothing; deleting it lifts the restriction.
    let signer = crate::hostile::Signer::root(&gw);
    let body = b"<PublicAccessBlockConfiguration><BlockPublicPolicy>maybe</BlockPublicPolicy></PublicAccessBlockConfiguration>";
    let req = signer.request(
        "PUT",
        &format!("/{b}?publicAccessBlock"),
        &[],
        &[],
        body,
        &crate::hostile::Payload::Sha256,
    );
    let r = crate::harness::raw_request(gw.port, &req).await;
    assert_eq!((r.status, r.error_code().as_deref()), (400, Some("MalformedXML")), "{}", r.text());
    let got = c.get_public_access_block().bucket(b).send().await.unwrap();
    assert_eq!(
        got.public_access_block_configuration().unwrap().restrict_public_buckets(),
        Some(true)
    );
    c.delete_public_access_block().bucket(b).send().await.unwrap();
    let r = hyper_request("GET", &url, &[], Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}
