//! Every XML request body parser (CompleteMultipartUpload, DeleteObjects,
//! CreateBucketConfiguration) and the `<Error>` body parser, on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3gate_protocol::{
    parse_complete_multipart_upload, parse_create_bucket_configuration, parse_delete,
    parse_error_body,
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
    if let Ok(err) = parse_error_body(data) {
        let _ = err.error_code();
    }
});
