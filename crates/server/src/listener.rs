//! The accept loops.
//!
//! [`serve`]: the S3 listener — one task per connection, HTTP/1.1 keep-alive or HTTP/2
//! (auto-detected on plain TCP, chosen by ALPN over TLS), optional TLS, a header-read and
//! handshake timeout, a connection limit, and graceful shutdown.
//! [`serve_ops`]: the operations listener (`/metrics`, `/health/*`), plain HTTP, no auth.

use std::future::Future;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use s3gate_metadata::MetadataStore;
use s3gate_metrics::global;
use s3gate_storage_backend::BlobStore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::OpsState;
use crate::{Gateway, ServerConfig};

/// Serves S3 on `listener` until `shutdown` resolves, then stops accepting and lets requests in
/// flight finish for up to `config.shutdown_grace`. With `config.tls`, every connection first
/// completes a TLS handshake (within `config.header_read_timeout`); the rustls configuration
/// decides the certificate per handshake, so a reloaded certificate applies to new
/// connections while established ones keep theirs.
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
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
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
        global().connections.inc();
        let open = global().open_connections.track();
        // Small responses must not wait for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let gw = Arc::clone(&gateway);
        let service = service_fn(move |req| {
            let gw = Arc::clone(&gw);
            async move { Ok::<_, std::convert::Infallible>(gw.handle(req).await) }
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
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
