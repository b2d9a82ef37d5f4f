//! The evaluator as a table of cases: `tests/data/evaluate.json` holds suites (a bucket with
//! its owner, policy, ACLs, ownership and public access block, plus users' identity
//! policies) and, per suite, requests with the expected outcome, reason and statement;
//! `tests/data/validate.json` holds documents with the MalformedPolicy reason AWS gives.
//! Each case goes through one `check`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use s3gate_policy::{
    AccountId, Acl, AclRequest, Action, Attachment, CannedAcl, Context, Grant, Grantee, Group,
    IdentityPolicy, Key, ObjectOwnership, Permission, Policy, PolicyError, Principal,
    PublicAccessBlock, Request, ResourceArn, Target, User, evaluate,
};
use serde_json::Value as J;

const ACCOUNT: &str = "111122223333";
/// 2024-06-01T12:00:00Z, the time of every case unless it says otherwise.
const NOW: u64 = 1_717_243_200;

fn account() -> AccountId {
    AccountId::new(ACCOUNT).unwrap()
}

fn load(name: &str) -> J {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A policy given as a JSON object (or as text, to test exact bytes).
fn text_of(policy: &J) -> String {
    match policy {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn acl_of(spec: &J, owner: &str, bucket_owner: &str) -> Acl {
    match spec {
        J::String(canned) => CannedAcl::parse(canned).unwrap().to_acl(owner, bucket_owner).unwrap(),
        J::Object(o) => {
            let owner = o.get("owner").and_then(J::as_str).unwrap_or(owner).to_owned();
            let grants = o["grants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    let g = g.as_array().unwrap();
                    let who = g[0].as_str().unwrap();
                    let grantee = match who {
                        "AllUsers" => Grantee::Group(Group::AllUsers),
                        "AuthenticatedUsers" => Grantee::Group(Group::AuthenticatedUsers),
                        "LogDelivery" => Grantee::Group(Group::LogDelivery),
                        id => Grantee::User(id.to_owned()),
                    };
                    Grant {
                        grantee,
                        permission: Permission::parse(g[1].as_str().unwrap()).unwrap(),
                    }
                })
                .collect();
            Acl::new(owner, grants).unwrap()
        }
        other => panic!("acl {other}"),
    }
}

struct Suite {
    name: String,
    bucket: String,
    owner: Option<String>,
    bucket_policy: Option<Policy>,
    bucket_acl: Option<Acl>,
    object_acl: Option<Acl>,
    ownership: ObjectOwnership,
    pab: PublicAccessBlock,
    initiator: Option<String>,
    users: BTreeMap<String, Principal>,
}

fn user(name: &str, identity: &J, groups: &J) -> Principal {
    let is_root = name == "root";
    let canonical = format!("c-{name}");
    let mut user =
        User::new(&account(), name, &format!("AIDA{}", name.to_uppercase()), &canonical, is_root);
    let compile = |p: &J| {
        Arc::new(
            Policy::parse_identity_policy(&text_of(p)).unwrap_or_else(|e| panic!("{name}: {e}")),
        )
    };
    if let Some(list) = identity.get(name).and_then(J::as_array) {
        for (i, p) in list.iter().enumerate() {
            user = user.with_policy(IdentityPolicy {
                name: format!("{name}-{i}").into(),
                attached: Attachment::User,
                policy: compile(p),
            });
        }
    }
    let mut member_of = Vec::new();
    if let Some(groups) = groups.as_object() {
        for (group, spec) in groups {
            let members = spec["members"].as_array().unwrap();
            if members.iter().any(|m| m.as_str() == Some(name)) {
                member_of.push(group.clone());
                for (i, p) in spec["policies"].as_array().unwrap().iter().enumerate() {
                    user = user.with_policy(IdentityPolicy {
                        name: format!("{group}-{i}").into(),
                        attached: Attachment::Group(group.as_str().into()),
                        policy: compile(p),
                    });
                }
            }
        }
    }
    Principal::User(Arc::new(user.with_groups(member_of)))
}

fn suite(j: &J) -> Suite {
    let name = j["name"].as_str().unwrap().to_owned();
    let bucket = j.get("bucket").and_then(J::as_str).unwrap_or("b").to_owned();
    let owner = match j.get("owner") {
        Some(J::Null) => None,
        Some(o) => Some(o.as_str().unwrap().to_owned()),
        None => Some("c-alice".to_owned()),
    };
    let bucket_owner = owner.clone().unwrap_or_default();
    let bucket_policy = j.get("bucket_policy").map(|p| {
        Policy::parse_bucket_policy(&text_of(p), &bucket, &account())
            .unwrap_or_else(|e| panic!("{name}: bucket policy: {e}"))
    });
    let object_owner =
        j.get("object_owner").and_then(J::as_str).unwrap_or(&bucket_owner).to_owned();
    let bucket_acl = j.get("bucket_acl").map(|a| acl_of(a, &bucket_owner, &bucket_owner));
    let object_acl = j.get("object_acl").map(|a| acl_of(a, &object_owner, &bucket_owner));
    let ownership = j.get("ownership").map_or(ObjectOwnership::BucketOwnerEnforced, |o| {
        ObjectOwnership::parse(o.as_str().unwrap()).unwrap()
    });
    let mut pab = PublicAccessBlock::default();
    for flag in j.get("pab").and_then(J::as_array).into_iter().flatten() {
        match flag.as_str().unwrap() {
            "BlockPublicAcls" => pab.block_public_acls = true,
            "IgnorePublicAcls" => pab.ignore_public_acls = true,
            "BlockPublicPolicy" => pab.block_public_policy = true,
            "RestrictPublicBuckets" => pab.restrict_public_buckets = true,
            other => panic!("{other}"),
        }
    }
    let initiator = j.get("initiator").and_then(J::as_str).map(str::to_owned);
    let identity = j.get("identity").cloned().unwrap_or(J::Null);
    let groups = j.get("groups").cloned().unwrap_or(J::Null);
    let mut users = BTreeMap::new();
    for name in ["root", "alice", "bob", "carol", "dave"] {
        users.insert(name.to_owned(), user(name, &identity, &groups));
    }
    users.insert("anonymous".to_owned(), Principal::Anonymous);
    Suite {
        name,
        bucket,
        owner,
        bucket_policy,
        bucket_acl,
        object_acl,
        ownership,
        pab,
        initiator,
        users,
    }
}

/// One request of a suite against its expectation.
fn check(suite: &Suite, case: &J) -> Result<(), String> {
    let who = case["who"].as_str().unwrap();
    let action = Action::parse(case["action"].as_str().unwrap()).unwrap();
    let bucket = case.get("bucket").and_then(J::as_str).unwrap_or(&suite.bucket);
    let resource = match case.get("key") {
        Some(J::String(key)) => ResourceArn::object(bucket, key),
        _ if case.get("account").is_some() => ResourceArn::account(),
        _ => ResourceArn::bucket(bucket),
    };
    let now = case.get("now").and_then(J::as_u64).unwrap_or(NOW);
    let mut context = Context::new(UNIX_EPOCH + Duration::from_secs(now));
    context.set(s3gate_policy::KeyName::AwsSecureTransport, "true");
    if let Some(ctx) = case.get("ctx").and_then(J::as_object) {
        for (k, v) in ctx {
            let key = Key::parse(k).unwrap_or_else(|| panic!("context key {k}"));
            match v {
                J::Array(items) => {
                    context.set_all(key, items.iter().map(|i| i.as_str().unwrap().to_owned()));
                }
                J::Null => {
                    context.remove(&key);
                }
                other => {
                    let text = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
                    context.set(key, text);
                }
            }
        }
    }
    let principal = &suite.users[who];
    let target = Target {
        bucket_owner: suite.owner.as_deref(),
        bucket_policy: suite.bucket_policy.as_ref(),
        bucket_acl: suite.bucket_acl.as_ref(),
        object_acl: suite.object_acl.as_ref(),
        ownership: suite.ownership,
        public_access_block: suite.pab,
        upload_initiator: suite.initiator.as_deref(),
    };
    let request = Request { principal, action, resource: &resource, context: &context };
    let decision = evaluate(&request, &target);
    let got = match decision.outcome {
        s3gate_policy::Outcome::Allow => "allow",
        s3gate_policy::Outcome::ExplicitDeny => "deny",
        s3gate_policy::Outcome::ImplicitDeny => "implicit",
    };
    let expect = case["expect"].as_str().unwrap();
    let mut problems = Vec::new();
    if got != expect {
        problems.push(format!("outcome {got}, expected {expect}"));
    }
    if let Some(reason) = case.get("reason").and_then(J::as_str)
        && decision.reason.as_str() != reason
    {
        problems.push(format!("reason {}, expected {reason}", decision.reason.as_str()));
    }
    if let Some(sid) = case.get("sid").and_then(J::as_str)
        && decision.statement.and_then(|s| s.sid) != Some(sid)
    {
        problems.push(format!("statement {:?}, expected Sid {sid}", decision.statement));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} / {who} {} {}: {}",
            suite.name,
            case["action"],
            resource.as_str(),
            problems.join("; ")
        ))
    }
}

#[test]
fn evaluation_table() {
    let data = load("evaluate.json");
    let mut failures = Vec::new();
    let mut count = 0;
    for j in data.as_array().unwrap() {
        let suite = suite(j);
        for case in j["cases"].as_array().unwrap() {
            count += 1;
            if let Err(e) = check(&suite, case) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 250, "only {count} cases");
}

#[test]
fn validation_table() {
    let data = load("validate.json");
    let mut failures = Vec::new();
    let cases = data.as_array().unwrap();
    for case in cases {
        let text = text_of(&case["policy"]);
        let kind = case.get("kind").and_then(J::as_str).unwrap_or("bucket");
        let bucket = case.get("bucket").and_then(J::as_str).unwrap_or("b");
        let result = match kind {
            "bucket" => Policy::parse_bucket_policy(&text, bucket, &account()),
            "identity" => Policy::parse_identity_policy(&text),
            other => panic!("{other}"),
        };
        let want = case.get("reason").and_then(J::as_str);
        let got = match &result {
            Ok(_) => None,
            Err(PolicyError::MalformedPolicy { reason }) => Some(reason.as_str()),
            Err(other) => panic!("{other:?}"),
        };
        let ok = match (want, got) {
            (None, None) => true,
            (Some(w), Some(g)) => {
                w == g || (w.ends_with("...") && g.starts_with(w.trim_end_matches("...")))
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got {got:?}, expected {want:?}", case["name"]));
        }
        if let (Ok(policy), Some(public)) = (&result, case.get("public").and_then(J::as_bool))
            && policy.is_public() != public
        {
            failures.push(format!(
                "{}: is_public {}, expected {public}",
                case["name"],
                policy.is_public()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 60, "only {} cases", cases.len());
}

#[test]
fn acl_requests_through_ownership_and_public_access_block() {
    let enforced = ObjectOwnership::BucketOwnerEnforced;
    let writer = ObjectOwnership::ObjectWriter;
    let block = PublicAccessBlock { block_public_acls: true, ..PublicAccessBlock::default() };
    let check = |ownership: ObjectOwnership, pab: PublicAccessBlock, canned: &str| {
        let request = AclRequest::from_headers(Some(canned), &[])?.expect("an ACL");
        let owner = ownership.object_owner("c-bob", "c-alice", Some(&request));
        let acl = request.to_acl(owner, "c-alice")?;
        ownership.check_acl(&acl, "c-alice")?;
        pab.check_acl(&acl)?;
        Ok::<_, PolicyError>(owner.to_owned())
    };
    let none = PublicAccessBlock::default();
    assert_eq!(check(enforced, none, "bucket-owner-full-control"), Ok("c-alice".into()));
    assert_eq!(check(enforced, none, "private"), Ok("c-alice".into()));
    assert_eq!(check(enforced, none, "public-read"), Err(PolicyError::AclNotSupported));
    assert_eq!(check(writer, none, "public-read"), Ok("c-bob".into()));
    assert!(matches!(
        check(writer, block, "public-read"),
        Err(PolicyError::PublicAccessBlocked { .. })
    ));
    assert!(matches!(
        check(writer, block, "authenticated-read"),
        Err(PolicyError::PublicAccessBlocked { .. })
    ));
    assert_eq!(check(writer, block, "bucket-owner-read"), Ok("c-bob".into()));
    assert_eq!(
        check(ObjectOwnership::BucketOwnerPreferred, none, "bucket-owner-full-control"),
        Ok("c-alice".into())
    );
    let public = Policy::parse_bucket_policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        "b",
        &account(),
    )
    .unwrap();
    let pab = PublicAccessBlock { block_public_policy: true, ..PublicAccessBlock::default() };
    assert!(matches!(pab.check_policy(&public), Err(PolicyError::PublicAccessBlocked { .. })));
    assert_eq!(PublicAccessBlock::default().check_policy(&public), Ok(()));
    assert_eq!(
        block.merge(pab),
        PublicAccessBlock {
            block_public_acls: true,
            block_public_policy: true,
            ..PublicAccessBlock::default()
        }
    );
}
