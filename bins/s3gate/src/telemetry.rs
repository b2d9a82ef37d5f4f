//! Logs and span export: the stderr log subscriber (`--log`, `--log-format`) and, with the
//! cargo feature `otlp`, the OpenTelemetry layer that sends the gateway's spans
//! (`s3gate_server::spans`) to a collector over OTLP/HTTP with protobuf.
//!
//! The spans never reach the log output: each in-request log event carries its request id
//! already, and a hidden span callsite is disabled outright, so a build or a run without an
//! exporter pays next to nothing for them (docs/PERFORMANCE.md). Export has its own filter,
//! independent of `--log`: the request spans, the store-call spans made inside a request, and
//! the warnings and errors logged inside a request (as span events).

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use s3gate_server::spans;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::fmt::format::{Writer, debug_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Output format of the logs on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What the process must do at exit for its telemetry: flush the spans still queued.
#[must_use = "call shutdown at exit so queued spans are sent"]
pub(crate) struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Installs the stderr subscriber (`filter` in EnvFilter syntax, text or JSON lines) without
/// span export: for the admin commands.
pub(crate) fn init_logging(filter: &str, format: LogFormat) -> Result<(), String> {
    let filter = env_filter(filter).map_err(|e| e.to_string())?;
    tracing_subscriber::registry()
        .with(log_layer(filter, format))
        .try_init()
        .map_err(|e| e.to_string())
}

/// Installs the subscriber of `s3gate serve`: the logs, and span export to `otlp_endpoint`
/// (`--otlp-endpoint`, a base URL) or to the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
/// `OTEL_EXPORTER_OTLP_ENDPOINT`; no export when none is set. Must run inside the tokio
/// runtime, whose workers run the batch exporter.
pub(crate) fn init_serve(
    filter: &str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let filter = env_filter(filter)
        .map_err(|e| anyhow::anyhow!("invalid value for --log / S3GATE_LOG: {e}"))?;
    let registry = tracing_subscriber::registry().with(log_layer(filter, format));
    #[cfg(feature = "otlp")]
    {
        let collector = otlp::collector(otlp_endpoint);
        let provider = collector.as_ref().map(otlp::provider).transpose()?;
        registry.with(provider.as_ref().map(otlp::layer)).try_init()?;
        if let Some(collector) = collector {
            tracing::info!("exporting spans over OTLP/HTTP to {collector}");
        }
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otlp"))]
    {
        if let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) {
            anyhow::bail!(
                "--otlp-endpoint / S3GATE_OTLP_ENDPOINT ({endpoint}): this build has no OTLP \
                 export; build s3gate with `--features otlp`"
            );
        }
        registry.try_init()?;
        for var in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
            if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
                tracing::warn!(
                    "{var} is ignored: this build has no OTLP export (cargo feature `otlp`)"
                );
            }
        }
        Ok(Telemetry {})
    }
}

/// Where rustls warns about a peer's harmless quirk once per handshake: a client that sends an
/// IP address as SNI (curl and OpenSSL do, for `https://127.0.0.1/`) is not the operator's
/// problem. Shown again when `--log` names rustls itself.
const QUIET_RUSTLS: &str = "rustls::msgs::handshake=error";

/// `--log` as an EnvFilter, with [`QUIET_RUSTLS`] unless the spec mentions rustls.
fn env_filter(spec: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let filter = EnvFilter::try_new(spec)?;
    if spec.contains("rustls") {
        return Ok(filter);
    }
    Ok(filter.add_directive(QUIET_RUSTLS.parse()?))
}

/// The fmt layer on stderr, filtered by `--log`, never showing s3gate's own spans.
fn log_layer<S>(filter: EnvFilter, format: LogFormat) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let hide_spans = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target(spans::TARGET, LevelFilter::OFF);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        // Colours are escape sequences: only for a person at a terminal, never into a file or
        // a log collector (and not under NO_COLOR).
        LogFormat::Text => layer
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .fmt_fields(debug_fn(write_escaped_field).delimited(" "))
            .boxed(),
        LogFormat::Json => layer.json().flatten_event(true).with_current_span(false).boxed(),
    };
    layer.with_filter(filter.and(hide_spans))
}

/// Writes one field of a text log line (`name=value`, or the bare message) with every control
/// character escaped. Fields carry client input (object keys, user names, error causes): a raw
/// CR or LF in one would forge log lines, an ESC would send terminal escapes to whoever reads
/// the log. JSON lines escape them already.
fn write_escaped_field(
    writer: &mut Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn std::fmt::Debug,
) -> std::fmt::Result {
    let mut out = Escaping(writer);
    match field.name() {
        "message" => write!(out, "{value:?}"),
        name => write!(out, "{}={value:?}", name.trim_start_matches("r#")),
    }
}

/// A [`std::fmt::Write`] that writes control characters (C0, DEL, C1) and the Unicode line and
/// paragraph separators as escapes: `\n`, `\r`, `\t`, else `\u{1b}`.
struct Escaping<'a, W>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

impl Telemetry {
    /// Sends the spans still queued (graceful shutdown), waiting at most a few seconds for the
    /// collector. Call it after the server stopped, outside the runtime.
    #[cfg_attr(
        not(feature = "otlp"),
        expect(clippy::unused_self, reason = "the exporter is the only state")
    )]
    pub(crate) fn shutdown(self, runtime: &tokio::runtime::Runtime) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider {
            otlp::shutdown(provider, runtime);
        }
        #[cfg(not(feature = "otlp"))]
        let _ = runtime;
    }

    /// The hook that makes an incoming W3C `traceparent` the parent of a request's span, when
    /// spans are exported.
    #[cfg_attr(
        not(feature = "otlp"),
        expect(clippy::unused_self, reason = "the exporter is the only state")
    )]
    pub(crate) fn span_parent(&self) -> Option<spans::SpanParent> {
        #[cfg(feature = "otlp")]
        if self.provider.is_some() {
            return Some(otlp::span_parent());
        }
        None
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::Context as _;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::{Key, KeyValue};
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
    use s3gate_server::spans;
    use tracing::Level;
    use tracing::subscriber::Interest;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{DynFilterFn, LevelFilter};
    use tracing_subscriber::registry::LookupSpan;

    /// The standard variables that name the collector when `--otlp-endpoint` does not.
    const ENDPOINT_VARS: [&str; 2] =
        ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"];
    /// The longest graceful shutdown waits for the last spans to be sent.
    const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
    /// OTLP's export timeout when `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` does not set one.
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Where spans go.
    pub(super) enum Collector {
        /// `--otlp-endpoint`: the collector's base URL.
        Option(String),
        /// The standard variables name it; the exporter reads them.
        Environment,
    }

    impl std::fmt::Display for Collector {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Collector::Option(base) => f.write_str(&traces_url(base)),
                Collector::Environment => f.write_str("the OTEL_EXPORTER_OTLP_* endpoint"),
            }
        }
    }

    /// The collector `--otlp-endpoint` or else the standard variables name; `None`: no export.
    pub(super) fn collector(option: Option<&str>) -> Option<Collector> {
        if let Some(base) = option.filter(|e| !e.is_empty()) {
            return Some(Collector::Option(base.to_owned()));
        }
        ENDPOINT_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
            .then_some(Collector::Environment)
    }

    /// The tracer provider: a batch exporter on the tokio runtime, OTLP/HTTP with protobuf.
    pub(super) fn provider(collector: &Collector) -> anyhow::Result<SdkTracerProvider> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(client()?);
        if let Collector::Option(base) = collector {
            exporter = exporter.with_endpoint(traces_url(base));
        }
        let exporter = exporter.build().context("building the OTLP span exporter")?;
        let processor =
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
        Ok(SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource())
            .build())
    }

    /// As for `OTEL_EXPORTER_OTLP_ENDPOINT`, `--otlp-endpoint` names the collector and the
    /// traces path is appended (unless it is there already).
    pub(super) fn traces_url(base: &str) -> String {
        let base = base.trim_end_matches('/');
        if base.ends_with("/v1/traces") { base.to_owned() } else { format!("{base}/v1/traces") }
    }

    type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

    /// hyper's client, with rustls on the ring provider for `https://` collectors: the HTTP
    /// and TLS stacks the S3 proxy backend already uses, so export adds neither.
    fn client() -> anyhow::Result<opentelemetry_http::hyper::HyperClient<Https>> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .context("TLS for the OTLP exporter")?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(opentelemetry_http::hyper::HyperClient::new(https, export_timeout(), None))
    }

    /// The per-request timeout the exporter itself applies (it reads the same variables).
    fn export_timeout() -> Duration {
        ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
    }

    /// `service.name` from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`, else `s3gate`;
    /// `service.version` the package version with the commit as build metadata.
    fn resource() -> Resource {
        let service = Key::from_static_str("service.name");
        let named = Resource::builder()
            .build()
            .get(&service)
            .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
        let version = concat!(env!("CARGO_PKG_VERSION"), "+", env!("S3GATE_GIT_COMMIT"));
        let builder = Resource::builder().with_attribute(KeyValue::new("service.version", version));
        if named { builder } else { builder.with_service_name("s3gate") }.build()
    }

    /// The tracing layer that turns spans into OpenTelemetry spans, with its filter.
    pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("s3gate"))
            // The attributes are the spans' own fields; the source location, thread and target
            // of a span made on some tokio worker say nothing to whoever reads the trace.
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(export_filter())
    }

    /// Request spans; store-call spans inside a request (the collector's would each start a
    /// trace of their own); warnings and errors inside a request, which become span events.
    fn export_filter<S>() -> impl tracing_subscriber::layer::Filter<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        DynFilterFn::new(|meta, cx| {
            if meta.target() == spans::TARGET && meta.name() == spans::REQUEST {
                return true;
            }
            is_exported(meta) && cx.lookup_current().is_some()
        })
        .with_callsite_filter(|meta| {
            if is_exported(meta) { Interest::sometimes() } else { Interest::never() }
        })
        .with_max_level_hint(LevelFilter::INFO)
    }

    fn is_exported(meta: &tracing::Metadata<'_>) -> bool {
        if meta.target() == spans::TARGET {
            return true;
        }
        meta.is_event() && *meta.level() <= Level::WARN
    }

    /// Parents a request's span on the caller's span when the request carries `traceparent`.
    pub(super) fn span_parent() -> spans::SpanParent {
        let propagator = TraceContextPropagator::new();
        spans::SpanParent(Arc::new(move |headers, span| {
            if headers.contains_key("traceparent") {
                let parent = propagator.extract(&opentelemetry_http::HeaderExtractor(headers));
                // Fails only for a span no exporter records: then there is nothing to parent.
                let _ = span.set_parent(parent);
            }
        }))
    }

    /// Flushes the queued spans and stops the exporter. The batch task runs on the runtime's
    /// workers while a blocking thread waits for it; a collector that does not answer delays
    /// the exit by at most [`SHUTDOWN_WAIT`].
    pub(super) fn shutdown(provider: SdkTracerProvider, runtime: &tokio::runtime::Runtime) {
        let flushed = runtime.block_on(async {
            tokio::time::timeout(
                SHUTDOWN_WAIT,
                tokio::task::spawn_blocking(move || provider.shutdown()),
            )
            .await
        });
        match flushed {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "flushing spans at shutdown failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing spans at shutdown failed"),
            Err(_) => tracing::warn!(
                "spans still queued after {} s at shutdown were dropped",
                SHUTDOWN_WAIT.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        write!(Escaping(&mut out), "{s}").unwrap();
        out
    }

    /// Which of rustls's SNI warning and s3gate's own warning pass the filter of `spec`.
    fn passes(spec: &str) -> (bool, bool) {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt as _;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || Capture(Arc::clone(&record)))
            .with_filter(env_filter(spec).unwrap());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "rustls::msgs::handshake", "Illegal SNI extension");
            tracing::warn!(target: "s3gate::server", "own warning");
        });
        let out = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        (out.contains("Illegal SNI"), out.contains("own warning"))
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_ip_address_as_sni_is_not_a_warning_per_handshake() {
        assert_eq!(passes("info"), (false, true));
        assert_eq!(passes("warn,s3gate=debug"), (false, true));
        // Asked for by name, it is shown.
        assert_eq!(passes("info,rustls=warn"), (true, true));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped("plain key/é 日本"), "plain key/é 日本");
        assert_eq!(escaped("a\r\nfake line"), "a\\r\\nfake line");
        assert_eq!(escaped("\u{1b}[31mred\u{7}\t"), "\\u{1b}[31mred\\u{7}\\t");
        assert_eq!(escaped("\u{7f}\u{85}\u{9b}\u{2028}\0"), "\\u{7f}\\u{85}\\u{9b}\\u{2028}\\u{0}");
        assert_eq!(escaped(""), "");
    }
}
