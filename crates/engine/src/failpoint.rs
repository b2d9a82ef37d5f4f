//! Test-only crash points: with the `failpoints` feature, the engine's `crash_point!` macro
//! aborts the process at a named step when that step was armed with [`arm`]; without the feature
//! the macro expands to nothing and this module holds only the names.
//!
//! A crash test arms one point (the binary reads `S3GATE_FAILPOINT`, since only `bins/` reads
//! the environment), drives the gateway until the point is reached, and checks after a restart
//! that the crash at exactly that step lost nothing acknowledged and leaked nothing.
//!
//! A spec is `name` (abort at the first hit) or `name@N` (abort at the N-th hit, N ≥ 1), several
//! separated by commas. Unknown names are rejected, so a typo cannot make a test pass vacuously.

/// Every crash point, in the order the durability contract (docs/ARCHITECTURE.md) lists them.
pub const NAMES: &[&str] = &[
    BLOB_WRITTEN,
    COMPLETE_BEFORE_COMMIT,
    COMPLETE_AFTER_COMMIT,
    GC_AFTER_FORGET,
    GC_AFTER_FIRST_DELETE,
    SWEEP_BEFORE_DELETE,
];

/// A PutObject, UploadPart or UploadPartCopy blob is durable and verified; no metadata names it.
pub const BLOB_WRITTEN: &str = "blob-written";
/// CompleteMultipartUpload resolved and validated the parts; the version is not committed.
pub const COMPLETE_BEFORE_COMMIT: &str = "complete-before-commit";
/// CompleteMultipartUpload committed; the client has no response yet.
pub const COMPLETE_AFTER_COMMIT: &str = "complete-after-commit";
/// The collector forgot a batch of retired blobs in the metadata; none is deleted yet.
pub const GC_AFTER_FORGET: &str = "gc-after-forget";
/// The collector deleted the first blob of a forgotten batch; the others still exist.
pub const GC_AFTER_FIRST_DELETE: &str = "gc-after-first-delete";
/// The orphan sweep found blobs the metadata does not know; none is deleted yet.
pub const SWEEP_BEFORE_DELETE: &str = "sweep-before-delete";

/// Why a failpoint spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum FailpointError {
    /// The name is not one of [`NAMES`].
    #[error("unknown failpoint {0:?}")]
    Unknown(String),
    /// The `@N` count is not a positive integer.
    #[error("invalid hit count in {0:?}")]
    BadCount(String),
    /// This build has no failpoints (built without the `failpoints` feature).
    #[error("this build has no failpoints (cargo feature `failpoints`)")]
    NotBuilt,
}

/// Parses a spec into (name, hit number) pairs.
pub fn parse(spec: &str) -> Result<Vec<(&'static str, u64)>, FailpointError> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, count) = match item.split_once('@') {
            Some((n, c)) => {
                let c: u64 = c.parse().map_err(|_| FailpointError::BadCount(item.to_owned()))?;
                if c == 0 {
                    return Err(FailpointError::BadCount(item.to_owned()));
                }
                (n, c)
            }
            None => (item, 1),
        };
        let known = NAMES
            .iter()
            .find(|k| **k == name)
            .ok_or_else(|| FailpointError::Unknown(name.to_owned()))?;
        out.push((*known, count));
    }
    Ok(out)
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Set once anything is armed: an unarmed build with the feature pays one atomic load.
    pub(super) static ANY: AtomicBool = AtomicBool::new(false);
    /// (name, hits left before the abort).
    pub(super) static POINTS: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

    pub(super) fn hit(name: &'static str) {
        if !ANY.load(Ordering::Relaxed) {
            return;
        }
        let mut points = POINTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (n, left) in points.iter_mut() {
            if *n == name {
                *left -= 1;
                if *left == 0 {
                    // The crash test looks for this line to know the crash was this step.
                    eprintln!("s3gate failpoint {name}: aborting");
                    std::process::abort();
                }
            }
        }
    }
}

/// Arms the points of a spec (see the module docs). Errors if the spec is invalid or if this
/// build has no failpoints, so a crash test never runs against a binary that cannot crash.
pub fn arm(spec: &str) -> Result<(), FailpointError> {
    let points = parse(spec)?;
    #[cfg(feature = "failpoints")]
    {
        let mut armed = armed::POINTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        armed.extend(points);
        armed::ANY.store(!armed.is_empty(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = points;
        Err(FailpointError::NotBuilt)
    }
}

/// Counts a hit of `name` and aborts the process when an armed count runs out.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &'static str) {
    armed::hit(name);
}

/// A crash point: aborts the process here when armed (feature `failpoints`); nothing otherwise.
/// `crash_point!(NAME, when COND)` counts a hit only where `COND` holds (evaluated only with
/// the feature).
macro_rules! crash_point {
    ($name:expr $(, when $cond:expr)?) => {
        #[cfg(feature = "failpoints")]
        {
            if true $(&& $cond)? {
                $crate::failpoint::hit($name);
            }
        }
    };
}
pub(crate) use crash_point;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("blob-written").unwrap(), vec![(BLOB_WRITTEN, 1)]);
        assert_eq!(
            parse("gc-after-forget@3, complete-after-commit").unwrap(),
            vec![(GC_AFTER_FORGET, 3), (COMPLETE_AFTER_COMMIT, 1)]
        );
        assert!(matches!(parse("blob-writen"), Err(FailpointError::Unknown(_))));
        assert!(matches!(parse("blob-written@0"), Err(FailpointError::BadCount(_))));
        assert!(matches!(parse("blob-written@x"), Err(FailpointError::BadCount(_))));
    }

    #[cfg(not(feature = "failpoints"))]
    #[test]
    fn arming_needs_the_feature() {
        assert!(matches!(arm("blob-written"), Err(FailpointError::NotBuilt)));
    }
}
