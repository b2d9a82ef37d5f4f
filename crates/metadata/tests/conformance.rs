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

/// The version model (a `BTreeMap` of key histories) against random operation sequences.
mod version_model {
    use proptest::prelude::*;
    use s3gate_metadata::conformance::{ModelOp, check_version_model};

    fn op() -> impl Strategy<Value = ModelOp> {
        let key = prop::sample::select(vec!["a", "b", "a/x", "a/y/z", "b/"]).prop_map(String::from);
        let prefix = prop::sample::select(vec!["", "a", "a/", "b"]).prop_map(String::from);
        prop_oneof![
            4 => key.clone().prop_map(ModelOp::Put),
            2 => key.clone().prop_map(ModelOp::Delete),
            2 => (key, 0..4_usize).prop_map(|(k, i)| ModelOp::DeleteVersion(k, i)),
            1 => any::<bool>().prop_map(ModelOp::SetVersioning),
            1 => (prefix, any::<bool>(), 1..4_u32).prop_map(|(p, d, n)| ModelOp::List(p, d, n)),
        ]
    }

    fn run(f: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn mem_matches_the_model(ops in prop::collection::vec(op(), 1..50)) {
            run(check_version_model(&s3gate_metadata::MemMetadata::new(), &ops));
        }

        #[test]
        fn sqlite_matches_the_model(ops in prop::collection::vec(op(), 1..50)) {
            let dir = tempfile::tempdir().unwrap();
            run(async {
                let m = s3gate_metadata::SqliteMetadata::open(&dir.path().join("m.db")).unwrap();
                check_version_model(&m, &ops).await;
            });
        }
    }
}
