//! Shared helpers: sample messages, unique names, a closed port and a proxy whose
//! connections a test can cut.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl Proxy {
    pub(crate) async fn start(upstream: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let (tx, count) = (cut.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut rx = tx.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) =
                        TcpStream::connect((upstream.0.as_str(), upstream.1)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = rx.changed() => {}
                    }
                });
            }
        });
        Proxy { port, cut, accepted }
    }

    /// Closes every connection through the proxy.
    pub(crate) fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// How many connections the proxy accepted.
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
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
