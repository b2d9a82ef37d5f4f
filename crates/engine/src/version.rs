//! Version references: the one place where a request's `versionId` is resolved to a version.
//!
//! Every operation that can name a version (GET, HEAD, DeleteObject, DeleteObjects entries,
//! copy sources, tagging, GetObjectAttributes) parses its `versionId` with
//! [`VersionRef::parse`] and resolves it with `Engine::resolve_version`, so the rule for ids the
//! gateway never issued is written once. An unknown id must never fall back to the current
//! version: a DeleteObject that did so would delete data the client did not name.

use s3gate_metadata::{MetadataStore, NULL_VERSION, ObjectVersion};
use s3gate_protocol::{BucketName, ErrorCode, ObjectKey, S3Error};
use s3gate_storage_backend::BlobStore;

use crate::engine::Engine;
use crate::error::EngineError;

/// Which version of a key a request addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VersionRef {
    /// No `versionId`: the current version.
    #[default]
    Current,
    /// `versionId=null`: the version written while the bucket was unversioned.
    Null,
    /// A version id the gateway issued.
    Id(String),
}

impl VersionRef {
    /// Parses a request's `versionId` (query parameter, copy source, or DeleteObjects entry).
    ///
    /// s3gate has issued no version ids other than `null` (buckets are not versioned yet), so any
    /// other value is malformed: 400 `InvalidArgument`, as AWS answers an id it could not have
    /// issued. Nothing is read or changed before this check.
    pub fn parse(version_id: Option<&str>) -> Result<Self, EngineError> {
        match version_id {
            None => Ok(VersionRef::Current),
            Some(NULL_VERSION) => Ok(VersionRef::Null),
            Some(_) => Err(invalid_version_id()),
        }
    }
}

fn invalid_version_id() -> EngineError {
    EngineError::Protocol(
        S3Error::with_message(ErrorCode::InvalidArgument, "Invalid version id specified")
            .with_extra("ArgumentName", "versionId"),
    )
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// The version `version` names, or `None` when it does not exist (or is a delete marker).
    pub(crate) async fn resolve_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
    ) -> Result<Option<ObjectVersion>, EngineError> {
        let current = self.metadata().object(bucket.as_str(), key.as_str()).await?;
        Ok(match version {
            VersionRef::Current => current,
            VersionRef::Null => current.filter(|v| v.version_id == NULL_VERSION),
            VersionRef::Id(_) => return Err(invalid_version_id()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ids_the_gateway_issues_and_refuses_the_rest() {
        assert_eq!(VersionRef::parse(None).unwrap(), VersionRef::Current);
        assert_eq!(VersionRef::parse(Some("null")).unwrap(), VersionRef::Null);
        for bogus in ["X", "", "NULL", "3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"] {
            match VersionRef::parse(Some(bogus)) {
                Err(EngineError::Protocol(e)) => assert_eq!(e.code, ErrorCode::InvalidArgument),
                other => panic!("{bogus:?}: {other:?}"),
            }
        }
    }
}
