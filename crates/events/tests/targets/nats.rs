//! The NATS JetStream target against the machine's nats-server, read back with async-nats
//! (the NATS project's client) from the stream itself.

use async_nats::jetstream;
use s3gate_events::{AnyTarget, Message, Target, TargetConfig};

use crate::common::{Proxy, broker, closed_port, host_port, messages, unique, with_port};

const VAR: &str = "S3GATE_TEST_NATS_URL";

fn target(url: &str, subject: &str) -> AnyTarget {
    let toml = format!(
        "kind = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}\"\ntimeouts = {{ connect_ms = 3000, confirm_ms = 3000 }}"
    );
    AnyTarget::new(toml::from_str::<TargetConfig>(&toml).unwrap()).unwrap()
}

/// A stream of its own capturing one subject; deleted by `drop_stream`.
async fn stream(url: &str) -> (jetstream::Context, String, String) {
    let client = async_nats::connect(url).await.unwrap();
    let js = jetstream::new(client);
    let name = unique("S3GATE_TEST").replace('-', "_");
    let subject = format!("s3gate.test.{name}");
    js.create_stream(jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    (js, name, subject)
}

/// Every message in the stream: (Nats-Msg-Id, payload).
async fn stored(js: &jetstream::Context, name: &str) -> Vec<(String, Vec<u8>)> {
    let mut s = js.get_stream(name).await.unwrap();
    let count = s.info().await.unwrap().state.messages;
    let mut out = Vec::new();
    for seq in 1..=count {
        let m = s.get_raw_message(seq).await.unwrap();
        let id = m.headers.get("Nats-Msg-Id").unwrap().as_str().to_owned();
        out.push((id, m.payload.to_vec()));
    }
    out
}

fn expect(batch: &[Message]) -> Vec<(String, Vec<u8>)> {
    batch.iter().map(|m| (m.id().to_owned(), m.body().to_vec())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_pubacks_and_dedupes_a_retry() {
    let Some(url) = broker(VAR, "nats delivery") else { return };
    let (js, name, subject) = stream(&url).await;
    let t = target(&url, &subject);
    let batch = messages(3);
    t.deliver(&batch).await.unwrap();
    t.check().await.unwrap();
    // The same batch again, as after a lost confirmation: JetStream keeps one copy.
    t.deliver(&batch).await.unwrap();
    assert_eq!(stored(&js, &name).await, expect(&batch));
    js.delete_stream(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_without_a_stream_is_not_confirmed() {
    let Some(url) = broker(VAR, "nats no stream") else { return };
    let t = target(&url, &format!("s3gate.nostream.{}", unique("x").replace('-', "_")));
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.confirmed(), 0);
    assert!(t.check().await.unwrap_err().is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_again_after_the_connection_is_cut() {
    let Some(url) = broker(VAR, "nats reconnect") else { return };
    let (js, name, subject) = stream(&url).await;
    let proxy = Proxy::start(host_port(&url, 4222)).await;
    let t = target(&with_port(&url, proxy.port), &subject);
    let first = messages(2);
    t.deliver(&first).await.unwrap();
    proxy.cut().await;
    // The delivery after the cut may fail (the loss is noticed mid-publish) but the one
    // after it must go through, on a new connection.
    let second = messages(3);
    if let Err(e) = t.deliver(&second[..1]).await {
        assert!(e.is_retryable(), "{e}");
        t.deliver(&second[..1]).await.unwrap();
    }
    t.deliver(&second[1..]).await.unwrap();
    assert!(proxy.accepted() >= 2);
    let mut all = expect(&first);
    // messages(n) numbers from 1, so second[0] repeats first[0]'s id: deduplicated.
    all.push(expect(&second)[2].clone());
    let got = stored(&js, &name).await;
    assert_eq!(got, all);
    js.delete_stream(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_retryable() {
    let t = target(&format!("nats://127.0.0.1:{}", closed_port()), "s3gate.closed");
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
