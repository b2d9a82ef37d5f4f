//! Lifecycle configuration as S3 has it: the `LifecycleConfiguration` document (parsed and
//! validated as PutBucketLifecycleConfiguration validates it, rendered as
//! GetBucketLifecycleConfiguration answers) and the pure decisions a rule engine needs: which
//! action is due for a version at a given time, when a current object expires (the
//! `x-amz-expiration` header), and whether an incomplete multipart upload is due to be aborted.
//!
//! Times follow AWS: a rule's `Days` are added to the object's creation time (a noncurrent
//! version's: the time its successor was created; an upload's: its initiation), and the result
//! is rounded up to the next midnight UTC; a `Date` is itself a midnight UTC.
//!
//! Not wired yet: the gateway answers the lifecycle operations `501 NotImplemented` until the
//! engine executes these rules (issue 23), so that no configuration is accepted and ignored.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use s3gate_protocol::lifecycle::{parse_lifecycle_configuration, Action, VersionFacts};
//!
//! let config = parse_lifecycle_configuration(br#"<LifecycleConfiguration><Rule>
//!   <ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>
//!   <Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>"#, "r")?;
//! // Written on 2014-01-15 at 10:30 UTC: due at 2014-01-19 00:00 UTC.
//! let written = UNIX_EPOCH + Duration::from_secs(1_389_781_800);
//! let facts = VersionFacts { key: "logs/a", size: 10, tags: &[], ..VersionFacts::current(written) };
//! let (expiry, rule) = config.expiration_of(&facts).unwrap();
//! assert_eq!(expiry, UNIX_EPOCH + Duration::from_secs(1_390_089_600));
//! assert_eq!(rule, "logs");
//! assert_eq!(config.due(&facts, expiry).map(|d| d.action), Some(Action::ExpireCurrent));
//! assert!(config.due(&facts, expiry - Duration::from_secs(1)).is_none());
//! # Ok::<(), s3gate_protocol::S3Error>(())
//! ```

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{ErrorCode, S3Error};
use crate::time::{format_iso8601, parse_iso8601};
use crate::xml::{Element, Writer, expect_root, malformed, parse_document};

/// Largest PutBucketLifecycleConfiguration body accepted.
pub const MAX_LIFECYCLE_BODY: usize = 1024 * 1024;
/// Most rules a configuration may hold (AWS: 1,000).
pub const MAX_LIFECYCLE_RULES: usize = 1000;
/// Longest rule `ID` (AWS: 255 characters).
pub const MAX_RULE_ID: usize = 255;
/// The storage classes a `Transition` may name.
pub const TRANSITION_CLASSES: [&str; 6] =
    ["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"];

const DAY: u64 = 86_400;

/// What a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFilter {
    /// Key prefix ("" matches every key).
    pub prefix: String,
    /// Tags the object must all carry.
    pub tags: Vec<(String, String)>,
    /// `ObjectSizeGreaterThan`.
    pub size_greater_than: Option<u64>,
    /// `ObjectSizeLessThan`.
    pub size_less_than: Option<u64>,
    /// How the document wrote it, so that Get answers what Put was given.
    pub form: FilterForm,
}

/// The form of a rule's filter in the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FilterForm {
    /// The legacy rule-level `<Prefix>`.
    #[default]
    LegacyPrefix,
    /// `<Filter>` with at most one predicate (possibly none).
    Single,
    /// `<Filter><And>...</And></Filter>`.
    And,
}

/// When an action falls due: a number of days after the reference time, or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `Days`.
    Days(u32),
    /// `Date` (a midnight UTC).
    Date(SystemTime),
}

/// `Expiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiration {
    /// Expire current versions.
    At(When),
    /// `ExpiredObjectDeleteMarker`: remove a delete marker that is the only version left.
    ExpiredObjectDeleteMarker(bool),
}

/// `Transition` or `NoncurrentVersionTransition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// When (for noncurrent versions always `Days`: `NoncurrentDays`).
    pub when: When,
    /// The target storage class.
    pub storage_class: String,
    /// `NewerNoncurrentVersions` (noncurrent transitions only).
    pub newer_noncurrent_versions: Option<u32>,
}

/// `NoncurrentVersionExpiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoncurrentExpiration {
    /// `NoncurrentDays`.
    pub days: u32,
    /// `NewerNoncurrentVersions`: how many newer noncurrent versions are kept regardless.
    pub newer_noncurrent_versions: Option<u32>,
}

/// One `Rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    /// `ID` (generated when the document has none, as AWS does).
    pub id: String,
    /// `Status` is `Enabled`.
    pub enabled: bool,
    /// The filter.
    pub filter: RuleFilter,
    /// `Expiration`.
    pub expiration: Option<Expiration>,
    /// `Transition`s.
    pub transitions: Vec<Transition>,
    /// `NoncurrentVersionTransition`s.
    pub noncurrent_transitions: Vec<Transition>,
    /// `NoncurrentVersionExpiration`.
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload` `DaysAfterInitiation`.
    pub abort_incomplete_days: Option<u32>,
}

/// A bucket's `LifecycleConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfiguration {
    /// The rules, in document order.
    pub rules: Vec<LifecycleRule>,
}

fn invalid_argument(message: &str) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidArgument, message.to_owned())
}

fn invalid_request(message: &str) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidRequest, message.to_owned())
}

/// Parses and validates a PutBucketLifecycleConfiguration body as S3 does: structure errors,
/// unknown elements, a `Status` other than `Enabled`/`Disabled` and a rule with both or
/// neither of `Prefix` and `Filter` are `MalformedXML`; an `ID` over 255 characters, two rules
/// with one `ID`, a `Date` that is not midnight UTC and a non-positive `Days` are
/// `InvalidArgument`; a rule without an action is `InvalidRequest`. A rule without an `ID` gets
/// one made from `id_seed` (the caller passes something unique, such as the request id).
pub fn parse_lifecycle_configuration(
    body: &[u8],
    id_seed: &str,
) -> Result<LifecycleConfiguration, S3Error> {
    let root = parse_document(body, MAX_LIFECYCLE_BODY)?;
    expect_root(&root, "LifecycleConfiguration")?;
    if root.children.is_empty() || root.children.iter().any(|c| c.name != "Rule") {
        return Err(malformed());
    }
    if root.children.len() > MAX_LIFECYCLE_RULES {
        return Err(S3Error::with_message(
            ErrorCode::MalformedXML,
            format!("A lifecycle configuration may hold at most {MAX_LIFECYCLE_RULES} rules."),
        ));
    }
    let mut rules = Vec::with_capacity(root.children.len());
    let mut ids = HashSet::new();
    for (i, el) in root.children.iter().enumerate() {
        let rule = parse_rule(el, &format!("{id_seed}-{i}"))?;
        if !ids.insert(rule.id.clone()) {
            return Err(invalid_argument(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
        rules.push(rule);
    }
    Ok(LifecycleConfiguration { rules })
}

fn text(el: &Element) -> &str {
    el.text.trim()
}

fn positive_days(el: &Element, what: &str) -> Result<u32, S3Error> {
    let n: i64 = text(el).parse().map_err(|_| malformed())?;
    u32::try_from(n)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| invalid_argument(&format!("'{what}' must be a positive integer")))
}

fn date(el: &Element) -> Result<SystemTime, S3Error> {
    let t = text(el);
    // AWS takes an ISO 8601 date or date-time; a time of day other than midnight is refused.
    let parsed =
        if t.len() == 10 { parse_iso8601(&format!("{t}T00:00:00Z")) } else { parse_iso8601(t) };
    let at = parsed
        .ok_or_else(|| invalid_argument("Invalid date: the Date must be in ISO 8601 format"))?;
    let secs = at.duration_since(UNIX_EPOCH).map_err(|_| invalid_argument("Invalid date"))?;
    if secs.as_secs() % DAY != 0 || secs.subsec_nanos() != 0 {
        return Err(invalid_argument("'Date' must be at midnight GMT"));
    }
    Ok(at)
}

fn when(el: &Element, days_name: &str, what: &str) -> Result<When, S3Error> {
    match (el.child(days_name)?, el.child("Date")?) {
        (Some(d), None) => {
            // Transitions may be due at once (Days 0); expirations need a positive count.
            if what == "Transition" {
                let n: i64 = text(d).parse().map_err(|_| malformed())?;
                let n = u32::try_from(n).map_err(|_| {
                    invalid_argument("'Days' in Transition action must be nonnegative")
                })?;
                Ok(When::Days(n))
            } else {
                Ok(When::Days(positive_days(d, &format!("Days' for {what} action"))?))
            }
        }
        (None, Some(d)) => Ok(When::Date(date(d)?)),
        _ => Err(malformed()),
    }
}

fn only(el: &Element, allowed: &[&str]) -> Result<(), S3Error> {
    if el.children.iter().all(|c| allowed.contains(&c.name.as_str())) {
        Ok(())
    } else {
        Err(malformed())
    }
}

fn parse_tag(el: &Element) -> Result<(String, String), S3Error> {
    only(el, &["Key", "Value"])?;
    let key = el.child("Key")?.ok_or_else(malformed)?.text.clone();
    let value = el.child("Value")?.map(|v| v.text.clone()).unwrap_or_default();
    Ok((key, value))
}

fn size(el: &Element) -> Result<u64, S3Error> {
    text(el).parse().map_err(|_| malformed())
}

fn parse_filter(el: &Element) -> Result<RuleFilter, S3Error> {
    only(el, &["Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan"])?;
    if el.children.len() > 1 {
        return Err(malformed());
    }
    let mut f = RuleFilter { form: FilterForm::Single, ..RuleFilter::default() };
    let Some(c) = el.children.first() else { return Ok(f) };
    match c.name.as_str() {
        "Prefix" => c.text.clone_into(&mut f.prefix),
        "Tag" => f.tags.push(parse_tag(c)?),
        "ObjectSizeGreaterThan" => f.size_greater_than = Some(size(c)?),
        "ObjectSizeLessThan" => f.size_less_than = Some(size(c)?),
        _ => {
            f.form = FilterForm::And;
            only(c, &["Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"])?;
            if let Some(p) = c.child("Prefix")? {
                p.text.clone_into(&mut f.prefix);
            }
            for t in c.children("Tag") {
                f.tags.push(parse_tag(t)?);
            }
            f.size_greater_than = c.child("ObjectSizeGreaterThan")?.map(size).transpose()?;
            f.size_less_than = c.child("ObjectSizeLessThan")?.map(size).transpose()?;
        }
    }
    if let (Some(gt), Some(lt)) = (f.size_greater_than, f.size_less_than)
        && gt >= lt
    {
        return Err(invalid_argument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan"));
    }
    Ok(f)
}

fn parse_transition(el: &Element, noncurrent: bool) -> Result<Transition, S3Error> {
    let (days_name, extra): (&str, &[&str]) = if noncurrent {
        ("NoncurrentDays", &["NoncurrentDays", "StorageClass", "NewerNoncurrentVersions"])
    } else {
        ("Days", &["Days", "Date", "StorageClass"])
    };
    only(el, extra)?;
    let when = when(el, days_name, "Transition")?;
    let class = el.child("StorageClass")?.ok_or_else(malformed)?.text.trim().to_owned();
    if !TRANSITION_CLASSES.contains(&class.as_str()) {
        return Err(malformed());
    }
    if let When::Days(d) = when
        && d < 30
        && (class == "STANDARD_IA" || class == "ONEZONE_IA")
    {
        return Err(invalid_argument(&format!(
            "'Days' in Transition action must be greater than or equal to 30 for storageClass '{class}'"
        )));
    }
    let newer = el.child("NewerNoncurrentVersions")?.map(newer_versions).transpose()?;
    Ok(Transition { when, storage_class: class, newer_noncurrent_versions: newer })
}

fn newer_versions(el: &Element) -> Result<u32, S3Error> {
    let n: i64 = text(el).parse().map_err(|_| malformed())?;
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| invalid_argument("'NewerNoncurrentVersions' must be between 1 and 100"))
}

// One validation per element of the rule, in the document's order: splitting it would only
// scatter AWS's rules.
#[allow(clippy::too_many_lines)]
fn parse_rule(el: &Element, generated_id: &str) -> Result<LifecycleRule, S3Error> {
    only(
        el,
        &[
            "ID",
            "Prefix",
            "Filter",
            "Status",
            "Expiration",
            "Transition",
            "NoncurrentVersionTransition",
            "NoncurrentVersionExpiration",
            "AbortIncompleteMultipartUpload",
        ],
    )?;
    let id = match el.child("ID")? {
        Some(id) if id.text.chars().count() > MAX_RULE_ID => {
            return Err(invalid_argument("ID length should not exceed allowed limit of 255"));
        }
        Some(id) if !id.text.is_empty() => id.text.clone(),
        _ => generated_id.to_owned(),
    };
    let enabled = match el.child("Status")?.map(text) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(malformed()),
    };
    let filter = match (el.child("Prefix")?, el.child("Filter")?) {
        (Some(p), None) => RuleFilter { prefix: p.text.clone(), ..RuleFilter::default() },
        (None, Some(f)) => parse_filter(f)?,
        _ => return Err(malformed()),
    };
    let expiration = match el.child("Expiration")? {
        None => None,
        Some(e) => {
            only(e, &["Days", "Date", "ExpiredObjectDeleteMarker"])?;
            if e.children.len() != 1 {
                return Err(malformed());
            }
            match e.child("ExpiredObjectDeleteMarker")? {
                Some(m) => {
                    let on = match text(m) {
                        "true" => true,
                        "false" => false,
                        _ => return Err(malformed()),
                    };
                    if !filter.tags.is_empty() {
                        return Err(invalid_request(
                            "ExpiredObjectDeleteMarker cannot be specified with tags.",
                        ));
                    }
                    Some(Expiration::ExpiredObjectDeleteMarker(on))
                }
                None => Some(Expiration::At(when(e, "Days", "Expiration")?)),
            }
        }
    };
    let transitions = el
        .children("Transition")
        .map(|t| parse_transition(t, false))
        .collect::<Result<Vec<_>, _>>()?;
    let noncurrent_transitions = el
        .children("NoncurrentVersionTransition")
        .map(|t| parse_transition(t, true))
        .collect::<Result<Vec<_>, _>>()?;
    let noncurrent_expiration = match el.child("NoncurrentVersionExpiration")? {
        None => None,
        Some(n) => {
            only(n, &["NoncurrentDays", "NewerNoncurrentVersions"])?;
            let days = positive_days(
                n.child("NoncurrentDays")?.ok_or_else(malformed)?,
                "NoncurrentDays' for NoncurrentVersionExpiration action",
            )?;
            let newer = n.child("NewerNoncurrentVersions")?.map(newer_versions).transpose()?;
            Some(NoncurrentExpiration { days, newer_noncurrent_versions: newer })
        }
    };
    let abort_incomplete_days = match el.child("AbortIncompleteMultipartUpload")? {
        None => None,
        Some(a) => {
            only(a, &["DaysAfterInitiation"])?;
            if !filter.tags.is_empty() {
                return Err(invalid_request(
                    "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                ));
            }
            Some(positive_days(
                a.child("DaysAfterInitiation")?.ok_or_else(malformed)?,
                "DaysAfterInitiation' for AbortIncompleteMultipartUpload action",
            )?)
        }
    };
    if expiration.is_none()
        && transitions.is_empty()
        && noncurrent_transitions.is_empty()
        && noncurrent_expiration.is_none()
        && abort_incomplete_days.is_none()
    {
        return Err(invalid_request("At least one action needs to be specified in a rule"));
    }
    // Days and dates are not mixed in one rule, and an expiration comes after the transitions.
    let dates = transitions.iter().map(|t| t.when).chain(match expiration {
        Some(Expiration::At(w)) => Some(w),
        _ => None,
    });
    let (mut any_days, mut any_date) = (false, false);
    for w in dates {
        match w {
            When::Days(_) => any_days = true,
            When::Date(_) => any_date = true,
        }
    }
    if any_days && any_date {
        return Err(invalid_request(
            "Found mixed 'Date' and 'Days' based Expiration and Transition actions in lifecycle rule",
        ));
    }
    if let Some(Expiration::At(When::Days(e))) = expiration
        && transitions.iter().any(|t| matches!(t.when, When::Days(d) if d >= e))
    {
        return Err(invalid_argument(
            "'Days' in the Expiration action must be greater than 'Days' in the Transition action",
        ));
    }
    Ok(LifecycleRule {
        id,
        enabled,
        filter,
        expiration,
        transitions,
        noncurrent_transitions,
        noncurrent_expiration,
        abort_incomplete_days,
    })
}

fn write_when(w: &mut Writer, when: When, days_name: &str) {
    match when {
        When::Days(d) => w.num(days_name, d),
        When::Date(t) => {
            let mut s = format_iso8601(t);
            // AWS answers dates as `2017-09-27T00:00:00.000Z`.
            s.truncate(24);
            w.elem("Date", &s);
        }
    }
}

fn write_tag(w: &mut Writer, (k, v): &(String, String)) {
    w.open("Tag");
    w.elem("Key", k);
    w.elem("Value", v);
    w.close("Tag");
}

impl LifecycleConfiguration {
    /// The GetBucketLifecycleConfiguration body.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new("LifecycleConfiguration");
        for r in &self.rules {
            w.open("Rule");
            w.elem("ID", &r.id);
            let f = &r.filter;
            match f.form {
                FilterForm::LegacyPrefix => w.elem("Prefix", &f.prefix),
                FilterForm::Single => {
                    w.open("Filter");
                    if !f.prefix.is_empty() {
                        w.elem("Prefix", &f.prefix);
                    }
                    if let Some(t) = f.tags.first() {
                        write_tag(&mut w, t);
                    }
                    if let Some(n) = f.size_greater_than {
                        w.num("ObjectSizeGreaterThan", n);
                    }
                    if let Some(n) = f.size_less_than {
                        w.num("ObjectSizeLessThan", n);
                    }
                    w.close("Filter");
                }
                FilterForm::And => {
                    w.open("Filter");
                    w.open("And");
                    if !f.prefix.is_empty() {
                        w.elem("Prefix", &f.prefix);
                    }
                    for t in &f.tags {
                        write_tag(&mut w, t);
                    }
                    if let Some(n) = f.size_greater_than {
                        w.num("ObjectSizeGreaterThan", n);
                    }
                    if let Some(n) = f.size_less_than {
                        w.num("ObjectSizeLessThan", n);
                    }
                    w.close("And");
                    w.close("Filter");
                }
            }
            w.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
            match r.expiration {
                None => {}
                Some(Expiration::At(when)) => {
                    w.open("Expiration");
                    write_when(&mut w, when, "Days");
                    w.close("Expiration");
                }
                Some(Expiration::ExpiredObjectDeleteMarker(on)) => {
                    w.open("Expiration");
                    w.elem("ExpiredObjectDeleteMarker", if on { "true" } else { "false" });
                    w.close("Expiration");
                }
            }
            for t in &r.transitions {
                w.open("Transition");
                write_when(&mut w, t.when, "Days");
                w.elem("StorageClass", &t.storage_class);
                w.close("Transition");
            }
            for t in &r.noncurrent_transitions {
                w.open("NoncurrentVersionTransition");
                write_when(&mut w, t.when, "NoncurrentDays");
                w.elem("StorageClass", &t.storage_class);
                if let Some(n) = t.newer_noncurrent_versions {
                    w.num("NewerNoncurrentVersions", n);
                }
                w.close("NoncurrentVersionTransition");
            }
            if let Some(n) = r.noncurrent_expiration {
                w.open("NoncurrentVersionExpiration");
                w.num("NoncurrentDays", n.days);
                if let Some(k) = n.newer_noncurrent_versions {
                    w.num("NewerNoncurrentVersions", k);
                }
                w.close("NoncurrentVersionExpiration");
            }
            if let Some(d) = r.abort_incomplete_days {
                w.open("AbortIncompleteMultipartUpload");
                w.num("DaysAfterInitiation", d);
                w.close("AbortIncompleteMultipartUpload");
            }
            w.close("Rule");
        }
        w.finish("LifecycleConfiguration")
    }
}

/// What the rule engine knows of one version when it decides.
#[derive(Debug, Clone, Copy)]
pub struct VersionFacts<'a> {
    /// The key.
    pub key: &'a str,
    /// Its size in bytes (0 for a delete marker).
    pub size: u64,
    /// Its tags.
    pub tags: &'a [(String, String)],
    /// When it was written.
    pub last_modified: SystemTime,
    /// It is the key's latest version.
    pub is_latest: bool,
    /// It is a delete marker.
    pub is_delete_marker: bool,
    /// For a noncurrent version: when it became noncurrent (its successor's creation).
    pub noncurrent_since: Option<SystemTime>,
    /// For a noncurrent version: how many noncurrent versions of the key are newer.
    pub newer_noncurrent: u32,
    /// The key has no other version (for `ExpiredObjectDeleteMarker`).
    pub only_version: bool,
    /// Its storage class now.
    pub storage_class: &'a str,
}

impl VersionFacts<'_> {
    /// Facts of a current, sole object version written at `last_modified`, to be completed
    /// with struct update syntax.
    pub fn current(last_modified: SystemTime) -> Self {
        VersionFacts {
            key: "",
            size: 0,
            tags: &[],
            last_modified,
            is_latest: true,
            is_delete_marker: false,
            noncurrent_since: None,
            newer_noncurrent: 0,
            only_version: true,
            storage_class: "STANDARD",
        }
    }
}

/// An action due on a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Expire the current version: delete it (unversioned bucket) or put a delete marker on
    /// top of it (versioning enabled or suspended), as AWS does.
    ExpireCurrent,
    /// Delete this version permanently (a noncurrent version, or an expired delete marker).
    DeleteVersion,
    /// Move the version to a storage class.
    Transition(String),
}

/// An action and the rule that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due<'c> {
    /// What to do.
    pub action: Action,
    /// The rule's `ID`.
    pub rule: &'c str,
}

/// `t + days`, rounded up to the next midnight UTC.
fn after_days(t: SystemTime, days: u32) -> SystemTime {
    let secs =
        t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    let at = secs + u64::from(days) * DAY;
    UNIX_EPOCH + Duration::from_secs(at.div_ceil(DAY) * DAY)
}

fn due_time(when: When, reference: SystemTime) -> SystemTime {
    match when {
        When::Days(d) => after_days(reference, d),
        When::Date(t) => t,
    }
}

impl RuleFilter {
    /// The filter selects a version with these facts.
    pub fn matches(&self, f: &VersionFacts<'_>) -> bool {
        f.key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| f.tags.contains(t))
            && self.size_greater_than.is_none_or(|n| f.size > n)
            && self.size_less_than.is_none_or(|n| f.size < n)
    }
}

impl LifecycleConfiguration {
    fn enabled(&self) -> impl Iterator<Item = &LifecycleRule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// When a current object expires and by which rule (the `x-amz-expiration` header): the
    /// earliest `Expiration` with `Days` or `Date` among the enabled rules that select it.
    pub fn expiration_of(&self, f: &VersionFacts<'_>) -> Option<(SystemTime, &str)> {
        if !f.is_latest || f.is_delete_marker {
            return None;
        }
        self.enabled()
            .filter(|r| r.filter.matches(f))
            .filter_map(|r| match r.expiration {
                Some(Expiration::At(w)) => Some((due_time(w, f.last_modified), r.id.as_str())),
                _ => None,
            })
            .min_by_key(|(t, _)| *t)
    }

    /// The action due at `now` on a version, if any. Expirations win over transitions (as on
    /// AWS); among transitions the one due last (the coldest step reached) wins, and none is
    /// due to the class the version already has.
    pub fn due(&self, f: &VersionFacts<'_>, now: SystemTime) -> Option<Due<'_>> {
        let mut transition: Option<(SystemTime, &Transition, &str)> = None;
        for r in self.enabled().filter(|r| r.filter.selects(f)) {
            if f.is_latest {
                match r.expiration {
                    Some(Expiration::At(w))
                        if !f.is_delete_marker && due_time(w, f.last_modified) <= now =>
                    {
                        return Some(Due { action: Action::ExpireCurrent, rule: &r.id });
                    }
                    Some(Expiration::ExpiredObjectDeleteMarker(true))
                        if f.is_delete_marker && f.only_version =>
                    {
                        return Some(Due { action: Action::DeleteVersion, rule: &r.id });
                    }
                    _ => {}
                }
                if f.is_delete_marker {
                    continue;
                }
                for t in &r.transitions {
                    let at = due_time(t.when, f.last_modified);
                    if at <= now && transition.is_none_or(|(best, _, _)| at > best) {
                        transition = Some((at, t, &r.id));
                    }
                }
            } else {
                let since = f.noncurrent_since.unwrap_or(f.last_modified);
                let kept = |newer: Option<u32>| newer.is_some_and(|n| f.newer_noncurrent < n);
                if let Some(n) = r.noncurrent_expiration
                    && after_days(since, n.days) <= now
                    && !kept(n.newer_noncurrent_versions)
                {
                    return Some(Due { action: Action::DeleteVersion, rule: &r.id });
                }
                if f.is_delete_marker {
                    continue;
                }
                for t in &r.noncurrent_transitions {
                    let at = due_time(t.when, since);
                    if at <= now
                        && !kept(t.newer_noncurrent_versions)
                        && transition.is_none_or(|(best, _, _)| at > best)
                    {
                        transition = Some((at, t, &r.id));
                    }
                }
            }
        }
        transition
            .filter(|(_, t, _)| t.storage_class != f.storage_class)
            .map(|(_, t, rule)| Due { action: Action::Transition(t.storage_class.clone()), rule })
    }

    /// The rule that aborts an incomplete multipart upload of `key` initiated at `initiated`,
    /// if one is due at `now`.
    pub fn abort_due(&self, key: &str, initiated: SystemTime, now: SystemTime) -> Option<&str> {
        self.enabled()
            .filter(|r| key.starts_with(&r.filter.prefix))
            .find(|r| r.abort_incomplete_days.is_some_and(|d| after_days(initiated, d) <= now))
            .map(|r| r.id.as_str())
    }
}

impl RuleFilter {
    /// A delete marker has no size and no tags: a rule selects it by prefix, and only when it
    /// asks for no tags.
    fn selects(&self, f: &VersionFacts<'_>) -> bool {
        if f.is_delete_marker {
            f.key.starts_with(&self.prefix) && self.tags.is_empty()
        } else {
            self.matches(f)
        }
    }
}

#[cfg(test)]
mod tests;
