//! Runs the [`conformance`] suite against every blob store of this crate.

use s3gate_storage_backend::{DiskBlobs, MemBlobs, conformance};

/// Generates one `#[tokio::test]` per conformance case in module `$name`, each on a fresh store
/// made by `$make` (an expression that may also keep a guard, such as a temp dir, alive).
macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            suite!(@cases $make;
                put_get_empty,
                put_get_one_byte,
                put_get_large_odd_chunks,
                ranged_get,
                get_missing_is_not_found,
                delete_is_idempotent,
                body_error_stores_nothing,
                list_returns_committed_blobs,
                dropped_put_leaves_nothing,
                concurrent_puts,
                cleanup_incomplete,
                run_all,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make;
                conformance::$case(&store).await;
            }
        )*
    };
}

suite!(mem, (MemBlobs::new(), ()));
suite!(disk, {
    let dir = tempfile::tempdir().unwrap();
    (DiskBlobs::open(dir.path()).unwrap(), dir)
});
