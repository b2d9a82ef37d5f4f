//! [`TieredBlobs`]: several named blob stores (tiers) behind one [`BlobStore`].
//!
//! One tier is the *default*: its blobs keep plain ids, so the blobs a gateway wrote before it
//! had tiers (and every blob of a gateway with one tier) need no rewrite. A blob of any other
//! tier has an id tagged with the tier's name (`cold.0123…`, see [`BlobId`]): the reference the
//! metadata keeps says where the blob lives, so routing a read, a delete or a collection needs
//! no lookup and no per-part location column, and a move between tiers is a new blob id
//! committed in place of the old one. The tag is stripped before the tier's own store sees the
//! id, and added to what it lists.
//!
//! A tier's name is persistent: renaming a tier in the configuration orphans the references
//! to its blobs, which then answer [`BlobError::NoSuchTier`] (and are never deleted).

use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};

use crate::blob::{
    BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream, StoreSpace,
    valid_tier_name,
};

/// Blob stores by tier name.
///
/// One tier is the *default*: its blobs keep plain ids. A blob of any other tier has an id
/// tagged with the tier's name (`cold.0123…`, see [`BlobId`]), so the reference the metadata
/// keeps says where the blob lives: reads, deletes and collections are routed by the tag with
/// no lookup, and a move between tiers is a new blob id committed in place of the old one.
/// A tier's name is persistent: renaming a tier orphans the references to its blobs, which
/// then answer [`BlobError::NoSuchTier`] (and are never deleted).
#[derive(Debug)]
pub struct TieredBlobs<S> {
    /// The default tier (plain ids) first, then the named ones.
    tiers: Vec<(String, S)>,
}

impl<S: BlobStore> TieredBlobs<S> {
    /// A store whose only tier is `default`, named `name`.
    pub fn new(name: impl Into<String>, default: S) -> Result<Self, BlobError> {
        let name = name.into();
        if !valid_tier_name(&name) {
            return Err(BlobError::Backend(format!("invalid tier name {name:?}").into()));
        }
        Ok(TieredBlobs { tiers: vec![(name, default)] })
    }

    /// Adds the tier `name` (a valid, new tier name: see [`BlobId`]).
    pub fn add(&mut self, name: impl Into<String>, store: S) -> Result<(), BlobError> {
        let name = name.into();
        if !valid_tier_name(&name) {
            return Err(BlobError::Backend(format!("invalid tier name {name:?}").into()));
        }
        if self.tiers.iter().any(|(n, _)| *n == name) {
            return Err(BlobError::Backend(format!("tier {name:?} named twice").into()));
        }
        self.tiers.push((name, store));
        Ok(())
    }

    /// The default tier's name.
    pub fn default_tier(&self) -> &str {
        &self.tiers[0].0
    }

    /// Every tier's name, the default first.
    pub fn tier_names(&self) -> impl Iterator<Item = &str> {
        self.tiers.iter().map(|(n, _)| n.as_str())
    }

    /// The store of the tier `name`.
    pub fn tier(&self, name: &str) -> Option<&S> {
        self.tiers.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// The name of the tier holding `id`.
    pub fn tier_of<'a>(&'a self, id: &'a BlobId) -> &'a str {
        id.tier().unwrap_or(self.default_tier())
    }

    /// The index of the tier `name` (`None`: the default), or [`BlobError::NoSuchTier`].
    fn index(&self, name: Option<&str>) -> Result<usize, BlobError> {
        match name {
            None => Ok(0),
            Some(name) => self
                .tiers
                .iter()
                .position(|(n, _)| n == name)
                .ok_or_else(|| BlobError::NoSuchTier(name.to_owned())),
        }
    }

    /// The store holding `id` and the id in that store.
    fn route(&self, id: &BlobId) -> Result<(&S, BlobId), BlobError> {
        let i = self.index(id.tier())?;
        Ok((&self.tiers[i].1, id.untagged()))
    }

    /// `id` as the rest of the gateway names a blob of tier `i`.
    fn outer(i: usize, name: &str, id: &BlobId) -> BlobId {
        if i == 0 { id.clone() } else { id.tagged(name) }
    }
}

impl<S: BlobStore> BlobStore for TieredBlobs<S> {
    async fn put(&self, body: ByteStream) -> Result<BlobInfo, BlobError> {
        self.tiers[0].1.put(body).await
    }

    async fn put_to(&self, tier: Option<&str>, body: ByteStream) -> Result<BlobInfo, BlobError> {
        // The default tier named by its name writes plain ids too.
        let i = match tier {
            Some(t) if t == self.default_tier() => 0,
            other => self.index(other)?,
        };
        let (name, store) = &self.tiers[i];
        let info = store.put(body).await?;
        if info.id.tier().is_some() {
            return Err(BlobError::Backend("a tier's store returned a tagged blob id".into()));
        }
        Ok(BlobInfo { id: Self::outer(i, name, &info.id), size: info.size })
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let (store, inner) = self.route(id)?;
        store.get(&inner, offset, len).await
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        let (store, inner) = self.route(id)?;
        store.delete(&inner).await
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        let mut lists = Vec::with_capacity(self.tiers.len());
        for (i, (name, store)) in self.tiers.iter().enumerate() {
            let name = name.clone();
            let list = store.list().await?.map_ok(move |mut e| {
                e.id = Self::outer(i, &name, &e.id);
                e
            });
            lists.push(list);
        }
        Ok(Box::pin(stream::iter(lists).flatten()))
    }

    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        let mut removed = 0;
        for (_, store) in &self.tiers {
            removed += store.cleanup_incomplete(older_than).await?;
        }
        Ok(removed)
    }

    /// The default tier's space: the one fresh writes without a storage class fill.
    async fn space(&self) -> Result<Option<StoreSpace>, BlobError> {
        self.tiers[0].1.space().await
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures_util::TryStreamExt as _;

    use super::*;
    use crate::MemBlobs;

    fn body(s: &'static str) -> ByteStream {
        Box::pin(stream::iter([Ok(Bytes::from(s))]))
    }

    async fn read(s: &impl BlobStore, id: &BlobId) -> Vec<u8> {
        let chunks: Vec<Bytes> = s.get(id, 0, None).await.unwrap().try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn routes_by_the_tag_in_the_id() {
        let mut t = TieredBlobs::new("standard", MemBlobs::new()).unwrap();
        t.add("cold", MemBlobs::new()).unwrap();
        let hot = t.put(body("hot")).await.unwrap();
        let plain = t.put_to(Some("standard"), body("plain")).await.unwrap();
        let cold = t.put_to(Some("cold"), body("cold")).await.unwrap();
        assert_eq!(hot.id.tier(), None);
        assert_eq!(plain.id.tier(), None);
        assert_eq!(cold.id.tier(), Some("cold"));
        assert_eq!(t.tier_of(&cold.id), "cold");
        assert_eq!(t.tier_of(&hot.id), "standard");
        // The cold blob is in the cold store under its untagged id, and only there.
        let cold_store = t.tier("cold").unwrap();
        assert_eq!(read(cold_store, &cold.id.untagged()).await, b"cold");
        assert!(matches!(
            t.tier("standard").unwrap().get(&cold.id.untagged(), 0, None).await,
            Err(BlobError::NotFound)
        ));
        assert_eq!(read(&t, &cold.id).await, b"cold");
        assert_eq!(read(&t, &hot.id).await, b"hot");
        let mut listed: Vec<String> =
            t.list().await.unwrap().map_ok(|e| e.id.to_string()).try_collect().await.unwrap();
        listed.sort();
        let mut want = vec![hot.id.to_string(), plain.id.to_string(), cold.id.to_string()];
        want.sort();
        assert_eq!(listed, want);
        t.delete(&cold.id).await.unwrap();
        assert!(matches!(t.get(&cold.id, 0, None).await, Err(BlobError::NotFound)));
        // Unknown tiers are refused, for writes and for references.
        assert!(matches!(t.put_to(Some("warm"), body("x")).await, Err(BlobError::NoSuchTier(_))));
        let stray = BlobId::parse(&format!("warm.{}", hot.id)).unwrap();
        assert!(matches!(t.get(&stray, 0, None).await, Err(BlobError::NoSuchTier(_))));
    }

    #[test]
    fn tier_names_and_tagged_ids() {
        for ok in ["cold", "a", "s3-eu-1", "0tier"] {
            assert!(valid_tier_name(ok), "{ok}");
        }
        for bad in ["", "-x", "Cold", "a.b", "a/b", "a_b", &"x".repeat(33)] {
            assert!(!valid_tier_name(bad), "{bad}");
        }
        let hex = "0123456789abcdef0123456789abcdef";
        let id = BlobId::parse(&format!("cold.{hex}")).unwrap();
        assert_eq!(id.tier(), Some("cold"));
        assert_eq!(id.untagged().as_str(), hex);
        assert_eq!(BlobId::parse(hex).unwrap().tier(), None);
        for bad in
            [format!("../.{hex}"), format!("Cold.{hex}"), format!(".{hex}"), format!("a.b.{hex}")]
        {
            assert!(BlobId::parse(&bad).is_none(), "{bad}");
        }
        let mut t = TieredBlobs::new("standard", MemBlobs::new()).unwrap();
        assert!(t.add("standard", MemBlobs::new()).is_err());
        assert!(t.add("Bad", MemBlobs::new()).is_err());
    }
}
