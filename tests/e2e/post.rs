//! POST Object (browser form uploads) through the real binary: SigV4 and SigV2 signed
//! policies, `${filename}`, success_action_status / success_action_redirect, Content-Type,
//! `x-amz-meta-*`, tagging and checksum fields, a multi-MiB file streamed in many frames; and
//! every refusal (tampered signature, expired policy, failed condition, uncovered field,
//! content-length-range, missing file, anonymous form, refused feature fields) writing
//! nothing.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::Digest as _;

use crate::harness::{
    Flavour, Gateway, RawResponse, crc32_b64, create_bucket, get, hyper_request, random_bytes,
    sha256_hex, xml_element,
};

const BUCKET: &str = "post-e2e";

/// Form fields, names and values as sent.
type Fields = Vec<(String, String)>;
const BOUNDARY: &str = "----s3gateFormBoundary7MA4YWxkTrZu0gW";

/// One form: fields before the file, the file, fields after it.
struct Form {
    fields: Vec<(String, String)>,
    filename: String,
    file_type: String,
    data: Vec<u8>,
    after: Vec<(String, String)>,
}

impl Form {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let part = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        };
        for (n, v) in &self.fields {
            part(&mut out, n, v);
        }
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
                 Content-Type: {}\r\n\r\n",
                self.filename, self.file_type
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.after {
            part(&mut out, n, v);
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }

    async fn post(&self, gw: &Gateway) -> RawResponse {
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        hyper_request(
            "POST",
            &format!("{}/{BUCKET}", gw.endpoint()),
            &[("content-type", &ct)],
            self.body(),
        )
        .await
    }
}

fn iso(t: SystemTime) -> String {
    s3gate_protocol::format_iso8601(t)
}

/// `yyyymmddThhmmssZ` and `yyyymmdd` of now.
fn amz_now() -> (String, String) {
    let t = iso(SystemTime::now()); // 2026-12-02T18:20:00.000Z
    let compact: String = t.chars().filter(char::is_ascii_digit).take(14).collect();
    let stamp = format!("{}T{}Z", &compact[..8], &compact[8..14]);
    (stamp, compact[..8].to_owned())
}

/// A SigV4-signed form: `conditions` (JSON values) plus the credential fields, which are
/// added both as fields and as conditions.
pub fn signed_v4(
    gw: &Gateway,
    fields: Vec<(String, String)>,
    conditions: &[&str],
    expires_in: i64,
) -> Vec<(String, String)> {
    signed_v4_as((&gw.access_key, &gw.secret_key), fields, conditions, expires_in)
}

/// [`signed_v4`] by the user with these keys.
fn signed_v4_as(
    (access_key, secret_key): (&str, &str),
    mut fields: Vec<(String, String)>,
    conditions: &[&str],
    expires_in: i64,
) -> Vec<(String, String)> {
    let (stamp, date) = amz_now();
    let credential = format!("{access_key}/{date}/{}/s3/aws4_request", crate::harness::REGION);
    let expiration = if expires_in >= 0 {
        iso(SystemTime::now() + Duration::from_secs(expires_in.unsigned_abs()))
    } else {
        iso(SystemTime::now() - Duration::from_secs(expires_in.unsigned_abs()))
    };
    let mut conds: Vec<String> = conditions.iter().map(|c| (*c).to_owned()).collect();
    conds.push(r#"{"x-amz-algorithm": "AWS4-HMAC-SHA256"}"#.into());
    conds.push(format!(r#"{{"x-amz-credential": "{credential}"}}"#));
    conds.push(format!(r#"{{"x-amz-date": "{stamp}"}}"#));
    let policy =
        format!(r#"{{"expiration": "{expiration}", "conditions": [{}]}}"#, conds.join(", "));
    let policy = B64.encode(policy);
    let signature =
        s3gate_sigv4::sign_post_policy(&policy, secret_key, &date, crate::harness::REGION, "s3");
    fields.push(("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()));
    fields.push(("x-amz-credential".into(), credential));
    fields.push(("x-amz-date".into(), stamp));
    fields.push(("policy".into(), policy));
    fields.push(("x-amz-signature".into(), signature));
    fields
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&sha1::Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = sha1::Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = sha1::Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

pub fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

fn form(fields: Vec<(String, String)>, data: &[u8]) -> Form {
    Form {
        fields,
        filename: "photo one.txt".into(),
        file_type: "application/octet-stream".into(),
        data: data.to_vec(),
        after: vec![("ignored-after-file".into(), "x".into())],
    }
}

async fn keys(gw: &Gateway) -> Vec<String> {
    let c = gw.client(Flavour::Default);
    let list = c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    list.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn sigv4_form_uploads_a_streamed_file() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    // 3 MiB + 17: many body frames, and bytes inside the file that look like the delimiter
    // but for its last character.
    let mut data = random_bytes(3 * 1024 * 1024 + 17);
    let near = format!("\r\n--{}X", &BOUNDARY[..BOUNDARY.len() - 1]);
    data[1000..1000 + near.len()].copy_from_slice(near.as_bytes());
    let tagging =
        "<Tagging><TagSet><Tag><Key>source</Key><Value>browser</Value></Tag></TagSet></Tagging>";
    let f = signed_v4(
        &gw,
        fields(&[
            ("key", "uploads/${filename}"),
            ("success_action_status", "201"),
            ("Content-Type", "text/plain"),
            ("x-amz-meta-colour", "blue"),
            ("tagging", tagging),
        ]),
        &[
            &format!(r#"{{"bucket": "{BUCKET}"}}"#),
            r#"["starts-with", "$key", "uploads/"]"#,
            r#"{"success_action_status": "201"}"#,
            r#"["starts-with", "$Content-Type", "text/"]"#,
            r#"["content-length-range", 1, 10000000]"#,
            r#"["eq", "$x-amz-meta-colour", "blue"]"#,
            r#"["starts-with", "$tagging", ""]"#,
        ],
        3600,
    );
    let r = form(f, &data).post(&gw).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.text();
    assert_eq!(xml_element(&body, "Key").as_deref(), Some("uploads/photo one.txt"), "{body}");
    assert_eq!(xml_element(&body, "Bucket").as_deref(), Some(BUCKET));
    let etag = xml_element(&body, "ETag").unwrap();
    assert_eq!(r.header("etag"), Some(etag.replace("&quot;", "\"").as_str()));
    let key = "uploads/photo one.txt";
    let got = get(&c, BUCKET, key).await;
    assert_eq!((got.len(), sha256_hex(&got)), (data.len(), sha256_hex(&data)));
    let head = c.head_object().bucket(BUCKET).key(key).send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.metadata().and_then(|m| m.get("colour")).map(String::as_str), Some("blue"));
    let tags = c.get_object_tagging().bucket(BUCKET).key(key).send().await.unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "browser");
}

#[tokio::test]
async fn status_redirect_sigv2_and_checksums() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let bucket_cond = format!(r#"{{"bucket": "{BUCKET}"}}"#);

    // Default: 204 with ETag and Location.
    let f = signed_v4(
        &gw,
        fields(&[("key", "plain")]),
        &[&bucket_cond, r#"["eq", "$key", "plain"]"#],
        60,
    );
    let r = form(f, b"plain data").post(&gw).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.header("etag").is_some());
    assert!(r.header("location").is_some_and(|l| l.ends_with(&format!("/{BUCKET}/plain"))));
    // An unsupported status value: 204 too.
    let f = signed_v4(
        &gw,
        fields(&[("key", "s404"), ("success_action_status", "404")]),
        &[&bucket_cond, r#"["eq", "$key", "s404"]"#, r#"["eq", "$success_action_status", "404"]"#],
        60,
    );
    assert_eq!(form(f, b"x").post(&gw).await.status, 204);
    // 200.
    let f = signed_v4(
        &gw,
        fields(&[("key", "s200"), ("success_action_status", "200")]),
        &[&bucket_cond, r#"["eq", "$key", "s200"]"#, r#"["eq", "$success_action_status", "200"]"#],
        60,
    );
    assert_eq!(form(f, b"x").post(&gw).await.status, 200);

    // Redirect: 303 to the URL with bucket, key and etag.
    let f = signed_v4(
        &gw,
        fields(&[("key", "redir"), ("success_action_redirect", "http://app.test/done")]),
        &[
            &bucket_cond,
            r#"["eq", "$key", "redir"]"#,
            r#"["eq", "$success_action_redirect", "http://app.test/done"]"#,
        ],
        60,
    );
    let r = form(f, b"redirected").post(&gw).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with(&format!("http://app.test/done?bucket={BUCKET}&key=redir&etag=%22")),
        "{loc}"
    );

    // SigV2 form signature (AWSAccessKeyId + signature = base64 HMAC-SHA1 of the policy).
    let exp = iso(SystemTime::now() + Duration::from_secs(60));
    let policy = B64.encode(format!(
        r#"{{"expiration": "{exp}", "conditions": [{bucket_cond}, ["starts-with", "$key", "v2/"]]}}"#
    ));
    let sig = B64.encode(hmac_sha1(gw.secret_key.as_bytes(), policy.as_bytes()));
    let f = fields(&[
        ("key", "v2/${filename}"),
        ("AWSAccessKeyId", &gw.access_key),
        ("policy", &policy),
        ("signature", &sig),
    ]);
    let r = form(f.clone(), b"signed v2").post(&gw).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(get(&c, BUCKET, "v2/photo one.txt").await, b"signed v2");
    // Its signature tampered.
    let mut bad = f;
    bad[3].1 = B64.encode(hmac_sha1(b"wrong", policy.as_bytes()));
    form(bad, b"x").post(&gw).await.assert_error(403, "SignatureDoesNotMatch", "bad SigV2 form");

    // A checksum field: checked against the file.
    let data = b"checksummed";
    let good = crc32_b64(data);
    let f = signed_v4(
        &gw,
        fields(&[("key", "sum"), ("x-amz-checksum-crc32", &good)]),
        &[&bucket_cond, r#"["eq", "$key", "sum"]"#],
        60,
    );
    let r = form(f, data).post(&gw).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-amz-checksum-crc32"), Some(good.as_str()));
    let f = signed_v4(
        &gw,
        fields(&[("key", "badsum"), ("x-amz-checksum-crc32", &crc32_b64(b"other"))]),
        &[&bucket_cond, r#"["eq", "$key", "badsum"]"#],
        60,
    );
    form(f, data).post(&gw).await.assert_error(400, "BadDigest", "wrong checksum field");
    assert!(!keys(&gw).await.contains(&"badsum".to_owned()));
}

#[tokio::test]
async fn refused_forms_write_nothing() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let bucket_cond = format!(r#"{{"bucket": "{BUCKET}"}}"#);
    let key_cond = r#"["starts-with", "$key", ""]"#;
    let ok = signed_v4(&gw, fields(&[("key", "k")]), &[&bucket_cond, key_cond], 60);

    let mut flipped = ok.clone();
    let sig = flipped.last_mut().unwrap();
    sig.1 = format!("{}{}", if sig.1.starts_with('0') { '1' } else { '0' }, &sig.1[1..]);
    let expired = signed_v4(&gw, fields(&[("key", "k")]), &[&bucket_cond, key_cond], -60);
    let wrong_key = signed_v4(
        &gw,
        fields(&[("key", "k")]),
        &[&bucket_cond, r#"["starts-with", "$key", "user/"]"#],
        60,
    );
    let uncovered = signed_v4(
        &gw,
        fields(&[("key", "k"), ("x-amz-meta-extra", "1")]),
        &[&bucket_cond, key_cond],
        60,
    );
    let other_bucket =
        signed_v4(&gw, fields(&[("key", "k")]), &[r#"{"bucket": "another-bucket"}"#, key_cond], 60);
    let small_range = signed_v4(
        &gw,
        fields(&[("key", "k")]),
        &[&bucket_cond, key_cond, r#"["content-length-range", 0, 1000]"#],
        60,
    );
    let min_range = signed_v4(
        &gw,
        fields(&[("key", "k")]),
        &[&bucket_cond, key_cond, r#"["content-length-range", 5000, 9000]"#],
        60,
    );
    let sse = signed_v4(
        &gw,
        fields(&[("key", "k"), ("x-amz-server-side-encryption", "aws:kms:dsse")]),
        &[&bucket_cond, key_cond, r#"["starts-with", "$x-amz-server-side-encryption", ""]"#],
        60,
    );
    let lock = signed_v4(
        &gw,
        fields(&[("key", "k"), ("x-amz-object-lock-mode", "GOVERNANCE")]),
        &[&bucket_cond, key_cond, r#"["starts-with", "$x-amz-object-lock-mode", ""]"#],
        60,
    );
    let mut no_key = ok.clone();
    no_key.retain(|(n, _)| n != "key");
    let anonymous = fields(&[("key", "k")]);
    let mut unknown = ok.clone();
    for (n, v) in &mut unknown {
        if n == "x-amz-credential" {
            *v = v.replacen(&gw.access_key, "AKNOBODY", 1);
        }
    }

    let big = random_bytes(200_000);
    let cases: Vec<(&str, Fields, &[u8], u16, &str)> = vec![
        ("flipped signature", flipped, b"x", 403, "SignatureDoesNotMatch"),
        ("expired policy", expired, b"x", 403, "AccessDenied"),
        ("failed condition", wrong_key, b"x", 403, "AccessDenied"),
        ("uncovered field", uncovered, b"x", 403, "AccessDenied"),
        ("policy for another bucket", other_bucket, b"x", 403, "AccessDenied"),
        ("over content-length-range", small_range, &big, 400, "EntityTooLarge"),
        ("under content-length-range", min_range, b"x", 400, "EntityTooSmall"),
        ("no key field", no_key, b"x", 400, "InvalidArgument"),
        ("anonymous form", anonymous, b"x", 403, "AccessDenied"),
        ("unknown access key", unknown, b"x", 403, "InvalidAccessKeyId"),
    ];
    for (what, f, data, status, code) in cases {
        form(f, data).post(&gw).await.assert_error(status, code, what);
    }
    // Feature fields are refused as their PUT headers are.
    for (what, f) in [("SSE field", sse), ("object lock field", lock)] {
        let r = form(f, b"x").post(&gw).await;
        assert!(r.status >= 400, "{what}: {} {}", r.status, r.text());
    }
    // A form without a file; a body that is not a form.
    let mut nofile = form(ok.clone(), b"").body();
    let cut = String::from_utf8_lossy(&nofile).find("name=\"file\"").unwrap();
    let start = String::from_utf8_lossy(&nofile[..cut]).rfind("--").unwrap();
    nofile.truncate(start);
    nofile.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let url = format!("{}/{BUCKET}", gw.endpoint());
    hyper_request("POST", &url, &[("content-type", &ct)], nofile).await.assert_error(
        400,
        "IncorrectNumberOfFilesInPostRequest",
        "no file",
    );
    hyper_request("POST", &url, &[("content-type", "text/plain")], b"key=k".to_vec())
        .await
        .assert_error(412, "PreconditionFailed", "not a form");
    assert!(keys(&gw).await.is_empty(), "{:?}", keys(&gw).await);

    // The same form as the flipped one, intact: accepted (the refusals were the edits).
    let r = form(ok, b"fine").post(&gw).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(keys(&gw).await, ["k"]);
}

/// A form is a PutObject like any other: decided by the bucket's owner and policy. Another
/// user's signed form is refused until the policy grants it; an unsigned form is allowed
/// exactly where the policy lets anyone write; an explicit Deny binds the owner's forms too.
#[tokio::test]
async fn forms_are_decided_by_the_bucket_policy() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let (bob_key, bob_secret) = gw.add_user("bob");
    let bucket_cond = format!(r#"{{"bucket": "{BUCKET}"}}"#);
    let by_bob = |key: &str| {
        let cond = format!(r#"{{"key": "{key}"}}"#);
        signed_v4_as((&bob_key, &bob_secret), fields(&[("key", key)]), &[&bucket_cond, &cond], 60)
    };
    let by_owner = |key: &str| {
        let cond = format!(r#"{{"key": "{key}"}}"#);
        signed_v4(&gw, fields(&[("key", key)]), &[&bucket_cond, &cond], 60)
    };
    let anonymous = |key: &str| fields(&[("key", key)]);

    form(by_bob("drop/b1"), b"x").post(&gw).await.assert_error(
        403,
        "AccessDenied",
        "bob, no policy",
    );
    form(anonymous("drop/a1"), b"x").post(&gw).await.assert_error(
        403,
        "AccessDenied",
        "anonymous, no policy",
    );
    let policy = format!(
        r#"{{"Version": "2012-10-17", "Statement": [
            {{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::{BUCKET}/drop/*"}},
            {{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::{BUCKET}/sealed/*"}}]}}"#
    );
    c.put_bucket_policy().bucket(BUCKET).policy(policy).send().await.unwrap();
    for (what, f) in [
        ("bob", by_bob("drop/b2")),
        ("anonymous", anonymous("drop/a2")),
        ("owner", by_owner("drop/o2")),
    ] {
        let r = form(f, what.as_bytes()).post(&gw).await;
        assert_eq!(r.status, 204, "{what}: {}", r.text());
    }
    assert_eq!(get(&c, BUCKET, "drop/a2").await, b"anonymous");
    // Anonymous writes belong to the bucket owner, as the PUT path's do.
    let listed = c.list_objects_v2().bucket(BUCKET).fetch_owner(true).send().await.unwrap();
    let owners: Vec<_> = listed
        .contents()
        .iter()
        .map(|o| o.owner().and_then(|w| w.display_name()).unwrap_or_default().to_owned())
        .collect();
    assert!(!owners.iter().any(String::is_empty), "{owners:?}");
    form(anonymous("other/a3"), b"x").post(&gw).await.assert_error(
        403,
        "AccessDenied",
        "anonymous outside the grant",
    );
    form(by_owner("sealed/o4"), b"x").post(&gw).await.assert_error(
        403,
        "AccessDenied",
        "a Deny binds the owner",
    );
    let mut names = keys(&gw).await;
    names.sort();
    assert_eq!(names, ["drop/a2", "drop/b2", "drop/o2"]);
}
