//! The web console (`--console-listen`, docs/console.md).
//!
//! `console_over_http` drives it with plain HTTP requests (always runs): login, the session
//! cookie's attributes, pages, the S3 requests run as the session's user, CSRF and Origin
//! refusals, a read-only user refused, a share link fetched, logout, and a session that
//! expired.
//!
//! `console_in_chromium` is the same everyday work in headless Chromium
//! (`tests/browser/console.mjs`: Debian's `/usr/bin/chromium` driven by `playwright-core`;
//! nothing downloads a browser): log in, browse, upload a 20 MiB file (multipart, with
//! progress, resumed after a failed part), download it and compare, share a link and fetch
//! it from here, delete, a read-only user who sees no delete or upload button and is refused
//! anyway, a cross-origin form refused, and an expired session. Screenshots of each view land
//! in `$S3GATE_CONSOLE_SCREENSHOTS` (default: a kept temporary directory, printed). Gated by
//! `S3GATE_TEST_BROWSER=1` (`.ci/run` sets it); without it the test says that it skips.

use std::process::Command;

use crate::harness::{Flavour, Gateway, create_bucket, get, hyper_request, put, random_bytes};

/// A free port on loopback for the console listener.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A gateway with its console on a free port: (gateway, `http://127.0.0.1:PORT`).
fn start(extra: &[&str]) -> (Gateway, String) {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let (ak, sk) = crate::harness::random_keys();
    let mut args = vec!["--console-listen", listen.as_str()];
    args.extend_from_slice(extra);
    let gw = Gateway::start_with_keys(&ak, &sk, &args);
    let url = format!("http://{listen}");
    // The console listener is bound before the S3 listener prints its line, but be patient.
    for _ in 0..50 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (gw, url)
}

/// `s3gate user add NAME --policy POLICY`: (access key, secret).
fn add_user(gw: &Gateway, name: &str, policy: &str) -> (String, String) {
    let out = crate::harness::run_cli(&["user", "add", name, "--policy", policy], &gw.dir);
    let value = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {prefix} in {out}"))
    };
    (value("access_key_id:"), value("secret_access_key:"))
}

/// A logged-in client: the cookie header and the CSRF token of the session.
struct Session {
    cookie: String,
    csrf: String,
}

/// `s` encoded for a form body.
fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

async fn login(console: &str, ak: &str, sk: &str) -> Session {
    let body = format!("access_key={}&secret_key={}", form_value(ak), form_value(sk));
    let r = hyper_request(
        "POST",
        &format!("{console}/login"),
        &[("content-type", "application/x-www-form-urlencoded"), ("origin", console)],
        body.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 303, "login: {}", r.text());
    let set = r.header("set-cookie").expect("a session cookie").to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP console: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let home = hyper_request("GET", &format!("{console}/"), &[("cookie", &cookie)], vec![]).await;
    assert_eq!(home.status, 200, "{}", home.text());
    let text = home.text();
    let at = text.find("<meta name=\"csrf\" content=\"").expect("csrf meta") + 27;
    let csrf = text[at..at + 64].to_owned();
    Session { cookie, csrf }
}

impl Session {
    async fn send(
        &self,
        console: &str,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> crate::harness::RawResponse {
        let mut headers = vec![("cookie", self.cookie.as_str())];
        headers.extend_from_slice(extra);
        hyper_request(method, &format!("{console}{path}"), &headers, body).await
    }
}

fn gw_users(gw: &Gateway) -> String {
    crate::harness::run_cli(&["user", "list"], &gw.dir)
}

#[tokio::test]
async fn console_over_http() {
    let (gw, console) = start(&[]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "shelf").await;
    put(&c, "shelf", "docs/readme.txt", b"hello console").await;
    put(&c, "shelf", "top.txt", b"top").await;

    // Without a session: the pages send to the login form, scripts get 401.
    let r = hyper_request("GET", &format!("{console}/"), &[], vec![]).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let r = hyper_request("GET", &format!("{console}/s3/shelf/top.txt"), &[], vec![]).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = hyper_request("GET", &format!("{console}/login"), &[], vec![]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-security-policy").is_some_and(|v| v.contains("frame-ancestors")));
    // A wrong secret, an unknown key: refused alike, and no cookie.
    for body in [
        format!("access_key={}&secret_key=wrong", gw.access_key),
        "access_key=NOPE&secret_key=x".to_owned(),
    ] {
        let r = hyper_request(
            "POST",
            &format!("{console}/login"),
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(r.header("set-cookie").is_none());
    }

    let root = login(&console, &gw.access_key, &gw.secret_key).await;
    let home = root.send(&console, "GET", "/", &[], vec![]).await;
    assert!(home.text().contains("href=\"/b/shelf\""), "{}", home.text());
    let listing = root.send(&console, "GET", "/b/shelf", &[], vec![]).await;
    let text = listing.text();
    assert!(text.contains("?prefix=docs%2F\">docs/</a>"), "{text}");
    assert!(text.contains("data-delete=\"top.txt\""), "root may delete: {text}");
    assert!(text.contains("id=\"drop\""), "root may upload");
    let inner = root.send(&console, "GET", "/b/shelf?prefix=docs%2F", &[], vec![]).await;
    assert!(inner.text().contains(">readme.txt</a>"), "{}", inner.text());
    let details = root.send(&console, "GET", "/o/shelf/docs/readme.txt", &[], vec![]).await;
    assert_eq!(details.status, 200);
    assert!(details.text().contains("13 B (13 bytes)"), "{}", details.text());

    // Downloads stream the object, sandboxed.
    let r = root.send(&console, "GET", "/s3/shelf/docs/readme.txt", &[], vec![]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello console"[..]));
    assert!(r.header("content-security-policy").is_some_and(|v| v.starts_with("sandbox")));

    // A write without the token, with a wrong one, or from another origin: refused, nothing
    // written.
    let me = console.as_str();
    let refused: [&[(&str, &str)]; 3] = [
        &[("origin", me)],
        &[("origin", me), ("x-s3gate-csrf", "0000")],
        &[("origin", "http://127.0.0.1:1"), ("x-s3gate-csrf", root.csrf.as_str())],
    ];
    for headers in refused {
        let r = root.send(&console, "PUT", "/s3/shelf/forged.txt", headers, b"x".to_vec()).await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
        assert!(r.text().contains("CsrfRefused"), "{}", r.text());
    }
    let r = root.send(&console, "DELETE", "/s3/shelf/top.txt", &[("origin", me)], vec![]).await;
    assert_eq!(r.status, 403);
    assert_eq!(get(&c, "shelf", "top.txt").await, b"top");
    assert!(c.head_object().bucket("shelf").key("forged.txt").send().await.is_err());
    // With the token: the S3 pipeline runs the write as root.
    let token = [("origin", me), ("x-s3gate-csrf", root.csrf.as_str())];
    let r = root.send(&console, "PUT", "/s3/shelf/new.txt", &token, b"written".to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&c, "shelf", "new.txt").await, b"written");
    // S3's own refusals come back as S3 errors.
    let r = root.send(&console, "PUT", "/s3/Bad_Name", &token, vec![]).await;
    r.assert_error(400, "InvalidBucketName", "console create bucket");

    // A share link, fetched without any session.
    let form = "bucket=shelf&key=docs%2Freadme.txt&expires=600";
    let share_headers = [
        ("origin", me),
        ("x-s3gate-csrf", root.csrf.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let r = root.send(&console, "POST", "/share", &share_headers, form.as_bytes().to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let url = v["url"].as_str().unwrap();
    assert!(url.starts_with(&gw.endpoint()), "{url}");
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    let fetched = hyper_request("GET", url, &[], vec![]).await;
    assert_eq!((fetched.status, fetched.body.as_slice()), (200, &b"hello console"[..]));
    let bad = "bucket=shelf&key=docs%2Freadme.txt&expires=604801";
    let r = root.send(&console, "POST", "/share", &share_headers, bad.as_bytes().to_vec()).await;
    assert_eq!(r.status, 400, "{}", r.text());

    // A read-only user: no delete or upload buttons, and refused when trying anyway.
    let (rak, rsk) = add_user(&gw, "reader", "read-only");
    let reader = login(&console, &rak, &rsk).await;
    let listing = reader.send(&console, "GET", "/b/shelf", &[], vec![]).await;
    assert_eq!(listing.status, 200, "{}", listing.text());
    let text = listing.text();
    assert!(text.contains(">top.txt</a>"), "{text}");
    assert!(!text.contains("data-delete"), "{text}");
    assert!(!text.contains("id=\"drop\""), "{text}");
    assert!(!text.contains("delete-bucket"), "{text}");
    let rtoken = [("origin", me), ("x-s3gate-csrf", reader.csrf.as_str())];
    let r = reader.send(&console, "DELETE", "/s3/shelf/top.txt", &rtoken, vec![]).await;
    r.assert_error(403, "AccessDenied", "read-only delete");
    let r = reader.send(&console, "PUT", "/s3/shelf/mine.txt", &rtoken, b"no".to_vec()).await;
    r.assert_error(403, "AccessDenied", "read-only upload");
    assert_eq!(get(&c, "shelf", "top.txt").await, b"top");
    let r = reader.send(&console, "GET", "/s3/shelf/top.txt", &[], vec![]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"top"[..]));

    // Root only: users and policies through the admin API, and the dashboard.
    let iam = root.send(&console, "GET", "/iam", &[], vec![]).await;
    assert_eq!(iam.status, 200, "{}", iam.text());
    assert!(iam.text().contains("reader") && iam.text().contains("read-only"), "{}", iam.text());
    let json = [
        ("origin", me),
        ("x-s3gate-csrf", root.csrf.as_str()),
        ("content-type", "application/json"),
    ];
    let body = br#"{"name": "carol", "policies": ["read-only"]}"#.to_vec();
    let r = root.send(&console, "POST", "/admin/v1/users", &json, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let carol_key = v["access_key_id"].as_str().unwrap().to_owned();
    let carol_secret = v["secret_access_key"].as_str().unwrap().to_owned();
    // The admin API's own validation answers: a user that exists.
    let r = root.send(&console, "POST", "/admin/v1/users", &json, body.clone()).await;
    assert_eq!(r.status, 409, "{}", r.text());
    // Disabling carol's key ends her login.
    let status = br#"{"status": "Inactive"}"#.to_vec();
    let path = format!("/admin/v1/users/carol/keys/{carol_key}");
    let r = root.send(&console, "PUT", &path, &json, status).await;
    assert_eq!(r.status, 204, "{}", r.text());
    // After the signer cache's 5 seconds at most.
    let mut refused = false;
    for _ in 0..30 {
        let form = format!(
            "access_key={}&secret_key={}",
            form_value(&carol_key),
            form_value(&carol_secret)
        );
        let r = hyper_request(
            "POST",
            &format!("{console}/login"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form.into_bytes(),
        )
        .await;
        if r.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(refused, "a disabled key still logs in");
    let r = root.send(&console, "POST", "/admin/v1/users", &[("origin", me)], body.clone()).await;
    assert_eq!(r.status, 403, "admin without the token: {}", r.text());
    let r = reader.send(&console, "GET", "/iam", &[], vec![]).await;
    assert_eq!(r.status, 403);
    let rjson = [("origin", me), ("x-s3gate-csrf", reader.csrf.as_str())];
    let r = reader
        .send(&console, "POST", "/admin/v1/users", &rjson, br#"{"name": "dave"}"#.to_vec())
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!crate::harness::run_cli(&["user", "list"], &gw.dir).contains("dave"));
    let dash = root.send(&console, "GET", "/dashboard", &[], vec![]).await;
    assert_eq!(dash.status, 200);
    assert!(dash.text().contains("<svg") && dash.text().contains("Requests"), "{}", dash.text());
    assert_eq!(reader.send(&console, "GET", "/dashboard", &[], vec![]).await.status, 403);

    // Bucket settings: versioning on, then an old version restored over the latest.
    let settings = root.send(&console, "GET", "/settings/shelf", &[], vec![]).await;
    assert!(settings.text().contains("never enabled"), "{}", settings.text());
    assert!(settings.text().contains("data-versioning=\"Enabled\""), "{}", settings.text());
    let xml = b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>".to_vec();
    let r = root.send(&console, "PUT", "/s3/shelf?versioning", &token, xml).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let settings = reader.send(&console, "GET", "/settings/shelf", &[], vec![]).await;
    assert!(settings.text().contains("<strong>enabled</strong>"), "{}", settings.text());
    assert!(!settings.text().contains("data-versioning"), "{}", settings.text());
    let v1 = c
        .put_object()
        .bucket("shelf")
        .key("v.txt")
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap();
    put(&c, "shelf", "v.txt", b"two").await;
    let v1 = v1.version_id().unwrap().to_owned();
    let details = root.send(&console, "GET", "/o/shelf/v.txt", &[], vec![]).await;
    assert!(details.text().contains(&format!("data-restore=\"{v1}\"")), "{}", details.text());
    let source = format!("/shelf/v.txt?versionId={v1}");
    let mut copy = token.to_vec();
    copy.push(("x-amz-copy-source", source.as_str()));
    let r = root.send(&console, "PUT", "/s3/shelf/v.txt", &copy, vec![]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&c, "shelf", "v.txt").await, b"one");
    let details = reader.send(&console, "GET", "/o/shelf/v.txt", &[], vec![]).await;
    assert!(!details.text().contains("data-restore"), "{}", details.text());

    // Logout needs the token too, then ends the session.
    let r = root.send(&console, "POST", "/logout", &[("origin", me)], b"csrf=nope".to_vec()).await;
    assert_eq!(r.status, 403);
    let body = format!("csrf={}", root.csrf).into_bytes();
    let r = root.send(&console, "POST", "/logout", &[("origin", me)], body).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let r = root.send(&console, "GET", "/", &[], vec![]).await;
    assert_eq!(r.header("location"), Some("/login"));
}

#[tokio::test]
async fn console_session_expires() {
    let (gw, console) = start(&["--console-session-max-seconds", "1"]);
    let s = login(&console, &gw.access_key, &gw.secret_key).await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let r = s.send(&console, "GET", "/", &[], vec![]).await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("session expired"), "{}", r.text());
    let r =
        s.send(&console, "PUT", "/s3/late", &[("x-s3gate-csrf", s.csrf.as_str())], vec![]).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let c = gw.client(Flavour::Default);
    assert!(c.head_bucket().bucket("late").send().await.is_err());
}

#[tokio::test]
async fn console_in_chromium() {
    if std::env::var("S3GATE_TEST_BROWSER").map_or(true, |v| v != "1") {
        println!(
            "SKIP console_in_chromium: set S3GATE_TEST_BROWSER=1 \
             (`.ci/run` does, after `npm ci` in tests/browser and apt-get install chromium)"
        );
        return;
    }
    let (gw, console) = start(&[]);
    let (expiring, expiring_console) = start(&["--console-session-idle-seconds", "2"]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "photos").await;
    for (k, body) in [
        ("2024/beach.jpg", &b"not really a jpeg"[..]),
        ("2024/city.jpg", b"nor this"),
        ("2025/snow.jpg", b"cold"),
        ("notes.txt", b"remember the milk"),
    ] {
        put(&c, "photos", k, body).await;
    }
    let (rak, rsk) = add_user(&gw, "reader", "read-only");
    let work = tempfile::Builder::new().prefix("s3gate-console-").tempdir().unwrap();
    let big = random_bytes(20 * 1024 * 1024);
    let big_path = work.path().join("big.bin");
    std::fs::write(&big_path, &big).unwrap();
    let shots = std::env::var("S3GATE_CONSOLE_SCREENSHOTS")
        .unwrap_or_else(|_| work.path().join("shots").display().to_string());
    std::fs::create_dir_all(&shots).unwrap();
    let download = work.path().join("downloaded.bin");
    let config = serde_json::json!({
        "console": console,
        "expiringConsole": expiring_console,
        "expiringRoot": [expiring.access_key, expiring.secret_key],
        "root": [gw.access_key, gw.secret_key],
        "reader": [rak, rsk],
        "bucket": "photos",
        "bigFile": big_path,
        "download": download,
        "screenshots": shots,
        "otherPort": free_port(),
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/console.mjs");
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
    println!("browser saw {result:#}\nscreenshots: {shots}");
    let b = |k: &str| result[k].as_bool().unwrap_or(false);
    let n = |k: &str| result[k].as_u64().unwrap_or(0);

    // Browsing showed the folders and objects.
    assert!(b("sawFolders"), "{result}");
    // The upload reported progress between 0 and 100 and resumed: the second attempt sent
    // only the parts the first had not.
    assert!(n("progressSteps") >= 2, "{result}");
    assert!(n("firstAttemptParts") >= 1, "{result}");
    assert_eq!(n("resumedPart1Puts"), 0, "part 1 sent again on resume: {result}");
    let stored = get(&c, "photos", "2025/big.bin").await;
    assert!(stored == big, "uploaded bytes differ ({} bytes stored)", stored.len());
    let head = c.head_object().bucket("photos").key("2025/big.bin").send().await.unwrap();
    assert!(head.e_tag().unwrap().ends_with("-3\""), "multipart ETag: {:?}", head.e_tag());
    // The drop zone took a dropped file.
    assert_eq!(get(&c, "photos", "2025/dropped.txt").await, b"dropped in");
    // The download is the same bytes.
    assert!(std::fs::read(&download).unwrap() == big, "downloaded bytes differ");
    // The share link works for anyone (fetched here, without the console).
    let url = result["shareUrl"].as_str().unwrap();
    let fetched = hyper_request("GET", url, &[], vec![]).await;
    assert_eq!(fetched.status, 200);
    assert!(fetched.body == big, "shared bytes differ");
    // Deleted in the browser: gone.
    assert!(c.head_object().bucket("photos").key("notes.txt").send().await.is_err());
    assert!(b("createdAndDeletedBucket"), "{result}");
    assert!(c.head_bucket().bucket("made-in-browser").send().await.is_err());
    // The read-only user saw no delete or upload button, and was refused anyway.
    assert_eq!(n("readerDeleteButtons"), 0, "{result}");
    assert!(!b("readerSawDrop"), "{result}");
    assert_eq!(n("readerForcedDelete"), 403, "{result}");
    assert_eq!(get(&c, "photos", "2024/city.jpg").await, b"nor this");
    // CSRF: a request without the token and a form from another origin were refused.
    assert_eq!(n("noTokenDelete"), 403, "{result}");
    assert_eq!(get(&c, "photos", "2024/beach.jpg").await, b"not really a jpeg");
    assert!(b("crossOriginRefused"), "{result}");
    assert!(b("stillLoggedIn"), "{result}");
    // The expired session sent the user back to the login form.
    assert!(b("expiredShown"), "{result}");
    assert!(b("createdUserMessage"), "{result}");
    assert!(gw_users(&gw).contains("carol"));
    for view in [
        "login",
        "buckets",
        "bucket",
        "upload",
        "object",
        "share",
        "settings",
        "iam",
        "dashboard",
        "readonly",
        "phone",
        "expired",
    ] {
        let p = std::path::Path::new(&shots).join(format!("{view}.png"));
        assert!(std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000), "screenshot {}", p.display());
    }
    if std::env::var("S3GATE_CONSOLE_SCREENSHOTS").is_err() {
        let _ = work.keep();
    }
}
