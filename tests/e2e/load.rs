//! Load and overload: the in-flight request limit and the connection limit shed with
//! `503 SlowDown` (an S3 XML error with a request id) instead of queueing without bound, and
//! (with `S3GATE_TEST_LOAD=1`, which `.ci/run` sets) 1,000 concurrent connections, idle
//! keep-alive and active transfers mixed, are served without errors while the server's RSS
//! and open file descriptors stay bounded and return to their baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::{read_response, rss_kib};
use crate::hostile::{
    BUCKET, Payload, Signer, Want, World, check, exchange, parse_response, populate, read_to_close,
    read_until,
};

/// Idle keep-alive connections of the load test.
const IDLE: usize = 800;
/// Connections transferring data in the load test.
const ACTIVE: usize = 200;
/// PUT + GET rounds of each active connection.
const ROUNDS: usize = 5;
/// Object size of the active connections.
const SIZE: usize = 256 * 1024;

/// Open file descriptors of a process.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Open sockets of a process.
fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
            })
            .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_limit_sheds_with_slow_down() {
    let w = World::start(&["--max-in-flight-requests", "2"]);
    populate(&w.c).await;
    let s = Signer::root(&w.gw);
    // Two uploads that wait for their bodies hold both request slots: the server answered
    // their `Expect: 100-continue`, so both are inside the gateway.
    let data = vec![7u8; 1000];
    let mut held = Vec::new();
    for key in ["held1", "held2"] {
        let r = s.request(
            "PUT",
            &format!("/{BUCKET}/{key}"),
            &[],
            &[("expect", "100-continue")],
            &data,
            &Payload::Sha256,
        );
        let (req_head, body) = r.split_at(r.len() - data.len());
        let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
        c.write_all(req_head).await.unwrap();
        let interim = read_until(&mut c, b"\r\n\r\n").await;
        assert!(interim.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&interim));
        held.push((c, body.to_vec()));
    }
    let get = s.simple("GET", &format!("/{BUCKET}/existing"), b"");
    for what in ["GET over the limit", "a second GET over the limit"] {
        let r = exchange(w.gw.port, &get, false).await;
        check(r.as_ref(), Want::Error(503, "SlowDown"), what);
        assert_eq!(r.unwrap().header("retry-after"), Some("1"));
    }
    let head_request = s.simple("HEAD", &format!("/{BUCKET}/existing"), b"");
    let r = exchange(w.gw.port, &head_request, false).await.expect("HEAD answer");
    assert_eq!(r.status, 503, "HEAD over the limit");
    // The held uploads complete, and the slots come back.
    for (mut c, body) in held {
        c.write_all(&body).await.unwrap();
        let (got, _) = read_to_close(&mut c).await;
        let r = parse_response(&got, false).expect("upload answer");
        assert_eq!(r.status, 200, "held upload: {}", r.text());
    }
    let r = exchange(w.gw.port, &get, false).await.expect("GET answer");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_sheds_with_slow_down() {
    let w = World::start(&["--max-connections", "3"]);
    let s = Signer::root(&w.gw);
    // Raw requests with `connection: close` only: a pooled SDK connection would hold a slot.
    for (path, body) in
        [(format!("/{BUCKET}"), &b""[..]), (format!("/{BUCKET}/existing"), b"hello")]
    {
        let r = exchange(w.gw.port, &s.simple("PUT", &path, body), false).await.expect("answer");
        assert_eq!(r.status, 200, "PUT {path}: {}", r.text());
    }
    // A closed connection gives its slot back when the server's task for it ends, a moment
    // after the client saw the close (longer on a loaded machine): wait for the slots the
    // PUTs held rather than race them.
    let mut open = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while open.len() < 3 {
        let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
        c.write_all(&s.keep_alive("GET", &format!("/{BUCKET}/existing"), b"")).await.unwrap();
        let r = read_response(&mut c, false).await;
        if r.status == 503 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(r.status, 200, "keep-alive GET: {}", r.text());
        open.push(c);
    }
    let get = s.simple("GET", &format!("/{BUCKET}/existing"), b"");
    for what in ["fourth connection", "fifth connection"] {
        let r = exchange(w.gw.port, &get, false).await;
        check(r.as_ref(), Want::Error(503, "SlowDown"), what);
    }
    // The three served connections still work.
    for c in &mut open {
        c.write_all(&s.keep_alive("GET", &format!("/{BUCKET}/existing"), b"")).await.unwrap();
        assert_eq!(read_response(c, false).await.status, 200);
    }
    // Closing one frees a slot.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = exchange(w.gw.port, &get, false).await.expect("answer");
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slot not freed: {}", r.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Threads of a process.
fn thread_count(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Samples a process's RSS (KiB), open descriptors and threads every 50 ms until stopped;
/// keeps maxima.
struct Sampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    peak_rss: Arc<AtomicU64>,
    peak_fds: Arc<AtomicU64>,
    peak_threads: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peak_rss = Arc::new(AtomicU64::new(0));
        let peak_fds = Arc::new(AtomicU64::new(0));
        let peak_threads = Arc::new(AtomicU64::new(0));
        let (s, r, f) = (Arc::clone(&stop), Arc::clone(&peak_rss), Arc::clone(&peak_fds));
        let t = Arc::clone(&peak_threads);
        let handle = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                r.fetch_max(rss_kib(pid).unwrap_or(0), Ordering::Relaxed);
                f.fetch_max(fd_count(pid) as u64, Ordering::Relaxed);
                t.fetch_max(thread_count(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Sampler { stop, peak_rss, peak_fds, peak_threads, handle }
    }

    /// Peak threads so far.
    fn threads(&self) -> u64 {
        self.peak_threads.load(Ordering::Relaxed)
    }

    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.unwrap();
        (self.peak_rss.load(Ordering::Relaxed), self.peak_fds.load(Ordering::Relaxed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_connections() {
    if std::env::var_os("S3GATE_TEST_LOAD").is_none() {
        println!("skipped: set S3GATE_TEST_LOAD=1 to run 1,000 concurrent connections");
        return;
    }
    let w = World::start(&[]);
    populate(&w.c).await;
    let pid = w.gw.pid();
    let s = Arc::new(Signer::root(&w.gw));
    let (rss0, fds0, sockets0) = (rss_kib(pid).unwrap(), fd_count(pid), socket_count(pid));
    let sampler = Sampler::start(pid);
    let started = Instant::now();

    // 800 keep-alive connections that served one GET and then idle.
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
        c.write_all(&s.keep_alive("GET", &format!("/{BUCKET}/existing"), b"")).await.unwrap();
        let r = read_response(&mut c, false).await;
        assert_eq!(r.status, 200, "idle connection's GET: {}", r.text());
        idle.push(c);
    }
    // 200 connections that each PUT and GET back 256 KiB objects, all at once.
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..ACTIVE {
        let (s, errors) = (Arc::clone(&s), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
            for round in 0..ROUNDS {
                let data = crate::harness::random_bytes(SIZE);
                let key = format!("/{BUCKET}/load/{i}/{round}");
                c.write_all(&s.keep_alive("PUT", &key, &data)).await.unwrap();
                let r = read_response(&mut c, false).await;
                if r.status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("PUT {key}: {} {}", r.status, r.text());
                }
                c.write_all(&s.keep_alive("GET", &key, b"")).await.unwrap();
                let r = read_response(&mut c, false).await;
                if r.status != 200 || r.body != data {
                    errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("GET {key}: {} ({} bytes)", r.status, r.body.len());
                }
            }
        }));
    }
    let mut panicked = 0;
    for t in tasks {
        if t.await.is_err() {
            panicked += 1;
        }
    }
    let busy = started.elapsed();
    let fds_busy = fd_count(pid);
    // The idle connections are still served (unless the 30 s header timeout closed them).
    let mut idle_ok = 0;
    for c in idle.iter_mut().take(50) {
        if c.write_all(&s.keep_alive("GET", &format!("/{BUCKET}/existing"), b"")).await.is_ok() {
            let mut buf = Vec::new();
            let got = tokio::time::timeout(Duration::from_secs(10), async {
                buf = read_until(c, b"hello").await;
            })
            .await;
            if got.is_ok() && buf.starts_with(b"HTTP/1.1 200") {
                idle_ok += 1;
            }
        }
    }
    drop(idle);
    let (peak_rss, peak_fds) = sampler.finish().await;
    // Sockets come back once the clients are gone (other descriptors, such as the metadata
    // store's reader connections, may stay open for reuse).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sockets_after = socket_count(pid);
    while sockets_after > sockets0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sockets_after = socket_count(pid);
    }
    let fds_after = fd_count(pid);
    let rss_after = rss_kib(pid).unwrap();
    println!(
        "1,000 connections ({IDLE} idle keep-alive, {ACTIVE} active x {ROUNDS} rounds of \
         {SIZE}-byte PUT+GET) in {busy:.1?}: errors {}, panicked tasks {panicked}, idle \
         connections answering afterwards {idle_ok}/50; server RSS {rss0} KiB at start, peak \
         {peak_rss} KiB, {rss_after} KiB after; open fds {fds0} at start, {fds_busy} under \
         load, peak {peak_fds}, {fds_after} after; sockets {sockets0} at start, {sockets_after} after",
        errors.load(Ordering::Relaxed)
    );
    assert_eq!((errors.load(Ordering::Relaxed), panicked), (0, 0), "requests failed under load");
    assert!(peak_fds >= (IDLE + ACTIVE) as u64, "the connections were not concurrent");
    assert!(sockets_after <= sockets0, "sockets leaked: {sockets0} before, {sockets_after} after");
    assert!(peak_rss < 1024 * 1024, "peak RSS {peak_rss} KiB for 1,000 connections");

    // Overload: 1,000 simultaneous one-request connections against 200 connection slots and 50
    // request slots. Every answer is a success or a 503 SlowDown, and the server lives on.
    let w2 = World::start(&["--max-connections", "200", "--max-in-flight-requests", "50"]);
    populate(&w2.c).await;
    let s2 = Arc::new(Signer::root(&w2.gw));
    let sampler = Sampler::start(w2.gw.pid());
    // Counters: served, shed with 503 SlowDown, uploads whose connection was reset before the
    // answer could be read (see docs/RELIABILITY.md), anything else.
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (s2, counts) = (Arc::clone(&s2), Arc::clone(&counts));
        tasks.push(tokio::spawn(async move {
            let put = i % 4 == 0;
            let req = if put {
                s2.simple("PUT", &format!("/{BUCKET}/over/{i}"), &vec![1u8; 64 * 1024])
            } else {
                s2.simple("GET", &format!("/{BUCKET}/existing"), b"")
            };
            let slot = match exchange(s2.port, &req, false).await {
                Some(r) if r.status == 200 => 0,
                Some(r) if r.status == 503 && r.error_code().as_deref() == Some("SlowDown") => 1,
                None if put => 2,
                r => {
                    eprintln!("overload answer: {:?}", r.map(|r| (r.status, r.text())));
                    3
                }
            };
            counts[slot].fetch_add(1, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (peak_rss2, peak_fds2) = sampler.finish().await;
    let [ok, shed, reset, other] = [0, 1, 2, 3].map(|i| counts[i].load(Ordering::Relaxed));
    println!(
        "overload (1,000 simultaneous connections, --max-connections 200, \
         --max-in-flight-requests 50): {ok} served, {shed} shed with 503 SlowDown, {reset} \
         uploads reset before their answer, {other} other; server peak RSS {peak_rss2} KiB, \
         peak fds {peak_fds2}"
    );
    assert_eq!(other, 0, "answers other than 200 and 503 SlowDown, or GETs reset");
    assert!(shed > 0, "nothing was shed");
    let r = exchange(w2.gw.port, &s2.simple("GET", &format!("/{BUCKET}/existing"), b""), false)
        .await
        .expect("served after the overload");
    assert_eq!(r.status, 200);
}

/// Uploads of the slow-upload test.
const SLOW_UPLOADS: usize = 1000;
/// What each slow upload sends at once before it starts to trickle.
const SLOW_FAST_PART: usize = 1024 * 1024;
/// Bytes each slow upload then trickles, one per second, before it sends the rest.
const SLOW_TRICKLE: usize = 64;

/// 1,000 uploads that send 1 MiB at once, then a byte a second (under the body timeout, so
/// the gateway must keep them), then the rest: while they trickle the gateway holds no
/// thread and no buffer per upload, so its RSS stays under the documented 200 MiB ceiling
/// (docs/RELIABILITY.md); every upload is then stored whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_slow_uploads() {
    if std::env::var_os("S3GATE_TEST_LOAD").is_none() {
        println!("skipped: set S3GATE_TEST_LOAD=1 to run 1,000 slow uploads");
        return;
    }
    let w = World::start(&[]);
    populate(&w.c).await;
    let pid = w.gw.pid();
    let s = Arc::new(Signer::root(&w.gw));
    let (rss0, threads0) = (rss_kib(pid).unwrap(), thread_count(pid));
    let sampler = Sampler::start(pid);
    let started = Instant::now();
    let total = SLOW_FAST_PART + SLOW_TRICKLE;
    let fast: Arc<Vec<u8>> = Arc::new((0..SLOW_FAST_PART).map(|i| (i % 251) as u8).collect());
    let arrived = Arc::new(AtomicU64::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..SLOW_UPLOADS {
        let (s, fast, arrived) = (Arc::clone(&s), Arc::clone(&fast), Arc::clone(&arrived));
        let (release, released) = (Arc::clone(&release), Arc::clone(&released));
        tasks.push(tokio::spawn(async move {
            let len = total.to_string();
            let head = s.request(
                "PUT",
                &format!("/{BUCKET}/slow/{i}"),
                &[],
                &[("content-length", len.as_str())],
                b"",
                &Payload::Unsigned,
            );
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
            c.write_all(&head).await.unwrap();
            c.write_all(&fast).await.unwrap();
            arrived.fetch_add(1, Ordering::Relaxed);
            // Spread over the second, as independent clients would be.
            tokio::time::sleep(Duration::from_millis((i % 1000) as u64)).await;
            let mut sent = 0;
            while sent < SLOW_TRICKLE && !released.load(Ordering::Relaxed) {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        c.write_all(&[(i % 256) as u8]).await.unwrap();
                        sent += 1;
                    }
                    () = release.notified() => {}
                }
            }
            c.write_all(&vec![(i % 256) as u8; SLOW_TRICKLE - sent]).await.unwrap();
            read_response(&mut c, false).await.status
        }));
    }
    // Every upload has sent its first part; then they all trickle for a while.
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrived.load(Ordering::Relaxed) < SLOW_UPLOADS as u64 {
        assert!(Instant::now() < deadline, "the uploads did not get their first part out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let burst = started.elapsed();
    let (burst_rss, burst_threads) = (sampler.peak_rss.load(Ordering::Relaxed), sampler.threads());
    // The sampler's peaks from here on are the trickle's alone.
    sampler.finish().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sampler = Sampler::start(pid);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let trickle_threads = sampler.threads();
    let (trickle_rss, _) = sampler.finish().await;
    released.store(true, Ordering::Relaxed);
    release.notify_waiters();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    println!(
        "{SLOW_UPLOADS} slow uploads ({SLOW_FAST_PART} bytes at once, then a byte a second): \
         first parts out in {burst:.1?}; server RSS {rss0} KiB at start, peak {burst_rss} KiB \
         while the first parts arrived, peak {trickle_rss} KiB while trickling; threads \
         {threads0} at start, peak {burst_threads} while the first parts arrived, peak \
         {trickle_threads} while trickling; {ok} stored"
    );
    assert_eq!(ok, SLOW_UPLOADS, "uploads failed");
    assert!(trickle_rss < 200 * 1024, "RSS {trickle_rss} KiB with {SLOW_UPLOADS} slow uploads");
    // One per upload before (2,004 here); now the pool's jobs are short and few at once.
    assert!(
        trickle_threads < threads0 + 200,
        "{trickle_threads} threads with {SLOW_UPLOADS} slow uploads ({threads0} at start)"
    );
    let r = w.c.get_object().bucket(BUCKET).key("slow/7").send().await.unwrap();
    let body = r.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), total);
    assert_eq!(&body[..SLOW_FAST_PART], &fast[..]);
    assert!(body[SLOW_FAST_PART..].iter().all(|b| *b == 7));
}
