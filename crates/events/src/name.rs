//! The S3 event types: the concrete names a record carries and the patterns a notification
//! configuration subscribes with (`s3:ObjectCreated:*`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ConfigError;

/// A concrete event type, as a record's `eventName` carries it (`ObjectCreated:Put`, no `s3:`).
///
/// Only the types the gateway emits are here; AWS's restore, ACL, Intelligent-Tiering and
/// reduced-redundancy events are refused in a configuration ([`ConfigError::UnsupportedEvent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    /// PutObject.
    ObjectCreatedPut,
    /// POST object (browser form upload).
    ObjectCreatedPost,
    /// CopyObject.
    ObjectCreatedCopy,
    /// CompleteMultipartUpload.
    ObjectCreatedCompleteMultipartUpload,
    /// DeleteObject of an unversioned object or of a version (the version is gone).
    ObjectRemovedDelete,
    /// DeleteObject in a versioned bucket: a delete marker was created.
    ObjectRemovedDeleteMarkerCreated,
    /// PutObjectTagging.
    ObjectTaggingPut,
    /// DeleteObjectTagging.
    ObjectTaggingDelete,
    /// A lifecycle rule expired (deleted) an object or a version.
    LifecycleExpirationDelete,
    /// A lifecycle rule expired the current version of a versioned object: a delete marker.
    LifecycleExpirationDeleteMarkerCreated,
    /// A lifecycle rule moved an object to another storage class.
    LifecycleTransition,
    /// Replication of an object failed.
    ReplicationOperationFailedReplication,
    /// Replication took longer than the replication time threshold.
    ReplicationOperationMissedThreshold,
    /// An object was replicated after the threshold had passed.
    ReplicationOperationReplicatedAfterThreshold,
    /// An object is no longer tracked by replication metrics.
    ReplicationOperationNotTracked,
}

/// Every concrete event name, in declaration order.
pub const ALL_EVENT_NAMES: [EventName; 15] = [
    EventName::ObjectCreatedPut,
    EventName::ObjectCreatedPost,
    EventName::ObjectCreatedCopy,
    EventName::ObjectCreatedCompleteMultipartUpload,
    EventName::ObjectRemovedDelete,
    EventName::ObjectRemovedDeleteMarkerCreated,
    EventName::ObjectTaggingPut,
    EventName::ObjectTaggingDelete,
    EventName::LifecycleExpirationDelete,
    EventName::LifecycleExpirationDeleteMarkerCreated,
    EventName::LifecycleTransition,
    EventName::ReplicationOperationFailedReplication,
    EventName::ReplicationOperationMissedThreshold,
    EventName::ReplicationOperationReplicatedAfterThreshold,
    EventName::ReplicationOperationNotTracked,
];

/// The families of event types, the part before the second colon; `s3:<Family>:*` subscribes
/// to every member of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventFamily {
    /// `ObjectCreated`.
    ObjectCreated,
    /// `ObjectRemoved`.
    ObjectRemoved,
    /// `ObjectTagging`.
    ObjectTagging,
    /// `LifecycleExpiration`.
    LifecycleExpiration,
    /// `LifecycleTransition` (no members: the type is the family).
    LifecycleTransition,
    /// `Replication`.
    Replication,
}

impl EventFamily {
    fn as_str(self) -> &'static str {
        match self {
            EventFamily::ObjectCreated => "ObjectCreated",
            EventFamily::ObjectRemoved => "ObjectRemoved",
            EventFamily::ObjectTagging => "ObjectTagging",
            EventFamily::LifecycleExpiration => "LifecycleExpiration",
            EventFamily::LifecycleTransition => "LifecycleTransition",
            EventFamily::Replication => "Replication",
        }
    }
}

impl EventName {
    /// The name as a record carries it: `ObjectCreated:Put`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::ObjectCreatedPut => "ObjectCreated:Put",
            EventName::ObjectCreatedPost => "ObjectCreated:Post",
            EventName::ObjectCreatedCopy => "ObjectCreated:Copy",
            EventName::ObjectCreatedCompleteMultipartUpload => {
                "ObjectCreated:CompleteMultipartUpload"
            }
            EventName::ObjectRemovedDelete => "ObjectRemoved:Delete",
            EventName::ObjectRemovedDeleteMarkerCreated => "ObjectRemoved:DeleteMarkerCreated",
            EventName::ObjectTaggingPut => "ObjectTagging:Put",
            EventName::ObjectTaggingDelete => "ObjectTagging:Delete",
            EventName::LifecycleExpirationDelete => "LifecycleExpiration:Delete",
            EventName::LifecycleExpirationDeleteMarkerCreated => {
                "LifecycleExpiration:DeleteMarkerCreated"
            }
            EventName::LifecycleTransition => "LifecycleTransition",
            EventName::ReplicationOperationFailedReplication => {
                "Replication:OperationFailedReplication"
            }
            EventName::ReplicationOperationMissedThreshold => {
                "Replication:OperationMissedThreshold"
            }
            EventName::ReplicationOperationReplicatedAfterThreshold => {
                "Replication:OperationReplicatedAfterThreshold"
            }
            EventName::ReplicationOperationNotTracked => "Replication:OperationNotTracked",
        }
    }

    /// The family this name belongs to.
    pub fn family(self) -> EventFamily {
        match self {
            EventName::ObjectCreatedPut
            | EventName::ObjectCreatedPost
            | EventName::ObjectCreatedCopy
            | EventName::ObjectCreatedCompleteMultipartUpload => EventFamily::ObjectCreated,
            EventName::ObjectRemovedDelete | EventName::ObjectRemovedDeleteMarkerCreated => {
                EventFamily::ObjectRemoved
            }
            EventName::ObjectTaggingPut | EventName::ObjectTaggingDelete => {
                EventFamily::ObjectTagging
            }
            EventName::LifecycleExpirationDelete
            | EventName::LifecycleExpirationDeleteMarkerCreated => EventFamily::LifecycleExpiration,
            EventName::LifecycleTransition => EventFamily::LifecycleTransition,
            EventName::ReplicationOperationFailedReplication
            | EventName::ReplicationOperationMissedThreshold
            | EventName::ReplicationOperationReplicatedAfterThreshold
            | EventName::ReplicationOperationNotTracked => EventFamily::Replication,
        }
    }

    /// The `eventVersion` AWS writes for this type: 2.2 for replication events, 2.3 for
    /// lifecycle and tagging events, 2.1 for the others (AWS's "Event message structure").
    pub fn event_version(self) -> &'static str {
        match self.family() {
            EventFamily::Replication => "2.2",
            EventFamily::LifecycleExpiration
            | EventFamily::LifecycleTransition
            | EventFamily::ObjectTagging => "2.3",
            EventFamily::ObjectCreated | EventFamily::ObjectRemoved => "2.1",
        }
    }

    /// Parses a record's `eventName` (`ObjectCreated:Put`), without the `s3:` prefix.
    pub fn from_record_name(name: &str) -> Option<EventName> {
        ALL_EVENT_NAMES.into_iter().find(|n| n.as_str() == name)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EventName::from_record_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown S3 event name {name:?}")))
    }
}

/// An event type as a notification configuration names it: one concrete name
/// (`s3:ObjectCreated:Put`) or a whole family (`s3:ObjectCreated:*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventPattern {
    /// Exactly this event type.
    Exact(EventName),
    /// Every event type of the family.
    Family(EventFamily),
}

/// AWS event types the gateway never emits, refused rather than accepted and ignored.
const NOT_EMITTED: [&str; 7] = [
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ObjectAcl:Put",
    "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject",
];

impl EventPattern {
    /// Whether a record of type `name` is subscribed to by this pattern.
    pub fn matches(self, name: EventName) -> bool {
        match self {
            EventPattern::Exact(exact) => exact == name,
            EventPattern::Family(family) => name.family() == family,
        }
    }

    /// Whether some event type is matched by both patterns (AWS refuses two configurations
    /// sharing an event type whose key filters overlap).
    pub fn overlaps(self, other: EventPattern) -> bool {
        ALL_EVENT_NAMES.into_iter().any(|n| self.matches(n) && other.matches(n))
    }
}

impl FromStr for EventPattern {
    type Err = ConfigError;

    /// Parses `s3:ObjectCreated:Put`, `s3:ObjectCreated:*` or `s3:LifecycleTransition`
    /// (case-sensitive, as on AWS).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || ConfigError::UnknownEvent { event: s.to_owned() };
        if NOT_EMITTED.contains(&s) {
            return Err(ConfigError::UnsupportedEvent { event: s.to_owned() });
        }
        let rest = s.strip_prefix("s3:").ok_or_else(unknown)?;
        if let Some(family) = rest.strip_suffix(":*") {
            return [
                EventFamily::ObjectCreated,
                EventFamily::ObjectRemoved,
                EventFamily::ObjectTagging,
                EventFamily::LifecycleExpiration,
                EventFamily::Replication,
            ]
            .into_iter()
            .find(|f| f.as_str() == family)
            .map(EventPattern::Family)
            .ok_or_else(unknown);
        }
        EventName::from_record_name(rest).map(EventPattern::Exact).ok_or_else(unknown)
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventPattern::Exact(name) => write!(f, "s3:{name}"),
            EventPattern::Family(family) => write!(f, "s3:{}:*", family.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, expected: &[EventName]) {
        let p: EventPattern = pattern.parse().unwrap();
        let matched: Vec<EventName> =
            ALL_EVENT_NAMES.into_iter().filter(|n| p.matches(*n)).collect();
        assert_eq!(matched, expected, "{pattern}");
        assert_eq!(p.to_string(), pattern, "round trip");
    }

    #[test]
    fn wildcards_match_their_family() {
        use EventName::*;
        check(
            "s3:ObjectCreated:*",
            &[
                ObjectCreatedPut,
                ObjectCreatedPost,
                ObjectCreatedCopy,
                ObjectCreatedCompleteMultipartUpload,
            ],
        );
        check("s3:ObjectRemoved:*", &[ObjectRemovedDelete, ObjectRemovedDeleteMarkerCreated]);
        check("s3:ObjectTagging:*", &[ObjectTaggingPut, ObjectTaggingDelete]);
        check(
            "s3:LifecycleExpiration:*",
            &[LifecycleExpirationDelete, LifecycleExpirationDeleteMarkerCreated],
        );
        check("s3:LifecycleTransition", &[LifecycleTransition]);
        check(
            "s3:Replication:*",
            &[
                ReplicationOperationFailedReplication,
                ReplicationOperationMissedThreshold,
                ReplicationOperationReplicatedAfterThreshold,
                ReplicationOperationNotTracked,
            ],
        );
        check("s3:ObjectCreated:Copy", &[ObjectCreatedCopy]);
        check("s3:ObjectRemoved:DeleteMarkerCreated", &[ObjectRemovedDeleteMarkerCreated]);
    }

    #[test]
    fn every_name_round_trips_and_is_its_own_pattern() {
        for name in ALL_EVENT_NAMES {
            assert_eq!(EventName::from_record_name(name.as_str()), Some(name));
            check(&format!("s3:{name}"), &[name]);
        }
    }

    #[test]
    fn unknown_and_unsupported_names_are_refused() {
        for bad in [
            "ObjectCreated:Put",
            "s3:objectcreated:put",
            "s3:ObjectCreated",
            "s3:LifecycleTransition:*",
            "s3:*",
            "s3:ObjectCreated:Puts",
            "",
        ] {
            assert!(
                matches!(bad.parse::<EventPattern>(), Err(ConfigError::UnknownEvent { .. })),
                "{bad:?}"
            );
        }
        for unsupported in ["s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectAcl:Put"] {
            assert!(
                matches!(
                    unsupported.parse::<EventPattern>(),
                    Err(ConfigError::UnsupportedEvent { .. })
                ),
                "{unsupported}"
            );
        }
    }

    #[test]
    fn overlap_is_a_shared_concrete_type() {
        let p = |s: &str| s.parse::<EventPattern>().unwrap();
        assert!(p("s3:ObjectCreated:*").overlaps(p("s3:ObjectCreated:Put")));
        assert!(p("s3:ObjectCreated:Put").overlaps(p("s3:ObjectCreated:Put")));
        assert!(!p("s3:ObjectCreated:Put").overlaps(p("s3:ObjectCreated:Copy")));
        assert!(!p("s3:ObjectCreated:*").overlaps(p("s3:ObjectRemoved:*")));
    }

    #[test]
    fn versions_follow_the_aws_table() {
        assert_eq!(EventName::ObjectCreatedPut.event_version(), "2.1");
        assert_eq!(EventName::ObjectRemovedDeleteMarkerCreated.event_version(), "2.1");
        assert_eq!(EventName::ReplicationOperationNotTracked.event_version(), "2.2");
        assert_eq!(EventName::ObjectTaggingPut.event_version(), "2.3");
        assert_eq!(EventName::LifecycleTransition.event_version(), "2.3");
    }
}
