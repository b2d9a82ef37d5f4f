//! Engine configuration.

use std::time::Duration;

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The gateway's region: buckets are created there, `LocationConstraint` must match it.
    pub region: String,
    /// How many parts a GET reads ahead concurrently (at least 1 is used).
    pub read_ahead_parts: usize,
    /// Minimum size of every part but the last at `CompleteMultipartUpload` (S3: 5 MiB).
    pub min_part_size: u64,
    /// Largest body of one `PutObject` or `UploadPart` (S3: 5 GiB).
    pub max_put_size: u64,
    /// How long a retired blob stays before the collector may delete it.
    pub gc_grace: Duration,
    /// How old an unknown blob must be before the orphan sweep deletes it.
    pub orphan_grace: Duration,
}

impl EngineConfig {
    /// The defaults: 4 parts of read-ahead, 5 MiB minimum part, 5 GiB maximum body,
    /// 30 s collector grace, 1 h orphan grace.
    pub fn new(region: impl Into<String>) -> Self {
        EngineConfig {
            region: region.into(),
            read_ahead_parts: 4,
            min_part_size: 5 * 1024 * 1024,
            max_put_size: 5 * 1024 * 1024 * 1024,
            gc_grace: Duration::from_secs(30),
            orphan_grace: Duration::from_hours(1),
        }
    }
}
