//! Statistics over rounds, JSON lines and the markdown report.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

/// One figure measured in one round of a scenario.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// Metric name, e.g. `ops_per_s`, `p50_ms`.
    pub(crate) metric: String,
    /// Unit shown in the report.
    pub(crate) unit: &'static str,
    /// The value.
    pub(crate) value: f64,
}

impl Sample {
    pub(crate) fn new(metric: &str, unit: &'static str, value: f64) -> Self {
        Self { metric: metric.to_owned(), unit, value }
    }
}

/// A figure over all rounds: the median (the maximum for peaks).
#[derive(Clone, Debug)]
pub(crate) struct Metric {
    /// `s3gate`, `peer` or `machine`.
    pub(crate) target: String,
    /// Scenario name, e.g. `put_4k_c32`.
    pub(crate) scenario: String,
    /// Metric name.
    pub(crate) name: String,
    /// Unit.
    pub(crate) unit: &'static str,
    /// Median of the rounds (maximum for `*peak*` metrics).
    pub(crate) value: f64,
    /// Every round's value, in order.
    pub(crate) rounds: Vec<f64>,
}

impl Metric {
    /// Folds the rounds of one metric.
    pub(crate) fn fold(target: &str, scenario: &str, rounds: &[Sample]) -> Option<Self> {
        let first = rounds.first()?;
        let values: Vec<f64> = rounds.iter().map(|s| s.value).collect();
        let value = if first.metric.contains("peak") {
            values.iter().copied().fold(f64::NAN, f64::max)
        } else {
            median(&values)
        };
        Some(Self {
            target: target.to_owned(),
            scenario: scenario.to_owned(),
            name: first.metric.clone(),
            unit: first.unit,
            value,
            rounds: values,
        })
    }

    /// The JSON line for this metric.
    pub(crate) fn to_json(&self) -> String {
        json!({
            "target": self.target,
            "scenario": self.scenario,
            "metric": self.name,
            "unit": self.unit,
            "value": round3(self.value),
            "rounds": self.rounds.iter().map(|v| round3(*v)).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Median of `values` (mean of the middle two for an even count); NaN when empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// Nearest-rank percentile `q` (0..=1) of `sorted`, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len() as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // In 0..len by construction.
    let rank = ((q * n).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The samples every latency-recording scenario reports: rate, p50, p99.
pub(crate) fn latency_samples(
    prefix: &str,
    mut lat: Vec<Duration>,
    elapsed: Duration,
) -> Vec<Sample> {
    lat.sort_unstable();
    let p = |m: &str| if prefix.is_empty() { m.to_owned() } else { format!("{prefix}_{m}") };
    vec![
        Sample {
            metric: p("ops_per_s"),
            unit: "ops/s",
            value: lat.len() as f64 / elapsed.as_secs_f64(),
        },
        Sample { metric: p("p50_ms"), unit: "ms", value: percentile_ms(&lat, 0.50) },
        Sample { metric: p("p99_ms"), unit: "ms", value: percentile_ms(&lat, 0.99) },
    ]
}

/// MiB/s for `bytes` moved in `elapsed`.
pub(crate) fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

/// What the markdown header says about the machine and the run.
pub(crate) struct RunInfo {
    pub(crate) command: String,
    pub(crate) date: String,
    pub(crate) nproc: usize,
    pub(crate) cpu: String,
    pub(crate) mem: String,
    pub(crate) kernel: String,
}

impl RunInfo {
    /// Reads the machine description from /proc.
    pub(crate) fn collect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or_else(|| "unknown".to_owned(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Self {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            date,
            nproc: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu,
            mem,
            kernel,
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown report: machine, command, ceilings, then one row per scenario metric with the
/// peer beside s3gate when there is one.
pub(crate) fn markdown(
    info: &RunInfo,
    metrics: &[Metric],
    failures: &[String],
    redact: &[&str],
) -> String {
    let mut command = info.command.clone();
    for secret in redact.iter().filter(|s| !s.is_empty()) {
        command = command.replace(secret, "***");
    }
    let mut out = String::new();
    let _ = writeln!(out, "# s3gate-bench results\n");
    let _ = writeln!(out, "- date: {}", info.date);
    let _ = writeln!(
        out,
        "- machine: {} × {}, {} RAM, Linux {}",
        info.nproc, info.cpu, info.mem, info.kernel
    );
    let _ = writeln!(out, "- command: `{command}`\n");
    let machine: Vec<&Metric> = metrics.iter().filter(|m| m.target == "machine").collect();
    if !machine.is_empty() {
        let _ = writeln!(
            out,
            "## Machine ceilings\n\n| ceiling | value | unit | rounds |\n|---|---:|---|---|"
        );
        for m in machine {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} |",
                m.scenario,
                m.name,
                fmt_value(m.value),
                m.unit,
                rounds(m)
            );
        }
        out.push('\n');
    }
    let has_peer = metrics.iter().any(|m| m.target == "peer");
    let _ = writeln!(out, "## Scenarios (median of rounds; peaks are maxima)\n");
    if has_peer {
        let _ = writeln!(
            out,
            "| scenario | metric | s3gate | peer | s3gate/peer | unit |\n|---|---|---:|---:|---:|---|"
        );
    } else {
        let _ =
            writeln!(out, "| scenario | metric | s3gate | unit | rounds |\n|---|---|---:|---|---|");
    }
    for m in metrics.iter().filter(|m| m.target == "s3gate") {
        if has_peer {
            let peer = metrics
                .iter()
                .find(|p| p.target == "peer" && p.scenario == m.scenario && p.name == m.name)
                .map_or(f64::NAN, |p| p.value);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                m.scenario,
                m.name,
                fmt_value(m.value),
                fmt_value(peer),
                fmt_value(m.value / peer),
                m.unit
            );
        } else {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.scenario,
                m.name,
                fmt_value(m.value),
                m.unit,
                rounds(m)
            );
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for f in failures {
            let _ = writeln!(out, "- {f}");
        }
    }
    out
}

fn rounds(m: &Metric) -> String {
    m.rounds.iter().map(|v| fmt_value(*v)).collect::<Vec<_>>().join(" / ")
}

#[cfg(test)]
// The figures compared are exact by construction (medians of small integers).
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let lat: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&lat, 0.5) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&lat, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&lat, 1.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn peaks_fold_to_the_maximum_and_others_to_the_median() {
        let s = |m: &str, v| Sample::new(m, "x", v);
        let peak = Metric::fold(
            "s3gate",
            "a",
            &[
                s("server_rss_peak_mib", 5.0),
                s("server_rss_peak_mib", 9.0),
                s("server_rss_peak_mib", 1.0),
            ],
        )
        .unwrap();
        assert_eq!(peak.value, 9.0);
        let rate = Metric::fold(
            "s3gate",
            "a",
            &[s("ops_per_s", 5.0), s("ops_per_s", 9.0), s("ops_per_s", 1.0)],
        )
        .unwrap();
        assert_eq!(rate.value, 5.0);
        assert!(rate.to_json().contains("\"rounds\":[5.0,9.0,1.0]"));
    }

    #[test]
    fn markdown_redacts_secrets_and_pairs_the_peer() {
        let info = RunInfo {
            command: "bench --secret-key hunter2".to_owned(),
            date: "d".to_owned(),
            nproc: 2,
            cpu: "c".to_owned(),
            mem: "m".to_owned(),
            kernel: "k".to_owned(),
        };
        let m = |t: &str, v| Metric {
            target: t.to_owned(),
            scenario: "get".to_owned(),
            name: "ops_per_s".to_owned(),
            unit: "ops/s",
            value: v,
            rounds: vec![v],
        };
        let md = markdown(&info, &[m("s3gate", 200.0), m("peer", 100.0)], &[], &["hunter2"]);
        assert!(!md.contains("hunter2"));
        assert!(md.contains("| get | ops_per_s | 200 | 100 | 2.00 | ops/s |"), "{md}");
    }
}
