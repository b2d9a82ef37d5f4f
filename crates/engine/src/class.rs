//! Storage classes: which the gateway stores, and the tier each class's data is written to.
//!
//! `STANDARD` is always stored, on the default tier. Any other class AWS knows is stored once
//! the operator maps it to a tier; an unmapped one is refused as before tiers existed (501
//! `NotImplemented` naming the header), and a name AWS does not know never gets here (the
//! feature table answers `InvalidStorageClass`). A version records its class (`None` for
//! `STANDARD`, as on the wire where S3 omits the header for it); where its data lives is told by
//! the tier tag of each blob id, so reads never consult this table.
//!
//! The archive classes (`GLACIER`, `DEEP_ARCHIVE`) are served directly when mapped: a GET
//! reads the tier, with no `RestoreObject` first. That is a documented deviation from AWS
//! (docs/tiering.md), which answers `InvalidObjectState` until a restore.

use std::collections::BTreeMap;

use s3gate_protocol::{ErrorCode, S3Error};

use crate::EngineError;

/// The storage class of S3's default, stored on the default tier.
pub const STANDARD: &str = "STANDARD";

/// The storage classes AWS accepts in `x-amz-storage-class` (the protocol crate's one list).
pub use s3gate_protocol::features::STORAGE_CLASSES as AWS_STORAGE_CLASSES;

/// The classes the gateway stores and the tier of each (`None`: the default tier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageClasses {
    tiers: BTreeMap<String, Option<String>>,
}

impl Default for StorageClasses {
    fn default() -> Self {
        let mut tiers = BTreeMap::new();
        tiers.insert(STANDARD.to_owned(), None);
        StorageClasses { tiers }
    }
}

impl StorageClasses {
    /// Only `STANDARD`, on the default tier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `class` on `tier` (`None`: the default tier). The class must be one AWS knows;
    /// `STANDARD` stays on the default tier.
    pub fn map(&mut self, class: &str, tier: Option<String>) -> Result<(), String> {
        if !AWS_STORAGE_CLASSES.contains(&class) {
            return Err(format!(
                "{class:?} is not a storage class S3 knows (one of {})",
                AWS_STORAGE_CLASSES.join(", ")
            ));
        }
        if class == STANDARD && tier.is_some() {
            return Err("STANDARD is always the default tier".to_owned());
        }
        self.tiers.insert(class.to_owned(), tier);
        Ok(())
    }

    /// The tier of a stored class: `Some(None)` the default tier, `None` not stored.
    pub fn tier(&self, class: &str) -> Option<Option<&str>> {
        self.tiers.get(class).map(Option::as_deref)
    }

    /// Every stored class and its tier, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.tiers.iter().map(|(c, t)| (c.as_str(), t.as_deref()))
    }

    /// The class a write asked for (`x-amz-storage-class`, `None` when absent) as the version
    /// records it (`None` for `STANDARD`), and the tier its data goes to; an unmapped class is
    /// refused with 501 `NotImplemented` naming the header.
    pub fn resolve(
        &self,
        requested: Option<&str>,
    ) -> Result<(Option<String>, Option<String>), EngineError> {
        let class = requested.map_or(STANDARD, str::trim);
        let Some(tier) = self.tier(class) else {
            return Err(EngineError::Protocol(
                S3Error::with_message(
                    ErrorCode::NotImplemented,
                    "The x-amz-storage-class header is not implemented by this gateway.",
                )
                .with_extra("Header", "x-amz-storage-class"),
            ));
        };
        let recorded = (class != STANDARD).then(|| class.to_owned());
        Ok((recorded, tier.map(str::to_owned)))
    }

    /// The tier data of the recorded class `class` (`None`: `STANDARD`) is written to; a
    /// class no longer mapped (the configuration changed) writes to the default tier.
    pub fn tier_of_recorded(&self, class: Option<&str>) -> Option<String> {
        class.and_then(|c| self.tier(c)).flatten().map(str::to_owned)
    }
}

/// The tier a blob id names (`None`: the default tier); ids are validated where they are read.
pub(crate) fn tier_of_blob(blob_id: &str) -> Option<&str> {
    blob_id.split_once('.').map(|(tier, _)| tier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_classes_resolve_to_their_tier_and_others_are_refused() {
        let mut c = StorageClasses::new();
        assert_eq!(c.resolve(None).unwrap(), (None, None));
        assert_eq!(c.resolve(Some("STANDARD")).unwrap(), (None, None));
        let Err(EngineError::Protocol(e)) = c.resolve(Some("GLACIER")) else { panic!() };
        assert_eq!(e.code, ErrorCode::NotImplemented);
        assert_eq!(e.extra("Header"), Some("x-amz-storage-class"));
        c.map("GLACIER", Some("cold".into())).unwrap();
        c.map("STANDARD_IA", None).unwrap();
        assert_eq!(
            c.resolve(Some("GLACIER")).unwrap(),
            (Some("GLACIER".into()), Some("cold".into()))
        );
        assert_eq!(c.resolve(Some("STANDARD_IA")).unwrap(), (Some("STANDARD_IA".into()), None));
        assert_eq!(c.tier_of_recorded(Some("GLACIER")), Some("cold".into()));
        assert_eq!(c.tier_of_recorded(Some("ONEZONE_IA")), None);
        assert_eq!(c.tier_of_recorded(None), None);
        assert!(c.map("BOGUS", Some("cold".into())).is_err());
        assert!(c.map("glacier", Some("cold".into())).is_err());
        assert!(c.map("STANDARD", Some("cold".into())).is_err());
        assert_eq!(tier_of_blob("cold.0123"), Some("cold"));
        assert_eq!(tier_of_blob("0123"), None);
    }
}
