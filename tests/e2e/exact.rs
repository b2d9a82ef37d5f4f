//! The everyday S3 path made exact (issue 15): each behaviour as AWS answers it, through the
//! real binary, with the SDK where it can say it and signed raw requests where it cannot (bytes
//! that are not UTF-8, headers the SDK never sends).

use std::time::SystemTime;

use base64::Engine as _;
use sha2::Digest as _;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{
    Flavour, Gateway, REGION, RawResponse, create_bucket, expect_err, get, put, raw_request,
    sha256_hex, xml_element,
};

/// A request signed with SigV4 (payload hash signed) for `region`, headers as raw bytes.
struct Signed<'a> {
    method: &'a str,
    /// Path and query exactly as on the wire.
    target: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
    region: &'a str,
}

impl<'a> Signed<'a> {
    fn new(method: &'a str, target: &'a str) -> Self {
        Signed { method, target, headers: Vec::new(), body: b"", region: REGION }
    }

    fn header(mut self, name: &'a str, value: &'a [u8]) -> Self {
        self.headers.push((name, value));
        self
    }

    fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// The request bytes: signed headers first, then `Content-Length` and `Connection: close`.
    fn bytes(&self, gw: &Gateway) -> Vec<u8> {
        let host = format!("127.0.0.1:{}", gw.port);
        // The client signs a header's bytes as text (lossy for bytes that are not UTF-8, which
        // the gateway refuses before it checks any signature).
        let texts: Vec<String> =
            self.headers.iter().map(|(_, v)| String::from_utf8_lossy(v).into_owned()).collect();
        let mut to_sign: Vec<(&str, &str)> = vec![("host", host.as_str())];
        to_sign.extend(self.headers.iter().zip(&texts).map(|((n, _), t)| (*n, t.as_str())));
        let (path, query) = match self.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.target, None),
        };
        let added = s3gate_sigv4::sign_headers(
            &s3gate_sigv4::RequestParts {
                method: self.method,
                raw_path: path,
                raw_query: query,
                headers: &to_sign,
            },
            &sha256_hex(self.body),
            &s3gate_sigv4::SigningParams {
                access_key_id: &gw.access_key,
                secret_key: &gw.secret_key,
                region: self.region,
                service: "s3",
                time: SystemTime::now(),
            },
        );
        let mut out =
            format!("{} {} HTTP/1.1\r\nhost: {host}\r\n", self.method, self.target).into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        for (n, v) in &added {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!("content-length: {}\r\nconnection: close\r\n\r\n", self.body.len()).as_bytes(),
        );
        out.extend_from_slice(self.body);
        out
    }

    async fn send(&self, gw: &Gateway) -> RawResponse {
        raw_request(gw.port, &self.bytes(gw)).await
    }

    /// Sends and returns the response head exactly as received (header bytes unaltered).
    async fn send_for_head_bytes(&self, gw: &Gateway) -> Vec<u8> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        s.write_all(&self.bytes(gw)).await.unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
        all.truncate(end);
        all
    }
}

/// SDKs retry CompleteMultipartUpload when the reply is lost: the retry answers 200 with the
/// same ETag and changes nothing (it used to be NoSuchUpload for an upload that worked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_complete_multipart_upload_answers_the_same_object() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "retry-complete").await;
    let up = c.create_multipart_upload().bucket("retry-complete").key("k").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = |etag: &str| CompletedPart::builder().part_number(1).e_tag(etag).build();
    let data = b"the only part".to_vec();
    let mut etag = String::new();
    // A retried UploadPart of the same bytes is the same part.
    for _ in 0..2 {
        let p = c
            .upload_part()
            .bucket("retry-complete")
            .key("k")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        etag = p.e_tag().unwrap().to_owned();
    }
    let complete = || {
        c.complete_multipart_upload()
            .bucket("retry-complete")
            .key("k")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().parts(part(&etag)).build())
    };
    let first = complete().send().await.unwrap();
    let head = c.head_object().bucket("retry-complete").key("k").send().await.unwrap();
    let again = complete().send().await.expect("the retry succeeds");
    assert_eq!(again.e_tag(), first.e_tag());
    assert_eq!(again.checksum_crc64_nvme(), first.checksum_crc64_nvme());
    let head2 = c.head_object().bucket("retry-complete").key("k").send().await.unwrap();
    assert_eq!(head2.last_modified(), head.last_modified(), "nothing was rewritten");
    assert_eq!(get(&c, "retry-complete", "k").await, data);

    // Other parts than the ones that made the object: the upload is gone.
    let other = c
        .complete_multipart_upload()
        .bucket("retry-complete")
        .key("k")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(part("\"00000000000000000000000000000000\""))
                .build(),
        )
        .send()
        .await;
    expect_err(other, 404, "NoSuchUpload", "Complete with other parts");
    // The upload id is no longer open for parts.
    let late = c
        .upload_part()
        .bucket("retry-complete")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    expect_err(late, 404, "NoSuchUpload", "UploadPart after Complete");
}

/// In us-east-1, CreateBucket on a bucket you own answers 200 (AWS's legacy behaviour) and
/// leaves the bucket as it was; another owner's bucket is still BucketAlreadyExists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_own_bucket_again_keeps_it() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "mine").await;
    put(&c, "mine", "k", b"still here").await;
    c.create_bucket().bucket("mine").send().await.expect("200 in us-east-1");
    assert_eq!(get(&c, "mine", "k").await, b"still here");
    let (ak, sk) = gw.add_user("bob");
    let bob = gw.client_as(&ak, &sk, Flavour::Default);
    expect_err(bob.create_bucket().bucket("mine").send().await, 409, "BucketAlreadyExists", "bob");
}

/// A 412 names the condition that failed, as AWS does (s3fs maps If-None-Match to
/// FileExistsError).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precondition_failures_name_their_condition() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "cond").await;
    put(&c, "cond", "k", b"v").await;
    let check = |r: RawResponse, condition: &str, what: &str| {
        r.assert_error(412, "PreconditionFailed", what);
        assert_eq!(xml_element(&r.text(), "Condition").as_deref(), Some(condition), "{what}");
    };
    let r = Signed::new("PUT", "/cond/k").header("if-none-match", b"*").body(b"x").send(&gw).await;
    check(r, "If-None-Match", "exclusive create of an existing key");
    let r =
        Signed::new("PUT", "/cond/k").header("if-match", b"\"nope\"").body(b"x").send(&gw).await;
    check(r, "If-Match", "PutObject If-Match");
    let r = Signed::new("GET", "/cond/k").header("if-match", b"\"nope\"").send(&gw).await;
    check(r, "If-Match", "GetObject If-Match");
    let r = Signed::new("GET", "/cond/k")
        .header("if-unmodified-since", b"Mon, 01 Jan 2001 00:00:00 GMT")
        .send(&gw)
        .await;
    check(r, "If-Unmodified-Since", "GetObject If-Unmodified-Since");
    let r = Signed::new("PUT", "/cond/copy")
        .header("x-amz-copy-source", b"/cond/k")
        .header("x-amz-copy-source-if-match", b"\"nope\"")
        .send(&gw)
        .await;
    check(r, "x-amz-copy-source-If-Match", "CopyObject source If-Match");
    let r = Signed::new("DELETE", "/cond/k").header("if-match", b"\"nope\"").send(&gw).await;
    check(r, "If-Match", "DeleteObject If-Match");
    assert_eq!(get(&c, "cond", "k").await, b"v", "nothing changed");
}

/// A request signed for another region names the gateway's region, so SDKs redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_region_names_the_gateway_region() {
    let gw = Gateway::start();
    let r = Signed { region: "eu-west-1", ..Signed::new("GET", "/") }.send(&gw).await;
    r.assert_error(400, "AuthorizationHeaderMalformed", "signed for eu-west-1");
    assert_eq!(xml_element(&r.text(), "Region").as_deref(), Some(REGION));
}

/// `x-amz-meta-*` values with non-ASCII UTF-8 bytes (what botocore sends for `é`) are signed,
/// stored and returned as sent; bytes that are not UTF-8 are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_metadata_round_trips() {
    let gw = Gateway::start();
    create_bucket(&gw.client(Flavour::Default), "meta").await;
    for (key, sent) in [("e-acute", "Hello World\u{e9}"), ("snowman", "caf\u{e9} \u{2603}")] {
        let path = format!("/meta/{key}");
        let r = Signed::new("PUT", &path)
            .header("x-amz-meta-meta1", sent.as_bytes())
            .body(b"b")
            .send(&gw)
            .await;
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        for method in ["GET", "HEAD"] {
            let head = Signed::new(method, &path).send_for_head_bytes(&gw).await;
            let mut line = b"x-amz-meta-meta1: ".to_vec();
            line.extend_from_slice(sent.as_bytes());
            line.extend_from_slice(b"\r\n");
            assert!(
                head.windows(line.len()).any(|w| w == line.as_slice()),
                "{key} {method}: {}",
                String::from_utf8_lossy(&head)
            );
        }
    }
    let r = Signed::new("PUT", "/meta/latin1")
        .header("x-amz-meta-meta1", b"Hello World\xe9")
        .body(b"b")
        .send(&gw)
        .await;
    r.assert_error(400, "InvalidArgument", "a value that is not UTF-8");
}

/// `x-amz-tagging: foo=bar&bar` is tag `bar` with an empty value; tags read back in key order;
/// characters S3 does not allow in tags are InvalidTag in the header and in PutObjectTagging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagging_header_and_tag_characters() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "tags").await;
    let r = Signed::new("PUT", "/tags/k")
        .header("x-amz-tagging", b"foo=bar&bar")
        .body(b"d")
        .send(&gw)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    let pairs: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("bar", ""), ("foo", "bar")]);

    for bad in [&b"key%3F=v"[..], b"key*=v", b"k=val%3F"] {
        let r =
            Signed::new("PUT", "/tags/bad").header("x-amz-tagging", bad).body(b"d").send(&gw).await;
        r.assert_error(400, "InvalidTag", &String::from_utf8_lossy(bad));
    }
    expect_err(c.head_object().bucket("tags").key("bad").send().await, 404, "", "nothing stored");
    for (k, v) in [("key?", "v"), ("key*", "v"), ("k", "val?")] {
        let tagging = Tagging::builder()
            .tag_set(Tag::builder().key(k).value(v).build().unwrap())
            .build()
            .unwrap();
        let r = c.put_object_tagging().bucket("tags").key("k").tagging(tagging).send().await;
        expect_err(r, 400, "InvalidTag", &format!("PutObjectTagging {k}={v}"));
    }
    let after = c.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    assert_eq!(after.tag_set().len(), 2, "the tags are unchanged");
}

/// An empty `continuation-token` lists from the beginning and is echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_v2_with_an_empty_continuation_token() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "lst").await;
    for k in ["bar", "baz", "foo", "quxx"] {
        put(&c, "lst", k, b"x").await;
    }
    let r = Signed::new("GET", "/lst?continuation-token=&list-type=2").send(&gw).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("<ContinuationToken></ContinuationToken>"), "{text}");
    assert_eq!(xml_element(&text, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(text.matches("<Key>").count(), 4, "{text}");
    let sdk = c.list_objects_v2().bucket("lst").continuation_token("").send().await.unwrap();
    assert_eq!(sdk.contents().len(), 4);
}

/// A key that is not UTF-8 once percent-decoded is InvalidURI, as on AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_key_is_invalid_uri() {
    let gw = Gateway::start();
    create_bucket(&gw.client(Flavour::Default), "uri").await;
    for (method, body) in [("PUT", &b"x"[..]), ("GET", b"")] {
        let r = Signed::new(method, "/uri/%FF%FE").body(body).send(&gw).await;
        r.assert_error(400, "InvalidURI", method);
        assert_eq!(
            xml_element(&r.text(), "Message").as_deref(),
            Some("Couldn&apos;t parse the specified URI."),
            "xml_element does not decode entities"
        );
    }
}

/// Only `aws-chunked` leaves Content-Encoding; the other codings stay exactly as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_encoding_keeps_the_other_codings() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "enc").await;
    for (sent, stored) in [
        ("deflate, gzip", Some("deflate, gzip")),
        ("gzip, aws-chunked", Some("gzip")),
        ("aws-chunked, deflate, gzip", Some("deflate, gzip")),
        ("aws-chunked", None),
    ] {
        let r = Signed::new("PUT", "/enc/k")
            .header("content-encoding", sent.as_bytes())
            .body(b"data")
            .send(&gw)
            .await;
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        let head = c.head_object().bucket("enc").key("k").send().await.unwrap();
        assert_eq!(head.content_encoding(), stored, "{sent}");
    }
}

/// A Date header beside a valid X-Amz-Date does not fail authentication, whether empty or in
/// the RFC 2822 form botocore writes (`-0000`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_header_beside_x_amz_date() {
    let gw = Gateway::start();
    create_bucket(&gw.client(Flavour::Default), "dates").await;
    let date = s3gate_protocol::format_http_date(SystemTime::now()).replace("GMT", "-0000");
    for value in [&b""[..], date.as_bytes()] {
        let r = Signed::new("PUT", "/dates/k").header("date", value).body(b"x").send(&gw).await;
        assert_eq!(r.status, 200, "Date {:?}: {}", String::from_utf8_lossy(value), r.text());
    }
}

/// A malformed Range (`bytes= -1`) is ignored, as AWS does: 200 and the whole object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_range_is_ignored() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "rng").await;
    put(&c, "rng", "k", b"0123456789").await;
    let r = Signed::new("GET", "/rng/k").header("range", b"bytes= -1").send(&gw).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789");
    assert!(r.header("content-range").is_none());
    let r = Signed::new("GET", "/rng/k").header("range", b"bytes=-1").send(&gw).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &b"9"[..]), "a well-formed suffix");
}

/// A PartNumber that is no positive number is InvalidArgument, like 0 and 10001.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_with_a_bad_part_number_is_invalid_argument() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "pnum").await;
    let up = c.create_multipart_upload().bucket("pnum").key("k").send().await.unwrap();
    let target = format!("/pnum/k?uploadId={}", up.upload_id().unwrap());
    for n in ["-1", "abc", "0", "10001"] {
        let body = format!(
            "<CompleteMultipartUpload><Part><PartNumber>{n}</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>"
        );
        let r = Signed::new("POST", &target).body(body.as_bytes()).send(&gw).await;
        r.assert_error(400, "InvalidArgument", n);
    }
}

/// UploadPart with a checksum in another algorithm than the upload's is refused as on AWS; a
/// Complete whose whole-object checksum is wrong is refused and leaves the upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_checksum_type_and_whole_object_value() {
    use aws_sdk_s3::types::ChecksumAlgorithm;

    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "mpck").await;
    let up = c
        .create_multipart_upload()
        .bucket("mpck")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let data = b"part bytes".to_vec();
    let wrong = c
        .upload_part()
        .bucket("mpck")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .checksum_crc32(crate::harness::crc32_b64(&data))
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    match wrong {
        Err(e) => {
            let (status, code) = crate::harness::err_info(&e);
            assert_eq!((status, code.as_str()), (400, "InvalidRequest"));
            let msg = aws_sdk_s3::error::ProvideErrorMetadata::message(&e).unwrap_or("").to_owned();
            assert_eq!(
                msg,
                "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: crc32"
            );
        }
        Ok(v) => panic!("a CRC32 part of a SHA256 upload was accepted: {v:?}"),
    }
    let part = c
        .upload_part()
        .bucket("mpck")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let listed = CompletedPart::builder()
        .part_number(1)
        .e_tag(part.e_tag().unwrap())
        .checksum_sha256(part.checksum_sha256().unwrap())
        .build();
    let complete = |sum: &str| {
        c.complete_multipart_upload()
            .bucket("mpck")
            .key("k")
            .upload_id(id)
            .checksum_sha256(sum)
            .multipart_upload(CompletedMultipartUpload::builder().parts(listed.clone()).build())
            .send()
    };
    expect_err(complete("bad").await, 400, "BadDigest", "a wrong whole-object SHA256");
    expect_err(c.head_object().bucket("mpck").key("k").send().await, 404, "", "nothing committed");
    // The composite value: base64(sha256(raw part sha256s)) + "-1".
    let raw =
        base64::engine::general_purpose::STANDARD.decode(part.checksum_sha256().unwrap()).unwrap();
    let composite = format!(
        "{}-1",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&raw))
    );
    let done = complete(&composite).await.expect("the right composite value");
    assert_eq!(done.checksum_sha256(), Some(composite.as_str()));
    // And the retry of that Complete, held to the same value, answers the same object.
    let again = complete(&composite).await.expect("retried Complete");
    assert_eq!(again.e_tag(), done.e_tag());
}

/// Conditional deletes as AWS shipped them in 2025: DeleteObject with If-Match, size and
/// Last-Modified; DeleteObjects entries with ETag/Size/LastModifiedTime fail alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_deletes() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "cdel").await;
    let etag = put(&c, "cdel", "k", b"12345").await;
    let head = c.head_object().bucket("cdel").key("k").send().await.unwrap();
    let lm = *head.last_modified().unwrap();
    let later = aws_sdk_s3::primitives::DateTime::from_secs(lm.secs() + 60);

    let r = c.delete_object().bucket("cdel").key("k").if_match_size(6).send().await;
    expect_err(r, 412, "PreconditionFailed", "wrong size");
    let r =
        c.delete_object().bucket("cdel").key("k").if_match_last_modified_time(later).send().await;
    expect_err(r, 412, "PreconditionFailed", "wrong Last-Modified");
    let r = Signed::new("DELETE", "/cdel/k").header("x-amz-if-match-size", b"6").send(&gw).await;
    assert_eq!(xml_element(&r.text(), "Condition").as_deref(), Some("x-amz-if-match-size"));
    assert_eq!(get(&c, "cdel", "k").await, b"12345", "nothing deleted");
    c.delete_object()
        .bucket("cdel")
        .key("k")
        .if_match(&etag)
        .if_match_size(5)
        .if_match_last_modified_time(lm)
        .send()
        .await
        .expect("every condition holds");
    expect_err(c.head_object().bucket("cdel").key("k").send().await, 404, "", "deleted");

    put(&c, "cdel", "a", b"aa").await;
    put(&c, "cdel", "b", b"bb").await;
    let entry = |k: &str, size: i64| ObjectIdentifier::builder().key(k).size(size).build().unwrap();
    let out = c
        .delete_objects()
        .bucket("cdel")
        .delete(Delete::builder().objects(entry("a", 2)).objects(entry("b", 3)).build().unwrap())
        .send()
        .await
        .unwrap();
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["a"]);
    let errors: Vec<(&str, &str)> =
        out.errors().iter().map(|e| (e.key().unwrap_or(""), e.code().unwrap_or(""))).collect();
    assert_eq!(errors, [("b", "PreconditionFailed")]);
    assert_eq!(get(&c, "cdel", "b").await, b"bb");
}
