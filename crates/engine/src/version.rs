//! Version references: the one place where a request's `versionId` is resolved to a version.
//!
//! Every operation that can name a version (GET, HEAD, DeleteObject, DeleteObjects entries,
//! copy sources, tagging, GetObjectAttributes) parses its `versionId` with
//! [`VersionRef::parse`] and resolves it with `Engine::resolve_version`, so the rule for ids the
//! gateway never issued is written once. An unknown id must never fall back to the current
//! version: a DeleteObject that did so would delete data the client did not name.

use s3gate_metadata::{
    MetaError, MetadataStore, NULL_VERSION, ObjectVersion, VersionListQuery, VersionPage,
    Versioning, is_version_id,
};
use s3gate_protocol::{BucketName, ErrorCode, ObjectKey, S3Error};
use s3gate_storage_backend::BlobStore;

use crate::api::Caller;
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
    /// A version id shaped like the ids the gateway issues.
    Id(String),
}

impl VersionRef {
    /// Parses a request's `versionId` (query parameter, copy source, or DeleteObjects entry).
    ///
    /// An id not shaped like those the gateway issues ([`s3gate_metadata::version_id`]) is
    /// malformed: 400 `InvalidArgument`, as AWS answers an id it could not have issued. Nothing
    /// is read or changed before this check.
    pub fn parse(version_id: Option<&str>) -> Result<Self, EngineError> {
        match version_id {
            None => Ok(VersionRef::Current),
            Some(NULL_VERSION) => Ok(VersionRef::Null),
            Some(id) if is_version_id(id) => Ok(VersionRef::Id(id.to_owned())),
            Some(_) => Err(invalid_version_id()),
        }
    }

    /// The version id named, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            VersionRef::Current => None,
            VersionRef::Null => Some(NULL_VERSION),
            VersionRef::Id(id) => Some(id),
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
    /// The version or delete marker `version` names, as stored.
    pub(crate) async fn lookup_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
    ) -> Result<Option<ObjectVersion>, EngineError> {
        Ok(self.metadata().object_version(bucket.as_str(), key.as_str(), version.id()).await?)
    }

    /// The version `version` names, or `None` when it does not exist (or is a delete marker).
    pub(crate) async fn resolve_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
    ) -> Result<Option<ObjectVersion>, EngineError> {
        let v = self.lookup_version(bucket, key, version).await?;
        Ok(v.filter(|v| !v.is_delete_marker))
    }

    /// The version a read (GET, HEAD, tagging, attributes, copy source) addresses, or AWS's
    /// error for it: `NoSuchKey` without a version id, `NoSuchVersion` for an unknown id, and
    /// [`EngineError::DeleteMarker`] when it is a delete marker.
    pub(crate) async fn readable_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
    ) -> Result<ObjectVersion, EngineError> {
        match self.lookup_version(bucket, key, version).await? {
            Some(v) if !v.is_delete_marker => Ok(v),
            Some(marker) => Err(EngineError::DeleteMarker {
                version_id: marker.version_id,
                last_modified: marker.last_modified,
                addressed: *version != VersionRef::Current,
            }),
            None if *version == VersionRef::Current => Err(EngineError::NoSuchKey),
            None => Err(EngineError::NoSuchVersion),
        }
    }
}

/// ListObjectVersions.
#[derive(Debug, Clone, Default)]
pub struct ListVersionsRequest {
    /// Prefix.
    pub prefix: String,
    /// Delimiter (`None` also for an empty delimiter).
    pub delimiter: Option<String>,
    /// `key-marker`.
    pub key_marker: Option<String>,
    /// `version-id-marker` (with a key marker).
    pub version_id_marker: Option<String>,
    /// 0..=1000.
    pub max_keys: u32,
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// GetBucketVersioning: the bucket's versioning state.
    pub async fn bucket_versioning(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<Versioning, EngineError> {
        Ok(self.owned_bucket(caller, bucket).await?.versioning)
    }

    /// PutBucketVersioning: enables or suspends versioning (a bucket never returns to
    /// unversioned; asking for that is the caller's error to refuse before this).
    pub async fn set_bucket_versioning(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        versioning: Versioning,
    ) -> Result<(), EngineError> {
        self.owned_bucket(caller, bucket).await?;
        self.check_versioning_change(bucket, versioning).await?;
        match self.metadata().set_bucket_versioning(bucket.as_str(), versioning).await {
            Err(MetaError::Conflict) => Err(EngineError::InvalidRequest(
                "A versioned bucket cannot become unversioned.".into(),
            )),
            other => {
                other?;
                self.recheck_versioning_change(bucket, versioning).await
            }
        }
    }

    /// ListObjectVersions: one page of versions and delete markers. A malformed
    /// `version-id-marker` is AWS's 400 `InvalidArgument`.
    pub async fn list_object_versions(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        req: &ListVersionsRequest,
    ) -> Result<VersionPage, EngineError> {
        if let Some(v) = &req.version_id_marker
            && !is_version_id(v)
        {
            return Err(EngineError::Protocol(
                S3Error::with_message(ErrorCode::InvalidArgument, "Invalid version id specified")
                    .with_extra("ArgumentName", "version-id-marker")
                    .with_extra("ArgumentValue", v),
            ));
        }
        self.owned_bucket(caller, bucket).await?;
        let query = VersionListQuery {
            prefix: req.prefix.clone(),
            delimiter: req.delimiter.clone().filter(|d| !d.is_empty()),
            key_marker: req.key_marker.clone().filter(|k| !k.is_empty()),
            version_id_marker: req.version_id_marker.clone(),
            max_keys: req.max_keys.min(1000),
        };
        Ok(self.metadata().list_object_versions(bucket.as_str(), &query).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ids_the_gateway_issues_and_refuses_the_rest() {
        assert_eq!(VersionRef::parse(None).unwrap(), VersionRef::Current);
        assert_eq!(VersionRef::parse(Some("null")).unwrap(), VersionRef::Null);
        let id = s3gate_metadata::version_id(1_700_000_000_000_000_000, 0xabc);
        assert_eq!(VersionRef::parse(Some(&id)).unwrap(), VersionRef::Id(id.clone()));
        let upper = id.to_ascii_uppercase();
        for bogus in ["X", "", "NULL", "3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", &upper, &id[1..]] {
            match VersionRef::parse(Some(bogus)) {
                Err(EngineError::Protocol(e)) => assert_eq!(e.code, ErrorCode::InvalidArgument),
                other => panic!("{bogus:?}: {other:?}"),
            }
        }
    }
}
