//! Request headers that ask for a feature, and whether this gateway gives it.
//!
//! A header such as `x-amz-object-lock-mode: COMPLIANCE` or `x-amz-server-side-encryption:
//! aws:kms` asks for protection. Answering 200 while ignoring it tells a backup tool its data is
//! immutable, or a user that it is encrypted, when it is neither. So every such header is a row
//! of [`FEATURE_HEADERS`]: the operations that take it, the values AWS accepts, the values this
//! gateway honours, and the answer when it cannot. [`check_feature_headers`] applies the table to
//! one request before anything is read or written; a later feature flips its row's
//! [`Support`] to [`Support::Honoured`] (and then does the work).
//!
//! `x-amz-expected-bucket-owner` is not a feature but a check the gateway does;
//! [`ExpectedOwners`] carries it to the server.

use crate::error::{ErrorCode, S3Error};

/// How much of what a header asks for the gateway does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Every valid value is honoured.
    Honoured,
    /// Only these values are honoured (they describe what the gateway does anyway); any other
    /// valid value is refused.
    Only(&'static [&'static str]),
    /// No value is honoured: the header's presence is refused.
    Refused,
}

/// The answer to a refused header, when AWS has one for the gateway's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `501 NotImplemented` naming the header: AWS would do it, this gateway does not yet.
    NotImplemented,
    /// `400 InvalidRequest` "The encryption parameters are not applicable to this object": AWS's
    /// answer for SSE-C headers on a read of an object not encrypted with SSE-C, which no object
    /// here is. Answered once the object is known to exist ([`RefusalScope::Object`]).
    NotEncryptedWithCustomerKey,
}

/// What must be known to exist before a refusal is answered, so that a missing bucket or key
/// still gets `NoSuchBucket`/`NoSuchKey` first, as on AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalScope {
    /// Nothing (CreateBucket: the bucket is what is being created).
    Request,
    /// The addressed bucket, owned by the caller.
    Bucket,
    /// The addressed object (its bucket too).
    Object,
}

/// One row: a header, where it applies, and what the gateway does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureHeader {
    /// Header name, lowercase.
    pub name: &'static str,
    /// Operations (S3 API names, as [`Operation::name`](crate::Operation::name)) that take it.
    pub operations: &'static [&'static str],
    /// Values AWS accepts; empty means any value. Another value answers `invalid`.
    pub valid: &'static [&'static str],
    /// Whether `valid` and `honoured` values compare case-insensitively.
    pub ignore_case: bool,
    /// The error for a value outside `valid`.
    pub invalid: ErrorCode,
    /// What the gateway honours.
    pub support: Support,
    /// The answer when it does not.
    pub refusal: Refusal,
}

/// Object writes that carry an object's settings (metadata, ACL, encryption, lock, class).
const OBJECT_WRITES: &[&str] = &["PutObject", "CopyObject", "CreateMultipartUpload"];
/// Operations whose request body (or source) is stored, so SSE-C would encrypt it.
const SSE_C_WRITES: &[&str] =
    &["PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy"];
/// The operations that take an ACL (`x-amz-acl`, `x-amz-grant-*`).
const ACL_WRITES: &[&str] = &[
    "CreateBucket",
    "PutBucketAcl",
    "PutObjectAcl",
    "PutObject",
    "CopyObject",
    "CreateMultipartUpload",
];
/// Reads that take SSE-C headers.
const SSE_C_READS: &[&str] = &["GetObject", "HeadObject"];
/// Operations that read a copy source.
const COPIES: &[&str] = &["CopyObject", "UploadPartCopy"];

/// The canned ACLs S3 knows.
const CANNED_ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

/// The storage classes S3 knows (`x-amz-storage-class` values it accepts).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
    "FSX_ONTAP",
];

const fn row(
    name: &'static str,
    operations: &'static [&'static str],
    support: Support,
    refusal: Refusal,
) -> FeatureHeader {
    FeatureHeader {
        name,
        operations,
        valid: &[],
        ignore_case: false,
        invalid: ErrorCode::InvalidArgument,
        support,
        refusal,
    }
}

const fn valued(
    name: &'static str,
    operations: &'static [&'static str],
    valid: &'static [&'static str],
    support: Support,
    refusal: Refusal,
) -> FeatureHeader {
    FeatureHeader {
        name,
        operations,
        valid,
        ignore_case: false,
        invalid: ErrorCode::InvalidArgument,
        support,
        refusal,
    }
}

use Refusal::{NotEncryptedWithCustomerKey, NotImplemented};
use Support::{Honoured, Only};

/// Every feature header S3 defines on the operations this gateway serves.
pub const FEATURE_HEADERS: &[FeatureHeader] = &[
    // Object lock: done by the gateway. A bucket created without it refuses the object
    // headers (the engine answers AWS's InvalidRequest once it has read the bucket).
    FeatureHeader {
        ignore_case: true,
        ..valued(
            "x-amz-bucket-object-lock-enabled",
            &["CreateBucket"],
            &["true", "false"],
            Honoured,
            NotImplemented,
        )
    },
    valued(
        "x-amz-object-lock-mode",
        OBJECT_WRITES,
        &["GOVERNANCE", "COMPLIANCE"],
        Honoured,
        NotImplemented,
    ),
    row("x-amz-object-lock-retain-until-date", OBJECT_WRITES, Honoured, NotImplemented),
    valued("x-amz-object-lock-legal-hold", OBJECT_WRITES, &["ON", "OFF"], Honoured, NotImplemented),
    // Ownership and ACLs: honoured by the server, which decides each request by the bucket's
    // Object Ownership (BucketOwnerEnforced takes only the bucket owner's full control, as on
    // AWS). Only the values are checked here.
    valued(
        "x-amz-object-ownership",
        &["CreateBucket"],
        &["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"],
        Honoured,
        NotImplemented,
    ),
    valued("x-amz-acl", ACL_WRITES, CANNED_ACLS, Honoured, NotImplemented),
    // Storage classes: only the name is checked here. Which classes are stored depends on the
    // operator's tiers, so the engine answers a valid class no tier is mapped to with the
    // same 501 NotImplemented naming this header (`StorageClasses::resolve`).
    FeatureHeader {
        invalid: ErrorCode::InvalidStorageClass,
        ..valued("x-amz-storage-class", OBJECT_WRITES, STORAGE_CLASSES, Honoured, NotImplemented)
    },
    // Stored with the object and answered by website requests (`crate::website`); its value is
    // checked where the object's headers are read (`InvalidRedirectLocation`).
    row("x-amz-website-redirect-location", OBJECT_WRITES, Honoured, NotImplemented),
    // Server-side encryption with S3 keys (SSE-S3) and with the gateway's built-in KMS
    // (SSE-KMS) is done by the gateway; dual-layer SSE-KMS (`aws:kms:dsse`) is not.
    valued(
        "x-amz-server-side-encryption",
        OBJECT_WRITES,
        &["AES256", "aws:kms", "aws:kms:dsse"],
        Only(&["AES256", "aws:kms"]),
        NotImplemented,
    ),
    row("x-amz-server-side-encryption-aws-kms-key-id", OBJECT_WRITES, Honoured, NotImplemented),
    row("x-amz-server-side-encryption-context", OBJECT_WRITES, Honoured, NotImplemented),
    FeatureHeader {
        ignore_case: true,
        ..valued(
            "x-amz-server-side-encryption-bucket-key-enabled",
            OBJECT_WRITES,
            &["true", "false"],
            Honoured,
            NotImplemented,
        )
    },
    // Server-side encryption with customer keys (SSE-C): done by the gateway; a read of an
    // object not stored with a customer key is refused by the engine once it is found.
    row("x-amz-server-side-encryption-customer-algorithm", SSE_C_WRITES, Honoured, NotImplemented),
    row("x-amz-server-side-encryption-customer-key", SSE_C_WRITES, Honoured, NotImplemented),
    row("x-amz-server-side-encryption-customer-key-md5", SSE_C_WRITES, Honoured, NotImplemented),
    row(
        "x-amz-server-side-encryption-customer-algorithm",
        SSE_C_READS,
        Honoured,
        NotEncryptedWithCustomerKey,
    ),
    row(
        "x-amz-server-side-encryption-customer-key",
        SSE_C_READS,
        Honoured,
        NotEncryptedWithCustomerKey,
    ),
    row(
        "x-amz-server-side-encryption-customer-key-md5",
        SSE_C_READS,
        Honoured,
        NotEncryptedWithCustomerKey,
    ),
    row(
        "x-amz-copy-source-server-side-encryption-customer-algorithm",
        COPIES,
        Honoured,
        NotImplemented,
    ),
    row("x-amz-copy-source-server-side-encryption-customer-key", COPIES, Honoured, NotImplemented),
    row(
        "x-amz-copy-source-server-side-encryption-customer-key-md5",
        COPIES,
        Honoured,
        NotImplemented,
    ),
];

/// A refused request: the error to send and what must be found to exist before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedFeature {
    /// The S3 error.
    pub error: S3Error,
    /// What the server checks first (`NoSuchBucket`, `NoSuchKey`, `AccessDenied` win).
    pub scope: RefusalScope,
}

impl FeatureHeader {
    fn matches(&self, value: &str, list: &[&str]) -> bool {
        list.iter()
            .any(|v| if self.ignore_case { v.eq_ignore_ascii_case(value) } else { *v == value })
    }

    /// The verdict on one value of this header.
    fn check(&self, value: &str) -> Result<(), S3Error> {
        let value = value.trim();
        if !self.valid.is_empty() && !self.matches(value, self.valid) {
            let message = match self.invalid {
                ErrorCode::InvalidStorageClass => {
                    ErrorCode::InvalidStorageClass.default_message().to_owned()
                }
                _ => format!("Invalid value for the {} header.", self.name),
            };
            return Err(S3Error::with_message(self.invalid, message)
                .with_extra("ArgumentName", self.name)
                .with_extra("ArgumentValue", value));
        }
        let honoured = match self.support {
            Support::Honoured => true,
            Support::Only(values) => self.matches(value, values),
            Support::Refused => false,
        };
        if honoured {
            return Ok(());
        }
        Err(match self.refusal {
            Refusal::NotImplemented => S3Error::with_message(
                ErrorCode::NotImplemented,
                format!("The {} header is not implemented by this gateway.", self.name),
            )
            .with_extra("Header", self.name),
            Refusal::NotEncryptedWithCustomerKey => S3Error::with_message(
                ErrorCode::InvalidRequest,
                "The encryption parameters are not applicable to this object.",
            ),
        })
    }

    fn scope(&self, operation: &str) -> RefusalScope {
        match (operation, self.refusal) {
            ("CreateBucket", _) => RefusalScope::Request,
            (_, Refusal::NotEncryptedWithCustomerKey) => RefusalScope::Object,
            _ => RefusalScope::Bucket,
        }
    }
}

/// The three SSE-C headers of one set (`prefix` is `x-amz-` or `x-amz-copy-source-`).
fn customer_key_names(prefix: &str) -> [String; 3] {
    ["algorithm", "key", "key-md5"]
        .map(|part| format!("{prefix}server-side-encryption-customer-{part}"))
}

/// AWS validates an SSE-C header set before anything else: all three headers, algorithm
/// `AES256`, a 256-bit base64 key and its MD5. A broken set is AWS's 400 whatever the object.
fn check_customer_key<'a>(
    prefix: &str,
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<(), S3Error> {
    use base64::Engine as _;
    use md5::Digest as _;
    let [alg, key, md5] = customer_key_names(prefix).map(|n| get(&n).map(str::trim));
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(());
    }
    let invalid = |message: &str, name: &str| {
        S3Error::with_message(ErrorCode::InvalidArgument, message)
            .with_extra("ArgumentName", format!("{prefix}server-side-encryption-customer-{name}"))
    };
    match alg {
        None => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
                "algorithm",
            ));
        }
        Some("AES256") => {}
        Some(_) => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidEncryptionAlgorithmError,
                "The encryption request you specified is not valid. The valid value is AES256.",
            ));
        }
    }
    let Some(key) = key else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            "key",
        ));
    };
    let Some(md5) = md5 else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
            "key-MD5",
        ));
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let key =
        b64.decode(key).ok().filter(|k| k.len() == 32).ok_or_else(|| {
            invalid("The secret key was invalid for the specified algorithm.", "key")
        })?;
    if b64.decode(md5).ok().as_deref() != Some(md5::Md5::digest(&key).as_slice()) {
        return Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            "key-MD5",
        ));
    }
    Ok(())
}

/// Encryption headers that contradict each other are AWS's `400 InvalidArgument`, whatever is
/// supported: SSE-C with `x-amz-server-side-encryption`, and KMS parameters without `aws:kms`.
fn check_encryption_conflicts<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<(), S3Error> {
    let sse = get("x-amz-server-side-encryption").map(str::trim);
    let invalid = |message: &str| {
        S3Error::with_message(ErrorCode::InvalidArgument, message)
            .with_extra("ArgumentName", "x-amz-server-side-encryption")
            .with_extra("ArgumentValue", sse.unwrap_or(""))
    };
    if sse.is_some() && get("x-amz-server-side-encryption-customer-algorithm").is_some() {
        return Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        ));
    }
    let kms = ["aws-kms-key-id", "context"]
        .iter()
        .any(|p| get(&format!("x-amz-server-side-encryption-{p}")).is_some());
    if kms && !matches!(sse, Some("aws:kms" | "aws:kms:dsse")) {
        return Err(invalid(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        ));
    }
    Ok(())
}

/// Applies [`FEATURE_HEADERS`] to a request for `operation` (its S3 API name); `get` looks a
/// header up by lowercase name. The first refused or invalid header, in table order, decides.
pub fn check_feature_headers<'a>(
    operation: &str,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<(), RefusedFeature> {
    // A malformed SSE-C set is AWS's 400 before the question of support arises.
    for prefix in ["x-amz-", "x-amz-copy-source-"] {
        let [first, ..] = customer_key_names(prefix);
        if FEATURE_HEADERS.iter().any(|h| h.name == first && h.operations.contains(&operation)) {
            check_customer_key(prefix, &get)
                .map_err(|error| RefusedFeature { error, scope: RefusalScope::Request })?;
        }
    }
    if OBJECT_WRITES.contains(&operation) {
        check_encryption_conflicts(&get)
            .map_err(|error| RefusedFeature { error, scope: RefusalScope::Request })?;
    }
    for h in FEATURE_HEADERS.iter().filter(|h| h.operations.contains(&operation)) {
        if let Some(value) = get(h.name) {
            h.check(value).map_err(|error| RefusedFeature { error, scope: h.scope(operation) })?;
        }
    }
    Ok(())
}

/// `x-amz-expected-bucket-owner` and `x-amz-source-expected-bucket-owner`: the account the
/// client expects to own the bucket (and the copy source's bucket). A mismatch is
/// `403 AccessDenied`, as on AWS; this gateway's account ids are its user names (what
/// ListBuckets reports as `Owner/ID`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedOwners {
    /// `x-amz-expected-bucket-owner`.
    pub bucket: Option<String>,
    /// `x-amz-source-expected-bucket-owner` (copies only).
    pub source_bucket: Option<String>,
}

impl ExpectedOwners {
    /// Reads both headers; `get` looks a header up by lowercase name.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let owned = |name: &str| get(name).map(|v| v.trim().to_owned());
        ExpectedOwners {
            bucket: owned("x-amz-expected-bucket-owner"),
            source_bucket: owned("x-amz-source-expected-bucket-owner"),
        }
    }

    /// `Ok` when `expected` is absent or names `owner`.
    pub fn check(expected: Option<&str>, owner: &str) -> Result<(), S3Error> {
        match expected {
            Some(e) if e != owner => Err(S3Error::new(ErrorCode::AccessDenied)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `headers` as `name: value` lines; `expected` is `"ok"` or `"<status> <Code>"`.
    fn check(operation: &str, headers: &[(&str, &str)], expected: &str) {
        let got = match check_feature_headers(operation, |n| {
            headers.iter().find(|(h, _)| *h == n).map(|(_, v)| *v)
        }) {
            Ok(()) => "ok".to_owned(),
            Err(r) => format!("{} {}", r.error.status(), r.error.code),
        };
        assert_eq!(got, expected, "{operation} {headers:?}");
    }

    /// A valid SSE-C set (the key is 32 bytes; its MD5 from ceph/s3-tests).
    const SSE_C: &[(&str, &str)] = &[
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        (
            "x-amz-server-side-encryption-customer-key",
            "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=",
        ),
        ("x-amz-server-side-encryption-customer-key-md5", "DWygnHRtgiJ77HCm+1rvHw=="),
    ];
    const COPY_SSE_C: &[(&str, &str)] = &[
        ("x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256"),
        (
            "x-amz-copy-source-server-side-encryption-customer-key",
            "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=",
        ),
        ("x-amz-copy-source-server-side-encryption-customer-key-md5", "DWygnHRtgiJ77HCm+1rvHw=="),
    ];

    #[test]
    #[allow(clippy::too_many_lines, reason = "one row per case reads best as one table")]
    fn cases() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            ("PutObject", &[], "ok"),
            // ACLs are the server's to decide (by the bucket's Object Ownership); only the
            // canned ACL's value is checked here.
            ("PutObject", &[("x-amz-acl", "private")], "ok"),
            ("PutObject", &[("x-amz-acl", "public-read")], "ok"),
            ("PutObject", &[("x-amz-acl", "bogus")], "400 InvalidArgument"),
            ("CreateBucket", &[("x-amz-acl", "public-read-write")], "ok"),
            ("CreateBucket", &[("x-amz-acl", "Private")], "400 InvalidArgument"),
            ("PutBucketAcl", &[("x-amz-acl", "authenticated-read")], "ok"),
            ("PutObjectAcl", &[("x-amz-grant-read", "id=x")], "ok"),
            ("PutObject", &[("x-amz-storage-class", "STANDARD")], "ok"),
            // Valid names pass the table; the engine refuses those no tier is mapped to.
            ("PutObject", &[("x-amz-storage-class", "GLACIER")], "ok"),
            ("PutObject", &[("x-amz-storage-class", "BOGUS")], "400 InvalidStorageClass"),
            ("PutObject", &[("x-amz-storage-class", "standard")], "400 InvalidStorageClass"),
            ("CreateMultipartUpload", &[("x-amz-storage-class", "STANDARD_IA")], "ok"),
            ("CopyObject", &[("x-amz-storage-class", "BOGUS")], "400 InvalidStorageClass"),
            ("PutObject", &[("x-amz-server-side-encryption", "AES256")], "ok"),
            ("CreateMultipartUpload", &[("x-amz-server-side-encryption", "AES256")], "ok"),
            ("CopyObject", &[("x-amz-server-side-encryption", "aws:kms")], "ok"),
            (
                "PutObject",
                &[("x-amz-server-side-encryption", "aws:kms:dsse")],
                "501 NotImplemented",
            ),
            (
                "PutObject",
                &[
                    ("x-amz-server-side-encryption", "aws:kms"),
                    ("x-amz-server-side-encryption-bucket-key-enabled", "maybe"),
                ],
                "400 InvalidArgument",
            ),
            ("PutObject", &[("x-amz-server-side-encryption", "rot13")], "400 InvalidArgument"),
            ("PutObject", &[("x-amz-object-lock-mode", "COMPLIANCE")], "ok"),
            ("PutObject", &[("x-amz-object-lock-mode", "FOREVER")], "400 InvalidArgument"),
            ("PutObject", &[("x-amz-object-lock-legal-hold", "ON")], "ok"),
            ("PutObject", &[("x-amz-object-lock-legal-hold", "on")], "400 InvalidArgument"),
            ("CreateBucket", &[("x-amz-bucket-object-lock-enabled", "true")], "ok"),
            ("CreateBucket", &[("x-amz-bucket-object-lock-enabled", "True")], "ok"),
            ("CreateBucket", &[("x-amz-bucket-object-lock-enabled", "false")], "ok"),
            (
                "CreateBucket",
                &[("x-amz-bucket-object-lock-enabled", "maybe")],
                "400 InvalidArgument",
            ),
            ("CreateBucket", &[("x-amz-object-ownership", "BucketOwnerEnforced")], "ok"),
            ("CreateBucket", &[("x-amz-object-ownership", "ObjectWriter")], "ok"),
            ("CreateBucket", &[("x-amz-object-ownership", "Anyone")], "400 InvalidArgument"),
            ("UploadPart", SSE_C, "ok"),
            ("PutObject", SSE_C, "ok"),
            ("GetObject", SSE_C, "ok"),
            ("HeadObject", SSE_C, "ok"),
            ("UploadPartCopy", COPY_SSE_C, "ok"),
            ("CopyObject", COPY_SSE_C, "ok"),
            // A broken SSE-C set is AWS's 400 first: one header alone, a missing one, a wrong
            // MD5, another algorithm, a key of the wrong length.
            ("UploadPart", &SSE_C[1..2], "400 InvalidArgument"),
            ("PutObject", &SSE_C[1..], "400 InvalidArgument"),
            ("PutObject", &SSE_C[..2], "400 InvalidArgument"),
            ("PutObject", &SSE_C[..1], "400 InvalidArgument"),
            ("HeadObject", &SSE_C[2..], "400 InvalidArgument"),
            ("UploadPartCopy", &COPY_SSE_C[1..], "400 InvalidArgument"),
            (
                "PutObject",
                &[SSE_C[0], SSE_C[1], (SSE_C[2].0, "AAAAAAAAAAAAAAAAAAAAAA==")],
                "400 InvalidArgument",
            ),
            (
                "PutObject",
                &[(SSE_C[0].0, "AES128"), SSE_C[1], SSE_C[2]],
                "400 InvalidEncryptionAlgorithmError",
            ),
            ("PutObject", &[SSE_C[0], (SSE_C[1].0, "c2hvcnQ="), SSE_C[2]], "400 InvalidArgument"),
            // Contradicting encryption headers.
            (
                "PutObject",
                &[("x-amz-server-side-encryption", "AES256"), SSE_C[0], SSE_C[1], SSE_C[2]],
                "400 InvalidArgument",
            ),
            (
                "PutObject",
                &[
                    ("x-amz-server-side-encryption", "AES256"),
                    ("x-amz-server-side-encryption-aws-kms-key-id", "k"),
                ],
                "400 InvalidArgument",
            ),
            (
                "PutObject",
                &[("x-amz-server-side-encryption-aws-kms-key-id", "k")],
                "400 InvalidArgument",
            ),
            (
                "PutObject",
                &[
                    ("x-amz-server-side-encryption", "aws:kms"),
                    ("x-amz-server-side-encryption-aws-kms-key-id", "k"),
                ],
                "ok",
            ),
            // Copy-source SSE-C headers mean nothing on PutObject.
            ("PutObject", COPY_SSE_C, "ok"),
            // Headers of other operations are not looked at.
            ("GetObject", &[("x-amz-storage-class", "GLACIER")], "ok"),
            ("DeleteObject", &[("x-amz-object-lock-mode", "COMPLIANCE")], "ok"),
        ];
        for (op, headers, expected) in cases {
            check(op, headers, expected);
        }
    }

    #[test]
    fn scopes() {
        let scope = |op: &str, h: &str, v: &str| {
            check_feature_headers(op, |n| (n == h).then_some(v)).unwrap_err().scope
        };
        assert_eq!(
            scope("CreateBucket", "x-amz-bucket-object-lock-enabled", "maybe"),
            RefusalScope::Request
        );
        assert_eq!(
            scope("PutObject", "x-amz-server-side-encryption", "aws:kms:dsse"),
            RefusalScope::Bucket
        );
    }

    #[test]
    fn not_implemented_names_the_header() {
        // A valid encryption the gateway does not do.
        let r = check_feature_headers("PutObject", |n| {
            (n == "x-amz-server-side-encryption").then_some("aws:kms:dsse")
        })
        .unwrap_err();
        assert_eq!(r.error.code, ErrorCode::NotImplemented);
        assert!(r.error.message.contains("x-amz-server-side-encryption"), "{}", r.error.message);
        assert_eq!(r.error.extra("Header"), Some("x-amz-server-side-encryption"));
    }

    #[test]
    fn table_is_well_formed() {
        for (i, h) in FEATURE_HEADERS.iter().enumerate() {
            assert_eq!(h.name, h.name.to_ascii_lowercase(), "{}", h.name);
            assert!(!h.operations.is_empty(), "{}", h.name);
            // Honoured values must be valid ones.
            if let Support::Only(values) = h.support {
                for v in values {
                    assert!(h.valid.is_empty() || h.matches(v, h.valid), "{} {v}", h.name);
                }
            }
            // A header appears at most once per operation.
            for other in &FEATURE_HEADERS[i + 1..] {
                if other.name == h.name {
                    assert!(
                        !other.operations.iter().any(|o| h.operations.contains(o)),
                        "{} twice for one operation",
                        h.name
                    );
                }
            }
        }
    }

    #[test]
    fn expected_owner() {
        assert!(ExpectedOwners::check(None, "alice").is_ok());
        assert!(ExpectedOwners::check(Some("alice"), "alice").is_ok());
        assert_eq!(
            ExpectedOwners::check(Some("bob"), "alice").unwrap_err().code,
            ErrorCode::AccessDenied
        );
        let e = ExpectedOwners::from_headers(|n| {
            (n == "x-amz-source-expected-bucket-owner").then_some(" 1234 ")
        });
        assert_eq!(e, ExpectedOwners { bucket: None, source_bucket: Some("1234".into()) });
    }
}
