//! The listener under connection floods (issue 16), over raw sockets on loopback: HTTP/2
//! connections get the deadlines HTTP/1 ones have, one client address cannot hold more than
//! its cap, a full listener makes room for clients that finish their heads, and shutdown does
//! not wait for connections that have nothing in flight. Every test opens a bounded number of
//! sockets (at most a few hundred) and ends within seconds.
//!
//! Clients are told apart by source address: Linux accepts any 127.0.0.0/8 source on the
//! loopback interface, so `127.0.0.N` stands for another machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{Gateway, random_keys};
use crate::hostile::{BUCKET, Signer, World, exchange, populate};

/// The HTTP/2 connection preface and an empty SETTINGS frame (h2c with prior knowledge).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// An HTTP/2 frame header: 24-bit length, type, flags, stream id.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HEADERS of `GET /` (HPACK static-table entries :method GET, :scheme http, :path /).
fn h2_get(stream: u32, end_headers: bool) -> Vec<u8> {
    let flags = 0x1 | if end_headers { 0x4 } else { 0 };
    frame(0x1, flags, stream, &[0x82, 0x86, 0x84])
}

/// Connects from `127.0.0.<source>` to the gateway's port.
async fn connect_from(source: u8, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)), 0))?;
    socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Reads until the server closes the connection; `Some(elapsed)` when it did within `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connections_get_deadlines() {
    let (ak, sk) = random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--header-read-timeout-seconds", "2"]);
    // The preface and nothing else; a HEADERS frame that never ends its header block; one
    // request, then silence.
    let mut preface_only = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    preface_only.write_all(H2_PREFACE).await.unwrap();
    let mut open_headers = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    open_headers.write_all(H2_PREFACE).await.unwrap();
    open_headers.write_all(&h2_get(1, false)).await.unwrap();
    let mut idle = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    idle.write_all(H2_PREFACE).await.unwrap();
    idle.write_all(&h2_get(1, true)).await.unwrap();
    for (name, s) in [
        ("preface only", &mut preface_only),
        ("HEADERS without END_HEADERS", &mut open_headers),
        ("idle after a request", &mut idle),
    ] {
        // 2 s deadline, 1 s to close after GOAWAY, slack for a loaded machine.
        let closed = closed_within(s, Duration::from_secs(8)).await;
        assert!(closed.is_some(), "{name}: HTTP/2 connection still open after 8 s");
        println!("{name}: closed after {:?}", closed.unwrap());
    }
    // The gateway still serves.
    let r =
        exchange(gw.port, b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", false)
            .await;
    assert!(r.is_some(), "no answer after the HTTP/2 connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_more_than_its_cap() {
    let w =
        World::start(&["--max-connections-per-client", "8", "--header-read-timeout-seconds", "5"]);
    populate(&w.c).await;
    let s = Signer::root(&w.gw);
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = connect_from(2, w.gw.port).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(c);
    }
    // The ninth from the same address is closed unanswered, at once.
    let mut ninth = connect_from(2, w.gw.port).await.unwrap();
    let _ = ninth.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let closed = closed_within(&mut ninth, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "the connection over the cap was kept");
    // Another address is served meanwhile.
    let mut other = connect_from(3, w.gw.port).await.unwrap();
    other.write_all(&s.simple("GET", &format!("/{BUCKET}/existing"), b"")).await.unwrap();
    let r = crate::harness::read_response(&mut other, false).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Closing one of the eight makes room for the client again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from(2, w.gw.port).await.unwrap();
        again.write_all(&s.simple("GET", &format!("/{BUCKET}/existing"), b"")).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), again.read_to_end(&mut buf)).await;
        if buf.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the client's slot did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Slowloris from many addresses, reconnecting as connections are closed, against a small
/// listener: every GET of a client that sends its head at once is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_keeps_room_for_clients_that_finish_their_heads() {
    let w = World::start(&["--max-connections", "32", "--header-read-timeout-seconds", "30"]);
    populate(&w.c).await;
    let s = Signer::root(&w.gw);
    let port = w.gw.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 8 addresses × 8 connections, each a head that never ends (HTTP/1) or an HTTP/2 preface,
    // reopened as soon as the server closes it: 64 hanging connections for 32 slots.
    let mut attackers = Vec::new();
    for source in 10..18u8 {
        for i in 0..8 {
            let stop = std::sync::Arc::clone(&stop);
            attackers.push(tokio::spawn(async move {
                let mut opened = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && opened < 200 {
                    opened += 1;
                    let Ok(mut c) = connect_from(source, port).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let hello: &[u8] =
                        if i % 2 == 0 { b"GET / HTTP/1.1\r\nhost: x\r\n" } else { H2_PREFACE };
                    let _ = c.write_all(hello).await;
                    let _ = closed_within(&mut c, Duration::from_secs(30)).await;
                }
                opened
            }));
        }
    }
    // Let the attackers fill the listener and age past the eviction threshold.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let get = s.simple("GET", &format!("/{BUCKET}/existing"), b"");
    let (mut served, mut refused) = (0, 0);
    let started = Instant::now();
    for _ in 0..20 {
        match exchange(port, &get, false).await {
            Some(r) if r.status == 200 => served += 1,
            _ => refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reconnects = 0;
    for a in attackers {
        a.abort();
        if let Ok(n) = a.await {
            reconnects += n;
        }
    }
    println!(
        "legitimate GETs: {served} served, {refused} refused in {:?}; attacker connections {reconnects}",
        started.elapsed()
    );
    assert_eq!(served, 20, "{refused} of 20 legitimate GETs refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_idle_or_half_sent_connections() {
    let (ak, sk) = random_keys();
    let mut gw = Gateway::start_with_keys(&ak, &sk, &["--shutdown-grace-seconds", "30"]);
    let s = Signer {
        port: gw.port,
        ak: ak.clone(),
        sk: sk.clone(),
        region: crate::harness::REGION.to_owned(),
        service: "s3".to_owned(),
        time: None,
    };
    // An idle keep-alive connection after one request, a half-sent head, an idle HTTP/2
    // connection and one that sent nothing.
    let mut idle = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    idle.write_all(&s.keep_alive("GET", "/", b"")).await.unwrap();
    let first = crate::harness::read_response(&mut idle, false).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let mut half = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    half.write_all(b"PUT /b/k HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut h2 = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    h2.write_all(H2_PREFACE).await.unwrap();
    let _silent = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || gw.stop_graceful()).await.unwrap();
    let took = started.elapsed();
    println!("stopped in {took:?}");
    assert!(stopped, "unclean exit");
    assert!(took < Duration::from_secs(5), "shutdown waited {took:?} for idle connections");
}
