//! Signature Version 2 through the real binary: header auth (`Authorization: AWS AK:sig`) and
//! presigned URLs (`AWSAccessKeyId`, `Expires`, `Signature`), path-style and virtual-hosted,
//! with sub-resources; every tampered or expired request refused and nothing changed; and
//! `--sigv2 off`, which refuses both as AWS does in its SigV4-only regions. The requests are
//! signed with `s3gate_sigv4::sign_v2` / `presign_v2`, whose string to sign the AWS examples
//! fix (crates/sigv4/tests/data/sigv2); the AWS CLI v1 and s3cmd run in the client matrix
//! (tests/clients/awscli.sh, s3cmd.sh).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3gate_sigv4::{RequestParts, presign_v2, sign_v2};

use crate::harness::{
    Flavour, Gateway, RawResponse, create_bucket, get, hyper_request, md5_b64, put, random_bytes,
};

const BUCKET: &str = "sigv2";

/// A SigV2 request: method, path (as on the wire), query, headers; signed at `send`.
struct V2<'a> {
    gw: &'a Gateway,
    method: &'a str,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    host: String,
    host_bucket: Option<&'a str>,
}

impl<'a> V2<'a> {
    fn new(gw: &'a Gateway, method: &'a str, path: &str, query: Option<&str>) -> Self {
        V2 {
            gw,
            method,
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers: vec![("date".into(), s3gate_protocol::format_http_date(SystemTime::now()))],
            host: format!("127.0.0.1:{}", gw.port),
            host_bucket: None,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        let mut h: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        h.push(("host", &self.host));
        h
    }

    fn parts<'b>(&'b self, pairs: &'b [(&'b str, &'b str)]) -> RequestParts<'b> {
        RequestParts {
            method: self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: pairs,
        }
    }

    fn url(&self, query: Option<&str>) -> String {
        let q = query.map(|q| format!("?{q}")).unwrap_or_default();
        format!("http://127.0.0.1:{}{}{q}", self.gw.port, self.path)
    }

    /// The `Authorization` value for this request.
    fn authorization(&self) -> String {
        let pairs = self.pairs();
        sign_v2(&self.parts(&pairs), self.host_bucket, &self.gw.access_key, &self.gw.secret_key)
    }

    /// Sends it with `authorization` (`edit` may change the request after signing).
    async fn send_with(&self, authorization: &str, body: &[u8]) -> RawResponse {
        let mut headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        headers.push(("host", &self.host));
        headers.push(("authorization", authorization));
        hyper_request(self.method, &self.url(self.query.as_deref()), &headers, body.to_vec()).await
    }

    async fn send(&self, body: &[u8]) -> RawResponse {
        self.send_with(&self.authorization(), body).await
    }

    /// The presigned query string valid until `expires` (seconds since the epoch).
    fn presigned_query(&self, expires: u64) -> String {
        // Only what a presigned URL signs: the query's own x-amz-* and no Date header.
        let pairs: Vec<(&str, &str)> = vec![("host", &self.host)];
        presign_v2(
            &self.parts(&pairs),
            self.host_bucket,
            expires,
            &self.gw.access_key,
            &self.gw.secret_key,
        )
    }
}

fn in_secs(s: u64) -> u64 {
    (SystemTime::now() + Duration::from_secs(s)).duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn header_auth_reads_and_writes() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let data = random_bytes(70_000);
    put(&c, BUCKET, "a b+c.bin", &data).await;

    // GET of a key that needs encoding: the path is signed as on the wire.
    let r = V2::new(&gw, "GET", &format!("/{BUCKET}/a%20b%2Bc.bin"), None).send(b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, data);

    // PUT with a signed Content-MD5, Content-Type and x-amz-meta-*; the MD5 is checked.
    let body = random_bytes(10_000);
    let md5 = md5_b64(&body);
    let r = V2::new(&gw, "PUT", &format!("/{BUCKET}/up.bin"), None)
        .header("content-md5", &md5)
        .header("content-type", "text/plain")
        .header("x-amz-meta-colour", "blue")
        .send(&body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let head = c.head_object().bucket(BUCKET).key("up.bin").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.metadata().and_then(|m| m.get("colour")).map(String::as_str), Some("blue"));
    assert_eq!(get(&c, BUCKET, "up.bin").await, body);

    // A Content-MD5 that is signed but does not match the body: BadDigest, nothing written.
    let r = V2::new(&gw, "PUT", &format!("/{BUCKET}/bad-md5.bin"), None)
        .header("content-md5", &md5_b64(b"other"))
        .send(&body)
        .await;
    r.assert_error(400, "BadDigest", "SigV2 PUT with a wrong Content-MD5");

    // A sub-resource is part of the canonical resource: ?tagging round trip.
    let tagging = "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>";
    let r = V2::new(&gw, "PUT", &format!("/{BUCKET}/up.bin"), Some("tagging"))
        .header("content-md5", &md5_b64(tagging.as_bytes()))
        .send(tagging.as_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = V2::new(&gw, "GET", &format!("/{BUCKET}/up.bin"), Some("tagging")).send(b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<Key>k</Key><Value>v</Value>"), "{}", r.text());

    // Listing (a bucket-only path; non-sub-resource parameters are not signed) and ListBuckets.
    let r =
        V2::new(&gw, "GET", &format!("/{BUCKET}"), Some("prefix=up&max-keys=5")).send(b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<Key>up.bin</Key>"), "{}", r.text());
    let r = V2::new(&gw, "GET", "/", None).send(b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&format!("<Name>{BUCKET}</Name>")), "{}", r.text());

    // x-amz-date replaces Date.
    let mut req = V2::new(&gw, "GET", &format!("/{BUCKET}/up.bin"), None);
    req.headers = vec![("x-amz-date".into(), s3gate_protocol::format_http_date(SystemTime::now()))];
    let r = req.send(b"").await;
    assert_eq!(r.status, 200, "{}", r.text());

    // DELETE.
    let r = V2::new(&gw, "DELETE", &format!("/{BUCKET}/up.bin"), None).send(b"").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(c.head_object().bucket(BUCKET).key("up.bin").send().await.is_err());
}

#[tokio::test]
async fn tampered_header_auth_is_refused() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    put(&c, BUCKET, "secret", b"top").await;
    let path = format!("/{BUCKET}/planted");
    let body = b"planted".to_vec();

    let good = V2::new(&gw, "PUT", &path, None).header("x-amz-meta-a", "1");
    let auth = good.authorization();
    // One character of the signature changed.
    let (prefix, sig) = auth.rsplit_once(':').unwrap();
    let flipped = format!("{prefix}:{}{}", if sig.starts_with('A') { 'B' } else { 'A' }, &sig[1..]);
    good.send_with(&flipped, &body).await.assert_error(
        403,
        "SignatureDoesNotMatch",
        "flipped signature",
    );
    // The path, a signed header, or the method changed after signing.
    let mut moved =
        V2::new(&gw, "PUT", &format!("/{BUCKET}/elsewhere"), None).header("x-amz-meta-a", "1");
    moved.headers.clone_from(&good.headers);
    moved.send_with(&auth, &body).await.assert_error(403, "SignatureDoesNotMatch", "moved path");
    let mut edited = V2::new(&gw, "PUT", &path, None);
    edited.headers.clone_from(&good.headers);
    edited.headers[1].1 = "2".into();
    edited.send_with(&auth, &body).await.assert_error(403, "SignatureDoesNotMatch", "edited meta");
    let mut added = V2::new(&gw, "PUT", &path, None);
    added.headers.clone_from(&good.headers);
    added.headers.push(("x-amz-meta-b".into(), "sneaked".into()));
    added.send_with(&auth, &body).await.assert_error(403, "SignatureDoesNotMatch", "added meta");
    // A signature made with another secret; an unknown key; a malformed header.
    let other = sign_v2(
        &good.parts(&good.pairs()),
        None,
        &gw.access_key,
        "0000000000000000000000000000000000000000",
    );
    good.send_with(&other, &body).await.assert_error(403, "SignatureDoesNotMatch", "wrong secret");
    let stranger = sign_v2(&good.parts(&good.pairs()), None, "AKNOBODY", &gw.secret_key);
    good.send_with(&stranger, &body).await.assert_error(403, "InvalidAccessKeyId", "unknown key");
    good.send_with("AWS HAHAHA", &body).await.assert_error(400, "InvalidArgument", "malformed");
    // A Date 20 minutes old (the signature is valid for it): skewed.
    let mut old = V2::new(&gw, "PUT", &path, None);
    old.headers = vec![(
        "date".into(),
        s3gate_protocol::format_http_date(SystemTime::now() - Duration::from_secs(1200)),
    )];
    old.send(&body).await.assert_error(403, "RequestTimeTooSkewed", "old date");
    // No date at all.
    let mut undated = V2::new(&gw, "GET", &format!("/{BUCKET}/secret"), None);
    undated.headers.clear();
    undated.send(b"").await.assert_error(403, "AccessDenied", "no date");

    // Nothing was written by any of them.
    let list = c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<_> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["secret"]);
}

#[tokio::test]
async fn presigned_urls() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let data = random_bytes(5000);
    put(&c, BUCKET, "dir/obj.bin", &data).await;
    let req = V2::new(&gw, "GET", &format!("/{BUCKET}/dir/obj.bin"), None);

    let expires = in_secs(300);
    let query = req.presigned_query(expires);
    let r = hyper_request("GET", &req.url(Some(&query)), &[], vec![]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, data);

    // With a signed response override (a sub-resource): honoured.
    let with_override = V2::new(
        &gw,
        "GET",
        &format!("/{BUCKET}/dir/obj.bin"),
        Some("response-content-type=text%2Fplain"),
    );
    let q = with_override.presigned_query(in_secs(300));
    let r = hyper_request("GET", &with_override.url(Some(&q)), &[], vec![]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // The override edited after signing: refused.
    let edited = q.replace("text%2Fplain", "text%2Fhtml");
    hyper_request("GET", &with_override.url(Some(&edited)), &[], vec![]).await.assert_error(
        403,
        "SignatureDoesNotMatch",
        "edited override",
    );

    // Presigned PUT.
    let put_req = V2::new(&gw, "PUT", &format!("/{BUCKET}/via-url"), None);
    let q = put_req.presigned_query(in_secs(300));
    let r = hyper_request("PUT", &put_req.url(Some(&q)), &[], b"from a url".to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&c, BUCKET, "via-url").await, b"from a url");

    // Tampered: the signature, the expiry, the key, the method.
    let (head, sig) = query.rsplit_once("Signature=").unwrap();
    let flipped =
        format!("{head}Signature={}{}", if sig.starts_with('A') { 'B' } else { 'A' }, &sig[1..]);
    let cases = [
        (req.url(Some(&flipped)), "GET", 403, "SignatureDoesNotMatch", "flipped signature"),
        (
            req.url(Some(
                &query
                    .replace(&format!("Expires={expires}"), &format!("Expires={}", expires + 100)),
            )),
            "GET",
            403,
            "SignatureDoesNotMatch",
            "longer expiry",
        ),
        (
            format!("http://127.0.0.1:{}/{BUCKET}/via-url?{query}", gw.port),
            "GET",
            403,
            "SignatureDoesNotMatch",
            "other key",
        ),
        (req.url(Some(&query)), "DELETE", 403, "SignatureDoesNotMatch", "other method"),
        (
            req.url(Some(&req.presigned_query(in_secs(0).saturating_sub(5)))),
            "GET",
            403,
            "AccessDenied",
            "expired",
        ),
        (
            req.url(Some(&query.replace("&Expires=", "&Expired="))),
            "GET",
            403,
            "AccessDenied",
            "no Expires",
        ),
        (
            req.url(Some(&query.replace(&gw.access_key, "AKNOBODY"))),
            "GET",
            403,
            "InvalidAccessKeyId",
            "unknown key",
        ),
    ];
    for (url, method, status, code, what) in cases {
        hyper_request(method, &url, &[], vec![]).await.assert_error(status, code, what);
    }
    // The DELETE did not delete.
    assert_eq!(get(&c, BUCKET, "dir/obj.bin").await, data);
}

#[tokio::test]
async fn virtual_hosted_requests_sign_the_host_bucket() {
    let (ak, sk) = crate::harness::random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--domain", "s3.example.test"]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    put(&c, BUCKET, "k", b"vhost").await;
    let mut req = V2::new(&gw, "GET", "/k", None);
    req.host = format!("{BUCKET}.s3.example.test:{}", gw.port);
    req.host_bucket = Some(BUCKET);
    let r = req.send(b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"vhost");
    let q = req.presigned_query(in_secs(60));
    let r = hyper_request("GET", &req.url(Some(&q)), &[("host", &req.host)], vec![]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Signed as if path-style (no bucket in the resource): refused.
    req.host_bucket = None;
    req.send(b"").await.assert_error(403, "SignatureDoesNotMatch", "vhost signed without bucket");
}

#[tokio::test]
async fn sigv2_off_refuses_both_forms() {
    let (ak, sk) = crate::harness::random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--sigv2", "off"]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    put(&c, BUCKET, "k", b"v").await;
    let req = V2::new(&gw, "GET", &format!("/{BUCKET}/k"), None);
    let r = req.send(b"").await;
    r.assert_error(400, "InvalidRequest", "SigV2 header with --sigv2 off");
    assert!(r.text().contains("Please use AWS4-HMAC-SHA256"), "{}", r.text());
    let q = req.presigned_query(in_secs(60));
    hyper_request("GET", &req.url(Some(&q)), &[], vec![]).await.assert_error(
        400,
        "InvalidRequest",
        "SigV2 URL with --sigv2 off",
    );
    // SigV4 still works.
    assert_eq!(get(&c, BUCKET, "k").await, b"v");
}

/// A bucket policy can require SigV4 and refuse presigned URLs: SigV2 requests report
/// `s3:signatureversion` = `AWS` and presigned ones `s3:authType` = `REST-QUERY-STRING`, as
/// on AWS (a Deny binds the owner and root too).
#[tokio::test]
async fn a_policy_can_require_sigv4_and_refuse_presigned_urls() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    put(&c, BUCKET, "k", b"data").await;
    let deny = |key: &str, value: &str| {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Deny", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{BUCKET}/*",
                "Condition": {{"StringNotEquals": {{"{key}": "{value}"}}}}}}]}}"#
        )
    };
    let v2_get = || V2::new(&gw, "GET", &format!("/{BUCKET}/k"), None);

    // SigV4 only.
    let policy = deny("s3:signatureversion", "AWS4-HMAC-SHA256");
    c.put_bucket_policy().bucket(BUCKET).policy(policy).send().await.unwrap();
    v2_get().send(b"").await.assert_error(403, "AccessDenied", "SigV2 GET, SigV4 required");
    let query = v2_get().presigned_query(in_secs(300));
    let r = hyper_request("GET", &v2_get().url(Some(&query)), &[], vec![]).await;
    r.assert_error(403, "AccessDenied", "SigV2 presigned GET, SigV4 required");
    assert_eq!(get(&c, BUCKET, "k").await, b"data");

    // Header-signed requests only: presigned URLs of either version are refused.
    let policy = deny("s3:authType", "REST-HEADER");
    c.put_bucket_policy().bucket(BUCKET).policy(policy).send().await.unwrap();
    assert_eq!(get(&c, BUCKET, "k").await, b"data");
    assert_eq!(v2_get().send(b"").await.status, 200);
    let query = v2_get().presigned_query(in_secs(300));
    let r = hyper_request("GET", &v2_get().url(Some(&query)), &[], vec![]).await;
    r.assert_error(403, "AccessDenied", "SigV2 presigned GET, header auth required");
    let presigned = c
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap();
    let r = hyper_request("GET", presigned.uri(), &[], vec![]).await;
    r.assert_error(403, "AccessDenied", "SigV4 presigned GET, header auth required");
}
