//! The dashboard: the gateway's own counters (`s3gate_metrics::global()`), sampled every few
//! seconds into a ring buffer, drawn as inline SVG line charts.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// How often the counters are sampled.
pub(crate) const EVERY: Duration = Duration::from_secs(5);
/// Samples kept: ten minutes.
const KEEP: usize = 120;

/// The counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) client_errors: u64,
    pub(crate) server_errors: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) latency_count: u64,
    pub(crate) latency_sum: f64,
}

impl Totals {
    /// The process's counters now.
    pub(crate) fn now() -> Totals {
        let m = s3gate_metrics::global();
        let mut t = Totals {
            bytes_in: m.received_bytes.get(),
            bytes_out: m.sent_bytes.get(),
            ..Totals::default()
        };
        for (labels, c) in m.requests.children() {
            let n = c.get();
            t.requests += n;
            match labels.get(1).map(|s| s.as_bytes().first()) {
                Some(Some(b'4')) => t.client_errors += n,
                Some(Some(b'5')) => t.server_errors += n,
                _ => {}
            }
        }
        for (_, h) in m.request_duration.children() {
            t.latency_count += h.count();
            t.latency_sum += h.sum();
        }
        t
    }
}

/// One interval's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub(crate) requests: f64,
    pub(crate) errors: f64,
    pub(crate) bytes_in: f64,
    pub(crate) bytes_out: f64,
    /// Mean latency in milliseconds of the interval's requests (0 without requests).
    pub(crate) latency_ms: f64,
}

/// What changed from `a` to `b` over `secs` seconds, per second.
#[allow(clippy::cast_precision_loss, reason = "rates for a chart")]
pub(crate) fn rates(a: &Totals, b: &Totals, secs: f64) -> Rates {
    let per = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
    let count = b.latency_count.saturating_sub(a.latency_count);
    Rates {
        requests: per(a.requests, b.requests),
        errors: per(a.client_errors + a.server_errors, b.client_errors + b.server_errors),
        bytes_in: per(a.bytes_in, b.bytes_in),
        bytes_out: per(a.bytes_out, b.bytes_out),
        latency_ms: if count == 0 {
            0.0
        } else {
            (b.latency_sum - a.latency_sum) * 1000.0 / count as f64
        },
    }
}

/// The ring buffer of samples.
pub(crate) struct Samples {
    ring: Mutex<(Option<Totals>, VecDeque<Rates>)>,
}

impl Samples {
    pub(crate) fn new() -> Self {
        Samples { ring: Mutex::new((None, VecDeque::with_capacity(KEEP))) }
    }

    /// Adds a sample of the counters taken `EVERY` after the previous one.
    pub(crate) fn push(&self, now: Totals) {
        let mut ring = self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(prev) = ring.0 {
            if ring.1.len() == KEEP {
                ring.1.pop_front();
            }
            let r = rates(&prev, &now, EVERY.as_secs_f64());
            ring.1.push_back(r);
        }
        ring.0 = Some(now);
    }

    /// The rates kept, oldest first, and the latest totals.
    pub(crate) fn snapshot(&self) -> (Vec<Rates>, Totals) {
        let ring = self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (ring.1.iter().copied().collect(), ring.0.unwrap_or_default())
    }
}

/// A line chart of `values` (oldest first) as inline SVG, with its title and latest value.
pub(crate) fn chart(title: &str, unit: &str, values: &[f64]) -> String {
    const W: f64 = 320.0;
    const H: f64 = 90.0;
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let mut points = String::new();
    #[allow(clippy::cast_precision_loss, reason = "chart coordinates")]
    let step = W / (KEEP.saturating_sub(1)) as f64;
    let offset = KEEP.saturating_sub(values.len());
    for (i, v) in values.iter().enumerate() {
        #[allow(clippy::cast_precision_loss, reason = "chart coordinates")]
        let x = (offset + i) as f64 * step;
        let y = H - v / top * H;
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    let last = values.last().copied().unwrap_or(0.0);
    let title = super::pages::esc(title);
    format!(
        "<figure class=\"chart\"><figcaption>{title}: <strong>{last:.1} {unit}</strong> \
         (max {max:.1})</figcaption><svg viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{title}, last ten minutes\" preserveAspectRatio=\"none\">\
         <rect width=\"{W}\" height=\"{H}\" fill=\"#f6f8fa\"/>\
         <polyline fill=\"none\" stroke=\"#0550ae\" stroke-width=\"2\" points=\"{}\"/></svg></figure>",
        points.trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_between_samples() {
        let a = Totals {
            requests: 10,
            client_errors: 1,
            latency_count: 10,
            latency_sum: 1.0,
            ..Totals::default()
        };
        let b = Totals {
            requests: 20,
            client_errors: 2,
            server_errors: 1,
            bytes_in: 500,
            bytes_out: 1000,
            latency_count: 20,
            latency_sum: 3.0,
        };
        let r = rates(&a, &b, 5.0);
        assert_eq!(
            r,
            Rates {
                requests: 2.0,
                errors: 0.4,
                bytes_in: 100.0,
                bytes_out: 200.0,
                latency_ms: 200.0
            }
        );
        // No requests: no latency; counters never go backwards into negative rates.
        assert!(rates(&b, &b, 5.0).latency_ms.abs() < f64::EPSILON);
        assert!(rates(&b, &a, 5.0).requests.abs() < f64::EPSILON);
    }

    #[test]
    fn ring_keeps_the_last_ten_minutes() {
        let s = Samples::new();
        for i in 0..=(KEEP as u64 + 5) {
            s.push(Totals { requests: i * 5, ..Totals::default() });
        }
        let (rates, last) = s.snapshot();
        assert_eq!(rates.len(), KEEP);
        assert!(rates.iter().all(|r| (r.requests - 1.0).abs() < 1e-9));
        assert_eq!(last.requests, (KEEP as u64 + 5) * 5);
        let svg = chart("Requests <all>", "/s", &[0.0, 1.0, 2.0]);
        assert!(svg.contains("Requests &lt;all&gt;"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("2.0 /s"));
    }
}
