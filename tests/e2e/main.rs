//! End-to-end tests of s3gate: every test starts the real binary on `127.0.0.1:0` with a
//! fresh data directory and talks to it with the official AWS SDK for Rust (in both checksum
//! flavours), with hyper, or with raw bytes over a `TcpStream` for wire-level cases.
//!
//! Environment: `S3GATE_TEST_LARGE=1` enables the 2 GiB memory test; `S3GATE_TEST_LOG=1`
//! echoes the servers' stderr; `S3GATE_TEST_SEED=N` replays the randomised tests;
//! `S3GATE_TEST_CLIENTS=1` runs the external client matrix (`clients.rs`, programs from
//! `S3GATE_CLIENTS_VENV`'s `bin` and `PATH`); `S3GATE_TEST_POSTGRES_URL` enables the scale-out
//! tests (several gateways on one PostgreSQL database).

// Test code: a panic is the failure report; sizes are small enough for any cast; short names
// (`c` client, `b` bucket, `k` key) keep the many S3 calls readable; durations read best in
// the seconds the S3 rules are written in. `unreachable_pub`: helpers are `pub` inside private
// test modules, which is the idiom for a test binary.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::missing_panics_doc,
    clippy::many_single_char_names,
    clippy::doc_markdown,
    clippy::duration_suboptimal_units,
    unreachable_pub
)]

mod harness;

mod acl;
mod auth;
mod auth_attacks;
mod browser;
mod buckets;
mod clients;
mod concurrency;
mod conditional;
mod console;
mod copy;
mod cors;
mod crash;
mod crash_matrix;
mod exact;
mod full_disk;
mod hostile;
mod iam;
mod integrity;
mod keepalive;
mod kms;
mod listener;
mod listing;
mod load;
mod memory;
mod multipart;
mod object_lock;
mod objects;
mod ops;
#[cfg(feature = "otlp")]
mod otlp;
mod policy;
mod post;
mod presign;
mod proxy;
mod range;
mod refused;
mod rename;
mod scaleout;
mod sigv2;
mod sosapi;
mod sse;
mod sweep;
mod tidy;
mod tiers;
mod versioning;
mod vhost;
mod website;
mod wire;
mod wire_corpus;
