//! The s3gate HTTP server: the only crate that speaks hyper's server side.
//!
//! [`Gateway`] turns one HTTP request into one S3 response: it authenticates the request with
//! `s3gate-sigv4`, routes it with `s3gate-protocol`, decodes and verifies the body (plain,
//! SHA-256-checked or aws-chunked with its trailer), calls the `s3gate-engine`, and renders the
//! result or the S3 error (XML with a request id). [`serve`] runs the accept loop with
//! keep-alive, HTTP/2 where the client asks, optional TLS (rustls; HTTP/2 by ALPN), a
//! header-read timeout, and graceful shutdown. [`serve_ops`] serves `/metrics` (Prometheus
//! text) and `/health/live|ready` on a separate listener; [`metrics`] holds the per-request
//! instrumentation and the timed store wrappers ([`metrics::TimedMetadata`],
//! [`metrics::TimedBlobs`]); [`spans`] the tracing spans of a request and its store calls.
//!
//! [`serve_console`] serves the web console (docs/console.md) on a listener of its own.
//!
//! Errors of the lower crates become S3 error codes here and only here (`errors.rs`).
//! The server does not read configuration files or the environment: the binary does.

mod acl;
mod auth;
mod authz;
mod body;
mod conn;
mod console;
mod cors;
mod errors;
mod framing;
mod headers;
mod hoist;
mod listener;
pub mod metrics;
mod request_id;
mod service;
pub mod spans;

pub use authz::ClientInfo;
pub use body::ResponseBody;
pub use console::{ConsoleConfig, SessionLimits, serve_console};
pub use listener::{OPS_CONNECTIONS, OPS_CONNECTIONS_PER_CLIENT, serve, serve_ops};
pub use s3gate_policy::{ObjectOwnership, PublicAccessBlock};
pub use service::Gateway;

use std::sync::Arc;
use std::time::Duration;

/// Settings of the HTTP front.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The region requests must be signed for.
    pub region: String,
    /// The 12-digit AWS account id the gateway is, as bucket policies name it
    /// (`arn:aws:iam::<account>:user/<name>`); see docs/access-control.md.
    pub account_id: String,
    /// Base domains for virtual-hosted-style requests (`bucket.<domain>`).
    pub domains: Vec<String>,
    /// Base domains of the static websites (`bucket.<website domain>`): such a Host gets the
    /// bucket's website (anonymous GET/HEAD), never the S3 API. See docs/website.md.
    pub website_domains: Vec<String>,
    /// How long a client may take to send the request head (slowloris guard).
    pub header_read_timeout: Duration,
    /// How long in-flight requests may run after shutdown begins.
    pub shutdown_grace: Duration,
    /// Most concurrent connections. When they are all open, a new connection takes the place
    /// of the oldest one that has not sent a complete request head for a second; else up to
    /// [`SHED_CONNECTIONS`] more are accepted only to be answered `503 SlowDown` and closed;
    /// beyond that, connections wait in the accept queue.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6 /64 counts as one);
    /// further ones are closed at once.
    pub max_connections_per_client: usize,
    /// Serve HTTPS with this rustls configuration (its ALPN list decides HTTP/2 vs HTTP/1.1).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Most requests handled at once (a GET counts until its body is sent); further requests
    /// are answered `503 SlowDown` at once, without touching the engine.
    pub max_in_flight_requests: usize,
    /// How long a request body may go without a byte arriving before the request fails with
    /// `400 RequestTimeout` (slow or stalled uploads, an `Expect: 100-continue` never followed
    /// by its body).
    pub body_read_timeout: Duration,
    /// Gives a request's span its remote parent (an incoming W3C `traceparent`); set by a
    /// binary that exports spans.
    pub span_parent: Option<spans::SpanParent>,
    /// Accept Signature Version 2 requests (header and presigned URLs) and POST forms signed
    /// with SigV2; when `false` they are refused as AWS refuses them in SigV4-only regions.
    pub sigv2: bool,
    /// Accept SSE-C keys over plain HTTP. AWS refuses them unless the request came over TLS;
    /// a gateway behind a TLS-terminating proxy, or tests on loopback, may allow them.
    pub allow_sse_c_over_http: bool,
    /// The Object Ownership of a bucket created without `x-amz-object-ownership`: AWS's
    /// default since April 2023 is BucketOwnerEnforced (ACLs off); see docs/access-control.md.
    pub default_object_ownership: ObjectOwnership,
    /// The gateway-wide Block Public Access settings (AWS's account-level block): merged with
    /// each bucket's, the most restrictive winning. All off by default.
    pub public_access_block: PublicAccessBlock,
}

/// The account id of a gateway that was not given one.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

/// Connections beyond [`ServerConfig::max_connections`] that may be in the middle of being
/// refused with `503 SlowDown` at once.
pub const SHED_CONNECTIONS: usize = 256;

impl ServerConfig {
    /// Defaults for `region`.
    pub fn new(region: impl Into<String>) -> Self {
        ServerConfig {
            region: region.into(),
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            domains: Vec::new(),
            website_domains: Vec::new(),
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_client: 1024,
            tls: None,
            max_in_flight_requests: 1024,
            body_read_timeout: Duration::from_secs(20),
            span_parent: None,
            sigv2: true,
            allow_sse_c_over_http: false,
            default_object_ownership: ObjectOwnership::BucketOwnerEnforced,
            public_access_block: PublicAccessBlock::default(),
        }
    }
}
