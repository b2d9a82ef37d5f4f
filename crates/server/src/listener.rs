//! The accept loops.
//!
//! [`serve`]: the S3 listener — one task per connection, HTTP/1.1 keep-alive or HTTP/2
//! (auto-detected on plain TCP, chosen by ALPN over TLS), optional TLS, a header-read and
//! handshake timeout, a connection limit and an in-flight request limit that shed load with
//! `503 SlowDown`, a per-client connection cap, deadlines for every connection of either HTTP
//! version (`conn.rs`), and graceful shutdown.
//! [`serve_ops`]: the operations listener (`/metrics`, `/health/*`), plain HTTP, no auth.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use s3gate_metadata::MetadataStore;
use s3gate_metrics::global;
use s3gate_storage_backend::BlobStore;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::conn;
use crate::metrics::OpsState;
use crate::{Gateway, SHED_CONNECTIONS, ServerConfig};

/// A refused request or connection is drained after its `503` (so that closing it does not
/// reset the client's request before the answer is read) until the client stops sending for
/// `SHED_DRAIN_IDLE`, or `SHED_DRAIN_TIME` or `SHED_DRAIN_BYTES` is reached.
const SHED_DRAIN_IDLE: Duration = Duration::from_secs(5);
const SHED_DRAIN_TIME: Duration = Duration::from_secs(30);
const SHED_DRAIN_BYTES: usize = 256 * 1024;
/// A request refused over the in-flight limit is settled with these bounds
/// ([`crate::body::settle`]): a body of at most `SHED_DRAIN_BYTES` is drained and the
/// connection kept, a larger one is read that far before the connection closes.
const SHED_DRAIN: crate::body::DrainLimits = crate::body::DrainLimits {
    keep_alive: SHED_DRAIN_BYTES as u64,
    close: SHED_DRAIN_BYTES as u64,
};

/// Settings of HTTP/2 connections (both listeners). hyper's defaults leave a connection
/// without keep-alive pings and with up to 200 concurrent streams; these bound what one
/// connection may hold and detect a peer that went away.
fn configure_http2(builder: &mut auto::Builder<TokioExecutor>) {
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE)
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .max_header_list_size(HTTP2_MAX_HEADER_LIST)
        // Streams a client opens and resets before the server has seen them (rapid reset,
        // CVE-2023-44487): hyper's default, written down.
        .max_pending_accept_reset_streams(20)
        // Streams the server had to reset for the client's protocol errors: past this the
        // connection is closed with ENHANCE_YOUR_CALM.
        .max_local_error_reset_streams(256);
}

/// HTTP/2 keep-alive: a PING after this long without a frame, and the connection closed when
/// its acknowledgement takes longer than this.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// Concurrent streams one HTTP/2 connection may open.
const HTTP2_MAX_STREAMS: u32 = 128;
/// Largest decoded header block of an HTTP/2 request (HTTP/1 heads are capped at 256 KiB).
const HTTP2_MAX_HEADER_LIST: u32 = 64 * 1024;
/// hyper's read buffer of an HTTP/1 connection grows up to this, and keeps what it grew to
/// for the connection's life: it caps a request head (AWS caps headers at 8 KB) and what an
/// upload that went quiet holds (1,000 slow uploads: docs/RELIABILITY.md).
const HTTP1_MAX_BUF: usize = 32 * 1024;
/// How long a connection accepted over the limit may take to complete its request head, and
/// then wait for the slot of a connection evicted for it, before it is refused.
const EVICT_WAIT: Duration = Duration::from_secs(1);

/// What every connection of the S3 listener shares.
struct Front<M, B> {
    gateway: Arc<Gateway<M, B>>,
    builder: auto::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    in_flight: Arc<Semaphore>,
    deadlines: conn::Deadlines,
    /// Tells every connection that the server is stopping.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Serves S3 on `listener` until `shutdown` resolves, then stops accepting and lets requests in
/// flight finish for up to `config.shutdown_grace`; connections with no request in flight
/// close at once. With `config.tls`, every connection first completes a TLS handshake
/// (within `config.header_read_timeout`); the rustls configuration decides the certificate
/// per handshake, so a reloaded certificate applies to new connections while established ones
/// keep theirs.
pub async fn serve<M, B>(
    listener: TcpListener,
    gateway: Arc<Gateway<M, B>>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    M: MetadataStore,
    B: BlobStore,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(HTTP1_MAX_BUF);
    configure_http2(&mut builder);
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let front = Arc::new(Front {
        gateway,
        builder,
        tls: config.tls.clone().map(tokio_rustls::TlsAcceptor::from),
        in_flight: Arc::new(Semaphore::new(config.max_in_flight_requests)),
        deadlines: conn::Deadlines {
            first_request: config.header_read_timeout,
            idle: config.header_read_timeout,
        },
        stop,
    });
    let connections = conn::Connections::new(config.max_connections_per_client);
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let shedders = Arc::new(Semaphore::new(SHED_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        // Wait until the connection can be served or at least refused: with both limits
        // reached, further clients wait in the kernel's accept queue.
        let ready = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&limit).acquire_owned() => permit.map(Slot::Serve),
            permit = Arc::clone(&shedders).acquire_owned() => permit.map(Slot::Shed),
        };
        let Ok(mut slot) = ready else { break };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = connections.admit(peer.ip()) else {
            // Over its client's cap: closed unanswered, costing no slot (an answer would need
            // the request read, which is what a flood wants the server to spend).
            tracing::debug!(peer = %peer, "over the per-client connection cap: closed");
            continue;
        };
        // A serving slot may have freed up while this one waited in accept.
        if matches!(slot, Slot::Shed(_))
            && let Ok(p) = Arc::clone(&limit).try_acquire_owned()
        {
            slot = Slot::Serve(p);
        }
        match slot {
            Slot::Serve(permit) => {
                tokio::spawn(Arc::clone(&front).serve_connection(stream, peer, admitted, permit));
            }
            Slot::Shed(shed) => {
                // Full. A connection that completes its request head at once takes the slot of
                // the oldest connection that has sent no complete head for a second (handed
                // over); one that does not, or finds no such connection, is refused. Only
                // clients that send heads evict: a flood of connections that never do cannot
                // churn the listener and crowd out the clients that do.
                let front = Arc::clone(&front);
                let connections = Arc::clone(&connections);
                let tls = front.tls.is_some();
                tokio::spawn(async move {
                    // Never itself picked for eviction while it is being decided on.
                    admitted.activity().refused();
                    if !head_arrives(&stream, tls, EVICT_WAIT).await {
                        // Nothing to answer: closed.
                        drop((shed, admitted));
                        return;
                    }
                    if let Some(slot) = connections.evict_one()
                        && let Ok(Ok(permit)) = tokio::time::timeout(EVICT_WAIT, slot).await
                    {
                        drop(shed);
                        front.serve_connection(stream, peer, admitted, permit).await;
                        return;
                    }
                    let response = front.gateway.slow_down_bytes();
                    shed_connection(stream, &response).await;
                    drop((shed, admitted));
                });
            }
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every served connection holds one of the limit's permits until it ends.
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.shutdown_grace, limit.acquire_many(all)).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
    Ok(())
}

impl<M: MetadataStore, B: BlobStore> Front<M, B> {
    /// Serves one accepted connection until it ends; `permit` is its connection slot.
    #[allow(
        clippy::too_many_lines,
        reason = "one connection's life in order: its service, first byte, handshake, serving"
    )]
    async fn serve_connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        admitted: conn::Admitted,
        permit: OwnedSemaphorePermit,
    ) {
        global().connections.inc();
        let open = global().open_connections.track();
        // Small responses must not wait for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let activity = Arc::clone(admitted.activity());
        let gw = Arc::clone(&self.gateway);
        let in_flight = Arc::clone(&self.in_flight);
        let requests = Arc::clone(&activity);
        let ip = peer.ip();
        // Made once the connection's TLS version is known (after the handshake).
        let service = move |client: crate::ClientInfo| {
            service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(client);
                let gw = Arc::clone(&gw);
                // Stamped when hyper hands the request over: its head is complete.
                let request = requests.begin();
                // Taken before the future runs: a request over the limit costs no engine work.
                let permit = Arc::clone(&in_flight).try_acquire_owned();
                async move {
                    let resp = if let Ok(permit) = permit {
                        crate::body::hold(gw.handle(req).await, (permit, request))
                    } else {
                        // Refused unread: the body is settled like any early answer's, with the
                        // smaller bounds of a server that is shedding load.
                        let framing = crate::body::Framing::of(&req);
                        let resp = gw.slow_down(&req);
                        let body =
                            crate::metrics::CountedIncoming::new(req.into_body(), Arc::default());
                        let leftover = crate::body::Leftover::unread(body);
                        let resp = crate::body::settle(resp, &leftover, framing, SHED_DRAIN).0;
                        crate::body::hold(resp, request)
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                }
            })
        };
        let mut stop = self.stop.clone();
        let timeout = self.deadlines.first_request;
        // hyper's header-read timeout starts only once the HTTP version is detected, which
        // needs a first byte: a connection that never sends one would hold its slot forever.
        let mut probe = [0u8; 1];
        let started = tokio::select! {
            r = tokio::time::timeout(timeout, stream.peek(&mut probe)) => {
                matches!(r, Ok(Ok(n)) if n > 0)
            }
            _ = stop.changed() => false,
            () = activity.evicted() => false,
        };
        if !started {
            tracing::debug!(peer = %peer, "no byte within the header timeout, evicted, or stopping");
            drop(open);
            activity.hand_over(permit);
            drop(admitted);
            return;
        }
        let (closed, result) = match &self.tls {
            None => {
                let client = crate::ClientInfo { ip, tls: false, tls_version: None };
                let conn = self
                    .builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service(client));
                conn::drive(conn.into_owned(), &activity, self.deadlines, stop).await
            }
            Some(acceptor) => {
                let handshake = tokio::select! {
                        r = tokio::time::timeout(timeout, acceptor.accept(stream)) => r,
                        () = activity.evicted() => {
                            drop(open);
                activity.hand_over(permit);
                drop(admitted);
                            return;
                        }
                    };
                let stream = match handshake {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        global().tls_handshake_failures.inc();
                        tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                        drop(open);
                        activity.hand_over(permit);
                        drop(admitted);
                        return;
                    }
                    Err(_) => {
                        global().tls_handshake_failures.inc();
                        tracing::debug!(peer = %peer, "TLS handshake timed out");
                        drop(open);
                        activity.hand_over(permit);
                        drop(admitted);
                        return;
                    }
                };
                let tls_version = tls_version(stream.get_ref().1.protocol_version());
                let client = crate::ClientInfo { ip, tls: true, tls_version };
                let conn = self
                    .builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service(client));
                conn::drive(conn.into_owned(), &activity, self.deadlines, stop).await
            }
        };
        match result {
            Err(e) => tracing::debug!(peer = %peer, error = %e, "connection ended with an error"),
            Ok(()) if closed != conn::Closed::Ended => {
                tracing::debug!(peer = %peer, ?closed, "connection closed by the server");
            }
            Ok(()) => {}
        }
        drop(open);
        activity.hand_over(permit);
        drop(admitted);
    }
}

/// A negotiated TLS version as `s3:TlsVersion` names it.
fn tls_version(v: Option<tokio_rustls::rustls::ProtocolVersion>) -> Option<&'static str> {
    match v {
        Some(tokio_rustls::rustls::ProtocolVersion::TLSv1_3) => Some("1.3"),
        Some(tokio_rustls::rustls::ProtocolVersion::TLSv1_2) => Some("1.2"),
        _ => None,
    }
}

/// Connections one client address may hold open on the operations listener (of
/// [`OPS_CONNECTIONS`]): a flood from one address cannot take the probes' room.
pub const OPS_CONNECTIONS_PER_CLIENT: usize = 16;
/// Connections the operations listener serves at once.
pub const OPS_CONNECTIONS: usize = 64;
/// The operations listener's header-read timeout, first-request and idle deadline.
const OPS_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the operations endpoints (`/metrics`, `/health/live`, `/health/ready`) on
/// `listener` until `shutdown` resolves. Plain HTTP (HTTP/1.1, or HTTP/2 with prior
/// knowledge) without authentication: bind it to a loopback or otherwise private address.
/// It is protected like the S3 listener, with smaller limits: [`OPS_CONNECTIONS`] at once,
/// [`OPS_CONNECTIONS_PER_CLIENT`] per client address, 10 s to the first request and between
/// requests, and a full listener evicts a connection that sent no request head yet.
pub async fn serve_ops<M, B>(
    listener: TcpListener,
    state: Arc<OpsState<M, B>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    M: MetadataStore,
    B: BlobStore,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(OPS_TIMEOUT);
    configure_http2(&mut builder);
    let builder = Arc::new(builder);
    let deadlines = conn::Deadlines { first_request: OPS_TIMEOUT, idle: OPS_TIMEOUT };
    let connections = conn::Connections::new(OPS_CONNECTIONS_PER_CLIENT);
    let limit = Arc::new(Semaphore::new(OPS_CONNECTIONS));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed on the operations listener");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = connections.admit(peer.ip()) else { continue };
        let (permit, handoff) = match Arc::clone(&limit).try_acquire_owned() {
            Ok(p) => (Some(p), None),
            Err(_) => match connections.evict_one() {
                Some(slot) => (None, Some(slot)),
                // Full of connections that all sent a request: closed unanswered.
                None => continue,
            },
        };
        let st = Arc::clone(&state);
        let activity = Arc::clone(admitted.activity());
        let requests = Arc::clone(&activity);
        let service = service_fn(move |req| {
            let st = Arc::clone(&st);
            let request = requests.begin();
            async move {
                let resp = crate::metrics::ops_response(&st, req).await;
                Ok::<_, std::convert::Infallible>(crate::body::hold(resp, request))
            }
        });
        let builder = Arc::clone(&builder);
        let stop = stop.clone();
        tokio::spawn(async move {
            let permit = match (permit, handoff) {
                (Some(p), _) => p,
                (None, Some(slot)) => match tokio::time::timeout(EVICT_WAIT, slot).await {
                    Ok(Ok(p)) => p,
                    _ => return,
                },
                (None, None) => return,
            };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = conn::drive(conn, &activity, deadlines, stop).await;
            activity.hand_over(permit);
            drop(admitted);
        });
    }
    let _ = stopping.send(true);
    Ok(())
}

/// Whether `stream` delivers a complete request head within `limit`, looking at the bytes
/// without consuming them: an HTTP/1 head up to its blank line, or the HTTP/2 preface and a
/// HEADERS frame with END_HEADERS. A head larger than the look-ahead counts as complete.
/// Over TLS the bytes cannot be read before the handshake: any byte counts.
async fn head_arrives(stream: &TcpStream, tls: bool, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = vec![0u8; 16 * 1024];
    let mut seen = 0;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => return false,
            Ok(Ok(n)) => n,
        };
        if tls || n == buf.len() || head_complete(&buf[..n]) {
            return true;
        }
        if n == seen {
            // peek answers at once while unread bytes wait: look again a little later.
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen = n;
    }
}

/// Whether `bytes` (the start of a connection) hold a complete request head.
fn head_complete(bytes: &[u8]) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let Some(mut frames) = bytes.strip_prefix(PREFACE) else {
        return bytes.windows(4).any(|w| w == b"\r\n\r\n");
    };
    // HTTP/2 frames: 24-bit length, type, flags, 32-bit stream id, payload.
    while frames.len() >= 9 {
        let len =
            (usize::from(frames[0]) << 16) | (usize::from(frames[1]) << 8) | usize::from(frames[2]);
        let (kind, flags) = (frames[3], frames[4]);
        let Some(rest) = frames.get(9 + len..) else { return false };
        // HEADERS (1) or CONTINUATION (9) with END_HEADERS, payload and all.
        if matches!(kind, 1 | 9) && flags & 0x4 != 0 {
            return true;
        }
        frames = rest;
    }
    false
}

/// What an accepted connection will get.
enum Slot {
    /// Served: holds one of `max_connections` permits for its lifetime.
    Serve(OwnedSemaphorePermit),
    /// Over the limit: makes room by evicting, or is answered `503 SlowDown` and closed.
    Shed(OwnedSemaphorePermit),
}

/// Answers a connection over the limit with `response` (a complete HTTP/1.1 `503` with
/// `Connection: close`) after reading its request head and the body it declares (bounded), then
/// waits for the client to close: answering and closing while the client still sends would
/// reset the connection and destroy the answer before it is read.
async fn shed_connection(mut stream: TcpStream, response: &[u8]) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let read_request = async {
        loop {
            match tokio::time::timeout(SHED_DRAIN_IDLE, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
            if buf.len() >= SHED_DRAIN_BYTES {
                return;
            }
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                if head.contains("\nexpect:") {
                    return; // the client waits for an answer before sending its body
                }
                let declared = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + declared.min(SHED_DRAIN_BYTES) {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(SHED_DRAIN_TIME, read_request).await.is_err() {
        return;
    }
    let write = async {
        stream.write_all(response).await?;
        stream.shutdown().await
    };
    if tokio::time::timeout(SHED_DRAIN_IDLE, write).await.is_err() {
        return;
    }
    let mut drained = 0;
    let drain = async {
        while drained < SHED_DRAIN_BYTES {
            match tokio::time::timeout(SHED_DRAIN_IDLE, stream.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(n)) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(SHED_DRAIN_TIME, drain).await;
}

#[cfg(test)]
mod tests {
    use super::head_complete;

    #[test]
    fn complete_heads() {
        assert!(head_complete(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nhost: x\r\n"));
        assert!(!head_complete(b""));
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
        let headers = |flags: u8| vec![0, 0, 3, 1, flags, 0, 0, 0, 1, 0x82, 0x86, 0x84];
        assert!(!head_complete(&preface), "the preface alone");
        assert!(!head_complete(&[preface.clone(), settings.to_vec()].concat()));
        assert!(!head_complete(&[preface.clone(), settings.to_vec(), headers(0x1)].concat()));
        assert!(head_complete(&[preface.clone(), settings.to_vec(), headers(0x5)].concat()));
        let cut = [preface, settings.to_vec(), headers(0x5)].concat();
        assert!(!head_complete(&cut[..cut.len() - 4]), "a frame header cut short");
    }
}
