//! Memory: a 2 GiB object goes through the gateway in constant memory. Slow, so it only runs
//! when `S3GATE_TEST_LARGE=1` (CI sets it).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest as _, Sha256};

use crate::harness::{Flavour, Gateway, Rng, bucket_name, create_bucket, rss_kib};

const SIZE: u64 = 2 * 1024 * 1024 * 1024;
const LIMIT_KIB: u64 = 100 * 1024;

/// Writes `SIZE` pseudo-random bytes to `path` in 8 MiB chunks; returns their SHA-256.
fn write_big_file(path: &std::path::Path) -> String {
    let mut rng = Rng::from_os("memory test body");
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = Sha256::new();
    let mut chunk = vec![0u8; 8 * 1024 * 1024];
    let mut written = 0u64;
    while written < SIZE {
        for w in chunk.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        h.update(&chunk);
        f.write_all(&chunk).unwrap();
        written += chunk.len() as u64;
    }
    f.flush().unwrap();
    hex::encode(h.finalize())
}

/// Samples the server's `VmRSS` every 100 ms until stopped; returns the peak in KiB.
fn sample_rss(
    pid: u32,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(kib) = rss_kib(pid) {
                peak.fetch_max(kib, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gib_object_in_bounded_memory() {
    if std::env::var("S3GATE_TEST_LARGE").as_deref() != Ok("1") {
        println!(
            "SKIPPED two_gib_object_in_bounded_memory: set S3GATE_TEST_LARGE=1 to upload and \
             download a 2 GiB object while checking the server's peak RSS (< 100 MiB)"
        );
        return;
    }
    let gw = Gateway::start();
    let file = tempfile::NamedTempFile::new().unwrap();
    let t = Instant::now();
    let want = write_big_file(file.path());
    println!("wrote 2 GiB test file in {:?}", t.elapsed());
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = sample_rss(gw.pid(), Arc::clone(&stop), Arc::clone(&peak));
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("big", flavour);
        create_bucket(&c, &b).await;
        let t = Instant::now();
        let body = ByteStream::from_path(file.path()).await.unwrap();
        c.put_object()
            .bucket(&b)
            .key("two-gib")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT 2 GiB ({flavour:?}): {e:?}"));
        println!(
            "{flavour:?}: PUT 2 GiB in {:?}, peak RSS so far {} KiB",
            t.elapsed(),
            peak.load(Ordering::Relaxed)
        );
        let t = Instant::now();
        let mut out = c.get_object().bucket(&b).key("two-gib").send().await.unwrap();
        assert_eq!(out.content_length(), Some(i64::try_from(SIZE).unwrap()));
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = out.body.next().await {
            let chunk = chunk.expect("download chunk");
            n += chunk.len() as u64;
            h.update(&chunk);
        }
        println!("{flavour:?}: GET 2 GiB in {:?}", t.elapsed());
        assert_eq!(n, SIZE, "downloaded length");
        assert_eq!(hex::encode(h.finalize()), want, "downloaded bytes hash to the uploaded hash");
        c.delete_object().bucket(&b).key("two-gib").send().await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    println!("peak server RSS {peak} KiB");
    assert!(peak > 0, "RSS was sampled");
    assert!(peak < LIMIT_KIB, "server peak RSS {peak} KiB >= 100 MiB");
}
