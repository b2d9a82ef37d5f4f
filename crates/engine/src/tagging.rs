//! Object tagging and GetObjectAttributes: metadata-only operations on one version.

use s3gate_metadata::{MetaError, MetadataStore, ObjectVersion};
use s3gate_protocol::{BucketName, ObjectKey, check_tag_set};
use s3gate_storage_backend::BlobStore;

use crate::api::Caller;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::version::VersionRef;

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// The version a metadata-only read addresses.
    async fn version(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion, EngineError> {
        let version = VersionRef::parse(version_id)?;
        self.owned_bucket(caller, bucket).await?;
        self.readable_version(bucket, key, &version).await
    }

    /// GetObjectTagging: the version id and its tags in stored order.
    pub async fn object_tagging(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<(String, Vec<(String, String)>), EngineError> {
        let v = self.version(caller, bucket, key, version_id).await?;
        Ok((v.version_id, v.tags))
    }

    /// PutObjectTagging (an empty set is DeleteObjectTagging): replaces the tag set of the
    /// version after checking S3's limits; returns the version id.
    pub async fn put_object_tagging(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String, EngineError> {
        check_tag_set(&tags)?;
        let version = VersionRef::parse(version_id)?;
        self.owned_bucket(caller, bucket).await?;
        let target = self.readable_version(bucket, key, &version).await?;
        // Removing the tags (DeleteObjectTagging) frees space; setting them may grow the row.
        if !tags.is_empty() {
            self.room_for_metadata()?;
        }
        match self
            .metadata()
            .set_object_tags(bucket.as_str(), key.as_str(), Some(&target.version_id), tags)
            .await
        {
            Err(MetaError::NoSuchKey) => Err(EngineError::NoSuchKey),
            other => Ok(other?),
        }
    }

    /// GetObjectAttributes: the version whose attributes the server reports.
    pub async fn object_attributes(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion, EngineError> {
        self.version(caller, bucket, key, version_id).await
    }
}
