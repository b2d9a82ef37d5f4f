//! Ranged and conditional GETs, response header overrides, stored checksums.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};

use crate::harness::{
    Flavour, Gateway, bucket_name, crc32_b64, create_bucket, etag_of, expect_err, hyper_request,
    put, random_bytes,
};

async fn presigned_get_url(c: &Client, b: &str, k: &str) -> String {
    c.get_object()
        .bucket(b)
        .key(k)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap()
        .uri()
        .to_owned()
}

async fn ranged(c: &Client, b: &str, k: &str, range: &str) -> (Option<String>, Vec<u8>) {
    let out = c
        .get_object()
        .bucket(b)
        .key(k)
        .range(range)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET Range {range}: {e:?}"));
    let cr = out.content_range().map(str::to_owned);
    let len = out.content_length();
    let body = out.body.collect().await.unwrap().into_bytes().to_vec();
    assert_eq!(len, Some(body.len() as i64), "Content-Length of Range {range}");
    (cr, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_ranges() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("range", flavour);
        create_bucket(&c, &b).await;
        let data = random_bytes(1000);
        put(&c, &b, "obj", &data).await;
        let n = data.len();
        let cases: [(&str, usize, usize); 7] = [
            ("bytes=0-0", 0, 0),
            ("bytes=5-", 5, n - 1),
            ("bytes=-3", n - 3, n - 1),
            ("bytes=10-19", 10, 19),
            ("bytes=990-5000", 990, n - 1),
            ("bytes=-5000", 0, n - 1),
            ("bytes=999-999", 999, 999),
        ];
        for (range, first, last) in cases {
            let (cr, body) = ranged(&c, &b, "obj", range).await;
            assert_eq!(
                cr.as_deref(),
                Some(format!("bytes {first}-{last}/{n}").as_str()),
                "{range}"
            );
            assert!(body == data[first..=last], "bytes of {range}");
        }
        // Start past the end: 416 InvalidRange.
        for range in ["bytes=1000-", "bytes=5000-6000"] {
            let res = c.get_object().bucket(&b).key("obj").range(range).send().await;
            expect_err(res, 416, "InvalidRange", range);
        }
        // Multiple ranges: S3 ignores the header and returns the whole object with 200.
        let url = presigned_get_url(&c, &b, "obj").await;
        let raw = hyper_request("GET", &url, &[("range", "bytes=0-1,5-6")], Vec::new()).await;
        assert_eq!(raw.status, 200, "multi-range answers 200");
        assert!(raw.header("content-range").is_none(), "multi-range has no Content-Range");
        assert!(raw.body == data, "multi-range returns the full object");
        // A single range has status 206 and Accept-Ranges.
        let raw = hyper_request("GET", &url, &[("range", "bytes=1-2")], Vec::new()).await;
        assert_eq!(raw.status, 206);
        assert_eq!(raw.header("content-range"), Some("bytes 1-2/1000"));
        assert_eq!(raw.body, &data[1..=2]);
        // HEAD with a range reports the range's length.
        let head = c.head_object().bucket(&b).key("obj").range("bytes=0-9").send().await.unwrap();
        assert_eq!(head.content_length(), Some(10));
        // An empty object has no satisfiable range.
        put(&c, &b, "empty", b"").await;
        let res = c.get_object().bucket(&b).key("empty").range("bytes=0-0").send().await;
        expect_err(res, 416, "InvalidRange", "range of an empty object");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_get_and_head() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("cond", flavour);
        create_bucket(&c, &b).await;
        let data = b"conditional body".to_vec();
        let etag = put(&c, &b, "obj", &data).await;
        assert_eq!(etag, etag_of(&data));
        let future = DateTime::from(SystemTime::now() + Duration::from_secs(86_400));
        let past = DateTime::from_secs(946_684_800); // 2000-01-01

        let g = || c.get_object().bucket(&b).key("obj");
        expect_err(g().if_none_match(&etag).send().await, 304, "", "GET If-None-Match etag");
        expect_err(g().if_match("\"0123\"").send().await, 412, "PreconditionFailed", "If-Match");
        expect_err(g().if_modified_since(future).send().await, 304, "", "If-Modified-Since");
        expect_err(
            g().if_unmodified_since(past).send().await,
            412,
            "PreconditionFailed",
            "If-Unmodified-Since past",
        );
        // The passing forms return the object.
        for req in [
            g().if_match(&etag),
            g().if_none_match("\"0123\""),
            g().if_modified_since(past),
            g().if_unmodified_since(future),
            // RFC 7232 precedence: If-Match true wins over If-Unmodified-Since false.
            g().if_match(&etag).if_unmodified_since(past),
            g().if_match("*"),
        ] {
            let out = req.send().await.expect("condition holds");
            assert_eq!(out.body.collect().await.unwrap().into_bytes().as_ref(), data.as_slice());
        }
        // If-None-Match false + If-Modified-Since true is 304.
        expect_err(
            g().if_none_match(&etag).if_modified_since(past).send().await,
            304,
            "",
            "If-None-Match beats If-Modified-Since",
        );
        let h = || c.head_object().bucket(&b).key("obj");
        expect_err(h().if_none_match(&etag).send().await, 304, "", "HEAD If-None-Match");
        expect_err(h().if_match("\"0123\"").send().await, 412, "", "HEAD If-Match");
        h().if_match(&etag).send().await.expect("HEAD If-Match right");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_header_overrides() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("override", flavour);
        create_bucket(&c, &b).await;
        c.put_object()
            .bucket(&b)
            .key("obj")
            .content_type("text/plain")
            .body(ByteStream::from_static(b"override me"))
            .send()
            .await
            .unwrap();
        let out = c
            .get_object()
            .bucket(&b)
            .key("obj")
            .response_content_type("application/x-override")
            .response_content_disposition("attachment; filename=\"o.bin\"")
            .response_cache_control("no-store")
            .response_content_language("de")
            .response_content_encoding("identity")
            .response_expires(DateTime::from_secs(1_893_456_000))
            .send()
            .await
            .expect("GET with response-* overrides");
        assert_eq!(out.content_type(), Some("application/x-override"));
        assert_eq!(out.content_disposition(), Some("attachment; filename=\"o.bin\""));
        assert_eq!(out.cache_control(), Some("no-store"));
        assert_eq!(out.content_language(), Some("de"));
        assert_eq!(out.content_encoding(), Some("identity"));
        assert_eq!(out.expires_string(), Some("Tue, 01 Jan 2030 00:00:00 GMT"));

        // The same through a presigned URL fetched with hyper.
        let url = c
            .get_object()
            .bucket(&b)
            .key("obj")
            .response_content_type("image/x-presigned")
            .presigned(
                aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60))
                    .unwrap(),
            )
            .await
            .unwrap();
        let raw = hyper_request("GET", url.uri(), &[], Vec::new()).await;
        assert_eq!(raw.status, 200, "{}", raw.text());
        assert_eq!(raw.header("content-type"), Some("image/x-presigned"));
        assert_eq!(raw.body, b"override me");
        // The stored type is unchanged.
        let head = c.head_object().bucket(&b).key("obj").send().await.unwrap();
        assert_eq!(head.content_type(), Some("text/plain"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_crc32_returned_with_checksum_mode() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("crc", flavour);
        create_bucket(&c, &b).await;
        let data = random_bytes(300_000);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &data).unwrap();
        for (key, streaming) in [("mem", false), ("file", true)] {
            let body = if streaming {
                ByteStream::from_path(file.path()).await.unwrap()
            } else {
                ByteStream::from(data.clone())
            };
            let mut req = c.put_object().bucket(&b).key(key).body(body);
            if flavour == Flavour::WhenRequired {
                // This flavour sends no checksum unless asked to.
                req = req.checksum_algorithm(ChecksumAlgorithm::Crc32);
            }
            let put = req.send().await.unwrap_or_else(|e| panic!("put {key}: {e:?}"));
            assert_eq!(put.checksum_crc32(), Some(crc32_b64(&data).as_str()), "PUT echo {key}");
            let out = c
                .get_object()
                .bucket(&b)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            assert_eq!(out.checksum_crc32(), Some(crc32_b64(&data).as_str()), "GET {key}");
            let body = out.body.collect().await.unwrap().into_bytes();
            assert!(body.as_ref() == data.as_slice());
            let head = c
                .head_object()
                .bucket(&b)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            assert_eq!(head.checksum_crc32(), Some(crc32_b64(&data).as_str()), "HEAD {key}");
            // A ranged GET carries no full-object checksum.
            let out = c
                .get_object()
                .bucket(&b)
                .key(key)
                .range("bytes=10-20")
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .expect("ranged GET with checksum mode");
            assert_eq!(out.checksum_crc32(), None, "ranged GET returned a full-object checksum");
            let body = out.body.collect().await.unwrap().into_bytes();
            assert!(body.as_ref() == &data[10..=20]);
        }
        // A wrong x-amz-checksum-crc32 header is rejected (BadDigest) and nothing is stored.
        let res = c
            .put_object()
            .bucket(&b)
            .key("wrong")
            .checksum_crc32(crc32_b64(b"other data"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await;
        expect_err(res, 400, "BadDigest", "wrong x-amz-checksum-crc32");
        expect_err(c.head_object().bucket(&b).key("wrong").send().await, 404, "", "not stored");
    }
}
