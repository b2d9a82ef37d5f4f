//! Sub-resources (`?versioning`, `?acl`, `?tagging`, …) as data.
//!
//! Every sub-resource S3 has on a bucket or an object is one row of [`SUBRESOURCES`]: its query
//! parameter, where it lives, the operation and IAM permission of each method, and its state
//! in this gateway. Routing, operation names and permission names all come from this table, so
//! adding a bucket configuration is a row (plus its validator and store) rather than new arms
//! in several matches.
//!
//! A configuration the gateway cannot set yet is [`State::Unset`]: a GET answers what AWS
//! answers for a bucket (or object) on which it was never set ([`Unset`]), which is the truth
//! here; PUT and DELETE answer `501 NotImplemented`.

use crate::error::{ErrorCode, S3Error};
use crate::xml::{PROLOG, S3_NAMESPACE};

/// Where a sub-resource lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/bucket?name`.
    Bucket,
    /// `/bucket/key?name`.
    Object,
}

/// One method of a sub-resource: its S3 operation and the IAM action that authorizes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    /// S3 API name, e.g. `GetBucketVersioning`.
    pub operation: &'static str,
    /// IAM action without the `s3:` prefix, e.g. `GetBucketVersioning`.
    pub permission: &'static str,
}

/// What a GET of a configuration that is not set answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// `200` with an empty document whose root element is this (S3 namespace).
    Empty(&'static str),
    /// `200` with `<root><child>text</child></root>` (S3 namespace).
    Document {
        /// Root element.
        root: &'static str,
        /// The one child element.
        child: &'static str,
        /// Its text.
        text: &'static str,
    },
    /// An S3 error with this code and message.
    Error(ErrorCode, &'static str),
}

/// What the gateway does with a sub-resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Implemented by its own operations (see `route`).
    Built,
    /// Kept in the bucket configuration store under the row's query name and answered by the
    /// server's handler for it: routed as [`crate::Operation::BucketConfig`]. An object row
    /// is kept on the version in the metadata store: [`crate::Operation::ObjectConfig`].
    Stored,
    /// Not settable yet: GET answers this, other methods `501`.
    Unset(Unset),
    /// Not implemented at all: every method answers `501 NotImplemented`.
    NotImplemented,
}

/// One sub-resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubResource {
    /// The query parameter that names it.
    pub query: &'static str,
    /// Bucket or object.
    pub scope: Scope,
    /// GET.
    pub get: Option<Verb>,
    /// PUT.
    pub put: Option<Verb>,
    /// DELETE.
    pub delete: Option<Verb>,
    /// What the gateway does.
    pub state: State,
}

impl SubResource {
    /// The verb of an HTTP method, if S3 defines one.
    pub fn verb(&self, method: &str) -> Option<Verb> {
        match method {
            "GET" => self.get,
            "PUT" => self.put,
            "DELETE" => self.delete,
            _ => None,
        }
    }

    /// The row for `query` in `scope`.
    pub fn find(scope: Scope, query: &str) -> Option<&'static SubResource> {
        SUBRESOURCES.iter().find(|s| s.scope == scope && s.query == query)
    }
}

#[allow(clippy::unnecessary_wraps, reason = "table rows read best as `verb(..)` or `None`")]
const fn verb(operation: &'static str, permission: &'static str) -> Option<Verb> {
    Some(Verb { operation, permission })
}

/// A bucket configuration with GET/PUT/DELETE.
const fn config(
    query: &'static str,
    get: Option<Verb>,
    put: Option<Verb>,
    delete: Option<Verb>,
    state: State,
) -> SubResource {
    SubResource { query, scope: Scope::Bucket, get, put, delete, state }
}

const fn not_found(code: ErrorCode, message: &'static str) -> State {
    State::Unset(Unset::Error(code, message))
}

/// Every sub-resource S3 defines on buckets and objects.
pub const SUBRESOURCES: &[SubResource] = &[
    // ---- built: routed to their own operations ----
    config(
        "versioning",
        verb("GetBucketVersioning", "GetBucketVersioning"),
        verb("PutBucketVersioning", "PutBucketVersioning"),
        None,
        State::Built,
    ),
    config("versions", verb("ListObjectVersions", "ListBucketVersions"), None, None, State::Built),
    // ---- bucket configurations not settable yet: GET answers "not set" ----
    config(
        "policy",
        verb("GetBucketPolicy", "GetBucketPolicy"),
        verb("PutBucketPolicy", "PutBucketPolicy"),
        verb("DeleteBucketPolicy", "DeleteBucketPolicy"),
        State::Stored,
    ),
    config(
        "policyStatus",
        verb("GetBucketPolicyStatus", "GetBucketPolicyStatus"),
        None,
        None,
        State::Stored,
    ),
    config(
        "notification",
        verb("GetBucketNotificationConfiguration", "GetBucketNotification"),
        verb("PutBucketNotificationConfiguration", "PutBucketNotification"),
        None,
        State::Unset(Unset::Empty("NotificationConfiguration")),
    ),
    config(
        "cors",
        verb("GetBucketCors", "GetBucketCORS"),
        verb("PutBucketCors", "PutBucketCORS"),
        verb("DeleteBucketCors", "PutBucketCORS"),
        State::Built,
    ),
    config(
        "lifecycle",
        verb("GetBucketLifecycleConfiguration", "GetLifecycleConfiguration"),
        verb("PutBucketLifecycleConfiguration", "PutLifecycleConfiguration"),
        verb("DeleteBucketLifecycle", "PutLifecycleConfiguration"),
        not_found(
            ErrorCode::NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist",
        ),
    ),
    config(
        "object-lock",
        verb("GetObjectLockConfiguration", "GetBucketObjectLockConfiguration"),
        verb("PutObjectLockConfiguration", "PutBucketObjectLockConfiguration"),
        None,
        State::Stored,
    ),
    config(
        "encryption",
        verb("GetBucketEncryption", "GetEncryptionConfiguration"),
        verb("PutBucketEncryption", "PutEncryptionConfiguration"),
        verb("DeleteBucketEncryption", "PutEncryptionConfiguration"),
        State::Stored,
    ),
    config(
        "website",
        verb("GetBucketWebsite", "GetBucketWebsite"),
        verb("PutBucketWebsite", "PutBucketWebsite"),
        verb("DeleteBucketWebsite", "DeleteBucketWebsite"),
        State::Stored,
    ),
    config(
        "replication",
        verb("GetBucketReplication", "GetReplicationConfiguration"),
        verb("PutBucketReplication", "PutReplicationConfiguration"),
        verb("DeleteBucketReplication", "PutReplicationConfiguration"),
        not_found(
            ErrorCode::ReplicationConfigurationNotFoundError,
            "The replication configuration was not found",
        ),
    ),
    config(
        "publicAccessBlock",
        verb("GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
        verb("PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
        verb("DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
        State::Stored,
    ),
    config(
        "ownershipControls",
        verb("GetBucketOwnershipControls", "GetBucketOwnershipControls"),
        verb("PutBucketOwnershipControls", "PutBucketOwnershipControls"),
        verb("DeleteBucketOwnershipControls", "PutBucketOwnershipControls"),
        State::Stored,
    ),
    config(
        "tagging",
        verb("GetBucketTagging", "GetBucketTagging"),
        verb("PutBucketTagging", "PutBucketTagging"),
        verb("DeleteBucketTagging", "PutBucketTagging"),
        State::Stored,
    ),
    config(
        "acl",
        verb("GetBucketAcl", "GetBucketAcl"),
        verb("PutBucketAcl", "PutBucketAcl"),
        None,
        State::Stored,
    ),
    config(
        "logging",
        verb("GetBucketLogging", "GetBucketLogging"),
        verb("PutBucketLogging", "PutBucketLogging"),
        None,
        State::Unset(Unset::Empty("BucketLoggingStatus")),
    ),
    config(
        "accelerate",
        verb("GetBucketAccelerateConfiguration", "GetAccelerateConfiguration"),
        verb("PutBucketAccelerateConfiguration", "PutAccelerateConfiguration"),
        None,
        State::Unset(Unset::Empty("AccelerateConfiguration")),
    ),
    config(
        "requestPayment",
        verb("GetBucketRequestPayment", "GetBucketRequestPayment"),
        verb("PutBucketRequestPayment", "PutBucketRequestPayment"),
        None,
        State::Unset(Unset::Document {
            root: "RequestPaymentConfiguration",
            child: "Payer",
            text: "BucketOwner",
        }),
    ),
    // ---- bucket sub-resources not implemented at all ----
    config(
        "analytics",
        verb("GetBucketAnalyticsConfiguration", "GetAnalyticsConfiguration"),
        verb("PutBucketAnalyticsConfiguration", "PutAnalyticsConfiguration"),
        verb("DeleteBucketAnalyticsConfiguration", "PutAnalyticsConfiguration"),
        State::NotImplemented,
    ),
    config(
        "intelligent-tiering",
        verb("GetBucketIntelligentTieringConfiguration", "GetIntelligentTieringConfiguration"),
        verb("PutBucketIntelligentTieringConfiguration", "PutIntelligentTieringConfiguration"),
        verb("DeleteBucketIntelligentTieringConfiguration", "PutIntelligentTieringConfiguration"),
        State::NotImplemented,
    ),
    config(
        "inventory",
        verb("GetBucketInventoryConfiguration", "GetInventoryConfiguration"),
        verb("PutBucketInventoryConfiguration", "PutInventoryConfiguration"),
        verb("DeleteBucketInventoryConfiguration", "PutInventoryConfiguration"),
        State::NotImplemented,
    ),
    config(
        "metrics",
        verb("GetBucketMetricsConfiguration", "GetMetricsConfiguration"),
        verb("PutBucketMetricsConfiguration", "PutMetricsConfiguration"),
        verb("DeleteBucketMetricsConfiguration", "PutMetricsConfiguration"),
        State::NotImplemented,
    ),
    config(
        "metadataConfiguration",
        verb("GetBucketMetadataConfiguration", "GetBucketMetadataTableConfiguration"),
        None,
        verb("DeleteBucketMetadataConfiguration", "DeleteBucketMetadataTableConfiguration"),
        State::NotImplemented,
    ),
    config(
        "metadataTable",
        verb("GetBucketMetadataTableConfiguration", "GetBucketMetadataTableConfiguration"),
        None,
        verb("DeleteBucketMetadataTableConfiguration", "DeleteBucketMetadataTableConfiguration"),
        State::NotImplemented,
    ),
    config("session", verb("CreateSession", "CreateSession"), None, None, State::NotImplemented),
    // A bucket has no attributes; its `?attributes` is not an S3 operation.
    config("attributes", None, None, None, State::NotImplemented),
    // ---- objects ----
    SubResource {
        query: "tagging",
        scope: Scope::Object,
        get: verb("GetObjectTagging", "GetObjectTagging"),
        put: verb("PutObjectTagging", "PutObjectTagging"),
        delete: verb("DeleteObjectTagging", "DeleteObjectTagging"),
        state: State::Built,
    },
    SubResource {
        query: "attributes",
        scope: Scope::Object,
        get: verb("GetObjectAttributes", "GetObjectAttributes"),
        put: None,
        delete: None,
        state: State::Built,
    },
    SubResource {
        query: "acl",
        scope: Scope::Object,
        get: verb("GetObjectAcl", "GetObjectAcl"),
        put: verb("PutObjectAcl", "PutObjectAcl"),
        delete: None,
        state: State::Stored,
    },
    SubResource {
        query: "legal-hold",
        scope: Scope::Object,
        get: verb("GetObjectLegalHold", "GetObjectLegalHold"),
        put: verb("PutObjectLegalHold", "PutObjectLegalHold"),
        delete: None,
        state: State::Stored,
    },
    SubResource {
        query: "retention",
        scope: Scope::Object,
        get: verb("GetObjectRetention", "GetObjectRetention"),
        put: verb("PutObjectRetention", "PutObjectRetention"),
        delete: None,
        state: State::Stored,
    },
    SubResource {
        query: "torrent",
        scope: Scope::Object,
        get: verb("GetObjectTorrent", "GetObject"),
        put: None,
        delete: None,
        state: State::NotImplemented,
    },
    SubResource {
        query: "restore",
        scope: Scope::Object,
        get: None,
        put: None,
        delete: None,
        state: State::NotImplemented,
    },
    SubResource {
        query: "select",
        scope: Scope::Object,
        get: None,
        put: None,
        delete: None,
        state: State::NotImplemented,
    },
];

/// The answer to a GET of an unset configuration of a bucket (or object): the 200 body, or
/// the error AWS sends when it was never set.
pub fn unset_answer(unset: &Unset) -> Result<String, S3Error> {
    match unset {
        Unset::Empty(root) => Ok(format!("{PROLOG}<{root} xmlns=\"{S3_NAMESPACE}\"/>")),
        Unset::Document { root, child, text } => Ok(format!(
            "{PROLOG}<{root} xmlns=\"{S3_NAMESPACE}\"><{child}>{text}</{child}></{root}>"
        )),
        Unset::Error(code, message) => Err(S3Error::with_message(*code, *message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unique_and_named_consistently() {
        for (i, s) in SUBRESOURCES.iter().enumerate() {
            assert!(
                !SUBRESOURCES[i + 1..].iter().any(|o| o.query == s.query && o.scope == s.scope),
                "{} twice",
                s.query
            );
            for (method, v) in [("GET", s.get), ("PUT", s.put), ("DELETE", s.delete)] {
                if let Some(v) = v {
                    let prefix = match method {
                        "GET" => ["Get", "List", "Create"],
                        "PUT" => ["Put", "Put", "Put"],
                        _ => ["Delete", "Delete", "Delete"],
                    };
                    assert!(
                        prefix.iter().any(|p| v.operation.starts_with(p)),
                        "{method} {}: {}",
                        s.query,
                        v.operation
                    );
                    assert!(!v.permission.contains(':'), "{}", v.permission);
                }
            }
            // An unset configuration has a GET to answer with.
            if matches!(s.state, State::Unset(_)) {
                assert!(s.get.is_some(), "{}", s.query);
            }
        }
    }

    #[test]
    fn documents() {
        assert_eq!(
            unset_answer(&Unset::Empty("VersioningConfiguration")).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        );
        let payer = SubResource::find(Scope::Bucket, "requestPayment").unwrap();
        let State::Unset(u) = payer.state else { panic!("requestPayment is unset") };
        assert!(unset_answer(&u).unwrap().ends_with(
            "<RequestPaymentConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Payer>BucketOwner</Payer></RequestPaymentConfiguration>"
        ));
        for row in SUBRESOURCES {
            if let State::Unset(u @ Unset::Error(code, _)) = row.state {
                let err = unset_answer(&u).unwrap_err();
                assert_eq!(err.code, code, "{}", row.query);
            }
        }
    }
}
