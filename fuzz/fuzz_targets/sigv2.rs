//! Signature Version 2 verification (header and presigned) and POST policy verification.
//!
//! Input: method, path, query (`-` for none), then `name: value` header lines, `\n`-separated.
//! The first byte picks a mode: 0 verifies the request as sent (SigV2 parsers, dates, skew
//! on hostile input), 1 signs it with `sign_v2` first and requires `verify_v2` to accept it,
//! 2 presigns it with `presign_v2` and requires acceptance, 3 reads the header lines as POST
//! form fields and verifies them as a POST form.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use s3gate_sigv4::{
    PostForm, RequestParts, VerifyConfig, access_key_id, auth_scheme, presign_v2, sign_v2,
    string_to_sign_v2, verify_post, verify_v2,
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
    let host_bucket = (mode & 4 == 4).then_some("bucket");
    let req = RequestParts { method, raw_path, raw_query, headers: &headers };
    match mode % 4 {
        0 => {
            let _ = auth_scheme(&req);
            let _ = access_key_id(&req);
            let _ = string_to_sign_v2(&req, host_bucket);
            if let Ok(v) = verify_v2(&req, host_bucket, now, &cfg, &creds) {
                assert_eq!(v.access_key_id, AK);
            }
        }
        3 => {
            let form = PostForm { bucket: raw_path, fields: &headers, filename: raw_query };
            if let Ok(v) = verify_post(&form, now, &cfg, &creds)
                && let Some(auth) = v.auth
            {
                assert_eq!(auth.access_key_id, AK);
            }
        }
        m => {
            // Only requests a client could send, not yet authenticated.
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            };
            let value = |s: &str| s.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
            let uri_ok = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
            let lower = |n: &str| n.to_ascii_lowercase();
            if !token(method)
                || !raw_path.starts_with('/')
                || !uri_ok(raw_path)
                || raw_query.is_some_and(|q| !uri_ok(q))
                || headers.iter().any(|(n, v)| !token(n) || !value(v))
                || headers.iter().any(|(n, _)| {
                    ["authorization", "date", "x-amz-date"].contains(&lower(n).as_str())
                })
                || raw_query.is_some_and(|q| {
                    ["AWSAccessKeyId", "Signature", "Expires", "X-Amz-"]
                        .iter()
                        .any(|p| q.contains(p))
                })
            {
                return;
            }
            let mut hs = headers.clone();
            if m == 1 {
                hs.push(("Date", "Tue, 14 Nov 2023 22:13:20 GMT"));
                let unsigned = RequestParts { method, raw_path, raw_query, headers: &hs };
                let auth = sign_v2(&unsigned, host_bucket, AK, SK);
                hs.push(("Authorization", &auth));
                let signed = RequestParts { method, raw_path, raw_query, headers: &hs };
                if let Err(e) = verify_v2(&signed, host_bucket, now, &cfg, &creds) {
                    panic!(
                        "sign_v2 output refused: {e:?} for {method} {raw_path} {raw_query:?} {hs:?}"
                    );
                }
            } else {
                let unsigned = RequestParts { method, raw_path, raw_query, headers: &hs };
                let query = presign_v2(&unsigned, host_bucket, 1_700_000_600, AK, SK);
                let signed =
                    RequestParts { method, raw_path, raw_query: Some(&query), headers: &hs };
                if let Err(e) = verify_v2(&signed, host_bucket, now, &cfg, &creds) {
                    panic!(
                        "presign_v2 output refused: {e:?} for {method} {raw_path} {query} {hs:?}"
                    );
                }
            }
        }
    }
});
