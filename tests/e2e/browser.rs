//! The browser test: headless Chromium (Debian's `/usr/bin/chromium`, driven by
//! `playwright-core` from npm; nothing downloads a browser) runs `tests/browser/upload.mjs`
//! against the real binary. A page on another origin uploads a file with a presigned POST
//! form (SigV4 policy, `success_action_redirect` back to the page), reads it back with a
//! CORS `fetch`, writes with a CORS `PUT` whose preflight the bucket's rule allows, and makes
//! a `DELETE` whose preflight it refuses. The screenshot lands in
//! `$S3GATE_BROWSER_SCREENSHOT` (default: the test's temporary directory, printed).
//!
//! `static_website_in_chromium` browses a static website (`tests/browser/website.mjs`).
//!
//! Gated by `S3GATE_TEST_BROWSER=1` (`.ci/run` sets it after `npm ci` in tests/browser and
//! installing Debian's chromium); without it the test says that it skips and why.

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::harness::{Flavour, Gateway, create_bucket, get};
use crate::post::{fields, signed_v4};

const BUCKET: &str = "browser-e2e";

#[tokio::test]
async fn presigned_post_form_and_cors_fetch_in_chromium() {
    if std::env::var("S3GATE_TEST_BROWSER").map_or(true, |v| v != "1") {
        println!(
            "SKIP presigned_post_form_and_cors_fetch_in_chromium: set S3GATE_TEST_BROWSER=1 \
             (`.ci/run` does, after `npm ci` in tests/browser and apt-get install chromium)"
        );
        return;
    }
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let page_port =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let rule = CorsRule::builder()
        .allowed_origins(&origin)
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_methods("POST")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(60)
        .build()
        .unwrap();
    c.put_bucket_cors()
        .bucket(BUCKET)
        .cors_configuration(CorsConfiguration::builder().cors_rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();

    let redirect = format!("{origin}/done");
    let bucket_cond = format!(r#"{{"bucket": "{BUCKET}"}}"#);
    let redirect_cond = format!(r#"{{"success_action_redirect": "{redirect}"}}"#);
    let form = signed_v4(
        &gw,
        fields(&[
            ("key", "browser/${filename}"),
            ("Content-Type", "text/plain"),
            ("success_action_redirect", &redirect),
        ]),
        &[
            &bucket_cond,
            r#"["starts-with", "$key", "browser/"]"#,
            r#"["starts-with", "$Content-Type", "text/"]"#,
            &redirect_cond,
            r#"["content-length-range", 1, 1048576]"#,
        ],
        600,
    );
    let presign = || PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let get_url =
        c.get_object().bucket(BUCKET).key("browser/hello.txt").presigned(presign()).await.unwrap();
    let put_url = c
        .put_object()
        .bucket(BUCKET)
        .key("browser/by-fetch.txt")
        .presigned(presign())
        .await
        .unwrap();
    let delete_url = c
        .delete_object()
        .bucket(BUCKET)
        .key("browser/hello.txt")
        .presigned(presign())
        .await
        .unwrap();

    let work = tempfile::Builder::new().prefix("s3gate-browser-").tempdir().unwrap();
    let screenshot = std::env::var("S3GATE_BROWSER_SCREENSHOT")
        .unwrap_or_else(|_| work.path().join("browser.png").display().to_string());
    let text = "hello from a browser form";
    let config = serde_json::json!({
        "action": format!("{}/{BUCKET}", gw.endpoint()),
        "fields": form,
        "fileName": "hello.txt",
        "fileText": text,
        "getUrl": get_url.uri(),
        "putUrl": put_url.uri(),
        "deleteUrl": delete_url.uri(),
        "screenshot": screenshot,
        "pagePort": page_port,
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/upload.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("S3GATE_BROWSER_CONFIG", config.to_string())
        .output()
        .expect(
            "run node (S3GATE_TEST_BROWSER=1 needs node, tests/browser/node_modules and chromium)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser script failed: {stdout}\n{stderr}\n--- s3gate:\n{}",
        gw.stderr()
    );
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("RESULT line");
    let result: serde_json::Value = serde_json::from_str(line).unwrap();
    println!("browser saw {result:#}\nscreenshot: {screenshot}");
    let s =
        |k: &str| result.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    let n = |k: &str| result.get(k).and_then(serde_json::Value::as_u64);
    // The form upload, redirected back to the page with the object's name.
    assert_eq!(s("redirectKey"), "browser/hello.txt", "{result}");
    assert_eq!(s("redirectBucket"), BUCKET);
    // The CORS GET read it, and saw the exposed ETag.
    assert_eq!(n("getStatus"), Some(200), "{result}");
    assert_eq!(s("getText"), text);
    assert!(s("getEtag").starts_with('"'), "{result}");
    assert_eq!(s("redirectEtag"), s("getEtag"));
    // The allowed preflight let the PUT through; the refused one stopped the DELETE.
    assert_eq!(n("putStatus"), Some(200), "{result}");
    assert!(s("deleteError").contains("Failed to fetch"), "{result}");
    assert_eq!(get(&c, BUCKET, "browser/hello.txt").await, text.as_bytes());
    assert_eq!(get(&c, BUCKET, "browser/by-fetch.txt").await, b"put by fetch");
    let head = c.head_object().bucket(BUCKET).key("browser/hello.txt").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 1000),
        "screenshot {screenshot}"
    );
    if std::env::var("S3GATE_BROWSER_SCREENSHOT").is_err() {
        // Keep it for a look when the test is run by hand.
        let _ = work.keep();
    }
}

/// A static website (`--website-domain web.test`) browsed in Chromium: the home page, a link
/// to a folder without its slash (302 to its index), a missing page (the error document with
/// 404) and a moved page (the object's redirect). Screenshots land in
/// `$S3GATE_BROWSER_SCREENSHOT_DIR` (default: a kept temporary directory, printed).
#[tokio::test]
async fn static_website_in_chromium() {
    if std::env::var("S3GATE_TEST_BROWSER").map_or(true, |v| v != "1") {
        println!(
            "SKIP static_website_in_chromium: set S3GATE_TEST_BROWSER=1 \
             (`.ci/run` does, after `npm ci` in tests/browser and apt-get install chromium)"
        );
        return;
    }
    let (ak, sk) = crate::harness::random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--website-domain", "web.test"]);
    let c = gw.client(Flavour::Default);
    let b = "site";
    create_bucket(&c, b).await;
    let html = |body: &str| {
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{body}</title></head><body style=\"font:20px sans-serif;margin:2em\"><h1>{body}</h1><p><a id=\"docs\" href=\"/docs\">the docs</a></p></body></html>"
        )
    };
    for (key, title) in [
        ("index.html", "Home"),
        ("docs/index.html", "Docs index"),
        ("error.html", "Not found here"),
    ] {
        c.put_object()
            .bucket(b)
            .key(key)
            .content_type("text/html")
            .body(html(title).into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    c.put_object()
        .bucket(b)
        .key("moved.html")
        .website_redirect_location("/docs/")
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    let website = aws_sdk_s3::types::WebsiteConfiguration::builder()
        .index_document(
            aws_sdk_s3::types::IndexDocument::builder().suffix("index.html").build().unwrap(),
        )
        .error_document(
            aws_sdk_s3::types::ErrorDocument::builder().key("error.html").build().unwrap(),
        )
        .build();
    c.put_bucket_website().bucket(b).website_configuration(website).send().await.unwrap();
    let policy = format!(
        r#"{{"Version": "2012-10-17", "Statement": [
            {{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"}},
            {{"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::{b}"}}]}}"#
    );
    c.put_bucket_policy().bucket(b).policy(policy).send().await.unwrap();

    let work = tempfile::Builder::new().prefix("s3gate-website-").tempdir().unwrap();
    let shots = std::env::var("S3GATE_BROWSER_SCREENSHOT_DIR")
        .unwrap_or_else(|_| work.path().display().to_string());
    let site = format!("http://{b}.web.test:{}", gw.port);
    let config = serde_json::json!({ "site": site, "screenshots": shots });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/website.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("S3GATE_BROWSER_CONFIG", config.to_string())
        .output()
        .expect(
            "run node (S3GATE_TEST_BROWSER=1 needs node, tests/browser/node_modules and chromium)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "website script failed: {stdout}\n{}\n--- s3gate:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("RESULT line");
    let result: serde_json::Value = serde_json::from_str(line).unwrap();
    println!("browser saw {result:#}\nscreenshots: {shots}");
    let page = |name: &str, field: &str| result[name][field].clone();
    assert_eq!(page("home", "status"), 200, "{result}");
    assert_eq!(page("home", "heading"), "Home", "{result}");
    // The link to /docs followed S3's 302 to /docs/ and its index.
    assert_eq!(page("folder", "url"), format!("{site}/docs/"), "{result}");
    assert_eq!(page("folder", "heading"), "Docs index", "{result}");
    assert_eq!(page("missing", "status"), 404, "{result}");
    assert_eq!(page("missing", "heading"), "Not found here", "{result}");
    assert_eq!(page("moved", "url"), format!("{site}/docs/"), "{result}");
    assert_eq!(page("moved", "heading"), "Docs index", "{result}");
    for name in ["home", "folder", "missing", "moved"] {
        let png = format!("{shots}/{name}.png");
        assert!(std::fs::metadata(&png).is_ok_and(|m| m.len() > 1000), "screenshot {png}");
    }
    if std::env::var("S3GATE_BROWSER_SCREENSHOT_DIR").is_err() {
        let _ = work.keep();
    }
}
