//! The Authorization header and presigned-query parsers of SigV4 verification.
//!
//! Input: method, path, query (`-` for none), then `name: value` header lines, `\n`-separated.
//! The first byte picks a mode: even bytes verify the request as sent (parsers, scope and
//! time checks on hostile input); odd bytes first sign it with `sign_headers` (or `presign`)
//! at the verification time and then require `verify` to accept it (a round-trip property:
//! canonicalisation must agree between signer and verifier for every signable request, that is
//! one that carries no authentication yet, in its headers or its query).
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use s3gate_sigv4::{
    RequestParts, SigningParams, VerifyConfig, access_key_id, has_auth, presign, sign_headers,
    verify,
};

const AK: &str = "AKIDFUZZ";
const SK: &str = "fuzz/secret+key";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("GET");
    let raw_path = lines.next().unwrap_or("/");
    let raw_query = lines.next().filter(|q| *q != "-");
    let headers: Vec<(&str, &str)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n, v.trim())).collect();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let cfg = VerifyConfig::s3("us-east-1");
    let creds = HashMap::from([(AK.to_owned(), SK.to_owned())]);
    let req = RequestParts { method, raw_path, raw_query, headers: &headers };
    if mode % 2 == 0 {
        let _ = has_auth(&req);
        let _ = access_key_id(&req);
        if let Ok(v) = verify(&req, now, &cfg, &creds) {
            assert_eq!(v.access_key_id, AK);
        }
        return;
    }
    // Round trip: only requests a client could sign (HTTP tokens and values, no auth yet).
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    };
    let value = |s: &str| s.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let uri_ok = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
    if !token(method)
        || !raw_path.starts_with('/')
        || !uri_ok(raw_path)
        || raw_query.is_some_and(|q| !uri_ok(q))
        || headers.iter().any(|(n, v)| !token(n) || !value(v))
        || headers.iter().any(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n.starts_with("x-amz-") || n == "authorization" || n == "host"
        })
        || raw_query.is_some_and(|q| q.contains("X-Amz-") || q.contains("x-amz-"))
        // SigV2 query authentication (`AWSAccessKeyId`, `Signature`) is authentication too:
        // signing on top of it makes a request with two, which verify refuses by design.
        || has_auth(&req)
    {
        return;
    }
    let mut hs = headers.clone();
    hs.push(("host", "127.0.0.1:9000"));
    let params = SigningParams {
        access_key_id: AK,
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        time: now,
    };
    let unsigned = RequestParts { method, raw_path, raw_query, headers: &hs };
    let payload = "UNSIGNED-PAYLOAD";
    if mode % 4 == 1 {
        let added = sign_headers(&unsigned, payload, &params);
        let mut all: Vec<(&str, &str)> = hs.clone();
        all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let signed = RequestParts { method, raw_path, raw_query, headers: &all };
        if let Err(e) = verify(&signed, now, &cfg, &creds) {
            panic!(
                "sign_headers output refused by verify: {e:?} for {method} {raw_path} {raw_query:?} {all:?}"
            );
        }
    } else {
        let query = presign(&unsigned, Duration::from_secs(600), &params);
        let signed = RequestParts { method, raw_path, raw_query: Some(&query), headers: &hs };
        if let Err(e) = verify(&signed, now, &cfg, &creds) {
            panic!(
                "presign output refused by verify: {e:?} for {method} {raw_path} {query} {hs:?}"
            );
        }
    }
});
