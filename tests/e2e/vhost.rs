//! Virtual-hosted-style addressing (`bucket.DOMAIN`) with several `--domain`s, driven by the
//! official SDK in its virtual-host mode (`force_path_style(false)`) against
//! `http://s3.example.test:PORT`. An interceptor sends every request to 127.0.0.1 instead,
//! after signing, with the `Host` header the SDK signed; so the test resolves no name and
//! connects nowhere else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use crate::harness::{
    Flavour, Gateway, client_for, expect_err, get, hyper_request, put, random_bytes, random_keys,
    sha256_hex,
};

const DOMAINS: [&str; 2] = ["s3.example.test", "s3.other.test"];

/// The `(host, path)` of each request an interceptor saw.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Redirects each request to `127.0.0.1:port`, keeping the signed host in `Host`; records
/// the `(host, path)` of each request.
#[derive(Debug)]
struct ToLoopback {
    port: u16,
    seen: Seen,
}

impl Intercept for ToLoopback {
    fn name(&self) -> &'static str {
        "ToLoopback"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        let uri: http::Uri = req.uri().parse()?;
        let authority = uri.authority().ok_or("request URI without authority")?.to_string();
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        self.seen.lock().unwrap().push((authority.clone(), uri.path().to_owned()));
        req.headers_mut().insert("host", authority);
        req.set_uri(format!("http://127.0.0.1:{}{path_and_query}", self.port))?;
        Ok(())
    }
}

/// A virtual-host-mode SDK client for `http://DOMAIN:port` that only ever connects to
/// 127.0.0.1.
fn vhost_client(gw: &Gateway, domain: &str, flavour: Flavour) -> (Client, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let base = client_for(gw.port, &gw.access_key, &gw.secret_key, flavour, true);
    let conf = base
        .config()
        .to_builder()
        .endpoint_url(format!("http://{domain}:{}", gw.port))
        .force_path_style(false)
        .interceptor(ToLoopback { port: gw.port, seen: Arc::clone(&seen) })
        .build();
    (Client::from_conf(conf), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_virtual_hosted_style_on_several_domains() {
    let domain_args: Vec<&str> = DOMAINS.iter().flat_map(|d| ["--domain", *d]).collect();
    let (ak, sk) = random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &domain_args);
    let path_client = gw.client(Flavour::WhenRequired);
    for (i, domain) in DOMAINS.iter().enumerate() {
        for flavour in Flavour::ALL {
            let (c, seen) = vhost_client(&gw, domain, flavour);
            let b = format!("vh{i}-{}", flavour.tag());
            c.create_bucket().bucket(&b).send().await.unwrap();
            {
                let seen = seen.lock().unwrap();
                let (host, path) = seen.last().unwrap();
                assert_eq!(host, &format!("{b}.{domain}:{}", gw.port), "virtual-hosted Host");
                assert_eq!(path, "/", "the bucket is not in the path");
            }
            path_client.head_bucket().bucket(&b).send().await.expect("path-style sees it");

            // Objects, including keys that need encoding, and a streamed upload.
            let small = random_bytes(3000);
            put(&c, &b, "dir/a b+c.txt", &small).await;
            let big = random_bytes(300_000);
            crate::harness::put_streaming(&c, &b, "dir/sub/big.bin", &big).await;
            assert!(get(&path_client, &b, "dir/a b+c.txt").await == small, "path-style read");
            assert!(get(&c, &b, "dir/sub/big.bin").await == big, "{domain} {flavour:?}");
            assert!(
                seen.lock()
                    .unwrap()
                    .iter()
                    .all(|(h, p)| h.starts_with(&b) && !p.starts_with(&format!("/{b}"))),
                "every request virtual-hosted: {:?}",
                seen.lock().unwrap()
            );

            // Listing with a delimiter, ranged GET, copy.
            let l = c.list_objects_v2().bucket(&b).prefix("dir/").delimiter("/").send().await;
            let l = l.unwrap();
            assert_eq!(l.name(), Some(b.as_str()));
            let keys: Vec<&str> = l.contents().iter().filter_map(|o| o.key()).collect();
            assert_eq!(keys, ["dir/a b+c.txt"]);
            assert_eq!(l.common_prefixes()[0].prefix(), Some("dir/sub/"));
            let r = c.get_object().bucket(&b).key("dir/sub/big.bin").range("bytes=1000-1999");
            let body = r.send().await.unwrap().body.collect().await.unwrap().into_bytes();
            assert_eq!(&body[..], &big[1000..2000]);
            c.copy_object()
                .bucket(&b)
                .key("copy.bin")
                .copy_source(format!("{b}/dir/sub/big.bin"))
                .send()
                .await
                .unwrap();
            assert_eq!(sha256_hex(&get(&c, &b, "copy.bin").await), sha256_hex(&big));

            // Multipart.
            let up = c.create_multipart_upload().bucket(&b).key("mp").send().await.unwrap();
            let id = up.upload_id().unwrap();
            let part = random_bytes(100_000);
            let out = c
                .upload_part()
                .bucket(&b)
                .key("mp")
                .upload_id(id)
                .part_number(1)
                .body(ByteStream::from(part.clone()))
                .send()
                .await
                .unwrap();
            let done = CompletedPart::builder().part_number(1).set_e_tag(out.e_tag).build();
            c.complete_multipart_upload()
                .bucket(&b)
                .key("mp")
                .upload_id(id)
                .multipart_upload(CompletedMultipartUpload::builder().parts(done).build())
                .send()
                .await
                .unwrap();
            assert!(get(&path_client, &b, "mp").await == part);

            // Presigned GET with the virtual host, sent to 127.0.0.1 with that Host.
            let p = c
                .get_object()
                .bucket(&b)
                .key("dir/a b+c.txt")
                .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
                .await
                .unwrap();
            // The presigner runs the interceptors too: the URL already points at 127.0.0.1 and
            // the signed virtual host travels in the `Host` header it asks for.
            let headers: Vec<(&str, &str)> = p.headers().collect();
            let host = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host"));
            let host = host.map(|(_, v)| *v).unwrap_or_default();
            assert!(host.starts_with(&format!("{b}.{domain}:")), "presigned host {host:?}");
            assert!(p.uri().starts_with("http://127.0.0.1:"), "{}", p.uri());
            let r = hyper_request("GET", p.uri(), &headers, Vec::new()).await;
            assert_eq!(r.status, 200, "virtual-hosted presigned GET: {}", r.text());
            assert!(r.body == small);

            // Batch delete, then the bucket.
            let objects: Vec<ObjectIdentifier> =
                ["dir/a b+c.txt", "dir/sub/big.bin", "copy.bin", "mp"]
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                    .collect();
            let d = c
                .delete_objects()
                .bucket(&b)
                .delete(Delete::builder().set_objects(Some(objects)).build().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(d.deleted().len(), 4, "{d:?}");
            c.delete_bucket().bucket(&b).send().await.unwrap();
            expect_err(path_client.head_bucket().bucket(&b).send().await, 404, "", "gone");
        }
    }

    // A bucket's host under one domain sees the same bucket as under the other.
    let (c1, _) = vhost_client(&gw, DOMAINS[0], Flavour::Default);
    let (c2, _) = vhost_client(&gw, DOMAINS[1], Flavour::Default);
    c1.create_bucket().bucket("shared-vh").send().await.unwrap();
    put(&c1, "shared-vh", "k", b"one bucket, two domains").await;
    assert_eq!(get(&c2, "shared-vh", "k").await, b"one bucket, two domains");
    // Path-style requests still work on the IP endpoint of the same gateway.
    assert_eq!(get(&path_client, "shared-vh", "k").await, b"one bucket, two domains");
    // A virtual-hosted request for a bucket that does not exist.
    expect_err(
        c2.get_object().bucket("no-such-vh").key("k").send().await,
        404,
        "NoSuchBucket",
        "missing bucket by virtual host",
    );
}
