//! Authentication and authorization: bad keys, other users, anonymous and presigned requests,
//! request ids and error bodies.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::harness::{
    Flavour, Gateway, bucket_name, client_for, create_bucket, err_info, expect_err, get,
    hyper_request, put, random_keys, run_cli,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("creds", flavour);
        create_bucket(&c, &b).await;
        put(&c, &b, "k", b"secret data").await;

        let wrong_secret = gw.client_as(&gw.access_key, "not-the-secret-key-at-all", flavour);
        expect_err(
            wrong_secret.get_object().bucket(&b).key("k").send().await,
            403,
            "SignatureDoesNotMatch",
            "GET with a wrong secret",
        );
        expect_err(
            wrong_secret
                .put_object()
                .bucket(&b)
                .key("k2")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            403,
            "SignatureDoesNotMatch",
            "PUT with a wrong secret",
        );
        expect_err(
            wrong_secret.list_buckets().send().await,
            403,
            "SignatureDoesNotMatch",
            "ListBuckets with a wrong secret",
        );
        let (ak, sk) = random_keys();
        let unknown = gw.client_as(&ak, &sk, flavour);
        expect_err(
            unknown.get_object().bucket(&b).key("k").send().await,
            403,
            "InvalidAccessKeyId",
            "unknown access key",
        );
        expect_err(
            unknown.list_buckets().send().await,
            403,
            "InvalidAccessKeyId",
            "ListBuckets with an unknown access key",
        );
        expect_err(c.head_object().bucket(&b).key("k2").send().await, 404, "", "nothing stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_user_is_isolated() {
    let gw = Gateway::start();
    let (ak2, sk2) = gw.add_user("alice");
    let listed = run_cli(&["user", "list"], &gw.dir);
    assert!(listed.contains("alice"), "user list shows alice:\n{listed}");
    assert!(listed.contains(&ak2), "user list shows alice's key id:\n{listed}");
    for flavour in Flavour::ALL {
        let root = gw.client(flavour);
        let alice = gw.client_as(&ak2, &sk2, flavour);
        let rb = bucket_name("rootb", flavour);
        let ab = bucket_name("aliceb", flavour);
        create_bucket(&root, &rb).await;
        put(&root, &rb, "k", b"root data").await;
        create_bucket(&alice, &ab).await;
        put(&alice, &ab, "k", b"alice data").await;
        assert_eq!(get(&alice, &ab, "k").await, b"alice data");

        let get_res = alice.get_object().bucket(&rb).key("k").send().await;
        let put_res = alice
            .put_object()
            .bucket(&rb)
            .key("evil")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await;
        let del_res = alice.delete_object().bucket(&rb).key("k").send().await;
        for (what, info) in [
            ("GET", get_res.map(|_| ()).map_err(|e| err_info(&e))),
            ("PUT", put_res.map(|_| ()).map_err(|e| err_info(&e))),
            ("DELETE", del_res.map(|_| ()).map_err(|e| err_info(&e))),
        ] {
            assert_eq!(
                info,
                Err((403, "AccessDenied".to_owned())),
                "alice {what} on root's bucket"
            );
        }
        expect_err(
            alice.list_objects_v2().bucket(&rb).send().await,
            403,
            "AccessDenied",
            "alice lists root's bucket",
        );
        expect_err(
            alice.delete_bucket().bucket(&rb).send().await,
            403,
            "AccessDenied",
            "alice deletes root's bucket",
        );
        expect_err(alice.head_bucket().bucket(&rb).send().await, 403, "", "alice HEADs root's");
        assert_eq!(get(&root, &rb, "k").await, b"root data", "root's object untouched");

        let names = |out: aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
            out.buckets().iter().filter_map(|b| b.name()).map(str::to_owned).collect::<Vec<_>>()
        };
        let alice_sees = names(alice.list_buckets().send().await.unwrap());
        assert!(alice_sees.contains(&ab), "{alice_sees:?}");
        assert!(!alice_sees.iter().any(|n| n.starts_with("rootb")), "{alice_sees:?}");
    }

    // A removed user is refused (the running server notices within a few seconds).
    run_cli(&["user", "remove", "alice"], &gw.dir);
    let listed = run_cli(&["user", "list"], &gw.dir);
    assert!(!listed.contains(&ak2), "user list after remove:\n{listed}");
    let alice = client_for(gw.port, &ak2, &sk2, Flavour::Default, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match alice.list_buckets().send().await {
            Err(e) if err_info(&e) == (403, "InvalidAccessKeyId".to_owned()) => {
                break;
            }
            other => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "removed user still served after 10 s: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_buckets_shows_own_buckets_only() {
    let gw = Gateway::start();
    let (ak2, sk2) = gw.add_user("dave");
    for flavour in Flavour::ALL {
        let root = gw.client(flavour);
        let dave = gw.client_as(&ak2, &sk2, flavour);
        create_bucket(&root, &bucket_name("root-own", flavour)).await;
        create_bucket(&dave, &bucket_name("dave-own", flavour)).await;
        for (who, c, mine) in [("root", &root, "root-own"), ("dave", &dave, "dave-own")] {
            let out = c.list_buckets().send().await.unwrap();
            let names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
            assert!(
                !names.is_empty() && names.iter().all(|n| n.starts_with(mine)),
                "{who} ({flavour:?}) sees exactly its own buckets in ListBuckets: {names:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_denied() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "anon").await;
    put(&c, "anon", "k", b"private").await;
    for (method, path) in [("GET", "/anon/k"), ("GET", "/anon"), ("GET", "/"), ("PUT", "/anon/x")] {
        let url = format!("{}{path}", gw.endpoint());
        let raw = hyper_request(method, &url, &[], b"x".to_vec()).await;
        raw.assert_error(403, "AccessDenied", &format!("anonymous {method} {path}"));
        assert!(raw.text().starts_with("<?xml"), "error body is an XML document: {}", raw.text());
    }
    let raw = hyper_request("HEAD", &format!("{}/anon/k", gw.endpoint()), &[], Vec::new()).await;
    assert_eq!(raw.status, 403, "anonymous HEAD");
    assert!(raw.body.is_empty(), "HEAD errors have no body");
    assert!(raw.header("x-amz-request-id").is_some());
    expect_err(c.head_object().bucket("anon").key("x").send().await, 404, "", "anonymous PUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("presign", flavour);
        create_bucket(&c, &b).await;
        let conf = || PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();

        // PUT through a presigned URL with a plain hyper client.
        let data = crate::harness::random_bytes(70_000);
        let req = c.put_object().bucket(&b).key("up/loaded file").presigned(conf()).await.unwrap();
        assert_eq!(req.method(), "PUT");
        let headers: Vec<(&str, &str)> = req.headers().collect();
        let raw = hyper_request("PUT", req.uri(), &headers, data.clone()).await;
        assert_eq!(raw.status, 200, "presigned PUT: {}", raw.text());
        assert!(raw.header("x-amz-request-id").is_some());
        assert_eq!(raw.header("etag"), Some(crate::harness::etag_of(&data).as_str()));
        assert!(get(&c, &b, "up/loaded file").await == data);

        // GET through a presigned URL.
        let req = c.get_object().bucket(&b).key("up/loaded file").presigned(conf()).await.unwrap();
        let raw = hyper_request("GET", req.uri(), &[], Vec::new()).await;
        assert_eq!(raw.status, 200, "presigned GET: {}", raw.text());
        assert!(raw.body == data);
        assert!(raw.header("x-amz-request-id").is_some());

        // A tampered URL fails its signature.
        let tampered = req.uri().replace("up/loaded", "up/other");
        let raw = hyper_request("GET", &tampered, &[], Vec::new()).await;
        raw.assert_error(403, "SignatureDoesNotMatch", "tampered presigned URL");

        // A URL that expired a minute ago.
        let expired = PresigningConfig::builder()
            .start_time(SystemTime::now() - Duration::from_secs(3600))
            .expires_in(Duration::from_secs(60))
            .build()
            .unwrap();
        let req = c.get_object().bucket(&b).key("up/loaded file").presigned(expired).await.unwrap();
        let raw = hyper_request("GET", req.uri(), &[], Vec::new()).await;
        raw.assert_error(403, "AccessDenied", "expired presigned GET");
        let expired = PresigningConfig::builder()
            .start_time(SystemTime::now() - Duration::from_secs(3600))
            .expires_in(Duration::from_secs(60))
            .build()
            .unwrap();
        let req = c.put_object().bucket(&b).key("late").presigned(expired).await.unwrap();
        let raw = hyper_request("PUT", req.uri(), &[], b"late".to_vec()).await;
        raw.assert_error(403, "AccessDenied", "expired presigned PUT");
        expect_err(c.head_object().bucket(&b).key("late").send().await, 404, "", "not stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_request_id() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("reqid", flavour);
        let out = c.create_bucket().bucket(&b).send().await.unwrap();
        assert!(out.request_id().is_some_and(|s| !s.is_empty()), "CreateBucket request id");
        let out = c
            .put_object()
            .bucket(&b)
            .key("k")
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .unwrap();
        assert!(out.request_id().is_some(), "PutObject request id");
        let out = c.get_object().bucket(&b).key("k").send().await.unwrap();
        assert!(out.request_id().is_some(), "GetObject request id");
        let out = c.head_object().bucket(&b).key("k").send().await.unwrap();
        assert!(out.request_id().is_some(), "HeadObject request id");
        let out = c.list_objects_v2().bucket(&b).send().await.unwrap();
        assert!(out.request_id().is_some(), "ListObjectsV2 request id");
        let out = c.delete_object().bucket(&b).key("k").send().await.unwrap();
        assert!(out.request_id().is_some(), "DeleteObject request id");
        let err = c.get_object().bucket(&b).key("k").send().await.unwrap_err();
        assert!(err.request_id().is_some(), "NoSuchKey carries a request id");
        let err = c.head_object().bucket(&b).key("k").send().await.unwrap_err();
        let raw = err.raw_response().expect("raw response");
        assert!(raw.headers().get("x-amz-request-id").is_some(), "HEAD 404 request id");
    }
    // Two requests get two different ids.
    let url = format!("{}/", gw.endpoint());
    let r1 = hyper_request("GET", &url, &[], Vec::new()).await;
    let r2 = hyper_request("GET", &url, &[], Vec::new()).await;
    assert_ne!(r1.header("x-amz-request-id"), r2.header("x-amz-request-id"));
    // A route the gateway does not know still answers with an S3 XML error.
    let r = hyper_request("PATCH", &format!("{}/b/k", gw.endpoint()), &[], Vec::new()).await;
    assert!(r.status >= 400, "PATCH answered {}", r.status);
    assert!(r.header("x-amz-request-id").is_some(), "PATCH error request id");
    assert!(r.error_code().is_some(), "PATCH error body: {}", r.text());
}

/// The data directory holds secret keys (the root credentials file and the users table), so
/// nothing in it may be readable by other local users.
#[tokio::test]
async fn secrets_on_disk_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let gw = Gateway::start();
    for name in ["metadata.sqlite", "metadata.sqlite-wal"] {
        let path = gw.dir.join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
    }
}
