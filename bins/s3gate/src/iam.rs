//! `s3gate user attach-policy|detach-policy|key ...`, `s3gate group ...` and `s3gate policy
//! ...`: users' access keys, groups and identity policies in the metadata store (every gateway
//! sharing it applies a change within the signer cache's 5 seconds). Every input is checked
//! before the store is opened, and every change is one store transaction, so a refused command
//! changes nothing.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use s3gate_metadata::{
    AccessKey, AnyMetadata, Attachee, IamChange, IamEntity, MetaError, MetadataStore as _,
    StoredPolicy,
};
use s3gate_policy::{BUILTIN, Policy};

use crate::metadata_opts::MetadataArgs;
use crate::{DataDir, ROOT_USER};

/// The policy a new user gets unless told otherwise: create buckets and list one's own, which
/// with the bucket-owner rule is what every user could do before identity policies.
pub(crate) const DEFAULT_USER_POLICY: &str = "self-service";

/// Where the store is.
#[derive(clap::Args)]
pub(crate) struct Store {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    meta: MetadataArgs,
}

impl Store {
    async fn open(&self) -> anyhow::Result<AnyMetadata> {
        self.meta.open(&self.data.data_dir).await
    }
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Add an access key to a user and print it (the secret is shown this once).
    Create {
        /// User name.
        user: String,
        /// Access key id (generated when absent).
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        /// Secret access key (generated when absent).
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
        #[command(flatten)]
        store: Store,
    },
    /// List a user's keys: id, status, created, last used (secrets are never shown).
    List {
        /// User name.
        user: String,
        #[command(flatten)]
        store: Store,
    },
    /// Deactivate a key: requests it signs fail with InvalidAccessKeyId.
    Disable {
        /// User name.
        user: String,
        /// Access key id.
        access_key: String,
        #[command(flatten)]
        store: Store,
    },
    /// Activate a key again.
    Enable {
        /// User name.
        user: String,
        /// Access key id.
        access_key: String,
        #[command(flatten)]
        store: Store,
    },
    /// Delete a key for good.
    Delete {
        /// User name.
        user: String,
        /// Access key id.
        access_key: String,
        #[command(flatten)]
        store: Store,
    },
}

#[derive(Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group.
    Create {
        /// Group name.
        name: String,
        #[command(flatten)]
        store: Store,
    },
    /// Delete a group: its members leave it and its policies are detached.
    Delete {
        /// Group name.
        name: String,
        #[command(flatten)]
        store: Store,
    },
    /// List groups with their members and policies.
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Add a user to a group.
    AddUser {
        /// Group name.
        group: String,
        /// User name.
        user: String,
        #[command(flatten)]
        store: Store,
    },
    /// Remove a user from a group.
    RemoveUser {
        /// Group name.
        group: String,
        /// User name.
        user: String,
        #[command(flatten)]
        store: Store,
    },
    /// Attach a policy (built-in or stored) to a group: it applies to every member.
    AttachPolicy {
        /// Group name.
        group: String,
        /// Policy name.
        policy: String,
        #[command(flatten)]
        store: Store,
    },
    /// Detach a policy from a group.
    DetachPolicy {
        /// Group name.
        group: String,
        /// Policy name.
        policy: String,
        #[command(flatten)]
        store: Store,
    },
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Store an identity policy under a name (validated as IAM validates it; kept canonical).
    Create {
        /// Policy name: 1 to 128 of `A-Z a-z 0-9 + = , . @ _ -`; built-in names are reserved.
        name: String,
        /// The policy document (JSON).
        #[arg(long)]
        document: PathBuf,
        #[command(flatten)]
        store: Store,
    },
    /// List built-in and stored policies, with where each is attached.
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Print a policy's document.
    Show {
        /// Policy name.
        name: String,
        #[command(flatten)]
        store: Store,
    },
    /// Delete a stored policy (refused while it is attached anywhere).
    Delete {
        /// Policy name.
        name: String,
        #[command(flatten)]
        store: Store,
    },
}

/// Checks a group or policy name as IAM does: 1 to 128 of `[A-Za-z0-9+=,.@_-]`.
pub(crate) fn check_name(kind: &str, name: &str) -> anyhow::Result<()> {
    if !s3gate_metadata::is_iam_name(name) {
        bail!(
            "a {kind} name is 1 to 128 characters of letters, digits and + = , . @ _ - (got {name:?})"
        );
    }
    Ok(())
}

fn check_user_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !ok {
        bail!(
            "a user name is 1 to 64 characters of letters, digits and + = , . @ _ - (got {name:?})"
        );
    }
    Ok(())
}

fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|(n, _, _)| *n == name)
}

/// Attaches (or detaches) `policy` to `to`: a built-in name needs no stored policy.
pub(crate) async fn attach(
    meta: &AnyMetadata,
    policy: &str,
    to: Attachee,
    on: bool,
) -> anyhow::Result<()> {
    let who = match &to {
        Attachee::User(u) => format!("user {u}"),
        Attachee::Group(g) => format!("group {g}"),
    };
    let change = if on {
        IamChange::Attach { policy: policy.to_owned(), to, stored: !is_builtin(policy) }
    } else {
        IamChange::Detach { policy: policy.to_owned(), to }
    };
    match meta.change_iam(change).await {
        Ok(()) => {}
        Err(MetaError::NoSuchUser | MetaError::NotFound(IamEntity::Group)) => bail!("no {who}"),
        Err(MetaError::NotFound(IamEntity::Policy)) => {
            bail!("no policy named {policy} (`s3gate policy list` shows them)")
        }
        Err(MetaError::NotFound(IamEntity::Attachment)) => {
            bail!("policy {policy} is not attached to {who}")
        }
        Err(e) => return Err(e.into()),
    }
    println!(
        "{} policy {policy} {} {who}",
        if on { "attached" } else { "detached" },
        if on { "to" } else { "from" }
    );
    Ok(())
}

/// Fails unless every name is a built-in or stored policy (checked before a user is created
/// with them, so that a refused `user add` creates nobody).
pub(crate) async fn policies_exist(meta: &AnyMetadata, names: &[String]) -> anyhow::Result<()> {
    if names.iter().all(|n| is_builtin(n)) {
        return Ok(());
    }
    let state = meta.iam_state().await?;
    for n in names {
        if !is_builtin(n) && !state.policies.iter().any(|p| p.name == *n) {
            bail!("no policy named {n} (`s3gate policy list` shows them)");
        }
    }
    Ok(())
}

/// Refuses the root user: identity policies neither restrict nor extend it, and its keys come
/// from S3GATE_ACCESS_KEY/S3GATE_SECRET_KEY.
fn not_root(user: &str, what: &str) -> anyhow::Result<()> {
    if user == ROOT_USER {
        bail!(
            "the root user has no {what}: it may do everything, and its keys are managed with S3GATE_ACCESS_KEY/S3GATE_SECRET_KEY"
        );
    }
    Ok(())
}

pub(crate) async fn user_policy(
    user: &str,
    policy: &str,
    store: &Store,
    on: bool,
) -> anyhow::Result<()> {
    check_user_name(user)?;
    check_name("policy", policy)?;
    not_root(user, "identity policies")?;
    let meta = store.open().await?;
    attach(&meta, policy, Attachee::User(user.to_owned()), on).await
}

fn when(t: SystemTime) -> String {
    s3gate_protocol::format_iso8601(t)
}

pub(crate) async fn key(cmd: KeyCommand) -> anyhow::Result<()> {
    let (user, store) = match &cmd {
        KeyCommand::Create { user, store, .. }
        | KeyCommand::List { user, store }
        | KeyCommand::Disable { user, store, .. }
        | KeyCommand::Enable { user, store, .. }
        | KeyCommand::Delete { user, store, .. } => (user.clone(), store),
    };
    check_user_name(&user)?;
    not_root(&user, "access keys besides its own")?;
    match cmd {
        KeyCommand::Create { ref access_key, ref secret_key, .. } => {
            let (ak, sk) = match (access_key.clone(), secret_key.clone()) {
                (Some(a), Some(s)) => (a, s),
                (None, None) => crate::generate_keys()?,
                _ => bail!("give both --access-key and --secret-key, or neither"),
            };
            s3gate_metadata::check_user(&user, &ak, &sk).context("refusing the key")?;
            let meta = store.open().await?;
            let key = AccessKey {
                access_key_id: ak.clone(),
                secret_key: sk.clone(),
                user: user.clone(),
                active: true,
                created: SystemTime::now(),
                last_used: None,
            };
            match meta.change_iam(IamChange::CreateKey(key)).await {
                Ok(()) => {}
                Err(MetaError::NoSuchUser) => bail!("no user named {user}"),
                Err(MetaError::UserExists) => bail!("access key {ak} already exists"),
                Err(e) => return Err(e.into()),
            }
            println!("user: {user}");
            println!("access_key_id: {ak}");
            println!("secret_access_key: {sk}");
        }
        KeyCommand::List { .. } => {
            let meta = store.open().await?;
            if !meta.list_users().await?.iter().any(|u| u.name == user) {
                bail!("no user named {user}");
            }
            for k in meta.iam_state().await?.keys.into_iter().filter(|k| k.user == user) {
                println!(
                    "{}\t{}\tcreated {}\tlast used {}",
                    k.access_key_id,
                    if k.active { "Active" } else { "Inactive" },
                    when(k.created),
                    k.last_used.map_or_else(|| "never".to_owned(), when),
                );
            }
        }
        KeyCommand::Disable { ref access_key, .. } | KeyCommand::Enable { ref access_key, .. } => {
            let active = matches!(cmd, KeyCommand::Enable { .. });
            let meta = store.open().await?;
            let change = IamChange::SetKeyActive {
                user: user.clone(),
                access_key_id: access_key.clone(),
                active,
            };
            key_change(&meta, change, &user, access_key).await?;
            let status = if active { "enabled" } else { "disabled" };
            println!("{status} access key {access_key} of {user}");
        }
        KeyCommand::Delete { ref access_key, .. } => {
            let meta = store.open().await?;
            let change =
                IamChange::DeleteKey { user: user.clone(), access_key_id: access_key.clone() };
            key_change(&meta, change, &user, access_key).await?;
            println!("deleted access key {access_key} of {user}");
        }
    }
    Ok(())
}

async fn key_change(
    meta: &AnyMetadata,
    change: IamChange,
    user: &str,
    access_key: &str,
) -> anyhow::Result<()> {
    match meta.change_iam(change).await {
        Ok(()) => Ok(()),
        Err(MetaError::NotFound(IamEntity::AccessKey)) => {
            bail!("user {user} has no access key {access_key}")
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn group(cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Create { name, store } => {
            check_name("group", &name)?;
            let meta = store.open().await?;
            let change = IamChange::CreateGroup { name: name.clone(), created: SystemTime::now() };
            match meta.change_iam(change).await {
                Ok(()) => println!("created group {name}"),
                Err(MetaError::AlreadyExists(_)) => bail!("group {name} already exists"),
                Err(e) => return Err(e.into()),
            }
        }
        GroupCommand::Delete { name, store } => {
            check_name("group", &name)?;
            let meta = store.open().await?;
            match meta.change_iam(IamChange::DeleteGroup { name: name.clone() }).await {
                Ok(()) => println!("deleted group {name}; its members and policies are detached"),
                Err(MetaError::NotFound(_)) => bail!("no group named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
        GroupCommand::List { store } => {
            let meta = store.open().await?;
            for g in meta.iam_state().await?.groups {
                println!(
                    "{}	members: {}	policies: {}",
                    g.name,
                    g.members.join(","),
                    g.policies.join(",")
                );
            }
        }
        GroupCommand::AddUser { group, user, store } => {
            membership(&group, &user, &store, true).await?;
        }
        GroupCommand::RemoveUser { group, user, store } => {
            membership(&group, &user, &store, false).await?;
        }
        GroupCommand::AttachPolicy { group, policy, store } => {
            group_policy(&group, &policy, &store, true).await?;
        }
        GroupCommand::DetachPolicy { group, policy, store } => {
            group_policy(&group, &policy, &store, false).await?;
        }
    }
    Ok(())
}

async fn membership(group: &str, user: &str, store: &Store, add: bool) -> anyhow::Result<()> {
    check_name("group", group)?;
    check_user_name(user)?;
    not_root(user, "groups")?;
    let meta = store.open().await?;
    let (group, user) = (group.to_owned(), user.to_owned());
    let change = if add {
        IamChange::AddMember { group: group.clone(), user: user.clone() }
    } else {
        IamChange::RemoveMember { group: group.clone(), user: user.clone() }
    };
    match meta.change_iam(change).await {
        Ok(()) if add => println!("added {user} to group {group}"),
        Ok(()) => println!("removed {user} from group {group}"),
        Err(MetaError::NoSuchUser) => bail!("no user named {user}"),
        Err(MetaError::NotFound(IamEntity::Group)) => bail!("no group named {group}"),
        Err(MetaError::NotFound(IamEntity::Membership)) => {
            bail!("{user} is not a member of group {group}")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn group_policy(group: &str, policy: &str, store: &Store, on: bool) -> anyhow::Result<()> {
    check_name("group", group)?;
    check_name("policy", policy)?;
    let meta = store.open().await?;
    attach(&meta, policy, Attachee::Group(group.to_owned()), on).await
}

pub(crate) async fn policy(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Create { name, document, store } => {
            check_name("policy", &name)?;
            if is_builtin(&name) {
                bail!("{name} is the name of a built-in policy");
            }
            let text = std::fs::read_to_string(&document)
                .with_context(|| format!("reading {}", document.display()))?;
            let parsed = Policy::parse_identity_policy(&text)
                .map_err(|e| anyhow::anyhow!("refusing the policy document: {e}"))?;
            let meta = store.open().await?;
            let stored = StoredPolicy {
                name: name.clone(),
                document: parsed.to_json(),
                created: SystemTime::now(),
            };
            match meta.change_iam(IamChange::CreatePolicy(stored)).await {
                Ok(()) => println!("created policy {name}"),
                Err(MetaError::AlreadyExists(_)) => bail!("policy {name} already exists"),
                Err(e) => return Err(e.into()),
            }
        }
        PolicyCommand::List { store } => {
            let meta = store.open().await?;
            let state = meta.iam_state().await?;
            let attached = |name: &str| {
                let to: Vec<String> = state
                    .attachments
                    .iter()
                    .filter(|(p, _)| p == name)
                    .map(|(_, to)| match to {
                        Attachee::User(u) => format!("user:{u}"),
                        Attachee::Group(g) => format!("group:{g}"),
                    })
                    .collect();
                to.join(",")
            };
            for (name, about, _) in BUILTIN {
                println!("{name}	built-in	attached: {}	{about}", attached(name));
            }
            for p in &state.policies {
                println!("{}	stored	attached: {}", p.name, attached(&p.name));
            }
        }
        PolicyCommand::Show { name, store } => {
            check_name("policy", &name)?;
            if let Some((_, _, text)) = BUILTIN.iter().find(|(n, _, _)| *n == name) {
                println!("{text}");
                return Ok(());
            }
            let meta = store.open().await?;
            let state = meta.iam_state().await?;
            let Some(p) = state.policies.iter().find(|p| p.name == name) else {
                bail!("no policy named {name}");
            };
            println!("{}", p.document);
        }
        PolicyCommand::Delete { name, store } => {
            check_name("policy", &name)?;
            if is_builtin(&name) {
                bail!("{name} is a built-in policy: it cannot be deleted");
            }
            let meta = store.open().await?;
            match meta.change_iam(IamChange::DeletePolicy { name: name.clone() }).await {
                Ok(()) => println!("deleted policy {name}"),
                Err(MetaError::NotFound(_)) => bail!("no policy named {name}"),
                Err(MetaError::DeleteConflict) => {
                    bail!(
                        "policy {name} is attached (`s3gate policy list` shows where): detach it first"
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
