//! The user lookup behind authentication: a short-lived cache over the metadata store, so that
//! a user added or removed with `s3gate user ...` while the gateway runs takes effect within
//! seconds, and a request costs no metadata round trip for its credentials.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use s3gate_metadata::{MetaError, MetadataStore, User};

/// How long a looked-up user (or its absence) is trusted.
const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; unknown keys from a scanner must not grow the cache without bound.
const CAPACITY: usize = 4096;

pub(crate) struct UserCache {
    entries: Mutex<HashMap<String, (Option<User>, Instant)>>,
}

impl UserCache {
    pub(crate) fn new() -> Self {
        UserCache { entries: Mutex::new(HashMap::new()) }
    }

    /// The user owning `access_key_id`, from the cache or the store.
    pub(crate) async fn lookup<M: MetadataStore>(
        &self,
        meta: &M,
        access_key_id: &str,
    ) -> Result<Option<User>, MetaError> {
        let now = Instant::now();
        if let Ok(map) = self.entries.lock()
            && let Some((user, at)) = map.get(access_key_id)
            && now.duration_since(*at) < TTL
        {
            return Ok(user.clone());
        }
        let user = meta.user_by_access_key(access_key_id).await?;
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= CAPACITY {
                map.retain(|_, (_, at)| now.duration_since(*at) < TTL);
                if map.len() >= CAPACITY {
                    map.clear();
                }
            }
            map.insert(access_key_id.to_owned(), (user.clone(), now));
        }
        Ok(user)
    }
}
