//! Key name filters and the rules of one bucket's notification configuration: which
//! configuration a change matches, and AWS's refusal of configurations that overlap.

use crate::{ConfigError, EventName, EventPattern, TargetArn};

/// A key name filter: at most one prefix and one suffix (`Filter.S3Key.FilterRule`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// The key must start with this (`None`: any key).
    pub prefix: Option<String>,
    /// The key must end with this (`None`: any key).
    pub suffix: Option<String>,
}

impl KeyFilter {
    /// Builds a filter from `FilterRule` (name, value) pairs as a request carries them. Names
    /// are matched case-insensitively (`GetBucketNotificationConfiguration` answers
    /// `Prefix`/`Suffix`, clients send either); more than one rule of a kind is refused, as
    /// on AWS.
    pub fn from_rules<'a>(
        rules: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<KeyFilter, ConfigError> {
        let mut filter = KeyFilter::default();
        for (name, value) in rules {
            let (slot, which) = if name.eq_ignore_ascii_case("prefix") {
                (&mut filter.prefix, "prefix")
            } else if name.eq_ignore_ascii_case("suffix") {
                (&mut filter.suffix, "suffix")
            } else {
                return Err(ConfigError::InvalidFilterRuleName { name: name.to_owned() });
            };
            if slot.is_some() {
                return Err(ConfigError::DuplicateFilterRule { which });
            }
            *slot = Some(value.to_owned());
        }
        Ok(filter)
    }

    /// Whether `key` (the raw object key, not URL-encoded) passes the filter.
    pub fn matches(&self, key: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    /// Whether some key could pass both filters' prefixes and both suffixes in AWS's sense:
    /// two prefixes overlap when one starts with the other, two suffixes when one ends with
    /// the other, and a missing rule overlaps everything.
    fn overlaps(&self, other: &KeyFilter) -> bool {
        let prefix = |a: &str, b: &str| a.starts_with(b) || b.starts_with(a);
        let suffix = |a: &str, b: &str| a.ends_with(b) || b.ends_with(a);
        let prefixes =
            prefix(self.prefix.as_deref().unwrap_or(""), other.prefix.as_deref().unwrap_or(""));
        let suffixes =
            suffix(self.suffix.as_deref().unwrap_or(""), other.suffix.as_deref().unwrap_or(""));
        prefixes && suffixes
    }

    fn same_as(&self, other: &KeyFilter) -> bool {
        self.prefix.as_deref().unwrap_or("") == other.prefix.as_deref().unwrap_or("")
            && self.suffix.as_deref().unwrap_or("") == other.suffix.as_deref().unwrap_or("")
    }
}

/// One configuration of a bucket's notification configuration (a `QueueConfiguration`,
/// `TopicConfiguration` or `CloudFunctionConfiguration`), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRule {
    /// The configuration's `Id`, which becomes the records' `s3.configurationId`.
    pub id: String,
    /// Where matching events go.
    pub destination: TargetArn,
    /// The event types it subscribes to (at least one).
    pub events: Vec<EventPattern>,
    /// The key name filter.
    pub filter: KeyFilter,
}

impl NotificationRule {
    /// Whether a change of type `name` to `key` (raw) is sent to this configuration.
    pub fn matches(&self, name: EventName, key: &str) -> bool {
        self.events.iter().any(|p| p.matches(name)) && self.filter.matches(key)
    }
}

/// Checks a bucket's configurations against each other as AWS does: two configurations that
/// share an event type must have key filters that cannot both match one key, whatever their
/// destinations. Identical filters (none at all included) answer "Configurations overlap",
/// other overlapping ones "Configuration is ambiguously defined".
pub fn check_rules(rules: &[NotificationRule]) -> Result<(), ConfigError> {
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            let shared = a.events.iter().find(|pa| b.events.iter().any(|pb| pa.overlaps(*pb)));
            let Some(shared) = shared else { continue };
            if !a.filter.overlaps(&b.filter) {
                continue;
            }
            let event = shared.to_string();
            return Err(if a.filter.same_as(&b.filter) {
                ConfigError::OverlappingConfigurations { event }
            } else {
                ConfigError::AmbiguousConfigurations { event }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(prefix: Option<&str>, suffix: Option<&str>) -> KeyFilter {
        KeyFilter { prefix: prefix.map(str::to_owned), suffix: suffix.map(str::to_owned) }
    }

    fn rule(id: &str, events: &[&str], f: KeyFilter) -> NotificationRule {
        NotificationRule {
            id: id.to_owned(),
            destination: "arn:s3gate:sqs:r:t:webhook".parse().unwrap(),
            events: events.iter().map(|e| e.parse().unwrap()).collect(),
            filter: f,
        }
    }

    #[test]
    fn rules_parse_case_insensitively_and_refuse_duplicates() {
        assert_eq!(
            KeyFilter::from_rules([("prefix", "a/"), ("Suffix", ".jpg")]).unwrap(),
            filter(Some("a/"), Some(".jpg"))
        );
        assert_eq!(KeyFilter::from_rules([]).unwrap(), filter(None, None));
        assert_eq!(
            KeyFilter::from_rules([("prefix", "a"), ("PREFIX", "b")]),
            Err(ConfigError::DuplicateFilterRule { which: "prefix" })
        );
        assert_eq!(
            KeyFilter::from_rules([("suffix", "a"), ("suffix", "a")]),
            Err(ConfigError::DuplicateFilterRule { which: "suffix" })
        );
        assert_eq!(
            KeyFilter::from_rules([("name", "a")]),
            Err(ConfigError::InvalidFilterRuleName { name: "name".to_owned() })
        );
        let err = KeyFilter::from_rules([("suffix", "a"), ("suffix", "b")]).unwrap_err();
        assert_eq!(err.aws_message(), "Cannot specify more than one suffix rule in a filter.");
    }

    #[test]
    fn filters_match_raw_keys() {
        let f = filter(Some("images/"), Some(".jpg"));
        for (key, expected) in [
            ("images/a.jpg", true),
            ("images/.jpg", true),
            ("images/a.png", false),
            ("docs/a.jpg", false),
            ("images/dir/b c.jpg", true),
        ] {
            assert_eq!(f.matches(key), expected, "{key}");
        }
        assert!(filter(None, None).matches(""));
    }

    fn check(a: NotificationRule, b: NotificationRule, expected: Result<(), &str>) {
        let got = check_rules(&[a, b]).map_err(|e| match e {
            ConfigError::OverlappingConfigurations { .. } => "overlap",
            ConfigError::AmbiguousConfigurations { .. } => "ambiguous",
            other => panic!("{other:?}"),
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn overlap_rules_follow_aws() {
        let none = || filter(None, None);
        let created = ["s3:ObjectCreated:*"];
        // Same events, no filters: AWS's "Configurations overlap" (minio#2472 shows the body).
        check(rule("a", &created, none()), rule("b", &created, none()), Err("overlap"));
        // Different event types never conflict.
        check(rule("a", &created, none()), rule("b", &["s3:ObjectRemoved:*"], none()), Ok(()));
        check(
            rule("a", &["s3:ObjectCreated:Put"], none()),
            rule("b", &["s3:ObjectCreated:Copy"], none()),
            Ok(()),
        );
        // A wildcard shares its members.
        check(
            rule("a", &created, none()),
            rule("b", &["s3:ObjectCreated:Put"], filter(Some("x/"), None)),
            Err("ambiguous"),
        );
        // Disjoint prefixes with one suffix: allowed (the terraform example AWS accepts).
        check(
            rule("a", &created, filter(Some("AWSLogs/"), Some(".log"))),
            rule("b", &created, filter(Some("OtherLogs/"), Some(".log"))),
            Ok(()),
        );
        // Overlapping prefixes with disjoint suffixes: allowed.
        check(
            rule("a", &created, filter(Some("images/"), Some(".jpg"))),
            rule("b", &created, filter(Some("images/"), Some(".png"))),
            Ok(()),
        );
        // Suffixes where one ends with the other overlap (jpg, pg).
        check(
            rule("a", &created, filter(None, Some("jpg"))),
            rule("b", &created, filter(None, Some("pg"))),
            Err("ambiguous"),
        );
        // Nested prefixes overlap.
        check(
            rule("a", &created, filter(Some("a/"), None)),
            rule("b", &created, filter(Some("a/b/"), None)),
            Err("ambiguous"),
        );
        // No filter overlaps any filter for the same event type (kumo#923's first case).
        check(
            rule("a", &created, none()),
            rule("b", &created, filter(Some("p/"), None)),
            Err("ambiguous"),
        );
        // The same filter spelled with an empty value and without a rule.
        check(
            rule("a", &created, filter(Some(""), None)),
            rule("b", &created, none()),
            Err("overlap"),
        );
    }

    #[test]
    fn a_rule_matches_type_and_key() {
        let r = rule("a", &["s3:ObjectCreated:*"], filter(Some("in/"), None));
        assert!(r.matches(EventName::ObjectCreatedCopy, "in/x"));
        assert!(!r.matches(EventName::ObjectRemovedDelete, "in/x"));
        assert!(!r.matches(EventName::ObjectCreatedPut, "out/x"));
    }
}
