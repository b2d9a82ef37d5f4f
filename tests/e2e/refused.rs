//! What the gateway does not do is refused, and changes nothing (issue 14).
//!
//! `feature_headers` walks every (header, operation) pair of
//! [`s3gate_protocol::FEATURE_HEADERS`] through the real binary: the status and code AWS
//! answers (or `501 NotImplemented`), stated here independently of the table; the answer
//! arrives before the request body is sent; and nothing changed afterwards (no bucket, object,
//! upload or part). The values the gateway honours still work. `expected_bucket_owner` checks
//! the owner headers. `unset_configurations` GETs every
//! configuration the gateway cannot set yet and checks AWS's answer for an unset one, byte for
//! byte.

use std::time::Duration;

use aws_sdk_s3::Client;
use s3gate_protocol::FEATURE_HEADERS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Flavour, Gateway, RawResponse, create_bucket, get, put};
use crate::hostile::{Payload, Signer, parse_response};

const BUCKET: &str = "refused";
const SOURCE: &str = "src";
const SOURCE_BYTES: &[u8] = b"source bytes";
const UPLOAD_KEY: &str = "mpu";
/// The Content-Length announced by refused requests whose body is never sent: the answer must
/// come before it.
const UNSENT_BODY: &str = "1048576";

/// Sends `request` and reads one complete response; panics if none comes within 10 s (the
/// server waited for a body it should not have read).
async fn send(port: u16, request: &[u8], head: bool) -> RawResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = vec![0u8; 65536];
        loop {
            if let Some(r) = parse_response(&buf, head)
                && complete(&buf, &r, head)
            {
                return r;
            }
            let n = s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed without a complete answer: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no answer within 10 s: the server waited for the body")
}

fn complete(buf: &[u8], r: &RawResponse, head: bool) -> bool {
    if head || r.header("transfer-encoding").is_some() {
        return true;
    }
    let Some(len) = r.header("content-length").and_then(|v| v.parse::<usize>().ok()) else {
        return true;
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
    buf.len() >= end + len
}

/// `"ok"` (2xx) or `"<status> <Code>"`; a HEAD error has no body, so `"<status>"`.
fn outcome(r: &RawResponse) -> String {
    if (200..300).contains(&r.status) {
        return "ok".to_owned();
    }
    assert!(r.header("x-amz-request-id").is_some(), "no request id: {r:?}");
    match r.error_code() {
        Some(code) => {
            assert!(
                crate::harness::xml_element(&r.text(), "RequestId").is_some_and(|s| !s.is_empty()),
                "error body without RequestId: {}",
                r.text()
            );
            format!("{} {code}", r.status)
        }
        None => r.status.to_string(),
    }
}

struct World {
    gw: Gateway,
    c: Client,
    signer: Signer,
    upload_id: String,
    n: usize,
}

impl World {
    async fn start() -> World {
        let gw = Gateway::start();
        let c = gw.client(Flavour::WhenRequired);
        create_bucket(&c, BUCKET).await;
        put(&c, BUCKET, SOURCE, SOURCE_BYTES).await;
        let upload = c.create_multipart_upload().bucket(BUCKET).key(UPLOAD_KEY).send().await;
        let upload_id = upload.unwrap().upload_id.unwrap();
        let signer = Signer::root(&gw);
        World { gw, c, signer, upload_id, n: 0 }
    }

    /// Sends `op` with `headers` on a fresh name (bucket `new-bucket-N`, key `kN`, part N),
    /// checks the outcome, then that the request changed nothing (refused) or did its work.
    async fn case(&mut self, op: &str, headers: &[(&str, &str)], expected: &str) {
        self.n += 1;
        let n = self.n;
        let what = format!("{op} {headers:?}");
        let copy = format!("/{BUCKET}/{SOURCE}");
        let part = format!("/{BUCKET}/{UPLOAD_KEY}?partNumber={n}&uploadId={}", self.upload_id);
        let mut signed: Vec<(&str, &str)> = headers.to_vec();
        let (method, target, has_body) = match op {
            "CreateBucket" => ("PUT", format!("/new-bucket-{n}"), true),
            "PutObject" => ("PUT", format!("/{BUCKET}/k{n}"), true),
            "CopyObject" => ("PUT", format!("/{BUCKET}/k{n}"), false),
            "CreateMultipartUpload" => ("POST", format!("/{BUCKET}/k{n}?uploads"), false),
            "UploadPart" => ("PUT", part.clone(), true),
            "UploadPartCopy" => ("PUT", part.clone(), false),
            "GetObject" => ("GET", format!("/{BUCKET}/{SOURCE}"), false),
            "HeadObject" => ("HEAD", format!("/{BUCKET}/{SOURCE}"), false),
            "PutBucketAcl" => ("PUT", format!("/{BUCKET}?acl"), false),
            "PutObjectAcl" => ("PUT", format!("/{BUCKET}/{SOURCE}?acl"), false),
            other => panic!("no e2e request for {other}"),
        };
        if matches!(op, "CopyObject" | "UploadPartCopy") {
            signed.push(("x-amz-copy-source", &copy));
        }
        let accepted = expected == "ok";
        let request = if has_body && !accepted {
            // Refused before the body is read: announce one and never send it.
            let unsigned = [("content-length", UNSENT_BODY)];
            self.signer.request(method, &target, &signed, &unsigned, b"", &Payload::Unsigned)
        } else {
            let body: &[u8] = if has_body && op != "CreateBucket" { b"hello" } else { b"" };
            self.signer.request(method, &target, &signed, &[], body, &Payload::Sha256)
        };
        let r = send(self.gw.port, &request, method == "HEAD").await;
        assert_eq!(outcome(&r), expected, "{what}: {}", r.text());
        let c = &self.c;
        let key = format!("k{n}");
        let exists = match op {
            "CreateBucket" => {
                c.head_bucket().bucket(format!("new-bucket-{n}")).send().await.is_ok()
            }
            "PutObject" | "CopyObject" => {
                c.head_object().bucket(BUCKET).key(&key).send().await.is_ok()
            }
            "CreateMultipartUpload" => {
                let l = c.list_multipart_uploads().bucket(BUCKET).prefix(&key).send().await;
                !l.unwrap().uploads().is_empty()
            }
            "UploadPart" | "UploadPartCopy" => {
                let l = c.list_parts().bucket(BUCKET).key(UPLOAD_KEY);
                let l = l.upload_id(&self.upload_id).send().await.unwrap();
                l.parts().iter().any(|p| p.part_number() == Some(i32::try_from(n).unwrap()))
            }
            // ACLs: still the owner's full control and nothing else.
            "PutBucketAcl" | "PutObjectAcl" => {
                let grants = if op == "PutBucketAcl" {
                    c.get_bucket_acl().bucket(BUCKET).send().await.unwrap().grants
                } else {
                    c.get_object_acl().bucket(BUCKET).key(SOURCE).send().await.unwrap().grants
                };
                let grants = grants.unwrap_or_default();
                assert_eq!(grants.len(), 1, "{what}: {grants:?}");
                assert_eq!(
                    grants[0].permission().map(aws_sdk_s3::types::Permission::as_str),
                    Some("FULL_CONTROL")
                );
                accepted
            }
            // Reads: the source is unchanged.
            _ => {
                assert_eq!(get(c, BUCKET, SOURCE).await, SOURCE_BYTES, "{what}");
                accepted
            }
        };
        assert_eq!(exists, accepted, "{what}: the request's effect is there: {exists}");
    }
}

const OBJECT_WRITES: &[&str] = &["PutObject", "CopyObject", "CreateMultipartUpload"];
const ACL_PUTS: &[&str] = &["PutBucketAcl", "PutObjectAcl"];
const SSE_C_WRITES: &[&str] =
    &["PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy"];

/// (header, value, operations, expected outcome): AWS's answer where AWS has one for the
/// gateway's state (a bucket without object lock, ownership `BucketOwnerEnforced`, no SSE-C
/// object), else 501. ACLs with ownership on are tests/e2e/acl.rs's.
const REFUSED: &[(&str, &str, &[&str], &str)] = &[
    ("x-amz-acl", "public-read", &["CreateBucket"], "400 InvalidBucketAclWithObjectOwnership"),
    (
        "x-amz-grant-full-control",
        "id=someone",
        &["CreateBucket"],
        "400 InvalidBucketAclWithObjectOwnership",
    ),
    ("x-amz-grant-read", "uri=x", &["CreateBucket"], "400 InvalidArgument"),
    ("x-amz-grant-read-acp", "id=x", &["CreateBucket"], "400 InvalidBucketAclWithObjectOwnership"),
    ("x-amz-grant-write", "id=x", &["CreateBucket"], "400 InvalidBucketAclWithObjectOwnership"),
    ("x-amz-grant-write-acp", "id=x", &["CreateBucket"], "400 InvalidBucketAclWithObjectOwnership"),
    // Object lock: a mode needs its date (and the reverse); on a bucket without object lock,
    // every lock header is AWS's InvalidRequest (object_lock.rs covers both with a date).
    ("x-amz-object-lock-mode", "COMPLIANCE", OBJECT_WRITES, "400 InvalidArgument"),
    ("x-amz-object-lock-mode", "GOVERNANCE", &["PutObject"], "400 InvalidArgument"),
    (
        "x-amz-object-lock-retain-until-date",
        "2099-01-01T00:00:00Z",
        OBJECT_WRITES,
        "400 InvalidArgument",
    ),
    ("x-amz-object-lock-legal-hold", "ON", OBJECT_WRITES, "400 InvalidRequest"),
    ("x-amz-acl", "public-read", OBJECT_WRITES, "400 AccessControlListNotSupported"),
    ("x-amz-acl", "authenticated-read", &["PutObject"], "400 AccessControlListNotSupported"),
    ("x-amz-grant-full-control", "id=x", OBJECT_WRITES, "400 AccessControlListNotSupported"),
    ("x-amz-grant-read", "id=x", OBJECT_WRITES, "400 AccessControlListNotSupported"),
    ("x-amz-grant-read-acp", "id=x", OBJECT_WRITES, "400 AccessControlListNotSupported"),
    ("x-amz-grant-write-acp", "id=x", OBJECT_WRITES, "400 AccessControlListNotSupported"),
    ("x-amz-acl", "public-read", ACL_PUTS, "400 AccessControlListNotSupported"),
    ("x-amz-grant-full-control", "id=x", ACL_PUTS, "400 AccessControlListNotSupported"),
    ("x-amz-grant-read", "id=x", ACL_PUTS, "400 AccessControlListNotSupported"),
    ("x-amz-grant-read-acp", "id=x", ACL_PUTS, "400 AccessControlListNotSupported"),
    ("x-amz-grant-write", "id=x", &["PutBucketAcl"], "400 AccessControlListNotSupported"),
    ("x-amz-grant-write-acp", "id=x", ACL_PUTS, "400 AccessControlListNotSupported"),
    ("x-amz-storage-class", "GLACIER", OBJECT_WRITES, "501 NotImplemented"),
    ("x-amz-storage-class", "DEEP_ARCHIVE", &["PutObject"], "501 NotImplemented"),
    // Stored and honoured (docs/website.md); a value that is no path or URL is AWS's 400.
    ("x-amz-website-redirect-location", "elsewhere", OBJECT_WRITES, "400 InvalidRedirectLocation"),
    ("x-amz-server-side-encryption", "aws:kms:dsse", OBJECT_WRITES, "501 NotImplemented"),
    // KMS parameters without `aws:kms` contradict themselves: AWS's 400 (with it: below).
    ("x-amz-server-side-encryption-aws-kms-key-id", "k", OBJECT_WRITES, "400 InvalidArgument"),
    ("x-amz-server-side-encryption-context", "e30=", OBJECT_WRITES, "400 InvalidArgument"),
    (
        "x-amz-server-side-encryption-bucket-key-enabled",
        "maybe",
        OBJECT_WRITES,
        "400 InvalidArgument",
    ),
    // One SSE-C header alone is a broken set: AWS's 400 before anything else (the full sets
    // are in `SSE_C_SETS`).
    (
        "x-amz-server-side-encryption-customer-algorithm",
        "AES256",
        SSE_C_WRITES,
        "400 InvalidArgument",
    ),
    ("x-amz-server-side-encryption-customer-key", KEY, SSE_C_WRITES, "400 InvalidArgument"),
    ("x-amz-server-side-encryption-customer-key-md5", KEY_MD5, SSE_C_WRITES, "400 InvalidArgument"),
    (
        "x-amz-server-side-encryption-customer-algorithm",
        "AES256",
        &["GetObject"],
        "400 InvalidArgument",
    ),
    ("x-amz-server-side-encryption-customer-key", KEY, &["GetObject"], "400 InvalidArgument"),
    (
        "x-amz-server-side-encryption-customer-key-md5",
        KEY_MD5,
        &["GetObject"],
        "400 InvalidArgument",
    ),
    ("x-amz-server-side-encryption-customer-algorithm", "AES256", &["HeadObject"], "400"),
    ("x-amz-server-side-encryption-customer-key", KEY, &["HeadObject"], "400"),
    ("x-amz-server-side-encryption-customer-key-md5", KEY_MD5, &["HeadObject"], "400"),
    (
        "x-amz-copy-source-server-side-encryption-customer-algorithm",
        "AES256",
        COPIES,
        "400 InvalidArgument",
    ),
    ("x-amz-copy-source-server-side-encryption-customer-key", KEY, COPIES, "400 InvalidArgument"),
    (
        "x-amz-copy-source-server-side-encryption-customer-key-md5",
        KEY_MD5,
        COPIES,
        "400 InvalidArgument",
    ),
];

/// A customer key (32 bytes, base64) and its MD5, from ceph/s3-tests.
const KEY: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
const KEY_MD5: &str = "DWygnHRtgiJ77HCm+1rvHw==";
const COPIES: &[&str] = &["CopyObject", "UploadPartCopy"];

/// Complete SSE-C sets (header prefix, operations, expected): over plain HTTP (this gateway
/// serves no TLS and was not told to allow it) every one is AWS's 400 InvalidRequest.
const SSE_C_SETS: &[(&str, &[&str], &str)] = &[
    ("x-amz-", SSE_C_WRITES, "400 InvalidRequest"),
    ("x-amz-", &["GetObject"], "400 InvalidRequest"),
    ("x-amz-", &["HeadObject"], "400"),
    ("x-amz-copy-source-", COPIES, "400 InvalidRequest"),
];

/// Values AWS does not know.
const INVALID: &[(&str, &str, &[&str], &str)] = &[
    ("x-amz-storage-class", "BOGUS", OBJECT_WRITES, "400 InvalidStorageClass"),
    ("x-amz-acl", "bogus", &["PutObject", "CreateBucket"], "400 InvalidArgument"),
    ("x-amz-server-side-encryption", "rot13", &["PutObject"], "400 InvalidArgument"),
    ("x-amz-object-lock-mode", "FOREVER", &["PutObject"], "400 InvalidArgument"),
    ("x-amz-bucket-object-lock-enabled", "maybe", &["CreateBucket"], "400 InvalidArgument"),
    ("x-amz-object-ownership", "Anyone", &["CreateBucket"], "400 InvalidArgument"),
];

/// What the gateway does, and keeps accepting.
const HONOURED: &[(&str, &str, &[&str])] = &[
    ("x-amz-acl", "private", &["CreateBucket", "PutObject", "CopyObject", "CreateMultipartUpload"]),
    ("x-amz-acl", "bucket-owner-full-control", &["CreateBucket", "PutObject", "CopyObject"]),
    ("x-amz-acl", "private", ACL_PUTS),
    ("x-amz-acl", "bucket-owner-full-control", ACL_PUTS),
    ("x-amz-storage-class", "STANDARD", OBJECT_WRITES),
    ("x-amz-bucket-object-lock-enabled", "false", &["CreateBucket"]),
    ("x-amz-bucket-object-lock-enabled", "true", &["CreateBucket"]),
    ("x-amz-object-ownership", "BucketOwnerEnforced", &["CreateBucket"]),
    ("x-amz-object-ownership", "ObjectWriter", &["CreateBucket"]),
    ("x-amz-object-ownership", "BucketOwnerPreferred", &["CreateBucket"]),
    ("x-amz-server-side-encryption", "AES256", OBJECT_WRITES),
    // SSE-KMS under the aws/s3 key, created on first use.
    ("x-amz-server-side-encryption", "aws:kms", OBJECT_WRITES),
    ("x-amz-server-side-encryption-bucket-key-enabled", "true", OBJECT_WRITES),
    ("x-amz-website-redirect-location", "/elsewhere", OBJECT_WRITES),
];

#[tokio::test]
async fn feature_headers() {
    // Every (header, operation) of the table has a refused case here.
    for h in FEATURE_HEADERS {
        for op in h.operations {
            assert!(
                REFUSED
                    .iter()
                    .chain(INVALID)
                    .any(|(name, _, ops, _)| *name == h.name && ops.contains(op)),
                "no e2e case refuses {} on {op}",
                h.name
            );
        }
    }
    let mut w = World::start().await;
    for (header, value, ops, expected) in REFUSED.iter().chain(INVALID) {
        for op in *ops {
            w.case(op, &[(header, value)], expected).await;
        }
    }
    for (prefix, ops, expected) in SSE_C_SETS {
        let names = ["algorithm", "key", "key-md5"]
            .map(|p| format!("{prefix}server-side-encryption-customer-{p}"));
        let set =
            [(names[0].as_str(), "AES256"), (names[1].as_str(), KEY), (names[2].as_str(), KEY_MD5)];
        for op in *ops {
            w.case(op, &set, expected).await;
        }
        // A wrong MD5 and another algorithm are AWS's 400s.
        let bad_md5 = [set[0], set[1], (names[2].as_str(), "AAAAAAAAAAAAAAAAAAAAAA==")];
        let bad_alg = [(names[0].as_str(), "AES128"), set[1], set[2]];
        let head = ops.contains(&"HeadObject");
        w.case(ops[0], &bad_md5, if head { "400" } else { "400 InvalidArgument" }).await;
        w.case(ops[0], &bad_alg, if head { "400" } else { "400 InvalidEncryptionAlgorithmError" })
            .await;
    }
    // SSE-KMS under a key that does not exist is KMS's 400 passed on; SSE with SSE-C
    // contradicts itself.
    let kms = [
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "k"),
        ("x-amz-server-side-encryption-context", "e30="),
    ];
    let both = [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", KEY),
        ("x-amz-server-side-encryption-customer-key-md5", KEY_MD5),
    ];
    for op in OBJECT_WRITES {
        w.case(op, &kms, "400 KMS.NotFoundException").await;
        w.case(op, &both, "400 InvalidArgument").await;
    }
    for (header, value, ops) in HONOURED {
        for op in *ops {
            w.case(op, &[(header, value)], "ok").await;
        }
    }
    // No header at all: each operation works (the cases above are not refused for another
    // reason).
    for op in ["CreateBucket", "PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart"] {
        w.case(op, &[], "ok").await;
    }
    w.case("UploadPartCopy", &[], "ok").await;
    w.case("GetObject", &[], "ok").await;

    // A refusal waits for the bucket: a missing one is still NoSuchBucket. SSE-C over plain
    // HTTP is refused at the door, before any lookup, as AWS does.
    let signer = Signer::root(&w.gw);
    let sse = [("x-amz-server-side-encryption", "AES256")];
    let unsent = [("content-length", UNSENT_BODY)];
    let req = signer.request("PUT", "/no-such-bucket/k", &sse, &unsent, b"", &Payload::Unsigned);
    assert_eq!(outcome(&send(w.gw.port, &req, false).await), "404 NoSuchBucket");
    let ssec = [
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", KEY),
        ("x-amz-server-side-encryption-customer-key-md5", KEY_MD5),
    ];
    let req = signer.request("GET", &format!("/{BUCKET}/nokey"), &ssec, &[], b"", &Payload::Sha256);
    assert_eq!(outcome(&send(w.gw.port, &req, false).await), "400 InvalidRequest");

    // The 501 names the header.
    let class = [("x-amz-storage-class", "GLACIER")];
    let req =
        signer.request("PUT", &format!("/{BUCKET}/r"), &class, &unsent, b"", &Payload::Unsigned);
    let r = send(w.gw.port, &req, false).await;
    assert_eq!(outcome(&r), "501 NotImplemented");
    assert!(r.text().contains("x-amz-storage-class"), "{}", r.text());
}

/// (method, target, headers, expected outcome).
type OwnerCase<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);

#[tokio::test]
async fn expected_bucket_owner() {
    let w = World::start().await;
    let owner = w.c.list_buckets().send().await.unwrap().owner.unwrap().id.unwrap();
    let signer = Signer::root(&w.gw);
    let port = w.gw.port;
    let copy = format!("/{BUCKET}/{SOURCE}");
    let cases: &[OwnerCase<'_>] = &[
        (
            "PUT",
            format!("/{BUCKET}/a"),
            vec![("x-amz-expected-bucket-owner", "111122223333")],
            "403 AccessDenied",
        ),
        ("PUT", format!("/{BUCKET}/b"), vec![("x-amz-expected-bucket-owner", &owner)], "ok"),
        (
            "GET",
            format!("/{BUCKET}/{SOURCE}"),
            vec![("x-amz-expected-bucket-owner", "someone")],
            "403 AccessDenied",
        ),
        (
            "GET",
            format!("/{BUCKET}"),
            vec![("x-amz-expected-bucket-owner", "someone")],
            "403 AccessDenied",
        ),
        ("GET", format!("/{BUCKET}"), vec![("x-amz-expected-bucket-owner", &owner)], "ok"),
        (
            "DELETE",
            format!("/{BUCKET}/{SOURCE}"),
            vec![("x-amz-expected-bucket-owner", "someone")],
            "403 AccessDenied",
        ),
        (
            "PUT",
            format!("/{BUCKET}/c"),
            vec![("x-amz-copy-source", &copy), ("x-amz-source-expected-bucket-owner", "someone")],
            "403 AccessDenied",
        ),
        (
            "PUT",
            format!("/{BUCKET}/d"),
            vec![("x-amz-copy-source", &copy), ("x-amz-source-expected-bucket-owner", &owner)],
            "ok",
        ),
    ];
    for (method, target, headers, expected) in cases {
        let req = signer.request(method, target, headers, &[], b"", &Payload::Sha256);
        let r = send(port, &req, false).await;
        assert_eq!(outcome(&r), *expected, "{method} {target} {headers:?}: {}", r.text());
    }
    // Refused writes wrote nothing; refused deletes deleted nothing.
    for key in ["a", "c"] {
        assert!(w.c.head_object().bucket(BUCKET).key(key).send().await.is_err(), "{key}");
    }
    for key in ["b", "d"] {
        assert!(w.c.head_object().bucket(BUCKET).key(key).send().await.is_ok(), "{key}");
    }
    assert_eq!(get(&w.c, BUCKET, SOURCE).await, SOURCE_BYTES);
}

#[tokio::test]
async fn unset_configurations() {
    let w = World::start().await;
    let owner = w.c.list_buckets().send().await.unwrap().owner.unwrap().id.unwrap();
    let port = w.gw.port;
    let signer = Signer::root(&w.gw);
    let prolog = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
    let acl = format!(
        "{prolog}<AccessControlPolicy {ns}><Owner><ID>{owner}</ID><DisplayName>{owner}</DisplayName>\
         </Owner><AccessControlList><Grant><Grantee \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">\
         <ID>{owner}</ID><DisplayName>{owner}</DisplayName></Grantee>\
         <Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>"
    );
    let ok = |doc: String| format!("200 {doc}");
    let b = BUCKET;
    let cases: Vec<(String, String)> = vec![
        (format!("/{b}?versioning"), ok(format!("{prolog}<VersioningConfiguration {ns}/>"))),
        (format!("/{b}?notification"), ok(format!("{prolog}<NotificationConfiguration {ns}/>"))),
        (format!("/{b}?logging"), ok(format!("{prolog}<BucketLoggingStatus {ns}/>"))),
        (format!("/{b}?accelerate"), ok(format!("{prolog}<AccelerateConfiguration {ns}/>"))),
        (
            format!("/{b}?requestPayment"),
            ok(format!(
                "{prolog}<RequestPaymentConfiguration {ns}><Payer>BucketOwner</Payer>\
                 </RequestPaymentConfiguration>"
            )),
        ),
        (format!("/{b}?acl"), ok(acl.clone())),
        (format!("/{b}/{SOURCE}?acl"), ok(acl.clone())),
        (format!("/{b}?policy"), "404 NoSuchBucketPolicy".into()),
        (format!("/{b}?policyStatus"), "404 NoSuchBucketPolicy".into()),
        (format!("/{b}?cors"), "404 NoSuchCORSConfiguration".into()),
        (format!("/{b}?lifecycle"), "404 NoSuchLifecycleConfiguration".into()),
        (format!("/{b}?object-lock"), "404 ObjectLockConfigurationNotFoundError".into()),
        // A bucket without an encryption rule reports the operator's default SSE-C block,
        // as AWS reports it for a new bucket.
        (
            format!("/{b}?encryption"),
            ok(format!(
                "{prolog}<ServerSideEncryptionConfiguration {ns}><Rule><BlockedEncryptionTypes>\
                 <EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule>\
                 </ServerSideEncryptionConfiguration>"
            )),
        ),
        (format!("/{b}?website"), "404 NoSuchWebsiteConfiguration".into()),
        (format!("/{b}?replication"), "404 ReplicationConfigurationNotFoundError".into()),
        (format!("/{b}?publicAccessBlock"), "404 NoSuchPublicAccessBlockConfiguration".into()),
        // A new bucket's Object Ownership is set (AWS's default): ACLs off.
        (
            format!("/{b}?ownershipControls"),
            ok(format!(
                "{prolog}<OwnershipControls {ns}><Rule><ObjectOwnership>BucketOwnerEnforced\
                 </ObjectOwnership></Rule></OwnershipControls>"
            )),
        ),
        (format!("/{b}?tagging"), "404 NoSuchTagSet".into()),
        (format!("/{b}/{SOURCE}?legal-hold"), "400 InvalidRequest".into()),
        (format!("/{b}/{SOURCE}?retention"), "400 InvalidRequest".into()),
        // The bucket (and for an ACL the object) must exist.
        ("/no-such-bucket?versioning".into(), "404 NoSuchBucket".into()),
        ("/no-such-bucket?policy".into(), "404 NoSuchBucket".into()),
        (format!("/{b}/no-such-key?acl"), "404 NoSuchKey".into()),
    ];
    for (target, expected) in &cases {
        let req = signer.request("GET", target, &[], &[], b"", &Payload::Sha256);
        let r = send(port, &req, false).await;
        let got = if r.status == 200 {
            assert_eq!(r.header("content-type"), Some("application/xml"), "{target}");
            format!("200 {}", r.text())
        } else {
            outcome(&r)
        };
        assert_eq!(&got, expected, "GET {target}");
    }
    // Versioning is built: a body that is no VersioningConfiguration is malformed.
    let req =
        signer.request("PUT", &format!("/{b}?versioning"), &[], &[], b"<x/>", &Payload::Sha256);
    assert_eq!(outcome(&send(port, &req, false).await), "400 MalformedXML");
    // So is a website configuration (docs/website.md), and a malformed one changes nothing.
    let req = signer.request("PUT", &format!("/{b}?website"), &[], &[], b"<x/>", &Payload::Sha256);
    assert_eq!(outcome(&send(port, &req, false).await), "400 MalformedXML");
    let req = signer.request("GET", &format!("/{b}?website"), &[], &[], b"", &Payload::Sha256);
    assert_eq!(outcome(&send(port, &req, false).await), "404 NoSuchWebsiteConfiguration");
    // An ACL body that is no AccessControlPolicy is MalformedACLError, and changes nothing.
    let req = signer.request("PUT", &format!("/{b}?acl"), &[], &[], b"<x/>", &Payload::Sha256);
    assert_eq!(outcome(&send(port, &req, false).await), "400 MalformedACLError", "?acl");
    // Retention and legal hold are refused as AWS refuses them on a bucket without Object
    // Lock; of a missing key, NoSuchKey.
    for (sub, body) in [
        (
            "retention",
            &b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z\
               </RetainUntilDate></Retention>"[..],
        ),
        ("legal-hold", b"<LegalHold><Status>ON</Status></LegalHold>"),
    ] {
        let req = signer.request(
            "PUT",
            &format!("/{b}/{SOURCE}?{sub}"),
            &[],
            &[],
            body,
            &Payload::Sha256,
        );
        assert_eq!(outcome(&send(port, &req, false).await), "400 InvalidRequest", "PUT ?{sub}");
        let req = signer.request(
            "PUT",
            &format!("/{b}/no-such-key?{sub}"),
            &[],
            &[],
            body,
            &Payload::Sha256,
        );
        assert_eq!(outcome(&send(port, &req, false).await), "404 NoSuchKey", "PUT ?{sub}");
    }
    // PutObjectAcl of a missing key is NoSuchKey; of another user's bucket AccessDenied (below).
    let private = [("x-amz-acl", "private")];
    let req = signer.request(
        "PUT",
        &format!("/{b}/no-such-key?acl"),
        &private,
        &[],
        b"",
        &Payload::Sha256,
    );
    assert_eq!(outcome(&send(port, &req, false).await), "404 NoSuchKey");
    // Another user's bucket: AccessDenied, as for every other operation on it.
    let (ak, sk) = w.gw.add_user("alice");
    let alice = Signer { ak, sk, ..Signer::root(&w.gw) };
    let req = alice.request("GET", &format!("/{b}?versioning"), &[], &[], b"", &Payload::Sha256);
    assert_eq!(outcome(&send(port, &req, false).await), "403 AccessDenied");
    let req = alice.request("PUT", &format!("/{b}?acl"), &private, &[], b"", &Payload::Sha256);
    assert_eq!(outcome(&send(port, &req, false).await), "403 AccessDenied");

    // The SDK reads them as an unset configuration.
    let v = w.c.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(v.status(), None);
    let a = w.c.get_bucket_acl().bucket(b).send().await.unwrap();
    assert_eq!(a.owner().and_then(|o| o.id()), Some(owner.as_str()));
    assert_eq!(a.grants().len(), 1);
    let p = w.c.get_bucket_request_payment().bucket(b).send().await.unwrap();
    assert_eq!(p.payer().map(aws_sdk_s3::types::Payer::as_str), Some("BucketOwner"));
    let err = w.c.get_bucket_policy().bucket(b).send().await.unwrap_err();
    assert_eq!(crate::harness::err_info(&err).0, 404);
}
