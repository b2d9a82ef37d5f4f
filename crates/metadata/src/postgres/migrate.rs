//! Versioned schema migrations for PostgreSQL, applied at start-up under an advisory lock so
//! that several gateways starting together migrate once.

use tokio_postgres::Client;

use super::pg_error;
use crate::MetaError;

/// Migration `i` moves the schema from version `i` to `i + 1`. Append only; never edit one
/// that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_set_object_tags.sql"),
    include_str!("../../migrations/postgres/0003_bucket_configs.sql"),
    include_str!("../../migrations/postgres/0004_versioning.sql"),
    include_str!("../../migrations/postgres/0005_retired_users.sql"),
    include_str!("../../migrations/postgres/0006_encryption.sql"),
    include_str!("../../migrations/postgres/0007_object_lock.sql"),
    include_str!("../../migrations/postgres/0008_kms_keys.sql"),
    include_str!("../../migrations/postgres/0009_rename_object.sql"),
    include_str!("../../migrations/postgres/0010_acl.sql"),
    include_str!("../../migrations/postgres/0011_iam.sql"),
    include_str!("../../migrations/postgres/0012_storage_class.sql"),
];

/// The session-level advisory lock held while migrating (an arbitrary constant: "s3gate").
const MIGRATION_LOCK: i64 = 0x7333_6761_7465;

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

async fn current_version(client: &Client) -> Result<u32, MetaError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS s3gate_schema (version integer NOT NULL)")
        .await
        .map_err(pg_error)?;
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM s3gate_schema", &[])
        .await
        .map_err(pg_error)?;
    let v: i32 = row.try_get(0).map_err(pg_error)?;
    u32::try_from(v).map_err(|_| MetaError::Backend("negative schema version".into()))
}

fn too_new(v: u32) -> MetaError {
    MetaError::Backend(
        format!("database schema version {v} is newer than this build ({})", latest_version())
            .into(),
    )
}

/// Applies every pending migration, each in its own transaction, holding the migration lock;
/// returns how many were applied.
pub(super) async fn migrate(client: &mut Client) -> Result<u32, MetaError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_error)?;
    let result = apply(client).await;
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    let applied = result?;
    unlock.map_err(pg_error)?;
    Ok(applied)
}

async fn apply(client: &mut Client) -> Result<u32, MetaError> {
    let current = current_version(client).await?;
    if current > latest_version() {
        return Err(too_new(current));
    }
    let mut applied = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let target = i32::try_from(i + 1).unwrap_or(i32::MAX);
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute("DELETE FROM s3gate_schema", &[]).await.map_err(pg_error)?;
        tx.execute("INSERT INTO s3gate_schema (version) VALUES ($1)", &[&target])
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        tracing::info!(version = target, "applied PostgreSQL metadata migration");
        applied += 1;
    }
    Ok(applied)
}

/// Fails unless the schema is exactly the version this build writes.
pub(super) async fn check(client: &Client) -> Result<(), MetaError> {
    let row =
        client.query_opt("SELECT max(version) FROM s3gate_schema", &[]).await.map_err(|e| {
            MetaError::Backend(format!("no s3gate schema (run `s3gate migrate`): {e}").into())
        })?;
    let v: Option<i32> = row.map(|r| r.try_get(0)).transpose().map_err(pg_error)?.flatten();
    let v = v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    match v.cmp(&latest_version()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(too_new(v)),
        std::cmp::Ordering::Less => Err(MetaError::Backend(
            format!("database schema version {v} is older than this build; run `s3gate migrate`")
                .into(),
        )),
    }
}
