//! Static website hosting through the real binary (`--website-domain web.test`): the
//! configuration operations with the SDK, then the site browsed anonymously over HTTP with a
//! `Host: site.web.test`: index documents, the folder redirect, the error document, routing
//! rules, an object's `x-amz-website-redirect-location`, ranges, methods a website refuses,
//! and a private bucket's site.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Condition, ErrorDocument, IndexDocument, Redirect, RedirectAllRequestsTo, RoutingRule,
    WebsiteConfiguration,
};

use crate::harness::{
    Flavour, Gateway, RawResponse, create_bucket, expect_err, hyper_request, put, random_keys,
};

const SITE: &str = "site";

async fn browse(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let host = format!("{SITE}.web.test:{}", gw.port);
    let mut all = vec![("host", host.as_str())];
    all.extend_from_slice(headers);
    hyper_request(method, &format!("{}{path}", gw.endpoint()), &all, Vec::new()).await
}

async fn put_html(c: &aws_sdk_s3::Client, key: &str, body: &str) {
    c.put_object()
        .bucket(SITE)
        .key(key)
        .content_type("text/html")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

fn is_page(r: &RawResponse, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{what}");
    assert!(r.text().contains(&format!("<li>Code: {code}</li>")), "{what}: {}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_website() {
    let (ak, sk) = random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--website-domain", "web.test"]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, SITE).await;

    // No configuration yet: the website host says so, the API too.
    is_page(&browse(&gw, "GET", "/", &[]).await, 404, "NoSuchWebsiteConfiguration", "unset");
    let err = c.get_bucket_website().bucket(SITE).send().await;
    expect_err(err, 404, "NoSuchWebsiteConfiguration", "NoSuchWebsiteConfiguration");
    let r = hyper_request(
        "GET",
        &format!("{}/", gw.endpoint()),
        &[("host", "nobucket.web.test")],
        Vec::new(),
    )
    .await;
    is_page(&r, 404, "NoSuchBucket", "a website host naming no bucket");

    // Invalid configurations are refused and change nothing.
    let empty_suffix = WebsiteConfiguration::builder()
        .index_document(IndexDocument::builder().suffix("a/b").build().unwrap())
        .build();
    let err = c.put_bucket_website().bucket(SITE).website_configuration(empty_suffix).send().await;
    expect_err(err, 400, "InvalidArgument", "InvalidArgument");
    let both = WebsiteConfiguration::builder()
        .redirect_all_requests_to(
            RedirectAllRequestsTo::builder().host_name("x.test").build().unwrap(),
        )
        .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
        .build();
    let err = c.put_bucket_website().bucket(SITE).website_configuration(both).send().await;
    expect_err(err, 400, "InvalidArgument", "InvalidArgument");
    let err = c.get_bucket_website().bucket(SITE).send().await;
    expect_err(err, 404, "NoSuchWebsiteConfiguration", "NoSuchWebsiteConfiguration");

    let config = WebsiteConfiguration::builder()
        .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
        .error_document(ErrorDocument::builder().key("error.html").build().unwrap())
        .routing_rules(
            RoutingRule::builder()
                .condition(Condition::builder().key_prefix_equals("old-docs/").build())
                .redirect(Redirect::builder().replace_key_prefix_with("docs/").build())
                .build(),
        )
        .routing_rules(
            RoutingRule::builder()
                .condition(
                    Condition::builder()
                        .key_prefix_equals("img/")
                        .http_error_code_returned_equals("404")
                        .build(),
                )
                .redirect(
                    Redirect::builder()
                        .host_name("cdn.test")
                        .protocol(aws_sdk_s3::types::Protocol::Https)
                        .http_redirect_code("302")
                        .replace_key_with("img/missing.png")
                        .build(),
                )
                .build(),
        )
        .build();
    c.put_bucket_website().bucket(SITE).website_configuration(config).send().await.unwrap();
    let got = c.get_bucket_website().bucket(SITE).send().await.unwrap();
    assert_eq!(got.index_document().map(IndexDocument::suffix), Some("index.html"));
    assert_eq!(got.error_document().map(ErrorDocument::key), Some("error.html"));
    assert_eq!(got.routing_rules().len(), 2);
    assert_eq!(
        got.routing_rules()[1].redirect().and_then(Redirect::replace_key_with),
        Some("img/missing.png")
    );

    put_html(&c, "index.html", "<h1>home</h1>").await;
    put_html(&c, "docs/index.html", "<h1>docs</h1>").await;
    put_html(&c, "docs/a b.html", "<p>a b</p>").await;
    put_html(&c, "error.html", "<h1>not here</h1>").await;
    // A page that moved: its object redirects.
    c.put_object()
        .bucket(SITE)
        .key("moved.html")
        .website_redirect_location("/docs/")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let err = c
        .put_object()
        .bucket(SITE)
        .key("bad.html")
        .website_redirect_location("elsewhere")
        .body(ByteStream::from_static(b""))
        .send()
        .await;
    expect_err(err, 400, "InvalidRedirectLocation", "InvalidRedirectLocation");
    // The API reports the redirect as object metadata.
    let head = c.head_object().bucket(SITE).key("moved.html").send().await.unwrap();
    assert_eq!(head.website_redirect_location(), Some("/docs/"));

    // Private bucket: the site is refused, and so is its error document.
    let r = browse(&gw, "GET", "/", &[]).await;
    is_page(&r, 403, "AccessDenied", "a private bucket's site");
    assert!(r.text().contains("Custom Error Document"), "{}", r.text());

    let public = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{SITE}/*"}}]}}"#
    );
    c.put_bucket_policy().bucket(SITE).policy(&public).send().await.unwrap();
    // Readable but not listable: a missing page is 403 (as on AWS), with the error document.
    let r = browse(&gw, "GET", "/nope.html", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (403, "<h1>not here</h1>"));
    let r = browse(&gw, "GET", "/docs", &[]).await;
    assert_eq!((r.status, r.header("location")), (302, Some("/docs/")), "{}", r.text());
    // Listable too: missing pages are 404.
    let public = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{SITE}/*"}},
            {{"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::{SITE}"}}]}}"#
    );
    c.put_bucket_policy().bucket(SITE).policy(&public).send().await.unwrap();

    let r = browse(&gw, "GET", "/", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = browse(&gw, "GET", "/docs/", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>docs</h1>"));
    let r = browse(&gw, "GET", "/docs/a%20b.html", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "<p>a b</p>"));
    let r = browse(&gw, "HEAD", "/docs/", &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = browse(&gw, "GET", "/index.html", &[("range", "bytes=1-2")]).await;
    assert_eq!((r.status, r.text().as_str()), (206, "h1"));
    // A folder without its slash: 302 to the folder.
    let r = browse(&gw, "GET", "/docs", &[]).await;
    assert_eq!((r.status, r.header("location")), (302, Some("/docs/")));
    // A missing page: the error document, with the error's status.
    let r = browse(&gw, "GET", "/nope.html", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (404, "<h1>not here</h1>"));
    // Routing rules: a prefix rewrite before the lookup, a 404 rule after it.
    let r = browse(&gw, "GET", "/old-docs/a%20b.html", &[]).await;
    let want = format!("http://{SITE}.web.test:{}/docs/a%20b.html", gw.port);
    assert_eq!((r.status, r.header("location")), (301, Some(want.as_str())));
    let r = browse(&gw, "GET", "/img/logo.png", &[]).await;
    assert_eq!((r.status, r.header("location")), (302, Some("https://cdn.test/img/missing.png")));
    // An object's own redirect.
    let r = browse(&gw, "GET", "/moved.html", &[]).await;
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/")));
    // A website is read-only and unsigned requests are all it sees.
    for method in ["PUT", "DELETE", "POST"] {
        is_page(&browse(&gw, method, "/index.html", &[]).await, 405, "MethodNotAllowed", method);
    }
    assert_eq!(
        c.head_object().bucket(SITE).key("index.html").send().await.unwrap().content_length(),
        Some(13)
    );

    // A copy keeps the metadata but not the redirect, unless the copy sends it again.
    c.copy_object()
        .bucket(SITE)
        .key("copied.html")
        .copy_source(format!("{SITE}/moved.html"))
        .send()
        .await
        .unwrap();
    let head = c.head_object().bucket(SITE).key("copied.html").send().await.unwrap();
    assert_eq!(head.website_redirect_location(), None);
    c.copy_object()
        .bucket(SITE)
        .key("moved.html")
        .copy_source(format!("{SITE}/moved.html"))
        .website_redirect_location("https://example.test/")
        .send()
        .await
        .unwrap();
    let r = browse(&gw, "GET", "/moved.html", &[]).await;
    assert_eq!((r.status, r.header("location")), (301, Some("https://example.test/")));

    // Redirect-all replaces the site.
    let all = WebsiteConfiguration::builder()
        .redirect_all_requests_to(
            RedirectAllRequestsTo::builder().host_name("new.test").build().unwrap(),
        )
        .build();
    c.put_bucket_website().bucket(SITE).website_configuration(all).send().await.unwrap();
    let r = browse(&gw, "GET", "/docs/x", &[]).await;
    assert_eq!((r.status, r.header("location")), (301, Some("http://new.test/docs/x")));

    // Deleted: back to no website; the S3 API on the same bucket never changed.
    c.delete_bucket_website().bucket(SITE).send().await.unwrap();
    is_page(&browse(&gw, "GET", "/", &[]).await, 404, "NoSuchWebsiteConfiguration", "deleted");
    put(&c, SITE, "still.txt", b"api").await;
}
