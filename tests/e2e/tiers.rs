//! Storage tiers (docs/tiering.md): a gateway with its default disk tier, a second disk tier
//! (`warm`) and an S3-proxy tier (`cold`) in front of a second s3gate on loopback. Each
//! class's data lands on its tier (checked in the files and the upstream bucket), the class is
//! reported by HEAD/GET and every listing, a copy onto itself changes the class and moves the
//! data (the old blob is collected), unmapped classes are refused as before tiers, and a tier
//! that is down answers 503 SlowDown for its objects while the others serve.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectAttributes, StorageClass};

use crate::harness::{
    Flavour, Gateway, any_file_contains, create_bucket, err_info, get, random_bytes, random_keys,
};

/// The upstream bucket of the cold tier.
const COLD_BUCKET: &str = "coldblobs";
/// The key prefix of the cold tier's blobs.
const COLD_PREFIX: &str = "tier/";

/// The tiered gateway, its upstream and the warm tier's directory.
struct Tiers {
    gw: Gateway,
    up: Gateway,
    warm: PathBuf,
    _dirs: tempfile::TempDir,
}

impl Tiers {
    async fn start() -> Tiers {
        let dirs = tempfile::Builder::new().prefix("s3gate-tiers-").tempdir().unwrap();
        let (uak, usk) = random_keys();
        let up = Gateway::start_on_with(&dirs.path().join("up"), &uak, &usk, &[]);
        create_bucket(&up.client(Flavour::WhenRequired), COLD_BUCKET).await;
        let creds = dirs.path().join("cold.keys");
        std::fs::write(&creds, format!("access_key_id={uak}\nsecret_access_key={usk}\n")).unwrap();
        let warm = dirs.path().join("warm");
        let warm_tier = format!("warm=disk:{}", warm.display());
        let cold_tier = format!(
            "cold=s3:endpoint={},bucket={COLD_BUCKET},prefix={COLD_PREFIX},credentials-file={},\
             max-attempts=2",
            up.endpoint(),
            creds.display()
        );
        let (ak, sk) = random_keys();
        let args = [
            "--tier",
            &warm_tier,
            "--tier",
            &cold_tier,
            "--storage-class",
            "STANDARD_IA=warm",
            "--storage-class",
            "GLACIER_IR=cold",
            "--storage-class",
            "ONEZONE_IA=standard",
            "--gc-grace-seconds",
            "0",
            "--gc-interval-seconds",
            "1",
        ];
        let gw = Gateway::start_on_with(&dirs.path().join("gw"), &ak, &sk, &args);
        Tiers { gw, up, warm, _dirs: dirs }
    }

    /// Keys of the cold tier's blobs in the upstream bucket.
    async fn cold_blobs(&self) -> Vec<String> {
        let c = self.up.client(Flavour::WhenRequired);
        let page =
            c.list_objects_v2().bucket(COLD_BUCKET).prefix(COLD_PREFIX).send().await.unwrap();
        page.contents().iter().map(|o| o.key().unwrap().to_owned()).collect()
    }

    /// Whether the default tier (the gateway's data directory) holds `data`.
    fn on_default(&self, data: &[u8]) -> bool {
        any_file_contains(&self.gw.dir.join("blobs"), data)
    }

    fn on_warm(&self, data: &[u8]) -> bool {
        any_file_contains(&self.warm.join("blobs"), data)
    }
}

async fn put_class(
    c: &aws_sdk_s3::Client,
    b: &str,
    k: &str,
    data: &[u8],
    class: Option<StorageClass>,
) {
    c.put_object()
        .bucket(b)
        .key(k)
        .set_storage_class(class)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
}

async fn head_class(c: &aws_sdk_s3::Client, b: &str, k: &str) -> Option<String> {
    let h = c.head_object().bucket(b).key(k).send().await.unwrap();
    h.storage_class().map(|s| s.as_str().to_owned())
}

/// Waits until `cond` holds (the collector runs every second), failing after 20 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn blob_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.path().is_dir() { blob_files(&e.path()) } else { 1 }).sum()
}

#[tokio::test]
async fn classes_land_on_their_tiers_and_are_reported() {
    let t = Tiers::start().await;
    let c = t.gw.client(Flavour::WhenRequired);
    let b = "tiered";
    create_bucket(&c, b).await;
    let std_data = random_bytes(3000);
    let warm_data = random_bytes(3000);
    let cold_data = random_bytes(3000);
    let onezone_data = random_bytes(3000);
    put_class(&c, b, "std", &std_data, None).await;
    put_class(&c, b, "warm", &warm_data, Some(StorageClass::StandardIa)).await;
    put_class(&c, b, "cold", &cold_data, Some(StorageClass::GlacierIr)).await;
    put_class(&c, b, "onezone", &onezone_data, Some(StorageClass::OnezoneIa)).await;

    // Each body is on its tier's storage and nowhere else.
    assert!(t.on_default(&std_data) && !t.on_warm(&std_data));
    assert!(t.on_warm(&warm_data) && !t.on_default(&warm_data));
    assert!(!t.on_warm(&cold_data) && !t.on_default(&cold_data));
    assert_eq!(t.cold_blobs().await.len(), 1, "the cold object's blob is upstream");
    assert!(t.on_default(&onezone_data), "ONEZONE_IA is mapped to the default tier");

    // HEAD and GET name every class but STANDARD.
    assert_eq!(head_class(&c, b, "std").await, None);
    assert_eq!(head_class(&c, b, "warm").await.as_deref(), Some("STANDARD_IA"));
    assert_eq!(head_class(&c, b, "cold").await.as_deref(), Some("GLACIER_IR"));
    assert_eq!(head_class(&c, b, "onezone").await.as_deref(), Some("ONEZONE_IA"));
    let g = c.get_object().bucket(b).key("cold").send().await.unwrap();
    assert_eq!(g.storage_class().map(StorageClass::as_str), Some("GLACIER_IR"));
    assert_eq!(g.body.collect().await.unwrap().into_bytes().as_ref(), &cold_data[..]);
    assert_eq!(get(&c, b, "warm").await, warm_data);

    // Listings name every class, STANDARD included.
    let want = [
        ("cold", "GLACIER_IR"),
        ("onezone", "ONEZONE_IA"),
        ("std", "STANDARD"),
        ("warm", "STANDARD_IA"),
    ];
    let v2 = c.list_objects_v2().bucket(b).send().await.unwrap();
    let got: Vec<_> = v2
        .contents()
        .iter()
        .map(|o| (o.key().unwrap(), o.storage_class().unwrap().as_str()))
        .collect();
    assert_eq!(got, want);
    let v1 = c.list_objects().bucket(b).send().await.unwrap();
    let got: Vec<_> = v1
        .contents()
        .iter()
        .map(|o| (o.key().unwrap(), o.storage_class().unwrap().as_str()))
        .collect();
    assert_eq!(got, want);
    let versions = c.list_object_versions().bucket(b).send().await.unwrap();
    let got: Vec<_> = versions
        .versions()
        .iter()
        .map(|o| (o.key().unwrap(), o.storage_class().unwrap().as_str()))
        .collect();
    assert_eq!(got, want);
    let attrs = c
        .get_object_attributes()
        .bucket(b)
        .key("warm")
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.storage_class().map(StorageClass::as_str), Some("STANDARD_IA"));

    // Classes no tier stores are refused as before tiers; unknown names are invalid.
    let e = c
        .put_object()
        .bucket(b)
        .key("glacier")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (501, "NotImplemented".to_owned()));
    let e = c
        .put_object()
        .bucket(b)
        .key("bogus")
        .storage_class(StorageClass::from("BOGUS"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (400, "InvalidStorageClass".to_owned()));
    let e = c.head_object().bucket(b).key("glacier").send().await.unwrap_err();
    assert_eq!(err_info(&e).0, 404, "nothing was stored");
}

#[tokio::test]
async fn multipart_uploads_write_their_parts_to_the_class_tier() {
    let t = Tiers::start().await;
    let c = t.gw.client(Flavour::WhenRequired);
    let b = "mpu";
    create_bucket(&c, b).await;
    let up = c
        .create_multipart_upload()
        .bucket(b)
        .key("big")
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let listed = c.list_multipart_uploads().bucket(b).send().await.unwrap();
    assert_eq!(listed.uploads()[0].storage_class().map(StorageClass::as_str), Some("STANDARD_IA"));
    let p1 = random_bytes(5 << 20);
    let p2 = random_bytes(1000);
    let mut done = Vec::new();
    for (n, data) in [(1, &p1), (2, &p2)] {
        let r = c
            .upload_part()
            .bucket(b)
            .key("big")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(r.e_tag().unwrap()).build());
    }
    assert!(t.on_warm(&p2) && !t.on_default(&p2), "parts go to the class's tier");
    let parts = c.list_parts().bucket(b).key("big").upload_id(id).send().await.unwrap();
    assert_eq!(parts.storage_class().map(StorageClass::as_str), Some("STANDARD_IA"));
    c.complete_multipart_upload()
        .bucket(b)
        .key("big")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(head_class(&c, b, "big").await.as_deref(), Some("STANDARD_IA"));
    assert_eq!(get(&c, b, "big").await, [p1, p2].concat());
}

#[tokio::test]
async fn copy_onto_itself_changes_the_class_and_moves_the_data() {
    let t = Tiers::start().await;
    let c = t.gw.client(Flavour::WhenRequired);
    let b = "copies";
    create_bucket(&c, b).await;
    let data = random_bytes(4000);
    put_class(&c, b, "k", &data, None).await;
    assert!(t.on_default(&data));
    let copy = |class: StorageClass| {
        c.copy_object().bucket(b).key("k").copy_source(format!("{b}/k")).storage_class(class).send()
    };
    // STANDARD → STANDARD_IA: the data moves to the warm tier; the old blob is collected.
    copy(StorageClass::StandardIa).await.unwrap();
    assert_eq!(head_class(&c, b, "k").await.as_deref(), Some("STANDARD_IA"));
    assert!(t.on_warm(&data));
    eventually("the default tier's copy to be collected", || !t.on_default(&data)).await;
    assert_eq!(get(&c, b, "k").await, data);
    // The same class again changes nothing: AWS's illegal self-copy.
    let e = copy(StorageClass::StandardIa).await.unwrap_err();
    assert_eq!(err_info(&e), (400, "InvalidRequest".to_owned()));
    // STANDARD_IA → GLACIER_IR: up to the S3 tier, and the warm file goes.
    copy(StorageClass::GlacierIr).await.unwrap();
    assert_eq!(t.cold_blobs().await.len(), 1);
    eventually("the warm tier's copy to be collected", || !t.on_warm(&data)).await;
    assert_eq!(get(&c, b, "k").await, data);
    // A copy to another key without a class is STANDARD, on the default tier (as on AWS).
    c.copy_object().bucket(b).key("k2").copy_source(format!("{b}/k")).send().await.unwrap();
    assert_eq!(head_class(&c, b, "k2").await, None);
    assert!(t.on_default(&data));
    // And a STANDARD → ONEZONE_IA self-copy on the same tier shares the blob: no new file.
    let files = blob_files(&t.gw.dir.join("blobs"));
    c.copy_object()
        .bucket(b)
        .key("k2")
        .copy_source(format!("{b}/k2"))
        .storage_class(StorageClass::OnezoneIa)
        .send()
        .await
        .unwrap();
    assert_eq!(head_class(&c, b, "k2").await.as_deref(), Some("ONEZONE_IA"));
    assert_eq!(blob_files(&t.gw.dir.join("blobs")), files);
}

#[tokio::test]
async fn a_tier_that_is_down_answers_slow_down_while_the_others_serve() {
    let mut t = Tiers::start().await;
    let c = t.gw.client(Flavour::WhenRequired);
    let b = "outage";
    create_bucket(&c, b).await;
    let hot = random_bytes(2000);
    let warm = random_bytes(2000);
    let cold = random_bytes(2000);
    put_class(&c, b, "hot", &hot, None).await;
    put_class(&c, b, "warm", &warm, Some(StorageClass::StandardIa)).await;
    put_class(&c, b, "cold", &cold, Some(StorageClass::GlacierIr)).await;
    t.up.crash();
    let nr = t.gw.client_no_retry(Flavour::WhenRequired);
    let e = nr.get_object().bucket(b).key("cold").send().await.unwrap_err();
    assert_eq!(err_info(&e), (503, "SlowDown".to_owned()));
    let e = nr
        .put_object()
        .bucket(b)
        .key("cold2")
        .storage_class(StorageClass::GlacierIr)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (503, "SlowDown".to_owned()));
    assert_eq!(get(&nr, b, "hot").await, hot);
    assert_eq!(get(&nr, b, "warm").await, warm);
    // The warm disk tier goes away (an unmounted NAS): its objects answer 503 too.
    let moved = t.warm.with_extension("away");
    std::fs::rename(&t.warm, &moved).unwrap();
    let e = nr.get_object().bucket(b).key("warm").send().await.unwrap_err();
    assert_eq!(err_info(&e), (503, "SlowDown".to_owned()));
    assert_eq!(get(&nr, b, "hot").await, hot);
    std::fs::rename(&moved, &t.warm).unwrap();
    assert_eq!(get(&nr, b, "warm").await, warm);
}

#[tokio::test]
async fn the_config_file_declares_tiers_and_classes() {
    let dirs = tempfile::Builder::new().prefix("s3gate-tiers-file-").tempdir().unwrap();
    let warm = dirs.path().join("nas");
    let file = dirs.path().join("s3gate.toml");
    std::fs::write(
        &file,
        format!(
            "tier = [\"nas=disk:{}\"]\nstorage_class = [\"STANDARD_IA=nas\", \"GLACIER_IR=nas\"]\n",
            warm.display()
        ),
    )
    .unwrap();
    let (ak, sk) = random_keys();
    let gw = Gateway::start_on_with(
        &dirs.path().join("gw"),
        &ak,
        &sk,
        &["--config", file.to_str().unwrap()],
    );
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "filed").await;
    let data = random_bytes(2000);
    put_class(&c, "filed", "k", &data, Some(StorageClass::GlacierIr)).await;
    assert!(any_file_contains(&warm.join("blobs"), &data));
    assert!(!any_file_contains(&gw.dir.join("blobs"), &data));
    assert_eq!(head_class(&c, "filed", "k").await.as_deref(), Some("GLACIER_IR"));
    // A class the file does not map is refused as without tiers.
    let e = c
        .put_object()
        .bucket("filed")
        .key("deep")
        .storage_class(StorageClass::DeepArchive)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (501, "NotImplemented".to_owned()));
}

#[tokio::test]
async fn gc_and_check_cover_every_tier_given_the_tiers() {
    let dirs = tempfile::Builder::new().prefix("s3gate-tiers-admin-").tempdir().unwrap();
    let warm = dirs.path().join("warm");
    let tier = format!("warm=disk:{}", warm.display());
    let (ak, sk) = random_keys();
    let data_dir = dirs.path().join("gw");
    let mut gw = Gateway::start_on_with(
        &data_dir,
        &ak,
        &sk,
        &["--tier", &tier, "--storage-class", "STANDARD_IA=warm"],
    );
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "adm").await;
    let old = random_bytes(2500);
    put_class(&c, "adm", "k", &old, Some(StorageClass::StandardIa)).await;
    put_class(&c, "adm", "k", &random_bytes(2500), Some(StorageClass::StandardIa)).await;
    assert!(gw.stop_graceful());
    // Without the tier, check cannot see the warm blobs; with it, every blob is accounted for.
    let (ok, out) = crate::harness::run_cli_status(&["check"], &data_dir);
    assert!(!ok, "{out}");
    assert!(out.contains("missing"), "{out}");
    let out = crate::harness::run_cli(&["check", "--tier", &tier], &data_dir);
    assert!(out.trim_end().ends_with("ok"), "{out}");
    // gc with the tier deletes the overwritten version's blob from the warm tier.
    crate::harness::run_cli(&["gc", "--tier", &tier], &data_dir);
    assert!(!any_file_contains(&warm.join("blobs"), &old));
    assert_eq!(blob_files(&warm.join("blobs")), 1);
}
