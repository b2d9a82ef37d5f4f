//! The web console's options and its listener (docs/console.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use s3gate_server::{ConsoleConfig, Gateway, SessionLimits};

/// `serve` options of the web console.
#[derive(Args, Debug, Clone)]
#[allow(clippy::struct_field_names, reason = "the fields are the options' names in the file")]
pub(crate) struct ConsoleArgs {
    /// Address of the web console (docs/console.md), e.g. 127.0.0.1:9300; off when absent.
    /// Plain HTTP: keep it on loopback, or put a TLS-terminating proxy in front.
    #[arg(long, env = "S3GATE_CONSOLE_LISTEN")]
    console_listen: Option<SocketAddr>,
    /// The S3 endpoint as the console's users reach it, for share links; default: the S3
    /// listener's address (`http(s)://ADDR`).
    #[arg(long, env = "S3GATE_CONSOLE_S3_URL")]
    console_s3_url: Option<String>,
    /// Seconds a console session may go unused before it ends.
    #[arg(long, env = "S3GATE_CONSOLE_SESSION_IDLE_SECONDS", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..))]
    console_session_idle_seconds: u64,
    /// Seconds after its login that a console session ends, used or not.
    #[arg(long, env = "S3GATE_CONSOLE_SESSION_MAX_SECONDS", default_value_t = 43_200,
          value_parser = clap::value_parser!(u64).range(1..))]
    console_session_max_seconds: u64,
    /// Mark the console's session cookie `Secure`: set it when users reach the console over
    /// HTTPS through a TLS-terminating proxy.
    #[arg(long, env = "S3GATE_CONSOLE_SECURE_COOKIE", default_value_t = false,
          action = clap::ArgAction::Set)]
    console_secure_cookie: bool,
}

/// The console's task, stopped when this is dropped (when `serve` returns).
pub(crate) struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Binds the console listener when asked for and serves it on a task until the returned
/// guard is dropped; prints where it listens.
pub(crate) async fn start<M, B>(
    args: &ConsoleArgs,
    gateway: &Arc<Gateway<M, B>>,
    s3_url: &str,
) -> anyhow::Result<Option<Running>>
where
    M: s3gate_metadata::MetadataStore,
    B: s3gate_storage_backend::BlobStore,
{
    let Some(addr) = args.console_listen else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("console_listen: binding {addr}"))?;
    let bound = listener.local_addr()?;
    let config = ConsoleConfig {
        s3_url: args.console_s3_url.clone().unwrap_or_else(|| s3_url.to_owned()),
        sessions: SessionLimits {
            idle: Duration::from_secs(args.console_session_idle_seconds),
            absolute: Duration::from_secs(args.console_session_max_seconds),
        },
        secure_cookie: args.console_secure_cookie,
    };
    let gateway = Arc::clone(gateway);
    let task = tokio::spawn(async move {
        let served =
            s3gate_server::serve_console(listener, gateway, config, std::future::pending()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "console listener failed");
        }
    });
    println!("console on http://{bound}/");
    Ok(Some(Running(task)))
}
