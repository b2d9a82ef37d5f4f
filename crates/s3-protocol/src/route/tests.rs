use super::*;
use crate::subresource::State;
use proptest::prelude::*;

fn cfg() -> RouteConfig {
    RouteConfig { domains: vec!["s3.example.test".into(), "localhost".into()] }
}

fn target<'a>(
    method: &'a str,
    uri: &'a str,
    host: Option<&'a str>,
    copy: bool,
) -> RequestTarget<'a> {
    let (raw_path, raw_query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    RequestTarget { method, raw_path, raw_query, host, has_copy_source: copy }
}

fn describe(result: Result<Operation, S3Error>) -> String {
    match result {
        Ok(op) => {
            let mut s = op.name().to_owned();
            if let Some(b) = op.bucket() {
                s = format!("{s} {b}");
            }
            if let Some(k) = op.key() {
                s = format!("{s} [{k}]");
            }
            s
        }
        Err(e) => format!("!{}", e.code),
    }
}

/// `request` is `"METHOD uri"`, optionally followed by ` @host` and/or ` +copy`.
fn check(request: &str, expected: &str) {
    let mut words = request.split(' ');
    let method = words.next().unwrap();
    let uri = words.next().unwrap();
    let mut host = Some("s3.example.test:9000");
    let mut copy = false;
    for w in words {
        if let Some(h) = w.strip_prefix('@') {
            host = Some(h);
        } else if w == "+copy" {
            copy = true;
        } else if w == "nohost" {
            host = None;
        }
    }
    let got = describe(route(&target(method, uri, host, copy), &cfg()));
    assert_eq!(got, expected, "{request}");
}

#[test]
#[allow(clippy::too_many_lines, reason = "one row per case reads best as one table")]
fn routing_table() {
    let cases: &[(&str, &str)] = &[
        // Service.
        ("GET /", "ListBuckets"),
        ("GET / nohost", "ListBuckets"),
        ("GET ", "ListBuckets"),
        ("GET /?max-buckets=1&continuation-token=x&prefix=a&bucket-region=r", "ListBuckets"),
        ("GET /?max-buckets=10000", "ListBuckets"),
        ("GET /?max-buckets=0", "!InvalidArgument"),
        ("GET /?max-buckets=10001", "!InvalidArgument"),
        ("GET /?max-buckets=-1", "!InvalidArgument"),
        ("PUT /", "!MethodNotAllowed"),
        ("DELETE /", "!MethodNotAllowed"),
        ("POST /", "!MethodNotAllowed"),
        ("OPTIONS /", "!NotImplemented"),
        // Buckets, path-style.
        ("PUT /bkt", "CreateBucket bkt"),
        ("PUT /bkt/", "CreateBucket bkt"),
        ("HEAD /bkt", "HeadBucket bkt"),
        ("DELETE /bkt", "DeleteBucket bkt"),
        ("GET /bkt", "ListObjects bkt"),
        ("GET /bkt?list-type=2", "ListObjectsV2 bkt"),
        ("GET /bkt?list-type=1", "!InvalidArgument"),
        ("GET /bkt?list-type=3", "!InvalidArgument"),
        ("GET /bkt?location", "GetBucketLocation bkt"),
        ("GET /bkt?location=", "GetBucketLocation bkt"),
        ("PUT /bkt?location", "!MethodNotAllowed"),
        ("POST /bkt?delete", "DeleteObjects bkt"),
        ("POST /bkt?delete=", "DeleteObjects bkt"),
        ("GET /bkt?delete", "!MethodNotAllowed"),
        ("DELETE /bkt?delete", "!MethodNotAllowed"),
        ("GET /bkt?uploads", "ListMultipartUploads bkt"),
        ("POST /bkt?uploads", "!MethodNotAllowed"),
        ("POST /bkt", "PostObject bkt"),
        ("PATCH /bkt", "!MethodNotAllowed"),
        ("OPTIONS /bkt/key", "PreflightRequest bkt [key]"),
        ("OPTIONS /bkt", "PreflightRequest bkt"),
        ("OPTIONS /bkt?acl", "PreflightRequest bkt"),
        ("OPTIONS /bkt/key?uploads", "PreflightRequest bkt [key]"),
        ("GET /bkt?max-keys=abc", "!InvalidArgument"),
        ("GET /bkt?max-keys=-1", "!InvalidArgument"),
        ("GET /bkt?max-keys=", "!InvalidArgument"),
        ("GET /bkt?encoding-type=base64", "!InvalidArgument"),
        ("GET /bkt?encoding-type=url", "ListObjects bkt"),
        ("GET /bkt?x-id=ListObjects&X-Amz-Expires=60&foo=bar", "ListObjects bkt"),
        // Bucket names.
        ("GET /BKT", "!InvalidBucketName"),
        ("GET /ab", "!InvalidBucketName"),
        ("GET /b_k_t/key", "!InvalidBucketName"),
        ("PUT /192.168.0.1", "!InvalidBucketName"),
        ("GET /my.bucket.name/k", "GetObject my.bucket.name [k]"),
        // Objects.
        ("PUT /bkt/key", "PutObject bkt [key]"),
        ("PUT /bkt/key +copy", "CopyObject bkt [key]"),
        ("PUT /bkt/new?renameObject", "RenameObject bkt [new]"),
        ("PUT /bkt/new?renameObject= +copy", "RenameObject bkt [new]"),
        ("GET /bkt/new?renameObject", "!MethodNotAllowed"),
        ("DELETE /bkt/new?renameObject", "!MethodNotAllowed"),
        ("GET /bkt/key", "GetObject bkt [key]"),
        ("HEAD /bkt/key", "HeadObject bkt [key]"),
        ("DELETE /bkt/key", "DeleteObject bkt [key]"),
        ("POST /bkt/key", "!MethodNotAllowed"),
        ("PATCH /bkt/key", "!MethodNotAllowed"),
        ("GET /bkt/a/b/c.txt", "GetObject bkt [a/b/c.txt]"),
        ("GET /bkt//double//slash", "GetObject bkt [/double//slash]"),
        ("GET /bkt/../x", "GetObject bkt [../x]"),
        ("GET /bkt/./x/.", "GetObject bkt [./x/.]"),
        ("GET /bkt/a%20b", "GetObject bkt [a b]"),
        ("GET /bkt/a+b", "GetObject bkt [a+b]"),
        ("GET /bkt/a%2Bb", "GetObject bkt [a+b]"),
        ("GET /bkt/a%2Fb", "GetObject bkt [a/b]"),
        ("GET /bkt/%E6%97%A5%E6%9C%AC", "GetObject bkt [日本]"),
        ("GET /bkt/test$file.text", "GetObject bkt [test$file.text]"),
        ("GET /bkt/%25", "GetObject bkt [%]"),
        ("GET /bkt/%FF", "!InvalidURI"),
        ("GET /bkt/", "ListObjects bkt"),
        ("GET /bkt/key?partNumber=3", "GetObject bkt [key]"),
        ("GET /bkt/key?partNumber=0", "!InvalidArgument"),
        ("HEAD /bkt/key?partNumber=10001", "!InvalidArgument"),
        ("GET /bkt/key?versionId=null", "GetObject bkt [key]"),
        ("PUT /bkt/key?partNumber=1", "!InvalidRequest"),
        // Multipart.
        ("POST /bkt/key?uploads", "CreateMultipartUpload bkt [key]"),
        ("POST /bkt/key?uploads=", "CreateMultipartUpload bkt [key]"),
        ("GET /bkt/key?uploads", "!NotImplemented"),
        ("PUT /bkt/key?uploads", "!NotImplemented"),
        ("DELETE /bkt/key?uploads", "!NotImplemented"),
        ("PUT /bkt/key?partNumber=1&uploadId=abc", "UploadPart bkt [key]"),
        ("PUT /bkt/key?uploadId=abc&partNumber=10000", "UploadPart bkt [key]"),
        ("PUT /bkt/key?partNumber=1&uploadId=abc +copy", "UploadPartCopy bkt [key]"),
        ("PUT /bkt/key?partNumber=0&uploadId=abc", "!InvalidArgument"),
        ("PUT /bkt/key?partNumber=10001&uploadId=abc", "!InvalidArgument"),
        ("PUT /bkt/key?partNumber=x&uploadId=abc", "!InvalidArgument"),
        ("PUT /bkt/key?uploadId=abc", "!InvalidArgument"),
        ("PUT /bkt/key?partNumber=1&uploadId=", "!NoSuchUpload"),
        ("POST /bkt/key?uploadId=abc", "CompleteMultipartUpload bkt [key]"),
        ("DELETE /bkt/key?uploadId=abc", "AbortMultipartUpload bkt [key]"),
        ("GET /bkt/key?uploadId=abc", "ListParts bkt [key]"),
        ("GET /bkt/key?uploadId=abc&max-parts=x", "!InvalidArgument"),
        ("GET /bkt/key?uploadId=abc&part-number-marker=-3", "!InvalidArgument"),
        ("HEAD /bkt/key?uploadId=abc", "!MethodNotAllowed"),
        // Virtual-hosted style.
        ("GET / @bkt.s3.example.test", "ListObjects bkt"),
        ("GET / @bkt.s3.example.test:9000", "ListObjects bkt"),
        ("GET / @BKT.S3.Example.Test", "ListObjects bkt"),
        ("GET / @bkt.s3.example.test.", "ListObjects bkt"),
        ("PUT / @bkt.s3.example.test", "CreateBucket bkt"),
        ("GET /key @bkt.s3.example.test", "GetObject bkt [key]"),
        ("GET /bkt/key @other.s3.example.test", "GetObject other [bkt/key]"),
        ("GET //lead @bkt.s3.example.test", "GetObject bkt [/lead]"),
        ("PUT /a%20b @bkt.localhost:8080", "PutObject bkt [a b]"),
        ("GET / @my.dotted.bucket.s3.example.test", "ListObjects my.dotted.bucket"),
        ("GET /?uploads @bkt.s3.example.test", "ListMultipartUploads bkt"),
        ("GET / @BAD_NAME.s3.example.test", "!InvalidBucketName"),
        // Hosts that are not virtual-hosted fall back to path style.
        ("GET /bkt/k @s3.example.test", "GetObject bkt [k]"),
        ("GET /bkt/k @localhost:9000", "GetObject bkt [k]"),
        ("GET /bkt/k @127.0.0.1:9000", "GetObject bkt [k]"),
        ("GET /bkt/k @[::1]:9000", "GetObject bkt [k]"),
        ("GET /bkt/k @bkt.elsewhere.test", "GetObject bkt [k]"),
        ("GET /bkt/k @xs3.example.test", "GetObject bkt [k]"),
        ("GET / @s3.example.test", "ListBuckets"),
        // Malformed paths.
        ("GET bkt/key", "!InvalidURI"),
        ("GET /bkt?prefix=%FF", "!InvalidURI"),
    ];
    for (request, expected) in cases {
        check(request, expected);
    }
}

#[test]
fn subresource_routing() {
    let cases: &[(&str, &str)] = &[
        // Versioning: built.
        ("GET /bkt?versioning", "GetBucketVersioning bkt"),
        ("GET /?versioning @bkt.s3.example.test", "GetBucketVersioning bkt"),
        ("PUT /bkt?versioning", "PutBucketVersioning bkt"),
        ("DELETE /bkt?versioning", "!MethodNotAllowed"),
        ("GET /bkt?versions", "ListObjectVersions bkt"),
        ("GET /bkt?versions&key-marker=a&version-id-marker=v", "ListObjectVersions bkt"),
        ("GET /bkt?versions&version-id-marker=v", "!InvalidArgument"),
        ("GET /bkt?versions&encoding-type=xml", "!InvalidArgument"),
        ("PUT /bkt?versions", "!MethodNotAllowed"),
        // Bucket configurations not settable yet: GET is an operation, the rest 501.
        ("GET /bkt?policy", "GetBucketPolicy bkt"),
        ("DELETE /bkt?policy", "DeleteBucketPolicy bkt"),
        ("PUT /bkt?policy", "PutBucketPolicy bkt"),
        ("POST /bkt?policy", "!MethodNotAllowed"),
        ("GET /bkt?policyStatus", "GetBucketPolicyStatus bkt"),
        ("PUT /bkt?policyStatus", "!MethodNotAllowed"),
        ("GET /bkt?notification", "GetBucketNotificationConfiguration bkt"),
        ("GET /bkt?cors", "GetBucketCors bkt"),
        ("PUT /bkt?cors", "PutBucketCors bkt"),
        ("DELETE /bkt?cors", "DeleteBucketCors bkt"),
        ("POST /bkt?cors", "!MethodNotAllowed"),
        ("GET /bkt?lifecycle", "GetBucketLifecycleConfiguration bkt"),
        ("GET /bkt?object-lock", "GetObjectLockConfiguration bkt"),
        ("GET /bkt?encryption", "GetBucketEncryption bkt"),
        ("GET /bkt?website", "GetBucketWebsite bkt"),
        ("PUT /bkt?website", "PutBucketWebsite bkt"),
        ("DELETE /bkt?website", "DeleteBucketWebsite bkt"),
        ("GET /bkt?replication", "GetBucketReplication bkt"),
        ("GET /bkt?publicAccessBlock", "GetPublicAccessBlock bkt"),
        ("GET /bkt?ownershipControls", "GetBucketOwnershipControls bkt"),
        ("GET /bkt?tagging", "GetBucketTagging bkt"),
        ("PUT /bkt?tagging", "PutBucketTagging bkt"),
        ("DELETE /bkt?tagging", "DeleteBucketTagging bkt"),
        ("POST /bkt?tagging", "!MethodNotAllowed"),
        ("GET /bkt?acl", "GetBucketAcl bkt"),
        ("PUT /bkt?acl", "PutBucketAcl bkt"),
        ("HEAD /bkt?acl", "!MethodNotAllowed"),
        ("GET /bkt?logging", "GetBucketLogging bkt"),
        ("GET /bkt?accelerate", "GetBucketAccelerateConfiguration bkt"),
        ("GET /bkt?requestPayment", "GetBucketRequestPayment bkt"),
        // Object sub-resources not settable yet.
        ("GET /bkt/key?acl", "GetObjectAcl bkt [key]"),
        ("PUT /bkt/key?acl", "PutObjectAcl bkt [key]"),
        ("GET /bkt/key?legal-hold", "GetObjectLegalHold bkt [key]"),
        ("PUT /bkt/key?legal-hold", "PutObjectLegalHold bkt [key]"),
        ("GET /bkt/key?retention", "GetObjectRetention bkt [key]"),
        ("PUT /bkt/key?retention", "PutObjectRetention bkt [key]"),
        // Not implemented at all.
        ("GET /bkt?analytics", "!NotImplemented"),
        ("GET /bkt?attributes", "!NotImplemented"),
        ("GET /bkt/key?torrent", "!NotImplemented"),
        ("POST /bkt/key?restore", "!NotImplemented"),
        ("POST /bkt/key?select&select-type=2", "!NotImplemented"),
        // A bucket configuration named on an object is not an object operation.
        ("GET /bkt/key?versioning", "!NotImplemented"),
        ("GET /bkt/key?policy=", "!NotImplemented"),
        // A sub-resource wins over the parameters of an implemented operation.
        ("GET /bkt/key?uploadId=x&acl", "GetObjectAcl bkt [key]"),
        ("GET /bkt?versions&list-type=2", "ListObjectVersions bkt"),
        // Browser-form uploads route, and are refused by the server.
        ("POST /bkt", "PostObject bkt"),
        ("POST / @bkt.s3.example.test", "PostObject bkt"),
    ];
    for (request, expected) in cases {
        check(request, expected);
    }
    // Every row: methods S3 does not define, and rows not implemented, answer 501; GET of an
    // unset row is its operation.
    for sub in SUBRESOURCES {
        let target = match sub.scope {
            Scope::Bucket => format!("/bkt?{}", sub.query),
            Scope::Object => format!("/bkt/key?{}=", sub.query),
        };
        for method in ["GET", "PUT", "DELETE", "POST", "HEAD"] {
            let result = route(&self::target(method, &target, None, false), &cfg());
            match (sub.state, sub.verb(method)) {
                (State::Built, _) => {}
                (State::Stored, Some(v)) => {
                    assert_eq!(result.unwrap().name(), v.operation, "{method} {target}");
                }
                (State::Stored, None) => {
                    let code = result.unwrap_err().code;
                    assert_eq!(code, ErrorCode::MethodNotAllowed, "{method} {target}");
                }
                (State::Unset(_), Some(v)) if method == "GET" => {
                    assert_eq!(result.unwrap().name(), v.operation, "{method} {target}");
                }
                _ => assert_eq!(
                    result.unwrap_err().code,
                    ErrorCode::NotImplemented,
                    "{method} {target}"
                ),
            }
        }
    }
}

#[test]
fn subresource_permissions() {
    let permission = |scope, query, method| {
        crate::subresource::SubResource::find(scope, query)
            .and_then(|s| s.verb(method))
            .map(|v| v.permission)
    };
    assert_eq!(permission(Scope::Bucket, "cors", "GET"), Some("GetBucketCORS"));
    assert_eq!(permission(Scope::Bucket, "lifecycle", "DELETE"), Some("PutLifecycleConfiguration"));
    assert_eq!(permission(Scope::Bucket, "encryption", "GET"), Some("GetEncryptionConfiguration"));
    assert_eq!(permission(Scope::Bucket, "notification", "PUT"), Some("PutBucketNotification"));
    assert_eq!(
        permission(Scope::Bucket, "object-lock", "GET"),
        Some("GetBucketObjectLockConfiguration")
    );
    assert_eq!(permission(Scope::Object, "tagging", "DELETE"), Some("DeleteObjectTagging"));
    assert_eq!(permission(Scope::Object, "acl", "DELETE"), None);
}

#[test]
fn bucket_encryption() {
    check("GET /bkt?encryption", "GetBucketEncryption bkt");
    check("PUT /bkt?encryption", "PutBucketEncryption bkt");
    check("DELETE /bkt?encryption", "DeleteBucketEncryption bkt");
    check("POST /bkt?encryption", "!MethodNotAllowed");
    check("GET /?encryption @bkt.s3.example.test", "GetBucketEncryption bkt");
}

#[test]
fn object_tagging_and_attributes() {
    check("GET /bkt/k?tagging", "GetObjectTagging bkt [k]");
    check("PUT /bkt/k?tagging", "PutObjectTagging bkt [k]");
    check("DELETE /bkt/k?tagging=", "DeleteObjectTagging bkt [k]");
    check("POST /bkt/k?tagging", "!MethodNotAllowed");
    check("HEAD /bkt/k?tagging", "!MethodNotAllowed");
    check("GET /bkt/k?attributes", "GetObjectAttributes bkt [k]");
    check("HEAD /bkt/k?attributes", "!MethodNotAllowed");
    check("PUT /bkt/k?attributes", "!MethodNotAllowed");
    check("GET /k?tagging @bkt.s3.example.test", "GetObjectTagging bkt [k]");
    let Operation::PutObjectTagging { version_id, .. } =
        route(&target("PUT", "/bkt/k?tagging&versionId=v1", None, false), &cfg()).unwrap()
    else {
        panic!("not PutObjectTagging")
    };
    assert_eq!(version_id.as_deref(), Some("v1"));
}

fn op(uri: &str) -> Operation {
    route(&target("GET", uri, Some("localhost"), false), &cfg()).unwrap()
}

#[test]
fn list_v1_params() {
    let Operation::ListObjects { params, .. } =
        op("/bkt?prefix=a%2Fb+c&delimiter=%2F&marker=m&max-keys=5&encoding-type=url")
    else {
        panic!("not ListObjects")
    };
    assert_eq!(
        params,
        ListObjectsParams {
            prefix: "a/b+c".into(),
            delimiter: Some("/".into()),
            marker: Some("m".into()),
            max_keys: 5,
            encoding_type_url: true,
        }
    );
    let Operation::ListObjects { params, .. } = op("/bkt?delimiter=&max-keys=99999999999999999999")
    else {
        panic!("not ListObjects")
    };
    assert_eq!(params.delimiter, None);
    assert_eq!(params.max_keys, 1000);
    assert_eq!(params.prefix, "");
}

#[test]
fn list_v2_params() {
    let Operation::ListObjectsV2 { params, .. } =
        op("/bkt?list-type=2&continuation-token=tok%3D&start-after=s&fetch-owner=true&max-keys=0")
    else {
        panic!("not V2")
    };
    assert_eq!(
        params,
        ListObjectsV2Params {
            prefix: String::new(),
            delimiter: None,
            continuation_token: Some("tok=".into()),
            start_after: Some("s".into()),
            max_keys: 0,
            fetch_owner: true,
            encoding_type_url: false,
        }
    );
    let Operation::ListObjectsV2 { params, .. } = op("/bkt?list-type=2&max-keys=2000") else {
        panic!("not V2")
    };
    assert_eq!(params.max_keys, 1000);
    assert!(!params.fetch_owner);
    // An empty token is kept (S3 echoes it and lists from the beginning).
    let Operation::ListObjectsV2 { params, .. } = op("/bkt?list-type=2&continuation-token=") else {
        panic!("not V2")
    };
    assert_eq!(params.continuation_token.as_deref(), Some(""));
}

#[test]
fn multipart_params() {
    let Operation::ListMultipartUploads { params, .. } =
        op("/bkt?uploads&prefix=p&key-marker=k&upload-id-marker=u&max-uploads=7&delimiter=/")
    else {
        panic!("not ListMultipartUploads")
    };
    assert_eq!(
        params,
        ListUploadsParams {
            prefix: "p".into(),
            delimiter: Some("/".into()),
            key_marker: Some("k".into()),
            upload_id_marker: Some("u".into()),
            max_uploads: 7,
            encoding_type_url: false,
        }
    );
    assert_eq!(
        op("/bkt/k?uploadId=U1&max-parts=3&part-number-marker=2&encoding-type=url"),
        Operation::ListParts {
            bucket: BucketName::parse("bkt").unwrap(),
            key: ObjectKey::parse("k".into()).unwrap(),
            upload_id: UploadId::parse("U1").unwrap(),
            max_parts: 3,
            part_number_marker: 2,
            encoding_type_url: true,
        }
    );
    let put = route(&target("PUT", "/bkt/k?partNumber=42&uploadId=U%2B1", None, false), &cfg());
    let Ok(Operation::UploadPart { upload_id, part_number, .. }) = put else { panic!("{put:?}") };
    assert_eq!(upload_id.as_str(), "U+1");
    assert_eq!(part_number.get(), 42);
}

#[test]
fn get_object_params() {
    let Operation::GetObject { params, .. } = op(
        "/bkt/k?partNumber=2&versionId=v1&response-content-type=text%2Fplain&response-expires=x&response-bogus=1",
    ) else {
        panic!("not GetObject")
    };
    assert_eq!(params.part_number.map(PartNumber::get), Some(2));
    assert_eq!(params.version_id.as_deref(), Some("v1"));
    assert_eq!(
        params.response_overrides,
        vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("expires".to_owned(), "x".to_owned())
        ]
    );
}

#[test]
fn key_too_long() {
    let long = format!("/bkt/{}", "k".repeat(1025));
    let err = route(&target("PUT", &long, None, false), &cfg()).unwrap_err();
    assert_eq!(err.code, ErrorCode::KeyTooLongError);
    let ok = format!("/bkt/{}", "k".repeat(1024));
    assert!(route(&target("PUT", &ok, None, false), &cfg()).is_ok());
}

fn check_copy(value: &str, expected: Result<(&str, &str, Option<&str>), ErrorCode>) {
    let got = parse_copy_source(value)
        .map_err(|e| e.code)
        .map(|c| (c.bucket.into_string(), c.key.into_string(), c.version_id));
    let expected = expected.map(|(b, k, v)| (b.to_owned(), k.to_owned(), v.map(str::to_owned)));
    assert_eq!(got, expected, "{value}");
}

#[test]
fn copy_sources() {
    check_copy("bkt/key", Ok(("bkt", "key", None)));
    check_copy("/bkt/key", Ok(("bkt", "key", None)));
    check_copy("/bkt/a/b%20c", Ok(("bkt", "a/b c", None)));
    check_copy("bkt/a%3Fb", Ok(("bkt", "a?b", None)));
    check_copy("bkt/a+b", Ok(("bkt", "a+b", None)));
    check_copy("bkt/key?versionId=v1", Ok(("bkt", "key", Some("v1"))));
    check_copy("bkt//x", Ok(("bkt", "/x", None)));
    check_copy("bkt", Err(ErrorCode::InvalidArgument));
    check_copy("bkt/", Err(ErrorCode::InvalidArgument));
    check_copy("", Err(ErrorCode::InvalidArgument));
    check_copy("bkt/key?other=1", Err(ErrorCode::InvalidArgument));
    check_copy("BAD/key", Err(ErrorCode::InvalidBucketName));
    check_copy("bkt/%FF", Err(ErrorCode::InvalidURI));
}

fn check_rename(value: &str, expected: Result<&str, ErrorCode>) {
    let bucket = BucketName::parse("bkt").unwrap();
    let got = parse_rename_source(value, &bucket).map_err(|e| e.code).map(ObjectKey::into_string);
    assert_eq!(got, expected.map(str::to_owned), "{value}");
}

#[test]
fn rename_sources() {
    check_rename("bkt/key", Ok("key"));
    check_rename("/bkt/a/b%20c", Ok("a/b c"));
    check_rename("bkt/a%3Fb", Ok("a?b"));
    check_rename("bkt//x", Ok("/x"));
    // Another bucket: a rename stays in its bucket.
    check_rename("other/key", Err(ErrorCode::InvalidRequest));
    check_rename("key", Err(ErrorCode::InvalidArgument));
    check_rename("bkt/", Err(ErrorCode::InvalidArgument));
    check_rename("", Err(ErrorCode::InvalidArgument));
    check_rename("bkt/key?versionId=v1", Err(ErrorCode::InvalidArgument));
    check_rename("bkt/%FF", Err(ErrorCode::InvalidURI));
}

proptest! {
    #[test]
    fn route_never_panics(
        method in "(GET|PUT|POST|DELETE|HEAD|[A-Z]{0,6})",
        path in "\\PC{0,40}",
        query in proptest::option::of("([a-zA-Z0-9=&%+\\-]|uploadId=|partNumber=|uploads|list-type=|delete|location|max-keys=|\\PC){0,40}"),
        host in proptest::option::of("[a-zA-Z0-9.:\\[\\]]{0,30}"),
        copy in any::<bool>(),
    ) {
        let req = RequestTarget { method: &method, raw_path: &path, raw_query: query.as_deref(), host: host.as_deref(), has_copy_source: copy };
        let _ = route(&req, &cfg());
        let _ = parse_copy_source(&path);
    }

    #[test]
    fn keys_round_trip_through_path(key in "\\PC{1,60}") {
        let encoded = crate::xml::url_encode(&key);
        let path = format!("/bkt/{encoded}");
        let op = route(&target("GET", &path, None, false), &cfg()).unwrap();
        prop_assert_eq!(op.key().map(ObjectKey::as_str), Some(key.as_str()));
        let vhost = format!("/{encoded}");
        let op = route(&target("GET", &vhost, Some("bkt.s3.example.test"), false), &cfg()).unwrap();
        prop_assert_eq!(op.key().map(ObjectKey::as_str), Some(key.as_str()));
    }

    #[test]
    fn valid_bucket_names_round_trip(name in "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]") {
        prop_assume!(!name.starts_with("xn--") && !name.starts_with("sthree-") && !name.ends_with("-s3alias"));
        prop_assume!(!name.starts_with("amzn-s3-demo-"));
        let b = BucketName::parse(&name).unwrap();
        prop_assert_eq!(b.as_str(), name.as_str());
        let path = format!("/{name}");
        let op = route(&target("GET", &path, None, false), &cfg()).unwrap();
        prop_assert_eq!(op.bucket(), Some(&b));
    }
}

/// The IAM action of every operation, as data: what the authorization layer evaluates.
#[test]
fn permissions() {
    let cases = [
        ("GET /", "ListAllMyBuckets"),
        ("PUT /bkt", "CreateBucket"),
        ("HEAD /bkt", "ListBucket"),
        ("GET /bkt", "ListBucket"),
        ("GET /bkt?list-type=2", "ListBucket"),
        ("DELETE /bkt", "DeleteBucket"),
        ("GET /bkt?location", "GetBucketLocation"),
        ("GET /bkt?uploads", "ListBucketMultipartUploads"),
        ("POST /bkt?delete", "DeleteObject"),
        ("POST /bkt", "PutObject"),
        ("PUT /bkt/k", "PutObject"),
        ("PUT /bkt/k +copy", "PutObject"),
        ("GET /bkt/k", "GetObject"),
        ("HEAD /bkt/k", "GetObject"),
        ("GET /bkt/k?versionId=v1", "GetObjectVersion"),
        ("HEAD /bkt/k?versionId=v1", "GetObjectVersion"),
        ("DELETE /bkt/k", "DeleteObject"),
        ("DELETE /bkt/k?versionId=v1", "DeleteObjectVersion"),
        ("POST /bkt/k?uploads", "PutObject"),
        ("PUT /bkt/k?partNumber=1&uploadId=u", "PutObject"),
        ("PUT /bkt/k?partNumber=1&uploadId=u +copy", "PutObject"),
        ("POST /bkt/k?uploadId=u", "PutObject"),
        ("DELETE /bkt/k?uploadId=u", "AbortMultipartUpload"),
        ("GET /bkt/k?uploadId=u", "ListMultipartUploadParts"),
        ("GET /bkt/k?tagging", "GetObjectTagging"),
        ("GET /bkt/k?tagging&versionId=v", "GetObjectVersionTagging"),
        ("PUT /bkt/k?tagging", "PutObjectTagging"),
        ("DELETE /bkt/k?tagging&versionId=v", "DeleteObjectVersionTagging"),
        ("GET /bkt/k?attributes", "GetObjectAttributes"),
        ("GET /bkt?versions", "ListBucketVersions"),
        ("GET /bkt?versioning", "GetBucketVersioning"),
        ("PUT /bkt?versioning", "PutBucketVersioning"),
        ("GET /bkt?encryption", "GetEncryptionConfiguration"),
        ("PUT /bkt?encryption", "PutEncryptionConfiguration"),
        ("DELETE /bkt?encryption", "PutEncryptionConfiguration"),
        ("GET /bkt?cors", "GetBucketCORS"),
        ("PUT /bkt?cors", "PutBucketCORS"),
        ("DELETE /bkt?cors", "PutBucketCORS"),
        ("GET /bkt?policy", "GetBucketPolicy"),
        ("PUT /bkt?policy", "PutBucketPolicy"),
        ("DELETE /bkt?policy", "DeleteBucketPolicy"),
        ("GET /bkt?policyStatus", "GetBucketPolicyStatus"),
        ("GET /bkt?acl", "GetBucketAcl"),
        ("PUT /bkt/k?acl", "PutObjectAcl"),
    ];
    for (request, want) in cases {
        let mut words = request.split(' ');
        let (method, uri) = (words.next().unwrap(), words.next().unwrap());
        let copy = words.next() == Some("+copy");
        let (path, query) = uri.split_once('?').map_or((uri, None), |(p, q)| (p, Some(q)));
        let target = RequestTarget {
            method,
            raw_path: path,
            raw_query: query,
            host: None,
            has_copy_source: copy,
        };
        let op =
            route(&target, &RouteConfig::default()).unwrap_or_else(|e| panic!("{request}: {e:?}"));
        assert_eq!(op.permission(), want, "{request}");
    }
}

/// The access log's name for requests `route` refuses (issue 15): the operation of a
/// sub-resource the gateway does not serve, and the bucket.
#[test]
fn refused_requests_keep_their_operation_and_bucket() {
    let cases: [(&str, &str, Option<&str>, Option<&str>); 8] = [
        ("PUT", "/logs?lifecycle", Some("PutBucketLifecycleConfiguration"), Some("logs")),
        (
            "DELETE",
            "/logs?analytics&id=1",
            Some("DeleteBucketAnalyticsConfiguration"),
            Some("logs"),
        ),
        ("GET", "/logs?analytics", Some("GetBucketAnalyticsConfiguration"), Some("logs")),
        ("PUT", "/logs/k?torrent", None, Some("logs")),
        ("GET", "/logs/%zz", None, Some("logs")),
        ("GET", "/Bad_Bucket/k", None, None),
        ("GET", "/", None, None),
        ("PUT", "/?lifecycle", None, None),
    ];
    for (method, uri, op, bucket) in cases {
        let (got_op, got_bucket) = refused_operation(&target(method, uri, None, false), &cfg());
        assert_eq!(got_op, op, "{method} {uri}");
        assert_eq!(got_bucket.as_ref().map(BucketName::as_str), bucket, "{method} {uri}");
    }
    // Virtual-hosted style names the bucket by its host.
    let vhost = target("PUT", "/?lifecycle", Some("logs.s3.example.test"), false);
    let (op, bucket) = refused_operation(&vhost, &cfg());
    assert_eq!(
        (op, bucket.as_ref().map(BucketName::as_str)),
        (Some("PutBucketLifecycleConfiguration"), Some("logs"))
    );
}
