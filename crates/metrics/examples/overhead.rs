//! What the per-request instrumentation costs: the metric updates `Gateway::handle` makes for
//! one request, single-threaded and with two threads contending, and one render of the
//! registry. `cargo run --release -p s3gate-metrics --example overhead`.

use std::time::Instant;

fn main() {
    let m = s3gate_metrics::global();
    let n = 2_000_000u32;
    let started = Instant::now();
    for i in 0..n {
        let op = if i % 2 == 0 { "PutObject" } else { "GetObject" };
        let _in_flight = m.requests_in_flight.track();
        m.requests.with(&[op, "200"]).inc();
        m.request_duration.with(&[op]).observe(0.001);
        m.received_bytes.add(100);
        m.sent_bytes.add(100);
    }
    let per = started.elapsed().as_secs_f64() * 1e9 / f64::from(n);
    println!("{per:.0} ns of metric updates per request (one thread)");
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let started = Instant::now();
                for _ in 0..n {
                    m.requests.with(&["PutObject", "200"]).inc();
                    m.request_duration.with(&["PutObject"]).observe(0.001);
                }
                started.elapsed().as_secs_f64() * 1e9 / f64::from(n)
            })
        })
        .collect();
    for t in threads {
        let per = t.join().unwrap_or(f64::NAN);
        println!("{per:.0} ns per request with two threads on the same series");
    }
    let mut out = String::new();
    let started = Instant::now();
    for _ in 0..1000 {
        out.clear();
        m.render(&mut out);
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / 1000.0;
    println!("{per:.1} us per render ({} bytes)", out.len());
}
