//! Object PUT/GET/HEAD/DELETE: headers, metadata, ETags, digests, odd keys.

use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, DateTime};

use crate::harness::{
    Flavour, Gateway, bucket_name, create_bucket, etag_of, expect_err, get, hyper_request, md5_b64,
    put, put_streaming, random_bytes,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_head_round_trip_with_headers() {
    let gw = Gateway::start();
    let expires = DateTime::from_secs(1_893_456_000); // 2030-01-01T00:00:00Z
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("rt", flavour);
        create_bucket(&c, &b).await;
        for (streaming, key) in [(false, "mem/obj.txt"), (true, "file/obj.txt")] {
            let data = random_bytes(100_000 + usize::from(streaming));
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &data).unwrap();
            let body = if streaming {
                ByteStream::from_path(file.path()).await.unwrap()
            } else {
                ByteStream::from(data.clone())
            };
            let out = c
                .put_object()
                .bucket(&b)
                .key(key)
                .body(body)
                .content_type("text/x-e2e; charset=utf-8")
                .content_disposition("attachment; filename=\"e2e.txt\"")
                .cache_control("max-age=60, private")
                .content_encoding("identity")
                .content_language("fr-CA")
                .expires(expires)
                .metadata("color", "blue")
                .metadata("multi-word", "Hello World")
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key} ({flavour:?}): {e:?}"));
            assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()), "PUT ETag is quoted MD5");

            let got = c.get_object().bucket(&b).key(key).send().await.expect("get");
            assert_eq!(got.content_type(), Some("text/x-e2e; charset=utf-8"));
            assert_eq!(got.content_disposition(), Some("attachment; filename=\"e2e.txt\""));
            assert_eq!(got.cache_control(), Some("max-age=60, private"));
            assert_eq!(got.content_encoding(), Some("identity"));
            assert_eq!(got.content_language(), Some("fr-CA"));
            assert_eq!(got.expires_string(), Some("Tue, 01 Jan 2030 00:00:00 GMT"));
            assert_eq!(got.e_tag(), Some(etag_of(&data).as_str()));
            assert_eq!(got.content_length(), Some(data.len() as i64));
            assert!(got.last_modified().is_some(), "Last-Modified missing");
            let meta = got.metadata().expect("x-amz-meta-* returned");
            assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
            assert_eq!(meta.get("multi-word").map(String::as_str), Some("Hello World"));
            let bytes = got.body.collect().await.expect("body").into_bytes();
            assert!(bytes.as_ref() == data.as_slice(), "GET returns the PUT bytes");

            let head = c.head_object().bucket(&b).key(key).send().await.expect("head");
            assert_eq!(head.content_length(), Some(data.len() as i64));
            assert_eq!(head.e_tag(), Some(etag_of(&data).as_str()));
            assert_eq!(head.content_type(), Some("text/x-e2e; charset=utf-8"));
            assert_eq!(head.content_language(), Some("fr-CA"));
            assert_eq!(head.cache_control(), Some("max-age=60, private"));
            assert_eq!(
                head.metadata().and_then(|m| m.get("color")).map(String::as_str),
                Some("blue")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_and_in_memory_bodies_of_many_sizes() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("sizes", flavour);
        create_bucket(&c, &b).await;
        for size in [1usize, 8191, 8192, 8193, 65_536, 1_000_003, 3 * 1024 * 1024 + 7] {
            let data = random_bytes(size);
            let k1 = format!("mem-{size}");
            let k2 = format!("file-{size}");
            assert_eq!(put(&c, &b, &k1, &data).await, etag_of(&data), "{k1}");
            assert_eq!(put_streaming(&c, &b, &k2, &data).await, etag_of(&data), "{k2}");
            assert!(get(&c, &b, &k1).await == data, "{k1} bytes ({flavour:?})");
            assert!(get(&c, &b, &k2).await == data, "{k2} bytes ({flavour:?})");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_md5_checked() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("md5", flavour);
        create_bucket(&c, &b).await;
        let data = b"hello content-md5".to_vec();
        c.put_object()
            .bucket(&b)
            .key("good")
            .content_md5(md5_b64(&data))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("right Content-MD5 accepted");
        let res = c
            .put_object()
            .bucket(&b)
            .key("bad")
            .content_md5(md5_b64(b"something else"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await;
        expect_err(res, 400, "BadDigest", "wrong Content-MD5");
        expect_err(
            c.head_object().bucket(&b).key("bad").send().await,
            404,
            "",
            "object with a bad digest was not stored",
        );
        // A malformed (not base64 of 16 bytes) Content-MD5 is InvalidDigest.
        let res = c
            .put_object()
            .bucket(&b)
            .key("bad2")
            .content_md5("notbase64!!")
            .body(ByteStream::from(data.clone()))
            .send()
            .await;
        expect_err(res, 400, "InvalidDigest", "malformed Content-MD5");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_delete_overwrite_empty() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("basic", flavour);
        create_bucket(&c, &b).await;
        expect_err(
            c.get_object().bucket(&b).key("nope").send().await,
            404,
            "NoSuchKey",
            "get missing key",
        );
        expect_err(c.head_object().bucket(&b).key("nope").send().await, 404, "", "head missing");

        // Delete of a missing key: 204, idempotent.
        c.delete_object().bucket(&b).key("nope").send().await.expect("delete missing key");
        let url = format!("{}/{b}/nope", gw.endpoint());
        let presigned = c
            .delete_object()
            .bucket(&b)
            .key("nope")
            .presigned(
                aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(presigned.uri().starts_with(&url), "{}", presigned.uri());
        let raw = hyper_request("DELETE", presigned.uri(), &[], Vec::new()).await;
        assert_eq!(raw.status, 204, "DELETE of a missing key is 204: {}", raw.text());

        // Overwrite returns the new bytes and ETag.
        put(&c, &b, "k", b"first version").await;
        let e2 = put(&c, &b, "k", b"second").await;
        assert_eq!(e2, etag_of(b"second"));
        assert_eq!(get(&c, &b, "k").await, b"second");
        c.delete_object().bucket(&b).key("k").send().await.expect("delete");
        c.delete_object().bucket(&b).key("k").send().await.expect("delete again");
        expect_err(c.get_object().bucket(&b).key("k").send().await, 404, "NoSuchKey", "deleted");

        // Empty objects, in memory and streaming.
        let e = put(&c, &b, "empty", b"").await;
        assert_eq!(e, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        assert_eq!(get(&c, &b, "empty").await, b"");
        let e = put_streaming(&c, &b, "empty-stream", b"").await;
        assert_eq!(e, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        let head = c.head_object().bucket(&b).key("empty-stream").send().await.expect("head");
        assert_eq!(head.content_length(), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_keys_coexist() {
    let gw = Gateway::start();
    let keys = [
        "with space",
        "unicodé/日本語/🚀",
        "plus+sign",
        "percent%20literal",
        "percent%",
        "double//slash",
        "/leading-slash",
        "dots/../up",
        "./dot",
        "..",
        "a",
        "a/",
        "a/b",
        "query?like=1&x",
        "hash#frag",
        "tilde~star*paren()",
        "semi;colon,comma=eq",
        "quote\"apos'",
        "back\\slash",
        "<xml>&amp;",
        "ctrl\u{7f}del",
    ];
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("keys", flavour);
        create_bucket(&c, &b).await;
        for (i, k) in keys.iter().enumerate() {
            let body = format!("body of key #{i}: {k}");
            put(&c, &b, k, body.as_bytes()).await;
        }
        for (i, k) in keys.iter().enumerate() {
            let body = format!("body of key #{i}: {k}");
            assert_eq!(get(&c, &b, k).await, body.as_bytes(), "key {k:?} ({flavour:?})");
        }
        let list = c.list_objects_v2().bucket(&b).send().await.expect("list");
        let mut listed: Vec<String> =
            list.contents().iter().filter_map(|o| o.key()).map(str::to_owned).collect();
        let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        want.sort();
        assert_eq!(listed, want, "listing returns every odd key exactly, in byte order");
        listed.clear();
        // Deleting `a/` leaves `a` and `a/b`.
        c.delete_object().bucket(&b).key("a/").send().await.expect("delete a/");
        assert_eq!(get(&c, &b, "a").await, b"body of key #10: a");
        assert_eq!(get(&c, &b, "a/b").await, b"body of key #12: a/b");
        expect_err(c.get_object().bucket(&b).key("a/").send().await, 404, "NoSuchKey", "a/");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_length_limit() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("keylen", flavour);
        create_bucket(&c, &b).await;
        let ok = "k".repeat(1024);
        put(&c, &b, &ok, b"max").await;
        assert_eq!(get(&c, &b, &ok).await, b"max");
        // 1024 bytes of UTF-8 made of 2-byte characters is fine too.
        let ok2 = "é".repeat(512);
        put(&c, &b, &ok2, b"max2").await;
        let long = "k".repeat(1025);
        let res = c.put_object().bucket(&b).key(&long).body(ByteStream::from_static(b"x")).send();
        expect_err(res.await, 400, "KeyTooLongError", "1025-byte key");
        let long2 = format!("{}x", "é".repeat(512));
        let res = c.put_object().bucket(&b).key(&long2).body(ByteStream::from_static(b"x")).send();
        expect_err(res.await, 400, "KeyTooLongError", "1025-byte UTF-8 key");
    }
}

/// Regression (data loss): DeleteObject and DeleteObjects entries ignored `versionId`, so a
/// bogus id deleted the current object. Now an id the gateway never issued is refused with
/// 400 InvalidArgument and nothing is deleted; `null` still names the one version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bogus_version_id_deletes_nothing() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = bucket_name("vid", Flavour::Default);
    create_bucket(&c, &b).await;
    put(&c, &b, "k", b"precious").await;

    expect_err(
        c.delete_object().bucket(&b).key("k").version_id("X").send().await,
        400,
        "InvalidArgument",
        "DeleteObject with a bogus versionId",
    );
    assert_eq!(get(&c, &b, "k").await, b"precious", "DeleteObject removed the object");

    let delete = aws_sdk_s3::types::Delete::builder()
        .objects(
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key("k")
                .version_id("X")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = c.delete_objects().bucket(&b).delete(delete).send().await.unwrap();
    assert!(out.deleted().is_empty(), "{out:?}");
    let err = &out.errors()[0];
    assert_eq!(err.key(), Some("k"));
    assert_eq!(err.version_id(), Some("X"));
    assert_eq!(err.code(), Some("InvalidArgument"));
    assert_eq!(get(&c, &b, "k").await, b"precious", "DeleteObjects removed the object");

    expect_err(
        c.get_object().bucket(&b).key("k").version_id("X").send().await,
        400,
        "InvalidArgument",
        "GetObject with a bogus versionId",
    );
    c.delete_object().bucket(&b).key("k").version_id("null").send().await.unwrap();
    expect_err(c.get_object().bucket(&b).key("k").send().await, 404, "NoSuchKey", "after delete");
}
