//! Real S3 XML bodies (tests/data, see its README) against our parsers and writers.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::time::SystemTime;

use quick_xml::Reader;
use quick_xml::events::Event;
use s3gate_protocol::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// XML as a token list: declarations, tags with attributes, and text (entities
/// resolved). Whitespace-only text between tags is dropped and `<a/>` equals `<a></a>`,
/// so pretty-printed AWS examples compare equal to our compact output while element
/// names, order, attributes and text must match exactly.
fn tokens(xml: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<String>| {
        if !text.trim().is_empty() {
            out.push(format!("text:{text}"));
        }
        text.clear();
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Decl(d) => out.push(format!("decl:{}", String::from_utf8_lossy(&d))),
            Event::Start(e) => {
                flush(&mut text, &mut out);
                out.push(format!("<{}>", String::from_utf8_lossy(&e)));
            }
            Event::Empty(e) => {
                flush(&mut text, &mut out);
                out.push(format!("<{}>", String::from_utf8_lossy(&e)));
                out.push(format!("</{}>", String::from_utf8_lossy(e.name().as_ref())));
            }
            Event::End(e) => {
                flush(&mut text, &mut out);
                out.push(format!("</{}>", String::from_utf8_lossy(e.name().as_ref())));
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().unwrap().unwrap()
                } else {
                    match r.decode().unwrap().as_ref() {
                        "quot" => '"',
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "apos" => '\'',
                        other => panic!("entity {other}"),
                    }
                };
                text.push(c);
            }
            Event::Eof => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

fn check(ours: &str, fixture_name: &str) {
    assert!(ours.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), "{ours}");
    assert_eq!(tokens(ours), tokens(&fixture(fixture_name)), "{fixture_name}:\n{ours}");
}

fn t(text: &str) -> SystemTime {
    parse_iso8601(text).unwrap()
}

fn etag(text: &str) -> ETag {
    ETag::parse_quoted_or_not(text)
}

const OWNER_ID: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

fn object(
    key: &str,
    lm: &str,
    e: &str,
    size: u64,
    class: &str,
    owner: Option<Owner>,
) -> ObjectEntry {
    ObjectEntry {
        key: key.into(),
        last_modified: t(lm),
        etag: etag(e),
        size,
        storage_class: class.into(),
        owner,
        checksum_algorithm: None,
    }
}

#[test]
fn error_body() {
    let err =
        S3Error::with_message(ErrorCode::NoSuchKey, "The resource you requested does not exist");
    check(&err.to_xml("/mybucket/myfoto.jpg", "4442587FB7D0A2F9"), "error-no-such-key.xml");
}

#[test]
fn list_buckets() {
    let result = ListAllMyBucketsResult {
        owner: Owner {
            id: "bcaf1ffd86f461ca5fb16fd081034f".into(),
            display_name: "webfile".into(),
        },
        buckets: vec![
            BucketEntry { name: "quotes".into(), creation_date: t("2006-02-03T16:45:09.000Z") },
            BucketEntry { name: "samples".into(), creation_date: t("2006-02-03T16:41:58.000Z") },
        ],
        continuation_token: None,
        prefix: None,
    };
    check(&result.to_xml(), "list-buckets.xml");
}

#[test]
fn list_objects_v1() {
    let owner = Some(Owner { id: OWNER_ID.into(), display_name: "mtd@amazon.com".into() });
    let result = ListBucketResult {
        name: "bucket".into(),
        prefix: String::new(),
        marker: String::new(),
        max_keys: 1000,
        delimiter: None,
        is_truncated: false,
        next_marker: None,
        contents: vec![
            object(
                "my-image.jpg",
                "2009-10-12T17:50:30.000Z",
                "fba9dede5f27731c9771645a39863328",
                434_234,
                "STANDARD",
                owner.clone(),
            ),
            object(
                "my-third-image.jpg",
                "2009-10-12T17:50:30.000Z",
                "\"1b2cf535f27731c974343645a3985328\"",
                64_994,
                "STANDARD_IA",
                owner,
            ),
        ],
        common_prefixes: vec![],
        encoding_type_url: false,
    };
    check(&result.to_xml(), "list-objects-v1.xml");

    let delimited = ListBucketResult {
        name: "example-bucket".into(),
        prefix: "photos/2006/".into(),
        delimiter: Some("/".into()),
        contents: vec![],
        common_prefixes: vec!["photos/2006/February/".into(), "photos/2006/January/".into()],
        ..result.clone()
    };
    check(&delimited.to_xml(), "list-objects-v1-delimiter.xml");

    let encoded = ListBucketResult {
        name: "bucket".into(),
        prefix: "dir one/".into(),
        marker: "dir one/a+b".into(),
        next_marker: Some("dir one/sub/".into()),
        max_keys: 2,
        delimiter: Some("/".into()),
        is_truncated: true,
        contents: vec![object(
            "dir one/c&d\u{e9}",
            "2009-10-12T17:50:30.000Z",
            "fba9dede5f27731c9771645a39863328",
            1,
            "STANDARD",
            None,
        )],
        common_prefixes: vec!["dir one/sub/".into()],
        encoding_type_url: true,
    };
    check(&encoded.to_xml(), "list-objects-v1-encoding-url.xml");
}

#[test]
fn list_objects_v2() {
    let result = ListBucketResultV2 {
        name: "bucket".into(),
        prefix: String::new(),
        delimiter: None,
        max_keys: 1000,
        key_count: 205,
        is_truncated: false,
        continuation_token: None,
        next_continuation_token: None,
        start_after: None,
        contents: vec![object(
            "my-image.jpg",
            "2009-10-12T17:50:30.000Z",
            "fba9dede5f27731c9771645a39863328",
            434_234,
            "STANDARD",
            None,
        )],
        common_prefixes: vec![],
        encoding_type_url: false,
    };
    check(&result.to_xml(), "list-objects-v2.xml");

    let page = ListBucketResultV2 {
        max_keys: 1,
        key_count: 1,
        is_truncated: true,
        continuation_token: Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=".into()),
        next_continuation_token: Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwN=".into()),
        contents: vec![object(
            "ExampleObject.txt",
            "2013-09-17T18:07:53.000Z",
            "599bab3ed2c697f1d26842727561fd94",
            857,
            "REDUCED_REDUNDANCY",
            None,
        )],
        ..result
    };
    check(&page.to_xml(), "list-objects-v2-continuation.xml");
}

#[test]
fn multipart_bodies() {
    let init = InitiateMultipartUploadResult {
        bucket: "example-bucket".into(),
        key: "example-object".into(),
        upload_id: "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA".into(),
    };
    check(&init.to_xml(), "initiate-multipart-upload.xml");

    let done = CompleteMultipartUploadResult {
        location: "http://Example-Bucket.s3.us-east-1.amazonaws.com/Example-Object".into(),
        bucket: "Example-Bucket".into(),
        key: "Example-Object".into(),
        etag: etag("3858f62230ac3c915f300c664312c11f-9"),
        checksums: vec![],
        checksum_type: None,
    };
    check(&done.to_xml(), "complete-multipart-upload-result.xml");

    let parts = parse_complete_multipart_upload(
        fixture("complete-multipart-upload-request.xml").as_bytes(),
    )
    .unwrap();
    let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(parts[2].etag, "\"acbd18db4cc2f85cedef654fccc4a4d8\"");
    assert!(parts.iter().all(|p| p.checksums.is_empty()));

    let with_sums = parse_complete_multipart_upload(
        fixture("complete-multipart-upload-request-checksums.xml").as_bytes(),
    )
    .unwrap();
    assert_eq!(with_sums[1].part_number, 2);
    assert_eq!(with_sums[1].checksums, vec![(ChecksumAlgorithm::Crc32, "sK4Y7A==".to_owned())]);

    let owner = Owner { id: OWNER_ID.into(), display_name: "someName".into() };
    let list = ListPartsResult {
        bucket: "example-bucket".into(),
        key: "example-object".into(),
        upload_id: "XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA".into(),
        initiator: owner.clone(),
        owner,
        storage_class: "STANDARD".into(),
        part_number_marker: 1,
        next_part_number_marker: 3,
        max_parts: 2,
        is_truncated: true,
        parts: vec![
            PartEntry {
                part_number: 2,
                last_modified: t("2010-11-10T20:48:34.000Z"),
                etag: etag("7778aef83f66abc1fa1e8477f296d394"),
                size: 10_485_760,
                checksums: vec![],
            },
            PartEntry {
                part_number: 3,
                last_modified: t("2010-11-10T20:48:33.000Z"),
                etag: etag("aaaa18db4cc2f85cedef654fccc4a4x8"),
                size: 10_485_760,
                checksums: vec![],
            },
        ],
    };
    check(&list.to_xml(), "list-parts.xml");

    let owner = Owner { id: OWNER_ID.into(), display_name: "OwnerDisplayName".into() };
    let upload = |key: &str, id: &str| UploadEntry {
        key: key.into(),
        upload_id: id.into(),
        initiated: t("2010-11-10T20:48:33.000Z"),
        initiator: owner.clone(),
        owner: owner.clone(),
        storage_class: "STANDARD".into(),
    };
    let uploads = ListMultipartUploadsResult {
        bucket: "bucket".into(),
        key_marker: String::new(),
        upload_id_marker: String::new(),
        next_key_marker: Some("my-movie.m2ts".into()),
        next_upload_id_marker: Some("YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ".into()),
        prefix: String::new(),
        delimiter: None,
        max_uploads: 3,
        is_truncated: true,
        uploads: vec![
            upload("my-divisor", "XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw"),
            upload("my-movie.m2ts", "VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"),
        ],
        common_prefixes: vec![],
        encoding_type_url: false,
    };
    check(&uploads.to_xml(), "list-multipart-uploads.xml");
}

#[test]
fn copy_bodies() {
    let lm = t("2009-10-28T22:32:00.000Z");
    let e = etag("\"9b2cf535f27731c974343645a3985328\"");
    check(
        &CopyObjectResult { etag: e.clone(), last_modified: lm }.to_xml(),
        "copy-object-result.xml",
    );
    check(&CopyPartResult { etag: e, last_modified: lm }.to_xml(), "copy-part-result.xml");
}

#[test]
fn delete_bodies() {
    let req = parse_delete(fixture("delete-request.xml").as_bytes()).unwrap();
    assert!(!req.quiet);
    let keys: Vec<&str> = req.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["sample1.txt", "sample2.txt"]);

    let quiet = parse_delete(fixture("delete-request-quiet-versioned.xml").as_bytes()).unwrap();
    assert!(quiet.quiet);
    assert_eq!(quiet.objects[0].version_id.as_deref(), Some("OYcLXagmS.WaD..oyH4KRguB95_YhLs7"));

    let result = DeleteResult {
        deleted: vec![DeletedEntry {
            key: "sample1.txt".into(),
            version_id: None,
            delete_marker: None,
            delete_marker_version_id: None,
        }],
        errors: vec![DeleteErrorEntry {
            key: "sample2.txt".into(),
            version_id: None,
            code: ErrorCode::AccessDenied,
            message: ErrorCode::AccessDenied.default_message().into(),
        }],
    };
    check(&result.to_xml(), "delete-result.xml");

    let marker = DeleteResult {
        deleted: vec![DeletedEntry {
            key: "SampleDocument.txt".into(),
            version_id: None,
            delete_marker: Some(true),
            delete_marker_version_id: Some("NeQt5xeFTfgPJD8B4CGWnkSLtluMr11s".into()),
        }],
        errors: vec![],
    };
    check(&marker.to_xml(), "delete-result-delete-marker.xml");
}

#[test]
fn bucket_location_bodies() {
    check(&LocationConstraint(Some("Europe".into())).to_xml(), "location-constraint.xml");
    check(&LocationConstraint(None).to_xml(), "location-constraint-us-east-1.xml");
    check(
        &LocationConstraint(Some("us-east-1".into())).to_xml(),
        "location-constraint-us-east-1.xml",
    );
    let parsed =
        parse_create_bucket_configuration(fixture("create-bucket-configuration.xml").as_bytes());
    assert_eq!(parsed.unwrap().as_deref(), Some("Europe"));
}

#[test]
fn every_response_fixture_is_parseable_by_our_request_parser_rules() {
    // The writers' output must itself be well-formed: run each fixture comparison's
    // left side through the tokenizer, which panics on malformed XML.
    let body = ListBucketResult {
        name: "b".into(),
        prefix: "<&>".into(),
        marker: "\u{1}".into(),
        max_keys: 1,
        delimiter: None,
        is_truncated: false,
        next_marker: None,
        contents: vec![],
        common_prefixes: vec!["\"'".into()],
        encoding_type_url: false,
    }
    .to_xml();
    let toks = tokens(&body);
    assert!(toks.contains(&"text:<&>".to_owned()));
    assert!(toks.contains(&"text:\"'".to_owned()));
}

#[test]
fn tokenizer_is_strict() {
    assert_eq!(tokens("<a>\n  <b/>\n</a>"), tokens("<a><b></b></a>"));
    assert_ne!(tokens("<a><b>x</b></a>"), tokens("<a><b>y</b></a>"));
    assert_ne!(tokens("<a><b/><c/></a>"), tokens("<a><c/><b/></a>"));
    assert_ne!(tokens("<a xmlns=\"n\"/>"), tokens("<a/>"));
    assert_ne!(tokens("<a>x </a>"), tokens("<a>x</a>"));
}
