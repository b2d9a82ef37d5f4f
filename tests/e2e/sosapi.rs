//! Veeam's SOSAPI through the binary (docs/object-lock.md, "Veeam"): `system.xml` and
//! `capacity.xml` under `.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/` answer with the disk's
//! real space, only to a caller who may read the bucket, and give way to an object stored at
//! their key.

use aws_sdk_s3::primitives::ByteStream;

use crate::harness::{Flavour, Gateway, create_bucket, err_info, md5_hex};

const SYSTEM: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml";
const CAPACITY: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml";

/// The number in `<name>…</name>` of an XML document.
fn number(xml: &str, name: &str) -> u64 {
    let start = xml.find(&format!("<{name}>")).unwrap_or_else(|| panic!("no {name} in {xml}"));
    let rest = &xml[start + name.len() + 2..];
    rest[..rest.find('<').unwrap()].parse().unwrap()
}

/// The size of the filesystem holding `dir`, as df reports it.
fn filesystem_size(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df").args(["-B1", "--output=size"]).arg(dir).output();
    let out = String::from_utf8(out.unwrap().stdout).unwrap();
    out.lines().nth(1).unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veeam_reads_the_system_and_the_capacity_of_a_bucket() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "veeam").await;

    let system = c.get_object().bucket("veeam").key(SYSTEM).send().await.unwrap();
    assert_eq!(system.content_type(), Some("application/xml"));
    let etag = system.e_tag().unwrap().to_owned();
    let body = system.body.collect().await.unwrap().into_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("<CapacityInfo>true</CapacityInfo>"), "{text}");
    assert!(text.contains("<ProtocolVersion>\"1.0\"</ProtocolVersion>"), "{text}");
    assert_eq!(etag, format!("\"{}\"", md5_hex(&body)));

    let head = c.head_object().bucket("veeam").key(SYSTEM).send().await.unwrap();
    assert_eq!(head.content_length(), Some(body.len() as i64));
    // The ETag is the document's: a cache revalidates with it.
    let same = c.get_object().bucket("veeam").key(SYSTEM).if_none_match(&etag).send().await;
    assert_eq!(err_info(&same.unwrap_err()).0, 304);
    let other = c.get_object().bucket("veeam").key(SYSTEM).if_match("\"0\"").send().await;
    assert_eq!(err_info(&other.unwrap_err()), (412, "PreconditionFailed".to_owned()));

    let cap = c.get_object().bucket("veeam").key(CAPACITY).send().await.unwrap();
    let text = String::from_utf8(cap.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    let (total, available, used) =
        (number(&text, "Capacity"), number(&text, "Available"), number(&text, "Used"));
    assert_eq!(total, filesystem_size(&gw.dir), "Capacity is the data disk's size: {text}");
    assert!(available > 0 && available < total, "{text}");
    assert_eq!(used, total - available, "{text}");

    // They are not objects: a listing shows nothing, a missing bucket is still missing.
    let listed = c.list_objects_v2().bucket("veeam").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
    let missing = c.get_object().bucket("no-such-veeam").key(SYSTEM).send().await;
    assert_eq!(err_info(&missing.unwrap_err()), (404, "NoSuchBucket".to_owned()));
    // Another key of the folder is an ordinary missing key.
    let key = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/other.xml";
    let other = c.get_object().bucket("veeam").key(key).send().await;
    assert_eq!(err_info(&other.unwrap_err()), (404, "NoSuchKey".to_owned()));
    // Nor is a version of them.
    let versioned = c.get_object().bucket("veeam").key(SYSTEM).version_id("null").send().await;
    assert_eq!(err_info(&versioned.unwrap_err()).0, 404);

    // A stored system.xml (an operator's own recommendations) wins, until it is deleted.
    let own = "<SystemInfo><ProtocolVersion>\"1.0\"</ProtocolVersion></SystemInfo>";
    c.put_object()
        .bucket("veeam")
        .key(SYSTEM)
        .body(ByteStream::from_static(own.as_bytes()))
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket("veeam").key(SYSTEM).send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), own.as_bytes());
    c.delete_object().bucket("veeam").key(SYSTEM).send().await.unwrap();
    let got = c.get_object().bucket("veeam").key(SYSTEM).send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));

    // A user the bucket does not let in learns nothing.
    let (ak, sk) = gw.add_user("sosapi-outsider");
    let outsider = gw.client_as(&ak, &sk, Flavour::WhenRequired);
    for key in [SYSTEM, CAPACITY] {
        let denied = outsider.get_object().bucket("veeam").key(key).send().await;
        assert_eq!(err_info(&denied.unwrap_err()), (403, "AccessDenied".to_owned()), "{key}");
    }
}
