//! The `s3gate` binary: command line, configuration, logging, runtime and wiring.
//!
//! `s3gate serve` runs the gateway on SQLite metadata and local-disk blobs in one data
//! directory; `s3gate user ...` manages users in that directory's metadata store (also while
//! the gateway runs).

mod backend;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use s3gate_engine::{Engine, EngineConfig};
use s3gate_metadata::{MetaError, MetadataStore, SqliteMetadata, User};
use s3gate_server::{Gateway, ServerConfig};

/// Name of the root user in the metadata store.
const ROOT_USER: &str = "root";
/// File in the data directory holding generated root credentials (mode 0600).
const ROOT_CREDENTIALS_FILE: &str = "root-credentials";
/// The metadata database inside the data directory.
const METADATA_FILE: &str = "metadata.sqlite";

#[derive(Parser)]
#[command(name = "s3gate", version, about = "S3-compatible object storage gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Args)]
struct DataDir {
    /// Directory holding the metadata database and the object data.
    #[arg(long, env = "S3GATE_DATA_DIR", default_value = "./s3gate-data")]
    data_dir: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "S3GATE_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDir,
    /// Region clients must sign for.
    #[arg(long, env = "S3GATE_REGION", default_value = "us-east-1")]
    region: String,
    /// Base domain for virtual-hosted-style requests (`bucket.DOMAIN`); repeatable.
    #[arg(long = "domain", env = "S3GATE_DOMAINS", value_delimiter = ',')]
    domains: Vec<String>,
    /// Parts of a multipart object read ahead concurrently by a GET.
    #[arg(long, env = "S3GATE_READ_AHEAD_PARTS", default_value_t = 4)]
    read_ahead_parts: usize,
    /// Seconds a retired blob is kept before the collector may delete it (readers that looked
    /// up an object just before it was overwritten still find its data).
    #[arg(long, env = "S3GATE_GC_GRACE_SECONDS", default_value_t = 30)]
    gc_grace_seconds: u64,
    /// Seconds an unreferenced blob must be old before the periodic sweep deletes it (writes
    /// in flight have not committed their blob yet).
    #[arg(long, env = "S3GATE_ORPHAN_GRACE_SECONDS", default_value_t = 3600)]
    orphan_grace_seconds: u64,
    /// Seconds between runs of the collector and the orphan sweep.
    #[arg(long, env = "S3GATE_GC_INTERVAL_SECONDS", default_value_t = 30)]
    gc_interval_seconds: u64,
    #[command(flatten)]
    backend: backend::BackendArgs,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user and print its keys.
    Add {
        /// User name.
        name: String,
        /// Access key id (generated when absent).
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        /// Secret access key (generated when absent).
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List users.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Remove a user.
    Remove {
        /// User name.
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("S3GATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Each upload in flight holds one blocking thread (its disk writer), besides SQLite
        // readers and file reads: leave room for many concurrent uploads.
        .max_blocking_threads(2048)
        .thread_name("s3gate-worker")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::User(cmd) => user(cmd).await,
        }
    })
}

/// Opens (creating, migrating) the data directory's metadata store, off the async workers.
async fn open_metadata(data_dir: &Path) -> anyhow::Result<SqliteMetadata> {
    let data_dir = data_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::PermissionsExt as _;
        if !data_dir.exists() {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating data directory {}", data_dir.display()))?;
            std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let path = data_dir.join(METADATA_FILE);
        let meta =
            SqliteMetadata::open(&path).with_context(|| format!("opening {}", path.display()))?;
        // The database holds secret keys: readable by the gateway's user only.
        for suffix in ["", "-wal", "-shm"] {
            let file = data_dir.join(format!("{METADATA_FILE}{suffix}"));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("restricting {}", file.display()))?;
            }
        }
        Ok(meta)
    })
    .await
    .context("metadata open task failed")?
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = args.data.data_dir;
    let meta = open_metadata(&data_dir).await?;
    let (access_key, secret_key, generated) = root_credentials(&data_dir)?;
    ensure_root(&meta, &access_key, &secret_key).await?;
    let blobs = backend::open(args.backend, &data_dir).await?;

    let mut engine_config = EngineConfig::new(args.region.clone());
    engine_config.read_ahead_parts = args.read_ahead_parts.max(1);
    engine_config.gc_grace = Duration::from_secs(args.gc_grace_seconds);
    engine_config.orphan_grace = Duration::from_secs(args.orphan_grace_seconds);
    let engine = Engine::new(meta, blobs, engine_config);
    // Nothing is in flight and nobody reads before the listener opens: every retired blob can
    // go, and every temp file and unknown blob is debris of a crash.
    match engine.collect_garbage_older_than(Duration::ZERO).await {
        Ok(report) => tracing::info!(?report, "start-up collection done"),
        Err(e) => tracing::warn!(error = %e, "start-up collection failed"),
    }
    match engine.sweep_orphans(Duration::ZERO).await {
        Ok(report) => tracing::info!(?report, "start-up sweep done"),
        Err(e) => tracing::warn!(error = %e, "start-up sweep failed"),
    }
    let background = engine.spawn_background(Duration::from_secs(args.gc_interval_seconds.max(1)));

    let mut server_config = ServerConfig::new(args.region.clone());
    server_config.domains = args.domains;
    let gateway = Arc::new(Gateway::new(engine, &server_config));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("s3gate {}: listening on http://{addr}", env!("CARGO_PKG_VERSION"));
    if generated {
        println!(
            "root credentials (generated, kept in {}):",
            data_dir.join(ROOT_CREDENTIALS_FILE).display()
        );
        println!("  access_key_id: {access_key}");
        println!("  secret_access_key: {secret_key}");
    }
    println!(
        "try: AWS_ACCESS_KEY_ID={access_key} AWS_SECRET_ACCESS_KEY=... aws --endpoint-url http://{addr} --region {} s3 ls",
        args.region
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());

    s3gate_server::serve(listener, gateway, &server_config, shutdown_signal()).await?;
    background.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
}

/// Root keys from `S3GATE_ACCESS_KEY`/`S3GATE_SECRET_KEY`, else from the data directory's
/// credentials file, else newly generated and written there (mode 0600).
fn root_credentials(data_dir: &Path) -> anyhow::Result<(String, String, bool)> {
    match (std::env::var("S3GATE_ACCESS_KEY"), std::env::var("S3GATE_SECRET_KEY")) {
        (Ok(a), Ok(s)) if !a.is_empty() && !s.is_empty() => return Ok((a, s, false)),
        (Ok(_), Err(_)) | (Err(_), Ok(_)) => {
            bail!("set both S3GATE_ACCESS_KEY and S3GATE_SECRET_KEY, or neither")
        }
        _ => {}
    }
    let path = data_dir.join(ROOT_CREDENTIALS_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut ak = None;
        let mut sk = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("access_key_id=") {
                ak = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("secret_access_key=") {
                sk = Some(v.trim().to_owned());
            }
        }
        if let (Some(a), Some(s)) = (ak, sk) {
            return Ok((a, s, false));
        }
        bail!("{} is not a credentials file", path.display());
    }
    let (a, s) = generate_keys()?;
    write_private(&path, &format!("access_key_id={a}\nsecret_access_key={s}\n"))?;
    Ok((a, s, true))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// An AWS-shaped key pair: a 20-character access key id and a 40-character secret.
fn generate_keys() -> anyhow::Result<(String, String)> {
    const AK_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SK_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut raw = [0u8; 58];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut ak = String::from("SG");
    ak.extend(raw[..18].iter().map(|b| char::from(AK_ALPHABET[usize::from(b % 32)])));
    let sk: String =
        raw[18..].iter().map(|b| char::from(SK_ALPHABET[usize::from(b % 64)])).collect();
    Ok((ak, sk))
}

/// Makes the metadata store's root user carry these keys.
async fn ensure_root(
    meta: &SqliteMetadata,
    access_key: &str,
    secret_key: &str,
) -> anyhow::Result<()> {
    let users = meta.list_users().await?;
    if let Some(root) = users.iter().find(|u| u.name == ROOT_USER) {
        if root.access_key_id == access_key && root.secret_key == secret_key && root.is_root {
            return Ok(());
        }
        meta.delete_user(ROOT_USER).await?;
    }
    meta.create_user(User {
        name: ROOT_USER.to_owned(),
        access_key_id: access_key.to_owned(),
        secret_key: secret_key.to_owned(),
        is_root: true,
        created: SystemTime::now(),
    })
    .await
    .context("storing the root user (is its access key used by another user?)")?;
    Ok(())
}

async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { name, access_key, secret_key, data } => {
            if name == ROOT_USER {
                bail!("the root user is managed with S3GATE_ACCESS_KEY/S3GATE_SECRET_KEY");
            }
            let meta = open_metadata(&data.data_dir).await?;
            let (ak, sk) = match (access_key, secret_key) {
                (Some(a), Some(s)) => (a, s),
                _ => generate_keys()?,
            };
            let user = User {
                name: name.clone(),
                access_key_id: ak.clone(),
                secret_key: sk.clone(),
                is_root: false,
                created: SystemTime::now(),
            };
            match meta.create_user(user).await {
                Ok(()) => {}
                Err(MetaError::UserExists) => {
                    bail!("user {name} or access key {ak} already exists")
                }
                Err(e) => return Err(e.into()),
            }
            println!("user: {name}");
            println!("access_key_id: {ak}");
            println!("secret_access_key: {sk}");
        }
        UserCommand::List { data } => {
            let meta = open_metadata(&data.data_dir).await?;
            for u in meta.list_users().await? {
                println!(
                    "{}\t{}\t{}",
                    u.name,
                    u.access_key_id,
                    if u.is_root { "root" } else { "user" }
                );
            }
        }
        UserCommand::Remove { name, data } => {
            if name == ROOT_USER {
                bail!("the root user cannot be removed");
            }
            let meta = open_metadata(&data.data_dir).await?;
            match meta.delete_user(&name).await {
                Ok(()) => println!("removed {name}"),
                Err(MetaError::NoSuchUser) => bail!("no user named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
