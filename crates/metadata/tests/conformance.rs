//! The conformance suite, run against every implementation in this crate.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod mem {
    s3gate_metadata::conformance_tests!((s3gate_metadata::MemMetadata::new(), ()));
}

mod sqlite {
    fn open() -> (s3gate_metadata::SqliteMetadata, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = s3gate_metadata::SqliteMetadata::open(&dir.path().join("meta.db")).unwrap();
        (store, dir)
    }

    s3gate_metadata::conformance_tests!(open());
}
