//! Listing and blob-reference logic shared by every implementation, so that they agree exactly.
//!
//! Listings are driven by a [`KeySource`] that answers range seeks over the current versions of
//! a bucket in byte order; the page builder decides where to seek next, so that each common
//! prefix costs at most one seek whatever lies under it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::SystemTime;

use crate::{
    ListEntry, ListPage, ListQuery, MetaError, ObjectSummary, Upload, UploadListEntry,
    UploadListQuery, UploadPage, VersionListEntry, VersionListQuery, VersionPage, VersionSummary,
};

/// The largest page any listing returns, whatever the caller asks.
pub(crate) const MAX_PAGE: u32 = 1000;

/// Rows fetched per seek when a delimiter is set: small, because a row that rolls up into a
/// common prefix makes the rest of a batch useless whenever many keys share that prefix.
const DELIMITED_BATCH: usize = 32;

/// The smallest string greater than every string that starts with `prefix`, or `None` if no
/// string is (every character of `prefix` is `char::MAX`).
///
/// UTF-8 byte order is code point order, so incrementing the last code point (skipping the
/// surrogate gap, carrying past `char::MAX`) gives the bound while staying valid UTF-8.
pub(crate) fn successor(prefix: &str) -> Option<String> {
    let mut s = prefix.to_owned();
    while let Some(c) = s.pop() {
        let mut next = u32::from(c) + 1;
        if next == 0xD800 {
            next = 0xE000;
        }
        if let Some(nc) = char::from_u32(next) {
            s.push(nc);
            return Some(s);
        }
    }
    None
}

/// The exclusive upper bound of keys starting with `prefix` (`None`: unbounded).
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    if prefix.is_empty() { None } else { successor(prefix) }
}

/// The common prefix `key` rolls up into, if any.
fn rollup<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Range seeks over the current (non-delete-marker) versions of one bucket, in key byte order.
pub(crate) trait KeySource {
    /// Appends to `out` at most `limit` summaries of keys within `lower` and below `upper`
    /// (exclusive; `None` is unbounded), ascending.
    fn fetch(
        &mut self,
        lower: Bound<&str>,
        upper: Option<&str>,
        limit: usize,
        out: &mut Vec<ObjectSummary>,
    ) -> Result<(), MetaError>;
}

/// Builds one page of [`ListQuery`] from seeks on `src`.
///
/// An entry is included iff its sort key is greater than `start_after`. `max_keys == 0` gives an
/// empty page that is not truncated (as S3 answers).
pub(crate) fn list_objects(src: &mut impl KeySource, q: &ListQuery) -> Result<ListPage, MetaError> {
    let mut lister = Lister::new(q);
    let mut rows = Vec::new();
    while let Some(seek) = lister.seek() {
        rows.clear();
        src.fetch(
            seek.lower.as_ref().map(String::as_str),
            seek.upper.as_deref(),
            seek.limit,
            &mut rows,
        )?;
        lister.feed(&mut rows);
    }
    Ok(lister.into_page())
}

/// One range seek a [`Lister`] asks for: at most `limit` current keys within `lower` and below
/// `upper` (exclusive; `None` is unbounded), ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seek {
    pub(crate) lower: Bound<String>,
    pub(crate) upper: Option<String>,
    pub(crate) limit: usize,
}

/// The listing page builder without I/O: it says which seek to make next ([`Lister::seek`]) and
/// takes its rows ([`Lister::feed`]), so that synchronous (SQLite, memory) and asynchronous
/// (PostgreSQL) stores drive the very same logic.
#[derive(Debug)]
pub(crate) struct Lister {
    max: usize,
    prefix: String,
    delim: Option<String>,
    upper: Option<String>,
    start_after: Option<String>,
    /// Where the next seek starts; `None` once the page is complete.
    cursor: Option<Bound<String>>,
    page: ListPage,
}

impl Lister {
    /// A builder for one page of `q`.
    pub(crate) fn new(q: &ListQuery) -> Self {
        let max = q.max_keys.min(MAX_PAGE) as usize;
        let prefix = q.prefix.clone();
        let start_after = q.start_after.clone();
        // The cursor is owned because it moves past rows we no longer hold.
        let cursor = match start_after.as_deref() {
            _ if max == 0 => None,
            Some(sa) if sa >= prefix.as_str() => Some(Bound::Excluded(sa.to_owned())),
            _ => Some(Bound::Included(prefix.clone())),
        };
        Self {
            max,
            upper: prefix_end(&prefix),
            prefix,
            delim: q.delimiter.clone().filter(|d| !d.is_empty()),
            start_after,
            cursor,
            page: ListPage::default(),
        }
    }

    /// The next seek to make, or `None` when the page is complete.
    pub(crate) fn seek(&self) -> Option<Seek> {
        let cursor = self.cursor.as_ref()?;
        Some(Seek { lower: cursor.clone(), upper: self.upper.clone(), limit: self.limit() })
    }

    fn limit(&self) -> usize {
        let need = self.max + 1 - self.page.entries.len();
        if self.delim.is_some() { need.min(DELIMITED_BATCH) } else { need }
    }

    /// Takes (drains) the rows answering the last [`Self::seek`].
    pub(crate) fn feed(&mut self, rows: &mut Vec<ObjectSummary>) {
        let limit = self.limit();
        let fetched = rows.len();
        let prefix = self.prefix.as_str();
        let delim = self.delim.as_deref();
        let start_after = self.start_after.as_deref();
        let mut skipping: Option<String> = None;
        let mut last_key = None;
        for row in rows.drain(..) {
            if let Some(cp) = &skipping {
                if row.key.starts_with(cp.as_str()) {
                    continue;
                }
                skipping = None;
            }
            if let Some(cp) = rollup(&row.key, prefix, delim) {
                let cp = cp.to_owned();
                if start_after.is_none_or(|sa| cp.as_str() > sa) {
                    self.page.entries.push(ListEntry::CommonPrefix(cp.clone()));
                }
                skipping = Some(cp);
            } else {
                last_key = Some(row.key.clone());
                self.page.entries.push(ListEntry::Object(row));
            }
            if self.page.entries.len() > self.max {
                self.page.entries.truncate(self.max);
                self.page.is_truncated = true;
                self.cursor = None;
                return;
            }
        }
        self.cursor = if fetched < limit {
            None
        } else {
            match (skipping, last_key) {
                (Some(cp), _) => successor(&cp).map(Bound::Included),
                (None, Some(k)) => Some(Bound::Excluded(k)),
                // A full batch always ends on an object or inside a common prefix.
                (None, None) => None,
            }
        };
    }

    /// The page built.
    pub(crate) fn into_page(self) -> ListPage {
        self.page
    }
}

/// One row of a version listing: a version with its sequence number within its key.
#[derive(Debug, Clone)]
pub(crate) struct VersionRow {
    pub(crate) seq: i64,
    pub(crate) summary: VersionSummary,
}

/// One seek a [`VersionLister`] asks for, answered by at most `limit` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionSeek {
    /// Versions of `key` with a sequence number below `below`, newest first.
    Within { key: String, below: i64 },
    /// Versions of keys within `lower` and below `upper` (exclusive; `None` unbounded), by key
    /// ascending, then newest first.
    Keys { lower: Bound<String>, upper: Option<String> },
}

/// Seeks over the versions of one bucket (the `(bucket, key, seq)` index).
pub(crate) trait VersionSource {
    /// Appends to `out` at most `limit` rows answering `seek`.
    fn fetch(
        &mut self,
        seek: &VersionSeek,
        limit: usize,
        out: &mut Vec<VersionRow>,
    ) -> Result<(), MetaError>;
}

/// Builds one page of `q` from seeks on `src`; `marker_seq` is the sequence number of the
/// version `q.version_id_marker` names within `q.key_marker`, if it names one.
pub(crate) fn list_versions(
    src: &mut impl VersionSource,
    q: &VersionListQuery,
    marker_seq: Option<i64>,
) -> Result<VersionPage, MetaError> {
    let mut lister = VersionLister::new(q, marker_seq);
    let mut rows = Vec::new();
    while let Some((seek, limit)) = lister.seek() {
        rows.clear();
        src.fetch(&seek, limit, &mut rows)?;
        lister.feed(&mut rows);
    }
    Ok(lister.into_page())
}

/// The version listing page builder without I/O, as [`Lister`] is for current versions: each
/// common prefix costs one seek whatever lies under it, and a key's versions are read in pages
/// of the index, never all at once.
#[derive(Debug)]
pub(crate) struct VersionLister {
    max: usize,
    prefix: String,
    delim: Option<String>,
    upper: Option<String>,
    key_marker: Option<String>,
    cursor: Option<VersionSeek>,
    page: VersionPage,
}

impl VersionLister {
    /// A builder for one page of `q` (see [`list_versions`] for `marker_seq`).
    pub(crate) fn new(q: &VersionListQuery, marker_seq: Option<i64>) -> Self {
        let max = q.max_keys.min(MAX_PAGE) as usize;
        let prefix = q.prefix.clone();
        let delim = q.delimiter.clone().filter(|d| !d.is_empty());
        let upper = prefix_end(&prefix);
        let key_marker = q.key_marker.clone().filter(|k| !k.is_empty());
        let keys = |lower| VersionSeek::Keys { lower, upper: upper.clone() };
        let cursor = match key_marker.as_deref() {
            _ if max == 0 => None,
            None => Some(keys(Bound::Included(prefix.clone()))),
            Some(km) if km < prefix.as_str() => Some(keys(Bound::Included(prefix.clone()))),
            Some(km) => match rollup(km, &prefix, delim.as_deref()) {
                // Everything under the marker's common prefix sorts at or before the marker.
                Some(cp) => successor(cp).map(|s| keys(Bound::Included(s))),
                None => match marker_seq {
                    Some(below) if km.starts_with(prefix.as_str()) => {
                        Some(VersionSeek::Within { key: km.to_owned(), below })
                    }
                    _ => Some(keys(Bound::Excluded(km.to_owned()))),
                },
            },
        };
        Self { max, prefix, delim, upper, key_marker, cursor, page: VersionPage::default() }
    }

    /// The next seek and its row limit, or `None` when the page is complete.
    pub(crate) fn seek(&self) -> Option<(VersionSeek, usize)> {
        self.cursor.clone().map(|c| (c, self.limit()))
    }

    fn limit(&self) -> usize {
        let need = self.max + 1 - self.page.entries.len();
        if self.delim.is_some() { need.min(DELIMITED_BATCH) } else { need }
    }

    /// Takes (drains) the rows answering the last [`Self::seek`].
    pub(crate) fn feed(&mut self, rows: &mut Vec<VersionRow>) {
        let limit = self.limit();
        let fetched = rows.len();
        let mut skipping: Option<String> = None;
        let mut last: Option<(String, i64)> = None;
        for row in rows.drain(..) {
            if let Some(cp) = &skipping {
                if row.summary.key.starts_with(cp.as_str()) {
                    continue;
                }
                skipping = None;
            }
            if let Some(cp) = rollup(&row.summary.key, &self.prefix, self.delim.as_deref()) {
                let cp = cp.to_owned();
                if self.key_marker.as_deref().is_none_or(|km| cp.as_str() > km) {
                    self.page.entries.push(VersionListEntry::CommonPrefix(cp.clone()));
                }
                skipping = Some(cp);
            } else {
                last = Some((row.summary.key.clone(), row.seq));
                self.page.entries.push(VersionListEntry::Version(row.summary));
            }
            if self.page.entries.len() > self.max {
                self.page.entries.truncate(self.max);
                self.page.is_truncated = true;
                self.cursor = None;
                return;
            }
        }
        let keys = |lower| VersionSeek::Keys { lower, upper: self.upper.clone() };
        self.cursor = if fetched < limit {
            match self.cursor.take() {
                // The marker's key is done: go on with the keys after it.
                Some(VersionSeek::Within { key, .. }) => Some(keys(Bound::Excluded(key))),
                _ => None,
            }
        } else {
            match (skipping, last) {
                (Some(cp), _) => successor(&cp).map(|s| keys(Bound::Included(s))),
                (None, Some((key, below))) => Some(VersionSeek::Within { key, below }),
                (None, None) => None,
            }
        };
    }

    /// The page built.
    pub(crate) fn into_page(self) -> VersionPage {
        self.page
    }
}

/// Where a listing of uploads resumes inside the uploads of `key_marker`.
pub(crate) type UploadMarker = Option<(SystemTime, String)>;

/// Builds one page of uploads from `uploads`, which must be ordered by (key, initiated, upload
/// id) and hold every upload whose key starts with the prefix and is at or after the key marker
/// (it may hold more; they are skipped).
///
/// `marker` is the (initiated, upload id) of the upload named by `upload_id_marker` when it is an
/// upload of `key_marker`; if it names none, every upload of `key_marker` is skipped.
pub(crate) fn list_uploads(
    uploads: impl Iterator<Item = Result<Upload, MetaError>>,
    q: &UploadListQuery,
    marker: &UploadMarker,
) -> Result<UploadPage, MetaError> {
    let max = q.max_uploads.min(MAX_PAGE) as usize;
    let mut page = UploadPage::default();
    if max == 0 {
        return Ok(page);
    }
    let prefix = q.prefix.as_str();
    let delim = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let key_marker = q.key_marker.as_deref();
    let mut last_cp: Option<String> = None;
    for upload in uploads {
        let upload = upload?;
        if !upload.key.starts_with(prefix) {
            if upload.key.as_str() > prefix {
                break;
            }
            continue;
        }
        if let Some(cp) = rollup(&upload.key, prefix, delim) {
            if last_cp.as_deref() == Some(cp) {
                continue;
            }
            last_cp = Some(cp.to_owned());
            if key_marker.is_some_and(|km| cp <= km) {
                continue;
            }
            page.entries.push(UploadListEntry::CommonPrefix(cp.to_owned()));
        } else {
            let included = match key_marker {
                None => true,
                Some(km) if upload.key.as_str() > km => true,
                Some(km) if upload.key == km => marker.as_ref().is_some_and(|(t, id)| {
                    (upload.initiated, upload.upload_id.as_str()) > (*t, id.as_str())
                }),
                Some(_) => false,
            };
            if !included {
                continue;
            }
            page.entries.push(UploadListEntry::Upload(upload));
        }
        if page.entries.len() > max {
            page.entries.truncate(max);
            page.is_truncated = true;
            break;
        }
    }
    Ok(page)
}

/// Net change of references per blob within one write, applied at once so that a blob dropped
/// and re-added by the same write is never retired.
#[derive(Debug, Default)]
pub(crate) struct RefDelta(BTreeMap<String, i64>);

impl RefDelta {
    /// One more reference to `blob_id`.
    pub(crate) fn add(&mut self, blob_id: &str) {
        self.bump(blob_id, 1);
    }

    /// One reference fewer to `blob_id`.
    pub(crate) fn remove(&mut self, blob_id: &str) {
        self.bump(blob_id, -1);
    }

    fn bump(&mut self, blob_id: &str, by: i64) {
        if let Some(n) = self.0.get_mut(blob_id) {
            *n += by;
        } else {
            self.0.insert(blob_id.to_owned(), by);
        }
    }

    /// Non-zero changes in blob id order.
    pub(crate) fn changes(self) -> impl Iterator<Item = (String, i64)> {
        self.0.into_iter().filter(|(_, n)| *n != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_increments_last_char() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("a\u{7f}").as_deref(), Some("a\u{80}"));
        assert_eq!(successor("\u{d7ff}").as_deref(), Some("\u{e000}"));
        assert_eq!(successor("x\u{10ffff}").as_deref(), Some("y"));
        assert_eq!(successor("\u{10ffff}"), None);
        assert_eq!(successor(""), None);
        assert_eq!(prefix_end(""), None);
    }

    #[test]
    fn successor_bounds_every_extension() {
        for p in ["a", "a/", "é", "\u{7ff}", "日本", "x\u{10ffff}"] {
            let s = successor(p).unwrap();
            for ext in ["", "\0", "zz", "\u{10ffff}\u{10ffff}"] {
                let k = format!("{p}{ext}");
                assert!(k.as_str() < s.as_str(), "{k:?} < {s:?}");
            }
            assert!(!s.starts_with(p));
        }
    }

    #[test]
    fn rollup_finds_first_delimiter_after_prefix() {
        assert_eq!(rollup("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(rollup("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(rollup("a/b", "a/", Some("/")), None);
        assert_eq!(rollup("a--b--c", "", Some("--")), Some("a--"));
        assert_eq!(rollup("a/b", "", None), None);
    }

    #[test]
    fn ref_delta_nets_out() {
        let mut d = RefDelta::default();
        d.add("b");
        d.remove("b");
        d.remove("a");
        d.add("c");
        d.add("c");
        assert_eq!(d.changes().collect::<Vec<_>>(), vec![("a".into(), -1), ("c".into(), 2)]);
    }
}
