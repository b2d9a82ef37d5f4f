//! Process-wide metrics of s3gate, exposed in the Prometheus text format.
//!
//! [`global`] is the one registry of the process: any crate bumps its counters without
//! depending on the server, e.g. the S3 proxy backend counts a retried upstream request with
//! `s3gate_metrics::global().upstream_retries.inc()`. The primitives ([`Counter`], [`Gauge`],
//! [`Histogram`]) are lock-free atomics; a labelled [`Family`] takes a read lock to find its
//! child. [`Metrics::render`] writes the text exposition format (version 0.0.4) by hand.
//!
//! ```
//! let m = s3gate_metrics::global();
//! m.requests.with(&["GetObject", "200"]).inc();
//! let mut text = String::new();
//! m.render(&mut text);
//! assert!(text.contains("s3gate_requests_total{operation=\"GetObject\",status=\"200\"}"));
//! ```
//!
//! Values that live elsewhere (metadata group commits, the collector's backlog, build info)
//! are written at scrape time by the caller with [`write_sample`] and [`write_header`].
//! The crate has no dependency and does no I/O.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms: 0.5 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// A gauge at zero.
    pub const fn new() -> Self {
        Gauge(AtomicI64::new(0))
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Increments now and decrements when the guard drops (requests or connections in flight,
    /// counted correctly even when the future holding the guard is cancelled).
    pub fn track(&self) -> GaugeGuard<'_> {
        self.inc();
        GaugeGuard(self)
    }
}

/// Decrements its [`Gauge`] on drop; see [`Gauge::track`].
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A cumulative histogram with fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the `+Inf` bucket; not cumulative (summed when rendered).
    counts: Box<[AtomicU64]>,
    /// Sum of observations as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with the given ascending upper bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }
    /// A latency histogram ([`LATENCY_BUCKETS`]).
    pub fn latency() -> Self {
        Self::new(LATENCY_BUCKETS)
    }
    /// Records one value.
    pub fn observe(&self, v: f64) {
        let i = self.bounds.iter().position(|&b| v <= b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.sum.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }
    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| format!("{b}"));
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum());
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// A family's children: label values joined with U+001F → (the values, the child).
type Children<M> = HashMap<String, (Vec<String>, Arc<M>)>;

/// A metric of one kind with label values: one child per distinct label-value tuple, created on
/// first use.
#[derive(Debug)]
pub struct Family<M> {
    labels: &'static [&'static str],
    make: fn() -> M,
    /// Keyed by the label values joined with U+001F; the values are kept for rendering.
    children: RwLock<Children<M>>,
}

impl<M> Family<M> {
    /// A family with these label names; `make` builds a new child.
    pub fn new(labels: &'static [&'static str], make: fn() -> M) -> Self {
        Family { labels, make, children: RwLock::new(HashMap::new()) }
    }

    /// The child for `values` (one per label name, in order).
    pub fn with(&self, values: &[&str]) -> Arc<M> {
        debug_assert_eq!(values.len(), self.labels.len(), "label count");
        let key = values.join("\u{1f}");
        if let Some((_, m)) =
            self.children.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key)
        {
            return Arc::clone(m);
        }
        let mut map = self.children.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, m) = map.entry(key).or_insert_with(|| {
            (values.iter().map(|v| (*v).to_owned()).collect(), Arc::new((self.make)()))
        });
        Arc::clone(m)
    }

    /// Every child with its label values (in no particular order), for in-process readers
    /// such as the web console's dashboard.
    pub fn children(&self) -> Vec<(Vec<String>, Arc<M>)> {
        let map = self.children.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.values().map(|(values, m)| (values.clone(), Arc::clone(m))).collect()
    }

    /// Children sorted by label values, with their rendered label set.
    fn sorted(&self) -> Vec<(String, Arc<M>)> {
        let map = self.children.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<(String, Arc<M>)> = map
            .values()
            .map(|(values, m)| {
                let pairs: Vec<(&str, &str)> =
                    self.labels.iter().copied().zip(values.iter().map(String::as_str)).collect();
                (label_set(&pairs), Arc::clone(m))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Every metric s3gate keeps in-process. Names follow the Prometheus conventions.
#[derive(Debug)]
pub struct Metrics {
    /// `s3gate_requests_total{operation,status}`: S3 requests answered.
    pub requests: Family<Counter>,
    /// `s3gate_request_duration_seconds{operation}`: time from request head to response head.
    pub request_duration: Family<Histogram>,
    /// `s3gate_received_bytes_total`: request body bytes read from clients.
    pub received_bytes: Counter,
    /// `s3gate_sent_bytes_total`: response body bytes sent to clients.
    pub sent_bytes: Counter,
    /// `s3gate_requests_in_flight`: requests being answered.
    pub requests_in_flight: Gauge,
    /// `s3gate_open_connections`: client connections open (S3 listener).
    pub open_connections: Gauge,
    /// `s3gate_connections_total`: client connections accepted (S3 listener).
    pub connections: Counter,
    /// `s3gate_tls_handshake_failures_total`: TLS handshakes that failed.
    pub tls_handshake_failures: Counter,
    /// `s3gate_backend_duration_seconds{operation}`: blob store calls (`get` until the stream
    /// opens).
    pub backend_duration: Family<Histogram>,
    /// `s3gate_backend_errors_total{operation}`: blob store calls that failed.
    pub backend_errors: Family<Counter>,
    /// `s3gate_metadata_duration_seconds{operation}`: metadata store calls.
    pub metadata_duration: Family<Histogram>,
    /// `s3gate_metadata_errors_total{operation}`: metadata store calls that failed.
    pub metadata_errors: Family<Counter>,
    /// `s3gate_upstream_retries_total`: requests to an upstream S3 backend that were retried.
    pub upstream_retries: Counter,
    /// `s3gate_authz_decisions_total{outcome,reason}`: authorization decisions (each
    /// evaluation of a request, its copy source or a DeleteObjects key).
    pub authz_decisions: Family<Counter>,
    /// `s3gate_cache_lookups_total{cache,tier,result}`: read-cache lookups by tier (memory,
    /// disk) and result (hit, miss).
    pub cache_lookups: Family<Counter>,
    /// `s3gate_cache_bytes_total{cache,source}`: bytes the read cache served from memory or
    /// disk, and read from the store behind it (`behind`).
    pub cache_bytes: Family<Counter>,
    /// `s3gate_cache_coalesced_total{cache}`: misses that waited for another reader's fill.
    pub cache_coalesced: Family<Counter>,
    /// `s3gate_cache_corrupt_total{cache}`: cache entries that failed their check and were
    /// refetched.
    pub cache_corrupt: Family<Counter>,
    /// `s3gate_cache_evictions_total{cache,tier}`: entries evicted.
    pub cache_evictions: Family<Counter>,
    /// `s3gate_cache_used_bytes{cache,tier}`: bytes held.
    pub cache_used_bytes: Family<Gauge>,
    /// `s3gate_cache_fill_duration_seconds{cache}`: reads of the store behind the cache.
    pub cache_fill_duration: Family<Histogram>,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            requests: Family::new(&["operation", "status"], Counter::new),
            request_duration: Family::new(&["operation"], Histogram::latency),
            received_bytes: Counter::new(),
            sent_bytes: Counter::new(),
            requests_in_flight: Gauge::new(),
            open_connections: Gauge::new(),
            connections: Counter::new(),
            tls_handshake_failures: Counter::new(),
            backend_duration: Family::new(&["operation"], Histogram::latency),
            backend_errors: Family::new(&["operation"], Counter::new),
            metadata_duration: Family::new(&["operation"], Histogram::latency),
            metadata_errors: Family::new(&["operation"], Counter::new),
            upstream_retries: Counter::new(),
            authz_decisions: Family::new(&["outcome", "reason"], Counter::new),
            cache_lookups: Family::new(&["cache", "tier", "result"], Counter::new),
            cache_bytes: Family::new(&["cache", "source"], Counter::new),
            cache_coalesced: Family::new(&["cache"], Counter::new),
            cache_corrupt: Family::new(&["cache"], Counter::new),
            cache_evictions: Family::new(&["cache", "tier"], Counter::new),
            cache_used_bytes: Family::new(&["cache", "tier"], Gauge::new),
            cache_fill_duration: Family::new(&["cache"], Histogram::latency),
        }
    }

    /// Appends every metric in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        counter_family(out, "s3gate_requests_total", "S3 requests answered.", &self.requests);
        histogram_family(
            out,
            "s3gate_request_duration_seconds",
            "Time from request head to response head, by operation.",
            &self.request_duration,
        );
        scalar(
            out,
            "s3gate_received_bytes_total",
            "counter",
            "Request body bytes read from clients.",
            self.received_bytes.get(),
        );
        scalar(
            out,
            "s3gate_sent_bytes_total",
            "counter",
            "Response body bytes sent to clients.",
            self.sent_bytes.get(),
        );
        scalar(
            out,
            "s3gate_requests_in_flight",
            "gauge",
            "Requests being answered.",
            self.requests_in_flight.get(),
        );
        scalar(
            out,
            "s3gate_open_connections",
            "gauge",
            "Client connections open on the S3 listener.",
            self.open_connections.get(),
        );
        scalar(
            out,
            "s3gate_connections_total",
            "counter",
            "Client connections accepted on the S3 listener.",
            self.connections.get(),
        );
        scalar(
            out,
            "s3gate_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed.",
            self.tls_handshake_failures.get(),
        );
        histogram_family(
            out,
            "s3gate_backend_duration_seconds",
            "Blob store call latency (get: until the stream opens), by operation.",
            &self.backend_duration,
        );
        counter_family(
            out,
            "s3gate_backend_errors_total",
            "Blob store calls that failed, by operation.",
            &self.backend_errors,
        );
        histogram_family(
            out,
            "s3gate_metadata_duration_seconds",
            "Metadata store call latency, by operation.",
            &self.metadata_duration,
        );
        counter_family(
            out,
            "s3gate_metadata_errors_total",
            "Metadata store calls that failed, by operation.",
            &self.metadata_errors,
        );
        scalar(
            out,
            "s3gate_upstream_retries_total",
            "counter",
            "Requests to an upstream S3 backend that were retried.",
            self.upstream_retries.get(),
        );
        counter_family(
            out,
            "s3gate_authz_decisions_total",
            "Authorization decisions, by outcome (allow, explicit_deny, implicit_deny) and reason.",
            &self.authz_decisions,
        );
        self.render_cache(out);
    }

    fn render_cache(&self, out: &mut String) {
        counter_family(
            out,
            "s3gate_cache_lookups_total",
            "Read-cache lookups, by cache, tier (memory, disk) and result (hit, miss).",
            &self.cache_lookups,
        );
        counter_family(
            out,
            "s3gate_cache_bytes_total",
            "Bytes the read cache served from memory or disk, or read from the store behind it.",
            &self.cache_bytes,
        );
        counter_family(
            out,
            "s3gate_cache_coalesced_total",
            "Read-cache misses that waited for another reader's fill.",
            &self.cache_coalesced,
        );
        counter_family(
            out,
            "s3gate_cache_corrupt_total",
            "Read-cache entries that failed their check and were refetched.",
            &self.cache_corrupt,
        );
        counter_family(
            out,
            "s3gate_cache_evictions_total",
            "Read-cache entries evicted, by cache and tier.",
            &self.cache_evictions,
        );
        gauge_family(
            out,
            "s3gate_cache_used_bytes",
            "Bytes the read cache holds, by cache and tier.",
            &self.cache_used_bytes,
        );
        histogram_family(
            out,
            "s3gate_cache_fill_duration_seconds",
            "Reads of the store behind the read cache.",
            &self.cache_fill_duration,
        );
    }
}

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Writes the `# HELP` and `# TYPE` lines of a metric (`kind`: counter, gauge, histogram).
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line `name{labels} value`.
pub fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{}}} {value}", label_set(labels));
    }
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    write_header(out, name, kind, help);
    write_sample(out, name, &[], value);
}

fn counter_family(out: &mut String, name: &str, help: &str, family: &Family<Counter>) {
    write_header(out, name, "counter", help);
    for (labels, c) in family.sorted() {
        let _ = writeln!(out, "{name}{{{labels}}} {}", c.get());
    }
}

fn gauge_family(out: &mut String, name: &str, help: &str, family: &Family<Gauge>) {
    write_header(out, name, "gauge", help);
    for (labels, g) in family.sorted() {
        let _ = writeln!(out, "{name}{{{labels}}} {}", g.get());
    }
}

fn histogram_family(out: &mut String, name: &str, help: &str, family: &Family<Histogram>) {
    write_header(out, name, "histogram", help);
    for (labels, h) in family.sorted() {
        h.render(out, name, &labels);
    }
}

/// `a="x",b="y"` with the values escaped as the text format requires.
fn label_set(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"");
        for ch in v.chars() {
            match ch {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        static B: &[f64] = &[0.1, 1.0];
        let h = Histogram::new(B);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(0.5);
        h.observe(7.0);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "op=\"a\"");
        assert_eq!(
            out,
            "x_seconds_bucket{op=\"a\",le=\"0.1\"} 1\n\
             x_seconds_bucket{op=\"a\",le=\"1\"} 3\n\
             x_seconds_bucket{op=\"a\",le=\"+Inf\"} 4\n\
             x_seconds_sum{op=\"a\"} 8.05\n\
             x_seconds_count{op=\"a\"} 4\n"
        );
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn family_children_are_shared_and_rendered_sorted_and_escaped() {
        let f: Family<Counter> = Family::new(&["op", "status"], Counter::new);
        f.with(&["b", "200"]).inc();
        f.with(&["a\"\\\n", "500"]).add(2);
        f.with(&["b", "200"]).inc();
        let mut out = String::new();
        counter_family(&mut out, "t_total", "help", &f);
        assert_eq!(
            out,
            "# HELP t_total help\n# TYPE t_total counter\n\
             t_total{op=\"a\\\"\\\\\\n\",status=\"500\"} 2\n\
             t_total{op=\"b\",status=\"200\"} 2\n"
        );
    }

    #[test]
    fn gauge_guard_decrements_on_drop() {
        let g = Gauge::new();
        {
            let _a = g.track();
            let _b = g.track();
            assert_eq!(g.get(), 2);
        }
        assert_eq!(g.get(), 0);
    }

    #[test]
    fn samples_without_labels_have_no_braces() {
        let mut out = String::new();
        write_sample(&mut out, "s3gate_build_info", &[("version", "1.0")], 1);
        write_sample(&mut out, "up", &[], 1);
        assert_eq!(out, "s3gate_build_info{version=\"1.0\"} 1\nup 1\n");
    }
}
