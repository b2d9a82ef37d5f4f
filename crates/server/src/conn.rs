//! What the listeners know of each open connection, and the watchdog that closes it.
//!
//! hyper times out an HTTP/1 connection that sends nothing or trickles its head, but gives an
//! HTTP/2 connection no deadline at all once the 24-byte preface is in: no first-request
//! deadline, no idle timeout, no deadline for a HEADERS frame without END_HEADERS. So every
//! connection, of either version, runs under a [`drive`] watchdog that tracks its
//! [`Activity`] (requests in flight, stamped by the service; a guard held in the response
//! body ends each) and shuts it down gracefully when it has had no request for its
//! deadline, when the server stops, or when it is evicted; a connection with no request in
//! flight that has not closed [`CLOSE_GRACE`] after that is dropped.
//!
//! [`Connections`] counts connections per client address (capped, IPv6 by /64) and picks
//! which connection to evict when the listener is full: the oldest one that has not sent a
//! complete request head yet. A client that finishes its head in time therefore always finds
//! room, however many connections others leave hanging before their first request.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::{Notify, OwnedSemaphorePermit, oneshot, watch};

/// How long a connection with no request in flight may take to close after a graceful
/// shutdown (an HTTP/2 GOAWAY waits for the client's PING acknowledgement) before it is
/// dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A connection that has not completed a request head is evicted for a new one only once it
/// is this old: a client that connected a moment ago is still sending its head.
pub(crate) const EVICT_MIN_AGE: Duration = Duration::from_secs(1);

/// The deadlines of a connection with no request in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// From accept to the first complete request head.
    pub(crate) first_request: Duration,
    /// From the end of the last request to the next request head.
    pub(crate) idle: Duration,
}

/// The requests of one connection, as its service sees them.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    /// Milliseconds since `epoch` at accept.
    accepted: u64,
    /// Milliseconds since `epoch` at the last request's start or end.
    last: AtomicU64,
    in_flight: AtomicUsize,
    /// A complete request head arrived at least once.
    began: AtomicBool,
    /// The watchdog has begun closing the connection.
    closing: AtomicBool,
    evict: Notify,
    /// Set by [`Connections::evict_one`]: where the evicted connection's slot goes.
    handoff: Mutex<Option<oneshot::Sender<OwnedSemaphorePermit>>>,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let accepted = millis_since(epoch);
        Activity {
            epoch,
            accepted,
            last: AtomicU64::new(accepted),
            in_flight: AtomicUsize::new(0),
            began: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            evict: Notify::new(),
            handoff: Mutex::new(None),
        }
    }

    /// Marks a request as begun (its head is complete); it ends when the guard is dropped,
    /// which the response body does once it has been sent or dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.began.store(true, Ordering::Release);
        self.stamp();
        RequestGuard(Arc::clone(self))
    }

    fn stamp(&self) {
        self.last.fetch_max(millis_since(self.epoch), Ordering::AcqRel);
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When the connection's deadline passes if nothing happens before.
    fn deadline(&self, deadlines: Deadlines) -> Instant {
        let limit = if self.began.load(Ordering::Acquire) {
            deadlines.idle
        } else {
            deadlines.first_request
        };
        self.epoch + Duration::from_millis(self.last.load(Ordering::Acquire)) + limit
    }

    /// Whether [`Connections::evict_one`] may pick this connection.
    fn evictable(&self, now_ms: u64) -> bool {
        !self.began.load(Ordering::Acquire)
            && !self.closing.load(Ordering::Acquire)
            && now_ms.saturating_sub(self.accepted) >= millis(EVICT_MIN_AGE)
    }

    /// Resolves when the connection has been chosen for eviction.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Marks a connection that is being refused: never picked for eviction.
    pub(crate) fn refused(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Gives up the connection's slot: to the connection it was evicted for, if it was, else
    /// back to the listener's limit. Call it last, when the connection is done.
    pub(crate) fn hand_over(&self, permit: OwnedSemaphorePermit) {
        let to = self.handoff.lock().ok().and_then(|mut h| h.take());
        if let Some(to) = to {
            // A receiver gone (it stopped waiting) drops the permit: back to the limit.
            let _ = to.send(permit);
        }
    }
}

/// Ends a request of an [`Activity`] when dropped.
#[derive(Debug)]
pub(crate) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.stamp();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn millis_since(epoch: Instant) -> u64 {
    millis(epoch.elapsed())
}

/// Why the watchdog began closing a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The connection ended by itself (the client closed it, or hyper did).
    Ended,
    /// No request within its deadline.
    TimedOut,
    /// The server is stopping.
    Stopping,
    /// Evicted to make room for a new connection.
    Evicted,
}

/// Drives `conn` to its end under the watchdog: a graceful shutdown when its deadline passes
/// with no request in flight, when `stop` changes, or when it is evicted; then, with no
/// request in flight, at most [`CLOSE_GRACE`] more before it is dropped. Requests in flight
/// are never cut short by the watchdog (the server's shutdown grace bounds them).
pub(crate) fn drive<C>(
    conn: C,
    activity: &Arc<Activity>,
    deadlines: Deadlines,
    mut stop: watch::Receiver<bool>,
) -> Drive<C>
where
    C: GracefulConnection,
{
    let watched = Arc::clone(activity);
    let signal: Pin<Box<dyn Future<Output = Closed> + Send>> = Box::pin(async move {
        tokio::select! {
            // A dropped sender means the server is gone: stop as well.
            _ = stop.changed() => Closed::Stopping,
            () = watched.evicted() => Closed::Evicted,
        }
    });
    Drive {
        conn: Box::pin(conn),
        sleep: Box::pin(tokio::time::sleep_until(activity.deadline(deadlines).into())),
        activity: Arc::clone(activity),
        deadlines,
        signal: Some(signal),
        closing: None,
    }
}

/// The future of [`drive`]. A plain future rather than an `async fn`: hyper-util's connection
/// types are `Send` only under bounds that an `async fn` generic over them cannot prove.
pub(crate) struct Drive<C> {
    conn: Pin<Box<C>>,
    activity: Arc<Activity>,
    deadlines: Deadlines,
    /// Resolves when the server stops or the connection is evicted; `None` once it did.
    signal: Option<Pin<Box<dyn Future<Output = Closed> + Send>>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// Why and since when the connection is being closed.
    closing: Option<(Closed, Instant)>,
}

impl<C: GracefulConnection> Drive<C> {
    fn begin_close(&mut self, why: Closed) {
        self.activity.closing.store(true, Ordering::Release);
        self.conn.as_mut().graceful_shutdown();
        let now = Instant::now();
        self.closing = Some((why, now));
        self.sleep.as_mut().reset((now + CLOSE_GRACE).into());
    }
}

impl<C: GracefulConnection> Future for Drive<C> {
    type Output = (Closed, Result<(), C::Error>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            if let Poll::Ready(result) = this.conn.as_mut().poll(cx) {
                return Poll::Ready((this.closing.map_or(Closed::Ended, |(why, _)| why), result));
            }
            if this.closing.is_none()
                && let Some(signal) = this.signal.as_mut()
                && let Poll::Ready(why) = signal.as_mut().poll(cx)
            {
                this.signal = None;
                // An evicted connection never completed a request head: nothing to be
                // graceful about, and the slot is wanted now. (A head may have completed
                // after it was picked: then it closes gracefully like any other.)
                if why == Closed::Evicted && !this.activity.began.load(Ordering::Acquire) {
                    return Poll::Ready((why, Ok(())));
                }
                this.begin_close(why);
                // The connection may be done at once (an idle HTTP/1 one is): poll it again.
                continue;
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if let Some((why, since)) = this.closing {
                if this.activity.idle() && now >= since + CLOSE_GRACE {
                    return Poll::Ready((why, Ok(())));
                }
                // A request still runs, or it just ended: look again a grace later.
                this.closing = Some((why, now));
                this.sleep.as_mut().reset((now + CLOSE_GRACE).into());
            } else {
                let deadline = this.activity.deadline(this.deadlines);
                if !this.activity.idle() {
                    // No deadline while a request runs (its body has timeouts of its own).
                    this.sleep.as_mut().reset((now + this.deadlines.idle).into());
                } else if now >= deadline {
                    // Polled again at the top of the loop: it may be done at once.
                    this.begin_close(Closed::TimedOut);
                } else {
                    this.sleep.as_mut().reset(deadline.into());
                }
            }
        }
    }
}

/// The address a per-client cap counts by: an IPv4 address (also when mapped into IPv6), or
/// an IPv6 /64, the smallest block a single client is usually given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    ClientKey(IpAddr::V4(v4))
                } else {
                    let s = v6.segments();
                    ClientKey(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
                }
            }
        }
    }
}

/// The open connections of one listener.
#[derive(Debug)]
pub(crate) struct Connections {
    epoch: Instant,
    per_client: usize,
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    by_client: HashMap<ClientKey, usize>,
    open: HashMap<u64, Arc<Activity>>,
}

impl Connections {
    /// A registry allowing `per_client` connections per [`ClientKey`].
    pub(crate) fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Connections {
            epoch: Instant::now(),
            per_client,
            inner: Mutex::new(Registry::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry holds counts only: a panic elsewhere cannot leave it half-updated in a
        // way that matters more than refusing every connection would.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection from `ip`; `None` when that client has its cap already.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let key = ClientKey::of(ip);
        let mut reg = self.lock();
        let count = reg.by_client.entry(key).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        let id = reg.next_id;
        reg.next_id += 1;
        let activity = Arc::new(Activity::new(self.epoch));
        reg.open.insert(id, Arc::clone(&activity));
        Some(Admitted { connections: Arc::clone(self), id, key, activity })
    }

    /// Asks the oldest connection that has not completed a request head (and is at least
    /// [`EVICT_MIN_AGE`] old) to close, and returns where its slot will arrive
    /// ([`Activity::hand_over`]); `None` when there is no such connection.
    pub(crate) fn evict_one(&self) -> Option<oneshot::Receiver<OwnedSemaphorePermit>> {
        let now = millis_since(self.epoch);
        let reg = self.lock();
        let victim = reg
            .open
            .values()
            .filter(|a| a.evictable(now))
            .min_by_key(|a| a.accepted)
            .map(Arc::clone);
        drop(reg);
        let victim = victim?;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut h) = victim.handoff.lock() {
            *h = Some(tx);
        }
        victim.closing.store(true, Ordering::Release);
        victim.evict.notify_one();
        Some(rx)
    }

    /// Open connections (admitted and not yet ended).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open.len()
    }
}

/// A connection counted by [`Connections`] until dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    connections: Arc<Connections>,
    id: u64,
    key: ClientKey,
    activity: Arc<Activity>,
}

impl Admitted {
    /// The connection's activity, for its service and watchdog.
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut reg = self.connections.lock();
        reg.open.remove(&self.id);
        if let Some(count) = reg.by_client.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                reg.by_client.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn clients_are_counted_by_address_and_ipv6_by_64() {
        assert_eq!(ClientKey::of(ip("::ffff:10.0.0.1")), ClientKey::of(ip("10.0.0.1")));
        assert_eq!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::of(ip("2001:db8:1:3::1")));
        assert_ne!(ClientKey::of(ip("127.0.0.1")), ClientKey::of(ip("127.0.0.2")));
    }

    #[test]
    fn the_per_client_cap_holds_and_frees() {
        let conns = Connections::new(2);
        let a = conns.admit(ip("127.0.0.1")).unwrap();
        let b = conns.admit(ip("127.0.0.1")).unwrap();
        assert!(conns.admit(ip("127.0.0.1")).is_none());
        let other = conns.admit(ip("127.0.0.2")).unwrap();
        assert_eq!(conns.open(), 3);
        drop(a);
        let c = conns.admit(ip("127.0.0.1")).unwrap();
        drop((b, c, other));
        assert_eq!(conns.open(), 0);
        assert!(conns.lock().by_client.is_empty());
    }

    #[test]
    fn only_connections_without_a_request_are_evicted_oldest_first() {
        let conns = Connections::new(10);
        let old = conns.admit(ip("127.0.0.1")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let younger = conns.admit(ip("127.0.0.1")).unwrap();
        // Too young to evict.
        assert!(conns.evict_one().is_none());
        std::thread::sleep(EVICT_MIN_AGE);
        let served = conns.admit(ip("127.0.0.1")).unwrap();
        let _guard = served.activity().begin();
        let mut slot = conns.evict_one().unwrap();
        assert!(old.activity().closing.load(Ordering::Acquire));
        assert!(!younger.activity().closing.load(Ordering::Acquire));
        // The evicted connection's slot goes to the one it was evicted for.
        let limit = Arc::new(tokio::sync::Semaphore::new(1));
        old.activity().hand_over(Arc::clone(&limit).try_acquire_owned().unwrap());
        let moved = slot.try_recv().unwrap();
        assert_eq!(limit.available_permits(), 0, "the permit moved, it was not released");
        drop(moved);
        assert_eq!(limit.available_permits(), 1);
        assert!(conns.evict_one().is_some());
        assert!(younger.activity().closing.load(Ordering::Acquire));
        // The served connection (its head arrived) is never picked.
        assert!(conns.evict_one().is_none());
        assert!(!served.activity().closing.load(Ordering::Acquire));
    }

    #[test]
    fn deadlines_follow_requests() {
        let epoch = Instant::now();
        let a = Arc::new(Activity::new(epoch));
        let d = Deadlines { first_request: Duration::from_secs(10), idle: Duration::from_secs(3) };
        let first = a.deadline(d);
        assert!(first >= epoch + Duration::from_secs(10));
        let guard = a.begin();
        assert!(!a.idle());
        drop(guard);
        assert!(a.idle());
        assert!(a.deadline(d) < first, "after a request the idle deadline applies");
    }
}
