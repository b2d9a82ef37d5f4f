//! Every XML request body parser (CompleteMultipartUpload, DeleteObjects,
//! CreateBucketConfiguration, Tagging) and the `<Error>` body parser, on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3gate_protocol::{
    parse_complete_multipart_upload, parse_create_bucket_configuration, parse_delete,
    parse_error_body, parse_tagging,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = parse_complete_multipart_upload(data) {
        assert!(!parts.is_empty(), "an empty part list was accepted");
    }
    if let Ok(req) = parse_delete(data) {
        assert!((1..=1000).contains(&req.objects.len()), "{} objects", req.objects.len());
    }
    if let Ok(Some(loc)) = parse_create_bucket_configuration(data) {
        assert!(!loc.is_empty());
    }
    if let Ok(tags) = parse_tagging(data) {
        // Limits are checked after parsing; the check itself must not panic either.
        let _ = s3gate_protocol::check_tag_set(&tags);
    }
    if let Ok(err) = parse_error_body(data) {
        let _ = err.error_code();
    }
});
