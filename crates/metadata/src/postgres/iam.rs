//! Groups, stored policies, attachments and access keys (migration 0011). A change is one short
//! `READ COMMITTED` transaction of a few statements (the admin path: no request makes one but
//! the batched last-used update); the rows it checks are locked (`FOR UPDATE` / `FOR SHARE`), so
//! a policy cannot be deleted while an attachment to it is being made elsewhere.

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::{from_nanos, is_foreign_key_violation, is_unique_violation, pg_error, to_nanos};
use crate::{
    AccessKey, AppliedPolicy, Attachee, Group, IamChange, IamEntity, IamState, KeyAccess,
    MetaError, StoredPolicy, User,
};

type P<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn rows(c: &Client, sql: &str, p: P<'_>) -> Result<Vec<tokio_postgres::Row>, MetaError> {
    c.query(sql, p).await.map_err(pg_error)
}

async fn found(c: &Client, sql: &str, p: P<'_>) -> Result<bool, MetaError> {
    Ok(!rows(c, sql, p).await?.is_empty())
}

async fn exec(c: &Client, sql: &str, p: P<'_>) -> Result<u64, MetaError> {
    c.execute(sql, p).await.map_err(pg_error)
}

fn require(ok: bool, missing: MetaError) -> Result<(), MetaError> {
    if ok { Ok(()) } else { Err(missing) }
}

async fn attachee_exists(c: &Client, to: &Attachee, lock: &str) -> Result<(), MetaError> {
    match to {
        Attachee::User(u) => {
            let sql = format!("SELECT 1 FROM users WHERE name = $1 {lock}");
            require(found(c, &sql, &[u]).await?, MetaError::NoSuchUser)
        }
        Attachee::Group(g) => {
            let sql = format!("SELECT 1 FROM iam_groups WHERE name = $1 {lock}");
            require(found(c, &sql, &[g]).await?, MetaError::NotFound(IamEntity::Group))
        }
    }
}

/// Applies `change` inside the caller's open transaction.
#[allow(clippy::too_many_lines, reason = "one arm per IamChange")]
pub(super) async fn change(c: &Client, change: &IamChange) -> Result<(), MetaError> {
    match change {
        IamChange::CreateGroup { name, created } => {
            let created = to_nanos(*created)?;
            let n = exec(
                c,
                "INSERT INTO iam_groups (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[name, &created],
            )
            .await?;
            require(n > 0, MetaError::AlreadyExists(IamEntity::Group))?;
        }
        IamChange::DeleteGroup { name } => {
            let n = exec(c, "DELETE FROM iam_groups WHERE name = $1", &[name]).await?;
            require(n > 0, MetaError::NotFound(IamEntity::Group))?;
        }
        IamChange::AddMember { group, user } => {
            attachee_exists(c, &Attachee::Group(group.clone()), "FOR SHARE").await?;
            attachee_exists(c, &Attachee::User(user.clone()), "FOR SHARE").await?;
            exec(
                c,
                "INSERT INTO group_members (group_name, user_name) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                &[group, user],
            )
            .await?;
        }
        IamChange::RemoveMember { group, user } => {
            attachee_exists(c, &Attachee::Group(group.clone()), "").await?;
            let sql = "DELETE FROM group_members WHERE group_name = $1 AND user_name = $2";
            let n = exec(c, sql, &[group, user]).await?;
            require(n > 0, MetaError::NotFound(IamEntity::Membership))?;
        }
        IamChange::CreatePolicy(p) => {
            let created = to_nanos(p.created)?;
            let n = exec(
                c,
                "INSERT INTO iam_policies (name, document, created) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&p.name, &p.document, &created],
            )
            .await?;
            require(n > 0, MetaError::AlreadyExists(IamEntity::Policy))?;
        }
        IamChange::DeletePolicy { name } => {
            let sql = "SELECT 1 FROM iam_policies WHERE name = $1 FOR UPDATE";
            require(found(c, sql, &[name]).await?, MetaError::NotFound(IamEntity::Policy))?;
            let attached = found(
                c,
                "SELECT 1 FROM user_policies WHERE policy = $1 \
                 UNION ALL SELECT 1 FROM group_policies WHERE policy = $1",
                &[name],
            )
            .await?;
            require(!attached, MetaError::DeleteConflict)?;
            exec(c, "DELETE FROM iam_policies WHERE name = $1", &[name]).await?;
        }
        IamChange::Attach { policy, to, stored } => {
            attachee_exists(c, to, "FOR SHARE").await?;
            if *stored {
                let sql = "SELECT 1 FROM iam_policies WHERE name = $1 FOR SHARE";
                let ok = found(c, sql, &[policy]).await?;
                require(ok, MetaError::NotFound(IamEntity::Policy))?;
            }
            let (sql, who) = match to {
                Attachee::User(u) => (
                    "INSERT INTO user_policies (user_name, policy) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    u,
                ),
                Attachee::Group(g) => (
                    "INSERT INTO group_policies (group_name, policy) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    g,
                ),
            };
            exec(c, sql, &[who, policy]).await?;
        }
        IamChange::Detach { policy, to } => {
            attachee_exists(c, to, "").await?;
            let (sql, who) = match to {
                Attachee::User(u) => {
                    ("DELETE FROM user_policies WHERE user_name = $1 AND policy = $2", u)
                }
                Attachee::Group(g) => {
                    ("DELETE FROM group_policies WHERE group_name = $1 AND policy = $2", g)
                }
            };
            let n = exec(c, sql, &[who, policy]).await?;
            require(n > 0, MetaError::NotFound(IamEntity::Attachment))?;
        }
        IamChange::CreateKey(k) => {
            attachee_exists(c, &Attachee::User(k.user.clone()), "FOR SHARE").await?;
            let created = to_nanos(k.created)?;
            let last_used = k.last_used.map(to_nanos).transpose()?;
            let n = exec(
                c,
                "INSERT INTO access_keys \
                 (access_key_id, user_name, secret_key, active, created, last_used) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[&k.access_key_id, &k.user, &k.secret_key, &k.active, &created, &last_used],
            )
            .await?;
            require(n > 0, MetaError::UserExists)?;
        }
        IamChange::SetKeyActive { user, access_key_id, active } => {
            let n = exec(
                c,
                "UPDATE access_keys SET active = $3 WHERE access_key_id = $1 AND user_name = $2",
                &[access_key_id, user, active],
            )
            .await?;
            require(n > 0, MetaError::NotFound(IamEntity::AccessKey))?;
        }
        IamChange::DeleteKey { user, access_key_id } => {
            let sql = "DELETE FROM access_keys WHERE access_key_id = $1 AND user_name = $2";
            let n = exec(c, sql, &[access_key_id, user]).await?;
            require(n > 0, MetaError::NotFound(IamEntity::AccessKey))?;
        }
        IamChange::KeysUsed(used) => {
            let ids: Vec<&str> = used.iter().map(|(id, _)| id.as_str()).collect();
            let times = used.iter().map(|(_, t)| to_nanos(*t)).collect::<Result<Vec<_>, _>>()?;
            exec(
                c,
                "UPDATE access_keys k SET last_used = u.at \
                 FROM unnest($1::text[], $2::bigint[]) AS u (id, at) \
                 WHERE k.access_key_id = u.id AND (k.last_used IS NULL OR k.last_used < u.at)",
                &[&ids, &times],
            )
            .await?;
        }
    }
    Ok(())
}

/// What a failed statement of a change means: a concurrent delete of what it named (a foreign
/// key), or a name taken meanwhile.
pub(super) fn settle(change: &IamChange, e: MetaError) -> MetaError {
    let MetaError::Backend(inner) = &e else { return e };
    if is_foreign_key_violation(&**inner) {
        return match change {
            IamChange::AddMember { .. } | IamChange::Attach { to: Attachee::Group(_), .. } => {
                MetaError::NotFound(IamEntity::Group)
            }
            _ => MetaError::NoSuchUser,
        };
    }
    if is_unique_violation(&**inner) && matches!(change, IamChange::CreateKey(_)) {
        return MetaError::UserExists;
    }
    e
}

fn key_of(r: &tokio_postgres::Row) -> Result<AccessKey, MetaError> {
    Ok(AccessKey {
        access_key_id: r.try_get(0).map_err(pg_error)?,
        user: r.try_get(1).map_err(pg_error)?,
        secret_key: r.try_get(2).map_err(pg_error)?,
        active: r.try_get(3).map_err(pg_error)?,
        created: from_nanos(r.try_get(4).map_err(pg_error)?),
        last_used: r.try_get::<_, Option<i64>>(5).map_err(pg_error)?.map(from_nanos),
    })
}

/// The key's user, groups and policies, inside the caller's snapshot.
pub(super) async fn key_access(c: &Client, id: &str) -> Result<Option<KeyAccess>, MetaError> {
    let found = rows(
        c,
        "SELECT k.access_key_id, k.user_name, k.secret_key, k.active, u.is_root, u.created \
         FROM access_keys k JOIN users u ON u.name = k.user_name WHERE k.access_key_id = $1",
        &[&id],
    )
    .await?;
    let Some(r) = found.first() else { return Ok(None) };
    let user = User {
        access_key_id: r.try_get(0).map_err(pg_error)?,
        name: r.try_get(1).map_err(pg_error)?,
        secret_key: r.try_get(2).map_err(pg_error)?,
        is_root: r.try_get(4).map_err(pg_error)?,
        created: from_nanos(r.try_get(5).map_err(pg_error)?),
    };
    let active: bool = r.try_get(3).map_err(pg_error)?;
    let groups = rows(
        c,
        "SELECT group_name FROM group_members WHERE user_name = $1 ORDER BY group_name",
        &[&user.name],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0).map_err(pg_error))
    .collect::<Result<_, _>>()?;
    let policies = rows(
        c,
        "SELECT a.policy, NULL::text AS grp, p.document FROM user_policies a \
           LEFT JOIN iam_policies p ON p.name = a.policy WHERE a.user_name = $1 \
         UNION ALL \
         SELECT a.policy, a.group_name, p.document FROM group_members m \
           JOIN group_policies a ON a.group_name = m.group_name \
           LEFT JOIN iam_policies p ON p.name = a.policy WHERE m.user_name = $1 \
         ORDER BY 2 NULLS FIRST, 1",
        &[&user.name],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(AppliedPolicy {
            name: r.try_get(0).map_err(pg_error)?,
            group: r.try_get(1).map_err(pg_error)?,
            document: r.try_get(2).map_err(pg_error)?,
        })
    })
    .collect::<Result<_, MetaError>>()?;
    Ok(Some(KeyAccess { user, active, groups, policies }))
}

/// Every group, policy, attachment and key, inside the caller's snapshot.
pub(super) async fn state(c: &Client) -> Result<IamState, MetaError> {
    let text = |r: &tokio_postgres::Row, i: usize| r.try_get::<_, String>(i).map_err(pg_error);
    let members = rows(c, "SELECT group_name, user_name FROM group_members ORDER BY 1, 2", &[])
        .await?
        .iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
        .collect::<Result<Vec<_>, MetaError>>()?;
    let group_policies =
        rows(c, "SELECT group_name, policy FROM group_policies ORDER BY 1, 2", &[])
            .await?
            .iter()
            .map(|r| Ok((text(r, 0)?, text(r, 1)?)))
            .collect::<Result<Vec<_>, MetaError>>()?;
    let mut groups = Vec::new();
    for r in rows(c, "SELECT name, created FROM iam_groups ORDER BY name", &[]).await? {
        let name = text(&r, 0)?;
        let pick = |list: &[(String, String)]| {
            list.iter().filter(|(g, _)| *g == name).map(|(_, v)| v.clone()).collect()
        };
        groups.push(Group {
            members: pick(&members),
            policies: pick(&group_policies),
            created: from_nanos(r.try_get(1).map_err(pg_error)?),
            name,
        });
    }
    let policies = rows(c, "SELECT name, document, created FROM iam_policies ORDER BY name", &[])
        .await?
        .iter()
        .map(|r| {
            Ok(StoredPolicy {
                name: text(r, 0)?,
                document: text(r, 1)?,
                created: from_nanos(r.try_get(2).map_err(pg_error)?),
            })
        })
        .collect::<Result<_, MetaError>>()?;
    let mut attachments = rows(c, "SELECT policy, user_name FROM user_policies", &[])
        .await?
        .iter()
        .map(|r| Ok((text(r, 0)?, Attachee::User(text(r, 1)?))))
        .collect::<Result<Vec<_>, MetaError>>()?;
    attachments.extend(group_policies.into_iter().map(|(g, p)| (p, Attachee::Group(g))));
    attachments.sort();
    let keys = rows(
        c,
        "SELECT access_key_id, user_name, secret_key, active, created, last_used FROM access_keys \
         ORDER BY user_name, created, access_key_id",
        &[],
    )
    .await?
    .iter()
    .map(key_of)
    .collect::<Result<_, _>>()?;
    Ok(IamState { groups, policies, attachments, keys })
}
