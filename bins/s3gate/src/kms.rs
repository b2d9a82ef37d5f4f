//! `s3gate kms ...`: the built-in KMS's named keys (SSE-KMS) and master key rotation. The keys
//! live in the metadata store (every gateway sharing it shares them), their material wrapped
//! by the master key ring (`keys.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use s3gate_crypto::{BuiltinKms, KeyStore as _, NewKey};
use s3gate_engine::{EngineKms, MetaKeyRecords};

use crate::metadata_opts::MetadataArgs;
use crate::{DataDir, keys};

/// Where the keys are: the data directory, the metadata store and the master key file.
#[derive(Args)]
pub(crate) struct KmsStore {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    meta: MetadataArgs,
    /// The master key file (default: `master-keys` in the data directory).
    #[arg(long, env = "S3GATE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The region in the keys' ARNs (as the gateway's `--region`).
    #[arg(long, env = "S3GATE_REGION", default_value = "us-east-1")]
    region: String,
    /// The account id in the keys' ARNs (as the gateway's `--account-id`).
    #[arg(long, env = "S3GATE_ACCOUNT_ID", default_value = s3gate_server::DEFAULT_ACCOUNT_ID)]
    account_id: String,
}

#[derive(Subcommand)]
pub(crate) enum KmsCommand {
    /// Add a new active master key to the master key file (older keys stay for reading until
    /// retired), then re-wrap under it the KMS keys' material and every SSE-S3 data key (no
    /// data is re-encrypted). Running gateways on the same key file pick the new ring up by
    /// themselves (within seconds, or at once on SIGHUP).
    Rotate {
        #[command(flatten)]
        store: KmsStore,
    },
    /// Remove an inactive master key from the key file, refused while any stored object,
    /// upload in progress or KMS key is still wrapped under it (run `rotate` first).
    Retire {
        /// The master key id (`kms rotate` printed it; the file lists them).
        id: String,
        #[command(flatten)]
        store: KmsStore,
    },
    /// Create an enabled KMS key and print its id and ARN.
    CreateKey {
        /// The key id (default: a random UUID, as AWS makes them): 1 to 128 characters of
        /// `[A-Za-z0-9_.-]`.
        #[arg(long)]
        key_id: Option<String>,
        /// An alias, with or without the `alias/` prefix.
        #[arg(long)]
        alias: Option<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        store: KmsStore,
    },
    /// List the KMS keys.
    List {
        #[command(flatten)]
        store: KmsStore,
    },
    /// Disable a KMS key (id, ARN or `alias/NAME`): objects under it can be neither written
    /// nor read until it is enabled again.
    Disable {
        /// The key.
        key: String,
        #[command(flatten)]
        store: KmsStore,
    },
    /// Enable a disabled KMS key.
    Enable {
        /// The key.
        key: String,
        #[command(flatten)]
        store: KmsStore,
    },
}

impl KmsStore {
    async fn open(&self) -> anyhow::Result<EngineKms<s3gate_metadata::AnyMetadata>> {
        Ok(self.open_with_meta().await?.0)
    }

    /// The KMS and the metadata store it sits on.
    async fn open_with_meta(
        &self,
    ) -> anyhow::Result<(EngineKms<s3gate_metadata::AnyMetadata>, Arc<s3gate_metadata::AnyMetadata>)>
    {
        let masters = keys::load(&self.data.data_dir, self.master_key_file.as_deref())?;
        let meta = Arc::new(self.meta.open(&self.data.data_dir).await?);
        let records = MetaKeyRecords::new(Arc::clone(&meta));
        Ok((BuiltinKms::new(Arc::new(masters), records, &self.region, &self.account_id), meta))
    }

    fn data_dir(&self) -> &Path {
        &self.data.data_dir
    }
}

pub(crate) async fn run(cmd: KmsCommand) -> anyhow::Result<()> {
    match cmd {
        KmsCommand::Rotate { store } => {
            let id = keys::rotate(store.data_dir(), store.master_key_file.as_deref())?;
            println!("new active master key {id}");
            let (kms, meta) = store.open_with_meta().await?;
            let n = kms.rewrap_keys().await.context("re-wrapping the KMS keys")?;
            println!("re-wrapped {n} KMS key(s)");
            let ring = keys::read_ring(store.data_dir(), store.master_key_file.as_deref())?;
            let n = s3gate_engine::rewrap_data_keys(&*meta, &ring)
                .await
                .context("re-wrapping the SSE-S3 data keys")?;
            println!("re-wrapped {n} SSE-S3 data key(s)");
            Ok(())
        }
        KmsCommand::Retire { id, store } => {
            let ring = keys::read_ring(store.data_dir(), store.master_key_file.as_deref())?;
            if ring.active_id().as_str() == id {
                anyhow::bail!("{id} is the active master key: rotate first");
            }
            let (kms, meta) = store.open_with_meta().await?;
            let used = s3gate_engine::master_keys_in_use(&*meta, Some(&kms))
                .await
                .context("scanning the stored keys")?;
            if used.contains(&id) {
                anyhow::bail!(
                    "master key {id} still wraps stored keys (objects, uploads in progress or \
                     KMS keys): run `s3gate kms rotate` first, and wait for uploads to finish"
                );
            }
            keys::retire(store.data_dir(), store.master_key_file.as_deref(), &id)?;
            println!("retired master key {id}");
            Ok(())
        }
        KmsCommand::CreateKey { key_id, alias, description, store } => {
            let alias = alias.map(|a| a.strip_prefix("alias/").map_or(a.clone(), str::to_owned));
            let created_unix_seconds = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let kms = store.open().await?;
            let new = NewKey { key_id, alias, description, created_unix_seconds };
            let key = kms.create_key(new).await.context("creating the KMS key")?;
            println!("{}\t{}", key.key_id, key.arn);
            Ok(())
        }
        KmsCommand::List { store } => {
            let kms = store.open().await?;
            for k in kms.list_keys().await? {
                let alias = k.alias.map_or_else(|| "-".to_owned(), |a| format!("alias/{a}"));
                let state = if k.enabled { "enabled" } else { "disabled" };
                println!("{}\t{alias}\t{state}\t{}\t{}", k.key_id, k.arn, k.description);
            }
            Ok(())
        }
        KmsCommand::Disable { key, store } => {
            store.open().await?.disable_key(&key).await.context("disabling the KMS key")?;
            println!("disabled {key}");
            Ok(())
        }
        KmsCommand::Enable { key, store } => {
            store.open().await?.enable_key(&key).await.context("enabling the KMS key")?;
            println!("enabled {key}");
            Ok(())
        }
    }
}
