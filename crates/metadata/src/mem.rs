//! [`MemMetadata`]: the whole store in one mutex, for engine tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::list::{
    self, KeySource, RefDelta, UploadMarker, VersionRow, VersionSeek, VersionSource,
};
use crate::store::{RenameToken, next_seq, random_u64, reported_version_id};
use crate::{
    AccessKey, AppliedPolicy, Attachee, Bucket, CommitOutcome, DeleteOptions, EncryptedVersion,
    Group, IamChange, IamEntity, IamState, KeyAccess, KmsKeyRow, ListPage, ListQuery, LockChange,
    MetaError, MetadataStore, NULL_VERSION, ObjectSummary, ObjectVersion, Part, RenameOptions,
    RetiredBlob, StoredPolicy, Upload, UploadListQuery, UploadPage, User, VersionListQuery,
    VersionPage, VersionSummary, Versioning, WriteCondition, version_id,
};

/// An in-memory [`MetadataStore`], exactly as strict as [`crate::SqliteMetadata`]: same errors,
/// same listing semantics, same blob reference counting. Nothing survives a drop.
///
/// Every call takes one `std::sync::Mutex` for its whole duration and never awaits while
/// holding it; each call validates everything before it changes anything, so it is atomic.
#[derive(Debug, Default)]
pub struct MemMetadata {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, User>,
    /// Names of removed users (root excepted): never given out again.
    retired_users: BTreeSet<String>,
    buckets: BTreeMap<String, BucketState>,
    blobs: HashMap<String, BlobRefs>,
    /// (retired_at, blob id) of every blob with no reference.
    retired: BTreeSet<(SystemTime, String)>,
    /// Expiry of each (blob id, holder) read lease.
    leases: HashMap<(String, String), SystemTime>,
    /// KMS keys by key id.
    kms_keys: BTreeMap<String, KmsKeyRow>,
    /// Access keys by key id (the key fields of `users` are not used).
    keys: BTreeMap<String, AccessKey>,
    /// Groups by name: creation time, members, policies.
    groups: BTreeMap<String, GroupState>,
    /// Stored policies by name.
    policies: BTreeMap<String, StoredPolicy>,
    /// (user, policy) attachments.
    user_policies: BTreeSet<(String, String)>,
}

#[derive(Debug)]
struct GroupState {
    created: SystemTime,
    members: BTreeSet<String>,
    policies: BTreeSet<String>,
}

impl State {
    /// `user` carrying its oldest key (or none).
    fn with_oldest_key(&self, user: &User) -> User {
        let oldest = self
            .keys
            .values()
            .filter(|k| k.user == user.name)
            .min_by(|a, b| (a.created, &a.access_key_id).cmp(&(b.created, &b.access_key_id)));
        User {
            access_key_id: oldest.map(|k| k.access_key_id.clone()).unwrap_or_default(),
            secret_key: oldest.map(|k| k.secret_key.clone()).unwrap_or_default(),
            ..user.clone()
        }
    }

    fn group_mut(&mut self, name: &str) -> Result<&mut GroupState, MetaError> {
        self.groups.get_mut(name).ok_or(MetaError::NotFound(IamEntity::Group))
    }

    fn user_key(&self, user: &str, key: &str) -> Result<(), MetaError> {
        match self.keys.get(key) {
            Some(k) if k.user == user => Ok(()),
            _ => Err(MetaError::NotFound(IamEntity::AccessKey)),
        }
    }

    fn attachee_exists(&self, to: &Attachee) -> Result<(), MetaError> {
        match to {
            Attachee::User(u) if self.users.contains_key(u) => Ok(()),
            Attachee::User(_) => Err(MetaError::NoSuchUser),
            Attachee::Group(g) if self.groups.contains_key(g) => Ok(()),
            Attachee::Group(_) => Err(MetaError::NotFound(IamEntity::Group)),
        }
    }

    fn attached_anywhere(&self, policy: &str) -> bool {
        self.user_policies.iter().any(|(_, p)| p == policy)
            || self.groups.values().any(|g| g.policies.contains(policy))
    }

    fn change(&mut self, change: IamChange) -> Result<(), MetaError> {
        match change {
            IamChange::CreateGroup { name, created } => {
                if self.groups.contains_key(&name) {
                    return Err(MetaError::AlreadyExists(IamEntity::Group));
                }
                let g = GroupState { created, members: BTreeSet::new(), policies: BTreeSet::new() };
                self.groups.insert(name, g);
            }
            IamChange::DeleteGroup { name } => {
                self.groups.remove(&name).ok_or(MetaError::NotFound(IamEntity::Group))?;
            }
            IamChange::AddMember { group, user } => {
                self.group_mut(&group)?;
                if !self.users.contains_key(&user) {
                    return Err(MetaError::NoSuchUser);
                }
                self.group_mut(&group)?.members.insert(user);
            }
            IamChange::RemoveMember { group, user } => {
                if !self.group_mut(&group)?.members.remove(&user) {
                    return Err(MetaError::NotFound(IamEntity::Membership));
                }
            }
            IamChange::CreatePolicy(p) => {
                if self.policies.contains_key(&p.name) {
                    return Err(MetaError::AlreadyExists(IamEntity::Policy));
                }
                self.policies.insert(p.name.clone(), p);
            }
            IamChange::DeletePolicy { name } => {
                if !self.policies.contains_key(&name) {
                    return Err(MetaError::NotFound(IamEntity::Policy));
                }
                if self.attached_anywhere(&name) {
                    return Err(MetaError::DeleteConflict);
                }
                self.policies.remove(&name);
            }
            IamChange::Attach { policy, to, stored } => {
                self.attachee_exists(&to)?;
                if stored && !self.policies.contains_key(&policy) {
                    return Err(MetaError::NotFound(IamEntity::Policy));
                }
                match to {
                    Attachee::User(u) => {
                        self.user_policies.insert((u, policy));
                    }
                    Attachee::Group(g) => {
                        self.group_mut(&g)?.policies.insert(policy);
                    }
                }
            }
            IamChange::Detach { policy, to } => {
                self.attachee_exists(&to)?;
                let removed = match to {
                    Attachee::User(u) => self.user_policies.remove(&(u, policy)),
                    Attachee::Group(g) => self.group_mut(&g)?.policies.remove(&policy),
                };
                if !removed {
                    return Err(MetaError::NotFound(IamEntity::Attachment));
                }
            }
            IamChange::CreateKey(key) => {
                if !self.users.contains_key(&key.user) {
                    return Err(MetaError::NoSuchUser);
                }
                if self.keys.contains_key(&key.access_key_id) {
                    return Err(MetaError::UserExists);
                }
                self.keys.insert(key.access_key_id.clone(), key);
            }
            IamChange::SetKeyActive { user, access_key_id, active } => {
                self.user_key(&user, &access_key_id)?;
                if let Some(k) = self.keys.get_mut(&access_key_id) {
                    k.active = active;
                }
            }
            IamChange::DeleteKey { user, access_key_id } => {
                self.user_key(&user, &access_key_id)?;
                self.keys.remove(&access_key_id);
            }
            IamChange::KeysUsed(used) => {
                for (id, at) in used {
                    if let Some(k) = self.keys.get_mut(&id) {
                        k.last_used = Some(k.last_used.map_or(at, |t| t.max(at)));
                    }
                }
            }
        }
        Ok(())
    }

    fn iam_state(&self) -> IamState {
        let groups = self
            .groups
            .iter()
            .map(|(name, g)| Group {
                name: name.clone(),
                created: g.created,
                members: g.members.iter().cloned().collect(),
                policies: g.policies.iter().cloned().collect(),
            })
            .collect();
        let mut attachments: Vec<(String, Attachee)> = self
            .user_policies
            .iter()
            .map(|(u, p)| (p.clone(), Attachee::User(u.clone())))
            .chain(self.groups.iter().flat_map(|(name, g)| {
                g.policies.iter().map(|p| (p.clone(), Attachee::Group(name.clone())))
            }))
            .collect();
        attachments.sort();
        let mut keys: Vec<AccessKey> = self.keys.values().cloned().collect();
        keys.sort_by(|a, b| {
            (&a.user, a.created, &a.access_key_id).cmp(&(&b.user, b.created, &b.access_key_id))
        });
        IamState { groups, policies: self.policies.values().cloned().collect(), attachments, keys }
    }

    fn key_access(&self, access_key_id: &str) -> Option<KeyAccess> {
        let key = self.keys.get(access_key_id)?;
        let user = self.users.get(&key.user)?;
        let user = User {
            access_key_id: key.access_key_id.clone(),
            secret_key: key.secret_key.clone(),
            ..user.clone()
        };
        let applied = |name: &String, group: Option<&String>| AppliedPolicy {
            name: name.clone(),
            group: group.cloned(),
            document: self.policies.get(name).map(|p| p.document.clone()),
        };
        let mut policies: Vec<AppliedPolicy> = self
            .user_policies
            .iter()
            .filter(|(u, _)| *u == user.name)
            .map(|(_, p)| applied(p, None))
            .collect();
        let mut groups = Vec::new();
        for (name, g) in &self.groups {
            if g.members.contains(&user.name) {
                groups.push(name.clone());
                policies.extend(g.policies.iter().map(|p| applied(p, Some(name))));
            }
        }
        Some(KeyAccess { user, active: key.active, groups, policies })
    }
}

#[derive(Debug)]
struct BucketState {
    bucket: Bucket,
    /// The versions of each key, newest (the latest) first; a key has at least one.
    objects: BTreeMap<String, Vec<Stored>>,
    uploads: HashMap<String, UploadState>,
    /// Configuration documents by kind.
    configs: BTreeMap<String, String>,
    /// RenameObject client tokens of the last [`crate::RENAME_TOKEN_TTL`].
    rename_tokens: HashMap<String, RenameToken>,
}

#[derive(Debug, Clone)]
struct Stored {
    seq: i64,
    v: ObjectVersion,
}

#[derive(Debug)]
struct UploadState {
    upload: Upload,
    parts: BTreeMap<u32, Part>,
}

#[derive(Debug)]
struct BlobRefs {
    refs: u64,
    retired_at: Option<SystemTime>,
}

impl MemMetadata {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Calls never panic between checks and changes, so a poisoned state is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks `condition` against the current version (`None` if absent or a delete marker).
pub(crate) fn check_condition(
    condition: &WriteCondition,
    current_etag: Option<&str>,
) -> Result<(), MetaError> {
    match (condition, current_etag) {
        (WriteCondition::None, _) | (WriteCondition::IfNoneMatchAny, None) => Ok(()),
        (WriteCondition::IfNoneMatchAny, Some(_)) => Err(MetaError::PreconditionFailed),
        (WriteCondition::IfMatch(_), None) => Err(MetaError::NoSuchKey),
        (WriteCondition::IfMatch(want), Some(have)) => {
            if want == have {
                Ok(())
            } else {
                Err(MetaError::PreconditionFailed)
            }
        }
    }
}

fn live_etag(versions: Option<&Vec<Stored>>) -> Option<&str> {
    let latest = versions.and_then(|vs| vs.first()).map(|s| &s.v);
    latest.filter(|v| !v.is_delete_marker).map(|v| v.etag.as_str())
}

fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn drop_parts(v: &ObjectVersion, delta: &mut RefDelta) {
    for p in &v.parts {
        delta.remove(&p.blob_id);
    }
}

/// Adds `version` as the newest version of its key in a bucket of state `mode`, replacing the
/// `null` version unless versioning is enabled; returns the version id (`None`: unversioned).
fn add_version(
    b: &mut BucketState,
    mut version: ObjectVersion,
    delta: &mut RefDelta,
) -> (bool, Option<String>) {
    let mode = b.bucket.versioning;
    let versions = b.objects.entry(version.key.clone()).or_default();
    let replaced = !versions.is_empty();
    let seq = next_seq(nanos(SystemTime::now()), versions.first().map(|s| s.seq));
    version.version_id = match mode {
        Versioning::Enabled => version_id(seq, random_u64()),
        Versioning::Unversioned | Versioning::Suspended => NULL_VERSION.to_owned(),
    };
    if mode != Versioning::Enabled
        && let Some(i) = versions.iter().position(|s| s.v.version_id == NULL_VERSION)
    {
        drop_parts(&versions.remove(i).v, delta);
    }
    for p in &version.parts {
        delta.add(&p.blob_id);
    }
    let id = reported_version_id(mode, version.is_delete_marker, version.version_id.clone());
    versions.insert(0, Stored { seq, v: version });
    (replaced, id)
}

impl State {
    /// Applies `delta` and returns the blobs it retired, in id order.
    fn apply(&mut self, delta: RefDelta, now: SystemTime) -> Vec<String> {
        let mut retired = Vec::new();
        for (id, change) in delta.changes() {
            let entry =
                self.blobs.entry(id.clone()).or_insert(BlobRefs { refs: 0, retired_at: None });
            let before = entry.refs;
            let after = before.saturating_add_signed(change);
            entry.refs = after;
            if after > 0 {
                if let Some(at) = entry.retired_at.take() {
                    self.retired.remove(&(at, id));
                }
            } else if before > 0 {
                entry.retired_at = Some(now);
                self.retired.insert((now, id.clone()));
                retired.push(id);
            }
        }
        retired
    }

    fn bucket_mut(&mut self, name: &str) -> Result<&mut BucketState, MetaError> {
        self.buckets.get_mut(name).ok_or(MetaError::NoSuchBucket)
    }

    /// Commits `version` as the current version of its key after `condition`, dropping the
    /// references of the replaced version into `delta`. Changes nothing on error.
    fn commit_version(
        &mut self,
        version: ObjectVersion,
        condition: &WriteCondition,
        delta: &mut RefDelta,
    ) -> Result<(bool, Option<String>), MetaError> {
        let b = self.bucket_mut(&version.bucket)?;
        check_condition(condition, live_etag(b.objects.get(&version.key)))?;
        Ok(add_version(b, version, delta))
    }
}

fn drop_upload(u: &UploadState, delta: &mut RefDelta) {
    for p in u.parts.values() {
        delta.remove(&p.blob_id);
    }
}

struct MemKeys<'a>(&'a BTreeMap<String, Vec<Stored>>);

impl KeySource for MemKeys<'_> {
    fn fetch(
        &mut self,
        lower: Bound<&str>,
        upper: Option<&str>,
        limit: usize,
        out: &mut Vec<ObjectSummary>,
    ) -> Result<(), MetaError> {
        let start = match lower {
            Bound::Included(s) | Bound::Excluded(s) => Some(s),
            Bound::Unbounded => None,
        };
        // BTreeMap::range panics on an empty range; a start at or past the end selects nothing.
        if let (Some(s), Some(u)) = (start, upper)
            && s >= u
        {
            return Ok(());
        }
        let upper = upper.map_or(Bound::Unbounded, Bound::Excluded);
        let rows = self.0.range::<str, _>((lower, upper)).filter_map(|(_, vs)| vs.first());
        out.extend(rows.map(|s| &s.v).filter(|v| !v.is_delete_marker).take(limit).map(summary));
        Ok(())
    }
}

impl VersionSource for MemKeys<'_> {
    fn fetch(
        &mut self,
        seek: &VersionSeek,
        limit: usize,
        out: &mut Vec<VersionRow>,
    ) -> Result<(), MetaError> {
        let row = |s: &Stored, latest: bool| VersionRow {
            seq: s.seq,
            summary: version_summary(&s.v, latest),
        };
        match seek {
            VersionSeek::Within { key, below } => {
                let Some(vs) = self.0.get(key) else { return Ok(()) };
                let rows = vs.iter().enumerate().filter(|(_, s)| s.seq < *below);
                out.extend(rows.take(limit).map(|(i, s)| row(s, i == 0)));
            }
            VersionSeek::Keys { lower, upper } => {
                if let (Bound::Included(s) | Bound::Excluded(s), Some(u)) = (lower, upper)
                    && s >= u
                {
                    return Ok(());
                }
                let lower = match lower {
                    Bound::Included(s) => Bound::Included(s.as_str()),
                    Bound::Excluded(s) => Bound::Excluded(s.as_str()),
                    Bound::Unbounded => Bound::Unbounded,
                };
                let upper = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                let rows = self
                    .0
                    .range::<str, _>((lower, upper))
                    .flat_map(|(_, vs)| vs.iter().enumerate().map(|(i, s)| row(s, i == 0)));
                out.extend(rows.take(limit));
            }
        }
        Ok(())
    }
}

fn version_summary(v: &ObjectVersion, is_latest: bool) -> VersionSummary {
    VersionSummary {
        key: v.key.clone(),
        version_id: v.version_id.clone(),
        is_latest,
        is_delete_marker: v.is_delete_marker,
        size: v.size,
        etag: v.etag.clone(),
        last_modified: v.last_modified,
        owner: v.owner.clone(),
        checksum_algorithm: v.checksum_algorithm.clone(),
        storage_class: v.storage_class.clone(),
    }
}

fn summary(v: &ObjectVersion) -> ObjectSummary {
    ObjectSummary {
        key: v.key.clone(),
        size: v.size,
        etag: v.etag.clone(),
        last_modified: v.last_modified,
        owner: v.owner.clone(),
        checksum_algorithm: v.checksum_algorithm.clone(),
        storage_class: v.storage_class.clone(),
    }
}

impl MetadataStore for MemMetadata {
    async fn create_user(&self, user: User) -> Result<(), MetaError> {
        let mut s = self.lock();
        if s.users.contains_key(&user.name)
            || s.retired_users.contains(&user.name)
            || s.keys.contains_key(&user.access_key_id)
        {
            return Err(MetaError::UserExists);
        }
        let key = AccessKey {
            access_key_id: user.access_key_id.clone(),
            secret_key: user.secret_key.clone(),
            user: user.name.clone(),
            active: true,
            created: user.created,
            last_used: None,
        };
        s.keys.insert(key.access_key_id.clone(), key);
        s.users.insert(user.name.clone(), user);
        Ok(())
    }

    async fn delete_user(&self, name: &str) -> Result<(), MetaError> {
        let mut s = self.lock();
        let user = s.users.remove(name).ok_or(MetaError::NoSuchUser)?;
        s.keys.retain(|_, k| k.user != name);
        s.user_policies.retain(|(u, _)| u != name);
        for g in s.groups.values_mut() {
            g.members.remove(name);
        }
        if !user.is_root {
            s.retired_users.insert(user.name);
        }
        Ok(())
    }

    async fn list_users(&self) -> Result<Vec<User>, MetaError> {
        let s = self.lock();
        Ok(s.users.values().map(|u| s.with_oldest_key(u)).collect())
    }

    async fn user_by_access_key(&self, access_key_id: &str) -> Result<Option<User>, MetaError> {
        Ok(self.lock().key_access(access_key_id).filter(|a| a.active).map(|a| a.user))
    }

    async fn key_access(&self, access_key_id: &str) -> Result<Option<KeyAccess>, MetaError> {
        Ok(self.lock().key_access(access_key_id))
    }

    async fn change_iam(&self, change: IamChange) -> Result<(), MetaError> {
        self.lock().change(change)
    }

    async fn iam_state(&self) -> Result<IamState, MetaError> {
        Ok(self.lock().iam_state())
    }

    async fn create_bucket(&self, bucket: Bucket) -> Result<(), MetaError> {
        let mut s = self.lock();
        if let Some(b) = s.buckets.get(&bucket.name) {
            return Err(MetaError::BucketExists { owner: b.bucket.owner.clone() });
        }
        s.buckets.insert(
            bucket.name.clone(),
            BucketState {
                bucket,
                objects: BTreeMap::new(),
                uploads: HashMap::new(),
                configs: BTreeMap::new(),
                rename_tokens: HashMap::new(),
            },
        );
        Ok(())
    }

    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<(), MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(name)?;
        match (b.bucket.versioning, versioning) {
            (Versioning::Unversioned, Versioning::Unversioned) => Ok(()),
            (_, Versioning::Unversioned) => Err(MetaError::Conflict),
            (_, v) => {
                b.bucket.versioning = v;
                Ok(())
            }
        }
    }

    async fn bucket(&self, name: &str) -> Result<Option<Bucket>, MetaError> {
        Ok(self.lock().buckets.get(name).map(|b| b.bucket.clone()))
    }

    async fn delete_bucket(&self, name: &str) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let b = s.buckets.get(name).ok_or(MetaError::NoSuchBucket)?;
        if !b.objects.is_empty() {
            return Err(MetaError::BucketNotEmpty);
        }
        let b = s.buckets.remove(name).ok_or(MetaError::NoSuchBucket)?;
        let mut delta = RefDelta::default();
        for u in b.uploads.into_values() {
            drop_upload(&u, &mut delta);
        }
        let retired_blobs = s.apply(delta, SystemTime::now());
        Ok(CommitOutcome { retired_blobs, ..CommitOutcome::default() })
    }

    async fn list_buckets(&self, owner: Option<&str>) -> Result<Vec<Bucket>, MetaError> {
        let s = self.lock();
        let all = s.buckets.values().map(|b| &b.bucket);
        Ok(all.filter(|b| owner.is_none_or(|o| b.owner == o)).cloned().collect())
    }

    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<(), MetaError> {
        let mut s = self.lock();
        let alias_taken = key.alias.is_some() && s.kms_keys.values().any(|k| k.alias == key.alias);
        if alias_taken || s.kms_keys.contains_key(&key.key_id) {
            return Err(MetaError::KmsKeyExists);
        }
        s.kms_keys.insert(key.key_id.clone(), key);
        Ok(())
    }

    async fn kms_key(&self, key_id: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        Ok(self.lock().kms_keys.get(key_id).cloned())
    }

    async fn kms_key_by_alias(&self, alias: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        let s = self.lock();
        Ok(s.kms_keys.values().find(|k| k.alias.as_deref() == Some(alias)).cloned())
    }

    async fn kms_keys(&self) -> Result<Vec<KmsKeyRow>, MetaError> {
        Ok(self.lock().kms_keys.values().cloned().collect())
    }

    async fn set_kms_key_enabled(&self, key_id: &str, enabled: bool) -> Result<bool, MetaError> {
        Ok(self.lock().kms_keys.get_mut(key_id).map(|k| k.enabled = enabled).is_some())
    }

    async fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> Result<bool, MetaError> {
        Ok(self.lock().kms_keys.get_mut(key_id).map(|k| k.material = material).is_some())
    }

    async fn bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, MetaError> {
        Ok(self.lock().buckets.get(bucket).and_then(|b| b.configs.get(kind).cloned()))
    }

    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> Result<(), MetaError> {
        let mut s = self.lock();
        let b = s.buckets.get_mut(bucket).ok_or(MetaError::NoSuchBucket)?;
        match document {
            Some(d) => b.configs.insert(kind.to_owned(), d),
            None => b.configs.remove(kind),
        };
        Ok(())
    }

    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, String)>, MetaError> {
        let s = self.lock();
        let configs = s.buckets.get(bucket).map(|b| &b.configs);
        Ok(configs.into_iter().flatten().map(|(k, d)| (k.clone(), d.clone())).collect())
    }

    async fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let mut delta = RefDelta::default();
        let (replaced, version_id) = s.commit_version(version, &condition, &mut delta)?;
        let retired_blobs = s.apply(delta, SystemTime::now());
        Ok(CommitOutcome { retired_blobs, replaced, version_id, delete_marker: false })
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectVersion>, MetaError> {
        let v = self.object_version(bucket, key, None).await?;
        Ok(v.filter(|v| !v.is_delete_marker))
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersion>, MetaError> {
        let s = self.lock();
        let vs = s.buckets.get(bucket).and_then(|b| b.objects.get(key));
        let v = vs.and_then(|vs| match version_id {
            None => vs.first(),
            Some(id) => vs.iter().find(|s| s.v.version_id == id),
        });
        Ok(v.map(|s| s.v.clone()))
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(bucket)?;
        check_condition(&opts.condition, live_etag(b.objects.get(key)))?;
        let mut delta = RefDelta::default();
        let mode = b.bucket.versioning;
        let mut out = CommitOutcome::default();
        match (&opts.version_id, mode) {
            (None, Versioning::Unversioned) => {
                let Some(old) = b.objects.remove(key) else { return Ok(out) };
                for o in &old {
                    drop_parts(&o.v, &mut delta);
                }
                out.replaced = true;
            }
            (None, Versioning::Enabled | Versioning::Suspended) => {
                let marker = opts.marker(bucket, key);
                (out.replaced, out.version_id) = add_version(b, marker, &mut delta);
                out.delete_marker = true;
            }
            (Some(id), _) => {
                out.version_id = Some(id.clone());
                let Some(vs) = b.objects.get_mut(key) else { return Ok(out) };
                let Some(i) = vs.iter().position(|s| &s.v.version_id == id) else {
                    return Ok(out);
                };
                if vs[i].v.lock.blocks_delete(opts.now, opts.bypass_governance) {
                    return Err(MetaError::ObjectLocked);
                }
                let old = vs.remove(i);
                if vs.is_empty() {
                    b.objects.remove(key);
                }
                drop_parts(&old.v, &mut delta);
                out.replaced = true;
                out.delete_marker = old.v.is_delete_marker;
            }
        }
        out.retired_blobs = s.apply(delta, SystemTime::now());
        Ok(out)
    }

    async fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(bucket)?;
        b.rename_tokens.retain(|_, t| !t.expired(opts.now));
        let token = opts.client_token.as_ref();
        let record = token.and_then(|t| b.rename_tokens.get(t));
        if let Some(out) = opts.replay(source_key, key, record)? {
            return Ok(out);
        }
        let latest = b.objects.get(source_key).and_then(|vs| vs.first()).map(|s| &s.v);
        let Some(source) = latest.filter(|v| !v.is_delete_marker).cloned() else {
            return Err(MetaError::NoSuchKey);
        };
        check_condition(&opts.source_condition, Some(&source.etag))?;
        check_condition(&opts.condition, live_etag(b.objects.get(key)))?;
        let mut delta = RefDelta::default();
        let version = ObjectVersion { key: key.to_owned(), lock: opts.lock, acl: None, ..source };
        let (replaced, version_id) = add_version(b, version, &mut delta);
        if b.bucket.versioning == Versioning::Unversioned {
            for old in b.objects.remove(source_key).into_iter().flatten() {
                drop_parts(&old.v, &mut delta);
            }
        } else {
            add_version(b, opts.marker(bucket, source_key), &mut delta);
        }
        if let Some(t) = token {
            let record = RenameToken {
                source_key: source_key.to_owned(),
                key: key.to_owned(),
                version_id: version_id.clone(),
                at: opts.now,
            };
            b.rename_tokens.insert(t.clone(), record);
        }
        let retired_blobs = s.apply(delta, SystemTime::now());
        Ok(CommitOutcome { retired_blobs, replaced, version_id, delete_marker: false })
    }

    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String, MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(bucket)?;
        let vs = b.objects.get_mut(key).ok_or(MetaError::NoSuchKey)?;
        let found = match version_id {
            None => vs.first_mut(),
            Some(id) => vs.iter_mut().find(|s| s.v.version_id == id),
        };
        match found {
            Some(s) if !s.v.is_delete_marker => {
                s.v.tags = tags;
                Ok(s.v.version_id.clone())
            }
            _ => Err(MetaError::NoSuchKey),
        }
    }

    async fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<Vec<EncryptedVersion>, MetaError> {
        let s = self.lock();
        let mut all: Vec<EncryptedVersion> = Vec::new();
        for (bucket, b) in &s.buckets {
            for (key, vs) in &b.objects {
                for st in vs {
                    let Some(record) = &st.v.encryption else { continue };
                    let here = (bucket.as_str(), key.as_str(), st.v.version_id.as_str());
                    if after.is_some_and(|a| here <= a) {
                        continue;
                    }
                    all.push(EncryptedVersion {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        version_id: st.v.version_id.clone(),
                        encryption: record.clone(),
                    });
                }
            }
        }
        all.sort_by(|a, b| {
            (&a.bucket, &a.key, &a.version_id).cmp(&(&b.bucket, &b.key, &b.version_id))
        });
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    async fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> Result<bool, MetaError> {
        let mut s = self.lock();
        let Ok(b) = s.bucket_mut(bucket) else { return Ok(false) };
        let Some(vs) = b.objects.get_mut(key) else { return Ok(false) };
        match vs.iter_mut().find(|st| st.v.version_id == version_id) {
            Some(st) if st.v.encryption.as_deref() == Some(expected) => {
                st.v.encryption = Some(record);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<String, MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(bucket)?;
        let vs = b.objects.get_mut(key).ok_or(MetaError::NoSuchKey)?;
        let found = match version_id {
            None => vs.first_mut(),
            Some(id) => vs.iter_mut().find(|s| s.v.version_id == id),
        };
        match found {
            Some(s) if !s.v.is_delete_marker => {
                s.v.acl = acl;
                Ok(s.v.version_id.clone())
            }
            _ => Err(MetaError::NoSuchKey),
        }
    }

    async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: LockChange,
        now: SystemTime,
    ) -> Result<String, MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(bucket)?;
        let vs = b.objects.get_mut(key).ok_or(MetaError::NoSuchKey)?;
        let found = match version_id {
            None => vs.first_mut(),
            Some(id) => vs.iter_mut().find(|s| s.v.version_id == id),
        };
        match found {
            Some(s) if !s.v.is_delete_marker => {
                s.v.lock = s.v.lock.changed(change, now)?;
                Ok(s.v.version_id.clone())
            }
            _ => Err(MetaError::NoSuchKey),
        }
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, MetaError> {
        let s = self.lock();
        let b = s.buckets.get(bucket).ok_or(MetaError::NoSuchBucket)?;
        list::list_objects(&mut MemKeys(&b.objects), query)
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> Result<VersionPage, MetaError> {
        let s = self.lock();
        let b = s.buckets.get(bucket).ok_or(MetaError::NoSuchBucket)?;
        let marker_seq = match (&query.key_marker, &query.version_id_marker) {
            (Some(km), Some(id)) => b
                .objects
                .get(km)
                .and_then(|vs| vs.iter().find(|s| &s.v.version_id == id))
                .map(|s| s.seq),
            _ => None,
        };
        list::list_versions(&mut MemKeys(&b.objects), query, marker_seq)
    }

    async fn create_upload(&self, upload: Upload) -> Result<(), MetaError> {
        let mut s = self.lock();
        let b = s.bucket_mut(&upload.bucket)?;
        // Upload ids are generated unique by the engine; a repeated id replaces nothing.
        if b.uploads.contains_key(&upload.upload_id) {
            return Err(MetaError::Conflict);
        }
        b.uploads.insert(upload.upload_id.clone(), UploadState { upload, parts: BTreeMap::new() });
        Ok(())
    }

    async fn upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>, MetaError> {
        let s = self.lock();
        let u = s.buckets.get(bucket).and_then(|b| b.uploads.get(upload_id));
        Ok(u.map(|u| u.upload.clone()))
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let u = s
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.uploads.get_mut(upload_id))
            .ok_or(MetaError::NoSuchUpload)?;
        let mut delta = RefDelta::default();
        delta.add(&part.blob_id);
        let old = u.parts.insert(part.part_number, part);
        if let Some(old) = &old {
            delta.remove(&old.blob_id);
        }
        let retired_blobs = s.apply(delta, SystemTime::now());
        Ok(CommitOutcome { retired_blobs, replaced: old.is_some(), ..CommitOutcome::default() })
    }

    async fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> Result<(Vec<Part>, bool), MetaError> {
        let s = self.lock();
        let u = s
            .buckets
            .get(bucket)
            .and_then(|b| b.uploads.get(upload_id))
            .ok_or(MetaError::NoSuchUpload)?;
        let max = max.min(list::MAX_PAGE) as usize;
        let mut rest = u.parts.range((Bound::Excluded(after), Bound::Unbounded)).map(|(_, p)| p);
        let parts: Vec<Part> = rest.by_ref().take(max).cloned().collect();
        let more = rest.next().is_some();
        Ok((parts, more))
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> Result<UploadPage, MetaError> {
        let s = self.lock();
        let b = s.buckets.get(bucket).ok_or(MetaError::NoSuchBucket)?;
        let mut all: Vec<&Upload> = b.uploads.values().map(|u| &u.upload).collect();
        all.sort_by(|x, y| {
            (&x.key, x.initiated, &x.upload_id).cmp(&(&y.key, y.initiated, &y.upload_id))
        });
        let marker: UploadMarker = match (&query.key_marker, &query.upload_id_marker) {
            (Some(km), Some(id)) => b
                .uploads
                .get(id)
                .filter(|u| &u.upload.key == km)
                .map(|u| (u.upload.initiated, u.upload.upload_id.clone())),
            _ => None,
        };
        list::list_uploads(all.into_iter().map(|u| Ok(u.clone())), query, &marker)
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let b = s.buckets.get_mut(&version.bucket).ok_or(MetaError::NoSuchUpload)?;
        if b.uploads.get(upload_id).is_none_or(|u| u.upload.key != version.key) {
            return Err(MetaError::NoSuchUpload);
        }
        let mut delta = RefDelta::default();
        let bucket = version.bucket.clone();
        let (replaced, version_id) = s.commit_version(version, &condition, &mut delta)?;
        let b = s.bucket_mut(&bucket)?;
        if let Some(u) = b.uploads.remove(upload_id) {
            drop_upload(&u, &mut delta);
        }
        let retired_blobs = s.apply(delta, SystemTime::now());
        Ok(CommitOutcome { retired_blobs, replaced, version_id, delete_marker: false })
    }

    async fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> Result<CommitOutcome, MetaError> {
        let mut s = self.lock();
        let u = s
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.uploads.remove(upload_id))
            .ok_or(MetaError::NoSuchUpload)?;
        let mut delta = RefDelta::default();
        drop_upload(&u, &mut delta);
        let retired_blobs = s.apply(delta, SystemTime::now());
        Ok(CommitOutcome { retired_blobs, ..CommitOutcome::default() })
    }

    async fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> Result<Vec<RetiredBlob>, MetaError> {
        let s = self.lock();
        let due = s.retired.iter().take_while(|(at, _)| *at <= before);
        let due = due.take(limit as usize);
        Ok(due.map(|(at, id)| RetiredBlob { blob_id: id.clone(), retired_at: *at }).collect())
    }

    async fn forget_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        let mut s = self.lock();
        let now = SystemTime::now();
        let leased: BTreeSet<&str> = s
            .leases
            .iter()
            .filter(|(_, expires)| **expires > now)
            .map(|((id, _), _)| id.as_str())
            .collect();
        let free: Vec<&String> =
            blob_ids.iter().filter(|id| !leased.contains(id.as_str())).collect();
        drop(leased);
        let mut forgotten = Vec::new();
        for id in free {
            if let Some(b) = s.blobs.get(id)
                && b.refs == 0
            {
                if let Some(at) = b.retired_at {
                    s.retired.remove(&(at, id.clone()));
                }
                s.blobs.remove(id);
                forgotten.push(id.clone());
            }
        }
        Ok(forgotten)
    }

    async fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> Result<(), MetaError> {
        let mut s = self.lock();
        let now = SystemTime::now();
        s.leases.retain(|(_, h), at| h != holder && *at >= now);
        for id in blob_ids {
            s.leases.insert((id.clone(), holder.to_owned()), expires);
        }
        Ok(())
    }

    async fn known_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        let s = self.lock();
        Ok(blob_ids.iter().filter(|id| s.blobs.contains_key(*id)).cloned().collect())
    }
}
