//! The synchronous SQL of every operation; each function runs inside a transaction (a
//! savepoint of a group commit for writes, a read transaction for reads) owned by the caller.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::list::{
    self, KeySource, RefDelta, UploadMarker, VersionRow, VersionSeek, VersionSource,
};
use crate::mem::check_condition;
use crate::store::{RenameToken, next_seq, random_u64, reported_version_id};
use crate::{
    Bucket, CommitOutcome, DeleteOptions, EncryptedVersion, KmsKeyRow, ListPage, ListQuery,
    LockChange, MetaError, NULL_VERSION, ObjectLock, ObjectPart, ObjectSummary, ObjectVersion,
    Part, RENAME_TOKEN_TTL, RenameOptions, RetiredBlob, Upload, UploadListQuery, UploadPage, User,
    VersionListQuery, VersionPage, VersionSummary, Versioning, WriteCondition, version_id,
};

/// A failure inside an operation: an outcome for the caller or a database error, kept apart
/// so that `?` works on both and `rusqlite::Error` never leaves this module unboxed.
#[derive(Debug)]
pub(super) enum Fail {
    Meta(MetaError),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<MetaError> for Fail {
    fn from(e: MetaError) -> Self {
        Fail::Meta(e)
    }
}

impl From<Fail> for MetaError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Meta(e) => e,
            Fail::Db(e) => db_error(e),
        }
    }
}

/// Busy and locked databases, and a full disk (space comes back as the collector deletes
/// blobs), are worth a retry; everything else is a backend failure.
pub(super) fn db_error(e: rusqlite::Error) -> MetaError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | DiskFull) => MetaError::Unavailable(Box::new(e)),
        _ => MetaError::Backend(Box::new(e)),
    }
}

pub(super) type R<T> = Result<T, Fail>;

fn backend(msg: &str) -> Fail {
    Fail::Meta(MetaError::Backend(msg.into()))
}

/// Nanoseconds since the Unix epoch (negative before it).
pub(super) fn to_nanos(t: SystemTime) -> R<i64> {
    let n = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()),
        Err(e) => i64::try_from(e.duration().as_nanos()).map(|n| -n),
    };
    n.map_err(|_| backend("time out of range"))
}

pub(super) fn from_nanos(n: i64) -> SystemTime {
    let d = Duration::from_nanos(n.unsigned_abs());
    if n >= 0 { SystemTime::UNIX_EPOCH + d } else { SystemTime::UNIX_EPOCH - d }
}

fn to_i64(n: u64) -> R<i64> {
    i64::try_from(n).map_err(|_| backend("size out of range"))
}

fn u64_at(r: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let n: i64 = r.get(i)?;
    u64::try_from(n).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(super) fn time_at(r: &Row<'_>, i: usize) -> rusqlite::Result<SystemTime> {
    r.get::<_, i64>(i).map(from_nanos)
}

type Pairs = Vec<(String, String)>;

fn pairs_to_json(p: &Pairs) -> R<String> {
    serde_json::to_string(p).map_err(|e| Fail::Meta(MetaError::Backend(Box::new(e))))
}

fn pairs_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Pairs> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

// ---- users ----

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: r.get(0)?,
        access_key_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        secret_key: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        is_root: r.get(3)?,
        created: time_at(r, 4)?,
    })
}

pub(super) fn create_user(c: &Connection, u: &User) -> R<()> {
    let taken = c
        .prepare_cached(
            "SELECT 1 FROM users WHERE name = ?1 \
             UNION ALL SELECT 1 FROM access_keys WHERE access_key_id = ?2 \
             UNION ALL SELECT 1 FROM retired_users WHERE name = ?1",
        )?
        .exists(params![u.name, u.access_key_id])?;
    if taken {
        return Err(MetaError::UserExists.into());
    }
    let created = to_nanos(u.created)?;
    c.prepare_cached("INSERT INTO users (name, is_root, created) VALUES (?1, ?2, ?3)")?
        .execute(params![u.name, u.is_root, created])?;
    c.prepare_cached(
        "INSERT INTO access_keys (access_key_id, user_name, secret_key, active, created) \
         VALUES (?1, ?2, ?3, 1, ?4)",
    )?
    .execute(params![u.access_key_id, u.name, u.secret_key, created])?;
    Ok(())
}

pub(super) fn delete_user(c: &Connection, name: &str) -> R<()> {
    // Retired first, in the same transaction: the name is never free for a new user. Keys,
    // memberships and attachments go with the user (foreign keys, ON DELETE CASCADE).
    c.prepare_cached(
        "INSERT OR IGNORE INTO retired_users (name) SELECT name FROM users WHERE name = ?1 AND NOT is_root",
    )?
    .execute([name])?;
    match c.prepare_cached("DELETE FROM users WHERE name = ?1")?.execute([name])? {
        0 => Err(MetaError::NoSuchUser.into()),
        _ => Ok(()),
    }
}

pub(super) fn list_users(c: &Connection) -> R<Vec<User>> {
    let mut st = c.prepare_cached(
        "SELECT u.name, k.access_key_id, k.secret_key, u.is_root, u.created FROM users u \
         LEFT JOIN access_keys k ON k.access_key_id = (SELECT access_key_id FROM access_keys \
           WHERE user_name = u.name ORDER BY created, access_key_id LIMIT 1) \
         ORDER BY u.name",
    )?;
    let rows = st.query_map([], user_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn user_by_access_key(c: &Connection, key: &str) -> R<Option<User>> {
    Ok(super::iam::key_access(c, key)?.filter(|a| a.active).map(|a| a.user))
}

// ---- KMS keys ----

const KMS_COLS: &str = "key_id, alias, description, enabled, created, material";

fn kms_row(r: &Row<'_>) -> rusqlite::Result<KmsKeyRow> {
    Ok(KmsKeyRow {
        key_id: r.get(0)?,
        alias: r.get(1)?,
        description: r.get(2)?,
        enabled: r.get(3)?,
        created_unix_seconds: r.get(4)?,
        material: r.get(5)?,
    })
}

pub(super) fn insert_kms_key(c: &Connection, k: &KmsKeyRow) -> R<()> {
    let taken = c
        .prepare_cached("SELECT 1 FROM kms_keys WHERE key_id = ?1 OR alias = ?2")?
        .exists(params![k.key_id, k.alias])?;
    if taken {
        return Err(MetaError::KmsKeyExists.into());
    }
    c.prepare_cached(&format!(
        "INSERT INTO kms_keys ({KMS_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        k.key_id,
        k.alias,
        k.description,
        k.enabled,
        k.created_unix_seconds,
        k.material
    ])?;
    Ok(())
}

pub(super) fn kms_key(c: &Connection, key_id: &str) -> R<Option<KmsKeyRow>> {
    let mut st = c.prepare_cached(&format!("SELECT {KMS_COLS} FROM kms_keys WHERE key_id = ?1"))?;
    Ok(st.query_row([key_id], kms_row).optional()?)
}

pub(super) fn kms_key_by_alias(c: &Connection, alias: &str) -> R<Option<KmsKeyRow>> {
    let mut st = c.prepare_cached(&format!("SELECT {KMS_COLS} FROM kms_keys WHERE alias = ?1"))?;
    Ok(st.query_row([alias], kms_row).optional()?)
}

pub(super) fn kms_keys(c: &Connection) -> R<Vec<KmsKeyRow>> {
    let mut st = c.prepare_cached(&format!("SELECT {KMS_COLS} FROM kms_keys ORDER BY key_id"))?;
    let rows = st.query_map([], kms_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn set_kms_key_enabled(c: &Connection, key_id: &str, enabled: bool) -> R<bool> {
    let n = c
        .prepare_cached("UPDATE kms_keys SET enabled = ?2 WHERE key_id = ?1")?
        .execute(params![key_id, enabled])?;
    Ok(n > 0)
}

pub(super) fn set_kms_key_material(c: &Connection, key_id: &str, material: &[u8]) -> R<bool> {
    let n = c
        .prepare_cached("UPDATE kms_keys SET material = ?2 WHERE key_id = ?1")?
        .execute(params![key_id, material])?;
    Ok(n > 0)
}

// ---- buckets ----

const BUCKET_COLS: &str = "name, owner, region, created, versioning";

fn versioning_of(n: i64) -> Versioning {
    match n {
        1 => Versioning::Enabled,
        2 => Versioning::Suspended,
        _ => Versioning::Unversioned,
    }
}

fn versioning_code(v: Versioning) -> i64 {
    match v {
        Versioning::Unversioned => 0,
        Versioning::Enabled => 1,
        Versioning::Suspended => 2,
    }
}

fn bucket_row(r: &Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        name: r.get(0)?,
        owner: r.get(1)?,
        region: r.get(2)?,
        created: time_at(r, 3)?,
        versioning: versioning_of(r.get(4)?),
    })
}

fn bucket_exists(c: &Connection, name: &str) -> R<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?.exists([name])?)
}

/// The bucket's versioning state; [`MetaError::NoSuchBucket`] if it is gone.
fn bucket_mode(c: &Connection, name: &str) -> R<Versioning> {
    let mode: Option<i64> = c
        .prepare_cached("SELECT versioning FROM buckets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    mode.map(versioning_of).ok_or_else(|| MetaError::NoSuchBucket.into())
}

pub(super) fn set_bucket_versioning(c: &Connection, name: &str, v: Versioning) -> R<()> {
    let mode = bucket_mode(c, name)?;
    match (mode, v) {
        (Versioning::Unversioned, Versioning::Unversioned) => Ok(()),
        (_, Versioning::Unversioned) => Err(MetaError::Conflict.into()),
        (_, v) => {
            c.prepare_cached("UPDATE buckets SET versioning = ?2 WHERE name = ?1")?
                .execute(params![name, versioning_code(v)])?;
            Ok(())
        }
    }
}

pub(super) fn create_bucket(c: &Connection, b: &Bucket) -> R<()> {
    let owner: Option<String> = c
        .prepare_cached("SELECT owner FROM buckets WHERE name = ?1")?
        .query_row([&b.name], |r| r.get(0))
        .optional()?;
    if let Some(owner) = owner {
        return Err(MetaError::BucketExists { owner }.into());
    }
    c.prepare_cached(&format!("INSERT INTO buckets ({BUCKET_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)"))?
        .execute(params![
            b.name,
            b.owner,
            b.region,
            to_nanos(b.created)?,
            versioning_code(b.versioning)
        ])?;
    Ok(())
}

pub(super) fn bucket(c: &Connection, name: &str) -> R<Option<Bucket>> {
    let mut st = c.prepare_cached(&format!("SELECT {BUCKET_COLS} FROM buckets WHERE name = ?1"))?;
    Ok(st.query_row([name], bucket_row).optional()?)
}

pub(super) fn delete_bucket(c: &Connection, name: &str, now: i64) -> R<CommitOutcome> {
    if !bucket_exists(c, name)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    if c.prepare_cached("SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1")?.exists([name])? {
        return Err(MetaError::BucketNotEmpty.into());
    }
    let mut delta = RefDelta::default();
    {
        let mut st = c.prepare_cached("SELECT blob_id FROM upload_parts WHERE bucket = ?1")?;
        let mut rows = st.query([name])?;
        while let Some(r) = rows.next()? {
            delta.remove(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
        }
    }
    c.prepare_cached("DELETE FROM uploads WHERE bucket = ?1")?.execute([name])?;
    c.prepare_cached("DELETE FROM buckets WHERE name = ?1")?.execute([name])?;
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, ..CommitOutcome::default() })
}

pub(super) fn bucket_config(c: &Connection, bucket: &str, kind: &str) -> R<Option<String>> {
    let mut st =
        c.prepare_cached("SELECT document FROM bucket_configs WHERE bucket = ?1 AND kind = ?2")?;
    Ok(st.query_row([bucket, kind], |r| r.get(0)).optional()?)
}

pub(super) fn put_bucket_config(
    c: &Connection,
    bucket: &str,
    kind: &str,
    document: Option<&str>,
) -> R<()> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    if let Some(document) = document {
        c.prepare_cached(
            "INSERT INTO bucket_configs (bucket, kind, document) VALUES (?1, ?2, ?3) \
             ON CONFLICT (bucket, kind) DO UPDATE SET document = excluded.document",
        )?
        .execute([bucket, kind, document])?;
    } else {
        c.prepare_cached("DELETE FROM bucket_configs WHERE bucket = ?1 AND kind = ?2")?
            .execute([bucket, kind])?;
    }
    Ok(())
}

pub(super) fn bucket_configs(c: &Connection, bucket: &str) -> R<Vec<(String, String)>> {
    let mut st = c.prepare_cached(
        "SELECT kind, document FROM bucket_configs WHERE bucket = ?1 ORDER BY kind",
    )?;
    let rows = st.query_map([bucket], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_buckets(c: &Connection, owner: Option<&str>) -> R<Vec<Bucket>> {
    let cols = format!("SELECT {BUCKET_COLS} FROM buckets");
    let rows = if let Some(owner) = owner {
        let mut st = c.prepare_cached(&format!("{cols} WHERE owner = ?1 ORDER BY name"))?;
        st.query_map([owner], bucket_row)?.collect::<rusqlite::Result<_>>()?
    } else {
        let mut st = c.prepare_cached(&format!("{cols} ORDER BY name"))?;
        st.query_map([], bucket_row)?.collect::<rusqlite::Result<_>>()?
    };
    Ok(rows)
}

// ---- blob references ----

/// Applies `delta` in one upsert per blob; returns the blobs it retired, in id order.
fn apply(c: &Connection, delta: RefDelta, now: i64) -> R<Vec<String>> {
    let mut st = c.prepare_cached(
        "INSERT INTO blobs (blob_id, refs, retired_at) VALUES (?1, ?2, NULL) \
         ON CONFLICT (blob_id) DO UPDATE SET refs = refs + ?2, retired_at = CASE \
           WHEN refs + ?2 > 0 THEN NULL WHEN refs > 0 THEN ?3 ELSE retired_at END \
         RETURNING refs",
    )?;
    let mut retired = Vec::new();
    for (id, change) in delta.changes() {
        let refs: i64 = st.query_row(params![id, change, now], |r| r.get(0))?;
        if refs < 0 {
            return Err(backend("blob reference count went negative"));
        }
        if refs == 0 && change < 0 {
            retired.push(id);
        }
    }
    Ok(retired)
}

pub(super) fn retired_blobs(c: &Connection, before: i64, limit: u32) -> R<Vec<RetiredBlob>> {
    let mut st = c.prepare_cached(
        "SELECT blob_id, retired_at FROM blobs WHERE retired_at IS NOT NULL AND retired_at <= ?1 \
         ORDER BY retired_at, blob_id LIMIT ?2",
    )?;
    let rows = st.query_map(params![before, limit], |r| {
        Ok(RetiredBlob { blob_id: r.get(0)?, retired_at: time_at(r, 1)? })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn forget_blobs(c: &Connection, ids: &[String], now: i64) -> R<Vec<String>> {
    let mut st = c.prepare_cached(
        "DELETE FROM blobs WHERE blob_id = ?1 AND refs = 0 AND NOT EXISTS \
         (SELECT 1 FROM blob_leases l WHERE l.blob_id = ?1 AND l.expires_at > ?2)",
    )?;
    let mut out = Vec::new();
    for id in ids {
        if st.execute(params![id, now])? > 0 {
            out.push(id.clone());
        }
    }
    Ok(out)
}

pub(super) fn renew_leases(
    c: &Connection,
    holder: &str,
    ids: &[String],
    expires: i64,
    now: i64,
) -> R<()> {
    c.prepare_cached("DELETE FROM blob_leases WHERE holder = ?1 OR expires_at < ?2")?
        .execute(params![holder, now])?;
    let mut st = c.prepare_cached(
        "INSERT OR REPLACE INTO blob_leases (blob_id, holder, expires_at) VALUES (?1, ?2, ?3)",
    )?;
    for id in ids {
        st.execute(params![id, holder, expires])?;
    }
    Ok(())
}

pub(super) fn known_blobs(c: &Connection, ids: &[String]) -> R<Vec<String>> {
    let mut st = c.prepare_cached("SELECT 1 FROM blobs WHERE blob_id = ?1")?;
    let mut out = Vec::new();
    for id in ids {
        if st.exists([id])? {
            out.push(id.clone());
        }
    }
    Ok(out)
}

// ---- objects ----

/// The latest version of a key: row id, ETag (`None` for a delete marker) and sequence number.
struct Latest {
    id: i64,
    etag: Option<String>,
    seq: i64,
}

fn current(c: &Connection, bucket: &str, key: &str) -> R<Option<Latest>> {
    let mut st = c.prepare_cached(
        "SELECT id, is_delete_marker, etag, seq FROM objects \
         WHERE bucket = ?1 AND key = ?2 AND is_latest",
    )?;
    let row = st.query_row([bucket, key], |r| {
        let dm: bool = r.get(1)?;
        Ok(Latest { id: r.get(0)?, etag: if dm { None } else { Some(r.get(2)?) }, seq: r.get(3)? })
    });
    Ok(row.optional()?)
}

/// Deletes an object row, moving its parts' references into `delta`.
fn remove_version(c: &Connection, id: i64, delta: &mut RefDelta) -> R<()> {
    {
        let mut st = c.prepare_cached("SELECT blob_id FROM object_parts WHERE object_id = ?1")?;
        let mut rows = st.query([id])?;
        while let Some(r) = rows.next()? {
            delta.remove(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
        }
    }
    c.prepare_cached("DELETE FROM object_parts WHERE object_id = ?1")?.execute([id])?;
    c.prepare_cached("DELETE FROM objects WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Makes the newest remaining version of a key (if any) its latest.
fn promote_newest(c: &Connection, bucket: &str, key: &str) -> R<()> {
    c.prepare_cached(
        "UPDATE objects SET is_latest = 1 WHERE id = (SELECT id FROM objects \
         WHERE bucket = ?1 AND key = ?2 ORDER BY seq DESC LIMIT 1)",
    )?
    .execute([bucket, key])?;
    Ok(())
}

/// Adds `v` as the newest, latest version of its key in a bucket of state `mode`, after the
/// caller checked the condition against `cur`: replaces the key's `null` version unless
/// versioning is enabled. Returns the version id the bucket reports (`None`: unversioned).
fn add_version(
    c: &Connection,
    v: &ObjectVersion,
    mode: Versioning,
    cur: Option<&Latest>,
    now: i64,
    delta: &mut RefDelta,
) -> R<Option<String>> {
    let seq = next_seq(now, cur.map(|l| l.seq));
    let id = match mode {
        Versioning::Enabled => version_id(seq, random_u64()),
        Versioning::Unversioned | Versioning::Suspended => NULL_VERSION.to_owned(),
    };
    if mode != Versioning::Enabled {
        let null: Option<i64> = c
            .prepare_cached(
                "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2 AND version_id = 'null'",
            )?
            .query_row([&v.bucket, &v.key], |r| r.get(0))
            .optional()?;
        if let Some(row) = null {
            remove_version(c, row, delta)?;
        }
    }
    if let Some(l) = cur {
        c.prepare_cached("UPDATE objects SET is_latest = 0 WHERE id = ?1")?.execute([l.id])?;
    }
    c.prepare_cached(
        "INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, size, etag, \
         last_modified, owner, headers, tags, checksum_algorithm, checksum_type, checksum, seq, \
         encryption, object_lock, acl, storage_class) \
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18)",
    )?
    .execute(params![
        v.bucket,
        v.key,
        id,
        v.is_delete_marker,
        to_i64(v.size)?,
        v.etag,
        to_nanos(v.last_modified)?,
        v.owner,
        pairs_to_json(&v.headers)?,
        pairs_to_json(&v.tags)?,
        v.checksum_algorithm,
        v.checksum_type,
        v.checksum,
        seq,
        v.encryption,
        v.lock.to_column(),
        v.acl,
        v.storage_class,
    ])?;
    let row = c.last_insert_rowid();
    let mut st = c.prepare_cached(
        "INSERT INTO object_parts (object_id, idx, part_number, blob_id, blob_offset, size, etag, \
         checksum, salt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (idx, p) in v.parts.iter().enumerate() {
        st.execute(params![
            row,
            idx,
            p.part_number,
            p.blob_id,
            to_i64(p.blob_offset)?,
            to_i64(p.size)?,
            p.etag,
            p.checksum,
            p.salt
        ])?;
        delta.add(&p.blob_id);
    }
    Ok(reported_version_id(mode, v.is_delete_marker, id))
}

/// Commits `v` as the latest version after `cond`; returns whether a current version existed
/// and the version id.
pub(super) fn commit_version(
    c: &Connection,
    v: &ObjectVersion,
    cond: &WriteCondition,
    now: i64,
    delta: &mut RefDelta,
) -> R<(bool, Option<String>)> {
    let mode = bucket_mode(c, &v.bucket)?;
    let cur = current(c, &v.bucket, &v.key)?;
    check_condition(cond, cur.as_ref().and_then(|l| l.etag.as_deref()))?;
    let id = add_version(c, v, mode, cur.as_ref(), now, delta)?;
    Ok((cur.is_some(), id))
}

pub(super) fn put_object(
    c: &Connection,
    v: &ObjectVersion,
    cond: &WriteCondition,
    now: i64,
) -> R<CommitOutcome> {
    let mut delta = RefDelta::default();
    let (replaced, version_id) = commit_version(c, v, cond, now, &mut delta)?;
    Ok(CommitOutcome {
        retired_blobs: apply(c, delta, now)?,
        replaced,
        version_id,
        delete_marker: false,
    })
}

pub(super) fn object_version(
    c: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> R<Option<ObjectVersion>> {
    let mut st = c.prepare_cached(
        "SELECT id, version_id, size, etag, last_modified, owner, headers, tags, \
         checksum_algorithm, checksum_type, checksum, is_delete_marker, encryption, object_lock, \
         acl, storage_class FROM objects \
         WHERE bucket = ?1 AND key = ?2 AND (version_id = ?3 OR (?3 IS NULL AND is_latest))",
    )?;
    let row = st
        .query_row(params![bucket, key, version_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                ObjectVersion {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version_id: r.get(1)?,
                    is_delete_marker: r.get(11)?,
                    size: u64_at(r, 2)?,
                    etag: r.get(3)?,
                    last_modified: time_at(r, 4)?,
                    owner: r.get(5)?,
                    headers: pairs_at(r, 6)?,
                    tags: pairs_at(r, 7)?,
                    checksum_algorithm: r.get(8)?,
                    checksum_type: r.get(9)?,
                    checksum: r.get(10)?,
                    parts: Vec::new(),
                    encryption: r.get(12)?,
                    lock: ObjectLock::default(),
                    acl: r.get(14)?,
                    storage_class: r.get(15)?,
                },
                r.get::<_, Option<String>>(13)?,
            ))
        })
        .optional()?;
    let Some((id, mut v, lock)) = row else { return Ok(None) };
    v.lock = ObjectLock::from_column(lock.as_deref())?;
    let mut st = c.prepare_cached(
        "SELECT part_number, blob_id, blob_offset, size, etag, checksum, salt FROM object_parts \
         WHERE object_id = ?1 ORDER BY idx",
    )?;
    let parts = st.query_map([id], |r| {
        Ok(ObjectPart {
            part_number: r.get(0)?,
            blob_id: r.get(1)?,
            blob_offset: u64_at(r, 2)?,
            size: u64_at(r, 3)?,
            etag: r.get(4)?,
            checksum: r.get(5)?,
            salt: r.get(6)?,
        })
    })?;
    v.parts = parts.collect::<rusqlite::Result<_>>()?;
    Ok(Some(v))
}

pub(super) fn object(c: &Connection, bucket: &str, key: &str) -> R<Option<ObjectVersion>> {
    Ok(object_version(c, bucket, key, None)?.filter(|v| !v.is_delete_marker))
}

pub(super) fn delete_object(
    c: &Connection,
    bucket: &str,
    key: &str,
    opts: &DeleteOptions,
    now: i64,
) -> R<CommitOutcome> {
    let mode = bucket_mode(c, bucket)?;
    let cur = current(c, bucket, key)?;
    check_condition(&opts.condition, cur.as_ref().and_then(|l| l.etag.as_deref()))?;
    let mut delta = RefDelta::default();
    let mut out = CommitOutcome::default();
    match (&opts.version_id, mode) {
        (None, Versioning::Unversioned) => {
            let Some(l) = cur else { return Ok(out) };
            remove_version(c, l.id, &mut delta)?;
            out.replaced = true;
        }
        (None, Versioning::Enabled | Versioning::Suspended) => {
            let marker = opts.marker(bucket, key);
            out.version_id = add_version(c, &marker, mode, cur.as_ref(), now, &mut delta)?;
            out.replaced = cur.is_some();
            out.delete_marker = true;
        }
        (Some(id), _) => {
            out.version_id = Some(id.clone());
            let found: Option<(i64, bool, bool, Option<String>)> = c
                .prepare_cached(
                    "SELECT id, is_latest, is_delete_marker, object_lock FROM objects \
                     WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                )?
                .query_row([bucket, key, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((row, was_latest, dm, lock)) = found else { return Ok(out) };
            let lock = ObjectLock::from_column(lock.as_deref())?;
            if lock.blocks_delete(opts.now, opts.bypass_governance) {
                return Err(MetaError::ObjectLocked.into());
            }
            remove_version(c, row, &mut delta)?;
            if was_latest {
                promote_newest(c, bucket, key)?;
            }
            out.replaced = true;
            out.delete_marker = dm;
        }
    }
    out.retired_blobs = apply(c, delta, now)?;
    Ok(out)
}

pub(super) fn rename_object(
    c: &Connection,
    bucket: &str,
    source_key: &str,
    key: &str,
    opts: &RenameOptions,
    now: i64,
) -> R<CommitOutcome> {
    let mode = bucket_mode(c, bucket)?;
    let at = to_nanos(opts.now)?;
    let ttl = i64::try_from(RENAME_TOKEN_TTL.as_nanos()).unwrap_or(i64::MAX);
    c.prepare_cached("DELETE FROM rename_tokens WHERE bucket = ?1 AND created_at <= ?2")?
        .execute(params![bucket, at.saturating_sub(ttl)])?;
    if let Some(token) = &opts.client_token {
        let record = c
            .prepare_cached(
                "SELECT source_key, key, version_id, created_at FROM rename_tokens                  WHERE bucket = ?1 AND token = ?2",
            )?
            .query_row([bucket, token], |r| {
                Ok(RenameToken {
                    source_key: r.get(0)?,
                    key: r.get(1)?,
                    version_id: r.get(2)?,
                    at: time_at(r, 3)?,
                })
            })
            .optional()?;
        if let Some(out) = opts.replay(source_key, key, record.as_ref())? {
            return Ok(out);
        }
    }
    let Some(source) = object(c, bucket, source_key)? else {
        return Err(MetaError::NoSuchKey.into());
    };
    check_condition(&opts.source_condition, Some(&source.etag))?;
    let cur = current(c, bucket, key)?;
    check_condition(&opts.condition, cur.as_ref().and_then(|l| l.etag.as_deref()))?;
    let mut delta = RefDelta::default();
    // A renamed version keeps its owner and gets the owner's private ACL (in every store).
    let version = ObjectVersion { key: key.to_owned(), lock: opts.lock, acl: None, ..source };
    let version_id = add_version(c, &version, mode, cur.as_ref(), now, &mut delta)?;
    let src = current(c, bucket, source_key)?;
    if mode == Versioning::Unversioned {
        if let Some(l) = src {
            remove_version(c, l.id, &mut delta)?;
        }
    } else {
        add_version(c, &opts.marker(bucket, source_key), mode, src.as_ref(), now, &mut delta)?;
    }
    if let Some(token) = &opts.client_token {
        c.prepare_cached(
            "INSERT OR REPLACE INTO rename_tokens (bucket, token, source_key, key, version_id,              created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![bucket, token, source_key, key, version_id, at])?;
    }
    Ok(CommitOutcome {
        retired_blobs: apply(c, delta, now)?,
        replaced: cur.is_some(),
        version_id,
        delete_marker: false,
    })
}

pub(super) fn set_object_tags(
    c: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: &Pairs,
) -> R<String> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let updated: Option<String> = c
        .prepare_cached(
            "UPDATE objects SET tags = ?4 WHERE bucket = ?1 AND key = ?2 \
             AND (version_id = ?3 OR (?3 IS NULL AND is_latest)) AND NOT is_delete_marker \
             RETURNING version_id",
        )?
        .query_row(rusqlite::params![bucket, key, version_id, pairs_to_json(tags)?], |r| r.get(0))
        .optional()?;
    updated.ok_or_else(|| MetaError::NoSuchKey.into())
}

pub(super) fn encrypted_versions(
    c: &Connection,
    after: Option<&(String, String, String)>,
    limit: u32,
) -> R<Vec<EncryptedVersion>> {
    let (b, k, v) = after.map_or(("", "", ""), |(b, k, v)| (b.as_str(), k.as_str(), v.as_str()));
    let mut stmt = c.prepare_cached(
        "SELECT bucket, key, version_id, encryption FROM objects \
         WHERE encryption IS NOT NULL AND (?4 OR (bucket, key, version_id) > (?1, ?2, ?3)) \
         ORDER BY bucket, key, version_id LIMIT ?5",
    )?;
    let rows = stmt.query_map(params![b, k, v, after.is_none(), limit], |r| {
        Ok(EncryptedVersion {
            bucket: r.get(0)?,
            key: r.get(1)?,
            version_id: r.get(2)?,
            encryption: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn replace_encryption(
    c: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
    expected: &str,
    record: &str,
) -> R<bool> {
    let n = c
        .prepare_cached(
            "UPDATE objects SET encryption = ?5 \
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 AND encryption = ?4",
        )?
        .execute(params![bucket, key, version_id, expected, record])?;
    Ok(n == 1)
}

pub(super) fn set_object_acl(
    c: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    acl: Option<&str>,
) -> R<String> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let updated: Option<String> = c
        .prepare_cached(
            "UPDATE objects SET acl = ?4 WHERE bucket = ?1 AND key = ?2 \
             AND (version_id = ?3 OR (?3 IS NULL AND is_latest)) AND NOT is_delete_marker \
             RETURNING version_id",
        )?
        .query_row(params![bucket, key, version_id, acl], |r| r.get(0))
        .optional()?;
    updated.ok_or_else(|| MetaError::NoSuchKey.into())
}

pub(super) fn set_object_lock(
    c: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    change: LockChange,
    now: SystemTime,
) -> R<String> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let found: Option<(i64, String, Option<String>)> = c
        .prepare_cached(
            "SELECT id, version_id, object_lock FROM objects WHERE bucket = ?1 AND key = ?2 \
             AND (version_id = ?3 OR (?3 IS NULL AND is_latest)) AND NOT is_delete_marker",
        )?
        .query_row(params![bucket, key, version_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((row, id, lock)) = found else { return Err(MetaError::NoSuchKey.into()) };
    let lock = ObjectLock::from_column(lock.as_deref())?.changed(change, now)?;
    c.prepare_cached("UPDATE objects SET object_lock = ?2 WHERE id = ?1")?
        .execute(params![row, lock.to_column()])?;
    Ok(id)
}

/// The range query of one listing seek (`op` is `>` or `>=`).
pub(super) fn fetch_sql(op: &str, bounded: bool) -> String {
    let upper = if bounded { "AND key < ?3" } else { "AND ?3 IS NULL" };
    format!(
        "SELECT key, size, etag, last_modified, owner, checksum_algorithm, storage_class \
         FROM objects \
         WHERE bucket = ?1 AND is_latest AND NOT is_delete_marker AND key {op} ?2 {upper} \
         ORDER BY key LIMIT ?4"
    )
}

/// Seeks over `objects_latest`, counting each query in `seeks`.
struct SqliteKeys<'a> {
    c: &'a Connection,
    bucket: &'a str,
    seeks: &'a AtomicU64,
}

impl KeySource for SqliteKeys<'_> {
    fn fetch(
        &mut self,
        lower: Bound<&str>,
        upper: Option<&str>,
        limit: usize,
        out: &mut Vec<ObjectSummary>,
    ) -> Result<(), MetaError> {
        let (op, low) = match lower {
            Bound::Included(s) => (">=", s),
            Bound::Excluded(s) => (">", s),
            Bound::Unbounded => (">=", ""),
        };
        let sql = fetch_sql(op, upper.is_some());
        self.seeks.fetch_add(1, Ordering::Relaxed);
        let mut run = || -> rusqlite::Result<()> {
            let mut st = self.c.prepare_cached(&sql)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![self.bucket, low, upper, limit], |r| {
                Ok(ObjectSummary {
                    key: r.get(0)?,
                    size: u64_at(r, 1)?,
                    etag: r.get(2)?,
                    last_modified: time_at(r, 3)?,
                    owner: r.get(4)?,
                    checksum_algorithm: r.get(5)?,
                    storage_class: r.get(6)?,
                })
            })?;
            for row in rows {
                out.push(row?);
            }
            Ok(())
        };
        run().map_err(db_error)
    }
}

pub(super) fn list_objects(
    c: &Connection,
    bucket: &str,
    q: &ListQuery,
    seeks: &AtomicU64,
) -> R<ListPage> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    Ok(list::list_objects(&mut SqliteKeys { c, bucket, seeks }, q)?)
}

/// The queries of a version listing's seeks: within one key below a sequence number; over a
/// key range (`op` is `>` or `>=`), bounded above or not.
pub(super) fn version_sql(seek: &VersionSeek) -> String {
    const COLS: &str = "SELECT key, version_id, is_latest, is_delete_marker, size, etag, \
        last_modified, owner, checksum_algorithm, seq, storage_class FROM objects";
    match seek {
        VersionSeek::Within { .. } => {
            format!("{COLS} WHERE bucket = ?1 AND key = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4")
        }
        VersionSeek::Keys { lower, upper } => {
            let op = if matches!(lower, Bound::Excluded(_)) { ">" } else { ">=" };
            let upper = if upper.is_some() { "AND key < ?3" } else { "AND ?3 IS NULL" };
            format!(
                "{COLS} WHERE bucket = ?1 AND key {op} ?2 {upper} \
                 ORDER BY key, seq DESC LIMIT ?4"
            )
        }
    }
}

fn version_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        seq: r.get(9)?,
        summary: VersionSummary {
            key: r.get(0)?,
            version_id: r.get(1)?,
            is_latest: r.get(2)?,
            is_delete_marker: r.get(3)?,
            size: u64_at(r, 4)?,
            etag: r.get(5)?,
            last_modified: time_at(r, 6)?,
            owner: r.get(7)?,
            checksum_algorithm: r.get(8)?,
            storage_class: r.get(10)?,
        },
    })
}

impl VersionSource for SqliteKeys<'_> {
    fn fetch(
        &mut self,
        seek: &VersionSeek,
        limit: usize,
        out: &mut Vec<VersionRow>,
    ) -> Result<(), MetaError> {
        let sql = version_sql(seek);
        self.seeks.fetch_add(1, Ordering::Relaxed);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut run = || -> rusqlite::Result<()> {
            let mut st = self.c.prepare_cached(&sql)?;
            let rows = match seek {
                VersionSeek::Within { key, below } => {
                    st.query_map(params![self.bucket, key, below, limit], version_row)?
                }
                VersionSeek::Keys { lower, upper } => {
                    let low = match lower {
                        Bound::Included(s) | Bound::Excluded(s) => s.as_str(),
                        Bound::Unbounded => "",
                    };
                    st.query_map(params![self.bucket, low, upper, limit], version_row)?
                }
            };
            for row in rows {
                out.push(row?);
            }
            Ok(())
        };
        run().map_err(db_error)
    }
}

pub(super) fn list_object_versions(
    c: &Connection,
    bucket: &str,
    q: &VersionListQuery,
    seeks: &AtomicU64,
) -> R<VersionPage> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let marker_seq = match (&q.key_marker, &q.version_id_marker) {
        (Some(km), Some(id)) => c
            .prepare_cached(
                "SELECT seq FROM objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
            )?
            .query_row([bucket, km, id], |r| r.get(0))
            .optional()?,
        _ => None,
    };
    Ok(list::list_versions(&mut SqliteKeys { c, bucket, seeks }, q, marker_seq)?)
}

// ---- uploads ----

const UPLOAD_COLS: &str = "upload_id, bucket, key, initiated, owner, headers, tags, checksum_algorithm, checksum_type, \
     encryption, object_lock, acl, storage_class";

fn upload_row(r: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        initiated: time_at(r, 3)?,
        owner: r.get(4)?,
        headers: pairs_at(r, 5)?,
        tags: pairs_at(r, 6)?,
        checksum_algorithm: r.get(7)?,
        checksum_type: r.get(8)?,
        encryption: r.get(9)?,
        lock: ObjectLock::from_column(r.get::<_, Option<String>>(10)?.as_deref()).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, Box::new(e))
        })?,
        acl: r.get(11)?,
        storage_class: r.get(12)?,
    })
}

fn upload_key(c: &Connection, bucket: &str, upload_id: &str) -> R<Option<String>> {
    let mut st =
        c.prepare_cached("SELECT key FROM uploads WHERE bucket = ?1 AND upload_id = ?2")?;
    Ok(st.query_row([bucket, upload_id], |r| r.get(0)).optional()?)
}

pub(super) fn create_upload(c: &Connection, u: &Upload) -> R<()> {
    if !bucket_exists(c, &u.bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    if upload_key(c, &u.bucket, &u.upload_id)?.is_some() {
        return Err(MetaError::Conflict.into());
    }
    c.prepare_cached(&format!(
        "INSERT INTO uploads ({UPLOAD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13)"
    ))?
    .execute(params![
        u.upload_id,
        u.bucket,
        u.key,
        to_nanos(u.initiated)?,
        u.owner,
        pairs_to_json(&u.headers)?,
        pairs_to_json(&u.tags)?,
        u.checksum_algorithm,
        u.checksum_type,
        u.encryption,
        u.lock.to_column(),
        u.acl,
        u.storage_class,
    ])?;
    Ok(())
}

pub(super) fn upload(c: &Connection, bucket: &str, upload_id: &str) -> R<Option<Upload>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {UPLOAD_COLS} FROM uploads WHERE bucket = ?1 AND upload_id = ?2"
    ))?;
    Ok(st.query_row([bucket, upload_id], upload_row).optional()?)
}

/// Moves the references of an upload's parts into `delta` and deletes the upload.
fn remove_upload(c: &Connection, bucket: &str, upload_id: &str, delta: &mut RefDelta) -> R<()> {
    {
        let mut st = c.prepare_cached(
            "SELECT blob_id FROM upload_parts WHERE bucket = ?1 AND upload_id = ?2",
        )?;
        let mut rows = st.query([bucket, upload_id])?;
        while let Some(r) = rows.next()? {
            delta.remove(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
        }
    }
    c.prepare_cached("DELETE FROM upload_parts WHERE bucket = ?1 AND upload_id = ?2")?
        .execute([bucket, upload_id])?;
    c.prepare_cached("DELETE FROM uploads WHERE bucket = ?1 AND upload_id = ?2")?
        .execute([bucket, upload_id])?;
    Ok(())
}

pub(super) fn put_part(
    c: &Connection,
    bucket: &str,
    upload_id: &str,
    p: &Part,
    now: i64,
) -> R<CommitOutcome> {
    if upload_key(c, bucket, upload_id)?.is_none() {
        return Err(MetaError::NoSuchUpload.into());
    }
    let mut delta = RefDelta::default();
    let old: Option<String> = c
        .prepare_cached(
            "SELECT blob_id FROM upload_parts WHERE bucket = ?1 AND upload_id = ?2 AND part_number = ?3",
        )?
        .query_row(params![bucket, upload_id, p.part_number], |r| r.get(0))
        .optional()?;
    if let Some(old) = &old {
        delta.remove(old);
    }
    delta.add(&p.blob_id);
    c.prepare_cached(
        "INSERT OR REPLACE INTO upload_parts (bucket, upload_id, part_number, blob_id, \
         blob_offset, size, etag, checksum, last_modified, salt) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        bucket,
        upload_id,
        p.part_number,
        p.blob_id,
        to_i64(p.blob_offset)?,
        to_i64(p.size)?,
        p.etag,
        p.checksum,
        to_nanos(p.last_modified)?,
        p.salt,
    ])?;
    Ok(CommitOutcome {
        retired_blobs: apply(c, delta, now)?,
        replaced: old.is_some(),
        ..CommitOutcome::default()
    })
}

pub(super) fn list_parts(
    c: &Connection,
    bucket: &str,
    upload_id: &str,
    after: u32,
    max: u32,
) -> R<(Vec<Part>, bool)> {
    if upload_key(c, bucket, upload_id)?.is_none() {
        return Err(MetaError::NoSuchUpload.into());
    }
    let max = max.min(list::MAX_PAGE);
    let mut st = c.prepare_cached(
        "SELECT part_number, blob_id, blob_offset, size, etag, checksum, last_modified, salt \
         FROM upload_parts WHERE bucket = ?1 AND upload_id = ?2 AND part_number > ?3 \
         ORDER BY part_number LIMIT ?4",
    )?;
    let rows = st.query_map(params![bucket, upload_id, after, max + 1], |r| {
        Ok(Part {
            part_number: r.get(0)?,
            blob_id: r.get(1)?,
            blob_offset: u64_at(r, 2)?,
            size: u64_at(r, 3)?,
            etag: r.get(4)?,
            checksum: r.get(5)?,
            last_modified: time_at(r, 6)?,
            salt: r.get(7)?,
        })
    })?;
    let mut parts: Vec<Part> = rows.collect::<rusqlite::Result<_>>()?;
    let more = parts.len() > max as usize;
    parts.truncate(max as usize);
    Ok((parts, more))
}

pub(super) fn list_uploads(c: &Connection, bucket: &str, q: &UploadListQuery) -> R<UploadPage> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let marker: UploadMarker = match (&q.key_marker, &q.upload_id_marker) {
        (Some(km), Some(id)) => c
            .prepare_cached(
                "SELECT initiated FROM uploads WHERE bucket = ?1 AND upload_id = ?2 AND key = ?3",
            )?
            .query_row([bucket, id, km], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|n| (from_nanos(n), id.clone())),
        _ => None,
    };
    let start = match q.key_marker.as_deref() {
        Some(km) if km > q.prefix.as_str() => km,
        _ => q.prefix.as_str(),
    };
    let upper = list::prefix_end(&q.prefix);
    let mut st = c.prepare_cached(&format!(
        "SELECT {UPLOAD_COLS} FROM uploads WHERE bucket = ?1 AND key >= ?2 \
         AND (?3 IS NULL OR key < ?3) ORDER BY key, initiated, upload_id"
    ))?;
    let rows = st.query_map(params![bucket, start, upper], upload_row)?;
    Ok(list::list_uploads(rows.map(|r| r.map_err(db_error)), q, &marker)?)
}

pub(super) fn complete_upload(
    c: &Connection,
    upload_id: &str,
    v: &ObjectVersion,
    cond: &WriteCondition,
    now: i64,
) -> R<CommitOutcome> {
    if upload_key(c, &v.bucket, upload_id)?.as_deref() != Some(v.key.as_str()) {
        return Err(MetaError::NoSuchUpload.into());
    }
    let mut delta = RefDelta::default();
    let (replaced, version_id) = commit_version(c, v, cond, now, &mut delta)?;
    remove_upload(c, &v.bucket, upload_id, &mut delta)?;
    Ok(CommitOutcome {
        retired_blobs: apply(c, delta, now)?,
        replaced,
        version_id,
        delete_marker: false,
    })
}

pub(super) fn abort_upload(
    c: &Connection,
    bucket: &str,
    upload_id: &str,
    now: i64,
) -> R<CommitOutcome> {
    if upload_key(c, bucket, upload_id)?.is_none() {
        return Err(MetaError::NoSuchUpload.into());
    }
    let mut delta = RefDelta::default();
    remove_upload(c, bucket, upload_id, &mut delta)?;
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, ..CommitOutcome::default() })
}
