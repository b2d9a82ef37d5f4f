//! The synchronous SQL of every operation; each function runs inside a transaction (a
//! savepoint of a group commit for writes, a read transaction for reads) owned by the caller.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::list::{self, KeySource, RefDelta, UploadMarker};
use crate::mem::check_condition;
use crate::{
    Bucket, CommitOutcome, ListPage, ListQuery, MetaError, ObjectPart, ObjectSummary,
    ObjectVersion, Part, RetiredBlob, Upload, UploadListQuery, UploadPage, User, WriteCondition,
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

fn time_at(r: &Row<'_>, i: usize) -> rusqlite::Result<SystemTime> {
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

const USER_COLS: &str = "name, access_key_id, secret_key, is_root, created";

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: r.get(0)?,
        access_key_id: r.get(1)?,
        secret_key: r.get(2)?,
        is_root: r.get(3)?,
        created: time_at(r, 4)?,
    })
}

pub(super) fn create_user(c: &Connection, u: &User) -> R<()> {
    let taken = c
        .prepare_cached("SELECT 1 FROM users WHERE name = ?1 OR access_key_id = ?2")?
        .exists(params![u.name, u.access_key_id])?;
    if taken {
        return Err(MetaError::UserExists.into());
    }
    c.prepare_cached(
        "INSERT INTO users (name, access_key_id, secret_key, is_root, created) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![u.name, u.access_key_id, u.secret_key, u.is_root, to_nanos(u.created)?])?;
    Ok(())
}

pub(super) fn delete_user(c: &Connection, name: &str) -> R<()> {
    match c.prepare_cached("DELETE FROM users WHERE name = ?1")?.execute([name])? {
        0 => Err(MetaError::NoSuchUser.into()),
        _ => Ok(()),
    }
}

pub(super) fn list_users(c: &Connection) -> R<Vec<User>> {
    let mut st = c.prepare_cached(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))?;
    let rows = st.query_map([], user_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn user_by_access_key(c: &Connection, key: &str) -> R<Option<User>> {
    let mut st =
        c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE access_key_id = ?1"))?;
    Ok(st.query_row([key], user_row).optional()?)
}

// ---- buckets ----

fn bucket_row(r: &Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket { name: r.get(0)?, owner: r.get(1)?, region: r.get(2)?, created: time_at(r, 3)? })
}

fn bucket_exists(c: &Connection, name: &str) -> R<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?.exists([name])?)
}

pub(super) fn create_bucket(c: &Connection, b: &Bucket) -> R<()> {
    let owner: Option<String> = c
        .prepare_cached("SELECT owner FROM buckets WHERE name = ?1")?
        .query_row([&b.name], |r| r.get(0))
        .optional()?;
    if let Some(owner) = owner {
        return Err(MetaError::BucketExists { owner }.into());
    }
    c.prepare_cached("INSERT INTO buckets (name, owner, region, created) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![b.name, b.owner, b.region, to_nanos(b.created)?])?;
    Ok(())
}

pub(super) fn bucket(c: &Connection, name: &str) -> R<Option<Bucket>> {
    let mut st =
        c.prepare_cached("SELECT name, owner, region, created FROM buckets WHERE name = ?1")?;
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
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, replaced: false })
}

pub(super) fn list_buckets(c: &Connection, owner: Option<&str>) -> R<Vec<Bucket>> {
    let cols = "SELECT name, owner, region, created FROM buckets";
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

/// The current version's row id and ETag (`None` for a delete marker).
fn current(c: &Connection, bucket: &str, key: &str) -> R<Option<(i64, Option<String>)>> {
    let mut st = c.prepare_cached(
        "SELECT id, is_delete_marker, etag FROM objects WHERE bucket = ?1 AND key = ?2 AND is_latest",
    )?;
    let row = st.query_row([bucket, key], |r| {
        let dm: bool = r.get(1)?;
        Ok((r.get(0)?, if dm { None } else { Some(r.get(2)?) }))
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

/// Commits `v` as the current version after `cond`; returns whether one was replaced.
pub(super) fn commit_version(
    c: &Connection,
    v: &ObjectVersion,
    cond: &WriteCondition,
    delta: &mut RefDelta,
) -> R<bool> {
    if !bucket_exists(c, &v.bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let cur = current(c, &v.bucket, &v.key)?;
    check_condition(cond, cur.as_ref().and_then(|(_, e)| e.as_deref()))?;
    if let Some((id, _)) = cur {
        remove_version(c, id, delta)?;
    }
    c.prepare_cached(
        "INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, size, etag, \
         last_modified, owner, headers, tags, checksum_algorithm, checksum_type, checksum) \
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        v.bucket,
        v.key,
        v.version_id,
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
    ])?;
    let id = c.last_insert_rowid();
    let mut st = c.prepare_cached(
        "INSERT INTO object_parts (object_id, idx, part_number, blob_id, blob_offset, size, etag, \
         checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (idx, p) in v.parts.iter().enumerate() {
        st.execute(params![
            id,
            idx,
            p.part_number,
            p.blob_id,
            to_i64(p.blob_offset)?,
            to_i64(p.size)?,
            p.etag,
            p.checksum
        ])?;
        delta.add(&p.blob_id);
    }
    Ok(cur.is_some())
}

pub(super) fn put_object(
    c: &Connection,
    v: &ObjectVersion,
    cond: &WriteCondition,
    now: i64,
) -> R<CommitOutcome> {
    let mut delta = RefDelta::default();
    let replaced = commit_version(c, v, cond, &mut delta)?;
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, replaced })
}

pub(super) fn object(c: &Connection, bucket: &str, key: &str) -> R<Option<ObjectVersion>> {
    let mut st = c.prepare_cached(
        "SELECT id, version_id, size, etag, last_modified, owner, headers, tags, \
         checksum_algorithm, checksum_type, checksum FROM objects \
         WHERE bucket = ?1 AND key = ?2 AND is_latest AND NOT is_delete_marker",
    )?;
    let row = st
        .query_row([bucket, key], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                ObjectVersion {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version_id: r.get(1)?,
                    is_delete_marker: false,
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
                },
            ))
        })
        .optional()?;
    let Some((id, mut v)) = row else { return Ok(None) };
    let mut st = c.prepare_cached(
        "SELECT part_number, blob_id, blob_offset, size, etag, checksum FROM object_parts \
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
        })
    })?;
    v.parts = parts.collect::<rusqlite::Result<_>>()?;
    Ok(Some(v))
}

pub(super) fn delete_object(
    c: &Connection,
    bucket: &str,
    key: &str,
    cond: &WriteCondition,
    now: i64,
) -> R<CommitOutcome> {
    if !bucket_exists(c, bucket)? {
        return Err(MetaError::NoSuchBucket.into());
    }
    let cur = current(c, bucket, key)?;
    check_condition(cond, cur.as_ref().and_then(|(_, e)| e.as_deref()))?;
    let Some((id, _)) = cur else { return Ok(CommitOutcome::default()) };
    let mut delta = RefDelta::default();
    remove_version(c, id, &mut delta)?;
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, replaced: true })
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

/// The range query of one listing seek (`op` is `>` or `>=`).
pub(super) fn fetch_sql(op: &str, bounded: bool) -> String {
    let upper = if bounded { "AND key < ?3" } else { "AND ?3 IS NULL" };
    format!(
        "SELECT key, size, etag, last_modified, owner, checksum_algorithm FROM objects \
         WHERE bucket = ?1 AND is_latest AND key {op} ?2 {upper} AND NOT is_delete_marker \
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

// ---- uploads ----

const UPLOAD_COLS: &str =
    "upload_id, bucket, key, initiated, owner, headers, tags, checksum_algorithm, checksum_type";

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
        "INSERT INTO uploads ({UPLOAD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
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
         blob_offset, size, etag, checksum, last_modified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
    ])?;
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, replaced: old.is_some() })
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
        "SELECT part_number, blob_id, blob_offset, size, etag, checksum, last_modified \
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
    let replaced = commit_version(c, v, cond, &mut delta)?;
    remove_upload(c, &v.bucket, upload_id, &mut delta)?;
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, replaced })
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
    Ok(CommitOutcome { retired_blobs: apply(c, delta, now)?, replaced: false })
}
