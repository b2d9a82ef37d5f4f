//! Authentication attacks, each refused with AWS's status and code and changing nothing:
//! forged and tampered signatures, unsigned `x-amz-*` headers, replays after the 15-minute
//! window, presigned URLs past expiry or edited, wrong scope (region, service, date), unknown
//! keys, anonymous writes, one user reaching for another user's bucket or upload, and path
//! traversal through keys and upload ids (which must never touch a file outside the data
//! directory).

// `alice_ak`/`alice_sk`, `bob_ak`/`bob_sk`: the pairs read best side by side.
#![allow(clippy::similar_names)]

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use s3gate_sigv4::{RequestParts, SigningParams, presign};

use crate::harness::{Flavour, random_keys};
use crate::hostile::{BUCKET, Payload, Signer, Want, World, check, exchange, populate, walk};

/// Builds a presigned URL target (path and query) for `method path` signed by `s`.
fn presigned(s: &Signer, method: &str, path: &str, expires: u64, time: SystemTime) -> String {
    let host = s.host();
    let headers = [("host", host.as_str())];
    let req = RequestParts { method, raw_path: path, raw_query: None, headers: &headers };
    let params = SigningParams {
        access_key_id: &s.ak,
        secret_key: &s.sk,
        region: &s.region,
        service: &s.service,
        time,
    };
    let query = presign(&req, Duration::from_secs(expires), &params);
    format!("{path}?{query}")
}

/// A plain (unsigned) request to `target` with `headers`.
fn plain(s: &Signer, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nhost: {}\r\n", s.host()).into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

/// Replaces the first occurrence of `from` in the request head with `to`.
fn edit(req: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(req.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} not in request");
    text.replacen(from, to, 1).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_anonymous_requests_are_refused() {
    let w = World::start(&[]);
    populate(&w.c).await;
    let s = Signer::root(&w.gw);
    let now = SystemTime::now();
    let put = |s: &Signer| s.simple("PUT", &format!("/{BUCKET}/forged"), b"forged data");
    let other_secret = Signer { sk: "not-the-secret".into(), ..s.clone() };
    let (unknown_ak, unknown_sk) = random_keys();
    let unknown = Signer { ak: unknown_ak, sk: unknown_sk, ..s.clone() };
    let skewed = |secs: i64| Signer {
        time: Some(if secs < 0 {
            now - Duration::from_secs(secs.unsigned_abs())
        } else {
            now + Duration::from_secs(secs.unsigned_abs())
        }),
        ..s.clone()
    };
    let region = Signer { region: "eu-west-1".into(), ..s.clone() };
    let service = Signer { service: "s3-object-lambda".into(), ..s.clone() };
    let signed_type = s.request(
        "PUT",
        &format!("/{BUCKET}/forged"),
        &[("content-type", "text/plain"), ("x-amz-meta-owner", "alice")],
        &[],
        b"forged data",
        &Payload::Sha256,
    );
    let today = {
        let t = String::from_utf8(put(&s)).unwrap();
        let at = t.find("x-amz-date: ").unwrap() + "x-amz-date: ".len();
        t[at..at + 8].to_owned()
    };
    let url = presigned(&s, "PUT", &format!("/{BUCKET}/forged"), 600, now);
    let expired =
        presigned(&s, "PUT", &format!("/{BUCKET}/forged"), 60, now - Duration::from_secs(3600));
    let future =
        presigned(&s, "PUT", &format!("/{BUCKET}/forged"), 60, now + Duration::from_secs(3600));
    let week = presigned(&s, "PUT", &format!("/{BUCKET}/forged"), 604_801, now);
    let other_region = presigned(&region, "PUT", &format!("/{BUCKET}/forged"), 600, now);
    let denied = Want::Error(403, "AccessDenied");
    let mismatch = Want::Error(403, "SignatureDoesNotMatch");
    let body = b"forged data";
    let now_http = s3gate_protocol::format_http_date(now);
    let forged_v2 = format!("AWS {}:c2lnbmF0dXJlIG9mIG5vdGhpbmc=", s.ak);
    let table: Vec<(&str, Vec<u8>, Want)> = vec![
        ("signature from another secret", put(&other_secret), mismatch),
        ("unknown access key", put(&unknown), Want::Error(403, "InvalidAccessKeyId")),
        (
            "tampered signed header (content-type)",
            edit(&signed_type, "text/plain", "text/html"),
            mismatch,
        ),
        (
            "tampered signed x-amz-meta value",
            edit(&signed_type, "x-amz-meta-owner: alice", "x-amz-meta-owner: mallo"),
            mismatch,
        ),
        ("tampered path", edit(&put(&s), "/forged ", "/forgeX "), mismatch),
        (
            "tampered query",
            edit(
                &s.simple("GET", &format!("/{BUCKET}?list-type=2&prefix=a"), b""),
                "prefix=a",
                "prefix=b",
            ),
            mismatch,
        ),
        (
            "tampered signature",
            {
                let t = String::from_utf8(put(&s)).unwrap();
                let at = t.find("Signature=").unwrap() + "Signature=".len();
                let flipped = if &t[at..=at] == "0" { "1" } else { "0" };
                format!("{}{flipped}{}", &t[..at], &t[at + 1..]).into_bytes()
            },
            mismatch,
        ),
        (
            "tampered x-amz-date (same minute window)",
            {
                let t = String::from_utf8(put(&s)).unwrap();
                let at = t.find("x-amz-date: ").unwrap() + "x-amz-date: ".len() + 15;
                let last = &t[at - 1..at];
                let d = if last == "0" { "1" } else { "0" };
                format!("{}{d}{}", &t[..at - 1], &t[at..]).into_bytes()
            },
            mismatch,
        ),
        (
            "unsigned x-amz-meta header",
            s.request(
                "PUT",
                &format!("/{BUCKET}/forged"),
                &[],
                &[("x-amz-meta-evil", "1")],
                body,
                &Payload::Sha256,
            ),
            denied,
        ),
        (
            "unsigned x-amz-copy-source",
            s.request(
                "PUT",
                &format!("/{BUCKET}/forged"),
                &[],
                &[("x-amz-copy-source", "/hostile/existing")],
                b"",
                &Payload::Sha256,
            ),
            denied,
        ),
        (
            "unsigned x-amz-content-sha256 override",
            edit(
                &put(&s),
                "x-amz-content-sha256: ",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nx-amz-bogus: ",
            ),
            denied,
        ),
        (
            "replayed after 16 minutes",
            put(&skewed(-16 * 60)),
            Want::Error(403, "RequestTimeTooSkewed"),
        ),
        ("dated 16 minutes ahead", put(&skewed(16 * 60)), Want::Error(403, "RequestTimeTooSkewed")),
        ("replayed after a day", put(&skewed(-86_400)), Want::Error(403, "RequestTimeTooSkewed")),
        (
            "wrong region in the scope",
            put(&region),
            Want::Error(400, "AuthorizationHeaderMalformed"),
        ),
        (
            "wrong service in the scope",
            put(&service),
            Want::Error(400, "AuthorizationHeaderMalformed"),
        ),
        (
            "scope date not the request date",
            edit(&put(&s), &format!("/{today}/"), "/20200101/"),
            Want::Error(400, "AuthorizationHeaderMalformed"),
        ),
        (
            "scope terminator",
            edit(&put(&s), "/aws4_request", "/aws5_request"),
            Want::Error(400, "AuthorizationHeaderMalformed"),
        ),
        (
            "garbage Authorization",
            plain(
                &s,
                "PUT",
                &format!("/{BUCKET}/forged"),
                &[
                    ("authorization", "AWS4-HMAC-SHA256 garbage"),
                    ("x-amz-date", "20260101T000000Z"),
                    ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                ],
                body,
            ),
            Want::Error(400, "AuthorizationHeaderMalformed"),
        ),
        (
            "SigV2 Authorization of an unknown key",
            plain(
                &s,
                "PUT",
                &format!("/{BUCKET}/forged"),
                &[("authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl"), ("date", &now_http)],
                body,
            ),
            Want::Error(403, "InvalidAccessKeyId"),
        ),
        (
            "SigV2 Authorization of the root key with a forged signature",
            plain(
                &s,
                "PUT",
                &format!("/{BUCKET}/forged"),
                &[("authorization", &forged_v2), ("date", &now_http)],
                body,
            ),
            Want::Error(403, "SignatureDoesNotMatch"),
        ),
        (
            "header and query auth together",
            edit(&put(&s), &format!("/{BUCKET}/forged "), &format!("{url} ")),
            Want::Error(400, "InvalidArgument"),
        ),
        ("presigned URL past expiry", plain(&s, "PUT", &expired, &[], body), denied),
        ("presigned URL not yet valid", plain(&s, "PUT", &future, &[], body), denied),
        (
            "presigned URL with X-Amz-Expires edited",
            plain(&s, "PUT", &url.replace("X-Amz-Expires=600", "X-Amz-Expires=604"), &[], body),
            mismatch,
        ),
        (
            "presigned URL with a parameter added",
            plain(&s, "PUT", &format!("{url}&acl=public-read"), &[], body),
            mismatch,
        ),
        (
            "presigned URL for another key",
            plain(&s, "PUT", &url.replace("/forged?", "/forgeX?"), &[], body),
            mismatch,
        ),
        (
            "presigned URL used with another method",
            plain(&s, "DELETE", &url.replace("/forged?", "/existing?"), &[], b""),
            mismatch,
        ),
        (
            "presigned URL with an unsigned x-amz header",
            plain(&s, "PUT", &url, &[("x-amz-meta-evil", "1")], body),
            denied,
        ),
        (
            "presigned URL lasting over a week",
            plain(&s, "PUT", &week, &[], body),
            Want::Error(400, "AuthorizationQueryParametersError"),
        ),
        (
            "presigned URL for another region",
            plain(&s, "PUT", &other_region, &[], body),
            Want::Error(400, "AuthorizationQueryParametersError"),
        ),
        ("anonymous PUT", plain(&s, "PUT", &format!("/{BUCKET}/forged"), &[], body), denied),
        ("anonymous DELETE", plain(&s, "DELETE", &format!("/{BUCKET}/existing"), &[], b""), denied),
        ("anonymous bucket DELETE", plain(&s, "DELETE", &format!("/{BUCKET}"), &[], b""), denied),
        ("anonymous CreateBucket", plain(&s, "PUT", "/anonbucket", &[], b""), denied),
        (
            "anonymous CreateMultipartUpload",
            plain(&s, "POST", &format!("/{BUCKET}/forged?uploads"), &[], b""),
            denied,
        ),
        (
            "anonymous DeleteObjects",
            plain(
                &s,
                "POST",
                &format!("/{BUCKET}?delete"),
                &[],
                b"<Delete><Object><Key>existing</Key></Object></Delete>",
            ),
            denied,
        ),
        ("anonymous GET", plain(&s, "GET", &format!("/{BUCKET}/existing"), &[], b""), denied),
    ];
    let mut failures = Vec::new();
    for (name, req, want) in &table {
        let before = w.snapshot().await;
        let r = exchange(w.gw.port, req, false).await;
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(r.as_ref(), *want, name);
        })) {
            failures.push(format!("{name}: {:?}", e.downcast_ref::<String>()));
        }
        if let Err(e) = w.wait_unchanged(&before).await {
            failures.push(format!("{name}: {e}"));
        }
    }
    // The unaltered request and the unaltered presigned URL work.
    let r = exchange(w.gw.port, &plain(&s, "PUT", &url, &[], body), false).await.unwrap();
    assert_eq!(r.status, 200, "unaltered presigned PUT: {}", r.text());
    let r = exchange(w.gw.port, &put(&s), false).await.unwrap();
    assert_eq!(r.status, 200, "unaltered PUT: {}", r.text());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_reach_each_others_buckets_or_uploads() {
    let w = World::start(&[]);
    let (alice_ak, alice_sk) = w.gw.add_user("alice");
    let (bob_ak, bob_sk) = w.gw.add_user("bob");
    let alice_c = w.gw.client_as(&alice_ak, &alice_sk, Flavour::WhenRequired);
    let bob_c = w.gw.client_as(&bob_ak, &bob_sk, Flavour::WhenRequired);
    alice_c.create_bucket().bucket("alice-b").send().await.unwrap();
    alice_c
        .put_object()
        .bucket("alice-b")
        .key("secret")
        .body(ByteStream::from_static(b"alice's"))
        .send()
        .await
        .unwrap();
    let up = alice_c.create_multipart_upload().bucket("alice-b").key("big").send().await.unwrap();
    let alice_upload = up.upload_id().unwrap().to_owned();
    let part = alice_c
        .upload_part()
        .bucket("alice-b")
        .key("big")
        .upload_id(&alice_upload)
        .part_number(1)
        .body(ByteStream::from_static(b"alice part"))
        .send()
        .await
        .unwrap();
    let alice_etag = part.e_tag().unwrap().to_owned();
    bob_c.create_bucket().bucket("bob-b").send().await.unwrap();
    bob_c
        .put_object()
        .bucket("bob-b")
        .key("mine")
        .body(ByteStream::from_static(b"bob's"))
        .send()
        .await
        .unwrap();
    let bob_up = bob_c.create_multipart_upload().bucket("bob-b").key("steal").send().await.unwrap();
    let bob_upload = bob_up.upload_id().unwrap().to_owned();

    let bob = Signer { ak: bob_ak.clone(), sk: bob_sk.clone(), ..Signer::root(&w.gw) };
    let au = &alice_upload;
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{alice_etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let delete = b"<Delete><Object><Key>secret</Key></Object></Delete>".to_vec();
    let delete_md5 = crate::harness::md5_b64(&delete);
    let table: Vec<(&str, Vec<u8>)> = vec![
        ("GET alice's object", bob.simple("GET", "/alice-b/secret", b"")),
        (
            "HEAD-less GET with a range",
            bob.request(
                "GET",
                "/alice-b/secret",
                &[("range", "bytes=0-1")],
                &[],
                b"",
                &Payload::Sha256,
            ),
        ),
        ("PUT into alice's bucket", bob.simple("PUT", "/alice-b/planted", b"bob was here")),
        ("DELETE alice's object", bob.simple("DELETE", "/alice-b/secret", b"")),
        (
            "DeleteObjects in alice's bucket",
            bob.request(
                "POST",
                "/alice-b?delete",
                &[("content-md5", &delete_md5)],
                &[],
                &delete,
                &Payload::Sha256,
            ),
        ),
        ("DELETE alice's bucket", bob.simple("DELETE", "/alice-b", b"")),
        ("list alice's bucket", bob.simple("GET", "/alice-b?list-type=2", b"")),
        ("list alice's uploads", bob.simple("GET", "/alice-b?uploads", b"")),
        ("start an upload in alice's bucket", bob.simple("POST", "/alice-b/planted?uploads", b"")),
        (
            "upload a part to alice's upload",
            bob.simple("PUT", &format!("/alice-b/big?partNumber=2&uploadId={au}"), b"bob part"),
        ),
        ("list alice's parts", bob.simple("GET", &format!("/alice-b/big?uploadId={au}"), b"")),
        (
            "complete alice's upload",
            bob.simple("POST", &format!("/alice-b/big?uploadId={au}"), complete.as_bytes()),
        ),
        ("abort alice's upload", bob.simple("DELETE", &format!("/alice-b/big?uploadId={au}"), b"")),
        (
            "copy alice's object into bob's bucket",
            bob.request(
                "PUT",
                "/bob-b/stolen",
                &[("x-amz-copy-source", "/alice-b/secret")],
                &[],
                b"",
                &Payload::Sha256,
            ),
        ),
        (
            "copy bob's object into alice's bucket",
            bob.request(
                "PUT",
                "/alice-b/planted",
                &[("x-amz-copy-source", "/bob-b/mine")],
                &[],
                b"",
                &Payload::Sha256,
            ),
        ),
        (
            "copy alice's object into bob's upload",
            bob.request(
                "PUT",
                &format!("/bob-b/steal?partNumber=1&uploadId={bob_upload}"),
                &[("x-amz-copy-source", "/alice-b/secret")],
                &[],
                b"",
                &Payload::Sha256,
            ),
        ),
        (
            "alice's upload id under bob's bucket",
            bob.simple("PUT", &format!("/bob-b/big?partNumber=2&uploadId={au}"), b"bob part"),
        ),
        ("GET alice's bucket location", bob.simple("GET", "/alice-b?location", b"")),
    ];
    let snapshot = || async {
        let a = crate::hostile::s3_state(&alice_c).await;
        let b = crate::hostile::s3_state(&bob_c).await;
        (a, b, w.snapshot().await.data_files)
    };
    let mut failures = Vec::new();
    for (name, req) in &table {
        let before = snapshot().await;
        let r = exchange(w.gw.port, req, false).await;
        let want = if name.starts_with("alice's upload id under") {
            Want::Error(404, "NoSuchUpload")
        } else {
            Want::Error(403, "AccessDenied")
        };
        if let Err(e) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(r.as_ref(), want, name)))
        {
            failures.push(format!("{name}: {:?}", e.downcast_ref::<String>()));
        }
        if snapshot().await != before {
            failures.push(format!("{name}: state changed"));
        }
    }
    // HEAD on alice's bucket: 403 without a body.
    let r = exchange(w.gw.port, &bob.simple("HEAD", "/alice-b", b""), false).await.unwrap();
    assert_eq!(r.status, 403, "HEAD alice's bucket");
    // Alice's upload is intact and hers to complete.
    let parts = alice_c
        .list_parts()
        .bucket("alice-b")
        .key("big")
        .upload_id(&alice_upload)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 1);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_through_keys_and_upload_ids_stays_inside_the_data_dir() {
    let w = World::start(&[]);
    populate(&w.c).await;
    let s = Signer::root(&w.gw);
    let outside = || walk(&w.root, &|p| !p.starts_with(&w.gw.dir));
    let read_outside = || {
        (
            std::fs::read(w.root.join("sentinel")).unwrap(),
            std::fs::read(w.root.join("etc/passwd")).unwrap(),
        )
    };
    let (before, contents) = (outside(), read_outside());
    let keys = [
        "../sentinel",
        "../../sentinel",
        "..%2F..%2Fsentinel",
        "../../../../../../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2E%2E/%2E%2E/sentinel",
        "a/../../..//sentinel",
        "..\\..\\sentinel",
        "blobs/../../sentinel",
        "tmp/../../etc/passwd",
        "%2Fetc%2Fpasswd",
    ];
    // Keys are opaque: each is stored under its literal name and read back.
    for (i, raw) in keys.iter().enumerate() {
        let data = format!("object {i}").into_bytes();
        let r = exchange(w.gw.port, &s.simple("PUT", &format!("/{BUCKET}/{raw}"), &data), false)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "PUT {raw}: {}", r.text());
        let r = exchange(w.gw.port, &s.simple("GET", &format!("/{BUCKET}/{raw}"), b""), false)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.clone()), (200, data), "GET {raw}");
    }
    let listed = w.c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let names: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    for want in ["../sentinel", "../../sentinel", "a/../../..//sentinel", "/etc/passwd"] {
        assert!(names.contains(&want), "{want:?} not listed literally: {names:?}");
    }
    // Upload ids are never paths.
    for id in
        ["../../sentinel", "..%2F..%2Fsentinel", "..%2F..%2F..%2Fetc%2Fpasswd", "%2E%2E%2Fsentinel"]
    {
        for (method, target, body) in [
            ("PUT", format!("/{BUCKET}/k?partNumber=1&uploadId={id}"), &b"part"[..]),
            ("GET", format!("/{BUCKET}/k?uploadId={id}"), b""),
            ("DELETE", format!("/{BUCKET}/k?uploadId={id}"), b""),
            ("POST", format!("/{BUCKET}/k?uploadId={id}"), b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"),
        ] {
            let r = exchange(w.gw.port, &s.simple(method, &target, body), false).await;
            check(r.as_ref(), Want::Error(404, "NoSuchUpload"), &format!("{method} {target}"));
        }
    }
    // Deleting the traversal keys removes the objects, not the files they name.
    for raw in keys {
        let r = exchange(w.gw.port, &s.simple("DELETE", &format!("/{BUCKET}/{raw}"), b""), false)
            .await
            .unwrap();
        assert_eq!(r.status, 204, "DELETE {raw}: {}", r.text());
    }
    assert_eq!(outside(), before, "files next to the data dir changed");
    assert_eq!(read_outside(), contents, "files next to the data dir were rewritten");
    // Every object file the gateway wrote is inside the data dir.
    let data_files = walk(&w.gw.dir, &|_| true);
    assert!(data_files.iter().all(|(p, _)| !p.contains("..")), "{data_files:?}");
}
