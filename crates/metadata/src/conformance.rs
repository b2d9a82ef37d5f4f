//! The conformance suite every [`MetadataStore`] implementation must pass.
//!
//! Each case is a public async function taking a fresh, empty store; [`CASES`] names them all.
//! [`crate::conformance_tests!`] turns the list into one `#[tokio::test]` per case for an
//! implementation, so a failure names its case:
//!
//! ```text
//! s3gate_metadata::conformance_tests!((s3gate_metadata::MemMetadata::new(), ()));
//! ```
//!
//! Failures panic with a message; the suite is compiled into the library (not `cfg(test)`) so
//! that implementations living elsewhere (PostgreSQL) run the very same cases.
#![allow(clippy::unwrap_used, reason = "a conformance suite reports failures by panicking")]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::{
    AccessKey, AppliedPolicy, Attachee, Bucket, CommitOutcome, DeleteOptions, IamChange, IamEntity,
    IamState, KeyAccess, KmsKeyRow, ListEntry, ListPage, ListQuery, LockChange, LockMode,
    MetaError, MetadataStore, NULL_VERSION, ObjectLock, ObjectPart, ObjectVersion, Part,
    RenameOptions, Retention, StoredPolicy, Upload, UploadListEntry, UploadListQuery, User,
    VersionListEntry, VersionListQuery, VersionPage, Versioning, WriteCondition,
};

/// Names of every case, in the order [`crate::conformance_tests!`] generates them.
pub const CASES: &[&str] = &[
    "users",
    "buckets",
    "delete_bucket_aborts_uploads",
    "put_get_overwrite",
    "object_tags",
    "shared_blobs",
    "revived_blob_is_not_forgotten",
    "conditions_on_put",
    "conditions_on_delete",
    "conditions_on_complete",
    "delete_missing_key",
    "keys_with_slashes_coexist",
    "list_prefix_and_delimiter",
    "list_start_after",
    "list_max_keys_and_truncation",
    "parts",
    "list_uploads",
    "complete_upload",
    "abort_upload",
    "retired_blobs_order",
    "forget_and_known_blobs",
    "leased_blobs_are_kept",
    "random_listing_model",
    "bucket_configs",
    "versioning_state",
    "versioned_puts_stack",
    "delete_markers",
    "null_version_rules",
    "version_tags",
    "conditions_with_markers",
    "list_versions_markers",
    "random_version_model",
    "encryption_records",
    "encrypted_versions_and_rewrap",
    "object_lock",
    "kms_keys",
    "object_acls",
    "storage_classes",
    "iam_groups",
    "iam_policies",
    "iam_access_keys",
    "iam_key_access",
];

/// Generates one `#[tokio::test]` per conformance case. `$make` is an expression evaluated
/// afresh for each test (inside the async test, so it may `.await`), giving `(store, guard)`;
/// the guard (a temporary directory, say) lives until the case ends.
///
/// `conformance_tests!(optional: $make)` takes an `Option<(store, guard)>` instead: `None`
/// (a store needing a service that is not configured; `$make` prints why) ends the test.
#[macro_export]
macro_rules! conformance_tests {
    (optional: $make:expr) => {
        $crate::conformance_tests!(@cases $make;
            users buckets delete_bucket_aborts_uploads put_get_overwrite object_tags shared_blobs
            revived_blob_is_not_forgotten conditions_on_put conditions_on_delete
            conditions_on_complete delete_missing_key keys_with_slashes_coexist
            list_prefix_and_delimiter list_start_after list_max_keys_and_truncation parts
            list_uploads complete_upload abort_upload retired_blobs_order
            forget_and_known_blobs leased_blobs_are_kept random_listing_model bucket_configs
            versioning_state versioned_puts_stack delete_markers null_version_rules
            version_tags conditions_with_markers list_versions_markers random_version_model
            encryption_records encrypted_versions_and_rewrap object_lock kms_keys
            rename_unversioned rename_versioned rename_conditions_and_tokens object_acls
            storage_classes iam_groups iam_policies iam_access_keys iam_key_access);
    };
    ($make:expr) => {
        $crate::conformance_tests!(@cases Some($make);
            users buckets delete_bucket_aborts_uploads put_get_overwrite object_tags shared_blobs
            revived_blob_is_not_forgotten conditions_on_put conditions_on_delete
            conditions_on_complete delete_missing_key keys_with_slashes_coexist
            list_prefix_and_delimiter list_start_after list_max_keys_and_truncation parts
            list_uploads complete_upload abort_upload retired_blobs_order
            forget_and_known_blobs leased_blobs_are_kept random_listing_model bucket_configs
            versioning_state versioned_puts_stack delete_markers null_version_rules
            version_tags conditions_with_markers list_versions_markers random_version_model
            encryption_records encrypted_versions_and_rewrap object_lock kms_keys
            rename_unversioned rename_versioned rename_conditions_and_tokens object_acls
            storage_classes iam_groups iam_policies iam_access_keys iam_key_access);
    };
    (@cases $make:expr; $($case:ident)*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make else { return };
                $crate::conformance::$case(&store).await;
            }
        )*
    };
}

fn t(secs: u64, nanos: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000 + secs, nanos)
}

fn user(name: &str, key: &str) -> User {
    User {
        name: name.into(),
        access_key_id: key.into(),
        secret_key: format!("secret-{name}"),
        is_root: name == "root",
        created: t(1, 123_456_789),
    }
}

fn bucket(name: &str, owner: &str) -> Bucket {
    Bucket {
        name: name.into(),
        owner: owner.into(),
        region: "us-east-1".into(),
        created: t(2, 5),
        versioning: Versioning::Unversioned,
    }
}

/// A delete without a version id by alice, under `condition`.
fn del(condition: WriteCondition) -> DeleteOptions {
    DeleteOptions {
        version_id: None,
        condition,
        owner: "alice".into(),
        now: t(9, 0),
        bypass_governance: false,
    }
}

/// A delete of exactly version `id`.
fn del_version(id: &str) -> DeleteOptions {
    DeleteOptions { version_id: Some(id.into()), ..del(WriteCondition::None) }
}

/// An object of `bucket`/`key` with one part per blob (each 10 bytes).
fn obj(bucket: &str, key: &str, etag: &str, blobs: &[&str]) -> ObjectVersion {
    let parts: Vec<ObjectPart> = blobs
        .iter()
        .zip(1..)
        .map(|(b, n)| ObjectPart {
            part_number: n,
            blob_id: (*b).into(),
            blob_offset: u64::from(n) * 3,
            size: 10,
            etag: format!("{etag}{n}"),
            checksum: (n == 1).then(|| "AAAAAA==".into()),
            salt: None,
        })
        .collect();
    ObjectVersion {
        bucket: bucket.into(),
        key: key.into(),
        version_id: NULL_VERSION.into(),
        is_delete_marker: false,
        size: 10 * parts.len() as u64,
        etag: etag.into(),
        last_modified: t(3, 999_999_999),
        owner: "alice".into(),
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-amz-meta-b".into(), "2".into()),
            ("x-amz-meta-a".into(), "1 é".into()),
        ],
        tags: vec![("k".into(), "v".into())],
        checksum_algorithm: Some("CRC32".into()),
        checksum_type: Some("FULL_OBJECT".into()),
        checksum: Some("AAAAAA==".into()),
        parts,
        encryption: None,
        lock: ObjectLock::default(),
        acl: None,
        storage_class: None,
    }
}

fn plain(bucket: &str, key: &str) -> ObjectVersion {
    let mut v = obj(bucket, key, "e", &[]);
    v.headers.clear();
    v.tags.clear();
    v.checksum_algorithm = None;
    v.checksum_type = None;
    v.checksum = None;
    v
}

fn upload(bucket: &str, key: &str, id: &str, initiated: SystemTime) -> Upload {
    Upload {
        upload_id: id.into(),
        bucket: bucket.into(),
        key: key.into(),
        initiated,
        owner: "alice".into(),
        headers: vec![("content-type".into(), "a/b".into())],
        tags: vec![],
        checksum_algorithm: Some("SHA256".into()),
        checksum_type: None,
        encryption: None,
        lock: ObjectLock::default(),
        acl: Some("upload-acl".into()),
        storage_class: None,
    }
}

fn part(n: u32, blob: &str) -> Part {
    Part {
        part_number: n,
        blob_id: blob.into(),
        blob_offset: 7,
        size: 5 << 20,
        etag: format!("etag{n}"),
        checksum: None,
        last_modified: t(4, n),
        salt: None,
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn outcome(retired: &[&str], replaced: bool) -> CommitOutcome {
    CommitOutcome { retired_blobs: strs(retired), replaced, ..CommitOutcome::default() }
}

async fn setup(m: &impl MetadataStore) {
    m.create_bucket(bucket("bk", "alice")).await.unwrap();
}

fn keys(page: &ListPage) -> Vec<String> {
    page.entries
        .iter()
        .map(|e| match e {
            ListEntry::Object(o) => o.key.clone(),
            ListEntry::CommonPrefix(p) => format!("{p}*"),
        })
        .collect()
}

fn query(prefix: &str, delimiter: Option<&str>, start_after: Option<&str>, max: u32) -> ListQuery {
    ListQuery {
        prefix: prefix.into(),
        delimiter: delimiter.map(Into::into),
        start_after: start_after.map(Into::into),
        max_keys: max,
    }
}

async fn retired_ids(m: &impl MetadataStore) -> Vec<String> {
    let far = SystemTime::now() + Duration::from_hours(1);
    let mut ids: Vec<String> =
        m.retired_blobs(far, 1000).await.unwrap().into_iter().map(|r| r.blob_id).collect();
    ids.sort();
    ids
}

/// Users: create, duplicate name or access key, list, lookup, delete.
pub async fn users(m: &impl MetadataStore) {
    assert!(m.list_users().await.unwrap().is_empty());
    m.create_user(user("bob", "AK2")).await.unwrap();
    m.create_user(user("alice", "AK1")).await.unwrap();
    assert!(matches!(m.create_user(user("alice", "AK3")).await, Err(MetaError::UserExists)));
    assert!(matches!(m.create_user(user("carol", "AK1")).await, Err(MetaError::UserExists)));
    let names: Vec<String> = m.list_users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, strs(&["alice", "bob"]));
    assert_eq!(m.user_by_access_key("AK1").await.unwrap(), Some(user("alice", "AK1")));
    assert_eq!(m.user_by_access_key("AK3").await.unwrap(), None);
    m.delete_user("alice").await.unwrap();
    assert!(matches!(m.delete_user("alice").await, Err(MetaError::NoSuchUser)));
    assert_eq!(m.user_by_access_key("AK1").await.unwrap(), None);
    // The freed access key can be reused; the name never: a new alice would inherit the
    // removed one's buckets.
    assert!(matches!(m.create_user(user("alice", "AK9")).await, Err(MetaError::UserExists)));
    m.create_user(user("carol", "AK1")).await.unwrap();
    let root = user("root", "AKROOT");
    m.create_user(root.clone()).await.unwrap();
    assert_eq!(m.user_by_access_key("AKROOT").await.unwrap(), Some(root));
    // The root is re-created with new keys under its own name.
    m.delete_user("root").await.unwrap();
    m.create_user(user("root", "AKROOT2")).await.unwrap();
}

/// Buckets: create, duplicate (with owner), list by owner, delete empty / non-empty / missing.
pub async fn buckets(m: &impl MetadataStore) {
    m.create_bucket(bucket("b2", "bob")).await.unwrap();
    m.create_bucket(bucket("b1", "alice")).await.unwrap();
    m.create_bucket(bucket("b3", "alice")).await.unwrap();
    match m.create_bucket(bucket("b2", "alice")).await {
        Err(MetaError::BucketExists { owner }) => assert_eq!(owner, "bob"),
        other => panic!("expected BucketExists, got {other:?}"),
    }
    assert_eq!(m.bucket("b1").await.unwrap(), Some(bucket("b1", "alice")));
    assert_eq!(m.bucket("nope").await.unwrap(), None);
    let names = |v: Vec<Bucket>| v.into_iter().map(|b| b.name).collect::<Vec<_>>();
    assert_eq!(names(m.list_buckets(None).await.unwrap()), strs(&["b1", "b2", "b3"]));
    assert_eq!(names(m.list_buckets(Some("alice")).await.unwrap()), strs(&["b1", "b3"]));
    assert!(m.list_buckets(Some("carol")).await.unwrap().is_empty());

    m.put_object(obj("b1", "k", "e", &["x"]), WriteCondition::None).await.unwrap();
    assert!(matches!(m.delete_bucket("b1").await, Err(MetaError::BucketNotEmpty)));
    assert!(matches!(m.delete_bucket("nope").await, Err(MetaError::NoSuchBucket)));
    m.delete_object("b1", "k", del(WriteCondition::None)).await.unwrap();
    assert_eq!(m.delete_bucket("b1").await.unwrap(), outcome(&[], false));
    assert_eq!(m.bucket("b1").await.unwrap(), None);
    assert!(matches!(m.delete_bucket("b1").await, Err(MetaError::NoSuchBucket)));
    assert!(matches!(
        m.put_object(obj("b1", "k", "e", &["y"]), WriteCondition::None).await,
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        m.list_objects("b1", &query("", None, None, 10)).await,
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        m.create_upload(upload("b1", "k", "u", t(0, 0))).await,
        Err(MetaError::NoSuchBucket)
    ));
    // The name is free again.
    m.create_bucket(bucket("b1", "bob")).await.unwrap();
    assert_eq!(m.bucket("b1").await.unwrap().unwrap().owner, "bob");
}

/// Deleting a bucket aborts its uploads and retires their blobs.
pub async fn delete_bucket_aborts_uploads(m: &impl MetadataStore) {
    setup(m).await;
    m.create_upload(upload("bk", "k", "u1", t(0, 0))).await.unwrap();
    m.create_upload(upload("bk", "j", "u2", t(0, 0))).await.unwrap();
    m.put_part("bk", "u1", part(1, "p1")).await.unwrap();
    m.put_part("bk", "u1", part(2, "p2")).await.unwrap();
    m.put_part("bk", "u2", part(1, "p3")).await.unwrap();
    let out = m.delete_bucket("bk").await.unwrap();
    assert_eq!(out, outcome(&["p1", "p2", "p3"], false));
    assert_eq!(retired_ids(m).await, strs(&["p1", "p2", "p3"]));
    assert_eq!(m.upload("bk", "u1").await.unwrap(), None);
    // A new bucket of the same name has no uploads.
    setup(m).await;
    let q = UploadListQuery { max_uploads: 10, ..Default::default() };
    assert!(m.list_uploads("bk", &q).await.unwrap().entries.is_empty());
    assert!(matches!(m.put_part("bk", "u1", part(3, "p4")).await, Err(MetaError::NoSuchUpload)));
}

/// Bucket configuration documents: set, replace, remove, per kind, gone with the bucket.
pub async fn bucket_configs(m: &impl MetadataStore) {
    let missing = m.put_bucket_config("bk", "cors", Some("<c/>".into())).await;
    assert!(matches!(missing, Err(MetaError::NoSuchBucket)), "{missing:?}");
    assert!(matches!(m.put_bucket_config("bk", "cors", None).await, Err(MetaError::NoSuchBucket)));
    assert_eq!(m.bucket_config("bk", "cors").await.unwrap(), None);
    setup(m).await;
    m.create_bucket(bucket("other", "alice")).await.unwrap();
    assert_eq!(m.bucket_configs("bk").await.unwrap(), vec![]);
    m.put_bucket_config("bk", "policy", Some("{\"a\":1}".into())).await.unwrap();
    m.put_bucket_config("bk", "cors", Some("<one/>".into())).await.unwrap();
    m.put_bucket_config("bk", "cors", Some("<two/>".into())).await.unwrap();
    m.put_bucket_config("other", "cors", Some("<other/>".into())).await.unwrap();
    assert_eq!(m.bucket_config("bk", "cors").await.unwrap().as_deref(), Some("<two/>"));
    assert_eq!(m.bucket_config("bk", "lifecycle").await.unwrap(), None);
    let all = m.bucket_configs("bk").await.unwrap();
    assert_eq!(all, vec![("cors".into(), "<two/>".into()), ("policy".into(), "{\"a\":1}".into())]);
    // Removing is idempotent and touches only that kind of that bucket.
    m.put_bucket_config("bk", "cors", None).await.unwrap();
    m.put_bucket_config("bk", "cors", None).await.unwrap();
    assert_eq!(m.bucket_config("bk", "cors").await.unwrap(), None);
    assert_eq!(m.bucket_config("bk", "policy").await.unwrap().as_deref(), Some("{\"a\":1}"));
    assert_eq!(m.bucket_config("other", "cors").await.unwrap().as_deref(), Some("<other/>"));
    // A deleted bucket's documents do not come back with a new bucket of the same name.
    m.delete_bucket("bk").await.unwrap();
    assert_eq!(m.bucket_configs("bk").await.unwrap(), vec![]);
    setup(m).await;
    assert_eq!(m.bucket_configs("bk").await.unwrap(), vec![]);
    assert_eq!(m.bucket_configs("other").await.unwrap().len(), 1);
}

/// Put, get and overwrite: records round-trip exactly; the replaced version's blobs retire.
pub async fn put_get_overwrite(m: &impl MetadataStore) {
    setup(m).await;
    assert_eq!(m.object("bk", "k").await.unwrap(), None);
    assert_eq!(m.object("nobucket", "k").await.unwrap(), None);
    let v1 = obj("bk", "k", "e1", &["b1", "b2"]);
    assert_eq!(m.put_object(v1.clone(), WriteCondition::None).await.unwrap(), outcome(&[], false));
    assert_eq!(m.object("bk", "k").await.unwrap(), Some(v1));
    let v2 = obj("bk", "k", "e2", &["b3"]);
    let out = m.put_object(v2.clone(), WriteCondition::None).await.unwrap();
    assert_eq!(out, outcome(&["b1", "b2"], true));
    assert_eq!(m.object("bk", "k").await.unwrap(), Some(v2));
    // An empty object has no parts and holds no blob.
    let empty = plain("bk", "k");
    assert_eq!(
        m.put_object(empty.clone(), WriteCondition::None).await.unwrap(),
        outcome(&["b3"], true)
    );
    assert_eq!(m.object("bk", "k").await.unwrap(), Some(empty));
    // Overwriting with the same blob keeps it alive.
    let v3 = obj("bk", "j", "e3", &["b4"]);
    m.put_object(v3.clone(), WriteCondition::None).await.unwrap();
    assert_eq!(m.put_object(v3, WriteCondition::None).await.unwrap(), outcome(&[], true));
    assert_eq!(retired_ids(m).await, strs(&["b1", "b2", "b3"]));
    // Objects of other buckets are separate.
    m.create_bucket(bucket("other", "bob")).await.unwrap();
    assert_eq!(m.object("other", "k").await.unwrap(), None);
}

/// Tags of a version change alone: ETag, Last-Modified, parts and blob references stay.
pub async fn object_tags(m: &impl MetadataStore) {
    setup(m).await;
    let tags = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let v1 = obj("bk", "k", "e1", &["b1"]);
    m.put_object(v1.clone(), WriteCondition::None).await.unwrap();
    let id = m.set_object_tags("bk", "k", None, tags(&[("a", "1"), ("b", "")])).await.unwrap();
    assert_eq!(id, NULL_VERSION);
    let got = m.object("bk", "k").await.unwrap().unwrap();
    assert_eq!(got, ObjectVersion { tags: tags(&[("a", "1"), ("b", "")]), ..v1.clone() });
    // By version id, and back to no tags.
    m.set_object_tags("bk", "k", Some(NULL_VERSION), Vec::new()).await.unwrap();
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().tags, Vec::new());
    let missing = |r: Result<String, MetaError>| matches!(r, Err(MetaError::NoSuchKey));
    assert!(missing(m.set_object_tags("bk", "k", Some("v9"), tags(&[("x", "")])).await));
    assert!(missing(m.set_object_tags("bk", "nokey", None, tags(&[("x", "")])).await));
    assert!(matches!(
        m.set_object_tags("nobucket", "k", None, Vec::new()).await,
        Err(MetaError::NoSuchBucket)
    ));
    // No blob changed hands: overwriting the key still retires exactly b1.
    assert_eq!(retired_ids(m).await, Vec::<String>::new());
    m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    assert_eq!(retired_ids(m).await, strs(&["b1"]));
}

/// A version's ACL is committed with it (put, complete, copy as a put) and replaced alone by
/// `set_object_acl`, per version; a new version starts with its own.
pub async fn object_acls(m: &impl MetadataStore) {
    setup(m).await;
    let acl = |s: &str| Some(s.to_owned());
    let v1 = ObjectVersion { acl: acl("public-read-doc"), ..obj("bk", "k", "e1", &["b1"]) };
    m.put_object(v1.clone(), WriteCondition::None).await.unwrap();
    assert_eq!(m.object("bk", "k").await.unwrap(), Some(v1.clone()));
    let id = m.set_object_acl("bk", "k", None, acl("other-doc")).await.unwrap();
    assert_eq!(id, NULL_VERSION);
    let got = m.object("bk", "k").await.unwrap().unwrap();
    assert_eq!(got, ObjectVersion { acl: acl("other-doc"), ..v1.clone() });
    m.set_object_acl("bk", "k", Some(NULL_VERSION), None).await.unwrap();
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().acl, None);
    let missing = |r: Result<String, MetaError>| matches!(r, Err(MetaError::NoSuchKey));
    assert!(missing(m.set_object_acl("bk", "k", Some("v9"), acl("x")).await));
    assert!(missing(m.set_object_acl("bk", "nokey", None, acl("x")).await));
    assert!(matches!(
        m.set_object_acl("nobucket", "k", None, None).await,
        Err(MetaError::NoSuchBucket)
    ));
    // Per version: an old version keeps its ACL when a newer one is written and changed.
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    let old = m
        .put_object(
            ObjectVersion { acl: acl("old"), ..obj("bk", "v", "e2", &["b2"]) },
            WriteCondition::None,
        )
        .await
        .unwrap()
        .version_id
        .unwrap();
    m.put_object(obj("bk", "v", "e3", &["b3"]), WriteCondition::None).await.unwrap();
    assert_eq!(m.object("bk", "v").await.unwrap().unwrap().acl, None);
    m.set_object_acl("bk", "v", None, acl("new")).await.unwrap();
    assert_eq!(m.object_version("bk", "v", Some(&old)).await.unwrap().unwrap().acl, acl("old"));
    m.set_object_acl("bk", "v", Some(&old), acl("old2")).await.unwrap();
    assert_eq!(m.object_version("bk", "v", Some(&old)).await.unwrap().unwrap().acl, acl("old2"));
    assert_eq!(m.object("bk", "v").await.unwrap().unwrap().acl, acl("new"));
    // A delete marker has no ACL to set.
    m.delete_object("bk", "v", del(WriteCondition::None)).await.unwrap();
    assert!(missing(m.set_object_acl("bk", "v", None, acl("x")).await));
    // A completed upload commits its version's ACL.
    m.create_upload(upload("bk", "m", "u1", t(0, 0))).await.unwrap();
    let mv = ObjectVersion { acl: acl("mp"), ..obj("bk", "m", "e4", &[]) };
    m.complete_upload("u1", mv, WriteCondition::None).await.unwrap();
    assert_eq!(m.object("bk", "m").await.unwrap().unwrap().acl, acl("mp"));
}

/// A version's storage class is committed with it and read back by `object`, both listings
/// and the upload records; `None` (STANDARD) stays `None`.
pub async fn storage_classes(m: &impl MetadataStore) {
    setup(m).await;
    let class = |s: &str| Some(s.to_owned());
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    let cold =
        ObjectVersion { storage_class: class("GLACIER_IR"), ..obj("bk", "k", "e1", &["b1"]) };
    let old = m.put_object(cold, WriteCondition::None).await.unwrap().version_id.unwrap();
    m.put_object(obj("bk", "k", "e2", &["b2"]), WriteCondition::None).await.unwrap();
    m.put_object(
        ObjectVersion { storage_class: class("STANDARD_IA"), ..obj("bk", "j", "e3", &["b3"]) },
        WriteCondition::None,
    )
    .await
    .unwrap();
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().storage_class, None);
    let got = m.object_version("bk", "k", Some(&old)).await.unwrap().unwrap();
    assert_eq!(got.storage_class, class("GLACIER_IR"));
    let page = m.list_objects("bk", &query("", None, None, 10)).await.unwrap();
    let classes: Vec<_> = page
        .entries
        .iter()
        .filter_map(|e| match e {
            ListEntry::Object(o) => Some((o.key.as_str(), o.storage_class.clone())),
            ListEntry::CommonPrefix(_) => None,
        })
        .collect();
    assert_eq!(classes, [("j", class("STANDARD_IA")), ("k", None)]);
    let page = m.list_object_versions("bk", &vquery("", None, None, None, 10)).await.unwrap();
    let classes: Vec<_> = page
        .entries
        .iter()
        .filter_map(|e| match e {
            VersionListEntry::Version(v) => Some((v.key.as_str(), v.storage_class.clone())),
            VersionListEntry::CommonPrefix(_) => None,
        })
        .collect();
    assert_eq!(classes, [("j", class("STANDARD_IA")), ("k", None), ("k", class("GLACIER_IR"))]);
    // An upload keeps the class its object gets; completing commits it.
    let up = Upload { storage_class: class("DEEP_ARCHIVE"), ..upload("bk", "m", "u1", t(0, 0)) };
    m.create_upload(up).await.unwrap();
    assert_eq!(m.upload("bk", "u1").await.unwrap().unwrap().storage_class, class("DEEP_ARCHIVE"));
    let q = UploadListQuery { max_uploads: 10, ..UploadListQuery::default() };
    let listed = m.list_uploads("bk", &q).await.unwrap();
    assert!(matches!(
        listed.entries.as_slice(),
        [UploadListEntry::Upload(u)] if u.storage_class == class("DEEP_ARCHIVE")
    ));
    let mv = ObjectVersion { storage_class: class("DEEP_ARCHIVE"), ..obj("bk", "m", "e4", &[]) };
    m.complete_upload("u1", mv, WriteCondition::None).await.unwrap();
    assert_eq!(m.object("bk", "m").await.unwrap().unwrap().storage_class, class("DEEP_ARCHIVE"));
    // A rename keeps the class (the data stays where it is).
    m.rename_object("bk", "j", "j2", ren(WriteCondition::None)).await.unwrap();
    assert_eq!(m.object("bk", "j2").await.unwrap().unwrap().storage_class, class("STANDARD_IA"));
}

/// A blob shared by two objects retires only when both are gone.
pub async fn shared_blobs(m: &impl MetadataStore) {
    setup(m).await;
    m.put_object(obj("bk", "a", "e", &["s", "x"]), WriteCondition::None).await.unwrap();
    m.put_object(obj("bk", "b", "e", &["s"]), WriteCondition::None).await.unwrap();
    let out = m.delete_object("bk", "a", del(WriteCondition::None)).await.unwrap();
    assert_eq!(out, outcome(&["x"], true));
    let out = m.delete_object("bk", "b", del(WriteCondition::None)).await.unwrap();
    assert_eq!(out, outcome(&["s"], true));
    // One object naming the same blob twice holds two references.
    m.put_object(obj("bk", "c", "e", &["d", "d"]), WriteCondition::None).await.unwrap();
    m.put_object(obj("bk", "e", "e", &["d"]), WriteCondition::None).await.unwrap();
    assert_eq!(
        m.delete_object("bk", "e", del(WriteCondition::None)).await.unwrap(),
        outcome(&[], true)
    );
    assert_eq!(
        m.delete_object("bk", "c", del(WriteCondition::None)).await.unwrap(),
        outcome(&["d"], true)
    );
    assert_eq!(retired_ids(m).await, strs(&["d", "s", "x"]));
}

/// Re-referencing a retired blob revives it: `forget_blobs` keeps it.
pub async fn revived_blob_is_not_forgotten(m: &impl MetadataStore) {
    setup(m).await;
    m.put_object(obj("bk", "a", "e", &["r"]), WriteCondition::None).await.unwrap();
    m.delete_object("bk", "a", del(WriteCondition::None)).await.unwrap();
    assert_eq!(retired_ids(m).await, strs(&["r"]));
    m.put_object(obj("bk", "b", "e", &["r"]), WriteCondition::None).await.unwrap();
    assert!(retired_ids(m).await.is_empty());
    assert!(m.forget_blobs(&strs(&["r"])).await.unwrap().is_empty());
    assert_eq!(m.known_blobs(&strs(&["r"])).await.unwrap(), strs(&["r"]));
    // An upload part can revive a blob too.
    m.delete_object("bk", "b", del(WriteCondition::None)).await.unwrap();
    m.create_upload(upload("bk", "u", "u1", t(0, 0))).await.unwrap();
    m.put_part("bk", "u1", part(1, "r")).await.unwrap();
    assert!(m.forget_blobs(&strs(&["r"])).await.unwrap().is_empty());
    assert_eq!(m.abort_upload("bk", "u1").await.unwrap(), outcome(&["r"], false));
    assert_eq!(m.forget_blobs(&strs(&["r"])).await.unwrap(), strs(&["r"]));
    assert!(m.known_blobs(&strs(&["r"])).await.unwrap().is_empty());
}

/// `If-None-Match: *` and `If-Match` on put.
pub async fn conditions_on_put(m: &impl MetadataStore) {
    setup(m).await;
    let none_match = WriteCondition::IfNoneMatchAny;
    let put = |etag: &str, blob: &str| obj("bk", "k", etag, &[blob]);
    let r = m.put_object(put("e0", "z"), WriteCondition::IfMatch("e0".into())).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)));
    assert_eq!(
        m.put_object(put("e1", "a"), none_match.clone()).await.unwrap(),
        outcome(&[], false)
    );
    let r = m.put_object(put("e2", "b"), none_match.clone()).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)));
    let r = m.put_object(put("e2", "b"), WriteCondition::IfMatch("zzz".into())).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)));
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().etag, "e1");
    let out = m.put_object(put("e3", "c"), WriteCondition::IfMatch("e1".into())).await.unwrap();
    assert_eq!(out, outcome(&["a"], true));
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().etag, "e3");
    // Failed writes registered nothing.
    assert!(m.known_blobs(&strs(&["b", "z"])).await.unwrap().is_empty());
}

/// `If-None-Match: *` and `If-Match` on delete.
pub async fn conditions_on_delete(m: &impl MetadataStore) {
    setup(m).await;
    let r = m.delete_object("bk", "k", del(WriteCondition::IfMatch("e".into()))).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)));
    let r = m.delete_object("bk", "k", del(WriteCondition::IfNoneMatchAny)).await;
    assert_eq!(r.unwrap(), outcome(&[], false));
    m.put_object(obj("bk", "k", "e1", &["a"]), WriteCondition::None).await.unwrap();
    let r = m.delete_object("bk", "k", del(WriteCondition::IfNoneMatchAny)).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)));
    let r = m.delete_object("bk", "k", del(WriteCondition::IfMatch("e2".into()))).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)));
    assert!(m.object("bk", "k").await.unwrap().is_some());
    let r = m.delete_object("bk", "k", del(WriteCondition::IfMatch("e1".into()))).await;
    assert_eq!(r.unwrap(), outcome(&["a"], true));
    assert_eq!(m.object("bk", "k").await.unwrap(), None);
    let r = m.delete_object("nobucket", "k", del(WriteCondition::None)).await;
    assert!(matches!(r, Err(MetaError::NoSuchBucket)));
}

/// `If-None-Match: *` and `If-Match` on complete; a failed condition leaves the upload intact.
pub async fn conditions_on_complete(m: &impl MetadataStore) {
    setup(m).await;
    m.create_upload(upload("bk", "k", "u1", t(0, 0))).await.unwrap();
    m.put_part("bk", "u1", part(1, "p1")).await.unwrap();
    let v = obj("bk", "k", "m-1", &["p1"]);
    let r = m.complete_upload("u1", v.clone(), WriteCondition::IfMatch("x".into())).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)));
    m.put_object(obj("bk", "k", "e1", &["old"]), WriteCondition::None).await.unwrap();
    let r = m.complete_upload("u1", v.clone(), WriteCondition::IfNoneMatchAny).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)));
    let r = m.complete_upload("u1", v.clone(), WriteCondition::IfMatch("x".into())).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)));
    assert!(m.upload("bk", "u1").await.unwrap().is_some());
    assert_eq!(m.list_parts("bk", "u1", 0, 10).await.unwrap().0, vec![part(1, "p1")]);
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().etag, "e1");
    let r = m.complete_upload("u1", v.clone(), WriteCondition::IfMatch("e1".into())).await;
    assert_eq!(r.unwrap(), outcome(&["old"], true));
    assert_eq!(m.object("bk", "k").await.unwrap(), Some(v));
}

/// Deleting a missing key is not an error.
pub async fn delete_missing_key(m: &impl MetadataStore) {
    setup(m).await;
    let out = m.delete_object("bk", "nope", del(WriteCondition::None)).await.unwrap();
    assert_eq!(out, outcome(&[], false));
    m.put_object(plain("bk", "k"), WriteCondition::None).await.unwrap();
    assert_eq!(
        m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap(),
        outcome(&[], true)
    );
    assert_eq!(
        m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap(),
        outcome(&[], false)
    );
}

/// Keys `a`, `a/` and `a/b` are distinct objects.
pub async fn keys_with_slashes_coexist(m: &impl MetadataStore) {
    setup(m).await;
    for (k, e) in [("a/b", "3"), ("a", "1"), ("a/", "2")] {
        m.put_object(obj("bk", k, e, &[k]), WriteCondition::IfNoneMatchAny).await.unwrap();
    }
    for (k, e) in [("a", "1"), ("a/", "2"), ("a/b", "3")] {
        assert_eq!(m.object("bk", k).await.unwrap().unwrap().etag, e);
    }
    let page = m.list_objects("bk", &query("", None, None, 10)).await.unwrap();
    assert_eq!(keys(&page), strs(&["a", "a/", "a/b"]));
    let page = m.list_objects("bk", &query("", Some("/"), None, 10)).await.unwrap();
    assert_eq!(keys(&page), strs(&["a", "a/*"]));
    m.delete_object("bk", "a/", del(WriteCondition::None)).await.unwrap();
    let page = m.list_objects("bk", &query("a", None, None, 10)).await.unwrap();
    assert_eq!(keys(&page), strs(&["a", "a/b"]));
}

async fn put_keys(m: &impl MetadataStore, keys: &[&str]) {
    for k in keys {
        m.put_object(plain("bk", k), WriteCondition::None).await.unwrap();
    }
}

/// Prefix and delimiter (one and several characters), byte order, summaries.
pub async fn list_prefix_and_delimiter(m: &impl MetadataStore) {
    setup(m).await;
    let all = [
        "a/b/c",
        "a/b/d",
        "a/c",
        "a/d/e",
        "a--x--y",
        "a--z",
        "b",
        "b/",
        "c/x",
        "é/1",
        "z",
        "\u{10ffff}/x",
        "A",
    ];
    put_keys(m, &all).await;
    let list = |p: &str, d: Option<&str>| {
        let q = query(p, d, None, 1000);
        async move { keys(&m.list_objects("bk", &q).await.unwrap()) }
    };
    // Byte order: uppercase before lowercase before multi-byte.
    assert_eq!(
        list("", None).await,
        strs(&[
            "A",
            "a--x--y",
            "a--z",
            "a/b/c",
            "a/b/d",
            "a/c",
            "a/d/e",
            "b",
            "b/",
            "c/x",
            "z",
            "é/1",
            "\u{10ffff}/x"
        ])
    );
    assert_eq!(
        list("", Some("/")).await,
        strs(&["A", "a--x--y", "a--z", "a/*", "b", "b/*", "c/*", "z", "é/*", "\u{10ffff}/*"])
    );
    assert_eq!(list("a/", Some("/")).await, strs(&["a/b/*", "a/c", "a/d/*"]));
    assert_eq!(list("a/b", Some("/")).await, strs(&["a/b/*"]));
    assert_eq!(list("a/b/", Some("/")).await, strs(&["a/b/c", "a/b/d"]));
    assert_eq!(list("a", Some("--")).await, strs(&["a--*", "a/b/c", "a/b/d", "a/c", "a/d/e"]));
    assert_eq!(list("a--", Some("--")).await, strs(&["a--x--*", "a--z"]));
    assert_eq!(list("", Some("b")).await.first().map(String::as_str), Some("A"));
    assert_eq!(list("é", None).await, strs(&["é/1"]));
    assert_eq!(list("\u{10ffff}", Some("/")).await, strs(&["\u{10ffff}/*"]));
    assert!(list("nope", Some("/")).await.is_empty());
    // An empty delimiter is no delimiter.
    assert_eq!(list("a/", Some("")).await, strs(&["a/b/c", "a/b/d", "a/c", "a/d/e"]));
    let page = m.list_objects("bk", &query("b", None, None, 1)).await.unwrap();
    let mut expected = plain("bk", "b");
    expected.etag = "e".into();
    match &page.entries[..] {
        [ListEntry::Object(o)] => {
            assert_eq!(o.key, "b");
            assert_eq!(o.size, 0);
            assert_eq!(o.etag, "e");
            assert_eq!(o.owner, "alice");
            assert_eq!(o.last_modified, expected.last_modified);
            assert_eq!(o.checksum_algorithm, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(page.is_truncated);
}

/// An entry is listed iff its sort key is greater than `start_after`.
pub async fn list_start_after(m: &impl MetadataStore) {
    setup(m).await;
    put_keys(m, &["a/1", "a/2", "b", "c/1", "c/2", "d"]).await;
    let list = |d: Option<&str>, sa: &str| {
        let q = query("", d, Some(sa), 1000);
        async move { keys(&m.list_objects("bk", &q).await.unwrap()) }
    };
    assert_eq!(list(None, "a/1").await, strs(&["a/2", "b", "c/1", "c/2", "d"]));
    assert_eq!(list(None, "a").await, strs(&["a/1", "a/2", "b", "c/1", "c/2", "d"]));
    assert_eq!(list(Some("/"), "a").await, strs(&["a/*", "b", "c/*", "d"]));
    // A start_after equal to, or inside, a common prefix skips the whole prefix.
    assert_eq!(list(Some("/"), "a/").await, strs(&["b", "c/*", "d"]));
    assert_eq!(list(Some("/"), "a/1").await, strs(&["b", "c/*", "d"]));
    assert_eq!(list(Some("/"), "b").await, strs(&["c/*", "d"]));
    assert_eq!(list(Some("/"), "c/").await, strs(&["d"]));
    assert!(list(Some("/"), "d").await.is_empty());
    assert!(list(Some("/"), "zzz").await.is_empty());
    // A start_after before the prefix does not matter; after it, it bounds within the prefix.
    let q = query("c/", None, Some("a"), 1000);
    assert_eq!(keys(&m.list_objects("bk", &q).await.unwrap()), strs(&["c/1", "c/2"]));
    let q = query("c/", None, Some("c/1"), 1000);
    assert_eq!(keys(&m.list_objects("bk", &q).await.unwrap()), strs(&["c/2"]));
    let q = query("c/", None, Some("c/3"), 1000);
    assert!(m.list_objects("bk", &q).await.unwrap().entries.is_empty());
}

/// `max_keys`, including 0, and truncation; paging by the last sort key.
pub async fn list_max_keys_and_truncation(m: &impl MetadataStore) {
    setup(m).await;
    put_keys(m, &["a/1", "a/2", "b", "c/1", "d"]).await;
    let page = m.list_objects("bk", &query("", Some("/"), None, 0)).await.unwrap();
    assert_eq!(page, ListPage::default());
    let page = m.list_objects("bk", &query("", Some("/"), None, 2)).await.unwrap();
    assert_eq!((keys(&page), page.is_truncated), (strs(&["a/*", "b"]), true));
    let page = m.list_objects("bk", &query("", Some("/"), Some("b"), 2)).await.unwrap();
    assert_eq!((keys(&page), page.is_truncated), (strs(&["c/*", "d"]), false));
    let page = m.list_objects("bk", &query("", Some("/"), None, 4)).await.unwrap();
    assert_eq!((keys(&page), page.is_truncated), (strs(&["a/*", "b", "c/*", "d"]), false));
    let page = m.list_objects("bk", &query("", None, None, 5)).await.unwrap();
    assert!(!page.is_truncated);
    let page = m.list_objects("bk", &query("", None, None, 4)).await.unwrap();
    assert!(page.is_truncated);
    // Page through one key at a time.
    let mut seen = Vec::new();
    let mut start_after: Option<String> = None;
    loop {
        let q = query("", None, start_after.as_deref(), 1);
        let page = m.list_objects("bk", &q).await.unwrap();
        seen.extend(keys(&page));
        if !page.is_truncated {
            break;
        }
        let next = page.entries.last().unwrap().sort_key().to_owned();
        assert!(start_after.as_ref().is_none_or(|sa| next > *sa), "paging must advance");
        start_after = Some(next);
    }
    assert_eq!(seen, strs(&["a/1", "a/2", "b", "c/1", "d"]));
    // More than the cap: at most 1000 entries.
    let many: Vec<String> = (0..1001).map(|i| format!("m{i:04}")).collect();
    for k in &many {
        m.put_object(plain("bk", k), WriteCondition::None).await.unwrap();
    }
    let page = m.list_objects("bk", &query("m", None, None, 5000)).await.unwrap();
    assert_eq!((page.entries.len(), page.is_truncated), (1000, true));
}

/// Parts: put, replace (the old blob retires), list with pagination, missing upload.
pub async fn parts(m: &impl MetadataStore) {
    setup(m).await;
    let u = upload("bk", "k", "u1", t(9, 9));
    m.create_upload(u.clone()).await.unwrap();
    assert_eq!(m.upload("bk", "u1").await.unwrap(), Some(u));
    assert_eq!(m.upload("bk", "u2").await.unwrap(), None);
    assert_eq!(m.upload("nobucket", "u1").await.unwrap(), None);
    assert_eq!(m.list_parts("bk", "u1", 0, 10).await.unwrap(), (vec![], false));
    for n in [3, 1, 2, 10_000] {
        let out = m.put_part("bk", "u1", part(n, &format!("p{n}"))).await.unwrap();
        assert_eq!(out, outcome(&[], false));
    }
    let out = m.put_part("bk", "u1", part(2, "p2b")).await.unwrap();
    assert_eq!(out, outcome(&["p2"], true));
    // Same blob again: nothing retires.
    assert_eq!(m.put_part("bk", "u1", part(2, "p2b")).await.unwrap(), outcome(&[], true));
    let (ps, more) = m.list_parts("bk", "u1", 0, 2).await.unwrap();
    assert_eq!((ps, more), (vec![part(1, "p1"), part(2, "p2b")], true));
    let (ps, more) = m.list_parts("bk", "u1", 2, 2).await.unwrap();
    assert_eq!((ps, more), (vec![part(3, "p3"), part(10_000, "p10000")], false));
    let (ps, more) = m.list_parts("bk", "u1", 3, 1).await.unwrap();
    assert_eq!((ps, more), (vec![part(10_000, "p10000")], false));
    assert_eq!(m.list_parts("bk", "u1", 10_000, 5).await.unwrap(), (vec![], false));
    assert_eq!(m.list_parts("bk", "u1", 0, 0).await.unwrap(), (vec![], true));
    let mut p = part(5, "p5");
    p.checksum = Some("abc=".into());
    m.put_part("bk", "u1", p.clone()).await.unwrap();
    assert_eq!(m.list_parts("bk", "u1", 4, 1).await.unwrap(), (vec![p], true));
    assert!(matches!(m.list_parts("bk", "u2", 0, 1).await, Err(MetaError::NoSuchUpload)));
    assert!(matches!(m.put_part("bk", "u2", part(1, "q")).await, Err(MetaError::NoSuchUpload)));
    assert!(m.known_blobs(&strs(&["q"])).await.unwrap().is_empty());
}

fn upload_keys(page: &crate::UploadPage) -> Vec<String> {
    page.entries
        .iter()
        .map(|e| match e {
            UploadListEntry::Upload(u) => format!("{}#{}", u.key, u.upload_id),
            UploadListEntry::CommonPrefix(p) => format!("{p}*"),
        })
        .collect()
}

/// Upload listing: order, prefix, delimiter, key and upload-id markers, truncation.
pub async fn list_uploads(m: &impl MetadataStore) {
    setup(m).await;
    // Same key: ordered by initiation time, then id.
    for (k, id, secs) in [
        ("k", "z1", 1),
        ("k", "a2", 2),
        ("k", "b2", 2),
        ("d/1", "x", 0),
        ("d/2", "y", 0),
        ("j", "w", 5),
        ("m", "v", 0),
    ] {
        m.create_upload(upload("bk", k, id, t(secs, 0))).await.unwrap();
    }
    let list = |prefix: &str, d: Option<&str>, km: Option<&str>, idm: Option<&str>, max: u32| {
        let q = UploadListQuery {
            prefix: prefix.into(),
            delimiter: d.map(Into::into),
            key_marker: km.map(Into::into),
            upload_id_marker: idm.map(Into::into),
            max_uploads: max,
        };
        async move {
            let page = m.list_uploads("bk", &q).await.unwrap();
            (upload_keys(&page), page.is_truncated)
        }
    };
    let all = strs(&["d/1#x", "d/2#y", "j#w", "k#z1", "k#a2", "k#b2", "m#v"]);
    assert_eq!(list("", None, None, None, 100).await, (all.clone(), false));
    assert_eq!(list("", None, None, None, 7).await, (all.clone(), false));
    assert_eq!(list("", None, None, None, 6).await, (all[..6].to_vec(), true));
    assert_eq!(list("", None, None, None, 0).await, (vec![], false));
    assert_eq!(list("", Some("/"), None, None, 100).await.0[..2], strs(&["d/*", "j#w"]));
    assert_eq!(list("d/", Some("/"), None, None, 100).await.0, strs(&["d/1#x", "d/2#y"]));
    assert_eq!(list("k", None, None, None, 100).await.0, strs(&["k#z1", "k#a2", "k#b2"]));
    assert_eq!(list("", None, Some("j"), None, 100).await.0, all[3..].to_vec());
    assert_eq!(list("", None, Some("k"), None, 100).await.0, strs(&["m#v"]));
    assert_eq!(list("", None, Some("k"), Some("z1"), 100).await.0, strs(&["k#a2", "k#b2", "m#v"]));
    assert_eq!(list("", None, Some("k"), Some("a2"), 100).await.0, strs(&["k#b2", "m#v"]));
    assert_eq!(list("", None, Some("k"), Some("a2"), 1).await, (strs(&["k#b2"]), true));
    // A key marker inside a common prefix skips the prefix.
    assert_eq!(list("", Some("/"), Some("d/1"), None, 100).await.0[0], "j#w");
    assert_eq!(list("", Some("/"), Some("c"), None, 1).await, (strs(&["d/*"]), true));
    let q = UploadListQuery { max_uploads: 1, ..Default::default() };
    let page = m.list_uploads("bk", &q).await.unwrap();
    assert_eq!(page.entries, vec![UploadListEntry::Upload(upload("bk", "d/1", "x", t(0, 0)))]);
    assert!(matches!(
        m.list_uploads("nobucket", &UploadListQuery::default()).await,
        Err(MetaError::NoSuchBucket)
    ));
}

/// Completing an upload commits the version, drops unlisted parts and removes the upload.
pub async fn complete_upload(m: &impl MetadataStore) {
    setup(m).await;
    m.put_object(obj("bk", "k", "old", &["o1"]), WriteCondition::None).await.unwrap();
    m.create_upload(upload("bk", "k", "u1", t(0, 0))).await.unwrap();
    m.create_upload(upload("bk", "k", "u2", t(0, 0))).await.unwrap();
    for n in 1..=3 {
        m.put_part("bk", "u1", part(n, &format!("p{n}"))).await.unwrap();
    }
    let v = obj("bk", "k", "abc-2", &["p1", "p3"]);
    // The upload belongs to its key.
    let wrong = obj("bk", "other", "abc-2", &["p1", "p3"]);
    let r = m.complete_upload("u1", wrong, WriteCondition::None).await;
    assert!(matches!(r, Err(MetaError::NoSuchUpload)));
    let out = m.complete_upload("u1", v.clone(), WriteCondition::None).await.unwrap();
    assert_eq!(out, outcome(&["o1", "p2"], true));
    assert_eq!(m.object("bk", "k").await.unwrap(), Some(v.clone()));
    assert_eq!(m.upload("bk", "u1").await.unwrap(), None);
    let r = m.complete_upload("u1", v.clone(), WriteCondition::None).await;
    assert!(matches!(r, Err(MetaError::NoSuchUpload)));
    assert!(matches!(m.abort_upload("bk", "u1").await, Err(MetaError::NoSuchUpload)));
    assert!(matches!(m.list_parts("bk", "u1", 0, 5).await, Err(MetaError::NoSuchUpload)));
    // The other upload of the key is untouched.
    assert!(m.upload("bk", "u2").await.unwrap().is_some());
    assert_eq!(m.known_blobs(&strs(&["p1", "p2", "p3"])).await.unwrap(), strs(&["p1", "p2", "p3"]));
    // Deleting the object retires the completed parts.
    let out = m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    assert_eq!(out, outcome(&["p1", "p3"], true));
    let r = m.complete_upload("u9", v.clone(), WriteCondition::None).await;
    assert!(matches!(r, Err(MetaError::NoSuchUpload)));
    let mut gone = v;
    gone.bucket = "nobucket".into();
    let r = m.complete_upload("u2", gone, WriteCondition::None).await;
    assert!(matches!(r, Err(MetaError::NoSuchUpload)));
}

/// The encryption record of a version and an upload and the salts of their parts are stored
/// and read back as given, through PutObject, UploadPart and CompleteMultipartUpload.
pub async fn encryption_records(m: &impl MetadataStore) {
    setup(m).await;
    let mut v = obj("bk", "sealed", "e", &["s1", "s2"]);
    v.encryption = Some("1 S3 00ff record".into());
    v.parts[0].salt = Some("0123456789abcdef0123456789abcdef".into());
    m.put_object(v.clone(), WriteCondition::None).await.unwrap();
    assert_eq!(m.object("bk", "sealed").await.unwrap(), Some(v));
    let mut u = upload("bk", "mp", "u1", t(0, 0));
    u.encryption = Some("1 C upload record".into());
    m.create_upload(u.clone()).await.unwrap();
    assert_eq!(m.upload("bk", "u1").await.unwrap(), Some(u.clone()));
    let mut p = part(1, "mp1");
    p.salt = Some("ffffffffffffffffffffffffffffffff".into());
    m.put_part("bk", "u1", p.clone()).await.unwrap();
    m.put_part("bk", "u1", part(2, "mp2")).await.unwrap();
    let (parts, _) = m.list_parts("bk", "u1", 0, 10).await.unwrap();
    assert_eq!(parts, vec![p, part(2, "mp2")]);
    let mut done = obj("bk", "mp", "x-2", &["mp1", "mp2"]);
    done.encryption = u.encryption.clone();
    done.parts[0].salt = Some("ffffffffffffffffffffffffffffffff".into());
    m.complete_upload("u1", done.clone(), WriteCondition::None).await.unwrap();
    assert_eq!(m.object("bk", "mp").await.unwrap(), Some(done));
}

/// The rotation scan: every version with an encryption record, in (bucket, key, version id)
/// order across buckets and pages, and the compare-and-swap that re-wraps one record.
pub async fn encrypted_versions_and_rewrap(m: &impl MetadataStore) {
    setup(m).await;
    m.create_bucket(bucket("ab", "alice")).await.unwrap();
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    let sealed = |b: &str, k: &str, blob: &str, record: &str| {
        let mut v = obj(b, k, "e", &[blob]);
        v.encryption = Some(record.into());
        v
    };
    let mut ids = Vec::new();
    for (i, blob) in ["v1", "v2"].into_iter().enumerate() {
        let out = m.put_object(sealed("bk", "k", blob, &format!("r{i}")), WriteCondition::None);
        ids.push(out.await.unwrap().version_id.unwrap());
    }
    m.put_object(obj("bk", "plain", "e", &["p"]), WriteCondition::None).await.unwrap();
    m.put_object(sealed("ab", "z", "z1", "rz"), WriteCondition::None).await.unwrap();
    let a = m.put_object(sealed("bk", "a", "a1", "ra"), WriteCondition::None).await.unwrap();
    let a = a.version_id.unwrap();
    let mut seen = Vec::new();
    let mut after: Option<(String, String, String)> = None;
    loop {
        let cursor = after.as_ref().map(|(b, k, v)| (b.as_str(), k.as_str(), v.as_str()));
        let page = m.encrypted_versions(cursor, 2).await.unwrap();
        assert!(page.len() <= 2);
        for e in &page {
            seen.push((
                e.bucket.clone(),
                e.key.clone(),
                e.version_id.clone(),
                e.encryption.clone(),
            ));
        }
        match page.last() {
            Some(e) if page.len() == 2 => {
                after = Some((e.bucket.clone(), e.key.clone(), e.version_id.clone()));
            }
            _ => break,
        }
    }
    let (mut v0, mut v1) = (ids[0].clone(), ids[1].clone());
    let (mut r0, mut r1) = ("r0", "r1");
    if v1 < v0 {
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut r0, &mut r1);
    }
    let want = vec![
        ("ab".to_owned(), "z".to_owned(), NULL_VERSION.to_owned(), "rz".to_owned()),
        ("bk".to_owned(), "a".to_owned(), a, "ra".to_owned()),
        ("bk".to_owned(), "k".to_owned(), v0, r0.to_owned()),
        ("bk".to_owned(), "k".to_owned(), v1, r1.to_owned()),
    ];
    assert_eq!(seen, want);
    // The swap: only while the record is the one expected, and nothing else changes.
    let before = m.object_version("bk", "k", Some(&ids[0])).await.unwrap().unwrap();
    assert!(m.replace_encryption("bk", "k", &ids[0], "r0", "r0'".into()).await.unwrap());
    assert!(!m.replace_encryption("bk", "k", &ids[0], "r0", "r0''".into()).await.unwrap());
    let after_swap = m.object_version("bk", "k", Some(&ids[0])).await.unwrap().unwrap();
    assert_eq!(after_swap, ObjectVersion { encryption: Some("r0'".into()), ..before });
    let latest = m.object("bk", "k").await.unwrap().unwrap();
    assert_eq!(latest.encryption.as_deref(), Some("r1"));
    assert!(!m.replace_encryption("bk", "k", "nope", "r1", "x".into()).await.unwrap());
    assert!(!m.replace_encryption("bk", "nokey", NULL_VERSION, "r1", "x".into()).await.unwrap());
    assert!(!m.replace_encryption("nobucket", "k", NULL_VERSION, "r1", "x".into()).await.unwrap());
    assert!(!m.replace_encryption("ab", "z", NULL_VERSION, "other", "x".into()).await.unwrap());
    assert!(m.replace_encryption("ab", "z", NULL_VERSION, "rz", "rz'".into()).await.unwrap());
}

/// Aborting removes the upload and retires its parts' blobs.
pub async fn abort_upload(m: &impl MetadataStore) {
    setup(m).await;
    m.create_upload(upload("bk", "k", "u1", t(0, 0))).await.unwrap();
    m.put_part("bk", "u1", part(1, "p1")).await.unwrap();
    m.put_part("bk", "u1", part(2, "p2")).await.unwrap();
    // A blob also held by an object survives the abort.
    m.put_object(obj("bk", "x", "e", &["p2"]), WriteCondition::None).await.unwrap();
    assert_eq!(m.abort_upload("bk", "u1").await.unwrap(), outcome(&["p1"], false));
    assert_eq!(m.upload("bk", "u1").await.unwrap(), None);
    assert!(matches!(m.abort_upload("bk", "u1").await, Err(MetaError::NoSuchUpload)));
    assert!(matches!(m.abort_upload("nobucket", "u1").await, Err(MetaError::NoSuchUpload)));
    // An empty upload aborts cleanly.
    m.create_upload(upload("bk", "k", "u2", t(0, 0))).await.unwrap();
    assert_eq!(m.abort_upload("bk", "u2").await.unwrap(), outcome(&[], false));
}

/// `retired_blobs`: oldest first, bounded by `before` and `limit`.
pub async fn retired_blobs_order(m: &impl MetadataStore) {
    setup(m).await;
    let start = SystemTime::now();
    assert!(m.retired_blobs(start + Duration::from_mins(1), 10).await.unwrap().is_empty());
    m.put_object(obj("bk", "a", "e", &["z1", "y1"]), WriteCondition::None).await.unwrap();
    m.put_object(obj("bk", "b", "e", &["x2"]), WriteCondition::None).await.unwrap();
    m.delete_object("bk", "a", del(WriteCondition::None)).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let middle = SystemTime::now();
    std::thread::sleep(Duration::from_millis(5));
    m.delete_object("bk", "b", del(WriteCondition::None)).await.unwrap();
    let end = SystemTime::now();
    let all = m.retired_blobs(end, 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.blob_id.as_str()).collect();
    // Same retirement time: ordered by id.
    assert_eq!(ids, ["y1", "z1", "x2"]);
    assert_eq!(all[0].retired_at, all[1].retired_at);
    assert!(all[0].retired_at >= start && all[0].retired_at <= middle);
    assert!(all[2].retired_at > middle && all[2].retired_at <= end);
    let early = m.retired_blobs(middle, 10).await.unwrap();
    assert_eq!(early, all[..2].to_vec());
    assert_eq!(m.retired_blobs(end, 1).await.unwrap(), all[..1].to_vec());
    assert!(m.retired_blobs(end, 0).await.unwrap().is_empty());
    assert!(m.retired_blobs(start - Duration::from_secs(1), 10).await.unwrap().is_empty());
    // `before` is inclusive.
    assert_eq!(m.retired_blobs(all[2].retired_at, 10).await.unwrap(), all);
}

/// `forget_blobs` removes only unreferenced blobs; `known_blobs` reports what is left.
pub async fn forget_and_known_blobs(m: &impl MetadataStore) {
    setup(m).await;
    m.put_object(obj("bk", "a", "e", &["live", "dead"]), WriteCondition::None).await.unwrap();
    m.put_object(obj("bk", "b", "e", &["live"]), WriteCondition::None).await.unwrap();
    m.delete_object("bk", "a", del(WriteCondition::None)).await.unwrap();
    let ask = strs(&["unknown", "live", "dead"]);
    assert_eq!(m.known_blobs(&ask).await.unwrap(), strs(&["live", "dead"]));
    assert_eq!(m.forget_blobs(&ask).await.unwrap(), strs(&["dead"]));
    assert_eq!(m.known_blobs(&ask).await.unwrap(), strs(&["live"]));
    assert!(m.forget_blobs(&ask).await.unwrap().is_empty());
    assert!(retired_ids(m).await.is_empty());
    assert!(m.known_blobs(&[]).await.unwrap().is_empty());
    assert!(m.forget_blobs(&[]).await.unwrap().is_empty());
}

/// `forget_blobs` keeps blobs under an unexpired lease of any holder; `renew_leases` replaces a
/// holder's leases and expired leases stop protecting.
pub async fn leased_blobs_are_kept(m: &impl MetadataStore) {
    setup(m).await;
    m.put_object(obj("bk", "a", "e", &["x", "y", "z"]), WriteCondition::None).await.unwrap();
    m.delete_object("bk", "a", del(WriteCondition::None)).await.unwrap();
    let later = SystemTime::now() + Duration::from_hours(1);
    m.renew_leases("gw1", &strs(&["x", "y"]), later).await.unwrap();
    m.renew_leases("gw2", &strs(&["y"]), later).await.unwrap();
    // An expired lease protects nothing.
    let past = SystemTime::now() - Duration::from_secs(1);
    m.renew_leases("gw3", &strs(&["z"]), past).await.unwrap();
    let all = strs(&["x", "y", "z"]);
    assert_eq!(m.forget_blobs(&all).await.unwrap(), strs(&["z"]));
    // gw1 now holds only "y" (still held by gw2 too): "x" is free.
    m.renew_leases("gw1", &strs(&["y"]), later).await.unwrap();
    assert_eq!(m.forget_blobs(&all).await.unwrap(), strs(&["x"]));
    m.renew_leases("gw2", &[], later).await.unwrap();
    assert!(m.forget_blobs(&all).await.unwrap().is_empty());
    m.renew_leases("gw1", &[], later).await.unwrap();
    assert_eq!(m.forget_blobs(&all).await.unwrap(), strs(&["y"]));
    assert!(m.known_blobs(&all).await.unwrap().is_empty());
}

/// A tiny deterministic generator (xorshift64*), so the model test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn word(&mut self, max_len: usize) -> String {
        const ALPHABET: [&str; 6] = ["a", "b", "/", "-", "é", "\u{10ffff}"];
        let len = self.below(max_len + 1);
        (0..len).map(|_| ALPHABET[self.below(ALPHABET.len())]).collect()
    }
}

/// Every sort key the model lists for (prefix, delimiter), in order, ignoring `start_after`.
fn model_listing(
    model: &BTreeMap<String, String>,
    prefix: &str,
    delim: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in model.keys().filter(|k| k.starts_with(prefix)) {
        let rolled = delim.and_then(|d| {
            key[prefix.len()..].find(d).map(|i| format!("{}*", &key[..prefix.len() + i + d.len()]))
        });
        let entry = rolled.unwrap_or_else(|| key.clone());
        if out.last() != Some(&entry) {
            out.push(entry);
        }
    }
    out
}

fn strip(sort_key: &str) -> &str {
    sort_key.strip_suffix('*').unwrap_or(sort_key)
}

/// Random puts, deletes and listings against a `BTreeMap` model (fixed seed): every page, and
/// paging through with `start_after`, gives exactly the model's keys and common prefixes.
pub async fn random_listing_model(m: &impl MetadataStore) {
    setup(m).await;
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let delimiters = [None, Some("/"), Some("-/"), Some("é")];
    for step in 0..400 {
        let key = rng.word(4);
        if key.is_empty() {
            continue;
        }
        if rng.below(3) == 0 {
            m.delete_object("bk", &key, del(WriteCondition::None)).await.unwrap();
            model.remove(&key);
        } else {
            let etag = format!("e{step}");
            m.put_object(obj("bk", &key, &etag, &[&etag]), WriteCondition::None).await.unwrap();
            model.insert(key, etag);
        }
        if step % 4 != 0 {
            continue;
        }
        let prefix = rng.word(2);
        let delim = delimiters[rng.below(delimiters.len())];
        let expected = model_listing(&model, &prefix, delim);
        // One page from a random start_after.
        let start_after = (rng.below(2) == 0).then(|| rng.word(3));
        let max = u32::try_from(rng.below(6)).unwrap();
        let q = query(&prefix, delim, start_after.as_deref(), max);
        let page = m.list_objects("bk", &q).await.unwrap();
        let after: Vec<&String> = expected
            .iter()
            .filter(|e| start_after.as_deref().is_none_or(|sa| strip(e) > sa))
            .collect();
        let want: Vec<String> = after.iter().take(max as usize).map(|s| (*s).clone()).collect();
        let ctx = format!("prefix {prefix:?} delim {delim:?} after {start_after:?} max {max}");
        assert_eq!(keys(&page), want, "{ctx}");
        assert_eq!(page.is_truncated, max > 0 && after.len() > max as usize, "{ctx}");
        for e in &page.entries {
            if let ListEntry::Object(o) = e {
                assert_eq!(Some(&o.etag), model.get(&o.key), "{ctx}");
            }
        }
        // Paging through from the start.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let page_size = u32::try_from(1 + rng.below(3)).unwrap();
        loop {
            let q = query(&prefix, delim, cursor.as_deref(), page_size);
            let page = m.list_objects("bk", &q).await.unwrap();
            seen.extend(keys(&page));
            if !page.is_truncated {
                break;
            }
            let next = page.entries.last().unwrap().sort_key().to_owned();
            assert!(cursor.as_ref().is_none_or(|c| next > *c), "paging must advance: {ctx}");
            cursor = Some(next);
        }
        assert_eq!(seen, expected, "paging prefix {prefix:?} delim {delim:?}");
    }
}

// ---- versioning ----

async fn versioned(m: &impl MetadataStore, v: Versioning) {
    setup(m).await;
    m.set_bucket_versioning("bk", v).await.unwrap();
}

fn version_ids(page: &VersionPage) -> Vec<String> {
    page.entries
        .iter()
        .map(|e| match e {
            VersionListEntry::Version(v) => {
                let flags = match (v.is_latest, v.is_delete_marker) {
                    (true, true) => "+dm",
                    (true, false) => "+",
                    (false, true) => "dm",
                    (false, false) => "",
                };
                format!("{}@{}{flags}", v.key, v.version_id)
            }
            VersionListEntry::CommonPrefix(p) => format!("{p}*"),
        })
        .collect()
}

fn vquery(
    prefix: &str,
    delim: Option<&str>,
    km: Option<&str>,
    vm: Option<&str>,
    max: u32,
) -> VersionListQuery {
    VersionListQuery {
        prefix: prefix.into(),
        delimiter: delim.map(Into::into),
        key_marker: km.map(Into::into),
        version_id_marker: vm.map(Into::into),
        max_keys: max,
    }
}

async fn lv(m: &impl MetadataStore, q: VersionListQuery) -> VersionPage {
    m.list_object_versions("bk", &q).await.unwrap()
}

async fn all_versions(m: &impl MetadataStore) -> Vec<String> {
    version_ids(&m.list_object_versions("bk", &vquery("", None, None, None, 1000)).await.unwrap())
}

/// The versioning state: unversioned at creation, enabled and suspended at will, never back.
pub async fn versioning_state(m: &impl MetadataStore) {
    setup(m).await;
    assert_eq!(m.bucket("bk").await.unwrap().unwrap().versioning, Versioning::Unversioned);
    m.set_bucket_versioning("bk", Versioning::Unversioned).await.unwrap();
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    assert_eq!(m.bucket("bk").await.unwrap().unwrap().versioning, Versioning::Enabled);
    m.set_bucket_versioning("bk", Versioning::Suspended).await.unwrap();
    assert_eq!(m.bucket("bk").await.unwrap().unwrap().versioning, Versioning::Suspended);
    let r = m.set_bucket_versioning("bk", Versioning::Unversioned).await;
    assert!(matches!(r, Err(MetaError::Conflict)), "{r:?}");
    let listed = m.list_buckets(None).await.unwrap();
    assert_eq!(listed[0].versioning, Versioning::Suspended);
    let r = m.set_bucket_versioning("nope", Versioning::Enabled).await;
    assert!(matches!(r, Err(MetaError::NoSuchBucket)), "{r:?}");
}

/// Writes to an enabled bucket stack versions with distinct ids, newest first; every version
/// stays readable by id and holds its blobs.
pub async fn versioned_puts_stack(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    let mut ids = Vec::new();
    for (i, blob) in ["b1", "b2", "b3"].into_iter().enumerate() {
        let out = m.put_object(obj("bk", "k", &format!("e{i}"), &[blob]), WriteCondition::None);
        let out = out.await.unwrap();
        assert_eq!(out.replaced, i > 0);
        assert!(out.retired_blobs.is_empty());
        let id = out.version_id.unwrap();
        assert!(crate::is_version_id(&id) && id != NULL_VERSION, "{id}");
        ids.push(id);
    }
    // Newest first in id order too.
    assert!(ids[2] < ids[1] && ids[1] < ids[0], "{ids:?}");
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().etag, "e2");
    for (i, id) in ids.iter().enumerate() {
        let v = m.object_version("bk", "k", Some(id)).await.unwrap().unwrap();
        assert_eq!(
            (v.etag.as_str(), v.version_id.as_str()),
            (format!("e{i}").as_str(), id.as_str())
        );
        assert_eq!(v.parts[0].blob_id, format!("b{}", i + 1));
    }
    assert!(m.object_version("bk", "k", Some(NULL_VERSION)).await.unwrap().is_none());
    assert!(m.object_version("bk", "k", Some(&"0".repeat(32))).await.unwrap().is_none());
    assert_eq!(
        all_versions(m).await,
        [format!("k@{}+", ids[2]), format!("k@{}", ids[1]), format!("k@{}", ids[0])]
    );
    let page = m.list_objects("bk", &query("", None, None, 10)).await.unwrap();
    assert_eq!(keys(&page), ["k"]);
    // Removing versions retires exactly their blobs; the newest remaining becomes latest.
    let out = m.delete_object("bk", "k", del_version(&ids[2])).await.unwrap();
    assert_eq!(out.retired_blobs, strs(&["b3"]));
    assert_eq!((out.replaced, out.delete_marker), (true, false));
    assert_eq!(out.version_id.as_deref(), Some(ids[2].as_str()));
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().etag, "e1");
    let out = m.delete_object("bk", "k", del_version(&ids[0])).await.unwrap();
    assert_eq!(out.retired_blobs, strs(&["b1"]));
    assert_eq!(all_versions(m).await, [format!("k@{}+", ids[1])]);
    // An unknown id changes nothing.
    let out = m.delete_object("bk", "k", del_version(&ids[0])).await.unwrap();
    assert!(!out.replaced && out.retired_blobs.is_empty());
    assert!(matches!(m.delete_bucket("bk").await, Err(MetaError::BucketNotEmpty)));
    m.delete_object("bk", "k", del_version(&ids[1])).await.unwrap();
    assert!(all_versions(m).await.is_empty());
    m.delete_bucket("bk").await.unwrap();
}

/// Deletes without a version id add delete markers: the key disappears from object reads and
/// listings, the bucket stays non-empty, and removing the marker brings the object back.
pub async fn delete_markers(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    let v1 = m.put_object(obj("bk", "k", "e1", &["b1"]), WriteCondition::None).await.unwrap();
    let v1 = v1.version_id.unwrap();
    let out = m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    assert!(out.delete_marker && out.replaced && out.retired_blobs.is_empty());
    let dm = out.version_id.unwrap();
    assert!(dm < v1);
    assert!(m.object("bk", "k").await.unwrap().is_none());
    let marker = m.object_version("bk", "k", None).await.unwrap().unwrap();
    assert!(marker.is_delete_marker);
    assert_eq!((marker.version_id.as_str(), marker.owner.as_str()), (dm.as_str(), "alice"));
    assert_eq!(marker.last_modified, t(9, 0));
    assert!(m.object_version("bk", "k", Some(&dm)).await.unwrap().unwrap().is_delete_marker);
    assert!(keys(&m.list_objects("bk", &query("", None, None, 10)).await.unwrap()).is_empty());
    assert!(keys(&m.list_objects("bk", &query("", Some("/"), None, 10)).await.unwrap()).is_empty());
    assert_eq!(all_versions(m).await, [format!("k@{dm}+dm"), format!("k@{v1}")]);
    // Another delete stacks another marker; a delete of a key without versions adds one too.
    let dm2 = m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    let dm2 = dm2.version_id.unwrap();
    let out = m.delete_object("bk", "ghost", del(WriteCondition::None)).await.unwrap();
    assert!(out.delete_marker && !out.replaced);
    let ghost = out.version_id.unwrap();
    assert_eq!(
        all_versions(m).await,
        [
            format!("ghost@{ghost}+dm"),
            format!("k@{dm2}+dm"),
            format!("k@{dm}dm"),
            format!("k@{v1}")
        ]
    );
    // Removing the latest marker promotes the older one; removing both restores the object.
    let out = m.delete_object("bk", "k", del_version(&dm2)).await.unwrap();
    assert!(out.delete_marker && out.replaced);
    assert!(m.object("bk", "k").await.unwrap().is_none());
    m.delete_object("bk", "k", del_version(&dm)).await.unwrap();
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().version_id, v1);
    assert_eq!(keys(&m.list_objects("bk", &query("", None, None, 10)).await.unwrap()), ["k"]);
    // A bucket holding only a marker is not empty.
    m.delete_object("bk", "k", del_version(&v1)).await.unwrap();
    assert!(matches!(m.delete_bucket("bk").await, Err(MetaError::BucketNotEmpty)));
    m.delete_object("bk", "ghost", del_version(&ghost)).await.unwrap();
    m.delete_bucket("bk").await.unwrap();
}

/// The `null` version: kept when versioning is enabled, replaced by writes and deletes of a
/// suspended bucket wherever it is in the key's history, removable by its id.
pub async fn null_version_rules(m: &impl MetadataStore) {
    setup(m).await;
    let out = m.put_object(obj("bk", "k", "e0", &["a"]), WriteCondition::None).await.unwrap();
    assert_eq!(out.version_id, None);
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    let v1 = m.put_object(obj("bk", "k", "e1", &["b"]), WriteCondition::None).await.unwrap();
    let v1 = v1.version_id.unwrap();
    assert_eq!(all_versions(m).await, [format!("k@{v1}+"), "k@null".into()]);
    assert_eq!(m.object_version("bk", "k", Some(NULL_VERSION)).await.unwrap().unwrap().etag, "e0");
    m.set_bucket_versioning("bk", Versioning::Suspended).await.unwrap();
    let out = m.put_object(obj("bk", "k", "e2", &["c"]), WriteCondition::None).await.unwrap();
    assert_eq!(out.version_id, None, "a suspended bucket's writes report no version id");
    assert_eq!(out.retired_blobs, strs(&["a"]));
    assert_eq!(all_versions(m).await, ["k@null+".to_owned(), format!("k@{v1}")]);
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().etag, "e2");
    // A suspended delete replaces the null version with a null delete marker.
    let out = m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    assert_eq!(out.version_id.as_deref(), Some(NULL_VERSION));
    assert!(out.delete_marker);
    assert_eq!(out.retired_blobs, strs(&["c"]));
    assert_eq!(all_versions(m).await, ["k@null+dm".to_owned(), format!("k@{v1}")]);
    assert!(m.object("bk", "k").await.unwrap().is_none());
    let out = m.delete_object("bk", "k", del_version(NULL_VERSION)).await.unwrap();
    assert!(out.delete_marker && out.replaced);
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().version_id, v1);
    // Enabled again: new ids, the suspended-era history stays.
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    m.put_object(obj("bk", "k", "e3", &["d"]), WriteCondition::None).await.unwrap();
    m.set_bucket_versioning("bk", Versioning::Suspended).await.unwrap();
    m.put_object(obj("bk", "k", "e4", &["e"]), WriteCondition::None).await.unwrap();
    let ids = all_versions(m).await;
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], "k@null+");
    assert_eq!(ids[2], format!("k@{v1}"));
    // Multipart completion follows the same rules.
    m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
    m.create_upload(upload("bk", "k", "u1", t(5, 0))).await.unwrap();
    m.put_part("bk", "u1", part(1, "p1")).await.unwrap();
    let out = m.complete_upload("u1", obj("bk", "k", "mp", &["p1"]), WriteCondition::None);
    let id = out.await.unwrap().version_id.unwrap();
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().version_id, id);
    assert_eq!(all_versions(m).await.len(), 4);
}

/// Tags of any version can be replaced by id without touching the others; markers have none.
pub async fn version_tags(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    let v1 = m.put_object(obj("bk", "k", "e1", &[]), WriteCondition::None).await.unwrap();
    let v1 = v1.version_id.unwrap();
    let v2 = m.put_object(obj("bk", "k", "e2", &[]), WriteCondition::None).await.unwrap();
    let v2 = v2.version_id.unwrap();
    let tags = vec![("old".to_owned(), "1".to_owned())];
    assert_eq!(m.set_object_tags("bk", "k", Some(&v1), tags.clone()).await.unwrap(), v1);
    assert_eq!(m.object_version("bk", "k", Some(&v1)).await.unwrap().unwrap().tags, tags);
    assert_eq!(m.object("bk", "k").await.unwrap().unwrap().tags, obj("bk", "k", "", &[]).tags);
    assert_eq!(m.set_object_tags("bk", "k", None, vec![]).await.unwrap(), v2);
    let dm = m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    let dm = dm.version_id.unwrap();
    for id in [None, Some(dm.as_str())] {
        let r = m.set_object_tags("bk", "k", id, vec![]).await;
        assert!(matches!(r, Err(MetaError::NoSuchKey)), "{r:?}");
    }
}

/// Write conditions see a latest delete marker as no current version.
pub async fn conditions_with_markers(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    m.put_object(obj("bk", "k", "e1", &[]), WriteCondition::None).await.unwrap();
    m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    let r = m.put_object(obj("bk", "k", "e2", &[]), WriteCondition::IfMatch("e1".into())).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)), "{r:?}");
    let r = m.delete_object("bk", "k", del(WriteCondition::IfMatch("e1".into()))).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)), "{r:?}");
    assert_eq!(all_versions(m).await.len(), 2);
    m.put_object(obj("bk", "k", "e2", &[]), WriteCondition::IfNoneMatchAny).await.unwrap();
    let r = m.put_object(obj("bk", "k", "e3", &[]), WriteCondition::IfNoneMatchAny).await;
    assert!(matches!(r, Err(MetaError::PreconditionFailed)), "{r:?}");
    assert_eq!(all_versions(m).await.len(), 3);
}

/// Version listings: key and version-id markers, prefixes, delimiters, truncation.
pub async fn list_versions_markers(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in ["a", "b/1", "b/2", "c", "a", "c", "a"] {
        let out = m.put_object(obj("bk", key, "e", &[]), WriteCondition::None).await.unwrap();
        ids.entry(key).or_default().insert(0, out.version_id.unwrap());
    }
    let a = &ids["a"];
    let all = all_versions(m).await;
    assert_eq!(all.len(), 7);
    assert_eq!(all[0], format!("a@{}+", a[0]));
    assert_eq!(all[2], format!("a@{}", a[2]));
    // Truncation and the markers of the next page.
    let page = lv(m, vquery("", None, None, None, 2)).await;
    assert!(page.is_truncated);
    assert_eq!(version_ids(&page), all[..2]);
    let page = lv(m, vquery("", None, Some("a"), Some(&a[1]), 2));
    let page = page.await;
    assert_eq!(version_ids(&page), all[2..4]);
    // A key marker alone skips the key's versions; an unknown version marker skips the key.
    let page = lv(m, vquery("", None, Some("a"), None, 1000)).await;
    assert_eq!(version_ids(&page), all[3..]);
    let zeros = "0".repeat(32);
    let page = lv(m, vquery("", None, Some("a"), Some(&zeros), 1000));
    assert_eq!(version_ids(&page.await), all[3..]);
    // Delimiters roll versions up; a key marker at or inside a prefix skips it.
    let page = lv(m, vquery("", Some("/"), None, None, 1000)).await;
    let got = version_ids(&page);
    assert_eq!(got.len(), 3 + 1 + 2);
    assert_eq!(got[3], "b/*");
    for km in ["b/", "b/1"] {
        let page = lv(m, vquery("", Some("/"), Some(km), None, 1000));
        let got = version_ids(&page.await);
        assert_eq!(got.len(), 2, "{km}: {got:?}");
        assert!(got[0].starts_with("c@"), "{km}: {got:?}");
    }
    let page = lv(m, vquery("b/", Some("/"), None, None, 1000)).await;
    let got = version_ids(&page);
    assert_eq!(got, [format!("b/1@{}+", ids["b/1"][0]), format!("b/2@{}+", ids["b/2"][0])]);
    let page = lv(m, vquery("", None, None, None, 0)).await;
    assert!(page.entries.is_empty() && !page.is_truncated);
    let r = m.list_object_versions("nope", &vquery("", None, None, None, 10)).await;
    assert!(matches!(r, Err(MetaError::NoSuchBucket)), "{r:?}");
}

/// One step of [`check_version_model`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelOp {
    /// Put an object.
    Put(String),
    /// Delete without a version id.
    Delete(String),
    /// Delete the version at this position of the key's history (newest first), modulo its
    /// length; nothing if the key has no versions.
    DeleteVersion(String, usize),
    /// Enable (`true`) or suspend versioning.
    SetVersioning(bool),
    /// List versions of keys under this prefix with an optional `/` delimiter, paging through
    /// with pages of this size (1..), and compare with the model.
    List(String, bool, u32),
}

/// The model of one key's history, newest first: (version id, ETag; `None` for a marker).
type History = Vec<(String, Option<String>)>;

/// Runs `ops` against `m` (a fresh store) and a `BTreeMap` of key histories, checking every
/// outcome, read and listing against the model.
pub async fn check_version_model(m: &impl MetadataStore, ops: &[ModelOp]) {
    setup(m).await;
    let mut mode = Versioning::Unversioned;
    let mut model: BTreeMap<String, History> = BTreeMap::new();
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            ModelOp::Put(key) => {
                let etag = format!("e{step}");
                let v = obj("bk", key, &etag, &[&etag]);
                let out = m.put_object(v, WriteCondition::None).await.unwrap();
                let h = model.entry(key.clone()).or_default();
                let id = model_add(mode, false, h, out.version_id.as_deref(), &ctx);
                h.insert(0, (id, Some(etag)));
            }
            ModelOp::Delete(key) => {
                let out = m.delete_object("bk", key, del(WriteCondition::None)).await.unwrap();
                if mode == Versioning::Unversioned {
                    assert_eq!(out.replaced, model.remove(key).is_some(), "{ctx}");
                    assert!(!out.delete_marker, "{ctx}");
                } else {
                    assert!(out.delete_marker, "{ctx}");
                    let h = model.entry(key.clone()).or_default();
                    let id = model_add(mode, true, h, out.version_id.as_deref(), &ctx);
                    h.insert(0, (id, None));
                }
            }
            ModelOp::DeleteVersion(key, i) => {
                let Some(h) = model.get_mut(key) else { continue };
                let (id, etag) = h.remove(i % h.len());
                if h.is_empty() {
                    model.remove(key);
                }
                let out = m.delete_object("bk", key, del_version(&id)).await.unwrap();
                assert!(out.replaced, "{ctx}");
                assert_eq!(out.delete_marker, etag.is_none(), "{ctx}");
                let retired = etag.map(|e| vec![e]).unwrap_or_default();
                assert_eq!(out.retired_blobs, retired, "{ctx}");
            }
            ModelOp::SetVersioning(on) => {
                mode = if *on { Versioning::Enabled } else { Versioning::Suspended };
                m.set_bucket_versioning("bk", mode).await.unwrap();
            }
            ModelOp::List(prefix, delim, page_size) => {
                let delim = delim.then_some("/");
                let want = model_versions(&model, prefix, delim);
                let mut seen = Vec::new();
                let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
                loop {
                    let q = vquery(prefix, delim, km.as_deref(), vm.as_deref(), *page_size);
                    let page = m.list_object_versions("bk", &q).await.unwrap();
                    seen.extend(version_ids(&page));
                    if !page.is_truncated {
                        break;
                    }
                    assert!(!page.entries.is_empty(), "{ctx}");
                    (km, vm) = match page.entries.last().unwrap() {
                        VersionListEntry::Version(v) => {
                            (Some(v.key.clone()), Some(v.version_id.clone()))
                        }
                        VersionListEntry::CommonPrefix(p) => (Some(p.clone()), None),
                    };
                }
                assert_eq!(seen, want, "{ctx}");
                // Object listings show exactly the keys whose latest version is no marker.
                let live: Vec<String> = model
                    .iter()
                    .filter(|(k, h)| k.starts_with(prefix.as_str()) && h[0].1.is_some())
                    .map(|(k, _)| k.clone())
                    .collect();
                let page = m.list_objects("bk", &query(prefix, None, None, 1000)).await.unwrap();
                assert_eq!(keys(&page), live, "{ctx}");
            }
        }
        for (key, h) in &model {
            let cur = m.object("bk", key).await.unwrap();
            assert_eq!(cur.map(|v| v.etag), h[0].1.clone(), "{ctx}: {key}");
        }
    }
    // The blob of every model version is still referenced: none was retired early.
    let retired = retired_ids(m).await;
    for h in model.values() {
        for (_, etag) in h {
            if let Some(e) = etag {
                assert!(!retired.contains(e), "{e} retired while a version names it");
            }
        }
    }
}

/// Applies the store's answer for a new version in `mode` to `h` (removing a replaced null
/// version) and returns the new version's id.
fn model_add(
    mode: Versioning,
    marker: bool,
    h: &mut History,
    got: Option<&str>,
    ctx: &str,
) -> String {
    match mode {
        Versioning::Enabled => {
            let id = got.unwrap().to_owned();
            assert!(crate::is_version_id(&id) && id != NULL_VERSION, "{ctx}: {id}");
            for (other, _) in h.iter().filter(|(o, _)| o != NULL_VERSION) {
                assert!(id < *other, "{ctx}: {id} sorts after older {other}");
            }
            id
        }
        Versioning::Suspended | Versioning::Unversioned => {
            let want = (mode == Versioning::Suspended && marker).then_some(NULL_VERSION);
            assert_eq!(got, want, "{ctx}");
            h.retain(|(id, _)| id != NULL_VERSION);
            NULL_VERSION.to_owned()
        }
    }
}

fn model_versions(
    model: &BTreeMap<String, History>,
    prefix: &str,
    delim: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (key, h) in model.iter().filter(|(k, _)| k.starts_with(prefix)) {
        let rolled = delim.and_then(|d| {
            key[prefix.len()..].find(d).map(|i| format!("{}*", &key[..prefix.len() + i + d.len()]))
        });
        if let Some(cp) = rolled {
            if out.last() != Some(&cp) {
                out.push(cp);
            }
            continue;
        }
        for (i, (id, etag)) in h.iter().enumerate() {
            let flags = match (i == 0, etag.is_none()) {
                (true, true) => "+dm",
                (true, false) => "+",
                (false, true) => "dm",
                (false, false) => "",
            };
            out.push(format!("{key}@{id}{flags}"));
        }
    }
    out
}

/// A random sequence of [`ModelOp`]s from a fixed seed, run with [`check_version_model`].
pub async fn random_version_model(m: &impl MetadataStore) {
    let mut rng = Rng(0xF00D_5EED_1234_ABCD);
    let mut ops = Vec::new();
    for _ in 0..300 {
        let key = ["a", "b", "a/x", "a/y", "b/z", "c"][rng.below(6)].to_owned();
        ops.push(match rng.below(12) {
            0..=4 => ModelOp::Put(key),
            5 | 6 => ModelOp::Delete(key),
            7 | 8 => ModelOp::DeleteVersion(key, rng.below(4)),
            9 => ModelOp::SetVersioning(rng.below(3) != 0),
            _ => ModelOp::List(["", "a", "a/", "b"][rng.below(4)].to_owned(), rng.below(2) == 0, {
                u32::try_from(1 + rng.below(4)).unwrap()
            }),
        });
    }
    check_version_model(m, &ops).await;
}

/// Object lock: a version's lock is stored with it (PutObject, CompleteMultipartUpload from the
/// upload's), changed only as the rules allow, and judged against the caller's clock in the
/// delete's transaction: a locked version cannot be deleted by id, a plain delete still adds a
/// marker, and once retention expires the delete succeeds.
pub async fn object_lock(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    let gov = |s| Some(Retention { mode: LockMode::Governance, until: t(s, 0) });
    let comp = |s| Some(Retention { mode: LockMode::Compliance, until: t(s, 0) });
    let mut v = obj("bk", "k", "e1", &["b1"]);
    v.lock = ObjectLock { retention: comp(100), legal_hold: false };
    let id = m.put_object(v.clone(), WriteCondition::None).await.unwrap().version_id.unwrap();
    let got = m.object_version("bk", "k", Some(&id)).await.unwrap().unwrap();
    assert_eq!(got.lock, v.lock);
    let at = |secs, bypass| DeleteOptions {
        version_id: Some(id.clone()),
        now: t(secs, 0),
        bypass_governance: bypass,
        ..del(WriteCondition::None)
    };
    // Compliance: no delete by id before it expires, bypass or not; a marker is fine.
    for bypass in [false, true] {
        let r = m.delete_object("bk", "k", at(99, bypass)).await;
        assert!(matches!(r, Err(MetaError::ObjectLocked)), "{r:?}");
    }
    let marker = m.delete_object("bk", "k", del(WriteCondition::None)).await.unwrap();
    assert!(marker.delete_marker);
    // Nobody shortens or weakens it; extending works; a marker has no lock to change.
    let set = |change, secs| m.set_object_lock("bk", "k", Some(&id), change, t(secs, 0));
    let shorten = LockChange::Retention { retention: comp(50), bypass: true };
    assert!(matches!(set(shorten, 10).await, Err(MetaError::ObjectLocked)));
    let weaken = LockChange::Retention { retention: gov(500), bypass: true };
    assert!(matches!(set(weaken, 10).await, Err(MetaError::ObjectLocked)));
    let remove = LockChange::Retention { retention: None, bypass: true };
    assert!(matches!(set(remove, 10).await, Err(MetaError::ObjectLocked)));
    let extend = LockChange::Retention { retention: comp(200), bypass: false };
    assert_eq!(set(extend, 10).await.unwrap(), id);
    let marker_id = marker.version_id.unwrap();
    let r =
        m.set_object_lock("bk", "k", Some(&marker_id), LockChange::LegalHold(true), t(1, 0)).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)), "{r:?}");
    // A legal hold blocks deletion after retention expired, until it is lifted.
    assert_eq!(set(LockChange::LegalHold(true), 10).await.unwrap(), id);
    let got = m.object_version("bk", "k", Some(&id)).await.unwrap().unwrap();
    assert_eq!(got.lock, ObjectLock { retention: comp(200), legal_hold: true });
    assert!(matches!(
        m.delete_object("bk", "k", at(300, false)).await,
        Err(MetaError::ObjectLocked)
    ));
    set(LockChange::LegalHold(false), 10).await.unwrap();
    assert!(matches!(
        m.delete_object("bk", "k", at(199, true)).await,
        Err(MetaError::ObjectLocked)
    ));
    let gone = m.delete_object("bk", "k", at(200, false)).await.unwrap();
    assert!(gone.replaced);
    assert!(m.object_version("bk", "k", Some(&id)).await.unwrap().is_none());

    // Governance, from an upload: bypass deletes it, nothing else does.
    let mut u = upload("bk", "mp", "u1", t(0, 0));
    u.lock = ObjectLock { retention: gov(100), legal_hold: false };
    m.create_upload(u.clone()).await.unwrap();
    assert_eq!(m.upload("bk", "u1").await.unwrap(), Some(u.clone()));
    m.put_part("bk", "u1", part(1, "mp1")).await.unwrap();
    let mut done = obj("bk", "mp", "x-1", &["mp1"]);
    done.lock = u.lock;
    let out = m.complete_upload("u1", done, WriteCondition::None).await.unwrap();
    let mid = out.version_id.unwrap();
    let del_mp = |bypass| DeleteOptions {
        version_id: Some(mid.clone()),
        now: t(10, 0),
        bypass_governance: bypass,
        ..del(WriteCondition::None)
    };
    assert!(matches!(
        m.delete_object("bk", "mp", del_mp(false)).await,
        Err(MetaError::ObjectLocked)
    ));
    let r = m
        .set_object_lock(
            "bk",
            "mp",
            None,
            LockChange::Retention { retention: gov(50), bypass: false },
            t(10, 0),
        )
        .await;
    assert!(matches!(r, Err(MetaError::ObjectLocked)), "{r:?}");
    assert!(m.delete_object("bk", "mp", del_mp(true)).await.unwrap().replaced);
    // Missing things.
    let r = m.set_object_lock("nobucket", "k", None, LockChange::LegalHold(true), t(0, 0)).await;
    assert!(matches!(r, Err(MetaError::NoSuchBucket)), "{r:?}");
    let r = m.set_object_lock("bk", "nokey", None, LockChange::LegalHold(true), t(0, 0)).await;
    assert!(matches!(r, Err(MetaError::NoSuchKey)), "{r:?}");
}

fn kms_key(id: &str, alias: Option<&str>) -> KmsKeyRow {
    KmsKeyRow {
        key_id: id.to_owned(),
        alias: alias.map(str::to_owned),
        description: format!("key {id}"),
        enabled: true,
        created_unix_seconds: 1_700_000_000,
        material: id.as_bytes().iter().rev().copied().chain([0, 255]).collect(),
    }
}

/// KMS keys: insert, unique ids and aliases (no alias may repeat), lookups by id and alias,
/// listing in key id order, the enabled flag and the material replaced in place.
pub async fn kms_keys(m: &impl MetadataStore) {
    assert_eq!(m.kms_keys().await.unwrap(), vec![]);
    assert_eq!(m.kms_key("k").await.unwrap(), None);
    let b = kms_key("b-key", Some("aws/s3"));
    let a = kms_key("A-key", None);
    let c = kms_key("c-key", None);
    for k in [&b, &a, &c] {
        m.insert_kms_key(k.clone()).await.unwrap();
    }
    let dup_id = m.insert_kms_key(kms_key("b-key", Some("other"))).await;
    assert!(matches!(dup_id, Err(MetaError::KmsKeyExists)), "{dup_id:?}");
    let dup_alias = m.insert_kms_key(kms_key("d-key", Some("aws/s3"))).await;
    assert!(matches!(dup_alias, Err(MetaError::KmsKeyExists)), "{dup_alias:?}");
    assert_eq!(m.kms_key("d-key").await.unwrap(), None, "a refused insert leaves nothing");
    assert_eq!(m.kms_key("b-key").await.unwrap(), Some(b.clone()));
    assert_eq!(m.kms_key_by_alias("aws/s3").await.unwrap(), Some(b.clone()));
    assert_eq!(m.kms_key_by_alias("other").await.unwrap(), None);
    assert_eq!(m.kms_key_by_alias("").await.unwrap(), None);
    // Byte order of key ids: upper case before lower case.
    assert_eq!(m.kms_keys().await.unwrap(), vec![a.clone(), b.clone(), c.clone()]);

    assert!(m.set_kms_key_enabled("b-key", false).await.unwrap());
    assert!(!m.kms_key("b-key").await.unwrap().unwrap().enabled);
    assert!(!m.kms_key_by_alias("aws/s3").await.unwrap().unwrap().enabled);
    assert!(m.kms_key("c-key").await.unwrap().unwrap().enabled, "only the named key changes");
    assert!(m.set_kms_key_enabled("b-key", true).await.unwrap());
    assert!(m.kms_key("b-key").await.unwrap().unwrap().enabled);
    assert!(!m.set_kms_key_enabled("missing", false).await.unwrap());

    let material = vec![9; 80];
    assert!(m.set_kms_key_material("c-key", material.clone()).await.unwrap());
    let got = m.kms_key("c-key").await.unwrap().unwrap();
    assert_eq!(got, KmsKeyRow { material, ..c });
    assert_eq!(m.kms_key("A-key").await.unwrap(), Some(a));
    assert!(!m.set_kms_key_material("missing", vec![1]).await.unwrap());
    assert_eq!(m.kms_keys().await.unwrap().len(), 3);
}

fn ren(condition: WriteCondition) -> RenameOptions {
    RenameOptions {
        source_condition: WriteCondition::None,
        condition,
        lock: ObjectLock::default(),
        owner: "alice".into(),
        now: t(9, 0),
        client_token: None,
    }
}

/// RenameObject in an unversioned bucket: the version moves whole (data, ETag, metadata,
/// checksums, encryption, Last-Modified) and the source is gone; no blob gains or loses its
/// last reference, except those of a destination it replaces.
pub async fn rename_unversioned(m: &impl MetadataStore) {
    setup(m).await;
    let mut v = obj("bk", "a", "e1", &["b1", "b2"]);
    v.encryption = Some("sealed".into());
    m.put_object(v.clone(), WriteCondition::None).await.unwrap();
    m.put_object(obj("bk", "z", "old", &["b9"]), WriteCondition::None).await.unwrap();
    let out = m.rename_object("bk", "a", "z", ren(WriteCondition::None)).await.unwrap();
    assert_eq!(out.retired_blobs, strs(&["b9"]));
    assert!(out.replaced && out.version_id.is_none() && !out.delete_marker);
    assert!(m.object("bk", "a").await.unwrap().is_none());
    let moved = m.object("bk", "z").await.unwrap().unwrap();
    assert_eq!(moved, ObjectVersion { key: "z".into(), ..v });
    assert_eq!(keys(&m.list_objects("bk", &query("", None, None, 10)).await.unwrap()), ["z"]);
    assert_eq!(retired_ids(m).await, strs(&["b9"]));
    // To a key with nothing: nothing replaced, nothing retired.
    let out = m.rename_object("bk", "z", "y/z", ren(WriteCondition::None)).await.unwrap();
    assert_eq!(out, outcome(&[], false));
    assert_eq!(m.object("bk", "y/z").await.unwrap().unwrap().parts[1].blob_id, "b2");
    // Deleting the renamed object retires its blobs: the rename left one reference each.
    let mut out = m.delete_object("bk", "y/z", del(WriteCondition::None)).await.unwrap();
    out.retired_blobs.sort();
    assert_eq!(out.retired_blobs, strs(&["b1", "b2"]));
    // A missing source, a missing bucket.
    let e = m.rename_object("bk", "gone", "x", ren(WriteCondition::None)).await;
    assert!(matches!(e, Err(MetaError::NoSuchKey)), "{e:?}");
    let e = m.rename_object("nb", "a", "x", ren(WriteCondition::None)).await;
    assert!(matches!(e, Err(MetaError::NoSuchBucket)), "{e:?}");
    m.delete_bucket("bk").await.unwrap();
}

/// RenameObject in versioned buckets: the destination gets a new version (a new id when
/// enabled), the source a delete marker, and the source's version stays readable by id.
pub async fn rename_versioned(m: &impl MetadataStore) {
    versioned(m, Versioning::Enabled).await;
    let mut opts = ren(WriteCondition::None);
    opts.lock = ObjectLock { legal_hold: true, ..ObjectLock::default() };
    let v1 = m.put_object(obj("bk", "a", "e1", &["b1"]), WriteCondition::None).await.unwrap();
    let v1 = v1.version_id.unwrap();
    let out = m.rename_object("bk", "a", "b", opts).await.unwrap();
    assert!(out.retired_blobs.is_empty() && !out.replaced);
    let id = out.version_id.unwrap();
    assert!(crate::is_version_id(&id) && id != v1, "{id}");
    let moved = m.object_version("bk", "b", Some(&id)).await.unwrap().unwrap();
    assert_eq!((moved.etag.as_str(), moved.last_modified), ("e1", t(3, 999_999_999)));
    assert!(moved.lock.legal_hold);
    assert!(m.object("bk", "a").await.unwrap().is_none());
    let marker = m.object_version("bk", "a", None).await.unwrap().unwrap();
    assert!(marker.is_delete_marker && marker.last_modified == t(9, 0));
    let kept = m.object_version("bk", "a", Some(&v1)).await.unwrap().unwrap();
    assert!(!kept.is_delete_marker && !kept.lock.legal_hold);
    // The blob is named by both versions: removing one keeps it.
    let out = m.delete_object("bk", "a", del_version(&v1)).await.unwrap();
    assert!(out.retired_blobs.is_empty());
    // A source whose latest version is a delete marker is missing.
    let e = m.rename_object("bk", "a", "c", ren(WriteCondition::None)).await;
    assert!(matches!(e, Err(MetaError::NoSuchKey)), "{e:?}");
    // Suspended: the destination's null version is replaced, the source gets a null marker.
    m.set_bucket_versioning("bk", Versioning::Suspended).await.unwrap();
    m.put_object(obj("bk", "s", "e2", &["b2"]), WriteCondition::None).await.unwrap();
    let out = m.rename_object("bk", "s", "b", ren(WriteCondition::None)).await.unwrap();
    assert!(out.replaced && out.version_id.is_none() && out.retired_blobs.is_empty());
    let marker = m.object_version("bk", "s", None).await.unwrap().unwrap();
    assert!(marker.is_delete_marker && marker.version_id == NULL_VERSION);
    assert_eq!(m.object("bk", "b").await.unwrap().unwrap().etag, "e2");
    // The null marker replaced the source's null version; b's null version holds b2.
    assert!(m.object_version("bk", "b", Some(&id)).await.unwrap().is_some());
    assert_eq!(retired_ids(m).await, Vec::<String>::new());
}

/// The conditions of a rename are checked in its transaction, a failed one changes nothing,
/// and a client token answers a retry as the rename it repeats.
pub async fn rename_conditions_and_tokens(m: &impl MetadataStore) {
    setup(m).await;
    m.put_object(obj("bk", "a", "e1", &["b1"]), WriteCondition::None).await.unwrap();
    m.put_object(obj("bk", "d", "e2", &["b2"]), WriteCondition::None).await.unwrap();
    let refused = [
        RenameOptions {
            source_condition: WriteCondition::IfMatch("zz".into()),
            ..ren(WriteCondition::None)
        },
        ren(WriteCondition::IfNoneMatchAny),
        ren(WriteCondition::IfMatch("e1".into())),
    ];
    for opts in refused {
        let e = m.rename_object("bk", "a", "d", opts.clone()).await;
        assert!(matches!(e, Err(MetaError::PreconditionFailed)), "{opts:?}: {e:?}");
    }
    let e = m.rename_object("bk", "a", "new", ren(WriteCondition::IfMatch("e1".into()))).await;
    assert!(matches!(e, Err(MetaError::NoSuchKey)), "{e:?}");
    assert_eq!(m.object("bk", "a").await.unwrap().unwrap().etag, "e1");
    assert_eq!(m.object("bk", "d").await.unwrap().unwrap().etag, "e2");
    assert!(retired_ids(m).await.is_empty());
    // Matching conditions rename.
    let opts = RenameOptions {
        source_condition: WriteCondition::IfMatch("e1".into()),
        client_token: Some("tok-1".into()),
        ..ren(WriteCondition::IfMatch("e2".into()))
    };
    let out = m.rename_object("bk", "a", "d", opts.clone()).await.unwrap();
    assert_eq!(out, outcome(&["b2"], true));
    // The retry with the same token is answered without renaming (the source is gone, and
    // a new object at the source stays where it is).
    m.put_object(obj("bk", "a", "e3", &["b3"]), WriteCondition::None).await.unwrap();
    let again = m.rename_object("bk", "a", "d", opts.clone()).await.unwrap();
    assert_eq!(again, outcome(&[], false));
    assert_eq!(m.object("bk", "a").await.unwrap().unwrap().etag, "e3");
    assert_eq!(m.object("bk", "d").await.unwrap().unwrap().etag, "e1");
    // The token names that rename only.
    let other = RenameOptions { client_token: Some("tok-1".into()), ..ren(WriteCondition::None) };
    let e = m.rename_object("bk", "a", "elsewhere", other).await;
    assert!(matches!(e, Err(MetaError::IdempotencyMismatch)), "{e:?}");
    assert!(m.object("bk", "elsewhere").await.unwrap().is_none());
    // Past its lifetime the token is forgotten: the same request renames again.
    let late = RenameOptions {
        now: opts.now + crate::RENAME_TOKEN_TTL,
        client_token: opts.client_token,
        ..ren(WriteCondition::None)
    };
    let out = m.rename_object("bk", "a", "d", late).await.unwrap();
    assert_eq!(out, outcome(&["b1"], true));
    assert_eq!(m.object("bk", "d").await.unwrap().unwrap().etag, "e3");
    assert!(m.object("bk", "a").await.unwrap().is_none());
}

// ---- users' groups, policies and keys ----

fn key(id: &str, user: &str, secs: u64) -> AccessKey {
    AccessKey {
        access_key_id: id.into(),
        secret_key: format!("secret-{id}"),
        user: user.into(),
        active: true,
        created: t(secs, 7),
        last_used: None,
    }
}

fn stored(name: &str, document: &str) -> StoredPolicy {
    StoredPolicy { name: name.into(), document: document.into(), created: t(3, 9) }
}

fn group(name: &str) -> IamChange {
    IamChange::CreateGroup { name: name.into(), created: t(2, 5) }
}

fn member(group: &str, user: &str) -> IamChange {
    IamChange::AddMember { group: group.into(), user: user.into() }
}

fn attach(policy: &str, to: Attachee, stored: bool) -> IamChange {
    IamChange::Attach { policy: policy.into(), to, stored }
}

fn gname(g: &str) -> Attachee {
    Attachee::Group(g.into())
}

fn uname(u: &str) -> Attachee {
    Attachee::User(u.into())
}

/// Groups: create, duplicate, members (idempotent add, remove, unknown user or group), delete
/// detaching members and policies; a user removed leaves its groups.
pub async fn iam_groups(m: &impl MetadataStore) {
    m.create_user(user("alice", "AK1")).await.unwrap();
    m.create_user(user("bob", "AK2")).await.unwrap();
    m.change_iam(group("eng")).await.unwrap();
    m.change_iam(group("ci")).await.unwrap();
    let e = m.change_iam(group("eng")).await;
    assert!(matches!(e, Err(MetaError::AlreadyExists(IamEntity::Group))), "{e:?}");
    m.change_iam(member("eng", "bob")).await.unwrap();
    m.change_iam(member("eng", "alice")).await.unwrap();
    m.change_iam(member("eng", "alice")).await.unwrap();
    m.change_iam(member("ci", "alice")).await.unwrap();
    let e = m.change_iam(member("eng", "nobody")).await;
    assert!(matches!(e, Err(MetaError::NoSuchUser)), "{e:?}");
    let e = m.change_iam(member("ops", "alice")).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Group))), "{e:?}");
    m.change_iam(attach("read-only", gname("eng"), false)).await.unwrap();
    let state = m.iam_state().await.unwrap();
    let names: Vec<&str> = state.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["ci", "eng"]);
    assert_eq!(state.groups[1].members, strs(&["alice", "bob"]));
    assert_eq!(state.groups[1].policies, strs(&["read-only"]));
    assert_eq!(state.groups[1].created, t(2, 5));
    let remove = |g: &str, u: &str| IamChange::RemoveMember { group: g.into(), user: u.into() };
    m.change_iam(remove("eng", "bob")).await.unwrap();
    let e = m.change_iam(remove("eng", "bob")).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Membership))), "{e:?}");
    // Removing a user removes its memberships; deleting a group its members and policies.
    m.delete_user("alice").await.unwrap();
    let state = m.iam_state().await.unwrap();
    assert!(state.groups.iter().all(|g| g.members.is_empty()), "{state:?}");
    m.change_iam(IamChange::DeleteGroup { name: "eng".into() }).await.unwrap();
    let e = m.change_iam(IamChange::DeleteGroup { name: "eng".into() }).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Group))), "{e:?}");
    let state = m.iam_state().await.unwrap();
    assert_eq!(state.groups.len(), 1);
    assert!(state.attachments.is_empty(), "{state:?}");
    // A group of a deleted group's name starts empty.
    m.change_iam(group("eng")).await.unwrap();
    m.change_iam(member("eng", "bob")).await.unwrap();
    let state = m.iam_state().await.unwrap();
    assert_eq!(state.groups[1].members, strs(&["bob"]));
    assert!(state.groups[1].policies.is_empty());
}

/// Stored policies: create, duplicate, attach (stored or not, to users and groups, idempotent),
/// detach, and no delete while attached (DeleteConflict).
pub async fn iam_policies(m: &impl MetadataStore) {
    m.create_user(user("alice", "AK1")).await.unwrap();
    m.change_iam(group("eng")).await.unwrap();
    let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
    m.change_iam(IamChange::CreatePolicy(stored("p1", doc))).await.unwrap();
    let e = m.change_iam(IamChange::CreatePolicy(stored("p1", "{}"))).await;
    assert!(matches!(e, Err(MetaError::AlreadyExists(IamEntity::Policy))), "{e:?}");
    let e = m.change_iam(attach("nope", uname("alice"), true)).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Policy))), "{e:?}");
    let e = m.change_iam(attach("p1", uname("nobody"), true)).await;
    assert!(matches!(e, Err(MetaError::NoSuchUser)), "{e:?}");
    let e = m.change_iam(attach("p1", gname("ops"), true)).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Group))), "{e:?}");
    m.change_iam(attach("p1", uname("alice"), true)).await.unwrap();
    m.change_iam(attach("p1", uname("alice"), true)).await.unwrap();
    m.change_iam(attach("p1", gname("eng"), true)).await.unwrap();
    m.change_iam(attach("admin", uname("alice"), false)).await.unwrap();
    let state = m.iam_state().await.unwrap();
    assert_eq!(state.policies, vec![stored("p1", doc)]);
    assert_eq!(
        state.attachments,
        vec![
            ("admin".to_owned(), uname("alice")),
            ("p1".to_owned(), uname("alice")),
            ("p1".to_owned(), gname("eng")),
        ]
    );
    let delete = || IamChange::DeletePolicy { name: "p1".into() };
    assert!(matches!(m.change_iam(delete()).await, Err(MetaError::DeleteConflict)));
    let detach = |to| IamChange::Detach { policy: "p1".into(), to };
    m.change_iam(detach(uname("alice"))).await.unwrap();
    let e = m.change_iam(detach(uname("alice"))).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Attachment))), "{e:?}");
    assert!(matches!(m.change_iam(delete()).await, Err(MetaError::DeleteConflict)));
    m.change_iam(detach(gname("eng"))).await.unwrap();
    m.change_iam(delete()).await.unwrap();
    let e = m.change_iam(delete()).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::Policy))), "{e:?}");
    let state = m.iam_state().await.unwrap();
    assert!(state.policies.is_empty());
    assert_eq!(state.attachments, vec![("admin".to_owned(), uname("alice"))]);
}

/// Access keys: a user's first key comes with it; more keys; disable, enable, delete; a key id
/// is unique across users; last-used times only move forward; keys go with their user.
pub async fn iam_access_keys(m: &impl MetadataStore) {
    m.create_user(user("alice", "AK1")).await.unwrap();
    m.create_user(user("bob", "AK2")).await.unwrap();
    m.change_iam(IamChange::CreateKey(key("AK1B", "alice", 5))).await.unwrap();
    let e = m.change_iam(IamChange::CreateKey(key("AK2", "alice", 5))).await;
    assert!(matches!(e, Err(MetaError::UserExists)), "{e:?}");
    let e = m.change_iam(IamChange::CreateKey(key("AK9", "nobody", 5))).await;
    assert!(matches!(e, Err(MetaError::NoSuchUser)), "{e:?}");
    assert!(matches!(m.create_user(user("carol", "AK1B")).await, Err(MetaError::UserExists)));
    // Both of alice's keys sign as alice; list_users shows the oldest.
    let alice = m.user_by_access_key("AK1B").await.unwrap().unwrap();
    assert_eq!((alice.name.as_str(), alice.secret_key.as_str()), ("alice", "secret-AK1B"));
    assert_eq!(m.user_by_access_key("AK1").await.unwrap(), Some(user("alice", "AK1")));
    assert_eq!(m.list_users().await.unwrap()[0], user("alice", "AK1"));
    let set = |u: &str, k: &str, active| IamChange::SetKeyActive {
        user: u.into(),
        access_key_id: k.into(),
        active,
    };
    m.change_iam(set("alice", "AK1", false)).await.unwrap();
    assert_eq!(m.user_by_access_key("AK1").await.unwrap(), None);
    assert!(!m.key_access("AK1").await.unwrap().unwrap().active);
    let e = m.change_iam(set("bob", "AK1", true)).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::AccessKey))), "{e:?}");
    m.change_iam(set("alice", "AK1", true)).await.unwrap();
    assert!(m.user_by_access_key("AK1").await.unwrap().is_some());
    let used = vec![("AK1".to_owned(), t(50, 0)), ("AKX".to_owned(), t(50, 0))];
    m.change_iam(IamChange::KeysUsed(used)).await.unwrap();
    m.change_iam(IamChange::KeysUsed(vec![("AK1".to_owned(), t(40, 0))])).await.unwrap();
    let state = m.iam_state().await.unwrap();
    let ids: Vec<&str> = state.keys.iter().map(|k| k.access_key_id.as_str()).collect();
    assert_eq!(ids, ["AK1", "AK1B", "AK2"]);
    assert_eq!(state.keys[0].last_used, Some(t(50, 0)));
    assert_eq!(state.keys[0].created, t(1, 123_456_789));
    assert_eq!(state.keys[1], key("AK1B", "alice", 5));
    let delete =
        |u: &str, k: &str| IamChange::DeleteKey { user: u.into(), access_key_id: k.into() };
    let e = m.change_iam(delete("bob", "AK1")).await;
    assert!(matches!(e, Err(MetaError::NotFound(IamEntity::AccessKey))), "{e:?}");
    m.change_iam(delete("alice", "AK1")).await.unwrap();
    assert!(m.key_access("AK1").await.unwrap().is_none());
    assert_eq!(m.list_users().await.unwrap()[0].access_key_id, "AK1B");
    m.change_iam(delete("alice", "AK1B")).await.unwrap();
    let alice = m.list_users().await.unwrap().remove(0);
    assert_eq!((alice.name.as_str(), alice.access_key_id.as_str()), ("alice", ""));
    m.change_iam(IamChange::CreateKey(key("AK1C", "alice", 6))).await.unwrap();
    m.delete_user("alice").await.unwrap();
    assert!(m.key_access("AK1C").await.unwrap().is_none());
    let state = m.iam_state().await.unwrap();
    assert_eq!(state.keys.len(), 1);
    // A deleted key's id may be given to another key.
    m.change_iam(IamChange::CreateKey(key("AK1", "bob", 7))).await.unwrap();
}

/// What authorization reads for a key: the user, its groups, its own policies then its
/// groups' (stored documents; built-in names without one), in one call.
pub async fn iam_key_access(m: &impl MetadataStore) {
    m.create_user(user("alice", "AK1")).await.unwrap();
    m.create_user(user("bob", "AK2")).await.unwrap();
    assert_eq!(
        m.key_access("AK1").await.unwrap(),
        Some(KeyAccess {
            user: user("alice", "AK1"),
            active: true,
            groups: Vec::new(),
            policies: Vec::new()
        })
    );
    assert_eq!(m.key_access("AKX").await.unwrap(), None);
    m.change_iam(IamChange::CreatePolicy(stored("docs", "{\"d\":1}"))).await.unwrap();
    m.change_iam(group("writers")).await.unwrap();
    m.change_iam(group("auditors")).await.unwrap();
    m.change_iam(member("writers", "alice")).await.unwrap();
    m.change_iam(member("auditors", "alice")).await.unwrap();
    m.change_iam(attach("write-only", gname("writers"), false)).await.unwrap();
    m.change_iam(attach("docs", gname("writers"), true)).await.unwrap();
    m.change_iam(attach("read-only", gname("auditors"), false)).await.unwrap();
    m.change_iam(attach("docs", uname("alice"), true)).await.unwrap();
    m.change_iam(attach("admin", uname("bob"), false)).await.unwrap();
    let applied = |name: &str, group: Option<&str>, doc: Option<&str>| AppliedPolicy {
        name: name.into(),
        group: group.map(Into::into),
        document: doc.map(Into::into),
    };
    let access = m.key_access("AK1").await.unwrap().unwrap();
    assert_eq!(access.groups, strs(&["auditors", "writers"]));
    assert_eq!(
        access.policies,
        vec![
            applied("docs", None, Some("{\"d\":1}")),
            applied("read-only", Some("auditors"), None),
            applied("docs", Some("writers"), Some("{\"d\":1}")),
            applied("write-only", Some("writers"), None),
        ]
    );
    // Leaving a group takes its policies away at once.
    let leave = IamChange::RemoveMember { group: "writers".into(), user: "alice".into() };
    m.change_iam(leave).await.unwrap();
    let access = m.key_access("AK1").await.unwrap().unwrap();
    assert_eq!(access.groups, strs(&["auditors"]));
    assert_eq!(access.policies.len(), 2);
    let bob = m.key_access("AK2").await.unwrap().unwrap();
    assert_eq!(bob.policies, vec![applied("admin", None, None)]);
    let _: IamState = m.iam_state().await.unwrap();
}
