//! Signature Version 2: AWS's published examples (`tests/data/sigv2/aws-examples.json`),
//! requests, presigned URLs made by botocore and s3cmd (`clients.json`, made by
//! `generate.py`), tampering of every signed element, and the error cases.

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3gate_sigv4::{
    AuthScheme, SignatureVersion, VerifyConfig, VerifyError, VerifyV2Error, access_key_id,
    auth_scheme, presign_v2, sign_v2, string_to_sign_v2, verify, verify_v2,
};
use serde_json::Value;

use crate::{Req, creds, data_dir};

fn load(name: &str) -> Value {
    let path = data_dir().join("sigv2").join(name);
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A case of either file as a request, its Host-header bucket and its verification time.
fn case_request(case: &Value) -> (Req, Option<String>, SystemTime) {
    let headers: Vec<(&str, &str)> =
        case["headers"].as_array().unwrap().iter().map(|h| (s(&h[0]), s(&h[1]))).collect();
    let mut req = Req::new(s(&case["method"]), s(&case["path"]), &headers);
    req.query = case["query"].as_str().map(str::to_owned);
    if let Some(auth) = case["authorization"].as_str() {
        req.push_header("Authorization", auth);
    }
    (req, case["host_bucket"].as_str().map(str::to_owned), at(case["now"].as_u64().unwrap()))
}

fn check_v2(
    req: &Req,
    host_bucket: Option<&str>,
    now: SystemTime,
    cr: &std::collections::HashMap<String, String>,
) -> Result<s3gate_sigv4::VerifiedV2, VerifyV2Error> {
    req.with(|p| verify_v2(p, host_bucket, now, &VerifyConfig::s3("us-east-1"), cr))
}

#[test]
fn aws_examples_verify() {
    let doc = load("aws-examples.json");
    let cr = creds(s(&doc["access_key_id"]), s(&doc["secret_access_key"]));
    let examples = doc["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 9);
    for ex in examples {
        let name = s(&ex["name"]);
        let (req, host_bucket, now) = case_request(ex);
        let hb = host_bucket.as_deref();
        let v = check_v2(&req, hb, now, &cr).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(v.access_key_id, "AKIAIOSFODNN7EXAMPLE", "{name}");
        assert_eq!(v.presigned, s(&ex["kind"]) == "query", "{name}");
        assert_eq!(v.signature_version(), SignatureVersion::V2);
        let scheme = req.with(auth_scheme).unwrap();
        assert_eq!(scheme.signature_version(), SignatureVersion::V2, "{name}");
        assert_eq!(req.with(access_key_id).as_deref(), Some("AKIAIOSFODNN7EXAMPLE"), "{name}");
        // AWS's Delete example signs the x-amz-date value in the Date line (the reading the
        // verifier also accepts); every other example is this crate's primary string to sign.
        if name != "Delete" {
            assert_eq!(req.with(|p| string_to_sign_v2(p, hb)), s(&ex["string_to_sign"]), "{name}");
        }
        // SigV4's verifier refuses the same request as an algorithm it does not do.
        let refused = req.with(|p| verify(p, now, &VerifyConfig::s3("us-east-1"), &cr));
        assert!(
            matches!(refused, Err(VerifyError::UnsupportedAlgorithm(_))),
            "{name}: {refused:?}"
        );
    }
}

#[test]
fn aws_examples_sign() {
    let doc = load("aws-examples.json");
    let (ak, sk) = (s(&doc["access_key_id"]), s(&doc["secret_access_key"]));
    for ex in doc["examples"].as_array().unwrap() {
        let name = s(&ex["name"]);
        if name == "Delete" {
            continue;
        }
        let (mut req, host_bucket, _) = case_request(ex);
        req.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        let hb = host_bucket.as_deref();
        if s(&ex["kind"]) == "header" {
            let auth = req.with(|p| sign_v2(p, hb, ak, sk));
            assert_eq!(auth, format!("AWS {ak}:{}", s(&ex["signature"])), "{name}");
        } else {
            req.query = None;
            let query = req.with(|p| presign_v2(p, hb, 1_175_139_620, ak, sk));
            assert_eq!(
                query,
                "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
            );
        }
    }
}

#[test]
fn client_vectors_verify() {
    let doc = load("clients.json");
    let cr = creds(s(&doc["access_key_id"]), s(&doc["secret_access_key"]));
    let mut counted = (0, 0);
    for case in doc["cases"].as_array().unwrap() {
        let kind = s(&case["kind"]);
        if kind == "post" {
            continue;
        }
        let name = format!("{} / {}", s(&case["client"]), s(&case["name"]));
        let (req, host_bucket, now) = case_request(case);
        let hb = host_bucket.as_deref();
        let v = check_v2(&req, hb, now, &cr).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(v.access_key_id, "AKIDSIGV2EXAMPLE", "{name}");
        assert_eq!(v.presigned, kind == "query", "{name}");
        if let Some(sts) = case["string_to_sign"].as_str() {
            assert_eq!(req.with(|p| string_to_sign_v2(p, hb)), sts, "{name}");
        }
        if kind == "header" {
            counted.0 += 1;
            assert_eq!(req.with(auth_scheme), Some(AuthScheme::V2Header), "{name}");
        } else {
            counted.1 += 1;
            assert_eq!(req.with(auth_scheme), Some(AuthScheme::V2Query), "{name}");
            // Expired one second after Expires; never subject to the 15-minute skew.
            let expires = v.expires.unwrap();
            let late = check_v2(&req, hb, expires + Duration::from_secs(1), &cr);
            assert_eq!(late, Err(VerifyError::RequestExpired.into()), "{name}");
            assert!(check_v2(&req, hb, expires, &cr).is_ok(), "{name}: valid until Expires");
            assert!(check_v2(&req, hb, at(0), &cr).is_ok(), "{name}: no skew for URLs");
        }
    }
    assert!(counted.0 >= 20 && counted.1 >= 5, "{counted:?}");
}

/// Every element SigV2 signs, changed, makes the signature fail; elements it does not sign
/// (an unsigned query parameter, User-Agent, Content-Length) leave it valid.
#[test]
fn tampering_is_refused() {
    let doc = load("clients.json");
    let cr = creds(s(&doc["access_key_id"]), s(&doc["secret_access_key"]));
    let bad = Err(VerifyV2Error::Common(VerifyError::SignatureDoesNotMatch));
    for case in doc["cases"].as_array().unwrap() {
        if s(&case["kind"]) == "post" {
            continue;
        }
        let name = format!("{} / {}", s(&case["client"]), s(&case["name"]));
        let (req, host_bucket, now) = case_request(case);
        let hb = host_bucket.as_deref();
        let presigned = s(&case["kind"]) == "query";
        let mut variants: Vec<(String, Req, Option<String>)> = Vec::new();
        let mut m = req.clone();
        m.method = if req.method == "GET" { "HEAD".into() } else { "GET".into() };
        variants.push(("method".into(), m, host_bucket.clone()));
        let mut p = req.clone();
        p.path.push('x');
        variants.push(("path".into(), p, host_bucket.clone()));
        let mut p = req.clone();
        p.path = p.path.replacen("sigv2-bucket", "sigv2-bucket2", 1);
        if p.path != req.path {
            variants.push(("bucket in the path".into(), p, host_bucket.clone()));
        }
        if host_bucket.is_some() {
            variants.push(("host bucket".into(), req.clone(), Some("other-bucket".into())));
            variants.push(("virtual-hosted read as path-style".into(), req.clone(), None));
        }
        for (i, (n, _)) in req.headers.iter().enumerate() {
            let l = n.to_ascii_lowercase();
            let signed = l.starts_with("x-amz-")
                || l == "content-type"
                || l == "content-md5"
                || (l == "date" && !presigned && req.header("x-amz-date").is_none());
            if signed {
                let mut h = req.clone();
                if l == "date" || l == "x-amz-date" {
                    // Still a valid date (a second later), so the signature check decides.
                    h.headers[i].1 = h.headers[i].1.replace(":20 ", ":21 ");
                } else {
                    h.headers[i].1.push('x');
                }
                variants.push((format!("header {n}"), h, host_bucket.clone()));
            }
        }
        let mut extra = req.clone();
        extra.push_header("x-amz-meta-added", "1");
        variants.push(("added x-amz header".into(), extra, host_bucket.clone()));
        let mut sub = req.clone();
        sub.query = Some(match &req.query {
            Some(q) => format!("{q}&versionId=1"),
            None => "versionId=1".into(),
        });
        variants.push(("added sub-resource".into(), sub, host_bucket.clone()));
        if let Some(q) = &req.query {
            for (i, param) in q.split('&').enumerate() {
                let (k, _) = param.split_once('=').unwrap_or((param, ""));
                if [
                    "AWSAccessKeyId",
                    "list-type",
                    "prefix",
                    "delimiter",
                    "max-keys",
                    "marker",
                    "encoding-type",
                ]
                .contains(&k)
                {
                    continue;
                }
                let mut t = req.clone();
                let params: Vec<String> = q
                    .split('&')
                    .enumerate()
                    .map(|(j, pr)| if i == j { format!("{pr}x") } else { pr.to_owned() })
                    .collect();
                t.query = Some(params.join("&"));
                variants.push((format!("query parameter {k}"), t, host_bucket.clone()));
            }
        }
        if !presigned {
            let mut sig = req.clone();
            let auth = sig.headers.iter_mut().find(|(n, _)| n == "Authorization").unwrap();
            let flipped = if auth.1.ends_with("A=") { "B=" } else { "A=" };
            auth.1 = format!("{}{flipped}", &auth.1[..auth.1.len() - 2]);
            variants.push(("signature".into(), sig, host_bucket.clone()));
        }
        for (what, t, hb2) in variants {
            let got = check_v2(&t, hb2.as_deref(), now, &cr);
            let ok_expires = what == "query parameter Expires" && got.is_err();
            assert!(got == bad || ok_expires, "{name}: tampered {what} gave {got:?}");
        }
        // Unsigned parts.
        let mut free = req.clone();
        free.push_header("User-Agent", "tampered/1.0");
        free.push_header("x-amzn-trace-id", "Root=1");
        free.query = Some(match &req.query {
            Some(q) => format!("{q}&x-id=GetObject"),
            None => "x-id=GetObject".into(),
        });
        assert!(check_v2(&free, hb, now, &cr).is_ok(), "{name}: unsigned additions");
    }
}

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const DATE: &str = "Tue, 27 Mar 2007 19:36:42 +0000";

fn now() -> SystemTime {
    at(1_175_024_202)
}

fn signed(mut req: Req) -> Req {
    let auth = req.with(|p| sign_v2(p, None, AK, SK));
    req.push_header("Authorization", &auth);
    req
}

fn check(what: &str, req: &Req, now: SystemTime, expected: Result<(), VerifyV2Error>) {
    let got = check_v2(req, None, now, &creds(AK, SK)).map(|_| ());
    assert_eq!(got, expected, "{what}");
}

#[test]
fn header_errors() {
    let base = || Req::new("PUT", "/b/k", &[("Host", "s3.example.test"), ("Date", DATE)]);
    check("signed", &signed(base()), now(), Ok(()));
    let skew = Duration::from_mins(15);
    check("skew edge", &signed(base()), now() + skew, Ok(()));
    let too = VerifyError::RequestTimeTooSkewed {
        request_time: now(),
        server_time: now() + skew + Duration::from_secs(1),
    };
    check("skewed", &signed(base()), now() + skew + Duration::from_secs(1), Err(too.into()));
    let mut r = base();
    r.push_header("Authorization", "AWS HAHAHA");
    check("malformed", &r, now(), Err(VerifyV2Error::MalformedAuthorization));
    let mut r = base();
    r.push_header("Authorization", "AWS");
    check("bare scheme", &r, now(), Err(VerifyV2Error::MalformedAuthorization));
    let mut r = Req::new("GET", "/b/k", &[("Host", "h")]);
    r.push_header("Authorization", "AWS AK:c2ln");
    check("no date", &r, now(), Err(VerifyError::MissingDate.into()));
    for bad_date in ["Bad Date", "", "Tue, 07 Jul 1950 21:53:04 GMT"] {
        let r = signed(Req::new("GET", "/b/k", &[("Date", DATE), ("x-amz-date", bad_date)]));
        check(bad_date, &r, now(), Err(VerifyError::MissingDate.into()));
    }
    let r = signed(Req::new(
        "GET",
        "/b/k",
        &[("Date", DATE), ("x-amz-date", "Tue, 07 Jul 9999 21:53:04 GMT")],
    ));
    assert!(matches!(
        check_v2(&r, None, now(), &creds(AK, SK)),
        Err(VerifyV2Error::Common(VerifyError::RequestTimeTooSkewed { .. }))
    ));
    // x-amz-date replaces Date (the Date header is then unsigned).
    let mut r = signed(Req::new("GET", "/b/k", &[("x-amz-date", DATE), ("Date", "garbage")]));
    check("x-amz-date wins", &r, now(), Ok(()));
    r.headers[1].1 = "other garbage".into();
    check("Date unsigned under x-amz-date", &r, now(), Ok(()));
    let mut r = signed(base());
    r.headers.last_mut().unwrap().1 = r.headers.last().unwrap().1.replace(AK, "AKIDUNKNOWN");
    check("unknown key", &r, now(), Err(VerifyError::InvalidAccessKeyId.into()));
    let mut r = signed(base());
    r.query = Some("X-Amz-Signature=00".into());
    check("two mechanisms", &r, now(), Err(VerifyError::MultipleAuthMechanisms.into()));
    let mut r = signed(base());
    r.query = Some("AWSAccessKeyId=AK&Signature=x&Expires=1".into());
    check("two mechanisms (v2)", &r, now(), Err(VerifyError::MultipleAuthMechanisms.into()));
    check("anonymous", &base(), now(), Err(VerifyError::MissingAuth.into()));
    // A bucket-only path is signed with and without its trailing slash.
    let mut r = Req::new("GET", "/b", &[("Date", DATE)]);
    r.query = Some("acl".into());
    for resource in ["/b/?acl", "/b?acl"] {
        let sts = format!("GET\n\n\n{DATE}\n{resource}");
        let mac = hmac_sha1_b64(SK, &sts);
        let mut t = r.clone();
        t.push_header("Authorization", &format!("AWS {AK}:{mac}"));
        check(resource, &t, now(), Ok(()));
    }
    // Session token reported.
    let r = signed(Req::new("GET", "/b/k", &[("Date", DATE), ("x-amz-security-token", "tok")]));
    let v = check_v2(&r, None, now(), &creds(AK, SK)).unwrap();
    assert_eq!(v.security_token.as_deref(), Some("tok"));
    assert_eq!(v.payload(), s3gate_sigv4::PayloadMode::Unsigned);
    assert_eq!(v.request_time, Some(now()));
}

fn hmac_sha1_b64(key: &str, data: &str) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn query_errors() {
    let url = |query: &str| {
        let mut r = Req::new("GET", "/b/k", &[("Host", "h")]);
        r.query = Some(query.to_owned());
        r
    };
    let good = {
        let r = Req::new("GET", "/b/k", &[("Host", "h")]);
        let q = r.with(|p| presign_v2(p, None, 1_175_028_000, AK, SK));
        url(&q)
    };
    check("valid", &good, now(), Ok(()));
    check("expired", &good, at(1_175_028_001), Err(VerifyError::RequestExpired.into()));
    let missing = Err(VerifyV2Error::MissingQueryParameters);
    check("no Expires", &url("AWSAccessKeyId=AK&Signature=x"), now(), missing.clone());
    check("no Signature", &url("AWSAccessKeyId=AK&Expires=1"), now(), missing.clone());
    check("no key", &url("Signature=x&Expires=1"), now(), missing.clone());
    check("empty key", &url("AWSAccessKeyId=&Signature=x&Expires=1"), now(), missing);
    for e in ["abc", "-1", "1.5", "99999999999999999999999"] {
        check(
            e,
            &url(&format!("AWSAccessKeyId=AK&Signature=x&Expires={e}")),
            now(),
            Err(VerifyV2Error::InvalidExpires(e.to_owned())),
        );
    }
    check(
        "unknown key",
        &url("AWSAccessKeyId=NOPE&Signature=x&Expires=1175028000"),
        now(),
        Err(VerifyError::InvalidAccessKeyId.into()),
    );
    check(
        "mixed with SigV4",
        &url("AWSAccessKeyId=AK&Signature=x&Expires=1&X-Amz-Credential=a"),
        now(),
        Err(VerifyError::MultipleAuthMechanisms.into()),
    );
    // A signed x-amz header of the URL must come with it (header or query).
    let mut with_header =
        Req::new("PUT", "/b/k", &[("x-amz-acl", "private"), ("Content-Type", "text/plain")]);
    let q = with_header.with(|p| presign_v2(p, None, 1_175_028_000, AK, SK));
    with_header.query = Some(q.clone());
    check("signed headers sent", &with_header, now(), Ok(()));
    let mut without = url(&q);
    without.method = "PUT".into();
    check(
        "signed headers missing",
        &without,
        now(),
        Err(VerifyError::SignatureDoesNotMatch.into()),
    );
    let hoisted = format!("{q}&x-amz-acl=private&content-type=text%2Fplain");
    let mut from_query = url(&hoisted);
    from_query.method = "PUT".into();
    check("signed headers in the query", &from_query, now(), Ok(()));
}
