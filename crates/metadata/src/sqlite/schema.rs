//! Versioned schema migrations, applied in order and tracked by `PRAGMA user_version`.

use rusqlite::Connection;

/// Migration `i` moves the schema from version `i` to `i + 1`. Append only; never edit one
/// that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    access_key_id TEXT NOT NULL UNIQUE,
    secret_key TEXT NOT NULL,
    is_root INTEGER NOT NULL,
    created INTEGER NOT NULL
) STRICT;

CREATE TABLE buckets (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    region TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;
CREATE INDEX buckets_by_owner ON buckets (owner, name);

-- One row per object version. Keys use the BINARY collation: memcmp of UTF-8, i.e. S3 order.
CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets (name),
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    is_latest INTEGER NOT NULL,
    is_delete_marker INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    owner TEXT NOT NULL,
    headers TEXT NOT NULL,
    tags TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT,
    checksum TEXT,
    UNIQUE (bucket, key, version_id)
) STRICT;
-- Listings and lookups of current versions seek this index.
CREATE UNIQUE INDEX objects_latest ON objects (bucket, key) WHERE is_latest;

CREATE TABLE object_parts (
    object_id INTEGER NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    part_number INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    blob_offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT,
    PRIMARY KEY (object_id, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE uploads (
    bucket TEXT NOT NULL REFERENCES buckets (name),
    upload_id TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated INTEGER NOT NULL,
    owner TEXT NOT NULL,
    headers TEXT NOT NULL,
    tags TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT,
    PRIMARY KEY (bucket, upload_id)
) STRICT;
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE TABLE upload_parts (
    bucket TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    blob_offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (bucket, upload_id, part_number),
    FOREIGN KEY (bucket, upload_id) REFERENCES uploads (bucket, upload_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- refs counts object and upload parts naming the blob; retired_at is set when it drops to 0.
CREATE TABLE blobs (
    blob_id TEXT PRIMARY KEY,
    refs INTEGER NOT NULL,
    retired_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX blobs_retired ON blobs (retired_at, blob_id) WHERE retired_at IS NOT NULL;
",
    r"
-- Read leases (see MetadataStore::renew_leases): the collector never forgets a leased blob.
CREATE TABLE blob_leases (
    blob_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (blob_id, holder)
) STRICT, WITHOUT ROWID;
CREATE INDEX blob_leases_by_holder ON blob_leases (holder);
",
    r"
-- A bucket's configuration documents (CORS, policy, encryption, ...), one per kind, deleted
-- with the bucket.
CREATE TABLE bucket_configs (
    bucket TEXT NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (bucket, kind)
) STRICT, WITHOUT ROWID;
",
    r"
-- Bucket versioning. buckets.versioning: 0 unversioned, 1 enabled, 2 suspended. objects.seq
-- orders the versions of a key by commit (the latest has the greatest); rows written before
-- this migration are each the only (null) version of their key, so 0 orders them correctly.
ALTER TABLE buckets ADD COLUMN versioning INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
-- Version listings and promotions seek this index; object listings seek objects_visible, so
-- keys whose latest version is a delete marker cost them nothing.
CREATE INDEX objects_versions ON objects (bucket, key, seq DESC);
CREATE INDEX objects_visible ON objects (bucket, key) WHERE is_latest AND NOT is_delete_marker;
",
    r"
-- Names of removed users, never given to a new user: a name is the user's identity (buckets,
-- objects and uploads are owned by it, bucket policies and ACLs name it), so a new user of a
-- removed user's name would inherit all of it.
CREATE TABLE retired_users (
    name TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
",
    r"
-- Server-side encryption (issue 21): the record of an encrypted object or upload, and the
-- salt of each encrypted part. NULL is plaintext, so existing rows stay valid.
ALTER TABLE objects ADD COLUMN encryption TEXT;
ALTER TABLE uploads ADD COLUMN encryption TEXT;
ALTER TABLE object_parts ADD COLUMN salt TEXT;
ALTER TABLE upload_parts ADD COLUMN salt TEXT;
",
    r"
-- Object lock (issue 18): a version's retention and legal hold, and what an upload's object
-- gets at completion, in the form ObjectLock::to_column writes ('MODE UNTIL HOLD'). NULL is
-- no lock, so existing rows stay valid.
ALTER TABLE objects ADD COLUMN object_lock TEXT;
ALTER TABLE uploads ADD COLUMN object_lock TEXT;
",
    r"
-- The named keys of the built-in KMS (SSE-KMS, issue 21): material is the key wrapped by a
-- master key. Aliases are unique; NULL (no alias) may repeat.
CREATE TABLE kms_keys (
    key_id TEXT PRIMARY KEY,
    alias TEXT UNIQUE,
    description TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created INTEGER NOT NULL,
    material BLOB NOT NULL
) STRICT;
",
    r"
-- RenameObject client tokens (issue 15): a retried rename is answered as the committed one
-- for RENAME_TOKEN_TTL; older rows are pruned by the next rename of the bucket.
CREATE TABLE rename_tokens (
    bucket TEXT NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
    token TEXT NOT NULL,
    source_key TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, token)
) STRICT, WITHOUT ROWID;
CREATE INDEX rename_tokens_by_age ON rename_tokens (bucket, created_at);
",
    r"
-- ACLs (issue 19): a version's ACL, committed with the version in its row, in the server's
-- serialization. NULL is the owner's private ACL, so existing rows stay valid.
ALTER TABLE objects ADD COLUMN acl TEXT;
-- What an upload's object gets at completion.
ALTER TABLE uploads ADD COLUMN acl TEXT;
",
    r"
-- Users, groups and identity policies (issue 19). A user has several access keys: the key
-- columns move from users to access_keys (users is rebuilt without them; renaming users_new
-- updates the foreign keys that name it).
CREATE TABLE users_new (
    name TEXT PRIMARY KEY,
    is_root INTEGER NOT NULL,
    created INTEGER NOT NULL
) STRICT;
INSERT INTO users_new (name, is_root, created) SELECT name, is_root, created FROM users;
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users_new (name) ON DELETE CASCADE,
    secret_key TEXT NOT NULL,
    active INTEGER NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER
) STRICT;
INSERT INTO access_keys (access_key_id, user_name, secret_key, active, created)
    SELECT access_key_id, name, secret_key, 1, created FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX access_keys_by_user ON access_keys (user_name, created, access_key_id);
CREATE TABLE iam_groups (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL
) STRICT;
CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES iam_groups (name) ON DELETE CASCADE,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_name)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members (user_name, group_name);
-- Stored (customer managed) policies; built-in policies are no rows, but may be attached.
CREATE TABLE iam_policies (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;
CREATE TABLE user_policies (
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    PRIMARY KEY (user_name, policy)
) STRICT, WITHOUT ROWID;
CREATE TABLE group_policies (
    group_name TEXT NOT NULL REFERENCES iam_groups (name) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    PRIMARY KEY (group_name, policy)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_policies_by_policy ON user_policies (policy);
CREATE INDEX group_policies_by_policy ON group_policies (policy);
-- Users created before identity policies kept what they could do: create buckets and list
-- their own (the built-in self-service policy), as `s3gate user add` gives new users.
INSERT INTO user_policies (user_name, policy) SELECT name, 'self-service' FROM users WHERE NOT is_root;
",
    r"
-- Storage classes (issue 22): a version's class, committed with the version in its row. NULL
-- is STANDARD, so existing rows stay valid. The tier holding the data is in each blob id.
ALTER TABLE objects ADD COLUMN storage_class TEXT;
-- What an upload's object gets at completion (and the tier its parts are written to).
ALTER TABLE uploads ADD COLUMN storage_class TEXT;
",
];

/// Brings the schema up to date, each step in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let target = i64::try_from(i + 1).unwrap_or(i64::MAX);
        if current >= target {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}
