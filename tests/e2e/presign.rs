//! Presigned URLs (query authentication) for GET, PUT, HEAD, DELETE and UploadPart, made by the
//! official SDK's presigner and by `s3gate_sigv4::presign`, sent by another HTTP client with
//! no credentials; checksum headers in SDK presigned PUTs; and expiry.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::types::{ChecksumMode, CompletedMultipartUpload, CompletedPart};
use s3gate_sigv4::{RequestParts, SigningParams, presign};

use crate::harness::{
    Flavour, Gateway, REGION, RawResponse, crc32_b64, create_bucket, etag_of, expect_err, get,
    hyper_request, put, random_bytes, sha256_hex, xml_element,
};

fn cfg(secs: u64) -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(secs)).unwrap()
}

/// Sends an SDK-presigned request (URL plus the headers it says to send) with hyper.
async fn send(p: &PresignedRequest, body: Vec<u8>) -> RawResponse {
    let headers: Vec<(&str, &str)> = p.headers().collect();
    hyper_request(p.method(), p.uri(), &headers, body).await
}

#[track_caller]
fn assert_presigned(r: &RawResponse, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_presigned_get_put_head_delete_upload_part() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = format!("presign-{}", flavour.tag());
        create_bucket(&c, &b).await;

        // PUT with a Content-Type the URL signs.
        let data = random_bytes(70_000);
        let p = c
            .put_object()
            .bucket(&b)
            .key("dir/pre signed+key")
            .content_type("application/x-test")
            .presigned(cfg(300))
            .await
            .unwrap();
        assert!(p.uri().contains("X-Amz-Signature="), "{}", p.uri());
        let r = send(&p, data.clone()).await;
        assert_presigned(&r, 200, "presigned PUT");
        assert_eq!(r.header("etag"), Some(etag_of(&data).as_str()));
        assert!(get(&c, &b, "dir/pre signed+key").await == data, "{flavour:?}: PUT bytes");

        // GET and HEAD.
        let p = c.get_object().bucket(&b).key("dir/pre signed+key").presigned(cfg(300)).await;
        let r = send(&p.unwrap(), Vec::new()).await;
        assert_presigned(&r, 200, "presigned GET");
        assert_eq!(sha256_hex(&r.body), sha256_hex(&data), "{flavour:?}: GET bytes");
        let p = c.head_object().bucket(&b).key("dir/pre signed+key").presigned(cfg(300)).await;
        let r = send(&p.unwrap(), Vec::new()).await;
        assert_presigned(&r, 200, "presigned HEAD");
        assert_eq!(r.header("content-length"), Some("70000"));
        assert_eq!(r.header("content-type"), Some("application/x-test"));
        assert!(r.body.is_empty());

        // A presigned GET with a Range header the URL did not sign still works (Range is not
        // an x-amz-* header), and answers only that range.
        let p = c.get_object().bucket(&b).key("dir/pre signed+key").presigned(cfg(300)).await;
        let p = p.unwrap();
        let mut headers: Vec<(&str, &str)> = p.headers().collect();
        headers.push(("range", "bytes=10-19"));
        let r = hyper_request("GET", p.uri(), &headers, Vec::new()).await;
        assert_presigned(&r, 206, "presigned ranged GET");
        assert_eq!(r.body, &data[10..20]);

        // UploadPart: a multipart upload whose parts go through presigned URLs.
        let up = c.create_multipart_upload().bucket(&b).key("mp").send().await.unwrap();
        let id = up.upload_id().unwrap();
        let parts = [random_bytes(5 << 20), random_bytes(1234)];
        let mut done = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let p = c
                .upload_part()
                .bucket(&b)
                .key("mp")
                .upload_id(id)
                .part_number(n)
                .presigned(cfg(300))
                .await
                .unwrap();
            assert!(p.uri().contains("uploadId="), "{}", p.uri());
            let r = send(&p, part.clone()).await;
            assert_presigned(&r, 200, "presigned UploadPart");
            assert_eq!(r.header("etag"), Some(etag_of(part).as_str()));
            done.push(
                CompletedPart::builder().part_number(n).e_tag(r.header("etag").unwrap()).build(),
            );
        }
        c.complete_multipart_upload()
            .bucket(&b)
            .key("mp")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .unwrap();
        assert!(get(&c, &b, "mp").await == parts.concat(), "{flavour:?}: multipart bytes");

        // DELETE.
        let p = c.delete_object().bucket(&b).key("dir/pre signed+key").presigned(cfg(300)).await;
        let r = send(&p.unwrap(), Vec::new()).await;
        assert_presigned(&r, 204, "presigned DELETE");
        expect_err(
            c.head_object().bucket(&b).key("dir/pre signed+key").send().await,
            404,
            "",
            "deleted by the presigned DELETE",
        );

        // A presigned URL is good for its method only.
        let p = c.get_object().bucket(&b).key("mp").presigned(cfg(300)).await.unwrap();
        let r = hyper_request("DELETE", p.uri(), &[], Vec::new()).await;
        r.assert_error(403, "SignatureDoesNotMatch", "GET URL used for DELETE");
        assert!(get(&c, &b, "mp").await == parts.concat(), "{flavour:?}: still there");
    }
}

/// The SDK presigns a PUT with an explicit checksum: the checksum is signed and must match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_presigned_put_with_checksum() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "presign-crc").await;
    let data = random_bytes(20_000);
    let crc = crc32_b64(&data);

    let p = c
        .put_object()
        .bucket("presign-crc")
        .key("good")
        .checksum_crc32(&crc)
        .presigned(cfg(300))
        .await
        .unwrap();
    let where_ = if p.uri().to_ascii_lowercase().contains("x-amz-checksum-crc32=") {
        "query"
    } else {
        "headers"
    };
    println!("SDK presigned PUT carries x-amz-checksum-crc32 in its {where_}: {}", p.uri());
    let r = send(&p, data.clone()).await;
    assert_presigned(&r, 200, "presigned PUT with the right CRC32");
    let h = c
        .head_object()
        .bucket("presign-crc")
        .key("good")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_crc32(), Some(crc.as_str()), "stored checksum");

    // The same URL with other bytes: the signed checksum does not match.
    let other = random_bytes(20_000);
    let r = send(&p, other).await;
    r.assert_error(400, "BadDigest", "presigned PUT whose body does not match its CRC32");
    assert!(get(&c, "presign-crc", "good").await == data, "old version unchanged");

    // A URL signed for a wrong CRC32 from the start refuses the body and stores nothing.
    let p = c
        .put_object()
        .bucket("presign-crc")
        .key("bad")
        .checksum_crc32(crc32_b64(b"something else"))
        .presigned(cfg(300))
        .await
        .unwrap();
    let r = send(&p, data).await;
    r.assert_error(400, "BadDigest", "presigned PUT with a wrong CRC32");
    expect_err(
        c.head_object().bucket("presign-crc").key("bad").send().await,
        404,
        "",
        "nothing stored",
    );
}

/// URLs made with `s3gate_sigv4::presign` at a chosen time: valid, expired, not yet valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_expiry() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "presign-exp").await;
    put(&c, "presign-exp", "k", b"hello").await;
    let host = format!("127.0.0.1:{}", gw.port);
    let url = |method: &str, path: &str, time: SystemTime, expires: u64| {
        let headers = [("host", host.as_str())];
        let req = RequestParts { method, raw_path: path, raw_query: None, headers: &headers };
        let params = SigningParams {
            access_key_id: &gw.access_key,
            secret_key: &gw.secret_key,
            region: REGION,
            service: "s3",
            time,
        };
        let q = presign(&req, Duration::from_secs(expires), &params);
        format!("http://{host}{path}?{q}")
    };
    let now = SystemTime::now();

    for method in ["GET", "HEAD"] {
        let r = hyper_request(method, &url(method, "/presign-exp/k", now, 60), &[], vec![]).await;
        assert_eq!(r.status, 200, "{method} fresh URL");
    }

    // Signed two hours ago for one hour: expired (even though inside no 15-minute window).
    let old = now - Duration::from_secs(7200);
    let r = hyper_request("GET", &url("GET", "/presign-exp/k", old, 3600), &[], vec![]).await;
    r.assert_error(403, "AccessDenied", "expired GET");
    assert_eq!(xml_element(&r.text(), "Message").as_deref(), Some("Request has expired"));
    let r = hyper_request("HEAD", &url("HEAD", "/presign-exp/k", old, 3600), &[], vec![]).await;
    assert_eq!(r.status, 403, "expired HEAD");
    // Signed two hours ago for a week: still valid (no skew check on presigned URLs).
    let r = hyper_request("GET", &url("GET", "/presign-exp/k", old, 604_800), &[], vec![]).await;
    assert_eq!(r.status, 200, "week-long URL signed two hours ago: {}", r.text());

    // Expired PUT and DELETE change nothing.
    let r =
        hyper_request("PUT", &url("PUT", "/presign-exp/k", old, 60), &[], b"new".to_vec()).await;
    r.assert_error(403, "AccessDenied", "expired PUT");
    let r = hyper_request("DELETE", &url("DELETE", "/presign-exp/k", old, 60), &[], vec![]).await;
    r.assert_error(403, "AccessDenied", "expired DELETE");
    assert_eq!(get(&c, "presign-exp", "k").await, b"hello", "object unchanged");

    // Dated an hour in the future: not yet valid.
    let future = now + Duration::from_secs(3600);
    let r = hyper_request("GET", &url("GET", "/presign-exp/k", future, 60), &[], vec![]).await;
    r.assert_error(403, "AccessDenied", "future GET");
    assert_eq!(xml_element(&r.text(), "Message").as_deref(), Some("Request is not yet valid"));

    // More than a week: refused whatever the date.
    let r = hyper_request("GET", &url("GET", "/presign-exp/k", now, 604_801), &[], vec![]).await;
    r.assert_error(400, "AuthorizationQueryParametersError", "X-Amz-Expires > 604800");

    // The SDK's presigner with a start time in the past, too.
    let past = PresigningConfig::builder()
        .start_time(old)
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let p = c.get_object().bucket("presign-exp").key("k").presigned(past).await.unwrap();
    let r = send(&p, Vec::new()).await;
    r.assert_error(403, "AccessDenied", "expired SDK URL");
}

/// Presigned PUTs whose checksum (and metadata) headers were hoisted into the signed query
/// string, as the AWS SDK for JavaScript v3 makes them: S3 honours them as headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_put_with_checksum_hoisted_into_the_query() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "presign-hoist").await;
    let host = format!("127.0.0.1:{}", gw.port);
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let url = |key: &str, crc: &str| {
        let path = format!("/presign-hoist/{key}");
        let query = format!(
            "x-amz-checksum-crc32={}&x-amz-sdk-checksum-algorithm=CRC32&x-amz-meta-origin=hoisted",
            enc(crc)
        );
        let headers = [("host", host.as_str())];
        let req = RequestParts {
            method: "PUT",
            raw_path: &path,
            raw_query: Some(&query),
            headers: &headers,
        };
        let params = SigningParams {
            access_key_id: &gw.access_key,
            secret_key: &gw.secret_key,
            region: REGION,
            service: "s3",
            time: SystemTime::now(),
        };
        format!("http://{host}{path}?{}", presign(&req, Duration::from_secs(300), &params))
    };
    // Find a body whose CRC32 has `+` or `/` in base64, so the encoding is exercised.
    let data = (0..10_000)
        .map(|_| random_bytes(5000))
        .find(|d| crc32_b64(d).contains(['+', '/']))
        .expect("about one body in six has such a CRC32");
    let crc = crc32_b64(&data);

    let r = hyper_request("PUT", &url("good", &crc), &[], data.clone()).await;
    assert_presigned(&r, 200, "hoisted right CRC32");
    let h = c
        .head_object()
        .bucket("presign-hoist")
        .key("good")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_crc32(), Some(crc.as_str()), "the hoisted checksum was stored");
    assert_eq!(h.metadata().and_then(|m| m.get("origin")).map(String::as_str), Some("hoisted"));

    let r = hyper_request("PUT", &url("bad", &crc32_b64(b"other")), &[], data).await;
    r.assert_error(400, "BadDigest", "hoisted wrong CRC32");
    expect_err(
        c.head_object().bucket("presign-hoist").key("bad").send().await,
        404,
        "",
        "nothing stored",
    );
}
