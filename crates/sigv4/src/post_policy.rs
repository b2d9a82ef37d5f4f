//! Browser-based uploads (POST Object): the form's signature over its base64 policy
//! (SigV4 `x-amz-*` fields or SigV2 `AWSAccessKeyId`/`signature`) and the policy document
//! itself (expiration, conditions, every form field covered).
//!
//! Input is the form fields that precede the file (S3 ignores the ones after it), the file
//! part's filename and the bucket the POST addresses; the result names the key to write
//! (with `${filename}` substituted) and the `content-length-range` the server enforces
//! while it streams the file.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::crypto::{constant_time_eq, hmac_sha1, hmac_sha256};
use crate::detect::SignatureVersion;
use crate::request::CredentialsProvider;
use crate::sign::{ALGORITHM, derive_signing_key};
use crate::time::{parse_amz_date, parse_iso8601};
use crate::verify::{Verifier, VerifyConfig, VerifyError, check_scope, split_credential};

/// Why a POST form was refused. Each variant maps to one S3 error code, named in its
/// documentation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostPolicyError {
    /// A failure shared with request signatures, mapped as for SigV4: `InvalidAccessKeyId`,
    /// `SignatureDoesNotMatch`, `AuthorizationHeaderMalformed` (an `x-amz-credential` of
    /// another region or service, or a bad `x-amz-date`), `UnsupportedAlgorithm` (an
    /// `x-amz-algorithm` other than `AWS4-HMAC-SHA256`) and `MultipleAuthMechanisms` (SigV2
    /// and SigV4 fields in one form) are the ones produced.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A required field is absent (`InvalidArgument`, "Bucket POST must contain a field
    /// named 'NAME'.  If it is specified, please check the order of the fields.", with
    /// `ArgumentName` the field).
    #[error("bucket POST must contain a field named '{0}'")]
    MissingField(&'static str),
    /// A field appears twice (names compare case-insensitively) (`InvalidArgument`).
    #[error("the form field {0} appears more than once")]
    DuplicateField(String),
    /// The policy is not base64 of a JSON object with a valid `expiration` and a
    /// `conditions` list of well-formed conditions (`InvalidPolicyDocument`, "Invalid Policy:
    /// DETAIL").
    #[error("invalid policy: {0}")]
    InvalidPolicyDocument(String),
    /// The policy's `expiration` has passed (`AccessDenied`, "Invalid according to Policy:
    /// Policy expired.").
    #[error("invalid according to policy: policy expired")]
    PolicyExpired,
    /// A condition does not hold (`AccessDenied`, "Invalid according to Policy: Policy
    /// Condition failed: CONDITION"); the text is the condition as S3 prints it, e.g.
    /// `["starts-with", "$key", "user/"]`.
    #[error("invalid according to policy: policy condition failed: {0}")]
    ConditionFailed(String),
    /// Form fields no condition covers (`AccessDenied`, "Invalid according to Policy: Extra
    /// input fields: NAMES"), lowercase, in form order.
    #[error("invalid according to policy: extra input fields: {}", .0.join(", "))]
    ExtraInputFields(Vec<String>),
    /// The file is larger than `content-length-range` allows (`EntityTooLarge`, with
    /// `ProposedSize` and `MaxSizeAllowed`).
    #[error("the file ({size} bytes so far) exceeds the maximum allowed size {max}")]
    EntityTooLarge {
        /// Bytes received (so far, when detected while streaming).
        size: u64,
        /// The range's maximum.
        max: u64,
    },
    /// The file is smaller than `content-length-range` allows (`EntityTooSmall`, with
    /// `ProposedSize` and `MinSizeAllowed`).
    #[error("the file ({size} bytes) is smaller than the minimum allowed size {min}")]
    EntityTooSmall {
        /// Bytes received.
        size: u64,
        /// The range's minimum.
        min: u64,
    },
}

/// One POST form as the server parsed it (see `s3gate_protocol::form`).
#[derive(Debug, Clone, Copy)]
pub struct PostForm<'a> {
    /// The bucket the POST addresses (path or Host header); it is the value of the implicit
    /// `bucket` field the policy must cover.
    pub bucket: &'a str,
    /// The fields before the file, in form order, names as sent.
    pub fields: &'a [(&'a str, &'a str)],
    /// The `filename` of the file part, substituted for `${filename}` in `key`.
    pub filename: Option<&'a str>,
}

impl PostForm<'_> {
    /// Cheap: the access key id the form names (`AWSAccessKeyId`, or the key of
    /// `x-amz-credential`), for pre-fetching the secret before [`verify_post`].
    pub fn access_key_id(&self) -> Option<&str> {
        let field = |name: &str| {
            self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
        };
        field("awsaccesskeyid")
            .or_else(|| field("x-amz-credential").and_then(split_credential).map(|c| c.0))
    }
}

/// The inclusive size bounds of `content-length-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLengthRange {
    /// Smallest allowed file size in bytes.
    pub min: u64,
    /// Largest allowed file size in bytes.
    pub max: u64,
}

impl ContentLengthRange {
    /// While streaming: refuses as soon as `received` bytes exceed the maximum.
    pub fn check_so_far(&self, received: u64) -> Result<(), PostPolicyError> {
        if received > self.max {
            return Err(PostPolicyError::EntityTooLarge { size: received, max: self.max });
        }
        Ok(())
    }

    /// At the end of the file: its `total` size must lie in the range.
    pub fn check_total(&self, total: u64) -> Result<(), PostPolicyError> {
        self.check_so_far(total)?;
        if total < self.min {
            return Err(PostPolicyError::EntityTooSmall { size: total, min: self.min });
        }
        Ok(())
    }
}

/// Who signed a POST form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAuth {
    /// The access key id that signed the policy.
    pub access_key_id: String,
    /// SigV2 (`signature`) or SigV4 (`x-amz-signature`), for `s3:signatureversion`.
    pub signature_version: SignatureVersion,
    /// `x-amz-security-token`, validated by the caller.
    pub security_token: Option<String>,
}

/// A POST form whose signature and policy hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPost {
    /// `None` for an anonymous form (no policy, no signature): the server allows it only
    /// where the bucket lets anyone write; nothing was checked but the `key` field.
    pub auth: Option<PostAuth>,
    /// The object key: the `key` field with `${filename}` replaced by the file's name.
    pub key: String,
    /// The policy's `content-length-range`, for the server to enforce on the file.
    pub content_length_range: Option<ContentLengthRange>,
    /// The policy's expiration.
    pub expiration: Option<SystemTime>,
}

/// One parsed policy condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// Field (lowercase) equals the value.
    Eq { field: String, value: String, shown: String },
    /// Field (lowercase) starts with the prefix (empty = anything).
    StartsWith { field: String, prefix: String, shown: String },
    /// The file size is in the range.
    Range(ContentLengthRange),
}

fn invalid(detail: impl Into<String>) -> PostPolicyError {
    PostPolicyError::InvalidPolicyDocument(detail.into())
}

/// `["op", "$name", "value"]` as S3 prints a failed condition.
fn shown(op: &str, name: &str, value: &str) -> String {
    let q = |s: &str| Value::String(s.to_owned()).to_string();
    format!("[{}, {}, {}]", q(op), q(&format!("${name}")), q(value))
}

fn length_bound(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

fn parse_condition(c: &Value, out: &mut Vec<Condition>) -> Result<(), PostPolicyError> {
    match c {
        Value::Object(map) => {
            if map.is_empty() {
                return Err(invalid("empty condition"));
            }
            for (name, value) in map {
                let Value::String(value) = value else {
                    return Err(invalid(format!("condition value of {name} is not a string")));
                };
                out.push(Condition::Eq {
                    field: name.to_ascii_lowercase(),
                    value: value.clone(),
                    shown: shown("eq", name, value),
                });
            }
            Ok(())
        }
        Value::Array(items) => {
            let op =
                items.first().and_then(Value::as_str).ok_or_else(|| invalid("bad condition"))?;
            if op.eq_ignore_ascii_case("content-length-range") {
                let [_, min, max] = items.as_slice() else {
                    return Err(invalid("content-length-range needs a minimum and a maximum"));
                };
                let (Some(min), Some(max)) = (length_bound(min), length_bound(max)) else {
                    return Err(invalid(
                        "content-length-range bounds must be non-negative integers",
                    ));
                };
                if min > max {
                    return Err(invalid("content-length-range minimum exceeds its maximum"));
                }
                out.push(Condition::Range(ContentLengthRange { min, max }));
                return Ok(());
            }
            let [_, Value::String(name), Value::String(value)] = items.as_slice() else {
                return Err(invalid(format!("condition {op} needs a $field and a string value")));
            };
            let field = name
                .strip_prefix('$')
                .filter(|f| !f.is_empty())
                .ok_or_else(|| invalid(format!("condition field {name} must start with $")))?;
            let (field, op_shown) = (field.to_ascii_lowercase(), op.to_ascii_lowercase());
            let shown = shown(&op_shown, &name[1..], value);
            match op_shown.as_str() {
                "eq" => out.push(Condition::Eq { field, value: value.clone(), shown }),
                "starts-with" => {
                    out.push(Condition::StartsWith { field, prefix: value.clone(), shown });
                }
                _ => return Err(invalid(format!("unknown condition operator {op}"))),
            }
            Ok(())
        }
        _ => Err(invalid("a condition must be an object or a list")),
    }
}

/// Decodes the base64 policy (whitespace ignored) into its expiration and conditions.
fn parse_policy(policy_b64: &str) -> Result<(SystemTime, Vec<Condition>), PostPolicyError> {
    let compact: String = policy_b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = BASE64.decode(compact).map_err(|_| invalid("the policy is not valid base64"))?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|_| invalid("the policy is not valid JSON"))?;
    let Value::Object(doc) = doc else { return Err(invalid("the policy is not a JSON object")) };
    let expiration = match doc.get("expiration") {
        Some(Value::String(e)) => {
            parse_iso8601(e).ok_or_else(|| invalid(format!("invalid 'expiration' value: '{e}'")))?
        }
        Some(_) => return Err(invalid("'expiration' must be a string")),
        None => return Err(invalid("policy missing expiration")),
    };
    let Some(Value::Array(list)) = doc.get("conditions") else {
        return Err(invalid("policy missing conditions"));
    };
    let mut conditions = Vec::with_capacity(list.len());
    for c in list {
        parse_condition(c, &mut conditions)?;
    }
    Ok((expiration, conditions))
}

/// Fields every form may carry without a condition: the signature and policy themselves,
/// the file, `x-ignore-*`, and the `x-amz-checksum-*` fields (they only constrain the file;
/// ceph/s3-tests' `test_post_object_upload_checksum` sends one uncovered).
fn exempt(field: &str) -> bool {
    matches!(field, "policy" | "file" | "x-amz-signature" | "signature" | "awsaccesskeyid")
        || field.starts_with("x-ignore-")
        || field.starts_with("x-amz-checksum-")
}

/// Verifies a POST form at time `now` (see the module docs): signature first, then the
/// policy's expiration, each condition, and that no field goes uncovered.
pub fn verify_post(
    form: &PostForm<'_>,
    now: SystemTime,
    cfg: &VerifyConfig,
    creds: &impl CredentialsProvider,
) -> Result<VerifiedPost, PostPolicyError> {
    verify_post_with(form, now, cfg, creds, &|secret, date| {
        derive_signing_key(secret, date, &cfg.region, &cfg.service)
    })
}

impl Verifier {
    /// [`verify_post`] with this verifier's configuration and signing-key cache.
    pub fn verify_post(
        &self,
        form: &PostForm<'_>,
        now: SystemTime,
        creds: &impl CredentialsProvider,
    ) -> Result<VerifiedPost, PostPolicyError> {
        verify_post_with(form, now, self.config(), creds, &|secret, date| {
            self.signing_key(secret, date)
        })
    }
}

fn verify_post_with(
    form: &PostForm<'_>,
    now: SystemTime,
    cfg: &VerifyConfig,
    creds: &impl CredentialsProvider,
    key_for: &dyn Fn(&str, &str) -> [u8; 32],
) -> Result<VerifiedPost, PostPolicyError> {
    // Field names compare case-insensitively; keep form order for the extra-fields report.
    let mut fields: Vec<(String, &str)> = Vec::with_capacity(form.fields.len());
    for (name, value) in form.fields {
        let lower = name.to_ascii_lowercase();
        if fields.iter().any(|(n, _)| *n == lower) {
            return Err(PostPolicyError::DuplicateField(lower));
        }
        fields.push((lower, value));
    }
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let key_field = get("key").ok_or(PostPolicyError::MissingField("key"))?;
    let key = key_field.replace("${filename}", form.filename.unwrap_or(""));

    let v4 = ["x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"]
        .iter()
        .any(|n| get(n).is_some());
    let v2 = get("awsaccesskeyid").is_some() || get("signature").is_some();
    let policy = get("policy");
    if v4 && v2 {
        return Err(VerifyError::MultipleAuthMechanisms.into());
    }
    if !v4 && !v2 && policy.is_none() {
        return Ok(VerifiedPost { auth: None, key, content_length_range: None, expiration: None });
    }
    let need = |name: &'static str| get(name).ok_or(PostPolicyError::MissingField(name));
    let security_token = get("x-amz-security-token").map(str::to_owned);
    let auth = if v2 {
        let akid =
            need("awsaccesskeyid").map_err(|_| PostPolicyError::MissingField("AWSAccessKeyId"))?;
        let signature = need("signature")?;
        let policy = need("policy")?;
        let secret = creds.secret_key(akid).ok_or(VerifyError::InvalidAccessKeyId)?;
        let expected = BASE64.encode(hmac_sha1(secret.as_bytes(), policy.as_bytes()));
        if !constant_time_eq(expected.as_bytes(), signature.trim().as_bytes()) {
            return Err(VerifyError::SignatureDoesNotMatch.into());
        }
        PostAuth {
            access_key_id: akid.to_owned(),
            signature_version: SignatureVersion::V2,
            security_token,
        }
    } else {
        let algorithm = need("x-amz-algorithm")?;
        let credential = need("x-amz-credential")?;
        let timestamp = need("x-amz-date")?;
        let signature = need("x-amz-signature")?;
        let policy = need("policy")?;
        if algorithm != ALGORITHM {
            return Err(VerifyError::UnsupportedAlgorithm(algorithm.to_owned()).into());
        }
        let malformed = |m: &str| VerifyError::AuthorizationHeaderMalformed(m.to_owned());
        let (akid, date, region, service, terminator) = split_credential(credential)
            .ok_or_else(|| malformed("the x-amz-credential field is mal-formed"))?;
        parse_amz_date(timestamp)
            .ok_or_else(|| malformed("x-amz-date must be in the ISO8601 long format"))?;
        check_scope(date, region, service, terminator, timestamp, cfg, malformed)?;
        let secret = creds.secret_key(akid).ok_or(VerifyError::InvalidAccessKeyId)?;
        let expected = hex::encode(hmac_sha256(&key_for(&secret, date), policy.as_bytes()));
        if !constant_time_eq(expected.as_bytes(), signature.trim().as_bytes()) {
            return Err(VerifyError::SignatureDoesNotMatch.into());
        }
        PostAuth {
            access_key_id: akid.to_owned(),
            signature_version: SignatureVersion::V4,
            security_token,
        }
    };

    let (expiration, conditions) = parse_policy(policy.unwrap_or_default())?;
    if now > expiration {
        return Err(PostPolicyError::PolicyExpired);
    }
    let range = apply_conditions(&conditions, form.bucket, &key, &fields)?;
    Ok(VerifiedPost {
        auth: Some(auth),
        key,
        content_length_range: range,
        expiration: Some(expiration),
    })
}

/// Checks every condition against the form (the implicit `bucket` field is the addressed
/// bucket, `key` the substituted key, an absent field the empty string), then that every
/// field is covered by a condition; returns the (intersected) `content-length-range`.
fn apply_conditions(
    conditions: &[Condition],
    bucket: &str,
    key: &str,
    fields: &[(String, &str)],
) -> Result<Option<ContentLengthRange>, PostPolicyError> {
    let value_of = |field: &str| -> String {
        match field {
            "bucket" => bucket.to_owned(),
            "key" => key.to_owned(),
            _ => fields.iter().find(|(n, _)| n == field).map_or("", |(_, v)| *v).to_owned(),
        }
    };
    let mut range: Option<ContentLengthRange> = None;
    let mut covered: Vec<&str> = Vec::new();
    for c in conditions {
        match c {
            Condition::Eq { field, value, shown } => {
                if value_of(field) != *value {
                    return Err(PostPolicyError::ConditionFailed(shown.clone()));
                }
                covered.push(field);
            }
            Condition::StartsWith { field, prefix, shown } => {
                let actual = value_of(field);
                // S3: a Content-Type starts-with applies to each value of a comma list.
                let holds = if field == "content-type" {
                    actual.split(',').all(|v| v.trim_start().starts_with(prefix.as_str()))
                } else {
                    actual.starts_with(prefix.as_str())
                };
                if !holds {
                    return Err(PostPolicyError::ConditionFailed(shown.clone()));
                }
                covered.push(field);
            }
            Condition::Range(r) => {
                // Several ranges: the file must satisfy all of them.
                range = Some(match range {
                    None => *r,
                    Some(p) => ContentLengthRange { min: p.min.max(r.min), max: p.max.min(r.max) },
                });
            }
        }
    }
    let extra: Vec<String> = std::iter::once("bucket")
        .chain(fields.iter().map(|(n, _)| n.as_str()))
        .filter(|n| !exempt(n) && !covered.contains(n))
        .map(str::to_owned)
        .collect();
    if !extra.is_empty() {
        return Err(PostPolicyError::ExtraInputFields(extra));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids() {
        let check = |fields: &[(&str, &str)], expected: Option<&str>| {
            let form = PostForm { bucket: "b", fields, filename: None };
            assert_eq!(form.access_key_id(), expected, "{fields:?}");
        };
        check(&[("key", "k")], None);
        check(&[("AWSAccessKeyId", "AK2")], Some("AK2"));
        check(&[("X-Amz-Credential", "AK4/20151229/us-east-1/s3/aws4_request")], Some("AK4"));
        check(&[("x-amz-credential", "garbage")], None);
    }

    #[test]
    fn ranges() {
        let r = ContentLengthRange { min: 2, max: 4 };
        assert_eq!(r.check_so_far(4), Ok(()));
        assert_eq!(r.check_so_far(5), Err(PostPolicyError::EntityTooLarge { size: 5, max: 4 }));
        assert_eq!(r.check_total(1), Err(PostPolicyError::EntityTooSmall { size: 1, min: 2 }));
        assert_eq!(r.check_total(2), Ok(()));
        assert_eq!(r.check_total(9), Err(PostPolicyError::EntityTooLarge { size: 9, max: 4 }));
    }

    #[test]
    fn conditions_parse() {
        let check = |json: &str, ok: bool| {
            let v: Value = serde_json::from_str(json).unwrap();
            let mut out = Vec::new();
            assert_eq!(parse_condition(&v, &mut out).is_ok(), ok, "{json}");
        };
        check(r#"{"acl": "private"}"#, true);
        check(r#"{"acl": "private", "bucket": "b"}"#, true);
        check(r"{}", false);
        check(r#"{"acl": 1}"#, false);
        check(r#"["eq", "$acl", "private"]"#, true);
        check(r#"["EQ", "$acl", "private"]"#, true);
        check(r#"["StArTs-WiTh", "$KeY", ""]"#, true);
        check(r#"["ends-with", "$key", "x"]"#, false);
        check(r#"["eq", "acl", "private"]"#, false);
        check(r#"["eq", "$", "private"]"#, false);
        check(r#"["eq", "$acl"]"#, false);
        check(r#"["eq", "$acl", 3]"#, false);
        check(r#"["content-length-range", 0, 10]"#, true);
        check(r#"["content-length-range", "0", "10"]"#, true);
        check(r#"["content-length-range", 0]"#, false);
        check(r#"["content-length-range", -1, 0]"#, false);
        check(r#"["content-length-range", 1.5, 3]"#, false);
        check(r#"["content-length-range", 5, 3]"#, false);
        check(r#""acl""#, false);
        check(r"[]", false);
    }

    #[test]
    fn shown_like_s3() {
        assert_eq!(shown("starts-with", "key", "user/"), r#"["starts-with", "$key", "user/"]"#);
        assert_eq!(shown("eq", "x", "a\"b"), r#"["eq", "$x", "a\"b"]"#);
    }
}
