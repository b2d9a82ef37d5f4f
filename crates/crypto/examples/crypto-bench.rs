//! Micro-benchmark of `s3gate-crypto` on one core: the AEAD's raw ceiling (ring's AES-256-GCM
//! seal and open on a 64 KiB package) beside MD5 (md-5, the hash every PutObject computes for
//! its ETag) on the same buffer, then the crate's `Encryptor` and `Decryptor` on 1 MiB pushes,
//! and what a 1 MiB ranged read from the middle of 1 GiB fetches and opens. Rates are per
//! second of the thread's CPU time, so that neighbours on a shared machine do not count.
//!
//! Run: `cargo run --release -p s3gate-crypto --example crypto-bench` (add `-- --quick` for a short
//! smoke run).
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    reason = "a linear benchmark script: a failure should stop it at once, and rates are floats"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use ring::aead;
use s3gate_crypto::{
    DataKey, Decryptor, Encryptor, FormatVersion, ObjectId, PACKAGE_SIZE, PartCipher, PartSalt,
    SEALED_PACKAGE_SIZE, sealed_len, sealed_range,
};

const MIB: f64 = 1024.0 * 1024.0;

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux): on a machine
/// shared with other work, wall time would measure the neighbours too.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// Runs `f` (which processes `bytes` bytes per call) repeatedly for `budget` of wall time,
/// three times, and returns the best rate in MiB per CPU second of this thread (per wall
/// second where the CPU time cannot be read).
fn rate(budget: Duration, bytes: usize, mut f: impl FnMut()) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let (start, cpu_start) = (Instant::now(), thread_cpu_time());
        let mut n = 0u32;
        while start.elapsed() < budget {
            f();
            n += 1;
        }
        let cpu = cpu_start.zip(thread_cpu_time()).and_then(|(a, b)| b.checked_sub(a));
        let secs = cpu.filter(|d| !d.is_zero()).unwrap_or_else(|| start.elapsed()).as_secs_f64();
        best = best.max(f64::from(n) * bytes as f64 / MIB / secs);
    }
    best
}

fn cpu_flags() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let words: Vec<&str> = flags.split_whitespace().collect();
    ["aes", "pclmulqdq", "avx", "avx2", "vaes", "vpclmulqdq", "avx512f"]
        .into_iter()
        .filter(|f| words.contains(f))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cipher() -> PartCipher {
    PartCipher::new(
        FormatVersion::V1,
        &DataKey::from_bytes(&[7; 32]),
        &ObjectId::from_bytes([1; 16]),
        1,
        &PartSalt::from_bytes([2; 16]),
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 100 } else { 1000 });
    let package: Vec<u8> = (0..PACKAGE_SIZE).map(|i| (i % 251) as u8).collect();
    let body: Vec<u8> = (0..(16 << 20)).map(|i| (i % 241) as u8).collect();

    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &[9; 32]).unwrap());
    let nonce = || aead::Nonce::assume_unique_for_key([0; 12]);
    let mut buf = package.clone();
    let seal = rate(budget, PACKAGE_SIZE, || {
        let tag =
            key.seal_in_place_separate_tag(nonce(), aead::Aad::from(b"aad"), &mut buf).unwrap();
        black_box(tag.as_ref()[0]);
    });
    let mut sealed = package.clone();
    let tag =
        key.seal_in_place_separate_tag(nonce(), aead::Aad::from(b"aad"), &mut sealed).unwrap();
    sealed.extend_from_slice(tag.as_ref());
    let mut scratch = sealed.clone();
    let open = rate(budget, PACKAGE_SIZE, || {
        scratch.copy_from_slice(&sealed);
        let plain = key.open_in_place(nonce(), aead::Aad::from(b"aad"), &mut scratch).unwrap();
        black_box(plain.len());
    });
    let md5 = rate(budget, PACKAGE_SIZE, || {
        black_box(Md5::digest(&package));
    });

    let encrypt = rate(budget, body.len(), || {
        let mut enc = Encryptor::new(cipher());
        for chunk in body.chunks(1 << 20) {
            black_box(enc.push(chunk).unwrap());
        }
        black_box(enc.finish().unwrap());
    });
    let encrypt_md5 = rate(budget, body.len(), || {
        let mut enc = Encryptor::new(cipher());
        let mut md5 = Md5::new();
        for chunk in body.chunks(1 << 20) {
            md5.update(chunk);
            black_box(enc.push(chunk).unwrap());
        }
        black_box(enc.finish().unwrap());
        black_box(md5.finalize());
    });

    let mut sealed_body =
        Vec::with_capacity(usize::try_from(sealed_len(body.len() as u64)).unwrap());
    let mut enc = Encryptor::new(cipher());
    for chunk in body.chunks(1 << 20) {
        enc.push(chunk).unwrap().iter().for_each(|p| sealed_body.extend_from_slice(p));
    }
    sealed_body.extend_from_slice(&enc.finish().unwrap());
    let decrypt = rate(budget, body.len(), || {
        let mut dec = Decryptor::new(cipher(), body.len() as u64);
        for chunk in sealed_body.chunks(1 << 20) {
            black_box(dec.push(chunk).unwrap());
        }
        dec.finish().unwrap();
    });

    // A 1 MiB range from the middle of 1 GiB, at the worst alignment (one byte past a border).
    let gib = 1u64 << 30;
    let start = gib / 2 + 1;
    let range = sealed_range(gib, start..start + (1 << 20)).unwrap();
    let fetched = range.sealed.end - range.sealed.start;
    let packages = fetched.div_ceil(SEALED_PACKAGE_SIZE as u64);
    let opened = packages * PACKAGE_SIZE as u64;
    // The same number of packages decrypted from a part of that many packages.
    let window = usize::try_from(packages).unwrap() * PACKAGE_SIZE;
    let mut enc = Encryptor::new(cipher());
    let mut sealed_window: Vec<u8> = enc.push(&body[..window]).unwrap().concat();
    sealed_window.extend_from_slice(&enc.finish().unwrap());
    let window_rate = rate(budget, window, || {
        let mut dec = Decryptor::new(cipher(), window as u64);
        black_box(dec.push(&sealed_window).unwrap());
        dec.finish().unwrap();
    });
    let window_us = 1e6 * (window as f64 / MIB) / window_rate;

    println!("s3gate-crypto bench, one core; CPU flags: {}", cpu_flags());
    let unit = if thread_cpu_time().is_some() { "MiB/CPU-s" } else { "MiB/s" };
    println!("{:<46} {:>10}", "operation", unit);
    println!("{:<46} {:>10.0}", "AES-256-GCM seal, ring, 64 KiB in place", seal);
    println!("{:<46} {:>10.0}", "AES-256-GCM open, ring, 64 KiB in place", open);
    println!("{:<46} {:>10.0}", "MD5, md-5, same 64 KiB", md5);
    println!("{:<46} {:>10.0}", "Encryptor, 16 MiB part in 1 MiB pushes", encrypt);
    println!("{:<46} {:>10.0}", "Encryptor + MD5 of the plaintext (PUT path)", encrypt_md5);
    println!("{:<46} {:>10.0}", "Decryptor, 16 MiB part in 1 MiB pushes", decrypt);
    println!(
        "1 MiB range at 512 MiB + 1 of a 1 GiB part: fetch {fetched} sealed bytes = {packages} \
         packages, open {opened} plaintext bytes ({} KiB more than the range), {window_us:.0} µs \
         of CPU",
        (opened - (1 << 20)) / 1024
    );
}
