//! The `s3gate` binary: command line, configuration, logging, runtime and wiring.
//!
//! `s3gate serve` runs the gateway on SQLite metadata (or PostgreSQL, `--metadata
//! postgres://...`, shared by several gateways) and local-disk blobs in one data directory,
//! with optional TLS and an operations listener for metrics and health;
//! `s3gate user|bucket|gc|check` administer that directory (also while the gateway runs);
//! `s3gate migrate` and `s3gate metadata copy` maintain PostgreSQL stores;
//! `s3gate config print-default` writes a commented configuration file.
//! Options come from flags, `S3GATE_*` variables and the `--config` file (`config.rs`).

mod backend;
mod metadata_opts;

mod admin;
mod config;
mod console;
mod iam;
mod keys;
mod kms;
mod telemetry;
mod tls;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use metadata_opts::MetadataArgs;
use s3gate_engine::{Engine, EngineConfig, MIN_SHARED_ORPHAN_GRACE};
use s3gate_metadata::{AnyMetadata, MetaError, MetadataStore, SqliteMetadata, User};
use s3gate_server::metrics::{ExtraMetrics, OpsState, TimedBlobs, TimedMetadata};
use s3gate_server::{Gateway, ServerConfig};
use s3gate_storage_backend::SpaceReserve;
use telemetry::LogFormat;

/// Name of the root user in the metadata store.
const ROOT_USER: &str = "root";
/// File in the data directory holding generated root credentials (mode 0600).
const ROOT_CREDENTIALS_FILE: &str = "root-credentials";
/// The metadata database inside the data directory.
const METADATA_FILE: &str = "metadata.sqlite";

/// `--version`: the package version and the commit it was built from.
const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("S3GATE_GIT_COMMIT"), ")");
/// `--version` in full, with the build's target, profile and compiler.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("S3GATE_GIT_COMMIT"),
    "\ntarget: ",
    env!("S3GATE_BUILD_TARGET"),
    "\nprofile: ",
    env!("S3GATE_BUILD_PROFILE"),
    "\nrustc: ",
    env!("S3GATE_RUSTC_VERSION"),
);

#[derive(Parser)]
#[command(
    name = "s3gate",
    version = VERSION,
    long_version = LONG_VERSION,
    about = "S3-compatible object storage gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups of users and the policies attached to them.
    #[command(subcommand)]
    Group(iam::GroupCommand),
    /// Manage identity policies (built-in and stored).
    #[command(subcommand)]
    Policy(iam::PolicyCommand),
    /// Manage buckets.
    #[command(subcommand)]
    Bucket(admin::BucketCommand),
    /// Run the garbage collector and the orphan sweep once and report what they did.
    Gc(admin::GraceArgs),
    /// Verify the metadata against the stored blobs: report missing data and orphans.
    Check(admin::CheckArgs),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Bring a PostgreSQL metadata database to this build's schema.
    Migrate(metadata_opts::MigrateArgs),
    /// Metadata store maintenance.
    #[command(subcommand)]
    Metadata(metadata_opts::MetadataCommand),
    /// Server-side encryption keys.
    #[command(subcommand)]
    Kms(kms::KmsCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration file listing every `serve` option with its default.
    PrintDefault,
}

#[derive(Args)]
struct DataDir {
    /// Directory holding the metadata database and the object data.
    #[arg(long, env = "S3GATE_DATA_DIR", default_value = "./s3gate-data")]
    data_dir: PathBuf,
    /// TOML configuration file; flags and S3GATE_* variables override its values.
    #[arg(long, env = "S3GATE_CONFIG")]
    config: Option<PathBuf>,
}

/// `--metrics-listen`: an address, or `off`.
#[derive(Clone, Copy, Debug)]
struct MetricsListen(Option<SocketAddr>);

/// A switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// What SSE-C writes meet on a bucket that did not choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SseCDefault {
    /// Refused with 403 AccessDenied, as on AWS's buckets created since April 2026.
    Blocked,
    /// Accepted (AWS's behaviour before April 2026).
    Allowed,
}

fn parse_metrics_listen(s: &str) -> Result<MetricsListen, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(MetricsListen(None));
    }
    s.parse()
        .map(|a| MetricsListen(Some(a)))
        .map_err(|_| format!("expected an address like 127.0.0.1:9190, or off (got {s:?})"))
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "S3GATE_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    meta: MetadataArgs,
    /// Region clients must sign for.
    #[arg(long, env = "S3GATE_REGION", default_value = "us-east-1")]
    region: String,
    /// The 12-digit AWS account id the gateway is, as bucket policies name it
    /// (`arn:aws:iam::ACCOUNT:user/NAME`).
    #[arg(long, env = "S3GATE_ACCOUNT_ID", default_value = s3gate_server::DEFAULT_ACCOUNT_ID,
          value_parser = parse_account_id)]
    account_id: String,
    /// Base domain for virtual-hosted-style requests (`bucket.DOMAIN`); repeatable.
    #[arg(long = "domain", env = "S3GATE_DOMAINS", value_delimiter = ',')]
    domains: Vec<String>,
    /// Base domain of static websites (`bucket.DOMAIN` serves the bucket's website:
    /// anonymous GET/HEAD, index and error documents, redirects); repeatable.
    #[arg(long = "website-domain", env = "S3GATE_WEBSITE_DOMAINS", value_delimiter = ',')]
    website_domains: Vec<String>,
    /// Parts of a multipart object read ahead concurrently by a GET.
    #[arg(long, env = "S3GATE_READ_AHEAD_PARTS", default_value_t = 4)]
    read_ahead_parts: usize,
    /// Seconds a retired blob is kept before the collector may delete it (readers that looked
    /// up an object just before it was overwritten still find its data).
    #[arg(long, env = "S3GATE_GC_GRACE_SECONDS", default_value_t = 30)]
    gc_grace_seconds: u64,
    /// Seconds an unreferenced blob must be old before the periodic sweep deletes it. Any value
    /// (even 0) is safe for this gateway's own writes, which the sweep sees in flight; a gateway
    /// sharing its metadata with others needs at least 600 (their writes are invisible to it).
    #[arg(long, env = "S3GATE_ORPHAN_GRACE_SECONDS", default_value_t = 3600)]
    orphan_grace_seconds: u64,
    /// Seconds between runs of the collector and the orphan sweep.
    #[arg(long, env = "S3GATE_GC_INTERVAL_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    gc_interval_seconds: u64,
    /// Address of the operations listener serving /metrics (Prometheus), /health/live and
    /// /health/ready without authentication, or `off`.
    #[arg(long, env = "S3GATE_METRICS_LISTEN", default_value = "127.0.0.1:9190",
          value_parser = parse_metrics_listen)]
    metrics_listen: MetricsListen,
    /// PEM certificate chain: serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN). Reloaded on SIGHUP.
    #[arg(long, env = "S3GATE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1). Reloaded on SIGHUP.
    #[arg(long, env = "S3GATE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Most concurrent client connections. When all are open, a new one takes the place of the
    /// oldest that has sent no complete request head for a second, else it is answered 503
    /// SlowDown (256 at once), else it waits in the accept queue.
    #[arg(long, env = "S3GATE_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most connections open at once from one client address (an IPv6 /64 counts as one);
    /// further ones are closed at once. Keep it below --max-connections, so that no single
    /// client can take every slot.
    #[arg(long, env = "S3GATE_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_client: u32,
    /// Seconds a client may take to send a request head (and to finish a TLS handshake).
    #[arg(long, env = "S3GATE_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_seconds: u64,
    /// Seconds requests in flight may run on after SIGTERM before connections are closed.
    #[arg(long, env = "S3GATE_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    shutdown_grace_seconds: u64,
    /// Log format on stderr.
    #[arg(long, env = "S3GATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `info,s3gate::access=off`.
    #[arg(long, env = "S3GATE_LOG", default_value = "info")]
    log: String,
    /// OpenTelemetry collector (OTLP/HTTP, e.g. http://127.0.0.1:4318) to send the request
    /// spans to; `/v1/traces` is appended. Without it, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT, else no export. Needs a build with `--features otlp`.
    #[arg(long, env = "S3GATE_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Print the effective configuration, each value with where it came from, and exit.
    #[arg(long)]
    print_config: bool,
    /// Most requests handled at once; further requests are answered 503 SlowDown.
    #[arg(long, env = "S3GATE_MAX_IN_FLIGHT_REQUESTS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight_requests: u32,
    /// Largest body of one PutObject or UploadPart in bytes (S3: 5 GiB); larger is
    /// 400 EntityTooLarge.
    #[arg(long, env = "S3GATE_MAX_OBJECT_SIZE", default_value_t = 5 * 1024 * 1024 * 1024)]
    max_object_size: u64,
    /// Seconds a request body may go without a byte arriving (400 RequestTimeout; AWS waits
    /// about 20).
    #[arg(long, env = "S3GATE_BODY_READ_TIMEOUT_SECONDS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout_seconds: u64,
    /// Accept Signature Version 2 (`Authorization: AWS ...` and `AWSAccessKeyId`/`Signature`
    /// presigned URLs, as the AWS CLI v1 and s3cmd make them): `on` or `off`. Off, such
    /// requests are answered as AWS answers them in SigV4-only regions (400 InvalidRequest).
    #[arg(long, env = "S3GATE_SIGV2", value_enum, default_value_t = OnOff::On)]
    sigv2: OnOff,
    /// Server-side encryption master key file (mode 0600; created with one fresh key when
    /// absent). S3GATE_MASTER_KEYS (`id:base64[,id:base64...]`, the first active) replaces it.
    #[arg(long, env = "S3GATE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Encrypt every new object with SSE-S3 unless the request or the bucket asks otherwise,
    /// as AWS does.
    #[arg(long, env = "S3GATE_ENCRYPT_BY_DEFAULT", default_value_t = false,
          action = clap::ArgAction::Set)]
    encrypt_by_default: bool,
    /// Accept SSE-C (customer-provided keys) over plain HTTP. AWS refuses them without TLS;
    /// allow them only behind a TLS-terminating proxy or on loopback.
    #[arg(long, env = "S3GATE_ALLOW_SSE_C_OVER_HTTP", default_value_t = false,
          action = clap::ArgAction::Set)]
    allow_sse_c_over_http: bool,
    /// SSE-C writes on buckets whose encryption configuration does not set
    /// `BlockedEncryptionTypes`: `blocked` (AWS's default for new buckets since April 2026:
    /// 403 AccessDenied) or `allowed`.
    #[arg(long, env = "S3GATE_SSE_C_DEFAULT", value_enum, default_value_t = SseCDefault::Blocked)]
    sse_c_default: SseCDefault,
    /// The Object Ownership of a bucket created without `x-amz-object-ownership`:
    /// BucketOwnerEnforced (ACLs off, AWS's default since April 2023), BucketOwnerPreferred or
    /// ObjectWriter (ACLs on, as buckets were before).
    #[arg(long, env = "S3GATE_DEFAULT_OBJECT_OWNERSHIP", default_value = "BucketOwnerEnforced",
          value_parser = parse_object_ownership)]
    default_object_ownership: s3gate_server::ObjectOwnership,
    /// The gateway-wide Block Public Access (AWS's account-level setting), merged with every
    /// bucket's: `none`, `all`, or a comma list of `block-public-acls`, `ignore-public-acls`,
    /// `block-public-policy`, `restrict-public-buckets`.
    #[arg(long, env = "S3GATE_BLOCK_PUBLIC_ACCESS", default_value = "none",
          value_parser = parse_block_public_access)]
    block_public_access: s3gate_server::PublicAccessBlock,
    #[command(flatten)]
    backend: backend::BackendArgs,
    #[command(flatten)]
    console: console::ConsoleArgs,
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
        /// Attach this policy (built-in or stored; repeatable). Without any, the user gets
        /// `self-service`: create buckets and manage its own.
        #[arg(long = "policy", conflicts_with = "no_policy")]
        policies: Vec<String>,
        /// Attach no policy: the user may do nothing until a policy or a group allows it.
        #[arg(long)]
        no_policy: bool,
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        meta: MetadataArgs,
    },
    /// Attach a policy (built-in or stored) to a user.
    AttachPolicy {
        /// User name.
        user: String,
        /// Policy name.
        policy: String,
        #[command(flatten)]
        store: iam::Store,
    },
    /// Detach a policy from a user.
    DetachPolicy {
        /// User name.
        user: String,
        /// Policy name.
        policy: String,
        #[command(flatten)]
        store: iam::Store,
    },
    /// Manage a user's access keys.
    #[command(subcommand)]
    Key(iam::KeyCommand),
    /// List users.
    List {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        meta: MetadataArgs,
    },
    /// Remove a user.
    Remove {
        /// User name.
        name: String,
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        meta: MetadataArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let command_line: Vec<OsString> = std::env::args_os().collect();
    let loaded = match config::load::<Cli>(command_line) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("s3gate: configuration error: {e:#}");
            std::process::exit(2);
        }
    };
    let cli = loaded.cli;
    if let Command::Serve(args) = &cli.command
        && args.print_config
    {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").context("no serve command")?;
        print!("{}", config::effective(serve, &loaded.matches, &loaded.from_file));
        return Ok(());
    }
    if let Command::Config(ConfigCommand::PrintDefault) = &cli.command {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").context("no serve command")?;
        print!("{}", config::print_default(serve));
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking jobs are short (a batch write or hash, a frame read, a SQLite read): no
        // upload holds a thread while it waits for its client, so tokio's default bound of
        // 512 is room enough, and what many slow clients can make the process hold stays
        // bounded (docs/RELIABILITY.md, 1,000 slow uploads).
        .max_blocking_threads(512)
        .thread_name("s3gate-worker")
        .build()
        .context("starting the async runtime")?;
    let telemetry = if let Command::Serve(args) = &cli.command {
        // The span exporter's batch task is spawned on the runtime.
        let _runtime = runtime.enter();
        Some(telemetry::init_serve(&args.log, args.log_format, args.otlp_endpoint.as_deref())?)
    } else {
        let filter = std::env::var("S3GATE_LOG").unwrap_or_else(|_| "warn".to_owned());
        if telemetry::init_logging(&filter, LogFormat::Text).is_err() {
            let _ = telemetry::init_logging("warn", LogFormat::Text);
        }
        None
    };
    let span_parent = telemetry.as_ref().and_then(telemetry::Telemetry::span_parent);
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(*args, span_parent).await,
            Command::User(cmd) => user(cmd).await,
            Command::Group(cmd) => iam::group(cmd).await,
            Command::Policy(cmd) => iam::policy(cmd).await,
            Command::Bucket(cmd) => admin::bucket(cmd).await,
            Command::Gc(args) => admin::gc(args).await,
            Command::Check(args) => admin::check(args).await,
            Command::Config(ConfigCommand::PrintDefault) => Ok(()),
            Command::Migrate(args) => metadata_opts::migrate(args).await,
            Command::Metadata(cmd) => metadata_opts::metadata(cmd).await,
            Command::Kms(cmd) => kms::run(cmd).await,
        }
    });
    if let Some(t) = telemetry {
        t.shutdown(&runtime);
    }
    result
}

/// The collection and sweep before the listener opens. Nothing is in flight and nobody reads
/// then (unless other gateways share the metadata): every retired blob can go, and every temp
/// file and unknown blob is debris of a crash.
async fn clean_at_start_up(engine: &GatewayEngine, shared: bool) {
    // Nothing is in flight and nobody reads before the listener opens: every retired blob can
    // go, and every temp file and unknown blob is debris of a crash.
    let start_gc_grace = if shared { engine.config().gc_grace } else { Duration::ZERO };
    match engine.collect_garbage_older_than(start_gc_grace).await {
        Ok(report) => tracing::info!(?report, "start-up collection done"),
        Err(e) => tracing::warn!(error = %e, "start-up collection failed"),
    }
    let start_sweep = if shared {
        engine.sweep_orphans(engine.config().orphan_grace).await
    } else {
        engine.sweep_orphans_at_rest().await
    };
    match start_sweep {
        Ok(report) => tracing::info!(?report, "start-up sweep done"),
        Err(e) => tracing::warn!(error = %e, "start-up sweep failed"),
    }
}

/// Refuses an orphan grace too short for a gateway sharing its metadata.
fn check_orphan_grace(shared: bool, orphan_grace_seconds: u64) -> anyhow::Result<()> {
    if shared && Duration::from_secs(orphan_grace_seconds) < MIN_SHARED_ORPHAN_GRACE {
        anyhow::bail!(
            "--orphan-grace-seconds {orphan_grace_seconds} is too short for a gateway sharing its \
             metadata: the writes other gateways have in flight are invisible to this one's \
             sweep, which could delete their blobs before they commit; use at least {} \
             (docs/RELIABILITY.md)",
            MIN_SHARED_ORPHAN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// Opens the metadata store and, when it is SQLite, the free-space reserve of its directory.
/// A disk filled to the last byte while the gateway was down gets its spare file released
/// before SQLite opens, which needs room for its WAL and shared-memory files.
async fn open_with_space(
    args: &MetadataArgs,
    data_dir: &Path,
) -> anyhow::Result<(AnyMetadata, Option<Arc<SpaceReserve>>)> {
    let sqlite_dir = args.sqlite_dir(data_dir);
    let mut space = match &sqlite_dir {
        Some(dir) if dir.exists() => Some(prepare_space(dir).await?),
        _ => None,
    };
    let meta = args.open(data_dir).await?;
    if space.is_none()
        && let Some(dir) = &sqlite_dir
    {
        space = Some(prepare_space(dir).await?);
    }
    Ok((meta, space))
}

/// The free-space reserve of the metadata's directory, its spare file released when the disk
/// is below the reserve and created otherwise (`crates/storage-backend/src/space.rs`).
async fn prepare_space(dir: &Path) -> anyhow::Result<Arc<SpaceReserve>> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let space = SpaceReserve::new(&dir);
        if let Err(e) = space.prepare() {
            // A disk too full for the spare file is no reason not to start: deletes still work
            // while the reserve holds, and the spare is made once there is room.
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the spare file");
        }
        Arc::new(space)
    })
    .await
    .context("spare file task failed")
}

/// Re-creates the spare file, once there is room for it beside the reserve, every `every`.
fn restore_spare_every(space: Arc<SpaceReserve>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            let s = Arc::clone(&space);
            match tokio::task::spawn_blocking(move || s.restore_spare()).await {
                Ok(Ok(true)) => tracing::info!("spare file re-created"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot re-create the spare file"),
                Err(e) => tracing::warn!(error = %e, "spare file task failed"),
            }
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

/// The engine as the gateway runs it: both stores timed for the metrics.
type GatewayEngine = Engine<TimedMetadata<AnyMetadata>, TimedBlobs<backend::Blobs>>;

async fn serve(
    args: ServeArgs,
    span_parent: Option<s3gate_server::spans::SpanParent>,
) -> anyhow::Result<()> {
    let mut server_config = server_config(&args, span_parent)?;
    // Crash tests only: a binary built without the `failpoints` feature refuses the variable.
    if let Some(spec) = std::env::var("S3GATE_FAILPOINT").ok().filter(|s| !s.is_empty()) {
        s3gate_engine::failpoint::arm(&spec).context("S3GATE_FAILPOINT")?;
        tracing::warn!(%spec, "failpoints armed: this process will abort on purpose");
    }
    let data_dir = args.data.data_dir;
    let (meta, space) = open_with_space(&args.meta, &data_dir).await?;
    // Other gateways may share the metadata (and the blobs): their writes and readers are in
    // flight, so start-up cleaning keeps the usual grace periods, and the data directory is
    // not locked to this process (docs/scale-out.md).
    let shared = meta.is_shared();
    check_orphan_grace(shared, args.orphan_grace_seconds)?;
    let lock = if shared { None } else { Some(lock_for_gateway(&data_dir).await?) };
    let (access_key, secret_key, generated) = root_credentials(&data_dir)?;
    ensure_root(&meta, &access_key, &secret_key).await?;
    let (blobs, classes) = backend::open(args.backend, &data_dir).await?;
    let mut engine_config = EngineConfig::new(args.region.clone()).with_storage_classes(classes);
    engine_config.read_ahead_parts = args.read_ahead_parts.max(1);
    engine_config.gc_grace = Duration::from_secs(args.gc_grace_seconds);
    engine_config.orphan_grace = Duration::from_secs(args.orphan_grace_seconds);
    engine_config.max_put_size = args.max_object_size;
    engine_config.space = space.clone();
    let mut sse = s3gate_engine::SseConfig::new(
        keys::load(&data_dir, args.master_key_file.as_deref())?,
        server_config.account_id.clone(),
    );
    sse.reload = Some(keys::reloader(&data_dir, args.master_key_file.as_deref()));
    sse.encrypt_by_default = args.encrypt_by_default;
    sse.block_sse_c_by_default = args.sse_c_default == SseCDefault::Blocked;
    engine_config.encryption = Some(std::sync::Arc::new(sse));
    let engine: GatewayEngine =
        Engine::new(TimedMetadata::new(meta), TimedBlobs::new(blobs), engine_config);
    // KMS keys still wrapped by an older master key (a ring given by environment, or a
    // rotation whose re-wrap did not finish) move to the active one.
    if let Some(kms) = engine.kms() {
        match kms.rewrap_keys().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "re-wrapped KMS keys under the active master key"),
            Err(e) => tracing::warn!(error = %e, "could not re-wrap KMS keys"),
        }
    }
    clean_at_start_up(&engine, shared).await;
    let background = engine.spawn_background(Duration::from_secs(args.gc_interval_seconds.max(1)));
    let spare_task =
        space.map(|s| restore_spare_every(s, Duration::from_secs(args.gc_interval_seconds.max(1))));

    let cert = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = tls::ReloadableCert::load(cert, key)?;
            server_config.tls = Some(Arc::new(cert.server_config()?));
            Some(cert)
        }
        _ => None,
    };
    let reload_keys = watch_master_keys(&engine, &data_dir, args.master_key_file.as_deref());
    spawn_sighup_handler(cert, reload_keys)?;
    let gateway = Arc::new(Gateway::new(engine, &server_config));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen: binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let draining = Arc::new(AtomicBool::new(false));
    let ops = match args.metrics_listen.0 {
        Some(ops_addr) => Some(start_ops(ops_addr, &gateway, &draining).await?),
        None => None,
    };
    let signals = ShutdownSignals::install()?;
    let scheme = if server_config.tls.is_some() { "https" } else { "http" };
    println!("s3gate {}: listening on {scheme}://{addr}", env!("CARGO_PKG_VERSION"));
    if let Some((ops_addr, _)) = &ops {
        println!("metrics on http://{ops_addr}/metrics (health: /health/live, /health/ready)");
    }
    let _console = console::start(&args.console, &gateway, &format!("{scheme}://{addr}")).await?;
    if generated {
        println!(
            "root credentials (generated, kept in {}):",
            data_dir.join(ROOT_CREDENTIALS_FILE).display()
        );
        println!("  access_key_id: {access_key}");
        println!("  secret_access_key: {secret_key}");
    }
    println!(
        "try: AWS_ACCESS_KEY_ID={access_key} AWS_SECRET_ACCESS_KEY=... aws --endpoint-url {scheme}://{addr} --region {} s3 ls",
        args.region
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());

    let shutdown = {
        let draining = Arc::clone(&draining);
        async move {
            signals.recv().await;
            // Load balancers probing /health/ready stop sending new requests.
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    s3gate_server::serve(listener, gateway, &server_config, shutdown).await?;
    background.abort();
    if let Some(task) = spare_task {
        task.abort();
    }
    if let Some((_, task)) = ops {
        task.abort();
    }
    tracing::info!("stopped");
    drop(lock);
    Ok(())
}

/// The listener's configuration from the serve options (TLS is added by the caller).
fn server_config(
    args: &ServeArgs,
    span_parent: Option<s3gate_server::spans::SpanParent>,
) -> anyhow::Result<ServerConfig> {
    let mut server_config = ServerConfig::new(args.region.clone());
    if let Some(d) =
        args.website_domains.iter().find(|d| args.domains.iter().any(|s| s.eq_ignore_ascii_case(d)))
    {
        anyhow::bail!(
            "--website-domain {d} is also a --domain: a host can serve the S3 API or a website, not both"
        );
    }
    server_config.domains.clone_from(&args.domains);
    server_config.website_domains.clone_from(&args.website_domains);
    server_config.account_id.clone_from(&args.account_id);
    server_config.max_connections = args.max_connections as usize;
    server_config.max_connections_per_client = args.max_connections_per_client as usize;
    server_config.header_read_timeout = Duration::from_secs(args.header_read_timeout_seconds);
    server_config.shutdown_grace = Duration::from_secs(args.shutdown_grace_seconds);
    server_config.max_in_flight_requests = args.max_in_flight_requests as usize;
    server_config.body_read_timeout = Duration::from_secs(args.body_read_timeout_seconds);
    server_config.sigv2 = args.sigv2 == OnOff::On;
    server_config.span_parent = span_parent;
    server_config.allow_sse_c_over_http = args.allow_sse_c_over_http;
    server_config.default_object_ownership = args.default_object_ownership;
    server_config.public_access_block = args.block_public_access;
    Ok(server_config)
}

/// Takes the data directory's lock for this gateway, waiting up to 10 s for an admin command
/// to finish. One gateway per data directory: the start-up sweep deletes every unreferenced
/// blob, which would destroy a second gateway's writes in flight. Admin commands take the lock
/// briefly when no gateway runs.
async fn lock_for_gateway(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let lock = admin::lock_file(data_dir)?;
    let mut waited = Duration::ZERO;
    while !admin::try_lock(&lock)? {
        if waited >= Duration::from_secs(10) {
            bail!(
                "{} is in use by another s3gate process (it holds {})",
                data_dir.display(),
                data_dir.join(admin::LOCK_FILE).display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    Ok(lock)
}

/// Binds the operations listener and serves it on a task until aborted.
async fn start_ops(
    addr: SocketAddr,
    gateway: &Arc<Gateway<TimedMetadata<AnyMetadata>, TimedBlobs<backend::Blobs>>>,
    draining: &Arc<AtomicBool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics_listen: binding {addr}"))?;
    let bound = listener.local_addr()?;
    let state = Arc::new(OpsState {
        gateway: Arc::clone(gateway),
        extra: extra_metrics(gateway.engine().clone()),
        draining: Arc::clone(draining),
    });
    let task = tokio::spawn(async move {
        if let Err(e) = s3gate_server::serve_ops(listener, state, std::future::pending()).await {
            tracing::error!(error = %e, "operations listener failed");
        }
    });
    Ok((bound, task))
}

/// Samples the registry cannot hold itself, gathered at scrape time: build information,
/// process start, the metadata store's group commits and the collector's backlog.
fn extra_metrics(engine: GatewayEngine) -> ExtraMetrics {
    use s3gate_metrics::{write_header, write_sample};
    /// The backlog query stops counting here: a scrape must stay cheap.
    const BACKLOG_CAP: u32 = 100_000;
    let started =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    Arc::new(move || {
        let engine = engine.clone();
        Box::pin(async move {
            let mut out = String::new();
            write_header(&mut out, "s3gate_build_info", "gauge", "Build information; always 1.");
            write_sample(
                &mut out,
                "s3gate_build_info",
                &[
                    ("version", env!("CARGO_PKG_VERSION")),
                    ("commit", env!("S3GATE_GIT_COMMIT")),
                    ("rustc", env!("S3GATE_RUSTC_VERSION")),
                    ("target", env!("S3GATE_BUILD_TARGET")),
                    ("profile", env!("S3GATE_BUILD_PROFILE")),
                ],
                1,
            );
            write_header(
                &mut out,
                "s3gate_process_start_time_seconds",
                "gauge",
                "Start time of the process since the Unix epoch.",
            );
            write_sample(&mut out, "s3gate_process_start_time_seconds", &[], started);
            // Group commit is SQLite's; PostgreSQL commits each write itself.
            if let AnyMetadata::Sqlite(sqlite) = engine.metadata().inner() {
                let (batches, writes) = sqlite.group_commit_stats();
                write_header(
                    &mut out,
                    "s3gate_metadata_group_commits_total",
                    "counter",
                    "Metadata write transactions committed (one per group commit).",
                );
                write_sample(&mut out, "s3gate_metadata_group_commits_total", &[], batches);
                write_header(
                    &mut out,
                    "s3gate_metadata_group_commit_writes_total",
                    "counter",
                    "Metadata writes carried by those transactions (writes / commits = mean batch size).",
                );
                write_sample(&mut out, "s3gate_metadata_group_commit_writes_total", &[], writes);
            }
            write_header(
                &mut out,
                "s3gate_gc_backlog_blobs",
                "gauge",
                "Retired blobs waiting for the collector (counted up to 100000; -1 if the query failed).",
            );
            let backlog =
                match engine.metadata().inner().retired_blobs(SystemTime::now(), BACKLOG_CAP).await
                {
                    Ok(v) => i64::try_from(v.len()).unwrap_or(i64::MAX),
                    Err(_) => -1,
                };
            write_sample(&mut out, "s3gate_gc_backlog_blobs", &[], backlog);
            out
        })
    })
}

/// Keeps the engine's master key ring in step with the key file: reloads it when the file
/// changes (polled) and returns the reload, for SIGHUP.
fn watch_master_keys(engine: &GatewayEngine, data_dir: &Path, file: Option<&Path>) -> KeyReloader {
    let reload_keys: KeyReloader = {
        let engine = engine.clone();
        let reload = keys::reloader(data_dir, file);
        Arc::new(move |why: &'static str| match reload() {
            Ok(keys) => {
                tracing::info!(active = %keys.active_id(), why, "master key ring reloaded");
                engine.replace_master_keys(keys);
            }
            Err(e) => tracing::error!(
                error = %e,
                why,
                "master key reload failed; still using the previous ring"
            ),
        })
    };
    spawn_key_file_watch(data_dir.to_owned(), file.map(Path::to_owned), Arc::clone(&reload_keys));
    reload_keys
}

/// Reloads the engine's master key ring, saying why in the log.
type KeyReloader = Arc<dyn Fn(&'static str) + Send + Sync>;

/// Runs a reload (a file read) on the blocking pool, not on an async worker.
async fn reload_off_the_runtime(reload: &KeyReloader, why: &'static str) {
    let reload = Arc::clone(reload);
    if let Err(e) = tokio::task::spawn_blocking(move || reload(why)).await {
        tracing::error!(error = %e, "the master key reload task failed");
    }
}

/// How often the gateway looks at the master key file's modification time.
const KEY_FILE_POLL: Duration = Duration::from_secs(5);

/// Reloads the master key ring when its file changes (a `s3gate kms rotate` or `retire`
/// by another process): within [`KEY_FILE_POLL`], every gateway on the file wraps new data
/// keys under the new active key, so an old key can be retired once the rotation's re-wrap
/// is done. A ring given by `S3GATE_MASTER_KEYS` has no file to watch.
fn spawn_key_file_watch(data_dir: PathBuf, file: Option<PathBuf>, reload: KeyReloader) {
    tokio::spawn(async move {
        let mut seen = keys::stamp(&data_dir, file.as_deref());
        let mut tick = tokio::time::interval(KEY_FILE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = keys::stamp(&data_dir, file.as_deref());
            if now.is_some() && now != seen {
                seen = now;
                reload_off_the_runtime(&reload, "the master key file changed").await;
            }
        }
    });
}

/// SIGHUP reloads the master key ring (after `s3gate kms rotate`) and the TLS certificate and
/// key (the signal never terminates the process, as its default action would).
fn spawn_sighup_handler(
    cert: Option<Arc<tls::ReloadableCert>>,
    reload_keys: KeyReloader,
) -> anyhow::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload_off_the_runtime(&reload_keys, "SIGHUP").await;
            let Some(c) = &cert else {
                tracing::info!("SIGHUP: no TLS certificate to reload");
                continue;
            };
            match c.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "SIGHUP: TLS certificate reload failed; still serving the previous one"
                ),
            }
        }
    });
    Ok(())
}

/// SIGTERM or SIGINT, installed before the gateway says it is listening: a signal that
/// arrives right after the banner (an orchestrator stopping a pod that just started) drains and
/// exits 0 instead of killing the process with the signal's default action.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    }
}

/// Root keys from `S3GATE_ACCESS_KEY`/`S3GATE_SECRET_KEY`, else from the data directory's
/// credentials file, else newly generated and written there (mode 0600).
fn root_credentials(data_dir: &Path) -> anyhow::Result<(String, String, bool)> {
    match (std::env::var("S3GATE_ACCESS_KEY"), std::env::var("S3GATE_SECRET_KEY")) {
        (Ok(a), Ok(s)) if !a.is_empty() || !s.is_empty() => {
            s3gate_metadata::check_user(ROOT_USER, &a, &s)
                .context("S3GATE_ACCESS_KEY/S3GATE_SECRET_KEY")?;
            return Ok((a, s, false));
        }
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
    s3gate_metadata::generate_keys().map_err(|e| anyhow::anyhow!("no randomness: {e}"))
}

/// Makes the metadata store's root user carry these keys.
async fn ensure_root(
    meta: &impl MetadataStore,
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
    let created = meta
        .create_user(User {
            name: ROOT_USER.to_owned(),
            access_key_id: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            is_root: true,
            created: SystemTime::now(),
        })
        .await;
    // Gateways sharing a PostgreSQL store may start together: another one stored the same root.
    if matches!(created, Err(MetaError::UserExists))
        && meta
            .user_by_access_key(access_key)
            .await?
            .is_some_and(|u| u.name == ROOT_USER && u.secret_key == secret_key && u.is_root)
    {
        return Ok(());
    }
    created.context("storing the root user (is its access key used by another user?)")?;
    Ok(())
}

async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { name, access_key, secret_key, policies, no_policy, data, meta } => {
            if name == ROOT_USER {
                bail!("the root user is managed with S3GATE_ACCESS_KEY/S3GATE_SECRET_KEY");
            }
            let (ak, sk) = match (access_key, secret_key) {
                (Some(a), Some(s)) => (a, s),
                (None, None) => generate_keys()?,
                _ => bail!("give both --access-key and --secret-key, or neither"),
            };
            // Checked before the store is opened: a refused user changes nothing.
            s3gate_metadata::check_user(&name, &ak, &sk).context("refusing the user")?;
            let policies = match (no_policy, policies.is_empty()) {
                (true, _) => Vec::new(),
                (false, true) => vec![iam::DEFAULT_USER_POLICY.to_owned()],
                (false, false) => policies,
            };
            for p in &policies {
                iam::check_name("policy", p)?;
            }
            let meta = meta.open(&data.data_dir).await?;
            iam::policies_exist(&meta, &policies).await?;
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
                    bail!(
                        "user {name} or access key {ak} already exists, or {name} is the name \
                         of a removed user (names are never reused: a new user would inherit \
                         what the removed one owned)"
                    )
                }
                Err(e) => return Err(e.into()),
            }
            for p in &policies {
                iam::attach(&meta, p, s3gate_metadata::Attachee::User(name.clone()), true).await?;
            }
            println!("user: {name}");
            println!("access_key_id: {ak}");
            println!("secret_access_key: {sk}");
        }
        UserCommand::AttachPolicy { user, policy, store } => {
            iam::user_policy(&user, &policy, &store, true).await?;
        }
        UserCommand::DetachPolicy { user, policy, store } => {
            iam::user_policy(&user, &policy, &store, false).await?;
        }
        UserCommand::Key(cmd) => iam::key(cmd).await?,
        UserCommand::List { data, meta } => {
            let meta = meta.open(&data.data_dir).await?;
            for u in meta.list_users().await? {
                println!(
                    "{}\t{}\t{}",
                    u.name,
                    u.access_key_id,
                    if u.is_root { "root" } else { "user" }
                );
            }
        }
        UserCommand::Remove { name, data, meta } => {
            if name == ROOT_USER {
                bail!("the root user cannot be removed");
            }
            let meta = meta.open(&data.data_dir).await?;
            match meta.delete_user(&name).await {
                Ok(()) => println!(
                    "removed {name}; the name is retired for good, and what {name} owned stays, \
                     reachable by root"
                ),
                Err(MetaError::NoSuchUser) => bail!("no user named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// An AWS account id: twelve ASCII digits.
fn parse_object_ownership(s: &str) -> Result<s3gate_server::ObjectOwnership, String> {
    s3gate_server::ObjectOwnership::parse(s).ok_or_else(|| {
        format!("{s:?} is not BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter")
    })
}

fn parse_block_public_access(s: &str) -> Result<s3gate_server::PublicAccessBlock, String> {
    let mut block = s3gate_server::PublicAccessBlock::default();
    match s.trim() {
        "none" => return Ok(block),
        "all" => return Ok(s3gate_server::PublicAccessBlock::ALL),
        _ => {}
    }
    for setting in s.split(',').map(str::trim) {
        match setting {
            "block-public-acls" => block.block_public_acls = true,
            "ignore-public-acls" => block.ignore_public_acls = true,
            "block-public-policy" => block.block_public_policy = true,
            "restrict-public-buckets" => block.restrict_public_buckets = true,
            other => {
                return Err(format!(
                    "{other:?} is not none, all, block-public-acls, ignore-public-acls, \
                     block-public-policy or restrict-public-buckets"
                ));
            }
        }
    }
    Ok(block)
}

fn parse_account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("an account id is twelve digits, not {s:?}"))
    }
}
