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

/// The condition keys that come from what a write asks for and how it was signed:
/// `s3:object-lock-*` from a write's lock headers and from a PutObjectRetention or
/// PutObjectLegalHold body, `s3:ObjectCreationOperation` (write-once objects with multipart
/// parts exempt), and `s3:signatureAge` of a presigned URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_creation_and_signature_age_keys() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use aws_sdk_s3::types::{
        ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
        ObjectLockRetentionMode,
    };
    use std::time::{Duration, SystemTime};

    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = "lockkeys";
    c.create_bucket().bucket(b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let doc = policy(&format!(
        r#"{{"Sid": "NoCompliance", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::{b}/*",
            "Condition": {{"StringEquals": {{"s3:object-lock-mode": "COMPLIANCE"}}}}}},
           {{"Sid": "AtMost30Days", "Effect": "Deny", "Principal": "*",
            "Action": ["s3:PutObject", "s3:PutObjectRetention"], "Resource": "arn:aws:s3:::{b}/*",
            "Condition": {{"NumericGreaterThan": {{"s3:object-lock-remaining-retention-days": "30"}}}}}},
           {{"Sid": "NoHoldsUnderHeld", "Effect": "Deny", "Principal": "*",
            "Action": "s3:PutObjectLegalHold", "Resource": "arn:aws:s3:::{b}/free/*",
            "Condition": {{"StringEquals": {{"s3:object-lock-legal-hold": "ON"}}}}}},
           {{"Sid": "CreateOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::{b}/ledger/*",
            "Condition": {{"Null": {{"s3:if-none-match": "true"}},
                          "Bool": {{"s3:ObjectCreationOperation": "true"}}}}}},
           {{"Sid": "FreshLinks", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::{b}/*",
            "Condition": {{"NumericGreaterThan": {{"s3:signatureAge": "600000"}}}}}}"#
    ));
    c.put_bucket_policy().bucket(b).policy(&doc).send().await.unwrap();
    let days = |n: u64| {
        aws_sdk_s3::primitives::DateTime::from(SystemTime::now() + Duration::from_secs(n * 86_400))
    };
    let put = |key: &str| c.put_object().bucket(b).key(key).body(ByteStream::from_static(b"x"));

    // Lock headers of a PutObject.
    let compliance = put("a")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(days(1));
    expect_err(compliance.send().await, 403, "AccessDenied", "COMPLIANCE is denied");
    let long = put("a")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(days(40));
    expect_err(long.send().await, 403, "AccessDenied", "40 days is more than 30");
    let short = put("a")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(days(5));
    short.send().await.unwrap();
    // The same key on a CreateMultipartUpload.
    let cmu = c
        .create_multipart_upload()
        .bucket(b)
        .key("mp")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(days(1));
    expect_err(cmu.send().await, 403, "AccessDenied", "COMPLIANCE multipart upload");

    // PutObjectRetention: the body's date decides; a refused one changes nothing.
    let retention = |d: u64| {
        ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Governance)
            .retain_until_date(days(d))
            .build()
    };
    let extend = c.put_object_retention().bucket(b).key("a").retention(retention(60));
    expect_err(extend.send().await, 403, "AccessDenied", "retention of 60 days");
    let before = c.get_object_retention().bucket(b).key("a").send().await.unwrap();
    let until = before.retention().and_then(|r| r.retain_until_date()).unwrap().secs();
    let now = aws_sdk_s3::primitives::DateTime::from(SystemTime::now()).secs();
    assert!(until - now < 6 * 86_400, "the refused retention was not applied");
    c.put_object_retention().bucket(b).key("a").retention(retention(20)).send().await.unwrap();

    // PutObjectLegalHold: the body's status decides.
    put("free/h").send().await.unwrap();
    let hold = |s| ObjectLockLegalHold::builder().status(s).build();
    let on = c.put_object_legal_hold().bucket(b).key("free/h");
    let on = on.legal_hold(hold(ObjectLockLegalHoldStatus::On));
    expect_err(on.send().await, 403, "AccessDenied", "a legal hold under free/");
    let off = c.put_object_legal_hold().bucket(b).key("free/h");
    off.legal_hold(hold(ObjectLockLegalHoldStatus::Off)).send().await.unwrap();

    // Write-once: a PutObject must say If-None-Match; multipart parts need not.
    expect_err(put("ledger/1").send().await, 403, "AccessDenied", "an overwrite-capable PUT");
    put("ledger/1").if_none_match("*").send().await.unwrap();
    let up = c.create_multipart_upload().bucket(b).key("ledger/2").send().await.unwrap();
    let part = c
        .upload_part()
        .bucket(b)
        .key("ledger/2")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await;
    part.expect("UploadPart is no object creation");

    // A presigned URL signed 20 minutes ago (valid for an hour) is too old; a fresh one is not.
    let url = async |start: SystemTime| {
        let cfg = PresigningConfig::builder()
            .start_time(start)
            .expires_in(Duration::from_secs(3600))
            .build()
            .unwrap();
        let p = c.get_object().bucket(b).key("free/h").presigned(cfg).await.unwrap();
        p.uri().to_owned()
    };
    let old = url(SystemTime::now() - Duration::from_secs(1200)).await;
    hyper_request("GET", &old, &[], Vec::new()).await.assert_error(403, "AccessDenied", "old");
    let fresh = url(SystemTime::now()).await;
    assert_eq!(hyper_request("GET", &fresh, &[], Vec::new()).await.status, 200);
}

/// A user a bucket policy lets upload may list the parts of and abort the multipart uploads
/// they started (AWS's initiator rule), nobody else's; under BucketOwnerEnforced the bucket
/// owner owns what they write, and listings say so (the initiator stays the writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_initiators_and_enforced_owners() {
    let gw = Gateway::start();
    let (ak, sk) = gw.add_user("alice");
    let (bk, bs) = gw.add_user("bob");
    let (ck, cs) = gw.add_user("carol");
    let alice = gw.client_as(&ak, &sk, Flavour::Default);
    let bob = gw.client_as(&bk, &bs, Flavour::Default);
    let carol = gw.client_as(&ck, &cs, Flavour::Default);
    let b = "dropbox";
    create_bucket(&alice, b).await;
    let doc = policy(&format!(
        r#"{{"Sid": "Uploads", "Effect": "Allow", "Principal": {{"AWS": ["bob", "carol"]}},
            "Action": "s3:PutObject", "Resource": "arn:aws:s3:::{b}/*"}}"#
    ));
    alice.put_bucket_policy().bucket(b).policy(&doc).send().await.unwrap();
    let up = bob.create_multipart_upload().bucket(b).key("in/big").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = bob.upload_part().bucket(b).key("in/big").upload_id(id).part_number(1);
    part.body(ByteStream::from_static(b"part one")).send().await.unwrap();

    // Bob lists his upload's parts: he started it. Alice owns the object-to-be.
    let parts = bob.list_parts().bucket(b).key("in/big").upload_id(id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(parts.initiator().and_then(|i| i.id()), Some("bob"));
    assert_eq!(parts.owner().and_then(|o| o.id()), Some("alice"));
    let uploads = alice.list_multipart_uploads().bucket(b).send().await.unwrap();
    let listed = &uploads.uploads()[0];
    assert_eq!(listed.initiator().and_then(|i| i.id()), Some("bob"));
    assert_eq!(listed.owner().and_then(|o| o.id()), Some("alice"));
    // Carol may upload too, but this upload is not hers.
    expect_err(
        carol.list_parts().bucket(b).key("in/big").upload_id(id).send().await,
        403,
        "AccessDenied",
        "another's upload's parts",
    );
    expect_err(
        carol.abort_multipart_upload().bucket(b).key("in/big").upload_id(id).send().await,
        403,
        "AccessDenied",
        "aborting another's upload",
    );
    bob.abort_multipart_upload().bucket(b).key("in/big").upload_id(id).send().await.unwrap();
    expect_err(
        alice.list_parts().bucket(b).key("in/big").upload_id(id).send().await,
        404,
        "NoSuchUpload",
        "the aborted upload",
    );

    // What bob writes, alice owns (BucketOwnerEnforced, the default).
    put(&bob, b, "in/small", b"small").await;
    let listed = alice.list_objects_v2().bucket(b).fetch_owner(true).send().await.unwrap();
    let object = &listed.contents()[0];
    assert_eq!(object.owner().and_then(|o| o.id()), Some("alice"));
    let versions = alice.list_object_versions().bucket(b).send().await.unwrap();
    assert_eq!(versions.versions()[0].owner().and_then(|o| o.id()), Some("alice"));
}

/// The gateway-wide Block Public Access (`serve --block-public-access`, AWS's account-level
/// setting) applies to every bucket, merged with the bucket's own: with `all`, a public policy
/// and a public ACL are refused; with `restrict-public-buckets`, a public policy is stored
/// but lets no anonymous request in, while its named users keep their access.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_wide_block_public_access() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectOwnership};
    let (ak, sk) = crate::harness::random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--block-public-access", "all"]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "sealed").await;
    let public = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::sealed/*"}"#,
    );
    expect_err(
        c.put_bucket_policy().bucket("sealed").policy(&public).send().await,
        403,
        "AccessDenied",
        "a public policy under the gateway's BlockPublicPolicy",
    );
    let public_acl = c
        .create_bucket()
        .bucket("sealed-acl")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    expect_err(public_acl, 403, "AccessDenied", "a public CreateBucket ACL");
    expect_err(
        c.head_bucket().bucket("sealed-acl").send().await,
        404,
        "NotFound",
        "the refused bucket was not created",
    );
    // The bucket's own (empty) setting does not lift the gateway's.
    let got = c.get_public_access_block().bucket("sealed").send().await;
    expect_err(got, 404, "NoSuchPublicAccessBlockConfiguration", "the bucket sets none itself");

    let (ak2, sk2) = crate::harness::random_keys();
    let gw2 =
        Gateway::start_with_keys(&ak2, &sk2, &["--block-public-access", "restrict-public-buckets"]);
    let (bk, bs) = gw2.add_user("bob");
    let c2 = gw2.client(Flavour::Default);
    let bob = gw2.client_as(&bk, &bs, Flavour::Default);
    create_bucket(&c2, "site").await;
    put(&c2, "site", "index.html", b"hello").await;
    let doc = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::site/*"}"#,
    );
    c2.put_bucket_policy().bucket("site").policy(&doc).send().await.unwrap();
    let url = format!("{}/site/index.html", gw2.endpoint());
    hyper_request("GET", &url, &[], Vec::new()).await.assert_error(
        403,
        "AccessDenied",
        "anonymous, under the gateway's RestrictPublicBuckets",
    );
    assert_eq!(
        get(&bob, "site", "index.html").await,
        b"hello",
        "a user of the gateway still reads"
    );
}
