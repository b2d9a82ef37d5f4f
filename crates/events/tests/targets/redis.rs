//! The Redis Streams target against the machine's Redis, read back with `redis-cli`.

use s3gate_events::{AnyTarget, DeliveryErrorKind, Message, Target, TargetConfig};

use crate::common::{Proxy, broker, closed_port, host_port, messages, unique, with_port};

const VAR: &str = "S3GATE_TEST_REDIS_URL";

fn target(url: &str, stream: &str, extra: &str) -> AnyTarget {
    let toml = format!("kind = \"redis\"\nurl = \"{url}\"\nstream = \"{stream}\"\n{extra}");
    AnyTarget::new(toml::from_str::<TargetConfig>(&toml).unwrap()).unwrap()
}

/// Runs `redis-cli` against the broker and returns its raw output lines.
fn cli(url: &str, args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "--raw"])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// The (id field, event field) of every entry of `stream`, via XRANGE.
fn entries(url: &str, stream: &str) -> Vec<(String, String)> {
    // --raw prints each entry as: entry id, "id", <id>, "event", <json>.
    let lines = cli(url, &["XRANGE", stream, "-", "+"]);
    lines
        .chunks(5)
        .map(|c| {
            assert_eq!((c[1].as_str(), c[3].as_str()), ("id", "event"), "{c:?}");
            (c[2].clone(), c[4].clone())
        })
        .collect()
}

fn expect(batch: &[Message]) -> Vec<(String, String)> {
    batch
        .iter()
        .map(|m| (m.id().to_owned(), String::from_utf8(m.body().to_vec()).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_entries_in_order_and_reconnects_after_a_cut() {
    let Some(url) = broker(VAR, "redis delivery") else { return };
    let stream = unique("s3gate-test-stream");
    let proxy = Proxy::start(host_port(&url, 6379)).await;
    let t = target(&with_port(&url, proxy.port), &stream, "maxlen = 1000");
    let first = messages(3);
    t.deliver(&first).await.unwrap();
    assert_eq!(entries(&url, &stream), expect(&first));

    // The connection is cut while idle: the next delivery reconnects by itself.
    proxy.cut().await;
    let second = messages(2);
    t.deliver(&second).await.unwrap();
    assert_eq!(proxy.accepted(), 2, "one new connection after the cut");
    let mut all = expect(&first);
    all.extend(expect(&second));
    assert_eq!(entries(&url, &stream), all);
    t.check().await.unwrap();
    cli(&url, &["DEL", &stream]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_type_is_permanent_and_adds_nothing() {
    let Some(url) = broker(VAR, "redis wrong type") else { return };
    let key = unique("s3gate-test-string");
    cli(&url, &["SET", &key, "not a stream"]);
    let err = target(&url, &key, "").deliver(&messages(2)).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Permanent, "{err}");
    assert_eq!(err.confirmed(), 0);
    assert_eq!(cli(&url, &["GET", &key]), ["not a stream"]);
    cli(&url, &["DEL", &key]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_permanent() {
    let Some(url) = broker(VAR, "redis credentials") else { return };
    let (host, port) = host_port(&url, 6379);
    let bad = format!("redis://s3gate-no-such-user:wrong@{host}:{port}");
    let err =
        target(&bad, &unique("s3gate-test-auth"), "").deliver(&messages(1)).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Permanent, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_retryable() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let t = target(&url, "s", "");
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(t.check().await.unwrap_err().is_retryable());
}
