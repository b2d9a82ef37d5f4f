//! Cost of one authorization decision, and of compiling a policy. Not a test: run it in
//! release and read the figures (`cargo run --release -p s3gate-policy --example policy-bench`).
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a measuring tool")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use s3gate_policy::{
    AccountId, Action, Attachment, Context, IdentityPolicy, KeyName, Policy, Principal, Request,
    ResourceArn, Target, User, builtin, evaluate,
};

/// 2024-06-01T12:00:00Z.
const NOW: u64 = 1_717_243_200;

const BUCKET_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::www/site/*"},
 {"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::www","arn:aws:s3:::www/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
 {"Sid":"BlockNet","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::www","arn:aws:s3:::www/*"],"Condition":{"IpAddress":{"aws:SourceIp":["198.51.100.0/24","2001:db8:bad::/48"]}}},
 {"Sid":"Team","Effect":"Allow","Principal":{"AWS":["bob","carol","arn:aws:iam::111122223333:user/dave"]},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::www/team/${aws:username}/*"},
 {"Sid":"ListTeam","Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::www","Condition":{"StringLike":{"s3:prefix":["team/${aws:username}/*"]}}},
 {"Sid":"NoPublicAcl","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::www/*","Condition":{"StringEquals":{"s3:x-amz-acl":["public-read","public-read-write"]}}}
]}"#;

const SCOPED: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"Home","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::home/${aws:username}/*"},
 {"Sid":"NoDeleteLogs","Effect":"Deny","Action":"s3:Delete*","Resource":"arn:aws:s3:::logs/*"}
]}"#;

fn time(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed() / iterations;
    println!("{name:<58} {:>8} ns", per.as_nanos());
}

fn main() {
    let account = AccountId::new("111122223333").unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let bucket_policy = Policy::parse_bucket_policy(BUCKET_POLICY, "www", &account).unwrap();
    let scoped = Arc::new(Policy::parse_identity_policy(SCOPED).unwrap());
    let read_only = Arc::new(builtin("read-only").unwrap());
    let bob = User::new(&account, "bob", "AIDABOB", "c-bob", false)
        .with_policy(IdentityPolicy {
            name: "scoped".into(),
            attached: Attachment::User,
            policy: scoped,
        })
        .with_policy(IdentityPolicy {
            name: "read-only".into(),
            attached: Attachment::Group("readers".into()),
            policy: read_only,
        });
    let bob = Principal::User(Arc::new(bob));
    let root = Principal::User(Arc::new(User::new(&account, "admin", "AIDAROOT", "c-root", true)));
    let anonymous = Principal::Anonymous;

    let mut ctx = Context::new(now);
    ctx.set_secure_transport(true).set_source_ip("203.0.113.7".parse().unwrap());
    ctx.set(KeyName::AwsUserAgent, "aws-sdk-rust/1.0").set(KeyName::S3AuthType, "REST-HEADER");
    let target = Target {
        bucket_owner: Some("c-alice"),
        bucket_policy: Some(&bucket_policy),
        ..Target::default()
    };
    let team_object = ResourceArn::object("www", "team/bob/notes.txt");
    let site_object = ResourceArn::object("www", "site/index.html");
    let other_object = ResourceArn::object("www", "private/x");

    println!("s3gate-policy: cost per call (release build, one core)");
    let n = 1_000_000;
    time("evaluate: root, bucket policy of 6 statements", n, || {
        let r = Request {
            principal: &root,
            action: Action::GetObject,
            resource: &team_object,
            context: &ctx,
        };
        black_box(evaluate(black_box(&r), &target));
    });
    time("evaluate: anonymous public read (allowed)", n, || {
        let r = Request {
            principal: &anonymous,
            action: Action::GetObject,
            resource: &site_object,
            context: &ctx,
        };
        black_box(evaluate(black_box(&r), &target));
    });
    time("evaluate: user, 2 identity + 6 bucket statements (allowed)", n, || {
        let r = Request {
            principal: &bob,
            action: Action::PutObject,
            resource: &team_object,
            context: &ctx,
        };
        black_box(evaluate(black_box(&r), &target));
    });
    time("evaluate: user, nothing matches (implicit deny)", n, || {
        let r = Request {
            principal: &bob,
            action: Action::DeleteObject,
            resource: &other_object,
            context: &ctx,
        };
        black_box(evaluate(black_box(&r), &target));
    });
    let mut plain = ctx.clone();
    plain.set_secure_transport(false);
    time("evaluate: user over plain HTTP (explicit deny)", n, || {
        let r = Request {
            principal: &bob,
            action: Action::GetObject,
            resource: &team_object,
            context: &plain,
        };
        black_box(evaluate(black_box(&r), &target));
    });
    time("build a context (time + 4 keys) and an object ARN", n, || {
        let mut c = Context::new(now);
        c.set_secure_transport(true).set_source_ip("203.0.113.7".parse().unwrap());
        c.set(KeyName::AwsUserAgent, "aws-sdk-rust/1.0").set(KeyName::S3AuthType, "REST-HEADER");
        black_box((c, ResourceArn::object("www", "team/bob/notes.txt")));
    });
    time("parse and compile the 6-statement bucket policy", 20_000, || {
        black_box(Policy::parse_bucket_policy(black_box(BUCKET_POLICY), "www", &account).unwrap());
    });
}
