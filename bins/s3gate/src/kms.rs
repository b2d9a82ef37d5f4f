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
    /// Add a new active master key to the master key file (older keys stay for reading the
    /// data keys they wrapped) and re-wrap the KMS keys' material under it. Restart every
    /// gateway right after: until then they cannot open the re-wrapped KMS keys.
    Rotate {
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
        let masters = keys::load(&self.data.data_dir, self.master_key_file.as_deref())?;
        let meta = self.meta.open(&self.data.data_dir).await?;
        let records = MetaKeyRecords::new(Arc::new(meta));
        Ok(BuiltinKms::new(Arc::new(masters), records, &self.region, &self.account_id))
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
            let kms = store.open().await?;
            let n = kms.rewrap_keys().await.context("re-wrapping the KMS keys")?;
            println!("re-wrapped {n} KMS key(s); restart the gateways to use the new key");
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
