//! The endpoints under test: an SDK client per endpoint, an optional gateway process the bench
//! starts itself, and the /proc sampler that watches the server's memory and CPU.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};

use crate::report::Sample;

/// One S3 endpoint under test.
pub(crate) struct Target {
    /// `s3gate` or `peer`.
    pub(crate) name: String,
    /// The SDK client.
    pub(crate) client: Client,
    /// The server's pid, when known, for RSS and CPU figures.
    pub(crate) pid: Option<u32>,
}

/// Builds the official SDK client the way an application would: plain HTTP, path-style,
/// default checksums unless `when_required`.
pub(crate) fn client(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    when_required: bool,
) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "s3gate-bench"))
        .force_path_style(true)
        // A 1 GiB transfer on two shared cores may pause while the other side hashes.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .http_client(http);
    if when_required {
        conf = conf
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    Client::from_conf(conf.build())
}

/// A gateway process started by the bench on a fresh data directory.
pub(crate) struct Spawned {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) endpoint: String,
    /// Generated root access key.
    pub(crate) access_key: String,
    /// Generated root secret key.
    pub(crate) secret_key: String,
    /// The data directory (removed on drop).
    pub(crate) data_dir: tempfile::TempDir,
    /// `host:port` of the operations listener, when the gateway printed one.
    pub(crate) metrics: Option<String>,
}

impl Spawned {
    /// Starts `binary serve` on 127.0.0.1:0 and waits for its `listening on` line.
    pub(crate) fn start(binary: &Path, parent: &Path) -> anyhow::Result<Self> {
        Self::start_with(binary, parent, &[], &[])
    }

    /// As [`Spawned::start`], with extra `serve` arguments and environment variables.
    pub(crate) fn start_with(
        binary: &Path,
        parent: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("s3gate-bench-data-")
            .tempdir_in(parent)
            .context("creating the gateway's data directory")?;
        let access_key = format!("BENCH{}", random_hex(8)?.to_uppercase());
        let secret_key = random_hex(20)?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("S3GATE_ACCESS_KEY", &access_key)
            .env("S3GATE_SECRET_KEY", &secret_key)
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let endpoint = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                bail!("{} exited before it listened", binary.display());
            };
            let line = line?;
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        // The operations listener's line follows the S3 listener's when it is on.
        let metrics = match lines.next() {
            Some(Ok(line)) => line
                .strip_prefix("metrics on http://")
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned),
            _ => None,
        };
        // Keep draining stdout so the gateway never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, endpoint, access_key, secret_key, data_dir, metrics })
    }

    /// The gateway's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut b = vec![0; bytes];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    Ok(hex::encode(b))
}

/// Resident set size of `pid` now, in MiB.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Bytes `pid` has passed to read() and pread() (`rchar` in `/proc/PID/io`): for the disk
/// blob store, which reads blobs with read(), every byte of a blob a GET fetches, from the
/// page cache or not (sockets are read with recv(), which does not count).
fn read_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|l| l.strip_prefix("rchar:"))?.trim().parse().ok()
}

/// Samples a server's VmRSS every 50 ms, and its CPU time and bytes read over a scenario.
pub(crate) struct Sampler {
    pid: u32,
    start_ticks: Option<u64>,
    start_read: Option<u64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<f64>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub(crate) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0.0f64;
            loop {
                if let Some(r) = rss_mib(pid) {
                    peak = peak.max(r);
                }
                if flag.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self { pid, start_ticks: cpu_ticks(pid), start_read: read_bytes(pid), stop, thread }
    }

    /// Stops and returns the peak RSS, the CPU seconds spent and the MiB read since `start`.
    pub(crate) fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.thread.join().unwrap_or(f64::NAN);
        let cpu = match (self.start_ticks, cpu_ticks(self.pid)) {
            (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / clock_ticks_per_s(),
            _ => f64::NAN,
        };
        let read = match (self.start_read, read_bytes(self.pid)) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / f64::from(1u32 << 20),
            _ => f64::NAN,
        };
        vec![
            Sample::new("server_rss_peak_mib", "MiB", peak),
            Sample::new("server_cpu_s", "s", cpu),
            Sample::new("server_read_mib", "MiB", read),
        ]
    }
}

/// Where generated files and spawned data directories go by default.
pub(crate) fn default_work_dir() -> PathBuf {
    std::env::temp_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_rss_and_cpu() {
        let pid = std::process::id();
        assert!(rss_mib(pid).unwrap() > 0.1);
        let s = Sampler::start(pid);
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        std::thread::sleep(Duration::from_millis(120));
        let out = s.finish();
        assert!(out[0].value > 0.1, "{out:?}");
        assert!(out[1].value >= 0.0, "{out:?}");
        assert!(out[2].value >= 0.0, "{out:?}");
    }
}
