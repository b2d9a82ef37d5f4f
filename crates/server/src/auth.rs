//! The signer lookup behind authentication: a short-lived cache over the metadata store, so
//! that a request costs no metadata round trip for its credentials, its groups or its identity
//! policies, and a change made with `s3gate user|group|policy ...` on any gateway sharing the
//! store takes effect everywhere within [`TTL`].
//!
//! Each entry is one [`MetadataStore::key_access`] (one read transaction: the key, its user,
//! the user's groups and policies) and the evaluator's user built from it, compiled policies
//! included ([`Authz::identity`]).
//!
//! It also records when each key last signed a request ([`UserCache::used`]): at most once per
//! key per [`LAST_USED_EVERY`], and written by a task of its own, never by the request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s3gate_metadata::{MetadataStore, User};

use crate::authz::{Authz, Identity};
use crate::errors::ApiError;

/// How long a looked-up key (or its absence) is trusted: the bound on how long a change of a
/// user's keys, groups or policies takes to reach a gateway.
pub(crate) const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; unknown keys from a scanner must not grow the cache without bound.
const CAPACITY: usize = 4096;
/// A key's last-used time is written at most this often (so a busy key costs one metadata
/// write a minute, not one per request).
pub(crate) const LAST_USED_EVERY: Duration = Duration::from_mins(1);

/// The key that signed a request, as the store keeps it, and the evaluator's view of its user.
#[derive(Debug)]
pub(crate) struct Signer {
    /// The user, carrying this key's id and secret.
    pub(crate) user: User,
    /// Whether the key is active: an inactive key authenticates nothing.
    pub(crate) active: bool,
    /// The user with its groups and compiled identity policies.
    pub(crate) identity: Identity,
}

type Entry = (Option<Arc<Signer>>, Instant);

pub(crate) struct UserCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// When each key's last-used time was last written by this gateway.
    recorded: Mutex<HashMap<String, Instant>>,
}

impl UserCache {
    pub(crate) fn new() -> Self {
        UserCache { entries: Mutex::new(HashMap::new()), recorded: Mutex::new(HashMap::new()) }
    }

    /// The signer of `access_key_id`, from the cache or the store.
    pub(crate) async fn lookup<M: MetadataStore>(
        &self,
        meta: &M,
        authz: &Authz,
        access_key_id: &str,
    ) -> Result<Option<Arc<Signer>>, ApiError> {
        let now = Instant::now();
        if let Ok(map) = self.entries.lock()
            && let Some((signer, at)) = map.get(access_key_id)
            && now.duration_since(*at) < TTL
        {
            return Ok(signer.clone());
        }
        let access = meta.key_access(access_key_id).await.map_err(crate::authz::meta_error)?;
        let signer = match access {
            Some(a) => Some(Arc::new(Signer {
                identity: authz.identity(Some(&a))?,
                active: a.active,
                user: a.user,
            })),
            None => None,
        };
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= CAPACITY {
                map.retain(|_, (_, at)| now.duration_since(*at) < TTL);
                if map.len() >= CAPACITY {
                    map.clear();
                }
            }
            map.insert(access_key_id.to_owned(), (signer.clone(), now));
        }
        Ok(signer)
    }

    /// Notes that `access_key_id` signed a request now: `true` when its last-used time is due
    /// to be written (the caller writes it off the request path).
    pub(crate) fn used(&self, access_key_id: &str) -> bool {
        let now = Instant::now();
        let Ok(mut map) = self.recorded.lock() else { return false };
        if map.get(access_key_id).is_some_and(|at| now.duration_since(*at) < LAST_USED_EVERY) {
            return false;
        }
        if map.len() >= CAPACITY {
            map.retain(|_, at| now.duration_since(*at) < LAST_USED_EVERY);
        }
        map.insert(access_key_id.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_used_is_written_once_a_minute_per_key() {
        let cache = UserCache::new();
        assert!(cache.used("AK1"));
        assert!(!cache.used("AK1"));
        assert!(cache.used("AK2"));
        if let Ok(mut map) = cache.recorded.lock() {
            map.insert("AK1".into(), Instant::now().checked_sub(LAST_USED_EVERY).unwrap());
        }
        assert!(cache.used("AK1"));
        assert!(!cache.used("AK2"));
    }
}
