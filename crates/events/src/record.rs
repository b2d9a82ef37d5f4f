//! AWS's S3 event message: the record, the `{"Records": [...]}` envelope and the
//! `s3:TestEvent` message, as serde structs that serialise to AWS's exact field names.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::EventName;

/// The `{"Records": [...]}` envelope every event message is wrapped in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The records (the gateway sends one per message).
    #[serde(rename = "Records")]
    pub records: Vec<EventRecord>,
}

/// One S3 event record (AWS's "Event message structure"; `glacierEventData` and the
/// lifecycle/replication extras are not written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// "2.1", "2.2" (replication) or "2.3" (lifecycle, tagging): see
    /// [`EventName::event_version`].
    pub event_version: String,
    /// Always "aws:s3", so that consumers written for AWS accept the record.
    pub event_source: String,
    /// The gateway's region.
    pub aws_region: String,
    /// When the change committed: ISO 8601 UTC with milliseconds, `1970-01-01T00:00:00.000Z`.
    pub event_time: String,
    /// The event type, `ObjectCreated:Put`.
    pub event_name: EventName,
    /// Who made the change.
    pub user_identity: UserIdentity,
    /// Where the request came from.
    pub request_parameters: RequestParameters,
    /// The request's ids, as its response carried them.
    pub response_elements: ResponseElements,
    /// The bucket and object.
    pub s3: S3Entity,
}

/// `userIdentity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// The access key's owner (the gateway's user id).
    pub principal_id: String,
}

/// `requestParameters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestParameters {
    /// The client's IP address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
}

/// `responseElements`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseElements {
    /// The request's `x-amz-request-id`.
    #[serde(rename = "x-amz-request-id")]
    pub request_id: String,
    /// The request's `x-amz-id-2`.
    #[serde(rename = "x-amz-id-2")]
    pub host_id: String,
}

/// `s3`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Entity {
    /// Always "1.0".
    pub s3_schema_version: String,
    /// The `Id` of the notification configuration that matched.
    pub configuration_id: String,
    /// The bucket.
    pub bucket: BucketEntity,
    /// The object.
    pub object: ObjectEntity,
}

/// `s3.bucket`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketEntity {
    /// The bucket's name.
    pub name: String,
    /// The bucket owner.
    pub owner_identity: UserIdentity,
    /// `arn:aws:s3:::<bucket>`, the form consumers parse.
    pub arn: String,
}

/// `s3.object`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEntity {
    /// The key, URL-encoded as AWS does it (see [`encode_key`]).
    pub key: String,
    /// The object's size; absent on removals, as on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The ETag without quotes; absent on removals.
    #[serde(default, rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// The version id (absent for an unversioned bucket's null version, as on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Orders the events of one key (see [`Sequencer`]).
    pub sequencer: String,
}

/// What the engine knows about one committed change, from which [`EventRecord::new`] builds
/// the record for one matching configuration.
#[derive(Clone, Debug)]
pub struct ObjectEvent {
    /// The event type.
    pub name: EventName,
    /// The gateway's region.
    pub region: String,
    /// When the change committed.
    pub time: SystemTime,
    /// The requester's principal id.
    pub principal_id: String,
    /// The client's IP address.
    pub source_ip: String,
    /// The request's `x-amz-request-id`.
    pub request_id: String,
    /// The request's `x-amz-id-2`.
    pub host_id: String,
    /// The bucket.
    pub bucket: String,
    /// The bucket owner's principal id.
    pub bucket_owner: String,
    /// The raw object key (encoded when the record is built).
    pub key: String,
    /// The object's size (None for removals).
    pub size: Option<u64>,
    /// The ETag, quoted or not (None for removals).
    pub etag: Option<String>,
    /// The version id, if the bucket is versioned.
    pub version_id: Option<String>,
    /// The change's position in its key's history.
    pub sequencer: Sequencer,
}

impl EventRecord {
    /// The record of `event` for the configuration `configuration_id`.
    pub fn new(event: &ObjectEvent, configuration_id: &str) -> EventRecord {
        EventRecord {
            event_version: event.name.event_version().to_owned(),
            event_source: "aws:s3".to_owned(),
            aws_region: event.region.clone(),
            event_time: format_event_time(event.time),
            event_name: event.name,
            user_identity: UserIdentity { principal_id: event.principal_id.clone() },
            request_parameters: RequestParameters { source_ip_address: event.source_ip.clone() },
            response_elements: ResponseElements {
                request_id: event.request_id.clone(),
                host_id: event.host_id.clone(),
            },
            s3: S3Entity {
                s3_schema_version: "1.0".to_owned(),
                configuration_id: configuration_id.to_owned(),
                bucket: BucketEntity {
                    name: event.bucket.clone(),
                    owner_identity: UserIdentity { principal_id: event.bucket_owner.clone() },
                    arn: format!("arn:aws:s3:::{}", event.bucket),
                },
                object: ObjectEntity {
                    key: encode_key(&event.key),
                    size: event.size,
                    e_tag: event.etag.as_deref().map(|e| e.trim_matches('"').to_owned()),
                    version_id: event.version_id.clone(),
                    sequencer: event.sequencer.as_str().to_owned(),
                },
            },
        }
    }

    /// A stable id for this record, the same on every delivery attempt and different for
    /// every change and configuration: the first 128 bits of SHA-256 over configuration,
    /// bucket, key, version, sequencer and event name, in hex. Targets use it for broker-side
    /// deduplication (`Nats-Msg-Id`) and put it where consumers can dedupe (`message_id`,
    /// a header or a field).
    pub fn dedupe_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.s3.configuration_id.as_str(),
            self.s3.bucket.name.as_str(),
            self.s3.object.key.as_str(),
            self.s3.object.version_id.as_deref().unwrap_or(""),
            self.s3.object.sequencer.as_str(),
            self.event_name.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// The message S3 sends when a notification configuration is saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestEvent {
    /// "Amazon S3", kept so that consumers that check it accept the message.
    pub service: String,
    /// "s3:TestEvent".
    pub event: String,
    /// When the configuration was saved (same format as `eventTime`).
    pub time: String,
    /// The bucket.
    pub bucket: String,
    /// The PutBucketNotificationConfiguration request's id.
    pub request_id: String,
    /// Its `x-amz-id-2`.
    pub host_id: String,
}

impl TestEvent {
    /// The test event for a configuration saved at `time`.
    pub fn new(bucket: &str, time: SystemTime, request_id: &str, host_id: &str) -> TestEvent {
        TestEvent {
            service: "Amazon S3".to_owned(),
            event: "s3:TestEvent".to_owned(),
            time: format_event_time(time),
            bucket: bucket.to_owned(),
            request_id: request_id.to_owned(),
            host_id: host_id.to_owned(),
        }
    }
}

/// A change's position in the history of its key: upper-case hex. AWS compares sequencers of
/// one key by left-padding the shorter with zeros and comparing the strings; [`Ord`] does
/// that. [`Sequencer::from_u64`] writes a fixed 16 digits, so the gateway's own sequencers
/// also compare as strings.
#[derive(Clone, Debug)]
pub struct Sequencer(String);

impl Sequencer {
    /// The sequencer of the change numbered `n` (the outbox's monotonic id).
    pub fn from_u64(n: u64) -> Sequencer {
        Sequencer(format!("{n:016X}"))
    }

    /// Accepts any non-empty hex string (as read back from a record).
    pub fn parse(s: &str) -> Option<Sequencer> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sequencer(s.to_ascii_uppercase()))
    }

    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for Sequencer {
    fn cmp(&self, other: &Self) -> Ordering {
        let width = self.0.len().max(other.0.len());
        let pad = |s: &str| format!("{s:0>width$}");
        pad(&self.0).cmp(&pad(&other.0))
    }
}

// Equality and hashing agree with the padded comparison: "00FF" and "FF" are one position.
impl PartialEq for Sequencer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Sequencer {}

impl std::hash::Hash for Sequencer {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.trim_start_matches('0').hash(state);
    }
}

impl PartialOrd for Sequencer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// URL-encodes a key as AWS does in event records: `application/x-www-form-urlencoded`
/// (space as `+`, UTF-8 bytes as `%XX`), except that `/` is left as it is (observed on AWS:
/// minio#11665). Letters, digits and `-_.*` stay; everything else is percent-encoded.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Formats `time` as AWS's `eventTime`: `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC. Times before 1970
/// are written as the epoch (a commit time never is).
pub fn format_event_time(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_are_encoded_as_in_aws_records() {
        for (key, expected) in [
            ("HappyFace.jpg", "HappyFace.jpg"),
            ("red flower.jpg", "red+flower.jpg"),
            ("dir/sub/file.txt", "dir/sub/file.txt"),
            ("files/2017-11-15 14:22:21_file.csv", "files/2017-11-15+14%3A22%3A21_file.csv"),
            ("something/dt=2018-05-04/_SUCCESS", "something/dt%3D2018-05-04/_SUCCESS"),
            ("c++ (1).deb", "c%2B%2B+%281%29.deb"),
            ("a~b!c'd", "a%7Eb%21c%27d"),
            ("naïve", "na%C3%AFve"),
            ("100%", "100%25"),
            ("*.log", "*.log"),
        ] {
            assert_eq!(encode_key(key), expected, "{key}");
        }
    }

    #[test]
    fn event_time_has_milliseconds() {
        for (secs, millis, expected) in [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (1_663_568_514, 899, "2022-09-19T06:21:54.899Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (4_107_542_399, 999, "2100-02-28T23:59:59.999Z"),
        ] {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
            assert_eq!(format_event_time(t), expected);
        }
    }

    #[test]
    fn sequencers_compare_after_left_padding() {
        let s = |x: &str| Sequencer::parse(x).unwrap();
        assert!(s("0055AED6DCD90281E5") > s("55AED6DCD90281E4"));
        assert!(s("FF") > s("0FE"));
        assert_eq!(s("00FF").cmp(&s("FF")), Ordering::Equal);
        assert!(Sequencer::from_u64(10) > Sequencer::from_u64(9));
        assert_eq!(Sequencer::from_u64(255).as_str(), "00000000000000FF");
        assert!(Sequencer::parse("").is_none());
        assert!(Sequencer::parse("12G").is_none());
    }
}
