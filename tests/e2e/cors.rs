//! CORS through the real binary: Put/Get/DeleteBucketCors with the SDK (AWS's validation
//! refusing bad documents and changing nothing), preflight `OPTIONS` answered without
//! credentials from the first matching rule (403 AccessForbidden with AWS's message
//! otherwise, 400 without `Origin` or `Access-Control-Request-Method`), and the
//! `Access-Control-*` headers plus `Vary: Origin` on actual responses, error responses
//! included. The browser itself runs in tests/browser/.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::harness::{
    Flavour, Gateway, RawResponse, create_bucket, expect_err, hyper_request, put,
};

const BUCKET: &str = "cors-e2e";

fn rule(origins: &[&str], methods: &[&str], headers: &[&str], expose: &[&str]) -> CorsRule {
    let mut b = CorsRule::builder().max_age_seconds(600);
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    for h in expose {
        b = b.expose_headers(*h);
    }
    b.build().unwrap()
}

async fn options(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    hyper_request("OPTIONS", &format!("{}{path}", gw.endpoint()), headers, vec![]).await
}

#[tokio::test]
async fn configuration_round_trip_and_validation() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    expect_err(
        c.get_bucket_cors().bucket(BUCKET).send().await,
        404,
        "NoSuchCORSConfiguration",
        "NoSuchCORSConfiguration",
    );

    let config = CorsConfiguration::builder()
        .cors_rules(rule(&["https://app.test"], &["GET", "PUT"], &["x-amz-*"], &["ETag"]))
        .cors_rules(rule(&["*"], &["HEAD"], &[], &[]))
        .build()
        .unwrap();
    c.put_bucket_cors().bucket(BUCKET).cors_configuration(config).send().await.unwrap();
    let got = c.get_bucket_cors().bucket(BUCKET).send().await.unwrap();
    let rules = got.cors_rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].allowed_origins(), ["https://app.test"]);
    assert_eq!(rules[0].allowed_methods(), ["GET", "PUT"]);
    assert_eq!(rules[0].allowed_headers(), ["x-amz-*"]);
    assert_eq!(rules[0].expose_headers(), ["ETag"]);
    assert_eq!(rules[0].max_age_seconds(), Some(600));
    assert_eq!(rules[1].allowed_methods(), ["HEAD"]);

    // Refused documents change nothing.
    for (bad, code) in [
        (rule(&["*"], &["PATCH"], &[], &[]), "InvalidRequest"),
        (rule(&["*.a.*"], &["GET"], &[], &[]), "InvalidRequest"),
        (rule(&["*"], &["GET"], &[], &["x-*"]), "InvalidRequest"),
    ] {
        let cfg = CorsConfiguration::builder().cors_rules(bad).build().unwrap();
        let res = c.put_bucket_cors().bucket(BUCKET).cors_configuration(cfg).send().await;
        expect_err(res, 400, code, "refused CORS document");
    }
    let mut many = CorsConfiguration::builder();
    for _ in 0..101 {
        many = many.cors_rules(rule(&["*"], &["GET"], &[], &[]));
    }
    let res =
        c.put_bucket_cors().bucket(BUCKET).cors_configuration(many.build().unwrap()).send().await;
    expect_err(res, 400, "MalformedXML", "101 rules");
    assert_eq!(c.get_bucket_cors().bucket(BUCKET).send().await.unwrap().cors_rules().len(), 2);

    // Another user's bucket is not theirs to configure.
    let (ak, sk) = gw.add_user("mallory");
    let m = gw.client_as(&ak, &sk, Flavour::Default);
    expect_err(m.get_bucket_cors().bucket(BUCKET).send().await, 403, "", "another user's GET");
    expect_err(m.delete_bucket_cors().bucket(BUCKET).send().await, 403, "", "another's DELETE");

    c.delete_bucket_cors().bucket(BUCKET).send().await.unwrap();
    expect_err(
        c.get_bucket_cors().bucket(BUCKET).send().await,
        404,
        "NoSuchCORSConfiguration",
        "NoSuchCORSConfiguration",
    );
    expect_err(
        c.get_bucket_cors().bucket("no-such-bucket-cors").send().await,
        404,
        "NoSuchBucket",
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn preflight_and_response_headers() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    put(&c, BUCKET, "obj", b"cross-origin").await;
    let path = format!("/{BUCKET}/obj");
    let app = "https://app.test";

    // No configuration yet.
    let r = options(&gw, &path, &[("origin", app), ("access-control-request-method", "GET")]).await;
    r.assert_error(403, "AccessForbidden", "no CORS configuration");
    assert!(r.text().contains("CORS is not enabled for this bucket"), "{}", r.text());

    let config = CorsConfiguration::builder()
        .cors_rules(rule(&[app], &["GET", "PUT"], &["x-amz-*", "content-type"], &["ETag"]))
        .cors_rules(rule(&["http://*.example.test"], &["GET"], &[], &[]))
        .cors_rules(rule(&["*"], &["HEAD"], &[], &[]))
        .build()
        .unwrap();
    c.put_bucket_cors().bucket(BUCKET).cors_configuration(config).send().await.unwrap();

    // A preflight the first rule allows.
    let r = options(
        &gw,
        &path,
        &[
            ("origin", app),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "X-Amz-Meta-Colour, Content-Type"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(r.header("access-control-allow-headers"), Some("x-amz-meta-colour, content-type"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r.header("vary").is_some_and(|v| v.contains("Origin")), "{:?}", r.headers);

    // A wildcard origin pattern: reflected, without credentials.
    let r = options(
        &gw,
        &path,
        &[("origin", "http://a.example.test"), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("http://a.example.test"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    // `*`.
    let r = options(
        &gw,
        &format!("/{BUCKET}"),
        &[("origin", "https://any.where"), ("access-control-request-method", "HEAD")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    // Preflights no rule allows: 403 with AWS's message and no CORS headers.
    for (what, headers) in [
        (
            "other origin",
            vec![("origin", "https://evil.test"), ("access-control-request-method", "GET")],
        ),
        ("method not allowed", vec![("origin", app), ("access-control-request-method", "DELETE")]),
        (
            "header not allowed",
            vec![
                ("origin", app),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization"),
            ],
        ),
        (
            "pattern only allows GET",
            vec![("origin", "http://a.example.test"), ("access-control-request-method", "PUT")],
        ),
    ] {
        let r = options(&gw, &path, &headers).await;
        r.assert_error(403, "AccessForbidden", what);
        assert!(r.text().contains("This CORS request is not allowed"), "{what}: {}", r.text());
        assert_eq!(r.header("access-control-allow-origin"), None, "{what}");
    }
    options(&gw, &path, &[("access-control-request-method", "GET")]).await.assert_error(
        400,
        "BadRequest",
        "no Origin",
    );
    options(&gw, &path, &[("origin", app)]).await.assert_error(400, "BadRequest", "no method");
    options(
        &gw,
        "/no-such-bucket-cors/k",
        &[("origin", app), ("access-control-request-method", "GET")],
    )
    .await
    .assert_error(403, "AccessForbidden", "no bucket");

    // Actual requests: a presigned GET from the app's origin gets the rule's headers.
    let p = c
        .get_object()
        .bucket(BUCKET)
        .key("obj")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = hyper_request("GET", p.uri(), &[("origin", app)], vec![]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"cross-origin");
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
    assert_eq!(r.header("vary"), Some("Origin"));
    // Another origin: no CORS headers, but still Vary: Origin.
    let r = hyper_request("GET", p.uri(), &[("origin", "https://evil.test")], vec![]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), Some("Origin"));
    // Without Origin: nothing CORS.
    let r = hyper_request("GET", p.uri(), &[], vec![]).await;
    assert_eq!(r.header("vary"), None);
    // An error response carries them too, so the page can read it: an anonymous GET.
    let r =
        hyper_request("GET", &format!("{}{path}", gw.endpoint()), &[("origin", app)], vec![]).await;
    r.assert_error(403, "AccessDenied", "anonymous GET");
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    // A missing key.
    let r =
        hyper_request("GET", &p.uri().replace("/obj?", "/missing?"), &[("origin", app)], vec![])
            .await;
    assert_eq!(r.status, 403, "edited presigned URL: {}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
}
