//! The collector of retired blobs and the orphan sweep.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use s3gate_metadata::MetadataStore;
use s3gate_storage_backend::{BlobEntry, BlobId, BlobStore};

use crate::{Engine, EngineError};

/// Retired blobs fetched per collector round.
const GC_BATCH: u32 = 1000;
/// Blob ids checked against the metadata per sweep batch.
const SWEEP_BATCH: usize = 500;
/// How much younger than a write's start its files' modification times may look: file times
/// come from the kernel's coarse clock, which lags the clock `SystemTime::now` reads by up to
/// a tick. The sweep never deletes a file younger than this, whatever its grace.
pub const CLOCK_SLACK: Duration = Duration::from_secs(1);

/// What one [`Engine::collect_garbage`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs forgotten and deleted.
    pub deleted: u64,
    /// Retired blobs spared because a reader or copy holds a lease on them.
    pub skipped_leased: u64,
}

/// What one [`Engine::sweep_orphans`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Blobs the metadata did not know, deleted.
    pub orphans_deleted: u64,
    /// Leftovers of interrupted writes removed by the backend.
    pub temp_removed: u64,
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// Deletes retired blobs older than `gc_grace` that nobody leases: they are forgotten in the
    /// metadata first (revived ones are kept), then deleted from the backend.
    pub async fn collect_garbage(&self) -> Result<GcReport, EngineError> {
        self.collect_garbage_older_than(self.inner.config.gc_grace).await
    }

    /// [`Self::collect_garbage`] with an explicit grace period. At start-up, before the server
    /// accepts connections, no reader can hold a blob, so `Duration::ZERO` is safe there.
    pub async fn collect_garbage_older_than(
        &self,
        grace: Duration,
    ) -> Result<GcReport, EngineError> {
        let mut report = GcReport::default();
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        loop {
            let retired = self.inner.meta.retired_blobs(cutoff, GC_BATCH).await?;
            let full = retired.len() == GC_BATCH as usize;
            let (leased, free): (Vec<_>, Vec<_>) =
                retired.into_iter().map(|r| r.blob_id).partition(|id| self.is_leased(id));
            report.skipped_leased += leased.len() as u64;
            if free.is_empty() {
                break;
            }
            let forgotten = self.inner.meta.forget_blobs(&free).await?;
            crate::failpoint::crash_point!(crate::failpoint::GC_AFTER_FORGET);
            for id in &forgotten {
                let Some(blob) = BlobId::parse(id) else {
                    tracing::warn!(blob = %id, "metadata named an invalid blob id; not deleting");
                    continue;
                };
                match self.inner.blobs.delete(&blob).await {
                    Ok(()) => {
                        report.deleted += 1;
                        crate::failpoint::crash_point!(crate::failpoint::GC_AFTER_FIRST_DELETE);
                    }
                    // The metadata forgot it: the orphan sweep will delete it later.
                    Err(e) => {
                        tracing::warn!(blob = %id, error = %e, "could not delete a collected blob");
                    }
                }
            }
            // Leased blobs come back in the next batch: stop when a batch makes no progress.
            if !full || forgotten.is_empty() {
                break;
            }
        }
        Ok(report)
    }

    /// Removes interrupted writes older than `older_than`, then every committed blob the
    /// metadata does not know that is older than `older_than` and not leased.
    ///
    /// Writes this engine has in flight are never swept, whatever `older_than` (even zero): the
    /// age limit is widened to spare every file younger than the oldest write in flight, plus
    /// [`CLOCK_SLACK`]. A write's temp file and blob are created after the write began and
    /// their modification time only grows, so neither can be older than that; a write that
    /// begins after the limit is computed makes only files younger than it. Writes of *other*
    /// processes (a gateway sharing the metadata, or this one seen from `s3gate gc`) are not
    /// visible: for them only `older_than` protects, see [`crate::MIN_SHARED_ORPHAN_GRACE`].
    pub async fn sweep_orphans(&self, older_than: Duration) -> Result<SweepReport, EngineError> {
        self.sweep_older_than(self.sweep_age(older_than)).await
    }

    /// Sweeps every unknown blob and temp file, however young: only for when no write can be
    /// in flight anywhere (at start-up before the listener opens, or while holding the data
    /// directory's lock with no gateway running). Unlike `sweep_orphans(Duration::ZERO)` it
    /// adds no clock slack, so nothing a crash left behind survives it.
    pub async fn sweep_orphans_at_rest(&self) -> Result<SweepReport, EngineError> {
        self.sweep_older_than(Duration::ZERO).await
    }

    async fn sweep_older_than(&self, older_than: Duration) -> Result<SweepReport, EngineError> {
        let temp_removed = self.inner.blobs.cleanup_incomplete(older_than).await?;
        let cutoff = SystemTime::now().checked_sub(older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = SweepReport { orphans_deleted: 0, temp_removed };
        let mut list = self.inner.blobs.list().await?;
        let mut batch: Vec<BlobEntry> = Vec::with_capacity(SWEEP_BATCH);
        loop {
            let next = list.next().await.transpose()?;
            let end = next.is_none();
            if let Some(entry) = next
                && entry.modified <= cutoff
            {
                batch.push(entry);
            }
            if batch.len() >= SWEEP_BATCH || (end && !batch.is_empty()) {
                report.orphans_deleted += self.sweep_batch(std::mem::take(&mut batch)).await?;
            }
            if end {
                break;
            }
        }
        Ok(report)
    }

    /// `older_than` widened so that nothing a write in flight made qualifies.
    fn sweep_age(&self, older_than: Duration) -> Duration {
        let in_flight = self.inner.writes.oldest().map_or(Duration::ZERO, |began| {
            SystemTime::now().duration_since(began).unwrap_or(Duration::ZERO)
        });
        older_than.max(in_flight + CLOCK_SLACK)
    }

    async fn sweep_batch(&self, batch: Vec<BlobEntry>) -> Result<u64, EngineError> {
        let ids: Vec<String> = batch.iter().map(|e| e.id.as_str().to_owned()).collect();
        let known: HashSet<String> = self.inner.meta.known_blobs(&ids).await?.into_iter().collect();
        let mut deleted = 0;
        crate::failpoint::crash_point!(
            crate::failpoint::SWEEP_BEFORE_DELETE,
            when batch.iter().any(|e| !known.contains(e.id.as_str()))
        );
        for entry in batch {
            if known.contains(entry.id.as_str()) || self.is_leased(entry.id.as_str()) {
                continue;
            }
            match self.inner.blobs.delete(&entry.id).await {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(blob = %entry.id, error = %e, "could not delete an orphan blob");
                }
            }
        }
        Ok(deleted)
    }

    /// Publishes this engine's in-process leases to the metadata store, valid for `gc_grace`:
    /// another gateway sharing the store then never collects a blob this one still streams.
    /// Returns how many blobs are leased.
    ///
    /// Safety argument: a reader leases its blobs right after looking the object up, so before
    /// any later overwrite retires them; another gateway forgets a retired blob only `gc_grace`
    /// after its retirement. Publishing every `gc_grace / 4` (see [`Self::spawn_background`])
    /// records the lease well before then, and renews it until the reader is done.
    pub async fn publish_leases(&self) -> Result<usize, EngineError> {
        let ids = self.inner.leases.snapshot();
        let expires = SystemTime::now() + self.inner.config.gc_grace;
        self.inner.meta.renew_leases(&self.inner.lease_holder, &ids, expires).await?;
        Ok(ids.len())
    }

    /// Every `gc_grace / 4` publishes the leases ([`Self::publish_leases`]), and every `every`
    /// runs [`Self::collect_garbage`] and [`Self::sweep_orphans`] (with `orphan_grace`), logging
    /// failures, until the task is aborted.
    pub fn spawn_background(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        let every = every.max(Duration::from_millis(1));
        let lease_every = (self.inner.config.gc_grace / 4).clamp(Duration::from_millis(1), every);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(lease_every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_gc = tokio::time::Instant::now();
            let mut published_some = true;
            loop {
                ticker.tick().await;
                // An empty set is published once (dropping the last leases), then not again.
                let held = !engine.inner.leases.snapshot().is_empty();
                if held || published_some {
                    match engine.publish_leases().await {
                        Ok(n) => published_some = n > 0,
                        Err(e) => tracing::warn!(error = %e, "publishing blob leases failed"),
                    }
                }
                if tokio::time::Instant::now() < next_gc {
                    continue;
                }
                next_gc = tokio::time::Instant::now() + every;
                match engine.collect_garbage().await {
                    Ok(r) if r.deleted > 0 || r.skipped_leased > 0 => {
                        tracing::info!(
                            deleted = r.deleted,
                            skipped_leased = r.skipped_leased,
                            "collected retired blobs"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
                }
                match engine.sweep_orphans(engine.inner.config.orphan_grace).await {
                    Ok(r) if r.orphans_deleted > 0 || r.temp_removed > 0 => {
                        tracing::info!(
                            orphans_deleted = r.orphans_deleted,
                            temp_removed = r.temp_removed,
                            "swept orphan blobs"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
                }
            }
        })
    }
}
