//! This machine's ceilings, measured in the same run as the scenarios: one-core MD5 and SHA-256,
//! one-core AES-256-GCM sealing and opening of s3gate's encrypted-object format, one loopback
//! TCP stream, sequential disk write + fdatasync, fsync latency.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use md5::{Digest as _, Md5};
use s3gate_crypto::{
    DataKey, Decryptor, Encryptor, FormatVersion, ObjectId, PartCipher, PartSalt, sealed_len,
};
use sha2::Sha256;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::content;
use crate::report::{Sample, mib_per_s, percentile_ms};

/// Sizes of one ceilings round.
#[derive(Clone, Copy)]
pub(crate) struct CeilingSizes {
    pub(crate) hash_bytes: usize,
    pub(crate) tcp_bytes: u64,
    pub(crate) disk_bytes: u64,
    pub(crate) fsyncs: usize,
}

impl CeilingSizes {
    pub(crate) fn new(quick: bool) -> Self {
        if quick {
            Self { hash_bytes: 64 << 20, tcp_bytes: 512 << 20, disk_bytes: 128 << 20, fsyncs: 50 }
        } else {
            Self { hash_bytes: 256 << 20, tcp_bytes: 2 << 30, disk_bytes: 1 << 30, fsyncs: 200 }
        }
    }
}

/// Hash throughput on one core, as (md5, sha256) samples.
pub(crate) fn hashes(buf: &[u8]) -> Vec<Sample> {
    let t = Instant::now();
    std::hint::black_box(Md5::digest(buf));
    let md5 = mib_per_s(buf.len() as u64, t.elapsed());
    let t = Instant::now();
    std::hint::black_box(Sha256::digest(buf));
    let sha = mib_per_s(buf.len() as u64, t.elapsed());
    vec![Sample::new("md5_mib_per_s", "MiB/s", md5), Sample::new("sha256_mib_per_s", "MiB/s", sha)]
}

/// Plaintext handed to the encryptor per call: the engine seals 256 KiB hasher batches.
const SEAL_CHUNK: usize = 256 << 10;

/// AES-256-GCM throughput on one core, as (seal, open) samples: `buf` sealed as one part with
/// `s3gate-crypto`'s own [`Encryptor`] (64 KiB packages, per-package nonce and AAD, the copy
/// into the package buffer included) and opened again with its [`Decryptor`], package by
/// package, as a GET of the whole part does. The open is checked: every package must
/// authenticate and the plaintext must come back whole.
pub(crate) fn aead(buf: &[u8]) -> anyhow::Result<Vec<Sample>> {
    let (key, object, salt) = (DataKey::generate()?, ObjectId::generate()?, PartSalt::generate()?);
    let cipher = PartCipher::new(FormatVersion::CURRENT, &key, &object, 1, &salt);

    // Timed, each package dropped as it is made, as the blob writer frees it once written: kept,
    // they would make the figure one of faulting in fresh memory (see docs/PERFORMANCE.md).
    let t = Instant::now();
    let mut enc = Encryptor::new(cipher.clone());
    for chunk in buf.chunks(SEAL_CHUNK) {
        std::hint::black_box(enc.push(chunk)?);
    }
    std::hint::black_box(enc.finish()?);
    let seal = mib_per_s(buf.len() as u64, t.elapsed());
    // Untimed: the same packages again, kept for the open.
    let mut enc = Encryptor::new(cipher.clone());
    let mut sealed: Vec<Bytes> = Vec::with_capacity(buf.len() / s3gate_crypto::PACKAGE_SIZE + 1);
    for chunk in buf.chunks(SEAL_CHUNK) {
        sealed.extend(enc.push(chunk)?);
    }
    sealed.push(enc.finish()?);
    let total: u64 = sealed.iter().map(|p| p.len() as u64).sum();
    ensure!(total == sealed_len(buf.len() as u64), "sealed {total} bytes");

    let t = Instant::now();
    let mut dec = Decryptor::new(cipher, buf.len() as u64);
    let mut opened = 0u64;
    for package in &sealed {
        for plain in dec.push(package)? {
            opened += plain.len() as u64;
            std::hint::black_box(plain);
        }
    }
    dec.finish()?;
    let open = mib_per_s(buf.len() as u64, t.elapsed());
    ensure!(opened == buf.len() as u64, "opened {opened} of {} bytes", buf.len());
    Ok(vec![
        Sample::new("aes256gcm_seal_mib_per_s", "MiB/s", seal),
        Sample::new("aes256gcm_open_mib_per_s", "MiB/s", open),
    ])
}

/// One loopback TCP stream moving `total` bytes, writer and reader as tokio tasks.
pub(crate) async fn loopback(total: u64) -> anyhow::Result<Sample> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let writer = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await?;
        let buf = vec![0x5au8; 1 << 20];
        let mut sent = 0;
        while sent < total {
            let n = usize::try_from((total - sent).min(buf.len() as u64))?;
            sock.write_all(&buf[..n]).await?;
            sent += n as u64;
        }
        sock.shutdown().await?;
        anyhow::Ok(())
    });
    let t = Instant::now();
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let elapsed = t.elapsed();
    writer.await??;
    anyhow::ensure!(got == total, "loopback moved {got} of {total} bytes");
    Ok(Sample::new("loopback_tcp_mib_per_s", "MiB/s", mib_per_s(total, elapsed)))
}

/// Sequential write of `total` bytes plus fdatasync, then `fsyncs` small write+fsync pairs,
/// in directory `dir` (the data directory's filesystem).
pub(crate) fn disk(dir: &Path, total: u64, fsyncs: usize) -> anyhow::Result<Vec<Sample>> {
    let path = dir.join(format!(".s3gate-bench-disk-{}", std::process::id()));
    let result = disk_inner(&path, total, fsyncs);
    let _ = std::fs::remove_file(&path);
    result
}

fn disk_inner(path: &Path, total: u64, fsyncs: usize) -> anyhow::Result<Vec<Sample>> {
    let block = content::generate(11, 8 << 20);
    let t = Instant::now();
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut written = 0u64;
    while written < total {
        let n = usize::try_from((total - written).min(block.len() as u64))?;
        f.write_all(&block[..n])?;
        written += n as u64;
    }
    f.sync_data()?;
    let seq = mib_per_s(total, t.elapsed());
    drop(f);
    std::fs::remove_file(path)?;

    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    let small = &block[..4096];
    let mut lat: Vec<Duration> = Vec::with_capacity(fsyncs);
    for _ in 0..fsyncs {
        let t = Instant::now();
        f.write_all(small)?;
        f.sync_all()?;
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    Ok(vec![
        Sample::new("disk_write_fdatasync_mib_per_s", "MiB/s", seq),
        Sample::new("fsync_4k_p50_ms", "ms", percentile_ms(&lat, 0.5)),
        Sample::new("fsync_4k_p99_ms", "ms", percentile_ms(&lat, 0.99)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_produce_positive_figures() {
        let buf = content::generate(1, 1 << 20);
        for s in hashes(&buf).into_iter().chain(aead(&buf).unwrap()) {
            assert!(s.value > 0.0 && s.value.is_finite(), "{s:?}");
        }
        // A part that is not a whole number of packages (a short final package).
        assert_eq!(aead(&buf[..100_000]).unwrap().len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let d = disk(dir.path(), 1 << 20, 3).unwrap();
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|s| s.value > 0.0), "{d:?}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "disk ceiling leaves no file"
        );
    }

    #[tokio::test]
    async fn loopback_moves_every_byte() {
        let s = loopback(8 << 20).await.unwrap();
        assert!(s.value > 0.0);
    }
}
