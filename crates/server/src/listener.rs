//! The accept loops.
//!
//! [`serve`]: the S3 listener — one task per connection, HTTP/1.1 keep-alive or HTTP/2
//! (auto-detected on plain TCP, chosen by ALPN over TLS), optional TLS, a header-read and
//! handshake timeout, a connection limit and an in-flight request limit that shed load with
//! `503 SlowDown`, and graceful shutdown.
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
use tokio::sync::Semaphore;

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

/// Serves S3 on `listener` until `shutdown` resolves, then stops accepting and lets requests in
/// flight finish for up to `config.shutdown_grace`. With `config.tls`, every connection first
/// completes a TLS handshake (within `config.header_read_timeout`); the rustls configuration
/// decides the certificate per handshake, so a reloaded certificate applies to new
/// connections while established ones keep theirs.
#[allow(
    clippy::too_many_lines,
    reason = "one accept loop: the limits, shedding, the first-byte guard and TLS read best in the order they apply"
)]
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
        .max_buf_size(256 * 1024);
    builder.http2().timer(TokioTimer::new());
    let tls = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let handshake_timeout = config.header_read_timeout;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let shedders = Arc::new(Semaphore::new(SHED_CONNECTIONS));
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight_requests));
    // Tells connections still waiting for their first byte that the server is stopping: they
    // are not hyper connections yet, so the graceful shutdown cannot tell them itself, and its
    // wait would otherwise last until their first-byte timeout.
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
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
        // A serving slot may have freed up while this one waited in accept.
        if matches!(slot, Slot::Shed(_))
            && let Ok(p) = Arc::clone(&limit).try_acquire_owned()
        {
            slot = Slot::Serve(p);
        }
        let permit = match slot {
            Slot::Serve(p) => p,
            Slot::Shed(p) => {
                let response = gateway.slow_down_bytes();
                tokio::spawn(async move {
                    shed_connection(stream, &response).await;
                    drop(p);
                });
                continue;
            }
        };
        global().connections.inc();
        let open = global().open_connections.track();
        // Small responses must not wait for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let gw = Arc::clone(&gateway);
        let in_flight = Arc::clone(&in_flight);
        let service = service_fn(move |req| {
            let gw = Arc::clone(&gw);
            // Taken before the future runs: a request over the limit costs no engine work.
            let permit = Arc::clone(&in_flight).try_acquire_owned();
            async move {
                let resp = if let Ok(permit) = permit {
                    crate::body::hold_permit(gw.handle(req).await, permit)
                } else {
                    // Refused unread: the body is settled like any early answer's, with the
                    // smaller bounds of a server that is shedding load.
                    let framing = crate::body::Framing::of(&req);
                    let resp = gw.slow_down(&req);
                    let body =
                        crate::metrics::CountedIncoming::new(req.into_body(), Arc::default());
                    let leftover = crate::body::Leftover::unread(body);
                    crate::body::settle(resp, &leftover, framing, SHED_DRAIN).0
                };
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let first_byte_timeout = config.header_read_timeout;
        let tls = tls.clone();
        let mut stop = stop_signal.clone();
        tokio::spawn(async move {
            // hyper's header-read timeout starts only once the HTTP version is detected, which
            // needs a first byte: a connection that never sends one would hold its slot forever.
            let mut probe = [0u8; 1];
            let started = tokio::select! {
                r = tokio::time::timeout(first_byte_timeout, stream.peek(&mut probe)) => {
                    matches!(r, Ok(Ok(n)) if n > 0)
                }
                _ = stop.changed() => false,
            };
            if !started {
                tracing::debug!(peer = %peer, "no request within the header timeout, or stopping");
                drop(open);
                drop(permit);
                return;
            }
            let result = match tls {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            global().tls_handshake_failures.inc();
                            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            global().tls_handshake_failures.inc();
                            tracing::debug!(peer = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(open);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
    Ok(())
}

/// Serves the operations endpoints (`/metrics`, `/health/live`, `/health/ready`) on
/// `listener` until `shutdown` resolves. Plain HTTP/1.1 without authentication: bind it to a
/// loopback or otherwise private address.
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
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    // A scrape or probe never needs many connections; a flood must not exhaust the process.
    let limit = Arc::new(Semaphore::new(64));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, _) = tokio::select! {
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
        let st = Arc::clone(&state);
        let service = service_fn(move |req| {
            let st = Arc::clone(&st);
            async move {
                Ok::<_, std::convert::Infallible>(crate::metrics::ops_response(&st, &req).await)
            }
        });
        let builder = builder.clone();
        tokio::spawn(async move {
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            drop(permit);
        });
    }
    Ok(())
}

/// What an accepted connection will get.
enum Slot {
    /// Served: holds one of `max_connections` permits for its lifetime.
    Serve(tokio::sync::OwnedSemaphorePermit),
    /// Over the limit: answered `503 SlowDown` and closed.
    Shed(tokio::sync::OwnedSemaphorePermit),
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
