//! Many tiny error cases, each through one `check` helper.

use std::time::{Duration, SystemTime};

use s3gate_sigv4::{
    ChunkedError, ChunkedSigner, PayloadMode, SigningContext, SigningParams, VerifyConfig,
    VerifyError, presign, sign_headers, verify,
};

use crate::props::{Mode, streaming};
use crate::{Req, creds, decode_in_pieces, time};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T: &str = "20130524T000000Z";
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn params() -> SigningParams<'static> {
    SigningParams {
        access_key_id: AKID,
        secret_key: SECRET,
        region: "us-east-1",
        service: "s3",
        time: time(T),
    }
}

/// A header-signed GET with one signed `x-amz-meta-a` header.
fn header_signed() -> Req {
    let mut req = Req::new(
        "GET",
        "/bucket/key",
        &[("Host", "s3.example.test"), ("x-amz-content-sha256", EMPTY), ("x-amz-meta-a", "1")],
    );
    for (n, v) in req.with(|p| sign_headers(p, EMPTY, &params())) {
        req.push_header(&n, &v);
    }
    req
}

/// A presigned GET valid for `expires` seconds.
fn presigned(expires: u64, extra_query: Option<&str>) -> Req {
    let unsigned = Req::new("GET", "/bucket/key", &[("Host", "s3.example.test")]);
    let unsigned = Req { query: extra_query.map(str::to_owned), ..unsigned };
    let query = unsigned.with(|p| presign(p, Duration::from_secs(expires), &params()));
    Req { query: Some(query), ..unsigned }
}

fn set_header(req: &mut Req, name: &str, value: &str) {
    req.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    req.push_header(name, value);
}

fn edit_auth(req: &mut Req, f: impl Fn(&str) -> String) {
    let auth = req.header("authorization").unwrap().to_owned();
    set_header(req, "authorization", &f(&auth));
}

fn edit_query(req: &mut Req, from: &str, to: &str) {
    let q = req.query.clone().unwrap();
    assert!(q.contains(from), "{q} lacks {from}");
    req.query = Some(q.replacen(from, to, 1));
}

/// Verifies `req` at `now` and compares with `expected` (`Ok(())` = accepted).
fn check(what: &str, req: &Req, now: SystemTime, expected: Result<(), VerifyError>) {
    let creds = creds(AKID, SECRET);
    let got = req.with(|p| verify(p, now, &VerifyConfig::s3("us-east-1"), &creds)).map(|_| ());
    assert_eq!(got, expected, "{what}: {req:?}");
}

fn malformed(m: &str) -> Result<(), VerifyError> {
    Err(VerifyError::AuthorizationHeaderMalformed(m.to_owned()))
}

/// A region mismatch: the mode's error, naming the region to sign for.
fn wrong_region(e: Result<(), VerifyError>) -> Result<(), VerifyError> {
    Err(VerifyError::WrongRegion { error: Box::new(e.unwrap_err()), region: "us-east-1".into() })
}

fn qerr(m: &str) -> Result<(), VerifyError> {
    Err(VerifyError::AuthorizationQueryParametersError(m.to_owned()))
}

#[test]
fn header_auth_errors() {
    let now = time(T);
    let ok = header_signed();
    check("baseline", &ok, now, Ok(()));

    let mut r = ok.clone();
    r.headers.retain(|(n, _)| n != "authorization");
    check("no auth", &r, now, Err(VerifyError::MissingAuth));

    let mut r = ok.clone();
    r.query = Some("X-Amz-Signature=00".into());
    check("header and query auth", &r, now, Err(VerifyError::MultipleAuthMechanisms));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"));
    check(
        "sigv4a",
        &r,
        now,
        Err(VerifyError::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into())),
    );

    let mut r = ok.clone();
    set_header(&mut r, "authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
    check("sigv2", &r, now, Err(VerifyError::UnsupportedAlgorithm("AWS".into())));

    // A SigV2 presigned URL (s3cmd signurl, AWS CLI v1 presign) is not anonymous.
    let mut r = ok.clone();
    r.headers.retain(|(n, _)| n != "authorization");
    r.query = Some("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=abc%3D&Expires=1".into());
    check(
        "sigv2 presigned",
        &r,
        now,
        Err(VerifyError::UnsupportedAlgorithm("AWS (Signature Version 2)".into())),
    );

    let mut r = ok.clone();
    set_header(&mut r, "authorization", "  ");
    check("empty authorization", &r, now, malformed("empty Authorization header"));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.split(", Signature=").next().unwrap().to_owned());
    check("no Signature", &r, now, malformed("missing Signature"));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("SignedHeaders=", "SignedHeaders=host, SignedHeaders="));
    check("repeated component", &r, now, malformed("repeated component"));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("Signature=", "Foo=bar, Signature="));
    check("unknown component", &r, now, malformed("unknown component"));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("/us-east-1/s3/aws4_request", "/s3/aws4_request"));
    check("short credential", &r, now, malformed("the Credential is mal-formed"));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("/us-east-1/", "/eu-west-1/"));
    check(
        "wrong region",
        &r,
        now,
        wrong_region(malformed("the region 'eu-west-1' is wrong; expecting 'us-east-1'")),
    );

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("/s3/", "/sqs/"));
    check("wrong service", &r, now, malformed("the service 'sqs' is wrong; expecting 's3'"));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("aws4_request", "aws5_request"));
    check(
        "wrong terminator",
        &r,
        now,
        malformed("the credential terminator 'aws5_request' is wrong; expecting 'aws4_request'"),
    );

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("/20130524/", "/20130523/"));
    check(
        "scope date",
        &r,
        now,
        malformed("the credential date '20130523' does not match the request date"),
    );

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("AKIAIOSFODNN7EXAMPLE", "AKIDUNKNOWN"));
    check("unknown key", &r, now, Err(VerifyError::InvalidAccessKeyId));

    let mut r = ok.clone();
    r.push_header("X-Amz-Meta-B", "2");
    r.push_header("x-amz-acl", "private");
    check(
        "unsigned x-amz",
        &r,
        now,
        Err(VerifyError::HeadersNotSigned(vec!["x-amz-acl".into(), "x-amz-meta-b".into()])),
    );

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("SignedHeaders=host;", "SignedHeaders="));
    check("host unsigned", &r, now, Err(VerifyError::HeadersNotSigned(vec!["host".into()])));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| a.replace("SignedHeaders=host;", "SignedHeaders=Host;"));
    check(
        "uppercase signed header",
        &r,
        now,
        malformed("SignedHeaders must be lowercase names separated by ';'"),
    );

    let mut r = ok.clone();
    r.headers.retain(|(n, _)| n != "x-amz-date");
    check("no date", &r, now, Err(VerifyError::MissingDate));

    let mut r = ok.clone();
    set_header(&mut r, "x-amz-date", "2013-05-24T00:00:00Z");
    check("bad x-amz-date", &r, now, Err(VerifyError::MissingDate));

    let mut r = ok.clone();
    r.headers.retain(|(n, _)| n != "x-amz-date");
    r.push_header("Date", "not a date");
    check("bad Date", &r, now, Err(VerifyError::MissingDate));

    let mut r = ok.clone();
    r.headers.retain(|(n, _)| n != "x-amz-date");
    r.push_header("Date", "Fri, 24 May 2013 00:00:00 GMT");
    // Date is usable as the timestamp; this request signed x-amz-date, so the signature fails.
    check("Date fallback", &r, now, Err(VerifyError::SignatureDoesNotMatch));
    check(
        "Date skew",
        &r,
        time("20130524T001600Z"),
        Err(VerifyError::RequestTimeTooSkewed {
            request_time: now,
            server_time: time("20130524T001600Z"),
        }),
    );

    check("14 min late", &ok, time("20130524T001400Z"), Ok(()));
    check("14 min early", &ok, time("20130523T234600Z"), Ok(()));
    check(
        "16 min late",
        &ok,
        time("20130524T001600Z"),
        Err(VerifyError::RequestTimeTooSkewed {
            request_time: now,
            server_time: time("20130524T001600Z"),
        }),
    );
    check(
        "16 min early",
        &ok,
        time("20130523T234400Z"),
        Err(VerifyError::RequestTimeTooSkewed {
            request_time: now,
            server_time: time("20130523T234400Z"),
        }),
    );

    let mut r = ok.clone();
    r.headers.retain(|(n, _)| n != "x-amz-content-sha256");
    check("no content sha", &r, now, Err(VerifyError::MissingContentSha256));

    for bad in
        ["garbage", "UNSIGNED-PAYLOAD ", "E3B0", "STREAMING-PAYLOAD", &EMPTY.replace('e', "g")]
    {
        let mut r = ok.clone();
        set_header(&mut r, "x-amz-content-sha256", bad);
        let expected = if bad == "UNSIGNED-PAYLOAD " {
            Err(VerifyError::SignatureDoesNotMatch) // trimmed to a valid mode, then unsigned value differs
        } else {
            Err(VerifyError::InvalidContentSha256)
        };
        check(&format!("content sha {bad:?}"), &r, now, expected);
    }

    let mut r = ok.clone();
    set_header(&mut r, "x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER");
    check(
        "sigv4a streaming",
        &r,
        now,
        Err(VerifyError::UnsupportedAlgorithm(
            "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER".into(),
        )),
    );

    let mut r = ok.clone();
    edit_auth(&mut r, |a| format!("{}0", &a[..a.len() - 1]));
    check("signature", &r, now, Err(VerifyError::SignatureDoesNotMatch));

    let mut r = ok.clone();
    edit_auth(&mut r, |a| {
        a.to_uppercase()
            .replace("AWS4-HMAC-SHA256 CREDENTIAL", "AWS4-HMAC-SHA256 Credential")
            .replace("SIGNEDHEADERS", "SignedHeaders")
            .replace("SIGNATURE=", "Signature=")
            .replace(
                "AKIAIOSFODNN7EXAMPLE/20130524/US-EAST-1/S3/AWS4_REQUEST",
                "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
            )
            .replace(
                "HOST;X-AMZ-CONTENT-SHA256;X-AMZ-DATE;X-AMZ-META-A",
                "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a",
            )
    });
    check("uppercase signature hex", &r, now, Err(VerifyError::SignatureDoesNotMatch));

    let mut r = ok.clone();
    r.path = "/bucket/KEY".into();
    check("path", &r, now, Err(VerifyError::SignatureDoesNotMatch));
    let mut r = ok.clone();
    r.path = "/bucket/%6Bey".into(); // %6B = 'k': same decoded key, same canonical URI
    check("equivalent path encoding", &r, now, Ok(()));
    let mut r = ok.clone();
    r.path = "/bucket/./key".into();
    check("no normalisation", &r, now, Err(VerifyError::SignatureDoesNotMatch));
}

#[test]
fn presigned_errors() {
    let t = time(T);
    let ok = presigned(3600, None);
    check("baseline", &ok, t, Ok(()));
    check("last second", &ok, time("20130524T005959Z"), Ok(()));
    check("expired", &ok, time("20130524T010000Z"), Err(VerifyError::RequestExpired));
    check("skew does not apply", &ok, time("20130524T003000Z"), Ok(()));
    check("slightly early", &ok, time("20130523T235000Z"), Ok(()));
    check("not yet valid", &ok, time("20130523T234000Z"), Err(VerifyError::RequestNotYetValid));

    check("a week", &presigned(604_800, None), time("20130530T000000Z"), Ok(()));
    check(
        "over a week",
        &presigned(604_801, None),
        t,
        qerr(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds",
        ),
    );
    check("zero", &presigned(0, None), t, qerr("X-Amz-Expires must be non-negative and non-zero"));

    let mut r = ok.clone();
    edit_query(&mut r, "X-Amz-Expires=3600", "X-Amz-Expires=-1");
    check("negative", &r, t, qerr("X-Amz-Expires should be a number"));
    let mut r = ok.clone();
    edit_query(&mut r, "X-Amz-Expires=3600", "X-Amz-Expires=99999999999999999999999");
    check("huge", &r, t, qerr("X-Amz-Expires is too large"));
    let mut r = ok.clone();
    edit_query(&mut r, "X-Amz-Credential=", "X-Amz-Cred=");
    check("no credential", &r, t, qerr("missing X-Amz-Credential"));
    let mut r = ok.clone();
    edit_query(&mut r, "X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013");
    check("bad date", &r, t, qerr("X-Amz-Date must be in the ISO8601 long format"));
    let mut r = ok.clone();
    edit_query(
        &mut r,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256",
    );
    check("sigv4a", &r, t, Err(VerifyError::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into())));
    let mut r = ok.clone();
    edit_query(&mut r, "%2Fus-east-1%2F", "%2Feu-west-1%2F");
    check(
        "region",
        &r,
        t,
        wrong_region(qerr("the region 'eu-west-1' is wrong; expecting 'us-east-1'")),
    );
    let mut r = ok.clone();
    r.push_header("x-amz-meta-a", "1");
    check(
        "unsigned x-amz header",
        &r,
        t,
        Err(VerifyError::HeadersNotSigned(vec!["x-amz-meta-a".into()])),
    );
    let mut r = ok.clone();
    r.push_header("Authorization", "AWS4-HMAC-SHA256 Credential=x");
    check("both mechanisms", &r, t, Err(VerifyError::MultipleAuthMechanisms));
    let mut r = ok.clone();
    edit_query(&mut r, "X-Amz-Signature=", "X-Amz-Signature=0");
    check("signature", &r, t, Err(VerifyError::SignatureDoesNotMatch));
    let mut r = ok.clone();
    r.query = Some(format!("{}&extra=1", r.query.unwrap()));
    check("added parameter", &r, t, Err(VerifyError::SignatureDoesNotMatch));

    // A signed payload hash carried in the URL is honoured.
    let with_sha = presigned(60, Some(&format!("X-Amz-Content-Sha256={EMPTY}")));
    let creds = creds(AKID, SECRET);
    let v = with_sha.with(|p| verify(p, t, &VerifyConfig::s3("us-east-1"), &creds)).unwrap();
    assert_eq!(v.payload, PayloadMode::Sha256(hex::decode(EMPTY).unwrap().try_into().unwrap()));
    let with_bad = presigned(60, Some("X-Amz-Content-Sha256=STREAMING-UNSIGNED-PAYLOAD-TRAILER"));
    check("streaming presigned", &with_bad, t, Err(VerifyError::InvalidContentSha256));
}

#[test]
fn has_auth_and_access_key_id() {
    let h = header_signed();
    let q = presigned(60, Some("a=1"));
    let anon = Req::new("GET", "/b/k?list-type=2", &[("Host", "h")]);
    assert!(h.with(s3gate_sigv4::has_auth));
    assert!(q.with(s3gate_sigv4::has_auth));
    assert!(!anon.with(s3gate_sigv4::has_auth));
    assert_eq!(h.with(s3gate_sigv4::access_key_id).as_deref(), Some(AKID));
    assert_eq!(q.with(s3gate_sigv4::access_key_id).as_deref(), Some(AKID));
    assert_eq!(anon.with(s3gate_sigv4::access_key_id), None);
}

#[test]
fn verifier_cache_gives_the_same_answers() {
    let verifier = s3gate_sigv4::Verifier::new(VerifyConfig::s3("us-east-1"));
    let creds = creds(AKID, SECRET);
    let ok = header_signed();
    for _ in 0..3 {
        let v = ok.with(|p| verifier.verify(p, time(T), &creds)).unwrap();
        assert_eq!(v.access_key_id, AKID);
    }
    let mut bad = ok.clone();
    edit_auth(&mut bad, |a| format!("{}0", &a[..a.len() - 1]));
    assert_eq!(
        bad.with(|p| verifier.verify(p, time(T), &creds)),
        Err(VerifyError::SignatureDoesNotMatch)
    );
}

fn replace_once(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let i = body.windows(from.len()).position(|w| w == from).expect("pattern in body");
    [&body[..i], to, &body[i + from.len()..]].concat()
}

/// Decodes `body` with `v`'s decoder (declared length `len`) and compares the outcome.
fn check_chunked(
    what: &str,
    v: &s3gate_sigv4::Verified,
    len: u64,
    body: &[u8],
    expected: Result<(), ChunkedError>,
) {
    for sizes in [&[usize::MAX][..], &[1], &[100]] {
        let got = decode_in_pieces(v.chunked_decoder(len).unwrap(), body, sizes).map(|_| ());
        assert_eq!(got, expected, "{what} (pieces {sizes:?})");
    }
}

#[test]
fn chunked_errors() {
    let payload = vec![b'x'; 10_000];
    let (v, body) = streaming(Mode::Signed, &payload, 8192);
    check_chunked("baseline", &v, 10_000, &body, Ok(()));

    let params = SigningParams {
        time: time("20231114T221320Z"),
        access_key_id: "AKIDPROPTEST",
        secret_key: "prop/test+secret/key",
        region: "us-east-1",
        service: "s3",
    };
    let ctx = SigningContext::from_params(&params);
    let mut small = ChunkedSigner::new(&v.seed_signature, ctx.clone());
    let small_body =
        [small.chunk(&payload[..4000]), small.chunk(&payload[4000..]), small.finish(&[])].concat();
    check_chunked(
        "small chunk",
        &v,
        10_000,
        &small_body,
        Err(ChunkedError::ChunkTooSmall { chunk: 0, size: 4000 }),
    );

    check_chunked(
        "length short",
        &v,
        9_999,
        &body,
        Err(ChunkedError::DecodedLengthMismatch { expected: 9_999, actual: 10_000 }),
    );
    check_chunked(
        "length long",
        &v,
        10_001,
        &body,
        Err(ChunkedError::DecodedLengthMismatch { expected: 10_001, actual: 10_000 }),
    );
    check_chunked("truncated", &v, 10_000, &body[..body.len() - 1], Err(ChunkedError::Incomplete));
    check_chunked("truncated in data", &v, 10_000, &body[..5000], Err(ChunkedError::Incomplete));
    check_chunked("empty", &v, 10_000, b"", Err(ChunkedError::Incomplete));
    check_chunked(
        "trailing data",
        &v,
        10_000,
        &[&body[..], b"x"].concat(),
        Err(ChunkedError::MalformedFraming("data after the end of the aws-chunked body")),
    );
    check_chunked(
        "bad hex",
        &v,
        10_000,
        &replace_once(&body, b"2000;", b"2z00;"),
        Err(ChunkedError::MalformedFraming("bad chunk size")),
    );
    check_chunked(
        "plus hex",
        &v,
        10_000,
        &replace_once(&body, b"2000;", b"+2000;"),
        Err(ChunkedError::MalformedFraming("bad chunk size")),
    );
    check_chunked(
        "no signature",
        &v,
        10_000,
        &replace_once(&body, b";chunk-signature=", b"\r\n"),
        Err(ChunkedError::MalformedFraming("chunk header without chunk-signature")),
    );
    check_chunked(
        "bad extension",
        &v,
        10_000,
        &replace_once(&body, b";chunk-signature=", b";chunk-signatur="),
        Err(ChunkedError::MalformedFraming("bad chunk-signature extension")),
    );
    check_chunked(
        "extra extension",
        &v,
        10_000,
        &replace_once(&body, b"\r\nxxxx", b";a=b\r\nxxxx"),
        Err(ChunkedError::MalformedFraming("bad chunk-signature extension")),
    );
    check_chunked(
        "no CRLF after data",
        &v,
        10_000,
        &replace_once(&body, b"x\r\n", b"xx\n"),
        Err(ChunkedError::MalformedFraming("chunk data not followed by CRLF")),
    );
    check_chunked(
        "LF line",
        &v,
        10_000,
        &replace_once(&body, b"\r\nxxxx", b"\nxxxxx"),
        Err(ChunkedError::MalformedFraming("line not terminated by CRLF")),
    );
    let long = [&b"2000;chunk-signature="[..], &vec![b'0'; 5000]].concat();
    check_chunked("long header", &v, 10_000, &long, Err(ChunkedError::ChunkHeaderTooLong));
    let sig_pos = body.windows(16).position(|w| w == b"chunk-signature=").unwrap() + 16;
    let mut bad_sig = body.clone();
    bad_sig[sig_pos] = if bad_sig[sig_pos] == b'a' { b'b' } else { b'a' };
    check_chunked(
        "chunk signature",
        &v,
        10_000,
        &bad_sig,
        Err(ChunkedError::ChunkSignatureMismatch),
    );
    let mut bad_data = body.clone();
    bad_data[sig_pos + 70] = b'y';
    check_chunked("chunk data", &v, 10_000, &bad_data, Err(ChunkedError::ChunkSignatureMismatch));
    let with_trailer = [&body[..body.len() - 2], b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"].concat();
    check_chunked(
        "trailer in plain signed mode",
        &v,
        10_000,
        &with_trailer,
        Err(ChunkedError::UnexpectedTrailer("x-amz-checksum-crc32".into())),
    );

    // Signed trailers.
    let (vt, tbody) = streaming(Mode::SignedTrailer, &payload, 8192);
    check_chunked("trailer baseline", &vt, 10_000, &tbody, Ok(()));
    check_chunked(
        "trailer value",
        &vt,
        10_000,
        &replace_once(&tbody, b"AAAAAA==", b"AAAAAB=="),
        Err(ChunkedError::TrailerSignatureMismatch),
    );
    let sig_line = tbody.windows(24).position(|w| w == b"x-amz-trailer-signature:").unwrap();
    let no_sig = [&tbody[..sig_line], b"\r\n"].concat();
    check_chunked(
        "trailer signature missing",
        &vt,
        10_000,
        &no_sig,
        Err(ChunkedError::TrailerSignatureMismatch),
    );
    let mut bad_tsig = tbody.clone();
    bad_tsig[sig_line + 24] = if bad_tsig[sig_line + 24] == b'a' { b'b' } else { b'a' };
    check_chunked(
        "trailer signature",
        &vt,
        10_000,
        &bad_tsig,
        Err(ChunkedError::TrailerSignatureMismatch),
    );
    let trailer_pos = tbody.windows(21).position(|w| w == b"x-amz-checksum-crc32:").unwrap();
    let no_trailer = [&tbody[..trailer_pos], b"\r\n"].concat();
    check_chunked(
        "trailer absent",
        &vt,
        10_000,
        &no_trailer,
        Err(ChunkedError::TrailerMissing("x-amz-checksum-crc32".into())),
    );

    // Unsigned trailers.
    let (vu, ubody) = streaming(Mode::UnsignedTrailer, &payload, 8192);
    check_chunked("unsigned baseline", &vu, 10_000, &ubody, Ok(()));
    let trailer_pos = ubody.windows(21).position(|w| w == b"x-amz-checksum-crc32:").unwrap();
    let no_trailer = [&ubody[..trailer_pos], b"\r\n"].concat();
    check_chunked(
        "unsigned trailer absent",
        &vu,
        10_000,
        &no_trailer,
        Err(ChunkedError::TrailerMissing("x-amz-checksum-crc32".into())),
    );
    check_chunked(
        "undeclared trailer",
        &vu,
        10_000,
        &replace_once(&ubody, b"x-amz-checksum-crc32:", b"x-amz-checksum-sha1:"),
        Err(ChunkedError::UnexpectedTrailer("x-amz-checksum-sha1".into())),
    );
    check_chunked(
        "repeated trailer",
        &vu,
        10_000,
        &replace_once(&ubody, b"AAAAAA==\r\n", b"AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n"),
        Err(ChunkedError::MalformedFraming("repeated or too many trailers")),
    );
    check_chunked(
        "trailer without colon",
        &vu,
        10_000,
        &replace_once(&ubody, b"x-amz-checksum-crc32:", b"x-amz-checksum-crc32 "),
        Err(ChunkedError::MalformedFraming("trailer line without ':'")),
    );
    check_chunked(
        "extension in unsigned mode",
        &vu,
        10_000,
        &replace_once(&ubody, b"2000\r\n", b"2000;chunk-signature=00\r\n"),
        Err(ChunkedError::MalformedFraming("bad chunk size")),
    );
    check_chunked(
        "unsigned data change is not detected here",
        &vu,
        10_000,
        &replace_once(&ubody, b"xxxx", b"xyxx"),
        Ok(()),
    );
}
