//! The SQL of groups, stored policies, attachments and access keys (migration 11); each
//! function runs inside the caller's transaction, like those of `ops`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::ops::{R, time_at, to_nanos};
use crate::{
    AccessKey, AppliedPolicy, Attachee, Group, IamChange, IamEntity, IamState, KeyAccess,
    MetaError, StoredPolicy, User,
};

fn exists(c: &Connection, sql: &str, p: impl rusqlite::Params) -> R<bool> {
    Ok(c.prepare_cached(sql)?.exists(p)?)
}

fn require(found: bool, missing: MetaError) -> R<()> {
    if found { Ok(()) } else { Err(missing.into()) }
}

fn group_exists(c: &Connection, name: &str) -> R<()> {
    let found = exists(c, "SELECT 1 FROM iam_groups WHERE name = ?1", [name])?;
    require(found, MetaError::NotFound(IamEntity::Group))
}

fn attachee_exists(c: &Connection, to: &Attachee) -> R<()> {
    match to {
        Attachee::User(u) => {
            let found = exists(c, "SELECT 1 FROM users WHERE name = ?1", [u])?;
            require(found, MetaError::NoSuchUser)
        }
        Attachee::Group(g) => group_exists(c, g),
    }
}

/// Changed rows of one statement.
fn run(c: &Connection, sql: &str, p: impl rusqlite::Params) -> R<usize> {
    Ok(c.prepare_cached(sql)?.execute(p)?)
}

#[allow(clippy::too_many_lines, reason = "one arm per IamChange")]
pub(super) fn change(c: &Connection, change: &IamChange) -> R<()> {
    match change {
        IamChange::CreateGroup { name, created } => {
            if exists(c, "SELECT 1 FROM iam_groups WHERE name = ?1", [name])? {
                return Err(MetaError::AlreadyExists(IamEntity::Group).into());
            }
            let created = to_nanos(*created)?;
            run(
                c,
                "INSERT INTO iam_groups (name, created) VALUES (?1, ?2)",
                params![name, created],
            )?;
        }
        IamChange::DeleteGroup { name } => {
            // Members and policies go with it (ON DELETE CASCADE).
            let n = run(c, "DELETE FROM iam_groups WHERE name = ?1", [name])?;
            require(n > 0, MetaError::NotFound(IamEntity::Group))?;
        }
        IamChange::AddMember { group, user } => {
            group_exists(c, group)?;
            attachee_exists(c, &Attachee::User(user.clone()))?;
            run(
                c,
                "INSERT OR IGNORE INTO group_members (group_name, user_name) VALUES (?1, ?2)",
                [group, user],
            )?;
        }
        IamChange::RemoveMember { group, user } => {
            group_exists(c, group)?;
            let sql = "DELETE FROM group_members WHERE group_name = ?1 AND user_name = ?2";
            let n = run(c, sql, [group, user])?;
            require(n > 0, MetaError::NotFound(IamEntity::Membership))?;
        }
        IamChange::CreatePolicy(p) => {
            if exists(c, "SELECT 1 FROM iam_policies WHERE name = ?1", [&p.name])? {
                return Err(MetaError::AlreadyExists(IamEntity::Policy).into());
            }
            run(
                c,
                "INSERT INTO iam_policies (name, document, created) VALUES (?1, ?2, ?3)",
                params![p.name, p.document, to_nanos(p.created)?],
            )?;
        }
        IamChange::DeletePolicy { name } => {
            let found = exists(c, "SELECT 1 FROM iam_policies WHERE name = ?1", [name])?;
            require(found, MetaError::NotFound(IamEntity::Policy))?;
            let attached = exists(
                c,
                "SELECT 1 FROM user_policies WHERE policy = ?1 \
                 UNION ALL SELECT 1 FROM group_policies WHERE policy = ?1",
                [name],
            )?;
            if attached {
                return Err(MetaError::DeleteConflict.into());
            }
            run(c, "DELETE FROM iam_policies WHERE name = ?1", [name])?;
        }
        IamChange::Attach { policy, to, stored } => {
            attachee_exists(c, to)?;
            if *stored {
                let found = exists(c, "SELECT 1 FROM iam_policies WHERE name = ?1", [policy])?;
                require(found, MetaError::NotFound(IamEntity::Policy))?;
            }
            let (sql, who) = match to {
                Attachee::User(u) => {
                    ("INSERT OR IGNORE INTO user_policies (user_name, policy) VALUES (?1, ?2)", u)
                }
                Attachee::Group(g) => {
                    ("INSERT OR IGNORE INTO group_policies (group_name, policy) VALUES (?1, ?2)", g)
                }
            };
            run(c, sql, [who, policy])?;
        }
        IamChange::Detach { policy, to } => {
            attachee_exists(c, to)?;
            let (sql, who) = match to {
                Attachee::User(u) => {
                    ("DELETE FROM user_policies WHERE user_name = ?1 AND policy = ?2", u)
                }
                Attachee::Group(g) => {
                    ("DELETE FROM group_policies WHERE group_name = ?1 AND policy = ?2", g)
                }
            };
            let n = run(c, sql, [who, policy])?;
            require(n > 0, MetaError::NotFound(IamEntity::Attachment))?;
        }
        IamChange::CreateKey(k) => {
            attachee_exists(c, &Attachee::User(k.user.clone()))?;
            let sql = "SELECT 1 FROM access_keys WHERE access_key_id = ?1";
            if exists(c, sql, [&k.access_key_id])? {
                return Err(MetaError::UserExists.into());
            }
            let last_used = k.last_used.map(to_nanos).transpose()?;
            run(
                c,
                "INSERT INTO access_keys \
                 (access_key_id, user_name, secret_key, active, created, last_used) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.access_key_id,
                    k.user,
                    k.secret_key,
                    k.active,
                    to_nanos(k.created)?,
                    last_used
                ],
            )?;
        }
        IamChange::SetKeyActive { user, access_key_id, active } => {
            let sql =
                "UPDATE access_keys SET active = ?3 WHERE access_key_id = ?1 AND user_name = ?2";
            let n = run(c, sql, params![access_key_id, user, active])?;
            require(n > 0, MetaError::NotFound(IamEntity::AccessKey))?;
        }
        IamChange::DeleteKey { user, access_key_id } => {
            let sql = "DELETE FROM access_keys WHERE access_key_id = ?1 AND user_name = ?2";
            let n = run(c, sql, [access_key_id, user])?;
            require(n > 0, MetaError::NotFound(IamEntity::AccessKey))?;
        }
        IamChange::KeysUsed(used) => {
            for (id, at) in used {
                run(
                    c,
                    "UPDATE access_keys SET last_used = ?2 WHERE access_key_id = ?1 \
                     AND (last_used IS NULL OR last_used < ?2)",
                    params![id, to_nanos(*at)?],
                )?;
            }
        }
    }
    Ok(())
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<AccessKey> {
    Ok(AccessKey {
        access_key_id: r.get(0)?,
        user: r.get(1)?,
        secret_key: r.get(2)?,
        active: r.get(3)?,
        created: time_at(r, 4)?,
        last_used: r.get::<_, Option<i64>>(5)?.map(super::ops::from_nanos),
    })
}

fn strings(c: &Connection, sql: &str, p: impl rusqlite::Params) -> R<Vec<String>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(p, |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn key_access(c: &Connection, access_key_id: &str) -> R<Option<KeyAccess>> {
    let found = c
        .prepare_cached(
            "SELECT k.access_key_id, k.user_name, k.secret_key, k.active, u.is_root, u.created \
             FROM access_keys k JOIN users u ON u.name = k.user_name WHERE k.access_key_id = ?1",
        )?
        .query_row([access_key_id], |r| {
            Ok((
                User {
                    access_key_id: r.get(0)?,
                    name: r.get(1)?,
                    secret_key: r.get(2)?,
                    is_root: r.get(4)?,
                    created: time_at(r, 5)?,
                },
                r.get::<_, bool>(3)?,
            ))
        })
        .optional()?;
    let Some((user, active)) = found else { return Ok(None) };
    let groups = strings(
        c,
        "SELECT group_name FROM group_members WHERE user_name = ?1 ORDER BY group_name",
        [&user.name],
    )?;
    let mut st = c.prepare_cached(
        "SELECT a.policy, NULL, p.document FROM user_policies a \
           LEFT JOIN iam_policies p ON p.name = a.policy WHERE a.user_name = ?1 \
         UNION ALL \
         SELECT a.policy, a.group_name, p.document FROM group_members m \
           JOIN group_policies a ON a.group_name = m.group_name \
           LEFT JOIN iam_policies p ON p.name = a.policy WHERE m.user_name = ?1 \
         ORDER BY 2 NULLS FIRST, 1",
    )?;
    let rows = st.query_map([&user.name], |r| {
        Ok(AppliedPolicy { name: r.get(0)?, group: r.get(1)?, document: r.get(2)? })
    })?;
    let policies = rows.collect::<rusqlite::Result<_>>()?;
    Ok(Some(KeyAccess { user, active, groups, policies }))
}

pub(super) fn state(c: &Connection) -> R<IamState> {
    let mut st = c.prepare_cached("SELECT name, created FROM iam_groups ORDER BY name")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, time_at(r, 1)?)))?;
    let mut groups = Vec::new();
    for row in rows {
        let (name, created) = row?;
        let members = strings(
            c,
            "SELECT user_name FROM group_members WHERE group_name = ?1 ORDER BY user_name",
            [&name],
        )?;
        let policies = strings(
            c,
            "SELECT policy FROM group_policies WHERE group_name = ?1 ORDER BY policy",
            [&name],
        )?;
        groups.push(Group { name, created, members, policies });
    }
    let mut st =
        c.prepare_cached("SELECT name, document, created FROM iam_policies ORDER BY name")?;
    let rows = st.query_map([], |r| {
        Ok(StoredPolicy { name: r.get(0)?, document: r.get(1)?, created: time_at(r, 2)? })
    })?;
    let policies = rows.collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare_cached(
        "SELECT policy, 0, user_name FROM user_policies \
         UNION ALL SELECT policy, 1, group_name FROM group_policies ORDER BY 1, 2, 3",
    )?;
    let rows = st.query_map([], |r| {
        let who: String = r.get(2)?;
        let to = if r.get::<_, i64>(1)? == 0 { Attachee::User(who) } else { Attachee::Group(who) };
        Ok((r.get(0)?, to))
    })?;
    let attachments = rows.collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare_cached(
        "SELECT access_key_id, user_name, secret_key, active, created, last_used FROM access_keys \
         ORDER BY user_name, created, access_key_id",
    )?;
    let keys = st.query_map([], key_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(IamState { groups, policies, attachments, keys })
}
