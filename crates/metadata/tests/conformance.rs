//! The conformance suite, run against every implementation in this crate.

mod mem {
    s3gate_metadata::conformance_tests!((s3gate_metadata::MemMetadata::new(), ()));
}
