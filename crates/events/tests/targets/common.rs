//! Shared helpers: sample messages, unique names, a closed port and a proxy whose
//! connections a test can cut.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3gate_events::{EventName, EventRecord, Message, ObjectEvent, Sequencer};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The broker URL from `var`, or None after printing that the test skips.
pub(crate) fn broker(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipping {test}: {var} is unset");
            None
        }
    }
}

/// A name no other test run uses (process id, time, counter).
pub(crate) fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// `n` messages of distinct changes (one key each, increasing sequencers).
pub(crate) fn messages(n: u64) -> Vec<Message> {
    (1..=n)
        .map(|i| {
            let event = ObjectEvent {
                name: EventName::ObjectCreatedPut,
                region: "us-east-1".into(),
                time: UNIX_EPOCH + Duration::from_millis(1_735_689_600_000 + i),
                principal_id: "alice".into(),
                source_ip: "127.0.0.1".into(),
                request_id: format!("REQ{i:013}"),
                host_id: "s3gate-test".into(),
                bucket: "photos".into(),
                bucket_owner: "alice".into(),
                key: format!("dir/key {i}.txt"),
                size: Some(i * 100),
                etag: Some(format!("\"{i:032x}\"")),
                version_id: None,
                sequencer: Sequencer::from_u64(i),
            };
            Message::record(&EventRecord::new(&event, "test-config"))
        })
        .collect()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP proxy on 127.0.0.1 to `upstream`; `cut` closes every connection made so far
/// (new ones are accepted and forwarded as before).
pub(crate) struct Proxy {
    pub(crate) port: u16,
    cut: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    /// Open connections (forwarding task still running) by the number of cuts made before
    /// they were accepted.
    live: Live,
}

impl Proxy {
    pub(crate) async fn start(upstream: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let live = Live::default();
        let (tx, count, open) = (cut.clone(), accepted.clone(), live.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut rx = tx.subscribe();
                let generation = *rx.borrow_and_update();
                *open.lock().unwrap().entry(generation).or_default() += 1;
                let upstream = upstream.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    // Counted down when both sockets are dropped, however the task ends.
                    let _live = LiveGuard(open, generation);
                    let Ok(mut server) =
                        TcpStream::connect((upstream.0.as_str(), upstream.1)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = rx.changed() => {}
                    }
                    drop((client, server));
                });
            }
        });
        Proxy { port, cut, accepted, live }
    }

    /// Closes every connection through the proxy and returns once they are closed, so the
    /// next request cannot race ahead of the cut on an old connection (clients that
    /// reconnect at once, as NATS does, may already have opened new ones).
    pub(crate) async fn cut(&self) {
        let mut generation = 0;
        self.cut.send_modify(|n| {
            *n += 1;
            generation = *n;
        });
        for _ in 0..500 {
            if self.live.lock().unwrap().range(..generation).all(|(_, open)| *open == 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the proxy's connections did not close within 5 s of the cut");
    }

    /// How many connections the proxy accepted.
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A proxy's open connections, counted by generation (the cuts made before each was accepted).
type Live = Arc<Mutex<BTreeMap<u64, u64>>>;

/// Counts its connection out of [`Live`] when dropped.
struct LiveGuard(Live, u64);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        *self.0.lock().unwrap().entry(self.1).or_default() -= 1;
    }
}

/// (host, port) of a broker URL.
pub(crate) fn host_port(url: &str, default_port: u16) -> (String, u16) {
    let u = url::Url::parse(url).unwrap();
    (u.host_str().unwrap().to_owned(), u.port().unwrap_or(default_port))
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
pub(crate) fn with_port(url: &str, port: u16) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_host(Some("127.0.0.1")).unwrap();
    u.set_port(Some(port)).unwrap();
    u.to_string()
}
