//! The [`MetadataStore`] trait and the records it keeps.

use std::future::Future;
use std::time::SystemTime;

use crate::{LockChange, MetaError, ObjectLock};

/// The version id of the one version an unversioned bucket keeps per key.
pub const NULL_VERSION: &str = "null";

/// A user of the gateway and one of its access keys.
///
/// A user may have several keys ([`AccessKey`], managed with [`IamChange`]); this record
/// carries one: in [`MetadataStore::create_user`], the key the user is created with; from
/// [`MetadataStore::user_by_access_key`], the key looked up; from
/// [`MetadataStore::list_users`], the user's oldest key (both empty when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique user name: the user's identity, never given to another user, even after this
    /// one is removed.
    pub name: String,
    /// Unique access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_key: String,
    /// The root user may act on every bucket.
    pub is_root: bool,
    /// When the user was created.
    pub created: SystemTime,
}

/// An access key of a user: a user signs with any of its active keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// Unique access key id (unique across every user, and never that of another key).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_key: String,
    /// The owning user.
    pub user: String,
    /// Whether the key may sign requests (`Active`); an inactive key fails authentication.
    pub active: bool,
    /// When the key was created.
    pub created: SystemTime,
    /// When the key last signed a request, as recorded by [`IamChange::KeysUsed`] (the
    /// gateway records it at most once a minute per key).
    pub last_used: Option<SystemTime>,
}

/// Who a policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attachee {
    /// A user, by name.
    User(String),
    /// A group, by name.
    Group(String),
}

/// A group of users: its policies apply to its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Unique group name.
    pub name: String,
    /// When the group was created.
    pub created: SystemTime,
    /// Member user names, ordered.
    pub members: Vec<String>,
    /// Names of the policies attached to the group, ordered.
    pub policies: Vec<String>,
}

/// A named identity policy of the operator's (a customer managed policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// Unique policy name. Names of built-in policies are the caller's to reserve.
    pub name: String,
    /// The policy document, validated (and canonicalised) by the caller.
    pub document: String,
    /// When the policy was created.
    pub created: SystemTime,
}

/// Every group, policy, attachment and access key: what the `group`, `policy` and `user key`
/// commands list, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IamState {
    /// Groups ordered by name, with their members and policies.
    pub groups: Vec<Group>,
    /// Stored policies ordered by name.
    pub policies: Vec<StoredPolicy>,
    /// Every attachment (stored or built-in policy name, attachee), ordered.
    pub attachments: Vec<(String, Attachee)>,
    /// Access keys ordered by (user, creation time, key id).
    pub keys: Vec<AccessKey>,
}

/// A policy that applies to a user: its own or one of its groups'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedPolicy {
    /// The policy's name.
    pub name: String,
    /// `None`: attached to the user; `Some(group)`: through that group.
    pub group: Option<String>,
    /// The stored document; `None` when the name is no stored policy (a built-in's name,
    /// which the caller resolves).
    pub document: Option<String>,
}

/// What authenticating and authorizing a request needs of the key that signed it: the user,
/// the key, the user's groups and every policy that applies to it. One transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccess {
    /// The user, carrying this key.
    pub user: User,
    /// Whether the key is active.
    pub active: bool,
    /// The user's groups, ordered.
    pub groups: Vec<String>,
    /// The user's policies, then its groups' (by group name), each ordered by name.
    pub policies: Vec<AppliedPolicy>,
}

/// One change of users' groups, policies, attachments or keys: each is one transaction,
/// validated whole before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamChange {
    /// A new group. [`MetaError::AlreadyExists`] if the name is taken.
    CreateGroup {
        /// Group name.
        name: String,
        /// Creation time.
        created: SystemTime,
    },
    /// Deletes a group, detaching its members and its policies (users keep their own).
    /// [`MetaError::NotFound`].
    DeleteGroup {
        /// Group name.
        name: String,
    },
    /// Adds a user to a group (a no-op if it is a member). [`MetaError::NotFound`] for the
    /// group, [`MetaError::NoSuchUser`].
    AddMember {
        /// Group name.
        group: String,
        /// User name.
        user: String,
    },
    /// Removes a user from a group. [`MetaError::NotFound`] if the group is absent or the
    /// user is no member.
    RemoveMember {
        /// Group name.
        group: String,
        /// User name.
        user: String,
    },
    /// Stores a new policy. [`MetaError::AlreadyExists`] if the name is taken.
    CreatePolicy(StoredPolicy),
    /// Deletes a stored policy. [`MetaError::NotFound`]; [`MetaError::DeleteConflict`] while
    /// it is attached to anyone (as IAM refuses it: detach first).
    DeletePolicy {
        /// Policy name.
        name: String,
    },
    /// Attaches a policy (a no-op if attached). [`MetaError::NoSuchUser`] or
    /// [`MetaError::NotFound`] (the group; with `stored`, the policy).
    Attach {
        /// Policy name.
        policy: String,
        /// To whom.
        to: Attachee,
        /// The name must be a stored policy (`false` for a built-in's name, which the caller
        /// checked).
        stored: bool,
    },
    /// Detaches a policy. [`MetaError::NotFound`] if it is not attached there.
    Detach {
        /// Policy name.
        policy: String,
        /// From whom.
        to: Attachee,
    },
    /// Adds an access key to its user. [`MetaError::NoSuchUser`]; [`MetaError::UserExists`]
    /// if the key id is taken.
    CreateKey(AccessKey),
    /// Activates or deactivates a key of a user. [`MetaError::NotFound`] unless the user has
    /// that key.
    SetKeyActive {
        /// User name.
        user: String,
        /// Key id.
        access_key_id: String,
        /// The new status.
        active: bool,
    },
    /// Deletes a key of a user. [`MetaError::NotFound`] unless the user has that key.
    DeleteKey {
        /// User name.
        user: String,
        /// Key id.
        access_key_id: String,
    },
    /// Records when keys last signed a request (a batch, written off the request path);
    /// unknown keys are skipped, and a time never moves back.
    KeysUsed(Vec<(String, SystemTime)>),
}

/// A named key of the gateway's built-in KMS as the store keeps it: one row of a table shared
/// by every gateway on the same metadata, so a key created or disabled by one is seen by all.
/// The key's material is opaque here (wrapped by a master key before it reaches the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyRow {
    /// The key id: unique.
    pub key_id: String,
    /// The alias name (without `alias/`): unique when set.
    pub alias: Option<String>,
    /// Free text.
    pub description: String,
    /// Whether the key may be used.
    pub enabled: bool,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix_seconds: i64,
    /// The wrapped key material.
    pub material: Vec<u8>,
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Validated bucket name.
    pub name: String,
    /// Name of the owning user.
    pub owner: String,
    /// Region the bucket was created in.
    pub region: String,
    /// When the bucket was created.
    pub created: SystemTime,
    /// The bucket's versioning state ([`MetadataStore::set_bucket_versioning`] changes it).
    pub versioning: Versioning,
}

/// A bucket's versioning state. A bucket starts unversioned and, once versioning has been
/// enabled, is only ever enabled or suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Versioning {
    /// Never versioned: every key has at most its `null` version, which writes replace.
    #[default]
    Unversioned,
    /// Every write adds a version with a new id; a delete without a version id adds a delete
    /// marker with a new id.
    Enabled,
    /// Writes and deletes replace the key's `null` version (a delete with a `null` delete
    /// marker); versions with ids stay.
    Suspended,
}

/// One piece of an object's data: a byte range of one blob.
///
/// A simple object has one part; a multipart object has its upload's parts in order (no copy is
/// made at completion). Several parts, of one object or of several, may name the same blob
/// (copies share blobs); the store counts references per blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPart {
    /// Part number (1 for a simple object).
    pub part_number: u32,
    /// Blob holding the bytes.
    pub blob_id: String,
    /// Offset of the part's first byte within the blob.
    pub blob_offset: u64,
    /// Length in bytes.
    pub size: u64,
    /// Unquoted ETag of the part (hex MD5).
    pub etag: String,
    /// The part's checksum in the object's checksum algorithm (base64), if any.
    pub checksum: Option<String>,
    /// The part salt of an encrypted part (32 hex digits), `None` for a plaintext part. With
    /// it, `size` is the plaintext size and the blob holds the sealed packages.
    pub salt: Option<String>,
}

/// One version of an object (unversioned buckets keep only the [`NULL_VERSION`]).
///
/// Versions of one key are ordered by the commit that made them: the store assigns each a
/// sequence number greater than that of every other version of the key (and at least the
/// commit's clock in nanoseconds), inside the write's transaction, so concurrent writers of a
/// key (several gateways on one PostgreSQL) get distinct versions in commit order. The newest
/// is the latest (current) version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Version id; [`NULL_VERSION`] in unversioned and suspended buckets. The store assigns it
    /// when it commits the version (see [`version_id`]); what a caller puts here is ignored.
    pub version_id: String,
    /// A delete marker has no data (versioned buckets only).
    pub is_delete_marker: bool,
    /// Total size in bytes.
    pub size: u64,
    /// Unquoted ETag (`hex` or `hex-N`).
    pub etag: String,
    /// Last-Modified.
    pub last_modified: SystemTime,
    /// Owner user name.
    pub owner: String,
    /// Stored response headers, lowercase names: content-type, content-encoding,
    /// content-disposition, content-language, cache-control, expires and every `x-amz-meta-*`.
    pub headers: Vec<(String, String)>,
    /// Object tags.
    pub tags: Vec<(String, String)>,
    /// Checksum algorithm name as S3 spells it (`CRC32`, ...), if any.
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT`, if any.
    pub checksum_type: Option<String>,
    /// The object's checksum value (base64, `-N` suffix for composite), if any.
    pub checksum: Option<String>,
    /// Data pieces in order; empty for an empty object or a delete marker.
    pub parts: Vec<ObjectPart>,
    /// The server-side encryption record (mode, object id, wrapped or checked key; the
    /// engine's format, opaque here), `None` for a plaintext object.
    pub encryption: Option<String>,
    /// Object lock: retention and legal hold (committed with the version, in its row).
    pub lock: ObjectLock,
    /// The version's ACL (the server's serialization, opaque here), committed with the version
    /// in its row; `None` is the private ACL of [`Self::owner`].
    pub acl: Option<String>,
    /// The version's storage class as S3 spells it (`STANDARD_IA`, ...); `None` is `STANDARD`.
    /// Which tier holds the data is told by each part's blob id, not by this.
    pub storage_class: Option<String>,
}

/// A condition on the current version of a key, decided inside the write's transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    /// Write unconditionally.
    #[default]
    None,
    /// `If-None-Match: *`: fail with [`MetaError::PreconditionFailed`] if the key exists.
    IfNoneMatchAny,
    /// `If-Match: etag` (unquoted): fail with [`MetaError::PreconditionFailed`] unless the current
    /// version has this ETag, and with [`MetaError::NoSuchKey`] if there is no current version.
    IfMatch(String),
}

/// What a committed write changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitOutcome {
    /// Blobs whose last reference the write removed; they are now in the collector's queue.
    pub retired_blobs: Vec<String>,
    /// Whether a current version existed and was replaced or removed (for a delete by version
    /// id: whether that version existed and was removed).
    pub replaced: bool,
    /// The version the write made (object writes, delete markers) or removed (deletes by
    /// version id); `None` for writes to unversioned and suspended buckets, except that a
    /// suspended bucket's delete marker reports `null`.
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

/// How [`MetadataStore::delete_object`] deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOptions {
    /// `None`: delete the current version (unversioned bucket) or add a delete marker
    /// (versioned bucket). `Some(id)`: remove exactly that version or marker, permanently.
    pub version_id: Option<String>,
    /// Checked against the current version in the same transaction.
    pub condition: WriteCondition,
    /// Owner of a delete marker the delete adds.
    pub owner: String,
    /// Last-Modified of a delete marker the delete adds, and the gateway's clock against which
    /// a version's retention is judged.
    pub now: SystemTime,
    /// With a version id: a governance retention does not block the delete (the caller sent
    /// `x-amz-bypass-governance-retention: true` and may bypass). Legal holds and compliance
    /// retention always do ([`MetaError::ObjectLocked`]).
    pub bypass_governance: bool,
}

/// How [`MetadataStore::rename_object`] renames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameOptions {
    /// Checked against the source's current version in the same transaction (the engine
    /// passes `IfMatch` of the ETag it evaluated the client's source conditions against).
    pub source_condition: WriteCondition,
    /// Checked against the destination's current version in the same transaction.
    pub condition: WriteCondition,
    /// The lock of the new version at the destination (the bucket's default retention, as
    /// for any new object); the source version keeps its own.
    pub lock: ObjectLock,
    /// Owner and Last-Modified of the delete marker a versioned bucket's source gets, and the
    /// gateway's clock for the client token's age.
    pub owner: String,
    /// See `owner`.
    pub now: SystemTime,
    /// `x-amz-client-token`: a rename already committed under this token in this bucket within
    /// [`RENAME_TOKEN_TTL`] is answered again without renaming; the same token with another
    /// source or destination is [`MetaError::IdempotencyMismatch`].
    pub client_token: Option<String>,
}

/// How long [`MetadataStore::rename_object`] remembers a client token (SDKs retry within
/// seconds; the record is a row per rename, pruned as renames go by).
pub const RENAME_TOKEN_TTL: std::time::Duration = std::time::Duration::from_mins(10);

impl DeleteOptions {
    /// The delete marker of `bucket`/`key` this delete adds (its version id is the store's).
    pub(crate) fn marker(&self, bucket: &str, key: &str) -> ObjectVersion {
        delete_marker(bucket, key, &self.owner, self.now)
    }
}

impl RenameOptions {
    /// The delete marker a versioned bucket's source gets (its version id is the store's).
    pub(crate) fn marker(&self, bucket: &str, key: &str) -> ObjectVersion {
        delete_marker(bucket, key, &self.owner, self.now)
    }

    /// What a store answers for this rename from the record of `token` it holds: `Some` (the
    /// committed rename's outcome, changing nothing) if the record is the same rename and still
    /// young, `None` (rename now) if there is no live record.
    pub(crate) fn replay(
        &self,
        source_key: &str,
        key: &str,
        record: Option<&RenameToken>,
    ) -> Result<Option<CommitOutcome>, MetaError> {
        let Some(r) = record.filter(|r| !r.expired(self.now)) else { return Ok(None) };
        if r.source_key != source_key || r.key != key {
            return Err(MetaError::IdempotencyMismatch);
        }
        Ok(Some(CommitOutcome {
            retired_blobs: Vec::new(),
            replaced: false,
            version_id: r.version_id.clone(),
            delete_marker: false,
        }))
    }
}

/// A committed rename's client token, as a store keeps it for [`RENAME_TOKEN_TTL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RenameToken {
    pub(crate) source_key: String,
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
    pub(crate) at: SystemTime,
}

impl RenameToken {
    pub(crate) fn expired(&self, now: SystemTime) -> bool {
        now.duration_since(self.at).is_ok_and(|age| age >= RENAME_TOKEN_TTL)
    }
}

/// A delete marker of `bucket`/`key` (its version id is the store's to assign).
fn delete_marker(bucket: &str, key: &str, owner: &str, now: SystemTime) -> ObjectVersion {
    ObjectVersion {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: String::new(),
        is_delete_marker: true,
        size: 0,
        etag: String::new(),
        last_modified: now,
        owner: owner.to_owned(),
        headers: Vec::new(),
        tags: Vec::new(),
        checksum_algorithm: None,
        checksum_type: None,
        checksum: None,
        parts: Vec::new(),
        encryption: None,
        lock: ObjectLock::default(),
        acl: None,
        storage_class: None,
    }
}

/// The version id of the version with sequence number `seq` in a versioned bucket: the
/// inverted sequence number and 64 random bits, each 16 lowercase hex digits, so that the ids
/// of one key sort newest first and no id can be guessed from another.
pub fn version_id(seq: i64, random: u64) -> String {
    format!("{:016x}{random:016x}", i64::MAX - seq.max(0))
}

/// 64 random bits for [`version_id`] (from the OS; a clock-derived value if it fails, since the
/// id is unique by its sequence number alone and the random half only keeps it unguessable).
pub(crate) fn random_u64() -> u64 {
    let mut raw = [0_u8; 8];
    if getrandom::fill(&mut raw).is_err() {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        raw = u64::try_from(nanos.as_nanos() % u128::from(u64::MAX))
            .unwrap_or(0)
            .rotate_left(29)
            .to_le_bytes();
    }
    u64::from_le_bytes(raw)
}

/// The version id a write reports ([`CommitOutcome::version_id`]): a new version's id in an
/// enabled bucket, and `null` for a suspended bucket's delete marker; nothing for writes to
/// unversioned and suspended buckets (as AWS answers them, without `x-amz-version-id`).
pub(crate) fn reported_version_id(mode: Versioning, marker: bool, id: String) -> Option<String> {
    match mode {
        Versioning::Enabled => Some(id),
        Versioning::Suspended if marker => Some(id),
        Versioning::Suspended | Versioning::Unversioned => None,
    }
}

/// The sequence number of a new version of a key whose newest version has `newest` (if any),
/// committed at `now` nanoseconds: greater than every other of the key, and at least `now`.
pub(crate) fn next_seq(now: i64, newest: Option<i64>) -> i64 {
    newest.map_or(now, |n| now.max(n.saturating_add(1)))
}

/// Whether `id` is shaped like an id [`version_id`] makes (or is [`NULL_VERSION`]).
pub fn is_version_id(id: &str) -> bool {
    id == NULL_VERSION
        || (id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// A listing request for [`MetadataStore::list_objects`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the first occurrence of this after the prefix (non-empty when set).
    pub delimiter: Option<String>,
    /// Only entries whose sort key (the key, or its common prefix) is strictly greater.
    pub start_after: Option<String>,
    /// At most this many entries (objects plus common prefixes), 0..=1000.
    pub max_keys: u32,
}

/// The listing data of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Unquoted ETag.
    pub etag: String,
    /// Last-Modified.
    pub last_modified: SystemTime,
    /// Owner user name.
    pub owner: String,
    /// Checksum algorithm, if any.
    pub checksum_algorithm: Option<String>,
    /// Storage class (see [`ObjectVersion::storage_class`]); `None` is `STANDARD`.
    pub storage_class: Option<String>,
}

/// One entry of a listing page, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    /// An object.
    Object(ObjectSummary),
    /// A common prefix (ends with the delimiter).
    CommonPrefix(String),
}

impl ListEntry {
    /// The entry's sort key: the object key or the common prefix.
    pub fn sort_key(&self) -> &str {
        match self {
            ListEntry::Object(o) => &o.key,
            ListEntry::CommonPrefix(p) => p,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// Entries in ascending byte order of their sort keys.
    pub entries: Vec<ListEntry>,
    /// Whether more entries follow; continue with `start_after` = last entry's sort key.
    pub is_truncated: bool,
}

/// A listing request for [`MetadataStore::list_object_versions`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the first occurrence of this after the prefix (non-empty when set).
    pub delimiter: Option<String>,
    /// Start after this key (all its versions skipped unless `version_id_marker` is set).
    pub key_marker: Option<String>,
    /// With `key_marker`: versions of that key older than this one are included. An id that
    /// names no version of the key skips the whole key.
    pub version_id_marker: Option<String>,
    /// At most this many entries (versions, delete markers and common prefixes), 0..=1000.
    pub max_keys: u32,
}

/// The listing data of one version or delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    /// Key.
    pub key: String,
    /// Version id.
    pub version_id: String,
    /// Whether it is the key's latest version.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    pub is_delete_marker: bool,
    /// Size in bytes (0 for a delete marker).
    pub size: u64,
    /// Unquoted ETag (empty for a delete marker).
    pub etag: String,
    /// Last-Modified.
    pub last_modified: SystemTime,
    /// Owner user name.
    pub owner: String,
    /// Checksum algorithm, if any.
    pub checksum_algorithm: Option<String>,
    /// Storage class (see [`ObjectVersion::storage_class`]); `None` is `STANDARD`.
    pub storage_class: Option<String>,
}

/// One entry of a version listing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionListEntry {
    /// A version or delete marker.
    Version(VersionSummary),
    /// A common prefix (ends with the delimiter).
    CommonPrefix(String),
}

/// One page of a version listing: keys in ascending byte order, the versions of each key newest
/// first. When truncated, continue with `key_marker` = the last entry's key (or common prefix)
/// and `version_id_marker` = its version id (none after a common prefix).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionPage {
    /// Entries.
    pub entries: Vec<VersionListEntry>,
    /// Whether more entries follow.
    pub is_truncated: bool,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Upload id (generated by the engine).
    pub upload_id: String,
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// When it was created.
    pub initiated: SystemTime,
    /// Owner user name.
    pub owner: String,
    /// Headers for the final object (as in [`ObjectVersion::headers`]).
    pub headers: Vec<(String, String)>,
    /// Tags for the final object.
    pub tags: Vec<(String, String)>,
    /// Checksum algorithm requested at creation, if any.
    pub checksum_algorithm: Option<String>,
    /// Checksum type requested at creation, if any.
    pub checksum_type: Option<String>,
    /// The encryption record every part is sealed under (as in [`ObjectVersion::encryption`]).
    pub encryption: Option<String>,
    /// The object lock the completed object gets.
    pub lock: ObjectLock,
    /// The ACL the completed object gets (see [`ObjectVersion::acl`]).
    pub acl: Option<String>,
    /// The storage class of the completed object (see [`ObjectVersion::storage_class`]).
    pub storage_class: Option<String>,
}

/// An uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Part number 1..=10000.
    pub part_number: u32,
    /// Blob holding the bytes.
    pub blob_id: String,
    /// Offset within the blob.
    pub blob_offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Unquoted hex MD5.
    pub etag: String,
    /// Checksum in the upload's algorithm (base64), if any.
    pub checksum: Option<String>,
    /// The part salt of an encrypted part (as in [`ObjectPart::salt`]).
    pub salt: Option<String>,
    /// When it was uploaded.
    pub last_modified: SystemTime,
}

/// A listing request for [`MetadataStore::list_uploads`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the delimiter (non-empty when set).
    pub delimiter: Option<String>,
    /// Start after this key (all its uploads skipped unless `upload_id_marker` is set).
    pub key_marker: Option<String>,
    /// With `key_marker`: uploads of that key with a greater (initiated, upload id) are included.
    pub upload_id_marker: Option<String>,
    /// At most this many entries.
    pub max_uploads: u32,
}

/// One entry of an upload listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "uploads are the common entry; boxing each costs more"
)]
pub enum UploadListEntry {
    /// An upload.
    Upload(Upload),
    /// A common prefix.
    CommonPrefix(String),
}

/// One page of an upload listing, ordered by key, then initiation time, then upload id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadPage {
    /// Entries.
    pub entries: Vec<UploadListEntry>,
    /// Whether more follow.
    pub is_truncated: bool,
}

/// One version that carries an encryption record, as [`MetadataStore::encrypted_versions`]
/// lists them (master-key rotation re-wraps their data keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedVersion {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Version id.
    pub version_id: String,
    /// The version's [`ObjectVersion::encryption`] record.
    pub encryption: String,
}

/// A retired blob waiting for the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredBlob {
    /// Blob id.
    pub blob_id: String,
    /// When its last reference went away.
    pub retired_at: SystemTime,
}

/// Where the gateway keeps buckets, object versions, uploads, users and blob references.
///
/// Every method is one whole transaction: it either commits completely or changes nothing.
/// Writes are durable when the returned future resolves `Ok`. Every method is cancel safe in the
/// sense that dropping the future never leaves a partial change: the operation either committed
/// or did not (the caller cannot tell which, as with a lost network reply).
///
/// Blob references: every blob named by a committed object part or upload part holds one
/// reference. Committing a part or version that names a blob the store has never seen registers
/// it; naming one that was retired revives it; a write that removes the last reference to a blob
/// retires it (it appears in [`CommitOutcome::retired_blobs`] and in [`Self::retired_blobs`]).
/// The store cannot tell a new blob from one already forgotten by [`Self::forget_blobs`]: the
/// engine guarantees it never names a forgotten blob (readers and copies lease the blobs they
/// use, and the collector forgets only unleased blobs retired longer than a grace period).
pub trait MetadataStore: Send + Sync + 'static {
    // ---- users ----

    /// Creates a user. [`MetaError::UserExists`] if the name or access key is taken, or the
    /// name belonged to a removed user: a user's name is its identity (buckets, objects and
    /// uploads are owned by it, policies and ACLs name it), so it is never given out again.
    fn create_user(&self, user: User) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// Removes a user by name, retiring the name for good (a root user's excepted: the root
    /// is re-created with new keys under its name). [`MetaError::NoSuchUser`] if absent. What
    /// it owned stays, owned by the retired name: reachable by root only.
    fn delete_user(&self, name: &str) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// All users, ordered by name.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, MetaError>> + Send;
    /// The user owning an active access key id (carrying that key).
    fn user_by_access_key(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<User>, MetaError>> + Send;
    /// Everything authorization needs for an access key, active or not, in one transaction:
    /// its user, status, the user's groups and the policies attached to the user and to its
    /// groups (stored documents included).
    fn key_access(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyAccess>, MetaError>> + Send;
    /// Applies one change of groups, policies, attachments or keys, in one transaction
    /// (see [`IamChange`] for each one's errors). Removing a user ([`Self::delete_user`])
    /// removes its keys, memberships and attachments with it.
    fn change_iam(&self, change: IamChange) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// Every group, stored policy, attachment and access key, read in one transaction.
    fn iam_state(&self) -> impl Future<Output = Result<IamState, MetaError>> + Send;

    // ---- buckets ----

    /// Creates a bucket. [`MetaError::BucketExists`] (with the current owner) if the name is taken.
    fn create_bucket(&self, bucket: Bucket) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// A bucket by name.
    fn bucket(&self, name: &str) -> impl Future<Output = Result<Option<Bucket>, MetaError>> + Send;
    /// Deletes an empty bucket: [`MetaError::NoSuchBucket`], or [`MetaError::BucketNotEmpty`] if
    /// any object version exists. In-progress uploads are aborted with it; their blobs are
    /// returned as retired.
    fn delete_bucket(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;
    /// Sets a bucket's versioning state to [`Versioning::Enabled`] or [`Versioning::Suspended`].
    /// [`MetaError::NoSuchBucket`] if absent; [`Versioning::Unversioned`] is refused with
    /// [`MetaError::Conflict`] unless the bucket has never been versioned (a no-op then).
    fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// Buckets ordered by name; only those of `owner` when given.
    fn list_buckets(
        &self,
        owner: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Bucket>, MetaError>> + Send;

    // ---- KMS keys ----

    /// Adds a KMS key. [`MetaError::KmsKeyExists`] if its key id or its alias is taken.
    fn insert_kms_key(&self, key: KmsKeyRow) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// The KMS key of a key id.
    fn kms_key(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<KmsKeyRow>, MetaError>> + Send;
    /// The KMS key whose alias is `alias`.
    fn kms_key_by_alias(
        &self,
        alias: &str,
    ) -> impl Future<Output = Result<Option<KmsKeyRow>, MetaError>> + Send;
    /// Every KMS key, ordered by key id.
    fn kms_keys(&self) -> impl Future<Output = Result<Vec<KmsKeyRow>, MetaError>> + Send;
    /// Sets a KMS key's enabled flag; `false` if the key id is unknown.
    fn set_kms_key_enabled(
        &self,
        key_id: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<bool, MetaError>> + Send;
    /// Replaces a KMS key's wrapped material (master key rotation); `false` if the key id is
    /// unknown.
    fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> impl Future<Output = Result<bool, MetaError>> + Send;

    // ---- objects ----

    /// The bucket's configuration document of one kind, if set. Kinds are short ASCII names
    /// chosen by the caller (`cors`, `policy`, `encryption`, `lifecycle`, ...); documents are
    /// opaque text the caller validated before storing. `None` also when the bucket is absent.
    fn bucket_config(
        &self,
        bucket: &str,
        kind: &str,
    ) -> impl Future<Output = Result<Option<String>, MetaError>> + Send;
    /// Sets (`Some`) or removes (`None`) the bucket's document of one kind, replacing any
    /// earlier one. [`MetaError::NoSuchBucket`] if the bucket is absent. Deleting a bucket
    /// deletes its documents.
    fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// Every configuration document of a bucket, ordered by kind: one read for request paths
    /// that consult several (CORS, policy and default encryption on one request).
    fn bucket_configs(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, MetaError>> + Send;
    /// Commits `version` as the current (latest) version of its key, after checking `condition`
    /// against the current version in the same transaction, as the bucket's versioning state
    /// (read in that transaction) says: unversioned and suspended buckets replace the key's
    /// `null` version, wherever it is in the key's history; enabled buckets add a version with
    /// a new id (returned in [`CommitOutcome::version_id`]). [`MetaError::NoSuchBucket`] if the
    /// bucket is gone.
    fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;
    /// The current version of a key; `None` if absent or a delete marker.
    fn object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectVersion>, MetaError>> + Send;
    /// One version of a key, delete markers included: the latest when `version_id` is `None`.
    fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<ObjectVersion>, MetaError>> + Send;
    /// Deletes, after checking `opts.condition` against the current version. Without a version
    /// id: an unversioned bucket removes the current version (a missing key is not an error,
    /// `replaced == false`); an enabled bucket adds a delete marker with a new id as the latest
    /// version (even for a key without versions); a suspended bucket replaces the `null`
    /// version with a `null` delete marker. With a version id: removes exactly that version or
    /// marker (an unknown id changes nothing, `replaced == false`); if it was the latest, the
    /// next newest version becomes the latest. A version whose lock blocks deletion at
    /// `opts.now` ([`ObjectLock::blocks_delete`]) is refused with [`MetaError::ObjectLocked`],
    /// decided in the same transaction.
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;
    /// RenameObject: in one transaction, the current version of `source_key` becomes the
    /// current version of `key`, keeping its data, ETag, metadata, checksums, encryption and
    /// Last-Modified (no blob is copied: the new version names the same blobs); then the source
    /// is deleted as [`Self::delete_object`] without a version id deletes (an unversioned
    /// bucket removes it; a versioned one adds a delete marker and keeps the version).
    /// The new version replaces or follows the destination's as [`Self::put_object`] does.
    /// [`MetaError::NoSuchBucket`], [`MetaError::NoSuchKey`] (no current source version, or a
    /// delete marker), [`MetaError::PreconditionFailed`] (either condition),
    /// [`MetaError::IdempotencyMismatch`]. `source_key` must differ from `key`.
    fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;
    /// Replaces the tags of one version of a key, changing nothing else (not its ETag,
    /// Last-Modified or data): the current version when `version_id` is `None`, else the version
    /// of that id. Returns the version id. [`MetaError::NoSuchBucket`] if the bucket is gone,
    /// [`MetaError::NoSuchKey`] if there is no such version (or it is a delete marker).
    fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> impl Future<Output = Result<String, MetaError>> + Send;
    /// Replaces the ACL of one version of a key (`None`: back to the owner's private ACL),
    /// changing nothing else, as [`Self::set_object_tags`] replaces tags: the current version
    /// when `version_id` is `None`. Returns the version id. [`MetaError::NoSuchBucket`],
    /// [`MetaError::NoSuchKey`] (no such version, or a delete marker).
    fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> impl Future<Output = Result<String, MetaError>> + Send;
    /// Changes the object lock of one version (the latest when `version_id` is `None`) as
    /// [`ObjectLock::changed`] allows at `now`, deciding in one transaction; returns the
    /// version id. [`MetaError::NoSuchBucket`], [`MetaError::NoSuchKey`] (no such version, or
    /// a delete marker), [`MetaError::ObjectLocked`] (the rules refuse the change).
    fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: LockChange,
        now: SystemTime,
    ) -> impl Future<Output = Result<String, MetaError>> + Send;
    /// A page of the versions with an encryption record, across every bucket, in (bucket,
    /// key, version id) order, starting after `after` (that triple) and at most `limit` long:
    /// the scan of master-key rotation. A short page is the last.
    fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EncryptedVersion>, MetaError>> + Send;
    /// Replaces the encryption record of one version with `record` if it is still `expected`
    /// (a compare-and-swap, changing nothing else: not the ETag, Last-Modified or data).
    /// `false` when the version is gone or its record changed in between.
    fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> impl Future<Output = Result<bool, MetaError>> + Send;
    /// One page of current versions, answered by index seeks: cost grows with the page, not the
    /// bucket; with a delimiter, each common prefix costs one seek whatever lies under it.
    fn list_objects(
        &self,
        bucket: &str,
        query: &ListQuery,
    ) -> impl Future<Output = Result<ListPage, MetaError>> + Send;

    /// One page of versions and delete markers, with the cost of [`Self::list_objects`]: index
    /// seeks whose cost grows with the page, not with the versions of a key or prefix.
    fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> impl Future<Output = Result<VersionPage, MetaError>> + Send;

    // ---- multipart uploads ----

    /// Records a new upload. [`MetaError::NoSuchBucket`] if the bucket is gone.
    fn create_upload(&self, upload: Upload) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// An upload of a bucket by id.
    fn upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Option<Upload>, MetaError>> + Send;
    /// Records a part, replacing a part of the same number. [`MetaError::NoSuchUpload`] if the
    /// upload is gone (the caller then deletes its blob).
    fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;
    /// Parts with numbers greater than `after`, ascending, at most `max`; and whether more follow.
    fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> impl Future<Output = Result<(Vec<Part>, bool), MetaError>> + Send;
    /// Uploads in progress, one page.
    fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> impl Future<Output = Result<UploadPage, MetaError>> + Send;
    /// Completes an upload atomically: checks the upload still exists ([`MetaError::NoSuchUpload`])
    /// and `condition`, commits `version` (whose parts name the upload's parts' blobs) as the
    /// current version as [`Self::put_object`] does, and removes the upload with all its parts;
    /// blobs of unlisted parts and of a replaced `null` version lose their references.
    fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;
    /// Removes an upload and its parts. [`MetaError::NoSuchUpload`] if absent.
    fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send;

    // ---- blob references and garbage collection ----

    /// Retired blobs whose `retired_at` is at or before `before`, oldest first, at most `limit`.
    fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RetiredBlob>, MetaError>> + Send;
    /// Forgets retired blobs before their data is deleted: each id still unreferenced and not
    /// under an unexpired lease (of any holder, see [`Self::renew_leases`]) is removed from the
    /// store and returned; ids that were revived or are leased are kept and not returned.
    fn forget_blobs(
        &self,
        blob_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, MetaError>> + Send;
    /// Makes `holder`'s read leases exactly `blob_ids`, each valid until `expires`, replacing the
    /// holder's earlier ones, and drops every holder's expired leases.
    ///
    /// Several gateways sharing one store each publish the blobs their readers and copies hold
    /// (a gateway's in-process leases), renewing them well before they expire, so that no
    /// gateway's collector forgets a blob another gateway is still streaming; a gateway that dies
    /// loses its leases when they expire. `holder` names one gateway process.
    fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> impl Future<Output = Result<(), MetaError>> + Send;
    /// Of the given ids, those the store knows (referenced or retired-but-not-forgotten), for the
    /// orphan sweep: a blob in the backend that the store does not know is an orphan.
    fn known_blobs(
        &self,
        blob_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, MetaError>> + Send;
}
