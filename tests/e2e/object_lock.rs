//! Object lock (WORM) through the real binary, as backup software uses it (Veeam, Kopia):
//! a bucket created with object lock, objects written with per-object COMPLIANCE or
//! GOVERNANCE retention and legal holds, and every way to destroy them through the API tried,
//! as the owner and as another user: deletes by version, DeleteObjects, shortening or
//! weakening retention, lifting a legal hold without permission, deleting the bucket. Each is
//! refused with AWS's code while new versions still land; once retention expires (judged by
//! the gateway's clock) the delete succeeds. On SQLite and (with `S3GATE_TEST_POSTGRES_URL`)
//! on PostgreSQL.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, Delete, ObjectIdentifier, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};

use crate::harness::{Flavour, Gateway, create_bucket, expect_err, random_keys, run_cli};
use crate::scaleout::TestDb;

fn at(t: SystemTime) -> DateTime {
    DateTime::from(t)
}

async fn put_locked(
    c: &Client,
    b: &str,
    k: &str,
    mode: ObjectLockMode,
    until: SystemTime,
) -> String {
    let out = c
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(b"backup block"))
        .object_lock_mode(mode)
        .object_lock_retain_until_date(at(until))
        .send()
        .await
        .unwrap_or_else(|e| panic!("locked put of {k}: {e:?}"));
    out.version_id().unwrap().to_owned()
}

fn retention(mode: ObjectLockRetentionMode, until: SystemTime) -> ObjectLockRetention {
    ObjectLockRetention::builder().mode(mode).retain_until_date(at(until)).build()
}

fn hold(on: bool) -> ObjectLockLegalHold {
    let status = if on { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off };
    ObjectLockLegalHold::builder().status(status).build()
}

/// The immutability scenario on lock bucket `b`; `other` is a user the bucket policy lets
/// delete versions and set retention, but not bypass governance nor set legal holds.
async fn scenario(root: &Client, other: &Client, other_name: &str, b: &str) {
    let now = SystemTime::now();
    let far = now + Duration::from_secs(100 * 86_400);
    // A bucket without object lock refuses lock parameters as AWS does.
    let plain = format!("{b}-plain");
    create_bucket(root, &plain).await;
    expect_err(
        root.put_object()
            .bucket(&plain)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(at(far))
            .send()
            .await,
        400,
        "InvalidRequest",
        "lock headers on a bucket without lock",
    );
    let lock_conf =
        ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).build();
    expect_err(
        root.put_object_lock_configuration()
            .bucket(&plain)
            .object_lock_configuration(lock_conf.clone())
            .send()
            .await,
        409,
        "InvalidBucketState",
        "lock on an unversioned bucket",
    );
    expect_err(
        root.get_object_lock_configuration().bucket(&plain).send().await,
        404,
        "ObjectLockConfigurationNotFoundError",
        "no lock configuration",
    );

    // A lock bucket (created by `run`) is versioned and stays so.
    let v = root.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    expect_err(
        root.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        409,
        "InvalidBucketState",
        "suspending a lock bucket",
    );
    let got = root.get_object_lock_configuration().bucket(b).send().await.unwrap();
    let got = got.object_lock_configuration().unwrap();
    assert_eq!(got.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(got.rule().is_none());

    // COMPLIANCE for a few seconds, GOVERNANCE for long; both reported on HEAD.
    let soon = SystemTime::now() + Duration::from_secs(6);
    let c1 = put_locked(root, b, "compliance", ObjectLockMode::Compliance, soon).await;
    let g1 = put_locked(root, b, "governance", ObjectLockMode::Governance, far).await;
    let head = root.head_object().bucket(b).key("compliance").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let reported = SystemTime::try_from(*head.object_lock_retain_until_date().unwrap()).unwrap();
    let diff = reported.duration_since(soon).unwrap_or_else(|e| e.duration());
    assert!(diff < Duration::from_millis(2), "retain-until {reported:?} vs {soon:?}");
    let r = root.get_object_retention().bucket(b).key("governance").send().await.unwrap();
    assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Governance));

    // Every way to destroy the COMPLIANCE version is refused, for everyone.
    for bypass in [false, true] {
        expect_err(
            root.delete_object()
                .bucket(b)
                .key("compliance")
                .version_id(&c1)
                .bypass_governance_retention(bypass)
                .send()
                .await,
            403,
            "AccessDenied",
            "root deletes a compliance version",
        );
    }
    expect_err(
        other.delete_object().bucket(b).key("compliance").version_id(&c1).send().await,
        403,
        "AccessDenied",
        "another user deletes a compliance version",
    );
    let multi = root
        .delete_objects()
        .bucket(b)
        .bypass_governance_retention(true)
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder().key("compliance").version_id(&c1).build().unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(multi.deleted().is_empty(), "{multi:?}");
    assert_eq!(multi.errors()[0].code(), Some("AccessDenied"));
    for (what, ret) in [
        ("shorten", retention(ObjectLockRetentionMode::Compliance, soon - Duration::from_secs(3))),
        ("weaken", retention(ObjectLockRetentionMode::Governance, far)),
        ("remove", ObjectLockRetention::builder().build()),
    ] {
        expect_err(
            root.put_object_retention()
                .bucket(b)
                .key("compliance")
                .version_id(&c1)
                .retention(ret)
                .bypass_governance_retention(true)
                .send()
                .await,
            403,
            "AccessDenied",
            what,
        );
    }
    expect_err(
        root.delete_bucket().bucket(b).send().await,
        409,
        "BucketNotEmpty",
        "deleting the bucket",
    );
    // Overwrites and plain deletes still land: a new version, a delete marker.
    let c2 = root
        .put_object()
        .bucket(b)
        .key("compliance")
        .body(ByteStream::from_static(b"next backup"))
        .send()
        .await
        .unwrap();
    assert_ne!(c2.version_id(), Some(c1.as_str()));
    let marker = root.delete_object().bucket(b).key("compliance").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let old = root.get_object().bucket(b).key("compliance").version_id(&c1).send().await.unwrap();
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"backup block");

    // GOVERNANCE: the other user cannot bypass; the owner can, with the header only.
    expect_err(
        other
            .delete_object()
            .bucket(b)
            .key("governance")
            .version_id(&g1)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
        "bypass without s3:BypassGovernanceRetention",
    );
    expect_err(
        other
            .put_object_retention()
            .bucket(b)
            .key("governance")
            .retention(retention(
                ObjectLockRetentionMode::Governance,
                now + Duration::from_secs(60),
            ))
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
        "shortening governance without bypass permission",
    );
    expect_err(
        root.delete_object().bucket(b).key("governance").version_id(&g1).send().await,
        403,
        "AccessDenied",
        "governance without the bypass header",
    );

    // Legal hold: blocks deletion whatever the retention; only a permitted caller lifts it.
    root.put_object_legal_hold()
        .bucket(b)
        .key("governance")
        .version_id(&g1)
        .legal_hold(hold(true))
        .send()
        .await
        .unwrap();
    let h = root.get_object_legal_hold().bucket(b).key("governance").send().await.unwrap();
    assert_eq!(h.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On));
    expect_err(
        root.delete_object()
            .bucket(b)
            .key("governance")
            .version_id(&g1)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
        "deleting a held version with bypass",
    );
    expect_err(
        other
            .put_object_legal_hold()
            .bucket(b)
            .key("governance")
            .legal_hold(hold(false))
            .send()
            .await,
        403,
        "AccessDenied",
        "lifting a legal hold without permission",
    );
    root.put_object_legal_hold()
        .bucket(b)
        .key("governance")
        .legal_hold(hold(false))
        .send()
        .await
        .unwrap();
    let gone = root
        .delete_object()
        .bucket(b)
        .key("governance")
        .version_id(&g1)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.version_id(), Some(g1.as_str()));

    // A multipart upload with a legal hold gets it at completion; a copy never takes the
    // source's lock.
    let up = root
        .create_multipart_upload()
        .bucket(b)
        .key("mp")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let part = root
        .upload_part()
        .bucket(b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = root
        .complete_multipart_upload()
        .bucket(b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mp = done.version_id().unwrap();
    expect_err(
        root.delete_object().bucket(b).key("mp").version_id(mp).send().await,
        403,
        "AccessDenied",
        "a held multipart object",
    );
    root.copy_object().bucket(b).key("copy").copy_source(format!("{b}/mp")).send().await.unwrap();
    let head = root.head_object().bucket(b).key("copy").send().await.unwrap();
    assert_eq!(head.object_lock_legal_hold_status(), None, "{head:?}");
    root.put_object_legal_hold().bucket(b).key("mp").legal_hold(hold(false)).send().await.unwrap();
    root.delete_object().bucket(b).key("mp").version_id(mp).send().await.unwrap();

    // A default retention applies to new versions.
    let rule = ObjectLockRule::builder()
        .default_retention(
            DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).days(1).build(),
        )
        .build();
    root.put_object_lock_configuration()
        .bucket(b)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(rule)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = root
        .put_object()
        .bucket(b)
        .key("defaulted")
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .unwrap();
    let head = root.head_object().bucket(b).key("defaulted").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let until = SystemTime::try_from(*head.object_lock_retain_until_date().unwrap()).unwrap();
    let day = SystemTime::now() + Duration::from_secs(86_400);
    assert!(until <= day && until > day - Duration::from_secs(120), "{until:?}");
    expect_err(
        root.delete_object()
            .bucket(b)
            .key("defaulted")
            .version_id(d.version_id().unwrap())
            .send()
            .await,
        403,
        "AccessDenied",
        "default retention",
    );

    // Time passes (the gateway's clock): the compliance version may go now.
    let wait = soon.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(500)).await;
    let gone = root.delete_object().bucket(b).key("compliance").version_id(&c1).send().await;
    assert_eq!(gone.unwrap().version_id(), Some(c1.as_str()), "{other_name}");
}

/// A bucket policy letting `user` read, delete versions and set retention, nothing more.
async fn grant(root: &Client, b: &str, user: &str) {
    let policy = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
            "Principal": {{"AWS": "{user}"}},
            "Action": ["s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                       "s3:PutObjectRetention", "s3:GetObjectRetention"],
            "Resource": "arn:aws:s3:::{b}/*"}}]}}"#
    );
    root.put_bucket_policy().bucket(b).policy(policy).send().await.unwrap();
}

/// `s3gate user add mallory` on the gateway's metadata store (`extra`: `--metadata URL`).
fn add_user(gw: &Gateway, extra: &[&str]) -> (String, String) {
    let args: Vec<&str> =
        ["user", "add", "mallory"].into_iter().chain(extra.iter().copied()).collect();
    let out = run_cli(&args, &gw.dir);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (field("access_key_id:"), field("secret_access_key:"))
}

async fn run(gw: &Gateway, b: &str, extra: &[&str]) {
    let (ak, sk) = add_user(gw, extra);
    let root = gw.client(Flavour::Default);
    let other = gw.client_as(&ak, &sk, Flavour::Default);
    root.create_bucket().bucket(b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    grant(&root, b, "mallory").await;
    Box::pin(scenario(&root, &other, "mallory", b)).await;
    // A lock header needs an integrity header, as on AWS (this client sends no checksum).
    let bare = gw.client(Flavour::WhenRequired);
    expect_err(
        bare.put_object()
            .bucket(b)
            .key("unverified")
            .body(ByteStream::from_static(b"x"))
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        400,
        "InvalidRequest",
        "a lock header without Content-MD5 or a checksum",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_backups_sqlite() {
    let gw = Gateway::start();
    Box::pin(run(&gw, "worm", &[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_backups_postgres() {
    let Some(db) = TestDb::create("object_lock").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk) = random_keys();
    let gw = Gateway::start_on_with(dir.path(), &ak, &sk, &["--metadata", &db.url]);
    Box::pin(run(&gw, "worm-pg", &["--metadata", &db.url])).await;
}
