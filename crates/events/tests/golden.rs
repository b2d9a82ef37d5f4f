//! Golden JSON: AWS's own messages parse into our structs and serialise back unchanged, and
//! the records the gateway builds are byte-for-byte the checked-in files.

// clippy.toml allows unwrap in #[test] functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use s3gate_events::{Envelope, EventName, EventRecord, Message, ObjectEvent, Sequencer, TestEvent};
use serde_json::Value;

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parsing into the typed structs and serialising back keeps every field and value.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(name: &str) -> T {
    let text = data(name);
    let typed: T = serde_json::from_str(&text).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(again, original, "{name} changed in a round trip");
    typed
}

#[test]
fn aws_documented_example_round_trips() {
    let env: Envelope = round_trips("aws-example-put.json");
    let r = &env.records[0];
    assert_eq!(r.event_name, EventName::ObjectCreatedPut);
    assert_eq!(r.s3.object.size, Some(1024));
    assert_eq!(r.s3.object.version_id.as_deref(), Some("096fKKXTRTtl3on89fVO.nfljtsv6qko"));
    assert_eq!(r.request_parameters.source_ip_address, "172.16.0.1");
}

#[test]
fn aws_captured_message_round_trips() {
    let env: Envelope = round_trips("aws-captured-put.json");
    let r = &env.records[0];
    assert_eq!(r.s3.object.version_id, None);
    assert_eq!(r.event_time, "2022-09-19T06:21:54.899Z");
    // Our own builder, fed what AWS knew, writes the same record.
    let event = ObjectEvent {
        name: EventName::ObjectCreatedPut,
        region: "eu-west-1".into(),
        time: UNIX_EPOCH + Duration::from_millis(1_663_568_514_899),
        principal_id: "AWS:AIDAIVYFIYZU7ONB22PQA".into(),
        source_ip: "77.94.246.48".into(),
        request_id: "ZB2JV90VJ3Y3SQ2K".into(),
        host_id: r.response_elements.host_id.clone(),
        bucket: "0-aws-training-examplebucket-april-2022-by-nando".into(),
        bucket_owner: "A1H3CC4J52T2YO".into(),
        key: "testing.md".into(),
        size: Some(4887),
        etag: Some("\"23e3b7ad434207b6b05d48f70b27d358\"".into()),
        version_id: None,
        sequencer: Sequencer::parse("0063280A82D9E2001C").unwrap(),
    };
    assert_eq!(&EventRecord::new(&event, "Upload"), r);
}

#[test]
fn aws_test_event_round_trips() {
    let t: TestEvent = round_trips("aws-test-event.json");
    assert_eq!(t.event, "s3:TestEvent");
    let ours = TestEvent::new(
        &t.bucket,
        UNIX_EPOCH + Duration::from_millis(1_413_215_822_089),
        &t.request_id,
        &t.host_id,
    );
    assert_eq!(ours, t);
}

fn gateway_event(name: EventName, key: &str) -> ObjectEvent {
    ObjectEvent {
        name,
        region: "us-east-1".into(),
        time: UNIX_EPOCH + Duration::from_millis(1_735_689_600_007),
        principal_id: "alice".into(),
        source_ip: "127.0.0.1".into(),
        request_id: "181A2B3C4D5E6F70".into(),
        host_id: "s3gate-1".into(),
        bucket: "photos".into(),
        bucket_owner: "alice".into(),
        key: key.into(),
        size: None,
        etag: None,
        version_id: None,
        sequencer: Sequencer::from_u64(7),
    }
}

fn check_golden(record: &EventRecord, name: &str) {
    let mut text =
        serde_json::to_string_pretty(&Envelope { records: vec![record.clone()] }).unwrap();
    text.push('\n');
    assert_eq!(text, data(name), "{name}");
    // And the message body is the same JSON, compact.
    let body: Value = serde_json::from_slice(Message::record(record).body()).unwrap();
    assert_eq!(body, serde_json::from_str::<Value>(&text).unwrap());
}

#[test]
fn gateway_put_with_a_space_and_a_version() {
    let mut e =
        gateway_event(EventName::ObjectCreatedCompleteMultipartUpload, "2025/red flower (1).jpg");
    e.size = Some(20_971_520);
    e.etag = Some("\"9b2cf535f27731c974343645a3985328-4\"".into());
    e.version_id = Some("0000000000000001-aG9sYQ".into());
    check_golden(&EventRecord::new(&e, "uploads"), "gateway-complete-multipart.json");
}

#[test]
fn gateway_delete_marker_has_no_size_or_etag() {
    let mut e = gateway_event(EventName::ObjectRemovedDeleteMarkerCreated, "a/b=c.txt");
    e.version_id = Some("0000000000000002-bWFyaw".into());
    check_golden(&EventRecord::new(&e, "removals"), "gateway-delete-marker.json");
}

#[test]
fn dedupe_ids_are_stable_and_distinct() {
    let a = EventRecord::new(&gateway_event(EventName::ObjectCreatedPut, "k"), "c");
    let again = EventRecord::new(&gateway_event(EventName::ObjectCreatedPut, "k"), "c");
    assert_eq!(a.dedupe_id(), again.dedupe_id());
    assert_eq!(a.dedupe_id().len(), 32);
    let mut later = gateway_event(EventName::ObjectCreatedPut, "k");
    later.sequencer = Sequencer::from_u64(8);
    for other in [
        EventRecord::new(&later, "c"),
        EventRecord::new(&gateway_event(EventName::ObjectCreatedPut, "k2"), "c"),
        EventRecord::new(&gateway_event(EventName::ObjectCreatedPut, "k"), "c2"),
        EventRecord::new(&gateway_event(EventName::ObjectCreatedCopy, "k"), "c"),
    ] {
        assert_ne!(a.dedupe_id(), other.dedupe_id());
    }
    assert_eq!(Message::record(&a).id(), a.dedupe_id());
}
