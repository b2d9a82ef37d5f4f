//! [`SpaceReserve`]: the free-space reserve of a data directory, and its spare file.
//!
//! Writes that grow the metadata (empty objects, zero-copy copies, multipart uploads being
//! created or completed, tags, buckets) write no blob, so [`crate::DiskBlobs`]'s own reserve
//! never sees them; the engine asks [`SpaceReserve::check`] before each. Deletes must free
//! space, not need it, yet SQLite needs room for its write-ahead log (and its shared-memory
//! index, created at open) to commit one. If something else filled the disk to the last byte
//! (another process, or concurrent writes that each passed the check), the gateway keeps a
//! pre-allocated spare file (`s3gate.spare`, [`SPARE_BYTES`]) that it deletes to make room:
//! at start-up when the disk is below the reserve (before the metadata is opened), and when a
//! delete fails for want of space. It is re-created once the disk has the reserve plus the
//! spare free again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::BlobError;

/// The free-space reserve is the filesystem's size divided by this, within the bounds below.
const RESERVE_FRACTION: u64 = 64;
/// Smallest free-space reserve.
const MIN_RESERVE: u64 = 4 << 20;
/// Largest free-space reserve.
const MAX_RESERVE: u64 = 1 << 30;
/// Size of the spare file: room for SQLite's WAL and shared-memory files and a good number of
/// delete transactions (each a few 4 KiB pages).
pub const SPARE_BYTES: u64 = 2 << 20;
/// Name of the spare file in the data directory.
pub const SPARE_FILE: &str = "s3gate.spare";

/// The free-space reserve of the filesystem holding a directory: 1/64 of the filesystem, at
/// least 4 MiB, at most 1 GiB.
pub fn reserve_for(dir: &Path) -> u64 {
    filesystem_size(dir)
        .map_or(MIN_RESERVE, |size| (size / RESERVE_FRACTION).clamp(MIN_RESERVE, MAX_RESERVE))
}

/// Bytes an unprivileged writer may still use on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(path)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(u64::MAX)
    }
}

/// Total size of the filesystem holding `path`, if the platform tells.
pub(crate) fn filesystem_size(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(path).ok()?;
        Some(st.f_blocks.saturating_mul(st.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The reserve of one data directory and its spare file.
#[derive(Debug)]
pub struct SpaceReserve {
    dir: PathBuf,
    reserve: u64,
    /// Serialises releasing and re-creating the spare file.
    spare: Mutex<()>,
}

impl SpaceReserve {
    /// The reserve of `dir`'s filesystem (blocking: a `statvfs`).
    pub fn new(dir: &Path) -> Self {
        SpaceReserve { dir: dir.to_owned(), reserve: reserve_for(dir), spare: Mutex::new(()) }
    }

    /// Free bytes every write leaves on the filesystem.
    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    fn spare_path(&self) -> PathBuf {
        self.dir.join(SPARE_FILE)
    }

    /// Whether the spare file exists.
    pub fn has_spare(&self) -> bool {
        self.spare_path().exists()
    }

    /// [`BlobError::InsufficientStorage`] when the filesystem has less than the reserve free
    /// (a failing `statvfs` is a backend error). One `statvfs`: cheap enough for every write.
    pub fn check(&self) -> Result<(), BlobError> {
        let free = free_bytes(&self.dir).map_err(|e| BlobError::Backend(Box::new(e)))?;
        if free < self.reserve { Err(BlobError::InsufficientStorage) } else { Ok(()) }
    }

    /// Deletes the spare file to give its room to the metadata; `true` if there was one.
    pub fn release_spare(&self) -> bool {
        let _guard = self.spare.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match fs::remove_file(self.spare_path()) {
            Ok(()) => {
                tracing::warn!(
                    dir = %self.dir.display(),
                    bytes = SPARE_BYTES,
                    "disk full: released the spare file so that deletes can commit"
                );
                true
            }
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove the spare file");
                false
            }
        }
    }

    /// At start-up: releases the spare file if the disk is below the reserve (the metadata may
    /// need its room just to open), else makes sure it exists.
    pub fn prepare(&self) -> io::Result<()> {
        if free_bytes(&self.dir)? < self.reserve {
            self.release_spare();
            return Ok(());
        }
        self.restore_spare().map(|_| ())
    }

    /// Creates the spare file if it is missing and the filesystem keeps the reserve free
    /// beside it; `Ok(true)` if it was created. Blocking (writes and `fsync`s 2 MiB).
    pub fn restore_spare(&self) -> io::Result<bool> {
        let _guard = self.spare.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = self.spare_path();
        if path.exists() || free_bytes(&self.dir)? < self.reserve.saturating_add(SPARE_BYTES) {
            return Ok(false);
        }
        let tmp = self.dir.join(format!("{SPARE_FILE}.tmp"));
        let written = write_spare(&tmp).and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(true)
    }
}

/// Writes [`SPARE_BYTES`] of zeros (really allocated: a sparse file would free nothing).
fn write_spare(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f: File = options.open(path)?;
    let block = vec![0u8; 64 * 1024];
    let mut left = SPARE_BYTES;
    while left > 0 {
        let n = left.min(block.len() as u64);
        f.write_all(&block[..usize::try_from(n).unwrap_or(block.len())])?;
        left -= n;
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_file_is_created_released_and_restored() {
        let dir = tempfile::tempdir().unwrap();
        let space = SpaceReserve::new(dir.path());
        assert!(space.reserve() >= MIN_RESERVE);
        space.prepare().unwrap();
        assert!(space.has_spare(), "a roomy disk gets its spare file");
        assert_eq!(fs::metadata(dir.path().join(SPARE_FILE)).unwrap().len(), SPARE_BYTES);
        assert!(space.release_spare());
        assert!(!space.has_spare());
        assert!(!space.release_spare(), "nothing left to release");
        assert!(space.restore_spare().unwrap());
        assert!(!space.restore_spare().unwrap(), "already there");
        space.check().unwrap();
    }
}
