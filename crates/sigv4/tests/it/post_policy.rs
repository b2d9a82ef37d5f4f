//! POST Object policies: AWS's SigV4 example, botocore's `generate_presigned_post` forms
//! (SigV2 and SigV4, `tests/data/sigv2/clients.json`), and the cases of ceph/s3-tests'
//! `test_post_object_*` as one table.

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use s3gate_sigv4::{
    ContentLengthRange, PostForm, PostPolicyError, SignatureVersion, VerifiedPost, Verifier,
    VerifyConfig, VerifyError, sign_post_policy, verify_post,
};
use serde_json::{Value, json};

use crate::{creds, data_dir, time};

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn run(
    bucket: &str,
    fields: &[(String, String)],
    filename: Option<&str>,
    now: SystemTime,
    cr: &std::collections::HashMap<String, String>,
) -> Result<VerifiedPost, PostPolicyError> {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let form = PostForm { bucket, fields: &pairs, filename };
    let free = verify_post(&form, now, &VerifyConfig::s3("us-east-1"), cr);
    // The cached verifier answers the same.
    let cached = Verifier::new(VerifyConfig::s3("us-east-1")).verify_post(&form, now, cr);
    assert_eq!(free, cached);
    free
}

fn aws_example() -> (Value, Vec<(String, String)>) {
    let path = data_dir().join("s3-examples/post-object-policy.json");
    let ex: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let fields: Vec<(String, String)> = ex["form_fields_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (s(&f[0]).to_owned(), s(&f[1]).to_owned()))
        .take_while(|(n, _)| n != "file")
        .collect();
    (ex, fields)
}

#[test]
fn aws_sigv4_example() {
    let (ex, fields) = aws_example();
    let cr = creds(s(&ex["access_key_id"]), s(&ex["secret_access_key"]));
    let now = time("20151229T000000Z");
    let v = run("sigv4examplebucket", &fields, Some("MyPhoto.jpg"), now, &cr).unwrap();
    let auth = v.auth.unwrap();
    assert_eq!(auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(auth.signature_version, SignatureVersion::V4);
    assert_eq!(v.key, "user/user1/MyPhoto.jpg");
    assert_eq!(v.content_length_range, None);
    assert_eq!(v.expiration, Some(time("20151230T120000Z")));
    // The policy's expiration is its end.
    let late = run("sigv4examplebucket", &fields, Some("a.jpg"), time("20151230T120001Z"), &cr);
    assert_eq!(late, Err(PostPolicyError::PolicyExpired));
    assert!(
        run("sigv4examplebucket", &fields, Some("a.jpg"), time("20151230T120000Z"), &cr).is_ok()
    );
    assert_eq!(
        run("otherbucket", &fields, Some("a.jpg"), now, &cr),
        Err(PostPolicyError::ConditionFailed(r#"["eq", "$bucket", "sigv4examplebucket"]"#.into()))
    );
    // The signature helper signs the same string.
    let policy = s(&ex["policy_base64"]);
    let sig = sign_post_policy(policy, s(&ex["secret_access_key"]), "20151229", "us-east-1", "s3");
    assert_eq!(sig, s(&ex["expected"]["signature"]));
}

/// Every field of AWS's example changed, dropped or duplicated is refused; an added field is
/// refused as uncovered unless it is exempt.
#[test]
fn aws_example_tampering() {
    let (ex, fields) = aws_example();
    let cr = creds(s(&ex["access_key_id"]), s(&ex["secret_access_key"]));
    let now = time("20151229T000000Z");
    for i in 0..fields.len() {
        let mut changed = fields.clone();
        let name = changed[i].0.clone();
        changed[i].1 =
            if changed[i].1.is_empty() { "x".into() } else { format!("{}x", &changed[i].1[1..]) };
        let got = run("sigv4examplebucket", &changed, Some("a.jpg"), now, &cr);
        // The policy lets x-amz-meta-tag be anything (starts-with "").
        assert!(got.is_err() || name == "x-amz-meta-tag", "changed {name}: {got:?}");
        let mut dropped = fields.clone();
        dropped.remove(i);
        let got = run("sigv4examplebucket", &dropped, Some("a.jpg"), now, &cr);
        assert!(got.is_err() || name == "x-amz-meta-tag", "dropped {name}: {got:?}");
        let mut twice = fields.clone();
        twice.push((name.to_ascii_uppercase(), fields[i].1.clone()));
        let got = run("sigv4examplebucket", &twice, Some("a.jpg"), now, &cr);
        assert_eq!(got, Err(PostPolicyError::DuplicateField(name.to_ascii_lowercase())));
    }
    let mut added = fields.clone();
    added.push(("x-amz-meta-other".into(), "1".into()));
    assert_eq!(
        run("sigv4examplebucket", &added, Some("a.jpg"), now, &cr),
        Err(PostPolicyError::ExtraInputFields(vec!["x-amz-meta-other".into()]))
    );
    for exempt in ["x-ignore-anything", "x-amz-checksum-sha256"] {
        let mut ok = fields.clone();
        ok.push((exempt.into(), "1".into()));
        assert!(run("sigv4examplebucket", &ok, Some("a.jpg"), now, &cr).is_ok(), "{exempt}");
    }
    // A key outside the policy's prefix.
    let mut key = fields.clone();
    key[0].1 = "user/user2/${filename}".into();
    assert_eq!(
        run("sigv4examplebucket", &key, Some("a.jpg"), now, &cr),
        Err(PostPolicyError::ConditionFailed(r#"["starts-with", "$key", "user/user1/"]"#.into()))
    );
}

#[test]
fn botocore_presigned_posts() {
    let doc: Value =
        serde_json::from_str(&fs::read_to_string(data_dir().join("sigv2/clients.json")).unwrap())
            .unwrap();
    let cr = creds(s(&doc["access_key_id"]), s(&doc["secret_access_key"]));
    let mut seen = Vec::new();
    for case in doc["cases"].as_array().unwrap().iter().filter(|c| s(&c["kind"]) == "post") {
        let name = s(&case["name"]);
        let fields: Vec<(String, String)> = case["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (s(&f[0]).to_owned(), s(&f[1]).to_owned()))
            .collect();
        let now = at(case["now"].as_u64().unwrap());
        let v = run(s(&case["bucket"]), &fields, case["filename"].as_str(), now, &cr)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(v.key, s(&case["expected_key"]), "{name}");
        let auth = v.auth.unwrap();
        assert_eq!(auth.access_key_id, "AKIDSIGV2EXAMPLE");
        seen.push((auth.signature_version, v.content_length_range));
        // Expired after the hour (or minute) botocore gave it.
        assert_eq!(
            run(
                s(&case["bucket"]),
                &fields,
                case["filename"].as_str(),
                now + Duration::from_secs(3601),
                &cr
            ),
            Err(PostPolicyError::PolicyExpired),
            "{name}"
        );
    }
    assert_eq!(
        seen,
        vec![
            (SignatureVersion::V2, Some(ContentLengthRange { min: 1, max: 1_048_576 })),
            (SignatureVersion::V4, Some(ContentLengthRange { min: 0, max: 10 })),
            (SignatureVersion::V4, None),
        ]
    );
}

const AK: &str = "AKIDPOSTEXAMPLE";
const SK: &str = "post/secret";
const NOW: u64 = 1_700_000_000;

fn v2_signed(policy: &Value, fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let b64 = BASE64.encode(serde_json::to_vec(policy).unwrap());
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(SK.as_bytes()).unwrap();
    mac.update(b64.as_bytes());
    let sig = BASE64.encode(mac.finalize().into_bytes());
    let mut out: Vec<(String, String)> =
        fields.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    out.push(("AWSAccessKeyId".into(), AK.into()));
    out.push(("signature".into(), sig));
    out.push(("policy".into(), b64));
    out
}

fn policy(conditions: Value) -> Value {
    json!({"expiration": "2023-11-15T00:00:00Z", "conditions": conditions})
}

/// The standard s3-tests policy: bucket, key prefix foo, acl private, text/plain, 0..1024.
fn standard(extra: &[Value]) -> Value {
    let mut c = vec![
        json!({"bucket": "b"}),
        json!(["starts-with", "$key", "foo"]),
        json!({"acl": "private"}),
        json!(["starts-with", "$Content-Type", "text/plain"]),
        json!(["content-length-range", 0, 1024]),
    ];
    c.extend_from_slice(extra);
    policy(Value::Array(c))
}

const FORM: &[(&str, &str)] =
    &[("key", "foo.txt"), ("acl", "private"), ("Content-Type", "text/plain")];

fn check(what: &str, fields: &[(String, String)], expected: Result<(), PostPolicyError>) {
    let got = run("b", fields, Some("foo.txt"), at(NOW), &creds(AK, SK)).map(|_| ());
    assert_eq!(got, expected, "{what}");
}

#[test]
fn s3_tests_cases() {
    use PostPolicyError::{
        ConditionFailed, DuplicateField, ExtraInputFields, InvalidPolicyDocument, MissingField,
        PolicyExpired,
    };
    let invalid = |what: &str| Err(InvalidPolicyDocument(what.into()));
    check("authenticated", &v2_signed(&standard(&[]), FORM), Ok(()));
    let v = run("b", &v2_signed(&standard(&[]), FORM), None, at(NOW), &creds(AK, SK)).unwrap();
    assert_eq!(v.content_length_range, Some(ContentLengthRange { min: 0, max: 1024 }));
    assert_eq!(v.auth.unwrap().signature_version, SignatureVersion::V2);
    let case_insensitive = policy(json!([
        {"bUcKeT": "b"},
        ["StArTs-WiTh", "$KeY", "foo"],
        {"AcL": "private"},
        ["StArTs-WiTh", "$CoNtEnT-TyPe", "text/plain"],
        ["content-length-range", 0, 1024]
    ]));
    let mut fields = v2_signed(
        &case_insensitive,
        &[("kEy", "foo.txt"), ("aCl", "private"), ("Content-Type", "text/plain")],
    );
    fields.iter_mut().find(|(n, _)| n == "policy").unwrap().0 = "pOLICy".into();
    check("case-insensitive names and operators", &fields, Ok(()));
    let escaped = standard(&[]).to_string().replace(r#""foo""#, r#""\\$foo""#);
    let escaped: Value = serde_json::from_str(&escaped).unwrap();
    check(
        "escaped values compare literally",
        &v2_signed(
            &escaped,
            &[("key", r"\$foo.txt"), ("acl", "private"), ("Content-Type", "text/plain")],
        ),
        Ok(()),
    );
    let from_filename = v2_signed(
        &standard(&[]),
        &[("key", "${filename}"), ("acl", "private"), ("Content-Type", "text/plain")],
    );
    let v = run("b", &from_filename, Some("foo.txt"), at(NOW), &creds(AK, SK)).unwrap();
    assert_eq!(v.key, "foo.txt", "the key condition sees the substituted key");
    check(
        "ignored field",
        &v2_signed(&standard(&[]), &[FORM[0], FORM[1], FORM[2], ("x-ignore-foo", "bar")]),
        Ok(()),
    );
    check(
        "uncovered checksum field",
        &v2_signed(
            &standard(&[]),
            &[
                FORM[0],
                FORM[1],
                FORM[2],
                ("x-amz-checksum-sha256", "aTL9MeXa9HObn6eP93eygxsJlcwdCwCTysgGAZAgE7w="),
            ],
        ),
        Ok(()),
    );
    let tagging = "<Tagging><TagSet><Tag><Key>0</Key><Value>0</Value></Tag></TagSet></Tagging>";
    check(
        "tagging with an empty starts-with",
        &v2_signed(
            &standard(&[json!(["starts-with", "$tagging", ""])]),
            &[FORM[0], FORM[1], FORM[2], ("tagging", tagging)],
        ),
        Ok(()),
    );
    check(
        "user header",
        &v2_signed(
            &standard(&[json!(["starts-with", "$x-amz-meta-foo", "bar"])]),
            &[FORM[0], FORM[1], FORM[2], ("x-amz-meta-foo", "barclamp")],
        ),
        Ok(()),
    );
    check(
        "condition on an absent field",
        &v2_signed(&standard(&[json!(["starts-with", "$x-amz-meta-foo", "bar"])]), FORM),
        Err(ConditionFailed(r#"["starts-with", "$x-amz-meta-foo", "bar"]"#.into())),
    );
    check(
        "eq on another value",
        &v2_signed(
            &standard(&[json!(["eq", "$x-amz-meta-foo", ""])]),
            &[FORM[0], FORM[1], FORM[2], ("x-amz-meta-foo", "barclamp")],
        ),
        Err(ConditionFailed(r#"["eq", "$x-amz-meta-foo", ""]"#.into())),
    );
    let no_bucket = policy(
        json!([["starts-with", "$key", "foo"], {"acl": "private"}, ["starts-with", "$Content-Type", "text/plain"]]),
    );
    check(
        "missing bucket condition",
        &v2_signed(&no_bucket, FORM),
        Err(ExtraInputFields(vec!["bucket".into()])),
    );
    check("no key", &v2_signed(&standard(&[]), &FORM[1..]), Err(MissingField("key")));
    let mut no_sig = v2_signed(&standard(&[]), FORM);
    no_sig.retain(|(n, _)| n != "signature");
    check("missing signature", &no_sig, Err(MissingField("signature")));
    let mut no_policy = v2_signed(&standard(&[]), FORM);
    no_policy.retain(|(n, _)| n != "policy");
    check("missing policy", &no_policy, Err(MissingField("policy")));
    let mut bad_sig = v2_signed(&standard(&[]), FORM);
    let sig = &mut bad_sig.iter_mut().find(|(n, _)| n == "signature").unwrap().1;
    *sig = sig.chars().rev().collect();
    check("invalid signature", &bad_sig, Err(VerifyError::SignatureDoesNotMatch.into()));
    let mut bad_key = v2_signed(&standard(&[]), FORM);
    bad_key.iter_mut().find(|(n, _)| n == "AWSAccessKeyId").unwrap().1 = "foo".into();
    check("invalid access key", &bad_key, Err(VerifyError::InvalidAccessKeyId.into()));
    let mut date = standard(&[]);
    date["expiration"] = json!("2023-11-15 00:00:00.123456+00:00");
    check(
        "invalid date format",
        &v2_signed(&date, FORM),
        invalid("invalid 'expiration' value: '2023-11-15 00:00:00.123456+00:00'"),
    );
    let mut expired = standard(&[]);
    expired["expiration"] = json!("2023-11-14T22:13:19Z");
    check("expired", &v2_signed(&expired, FORM), Err(PolicyExpired));
    let upper_conditions =
        json!({"expiration": "2023-11-15T00:00:00Z", "CONDITIONS": [{"bucket": "b"}]});
    check(
        "CONDITIONS is case-sensitive",
        &v2_signed(&upper_conditions, FORM),
        invalid("policy missing conditions"),
    );
    let upper_expiration =
        json!({"EXPIRATION": "2023-11-15T00:00:00Z", "conditions": [{"bucket": "b"}]});
    check(
        "EXPIRATION is case-sensitive",
        &v2_signed(&upper_expiration, FORM),
        invalid("policy missing expiration"),
    );
    check(
        "no conditions list",
        &v2_signed(&json!({"expiration": "2023-11-15T00:00:00Z"}), FORM),
        invalid("policy missing conditions"),
    );
    check("empty condition", &v2_signed(&policy(json!([{}])), FORM), invalid("empty condition"));
    let range = |r: Value| {
        let mut p = standard(&[]);
        p["conditions"][4] = r;
        v2_signed(&p, FORM)
    };
    check(
        "range without maximum",
        &range(json!(["content-length-range", 0])),
        invalid("content-length-range needs a minimum and a maximum"),
    );
    check(
        "negative range",
        &range(json!(["content-length-range", -1, 0])),
        invalid("content-length-range bounds must be non-negative integers"),
    );
    let v = run("b", &range(json!(["content-length-range", 0, 0])), None, at(NOW), &creds(AK, SK))
        .unwrap();
    assert_eq!(
        v.content_length_range.unwrap().check_total(3),
        Err(PostPolicyError::EntityTooLarge { size: 3, max: 0 })
    );
    let v =
        run("b", &range(json!(["content-length-range", 512, 1000])), None, at(NOW), &creds(AK, SK))
            .unwrap();
    assert_eq!(
        v.content_length_range.unwrap().check_total(3),
        Err(PostPolicyError::EntityTooSmall { size: 3, min: 512 })
    );
    let two = standard(&[json!(["content-length-range", 10, 2000])]);
    let v = run("b", &v2_signed(&two, FORM), None, at(NOW), &creds(AK, SK)).unwrap();
    assert_eq!(
        v.content_length_range,
        Some(ContentLengthRange { min: 10, max: 1024 }),
        "both ranges hold"
    );
    check(
        "wrong bucket",
        &{
            let p = standard(&[]).to_string().replace(r#"{"bucket":"b"}"#, r#"{"bucket":"other"}"#);
            v2_signed(&serde_json::from_str(&p).unwrap(), FORM)
        },
        Err(ConditionFailed(r#"["eq", "$bucket", "other"]"#.into())),
    );
    check(
        "content-type list",
        &v2_signed(
            &standard(&[]),
            &[FORM[0], FORM[1], ("Content-Type", "text/plain, text/plain;charset=utf-8")],
        ),
        Ok(()),
    );
    check(
        "content-type list with an outsider",
        &v2_signed(&standard(&[]), &[FORM[0], FORM[1], ("Content-Type", "text/plain,image/png")]),
        Err(ConditionFailed(r#"["starts-with", "$Content-Type", "text/plain"]"#.into())),
    );
    check(
        "duplicate field",
        &v2_signed(&standard(&[]), &[FORM[0], FORM[1], FORM[2], ("ACL", "private")]),
        Err(DuplicateField("acl".into())),
    );
    let mut mixed = v2_signed(&standard(&[]), FORM);
    mixed.push(("x-amz-signature".into(), "00".into()));
    check("two signature versions", &mixed, Err(VerifyError::MultipleAuthMechanisms.into()));
    let mut garbage = v2_signed(&standard(&[]), FORM);
    let b64 = BASE64.encode("not json");
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(SK.as_bytes()).unwrap();
    mac.update(b64.as_bytes());
    garbage.iter_mut().find(|(n, _)| n == "signature").unwrap().1 =
        BASE64.encode(mac.finalize().into_bytes());
    garbage.iter_mut().find(|(n, _)| n == "policy").unwrap().1 = b64;
    check("signed garbage", &garbage, invalid("the policy is not valid JSON"));
}

#[test]
fn anonymous_and_v4_errors() {
    let cr = creds(AK, SK);
    // No policy and no signature: anonymous; only the key is looked at.
    let anon = [
        ("key".to_owned(), "up/${filename}".to_owned()),
        ("acl".to_owned(), "public-read".to_owned()),
    ];
    let v = run("b", &anon, Some("x.png"), at(NOW), &cr).unwrap();
    assert_eq!((v.auth, v.key.as_str(), v.content_length_range), (None, "up/x.png", None));
    let policy_b64 =
        BASE64.encode(serde_json::to_vec(&policy(json!([{"bucket": "b"}, {"key": "k"}]))).unwrap());
    let v4 = |credential: &str, date: &str, algorithm: &str| {
        let sig = sign_post_policy(&policy_b64, SK, &date[..8], "us-east-1", "s3");
        vec![
            ("key".to_owned(), "k".to_owned()),
            ("x-amz-algorithm".to_owned(), algorithm.to_owned()),
            ("x-amz-credential".to_owned(), credential.to_owned()),
            ("x-amz-date".to_owned(), date.to_owned()),
            ("policy".to_owned(), policy_b64.clone()),
            ("x-amz-signature".to_owned(), sig),
        ]
    };
    let good = v4(
        &format!("{AK}/20231114/us-east-1/s3/aws4_request"),
        "20231114T221320Z",
        "AWS4-HMAC-SHA256",
    );
    // The policy has no condition for the SigV4 fields: they are uncovered.
    assert_eq!(
        run("b", &good, None, at(NOW), &cr),
        Err(PostPolicyError::ExtraInputFields(vec![
            "x-amz-algorithm".into(),
            "x-amz-credential".into(),
            "x-amz-date".into()
        ]))
    );
    let region = v4(
        &format!("{AK}/20231114/eu-west-1/s3/aws4_request"),
        "20231114T221320Z",
        "AWS4-HMAC-SHA256",
    );
    assert!(matches!(
        run("b", &region, None, at(NOW), &cr),
        Err(PostPolicyError::Verify(VerifyError::WrongRegion { error, region }))
            if matches!(*error, VerifyError::AuthorizationHeaderMalformed(_)) && region == "us-east-1"
    ));
    let day = v4(
        &format!("{AK}/20231113/us-east-1/s3/aws4_request"),
        "20231114T221320Z",
        "AWS4-HMAC-SHA256",
    );
    assert!(matches!(
        run("b", &day, None, at(NOW), &cr),
        Err(PostPolicyError::Verify(VerifyError::AuthorizationHeaderMalformed(_)))
    ));
    let algo = v4(
        &format!("{AK}/20231114/us-east-1/s3/aws4_request"),
        "20231114T221320Z",
        "AWS4-ECDSA-P256-SHA256",
    );
    assert_eq!(
        run("b", &algo, None, at(NOW), &cr),
        Err(VerifyError::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into()).into())
    );
    let unknown =
        v4("NOPE/20231114/us-east-1/s3/aws4_request", "20231114T221320Z", "AWS4-HMAC-SHA256");
    assert_eq!(run("b", &unknown, None, at(NOW), &cr), Err(VerifyError::InvalidAccessKeyId.into()));
    let mut partial = good.clone();
    partial.retain(|(n, _)| n != "x-amz-date");
    assert_eq!(
        run("b", &partial, None, at(NOW), &cr),
        Err(PostPolicyError::MissingField("x-amz-date"))
    );
    let only_policy =
        vec![("key".to_owned(), "k".to_owned()), ("policy".to_owned(), policy_b64.clone())];
    assert_eq!(
        run("b", &only_policy, None, at(NOW), &cr),
        Err(PostPolicyError::MissingField("x-amz-algorithm"))
    );
}
