//! Engine configuration.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use s3gate_storage_backend::SpaceReserve;

/// The shortest orphan grace that keeps the writes of *another* process safe: a gateway that
/// shares its metadata with other gateways, or `s3gate gc` / `s3gate check --repair` beside a
/// live gateway. Those cannot see that process's writes in flight and go by file age alone; a
/// write's files are refreshed with every batch of body bytes (the server's body read timeout,
/// `--body-read-timeout-seconds`, ends an upload that stalls longer) and its blob waits only for an `fsync`,
/// a rename and one metadata commit before it is referenced. Ten minutes leaves a wide margin
/// over both. The engine's own sweep needs no such margin (see
/// [`crate::Engine::sweep_orphans`]).
pub const MIN_SHARED_ORPHAN_GRACE: Duration = Duration::from_mins(10);

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
    /// How old an unknown blob must be before the orphan sweep deletes it. Any value is safe
    /// for this engine's own writes (it spares those in flight); other processes' writes need
    /// at least [`MIN_SHARED_ORPHAN_GRACE`].
    pub orphan_grace: Duration,
    /// The free-space reserve of the disk holding the metadata, if it is local: writes that
    /// grow the metadata are refused below it, and deletes may release its spare file.
    pub space: Option<Arc<SpaceReserve>>,
    /// Server-side encryption: the master keys and the default; `None` refuses SSE-S3.
    pub encryption: Option<Arc<crate::SseConfig>>,
    /// The clock object lock retention is judged by (never the client's).
    pub clock: Clock,
    /// The storage classes stored, and the tier of each (see [`crate::StorageClasses`]).
    pub storage_classes: crate::StorageClasses,
}

/// The gateway's clock: the system clock, or a test's. Object lock judges retention by it,
/// so it is the one source of "now" for every lock decision.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(SystemTime::now))
    }

    /// A clock reading `now` (tests move time with it).
    pub fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
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
            space: None,
            encryption: None,
            clock: Clock::system(),
            storage_classes: crate::StorageClasses::new(),
        }
    }

    /// The same configuration storing `classes` (see [`crate::StorageClasses`]).
    #[must_use]
    pub fn with_storage_classes(mut self, classes: crate::StorageClasses) -> Self {
        self.storage_classes = classes;
        self
    }
}
