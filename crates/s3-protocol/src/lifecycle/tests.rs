use super::*;

fn doc(rules: &str) -> String {
    format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>")
}

fn parse(rules: &str) -> Result<LifecycleConfiguration, S3Error> {
    parse_lifecycle_configuration(doc(rules).as_bytes(), "seed")
}

fn code(rules: &str) -> ErrorCode {
    parse(rules).expect_err(rules).code
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2014-01-15 10:30 UTC, AWS's documented example.
const JAN15_1030: u64 = 1_389_781_800;
const DAY_S: u64 = 86_400;

#[test]
fn what_put_is_given_get_answers() {
    let rules = "<Rule><ID>test1/</ID><Prefix>test1/</Prefix><Status>Enabled</Status>\
                 <Expiration><Days>31</Days></Expiration></Rule>\
                 <Rule><ID>f</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>a</Key><Value>b</Value></Tag>\
                 <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Disabled</Status>\
                 <Transition><Days>40</Days><StorageClass>STANDARD_IA</StorageClass></Transition>\
                 <NoncurrentVersionTransition><NoncurrentDays>5</NoncurrentDays><StorageClass>GLACIER</StorageClass>\
                 <NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionTransition>\
                 <NoncurrentVersionExpiration><NoncurrentDays>9</NoncurrentDays></NoncurrentVersionExpiration>\
                 </Rule>\
                 <Rule><ID>e</ID><Filter></Filter><Status>Enabled</Status>\
                 <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\
                 <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
                 <Rule><ID>d</ID><Filter><Prefix>x</Prefix></Filter><Status>Enabled</Status>\
                 <Expiration><Date>2017-09-27T00:00:00Z</Date></Expiration></Rule>";
    let config = parse(rules).unwrap();
    let xml = config.to_xml();
    for piece in [
        "<Rule><ID>test1/</ID><Prefix>test1/</Prefix><Status>Enabled</Status><Expiration><Days>31</Days></Expiration></Rule>",
        "<Filter><And><Prefix>p/</Prefix><Tag><Key>a</Key><Value>b</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter>",
        "<NewerNoncurrentVersions>2</NewerNoncurrentVersions>",
        "<Filter></Filter>",
        "<Date>2017-09-27T00:00:00.000Z</Date>",
        "<DaysAfterInitiation>2</DaysAfterInitiation>",
    ] {
        assert!(xml.contains(piece), "{piece} not in {xml}");
    }
    // And it parses back to the same configuration.
    assert_eq!(parse_lifecycle_configuration(xml.as_bytes(), "other").unwrap(), config);
}

#[test]
fn a_rule_without_an_id_gets_one() {
    let c = parse(
        "<Rule><Prefix>a/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
         <Rule><Prefix>b/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
    )
    .unwrap();
    assert!(!c.rules[0].id.is_empty());
    assert_ne!(c.rules[0].id, c.rules[1].id);
}

#[test]
fn validation_answers_as_aws() {
    let exp = "<Expiration><Days>2</Days></Expiration>";
    let cases: Vec<(String, ErrorCode)> = vec![
        (format!("<Rule><ID>{}</ID><Prefix/><Status>Enabled</Status>{exp}</Rule>", "a".repeat(256)), ErrorCode::InvalidArgument),
        (format!("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status>{exp}</Rule><Rule><ID>r</ID><Prefix>x</Prefix><Status>Enabled</Status>{exp}</Rule>"), ErrorCode::InvalidArgument),
        (format!("<Rule><ID>r</ID><Prefix/><Status>enabled</Status>{exp}</Rule>"), ErrorCode::MalformedXML),
        (format!("<Rule><ID>r</ID><Prefix/><Status>invalid</Status>{exp}</Rule>"), ErrorCode::MalformedXML),
        (format!("<Rule><ID>r</ID><Prefix/><Filter/><Status>Enabled</Status>{exp}</Rule>"), ErrorCode::MalformedXML),
        (format!("<Rule><ID>r</ID><Status>Enabled</Status>{exp}</Rule>"), ErrorCode::MalformedXML),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status></Rule>".into(), ErrorCode::InvalidRequest),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Days>-1</Days></Expiration></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Date>20200101</Date></Expiration></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Date>2020-01-01T10:00:00Z</Date></Expiration></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Days>1</Days><Date>2020-01-01</Date></Expiration></Rule>".into(), ErrorCode::MalformedXML),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>STANDARD</StorageClass></Transition></Rule>".into(), ErrorCode::MalformedXML),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Transition><Days>10</Days><StorageClass>STANDARD_IA</StorageClass></Transition></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Date>2023-09-27</Date></Expiration><Transition><Date>20220927</Date><StorageClass>GLACIER</StorageClass></Transition></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Days>5</Days></Expiration><Transition><Date>2022-09-27</Date><StorageClass>GLACIER</StorageClass></Transition></Rule>".into(), ErrorCode::InvalidRequest),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Expiration><Days>5</Days></Expiration><Transition><Days>5</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>".into(), ErrorCode::InvalidRequest),
        ("<Rule><ID>r</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>".into(), ErrorCode::InvalidRequest),
        ("<Rule><ID>r</ID><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>\
          <Expiration><Days>1</Days></Expiration></Rule>".into(), ErrorCode::MalformedXML),
        ("<Rule><ID>r</ID><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>\
          <Expiration><Days>1</Days></Expiration></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
          <NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>".into(), ErrorCode::InvalidArgument),
        ("<Rule><ID>r</ID><Prefix/><Status>Enabled</Status><Bogus/><Expiration><Days>1</Days></Expiration></Rule>".into(), ErrorCode::MalformedXML),
    ];
    for (rules, want) in cases {
        assert_eq!(code(&rules), want, "{rules}");
    }
    assert_eq!(
        parse_lifecycle_configuration(b"<LifecycleConfiguration/>", "s").unwrap_err().code,
        ErrorCode::MalformedXML
    );
    let many =
        "<Rule><Prefix/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
            .repeat(MAX_LIFECYCLE_RULES + 1);
    assert_eq!(code(&many), ErrorCode::MalformedXML);
}

#[test]
fn days_round_up_to_the_next_midnight_utc() {
    // AWS's example: written 2014-01-15 10:30 UTC with Days 3 → 2014-01-19 00:00 UTC.
    assert_eq!(after_days(at(JAN15_1030), 3), at(1_390_089_600));
    // Written exactly at midnight: due exactly `days` later.
    assert_eq!(after_days(at(1_389_744_000), 1), at(1_389_744_000 + DAY_S));
    // A second after midnight rounds up a whole day.
    assert_eq!(after_days(at(1_389_744_001), 1), at(1_389_744_000 + 2 * DAY_S));
}

fn config(rules: &str) -> LifecycleConfiguration {
    parse(rules).unwrap()
}

#[test]
fn current_versions_expire_and_transition_as_rules_say() {
    let c = config(
        "<Rule><ID>cold</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>\
         <Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>\
         <Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition>\
         <Expiration><Days>60</Days></Expiration></Rule>\
         <Rule><ID>off</ID><Prefix>logs/</Prefix><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
         <Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan></Filter><Status>Enabled</Status>\
         <Expiration><Days>2</Days></Expiration></Rule>",
    );
    let written = at(JAN15_1030);
    let f = VersionFacts { key: "logs/a", size: 10, ..VersionFacts::current(written) };
    let day = |n: u64| at(1_389_744_000 + n * DAY_S); // midnight n days after Jan 15
    assert_eq!(c.due(&f, day(1)), None, "the disabled rule does nothing");
    assert_eq!(c.due(&f, day(2)).unwrap().action, Action::Transition("GLACIER".into()));
    assert_eq!(c.due(&f, day(31)).unwrap().action, Action::Transition("STANDARD_IA".into()));
    let moved = VersionFacts { storage_class: "STANDARD_IA", ..f };
    assert_eq!(c.due(&moved, day(31)), None, "no transition to the class it has");
    assert_eq!(c.due(&f, day(61)).unwrap(), Due { action: Action::ExpireCurrent, rule: "cold" });
    assert_eq!(c.expiration_of(&f), Some((day(61), "cold")));
    let big = VersionFacts { key: "x", size: 5000, ..f };
    assert_eq!(c.due(&big, day(3)).unwrap().rule, "big");
    assert_eq!(c.expiration_of(&big), Some((day(3), "big")));
    let other = VersionFacts { key: "x", size: 10, ..f };
    assert_eq!(c.due(&other, day(1000)), None);
    assert_eq!(c.expiration_of(&other), None);
}

#[test]
fn tags_must_all_match() {
    let c = config(
        "<Rule><ID>t</ID><Filter><And><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></And></Filter>\
         <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
    );
    let later = at(JAN15_1030 + 10 * DAY_S);
    let both = [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())];
    let f = VersionFacts { key: "k", tags: &both, ..VersionFacts::current(at(JAN15_1030)) };
    assert!(c.due(&f, later).is_some());
    let one = [("a".to_owned(), "1".to_owned())];
    assert!(c.due(&VersionFacts { tags: &one, ..f }, later).is_none());
    // A delete marker carries no tags: a tag rule never selects it.
    let marker = VersionFacts { is_delete_marker: true, tags: &[], ..f };
    assert!(c.due(&marker, later).is_none());
}

#[test]
fn noncurrent_versions_count_from_when_they_became_noncurrent() {
    let c = config(
        "<Rule><ID>nc</ID><Prefix/><Status>Enabled</Status>\
         <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
         </Rule>",
    );
    let written = at(JAN15_1030);
    let replaced = at(JAN15_1030 + 10 * DAY_S);
    let old = VersionFacts {
        key: "k",
        size: 1,
        is_latest: false,
        noncurrent_since: Some(replaced),
        newer_noncurrent: 1,
        only_version: false,
        ..VersionFacts::current(written)
    };
    // Two days after it became noncurrent (rounded), not after it was written.
    assert_eq!(c.due(&old, replaced + Duration::from_secs(DAY_S)), None);
    let due = after_days(replaced, 2);
    assert_eq!(c.due(&old, due).unwrap().action, Action::DeleteVersion);
    // The newest noncurrent version is kept whatever its age.
    let newest = VersionFacts { newer_noncurrent: 0, ..old };
    assert_eq!(c.due(&newest, due + Duration::from_secs(100 * DAY_S)), None);
    // Current versions are not touched by noncurrent rules.
    assert_eq!(c.due(&VersionFacts::current(written), due), None);
}

#[test]
fn an_expired_delete_marker_goes_only_when_it_is_alone() {
    let c = config(
        "<Rule><ID>m</ID><Filter/><Status>Enabled</Status>\
         <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>",
    );
    let now = at(JAN15_1030 + DAY_S);
    let marker =
        VersionFacts { key: "k", is_delete_marker: true, ..VersionFacts::current(at(JAN15_1030)) };
    assert_eq!(c.due(&marker, now).unwrap().action, Action::DeleteVersion);
    assert_eq!(c.due(&VersionFacts { only_version: false, ..marker }, now), None);
    // An object (not a marker) is not expired by this rule.
    assert_eq!(c.due(&VersionFacts { is_delete_marker: false, ..marker }, now), None);
}

#[test]
fn incomplete_uploads_are_aborted_after_their_days() {
    let c = config(
        "<Rule><ID>mp</ID><Filter><Prefix>up/</Prefix></Filter><Status>Enabled</Status>\
         <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
    );
    let started = at(JAN15_1030);
    assert_eq!(c.abort_due("up/x", started, after_days(started, 2)), Some("mp"));
    assert_eq!(c.abort_due("up/x", started, after_days(started, 2) - Duration::from_secs(1)), None);
    assert_eq!(c.abort_due("other", started, after_days(started, 9)), None);
}

#[test]
fn dates_apply_from_their_midnight() {
    let c = config(
        "<Rule><ID>d</ID><Prefix/><Status>Enabled</Status><Expiration><Date>2014-02-01</Date></Expiration></Rule>",
    );
    let f = VersionFacts { key: "k", ..VersionFacts::current(at(JAN15_1030)) };
    let feb1 = at(1_391_212_800);
    assert_eq!(c.expiration_of(&f), Some((feb1, "d")));
    assert!(c.due(&f, feb1 - Duration::from_secs(1)).is_none());
    assert!(c.due(&f, feb1).is_some());
    // Even an object written after the date expires (at once), as on AWS.
    let late = VersionFacts { last_modified: feb1 + Duration::from_secs(DAY_S), ..f };
    assert!(c.due(&late, feb1 + Duration::from_secs(DAY_S)).is_some());
}
