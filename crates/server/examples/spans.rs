//! What the tracing spans of one request cost when no exporter listens: the span calls
//! `Gateway::handle` and the timed store wrappers make for a small PUT (the request span
//! entered on each poll, two metadata calls and one blob call with spans of their own, the
//! late fields recorded at the access-log moment), under three subscribers:
//!
//! - `none`: no subscriber at all;
//! - `hidden`: what `s3gate serve` installs without export, the fmt layer with `--log info`
//!   and the spans filtered out of it (`bins/s3gate/src/telemetry.rs`);
//! - `shown`: the same fmt layer seeing the spans, as it would if logs printed span context.
//!
//! Each runs in a process of its own, since tracing caches each callsite's interest globally.
//! `cargo run --release -p s3gate-server --example spans`

use std::hint::black_box;
use std::time::Instant;

use s3gate_server::spans;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

const REQUESTS: u32 = 1_000_000;
const MODES: [&str; 3] = ["none", "hidden", "shown"];

fn main() {
    let Some(mode) = std::env::args().nth(1) else {
        let exe = std::env::current_exe().expect("own path");
        for mode in MODES {
            let status = std::process::Command::new(&exe).arg(mode).status().expect("run");
            assert!(status.success(), "{mode} failed");
        }
        return;
    };
    let fmt = || tracing_subscriber::fmt::layer().with_writer(std::io::sink);
    let info = || EnvFilter::new("info");
    match mode.as_str() {
        "none" => {}
        "hidden" => {
            let hide = Targets::new()
                .with_default(LevelFilter::TRACE)
                .with_target(spans::TARGET, LevelFilter::OFF);
            let subscriber =
                tracing_subscriber::registry().with(fmt().with_filter(info().and(hide)));
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        }
        "shown" => {
            let subscriber = tracing_subscriber::registry().with(fmt().with_filter(info()));
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        }
        other => panic!("unknown mode {other}; one of {MODES:?}"),
    }
    // Warm up (callsite registration), then measure.
    one_request();
    let started = Instant::now();
    for _ in 0..REQUESTS {
        one_request();
    }
    let per = started.elapsed().as_secs_f64() * 1e9 / f64::from(REQUESTS);
    println!("{mode:>6}: {per:.0} ns of span work per request");
}

/// The span calls of one small PUT, in the order the request path makes them.
fn one_request() {
    let request = spans::request(black_box("0123456789ABCDEF"), &http::Method::PUT);
    // handle_inner runs inside the span, polled a few times (the rest of handle enters it
    // too); each store call is a span of its own, entered on each of its two polls.
    for poll in 0..4 {
        let _entered = request.enter();
        let store = match poll {
            0 => spans::metadata(black_box("bucket")),
            1 => spans::blob(black_box("put")),
            2 => spans::metadata(black_box("put_object")),
            _ => continue,
        };
        drop(store.enter());
        drop(store.enter());
    }
    // The response body is polled once inside the span; then the access-log moment.
    drop(request.clone().entered());
    spans::record_request(&request, "PutObject", "bucket", "dir/key", "root");
    spans::record_response(&request, 200, 1_000, 0, true);
    let _entered = request.enter();
}
