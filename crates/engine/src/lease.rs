//! In-process blob leases: a reader or a copy leases the blobs it uses so the collector and the
//! orphan sweep never delete them underneath it. The engine also publishes the leased set to the
//! metadata store ([`s3gate_metadata::MetadataStore::renew_leases`]) so that other gateways
//! sharing the store honour them too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

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

#[cfg(test)]
mod tests {
    use super::*;

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
