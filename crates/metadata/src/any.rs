//! [`AnyMetadata`]: the store chosen at run time (the trait is not object safe).

use std::time::SystemTime;

use crate::{
    Bucket, CommitOutcome, DeleteOptions, EncryptedVersion, IamChange, IamState, KeyAccess,
    KmsKeyRow, ListPage, ListQuery, LockChange, MetaError, MetadataStore, ObjectVersion, Part,
    RenameOptions, RetiredBlob, SqliteMetadata, Upload, UploadListQuery, UploadPage, User,
    VersionListQuery, VersionPage, Versioning, WriteCondition,
};

/// One of the persistent stores, delegating every call.
#[derive(Debug)]
pub enum AnyMetadata {
    /// The embedded store of one gateway.
    Sqlite(SqliteMetadata),
    /// A PostgreSQL database, possibly shared by several gateways.
    #[cfg(feature = "postgres")]
    Postgres(crate::PostgresMetadata),
}

impl AnyMetadata {
    /// Whether other processes may share this store (several gateways on one database): the
    /// caller must then never assume that nothing is in flight elsewhere.
    pub fn is_shared(&self) -> bool {
        match self {
            AnyMetadata::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            AnyMetadata::Postgres(_) => true,
        }
    }
}

/// Delegates `$call` to the variant's store.
macro_rules! delegate {
    ($self:ident, $m:ident => $call:expr) => {
        match $self {
            AnyMetadata::Sqlite($m) => $call.await,
            #[cfg(feature = "postgres")]
            AnyMetadata::Postgres($m) => $call.await,
        }
    };
}

impl MetadataStore for AnyMetadata {
    async fn create_user(&self, user: User) -> Result<(), MetaError> {
        delegate!(self, m => m.create_user(user))
    }

    async fn delete_user(&self, name: &str) -> Result<(), MetaError> {
        delegate!(self, m => m.delete_user(name))
    }

    async fn list_users(&self) -> Result<Vec<User>, MetaError> {
        delegate!(self, m => m.list_users())
    }

    async fn user_by_access_key(&self, access_key_id: &str) -> Result<Option<User>, MetaError> {
        delegate!(self, m => m.user_by_access_key(access_key_id))
    }

    async fn key_access(&self, access_key_id: &str) -> Result<Option<KeyAccess>, MetaError> {
        delegate!(self, m => m.key_access(access_key_id))
    }

    async fn change_iam(&self, change: IamChange) -> Result<(), MetaError> {
        delegate!(self, m => m.change_iam(change))
    }

    async fn iam_state(&self) -> Result<IamState, MetaError> {
        delegate!(self, m => m.iam_state())
    }

    async fn create_bucket(&self, bucket: Bucket) -> Result<(), MetaError> {
        delegate!(self, m => m.create_bucket(bucket))
    }

    async fn bucket(&self, name: &str) -> Result<Option<Bucket>, MetaError> {
        delegate!(self, m => m.bucket(name))
    }

    async fn delete_bucket(&self, name: &str) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.delete_bucket(name))
    }

    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<(), MetaError> {
        delegate!(self, m => m.set_bucket_versioning(name, versioning))
    }

    async fn list_buckets(&self, owner: Option<&str>) -> Result<Vec<Bucket>, MetaError> {
        delegate!(self, m => m.list_buckets(owner))
    }

    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<(), MetaError> {
        delegate!(self, m => m.insert_kms_key(key))
    }

    async fn kms_key(&self, key_id: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        delegate!(self, m => m.kms_key(key_id))
    }

    async fn kms_key_by_alias(&self, alias: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        delegate!(self, m => m.kms_key_by_alias(alias))
    }

    async fn kms_keys(&self) -> Result<Vec<KmsKeyRow>, MetaError> {
        delegate!(self, m => m.kms_keys())
    }

    async fn set_kms_key_enabled(&self, key_id: &str, enabled: bool) -> Result<bool, MetaError> {
        delegate!(self, m => m.set_kms_key_enabled(key_id, enabled))
    }

    async fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> Result<bool, MetaError> {
        delegate!(self, m => m.set_kms_key_material(key_id, material))
    }

    async fn bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, MetaError> {
        delegate!(self, m => m.bucket_config(bucket, kind))
    }

    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> Result<(), MetaError> {
        delegate!(self, m => m.put_bucket_config(bucket, kind, document))
    }

    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, String)>, MetaError> {
        delegate!(self, m => m.bucket_configs(bucket))
    }

    async fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.put_object(version, condition))
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectVersion>, MetaError> {
        delegate!(self, m => m.object(bucket, key))
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersion>, MetaError> {
        delegate!(self, m => m.object_version(bucket, key, version_id))
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.delete_object(bucket, key, opts))
    }

    async fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.rename_object(bucket, source_key, key, opts))
    }

    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String, MetaError> {
        delegate!(self, m => m.set_object_tags(bucket, key, version_id, tags))
    }

    async fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<Vec<EncryptedVersion>, MetaError> {
        delegate!(self, m => m.encrypted_versions(after, limit))
    }

    async fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> Result<bool, MetaError> {
        delegate!(self, m => m.replace_encryption(bucket, key, version_id, expected, record))
    }

    async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<String, MetaError> {
        delegate!(self, m => m.set_object_acl(bucket, key, version_id, acl))
    }

    async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: LockChange,
        now: SystemTime,
    ) -> Result<String, MetaError> {
        delegate!(self, m => m.set_object_lock(bucket, key, version_id, change, now))
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, MetaError> {
        delegate!(self, m => m.list_objects(bucket, query))
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> Result<VersionPage, MetaError> {
        delegate!(self, m => m.list_object_versions(bucket, query))
    }

    async fn create_upload(&self, upload: Upload) -> Result<(), MetaError> {
        delegate!(self, m => m.create_upload(upload))
    }

    async fn upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>, MetaError> {
        delegate!(self, m => m.upload(bucket, upload_id))
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.put_part(bucket, upload_id, part))
    }

    async fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> Result<(Vec<Part>, bool), MetaError> {
        delegate!(self, m => m.list_parts(bucket, upload_id, after, max))
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> Result<UploadPage, MetaError> {
        delegate!(self, m => m.list_uploads(bucket, query))
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.complete_upload(upload_id, version, condition))
    }

    async fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> Result<CommitOutcome, MetaError> {
        delegate!(self, m => m.abort_upload(bucket, upload_id))
    }

    async fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> Result<Vec<RetiredBlob>, MetaError> {
        delegate!(self, m => m.retired_blobs(before, limit))
    }

    async fn forget_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        delegate!(self, m => m.forget_blobs(blob_ids))
    }

    async fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> Result<(), MetaError> {
        delegate!(self, m => m.renew_leases(holder, blob_ids, expires))
    }

    async fn known_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        delegate!(self, m => m.known_blobs(blob_ids))
    }
}
