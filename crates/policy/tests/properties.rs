//! Properties of the evaluator and the parser, over generated policies and requests:
//! an explicit Deny is never overridden by adding statements; adding an Allow never removes
//! access; nothing panics on any input; parse → serialize → parse is the identity.
//!
//! (Adding an Allow *can* remove access on AWS, and here, in one case the properties exclude:
//! under RestrictPublicBuckets, a statement that makes the bucket policy public takes every
//! Allow of that policy away from anonymous requesters. The generated requests run without a
//! public access block.)
#![allow(clippy::unwrap_used, reason = "test code")]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use s3gate_policy::{
    AccountId, Action, Attachment, CannedAcl, Context, IdentityPolicy, Key, ObjectOwnership,
    Outcome, Policy, PolicyDocument, Principal, Request, ResourceArn, Target, User, evaluate,
};
use serde_json::{Value as J, json};

const ACCOUNT: &str = "111122223333";
/// 2024-06-01T12:00:00Z.
const NOW: u64 = 1_717_243_200;

fn account() -> AccountId {
    AccountId::new(ACCOUNT).unwrap()
}

fn principal_json() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(json!("*")),
        Just(json!({"AWS": "*"})),
        Just(json!({"AWS": "bob"})),
        Just(json!({"AWS": ["arn:aws:iam::111122223333:user/carol", "bob"]})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:root"})),
        Just(json!({"AWS": "111122223333"})),
        Just(json!({"CanonicalUser": "c-carol"})),
    ]
}

fn action_json() -> impl Strategy<Value = J> {
    let one = prop::sample::select(vec![
        "s3:*",
        "s3:GetObject",
        "s3:Get*",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:List*",
        "s3:DeleteObject",
        "s3:*Object",
        "s3:PutBucketPolicy",
        "s3:?etObject",
        "*",
    ]);
    prop::collection::vec(one, 1..3).prop_map(|v| json!(v))
}

fn extra_resource() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "arn:aws:s3:::b/a/*",
        "arn:aws:s3:::b/${aws:username}/*",
        "arn:aws:s3:::b/*.txt",
        "arn:aws:s3:::b/?",
        "arn:aws:s3:::b*",
        "arn:aws:s3:::b/${aws:PrincipalTag/team, 'x'}/*",
    ])
}

fn condition_json() -> impl Strategy<Value = Option<J>> {
    let clause = prop::sample::select(vec![
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"Bool": {"aws:SecureTransport": false}}),
        json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}),
        json!({"NotIpAddress": {"aws:SourceIp": "10.1.0.0/16"}}),
        json!({"StringLike": {"aws:UserAgent": "curl/*"}}),
        json!({"StringNotEqualsIfExists": {"aws:Referer": "https://x.example/"}}),
        json!({"StringEquals": {"aws:username": ["bob", "${aws:username}"]}}),
        json!({"Null": {"aws:Referer": "true"}}),
        json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
        json!({"NumericGreaterThan": {"aws:EpochTime": 1000}}),
        json!({"ForAnyValue:StringEquals": {"aws:PrincipalTag/team": ["red", "blue"]}}),
        json!({"ForAllValues:StringLike": {"aws:TagKeys": "a*"}}),
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/c*"}}),
    ]);
    prop::option::of(clause)
}

/// A statement that validates in bucket `b`'s policy (it names both the bucket and its
/// objects, and conditions only on global keys).
fn statement(effect: Option<&'static str>) -> impl Strategy<Value = J> {
    let effect = match effect {
        Some(e) => Just(e).boxed(),
        None => prop::sample::select(vec!["Allow", "Deny"]).boxed(),
    };
    (
        effect,
        principal_json(),
        any::<bool>(),
        action_json(),
        any::<bool>(),
        prop::collection::vec(extra_resource(), 0..2),
        any::<bool>(),
        condition_json(),
    )
        .prop_map(
            |(effect, principal, not_principal, action, not_action, extra, not_resource, cond)| {
                let mut resources = vec!["arn:aws:s3:::b", "arn:aws:s3:::b/*"];
                resources.extend(extra);
                let mut s = serde_json::Map::new();
                s.insert("Effect".into(), json!(effect));
                s.insert(
                    if not_principal { "NotPrincipal" } else { "Principal" }.into(),
                    principal,
                );
                s.insert(if not_action { "NotAction" } else { "Action" }.into(), action);
                s.insert(
                    if not_resource { "NotResource" } else { "Resource" }.into(),
                    json!(resources),
                );
                if let Some(c) = cond {
                    s.insert("Condition".into(), c);
                }
                J::Object(s)
            },
        )
}

fn bucket_policy(statements: &[J]) -> Option<Policy> {
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse_bucket_policy(&doc.to_string(), "b", &account()).ok()
}

/// The same statement as an identity policy statement (no principal).
fn identity_policy(statements: &[J]) -> Option<Policy> {
    let statements: Vec<J> = statements
        .iter()
        .map(|s| {
            let mut s = s.as_object().unwrap().clone();
            s.remove("Principal");
            s.remove("NotPrincipal");
            J::Object(s)
        })
        .collect();
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse_identity_policy(&doc.to_string()).ok()
}

#[derive(Debug, Clone)]
struct Req {
    who: usize,
    action: Action,
    key: Option<&'static str>,
    tls: bool,
    ip: &'static str,
    agent: Option<&'static str>,
    team: Option<&'static str>,
}

fn request() -> impl Strategy<Value = Req> {
    (
        0..5usize,
        prop::sample::select(vec![
            Action::GetObject,
            Action::PutObject,
            Action::DeleteObject,
            Action::ListBucket,
            Action::PutBucketPolicy,
            Action::GetObjectVersion,
            Action::GetBucketAcl,
        ]),
        prop::option::of(prop::sample::select(vec!["a/x", "bob/x", "f.txt", "z", "carol/y"])),
        any::<bool>(),
        prop::sample::select(vec!["10.1.2.3", "10.9.9.9", "192.0.2.1", "2001:db8::1"]),
        prop::option::of(prop::sample::select(vec!["curl/8", "aws-cli/2"])),
        prop::option::of(prop::sample::select(vec!["red", "green"])),
    )
        .prop_map(|(who, action, key, tls, ip, agent, team)| Req {
            who,
            action,
            key,
            tls,
            ip,
            agent,
            team,
        })
}

fn principal(who: usize, identity: &[Arc<Policy>]) -> Principal {
    let name = ["anonymous", "root", "alice", "bob", "carol"][who];
    if who == 0 {
        return Principal::Anonymous;
    }
    let mut user = User::new(&account(), name, name, &format!("c-{name}"), who == 1);
    for (i, p) in identity.iter().enumerate() {
        user = user.with_policy(IdentityPolicy {
            name: format!("p{i}").into(),
            attached: Attachment::User,
            policy: Arc::clone(p),
        });
    }
    Principal::User(Arc::new(user))
}

fn decide(req: &Req, bucket: Option<&Policy>, identity: &[Arc<Policy>], acls: bool) -> Outcome {
    let principal = principal(req.who, identity);
    let resource = match req.key {
        Some(k) => ResourceArn::object("b", k),
        None => ResourceArn::bucket("b"),
    };
    let mut ctx = Context::new(UNIX_EPOCH + Duration::from_secs(NOW));
    ctx.set_secure_transport(req.tls);
    ctx.set_source_ip(req.ip.parse().unwrap());
    if let Some(agent) = req.agent {
        ctx.set(Key::parse("aws:UserAgent").unwrap(), agent);
    }
    if let Some(team) = req.team {
        ctx.set(Key::parse("aws:PrincipalTag/team").unwrap(), team);
    }
    let acl = CannedAcl::PublicReadWrite.to_acl("c-alice", "c-alice").unwrap();
    let target = Target {
        bucket_owner: Some("c-alice"),
        bucket_policy: bucket,
        bucket_acl: Some(&acl),
        object_acl: Some(&acl),
        ownership: if acls {
            ObjectOwnership::ObjectWriter
        } else {
            ObjectOwnership::BucketOwnerEnforced
        },
        ..Target::default()
    };
    let request =
        Request { principal: &principal, action: req.action, resource: &resource, context: &ctx };
    evaluate(&request, &target).outcome
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_global_rejects: 200_000, ..ProptestConfig::default() })]

    #[test]
    fn explicit_deny_is_never_overridden(
        base in prop::collection::vec(statement(None), 1..4),
        own in prop::collection::vec(statement(None), 0..3),
        extra in prop::collection::vec(statement(None), 1..4),
        extra_own in prop::collection::vec(statement(None), 0..3),
        req in request(),
        acls in any::<bool>(),
    ) {
        let Some(bucket) = bucket_policy(&base) else { return Err(TestCaseError::reject("invalid")) };
        let identity: Vec<Arc<Policy>> = identity_policy(&own).into_iter().map(Arc::new).collect();
        prop_assume!(decide(&req, Some(&bucket), &identity, acls) == Outcome::ExplicitDeny);
        let more: Vec<J> = base.iter().chain(&extra).cloned().collect();
        let more_own: Vec<J> = own.iter().chain(&extra_own).cloned().collect();
        let Some(bigger) = bucket_policy(&more) else { return Err(TestCaseError::reject("invalid")) };
        let mut identity2: Vec<Arc<Policy>> = identity_policy(&more_own).into_iter().map(Arc::new).collect();
        // Another attached policy changes nothing either.
        identity2.extend(identity_policy(&extra).map(Arc::new));
        prop_assert_eq!(decide(&req, Some(&bigger), &identity2, acls), Outcome::ExplicitDeny);
    }

    #[test]
    fn adding_an_allow_never_removes_access(
        base in prop::collection::vec(statement(None), 1..4),
        own in prop::collection::vec(statement(None), 0..3),
        extra in prop::collection::vec(statement(Some("Allow")), 1..3),
        into_identity in any::<bool>(),
        req in request(),
        acls in any::<bool>(),
    ) {
        let Some(bucket) = bucket_policy(&base) else { return Err(TestCaseError::reject("invalid")) };
        let identity: Vec<Arc<Policy>> = identity_policy(&own).into_iter().map(Arc::new).collect();
        prop_assume!(decide(&req, Some(&bucket), &identity, acls) == Outcome::Allow);
        let (bucket2, identity2) = if into_identity {
            let more: Vec<J> = own.iter().chain(&extra).cloned().collect();
            (bucket, identity_policy(&more).into_iter().map(Arc::new).collect::<Vec<_>>())
        } else {
            let more: Vec<J> = base.iter().chain(&extra).cloned().collect();
            let Some(bigger) = bucket_policy(&more) else { return Err(TestCaseError::reject("invalid")) };
            (bigger, identity)
        };
        prop_assert_eq!(decide(&req, Some(&bucket2), &identity2, acls), Outcome::Allow);
    }

    #[test]
    fn parse_serialize_parse_round_trips(statements in prop::collection::vec(statement(None), 1..5), id in prop::option::of("[a-zA-Z0-9 \"\\\\é]{0,12}")) {
        let mut doc = json!({"Version": "2012-10-17", "Statement": statements});
        if let Some(id) = id {
            doc["Id"] = json!(id);
        }
        let Ok(policy) = Policy::parse_bucket_policy(&doc.to_string(), "b", &account()) else {
            return Err(TestCaseError::reject("invalid"));
        };
        let text = policy.to_json();
        let again = Policy::parse_bucket_policy(&text, "b", &account()).unwrap();
        prop_assert_eq!(again.document(), policy.document());
        prop_assert_eq!(again.to_json(), text);
        prop_assert_eq!(again.is_public(), policy.is_public());
    }

    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        let _ = PolicyDocument::parse(&text);
        let _ = Policy::parse_bucket_policy(&text, "b", &account());
        let _ = Policy::parse_identity_policy(&text);
    }

    #[test]
    fn evaluation_never_panics(
        actions in prop::collection::vec("(s3|S3|iam|\\*):[A-Za-z*?]{0,14}", 1..3),
        resources in prop::collection::vec("\\*|arn:aws:s3:::[a-z*?${}:/', ]{0,24}", 1..3),
        operator in "(ForAnyValue:|ForAllValues:)?(String|Numeric|Date|Arn|Bool|Ip|Null|Binary)[A-Za-z]{0,20}",
        key in prop::sample::select(vec!["aws:SourceIp", "aws:CurrentTime", "aws:username", "s3:prefix", "s3:max-keys", "aws:PrincipalTag/x", "s3:ExistingObjectTag/k", "aws:SecureTransport"]),
        values in prop::collection::vec("\\PC{0,16}", 1..3),
        context_value in "\\PC{0,16}",
        key_name in "[a-z/]{1,10}",
        req in request(),
    ) {
        let doc = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": actions, "Resource": resources,
            "Condition": {operator: {key: values}}}]});
        if let Ok(policy) = Policy::parse_identity_policy(&doc.to_string()) {
            let identity = [Arc::new(policy)];
            let principal = principal(3, &identity);
            let mut ctx = Context::new(UNIX_EPOCH);
            ctx.set(Key::parse(key).unwrap(), context_value.clone());
            let resource = ResourceArn::object("b", &key_name);
            let request = Request { principal: &principal, action: req.action, resource: &resource, context: &ctx };
            let _ = evaluate(&request, &Target::default());
        }
    }
}
