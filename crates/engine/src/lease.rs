//! In-process blob leases: a reader or a copy leases the blobs it uses so the collector and the
//! orphan sweep never delete them underneath it. The engine also publishes the leased set to the
//! metadata store ([`s3gate_metadata::MetadataStore::renew_leases`]) so that other gateways
//! sharing the store honour them too.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// Counts leases per blob id.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    map: Mutex<HashMap<String, usize>>,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // A panic while holding this lock cannot leave the map inconsistent (each update is a
        // single insert or remove), so a poisoned lock is still usable.
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leases every id (duplicates count once per occurrence) until the guard is dropped.
    pub(crate) fn acquire(self: &Arc<Self>, ids: Vec<String>) -> LeaseGuard {
        let mut map = self.lock();
        for id in &ids {
            *map.entry(id.clone()).or_insert(0) += 1;
        }
        drop(map);
        LeaseGuard { leases: Arc::clone(self), ids }
    }

    /// Whether a blob is leased now.
    pub(crate) fn is_leased(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Every leased blob id, ascending, once each.
    pub(crate) fn snapshot(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// Number of distinct leased blobs (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Releases its leases when dropped.
#[derive(Debug)]
pub(crate) struct LeaseGuard {
    leases: Arc<Leases>,
    ids: Vec<String>,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let mut map = self.leases.lock();
        for id in &self.ids {
            if let Some(n) = map.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    map.remove(id);
                }
            }
        }
    }
}

/// The writes this engine has in flight, each with the time it began: from before its blob's
/// temp file is created until its metadata commit is done (or has failed). The orphan sweep
/// spares every file younger than the oldest of them, so its blob is never taken for an orphan
/// (see [`crate::Engine::sweep_orphans`]).
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// (next ticket, begin time of each write in flight by ticket).
    state: Mutex<(u64, BTreeMap<u64, SystemTime>)>,
}

impl Writes {
    fn lock(&self) -> MutexGuard<'_, (u64, BTreeMap<u64, SystemTime>)> {
        // Each update is a single insert or remove: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a write beginning now, until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> WriteGuard {
        let mut state = self.lock();
        let ticket = state.0;
        state.0 += 1;
        state.1.insert(ticket, SystemTime::now());
        drop(state);
        WriteGuard { writes: Arc::clone(self), ticket }
    }

    /// When the oldest write in flight began, if any is.
    pub(crate) fn oldest(&self) -> Option<SystemTime> {
        self.lock().1.values().min().copied()
    }
}

/// Ends its write's record when dropped (also when the request is cancelled).
#[derive(Debug)]
pub(crate) struct WriteGuard {
    writes: Arc<Writes>,
    ticket: u64,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.writes.lock().1.remove(&self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_in_flight_report_the_oldest() {
        let writes = Arc::new(Writes::default());
        assert_eq!(writes.oldest(), None);
        let a = writes.begin();
        let first = writes.oldest().expect("one write");
        let b = writes.begin();
        assert_eq!(writes.oldest(), Some(first), "the older write decides");
        drop(a);
        assert!(writes.oldest().is_some_and(|t| t >= first));
        drop(b);
        assert_eq!(writes.oldest(), None);
    }

    #[test]
    fn leases_count_and_release() {
        let leases = Arc::new(Leases::default());
        let a = leases.acquire(vec!["x".into(), "y".into()]);
        let b = leases.acquire(vec!["x".into(), "x".into()]);
        assert!(leases.is_leased("x") && leases.is_leased("y"));
        drop(a);
        assert!(leases.is_leased("x"));
        assert!(!leases.is_leased("y"));
        assert_eq!(leases.snapshot(), vec!["x".to_owned()]);
        drop(b);
        assert!(!leases.is_leased("x"));
        assert_eq!(leases.len(), 0);
    }
}
