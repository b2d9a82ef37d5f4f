//! Object lock (WORM) state of one version, and the rules that change it.
//!
//! The rules are decided here, once, and every store applies them inside the transaction that
//! reads and writes the version, so no interleaving of requests (or gateways sharing one
//! PostgreSQL) can delete a locked version or shorten its retention. "Now" is always the
//! gateway's clock, passed in by the caller; the client's clock is never consulted.

use std::time::{Duration, SystemTime};

use crate::MetaError;

/// A retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Removable or shortenable by a caller allowed to bypass governance retention.
    Governance,
    /// Nobody can shorten or remove it before it expires.
    Compliance,
}

impl LockMode {
    /// The mode as S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    /// Parses S3's spelling (exact case, as AWS requires).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A retention period: the version cannot be deleted before `until` (as `mode` allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Mode.
    pub mode: LockMode,
    /// Retain-until date.
    pub until: SystemTime,
}

/// The lock state of one version: a retention and a legal hold, independent of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectLock {
    /// Retention, if any was set (it may have expired).
    pub retention: Option<Retention>,
    /// Legal hold: blocks deletion whatever the retention says, until turned off.
    pub legal_hold: bool,
}

/// A change to a version's lock ([`crate::MetadataStore::set_object_lock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockChange {
    /// PutObjectRetention: set (or with `None`, remove) the retention. `bypass` is
    /// `x-amz-bypass-governance-retention: true` from a caller allowed to bypass.
    Retention {
        /// The new retention.
        retention: Option<Retention>,
        /// Governance retention may be shortened or removed.
        bypass: bool,
    },
    /// PutObjectLegalHold.
    LegalHold(bool),
}

impl ObjectLock {
    /// Whether nothing is set.
    pub fn is_none(&self) -> bool {
        self.retention.is_none() && !self.legal_hold
    }

    /// The retention still in force at `now`.
    pub fn active_retention(&self, now: SystemTime) -> Option<Retention> {
        self.retention.filter(|r| r.until > now)
    }

    /// Whether deleting the version at `now` is refused ([`MetaError::ObjectLocked`]): a legal
    /// hold, a compliance retention in force, or a governance retention in force without bypass.
    pub fn blocks_delete(&self, now: SystemTime, bypass: bool) -> bool {
        self.legal_hold
            || self.active_retention(now).is_some_and(|r| r.mode == LockMode::Compliance || !bypass)
    }

    /// The lock after `change` at `now`, or [`MetaError::ObjectLocked`] if the rules forbid it:
    /// a retention in force may always be kept or extended in its mode; a governance one may be
    /// shortened, removed or changed in mode only with bypass; a compliance one never.
    pub fn changed(&self, change: LockChange, now: SystemTime) -> Result<ObjectLock, MetaError> {
        match change {
            LockChange::LegalHold(on) => Ok(ObjectLock { legal_hold: on, ..*self }),
            LockChange::Retention { retention, bypass } => {
                if let Some(cur) = self.active_retention(now) {
                    let extends =
                        retention.is_some_and(|new| new.mode == cur.mode && new.until >= cur.until);
                    let allowed = extends || (cur.mode == LockMode::Governance && bypass);
                    if !allowed {
                        return Err(MetaError::ObjectLocked);
                    }
                }
                Ok(ObjectLock { retention, ..*self })
            }
        }
    }

    /// The stored form: `MODE UNTIL HOLD` (`-` for no retention; UNTIL in nanoseconds since
    /// the epoch; HOLD `ON` or `OFF`), `None` when nothing is set. PostgreSQL's delete check
    /// reads this form (migration 0007), so it never changes.
    pub fn to_column(&self) -> Option<String> {
        if self.is_none() {
            return None;
        }
        let hold = if self.legal_hold { "ON" } else { "OFF" };
        Some(match self.retention {
            Some(r) => format!("{} {} {hold}", r.mode.as_str(), nanos(r.until)),
            None => format!("- - {hold}"),
        })
    }

    /// Parses [`Self::to_column`]'s form.
    pub fn from_column(column: Option<&str>) -> Result<ObjectLock, MetaError> {
        let Some(text) = column else { return Ok(ObjectLock::default()) };
        let bad = || MetaError::Backend(format!("malformed object lock column {text:?}").into());
        let mut it = text.split(' ');
        let (Some(mode), Some(until), Some(hold), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(bad());
        };
        let legal_hold = match hold {
            "ON" => true,
            "OFF" => false,
            _ => return Err(bad()),
        };
        let retention = match (mode, until) {
            ("-", "-") => None,
            (m, u) => {
                let mode = LockMode::parse(m).ok_or_else(bad)?;
                let n: u64 = u.parse().map_err(|_| bad())?;
                Some(Retention { mode, until: SystemTime::UNIX_EPOCH + Duration::from_nanos(n) })
            }
        };
        Ok(ObjectLock { retention, legal_hold })
    }
}

/// Nanoseconds since the epoch, saturating (dates before it count as the epoch).
fn nanos(t: SystemTime) -> u64 {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: LockMode = LockMode::Governance;
    const C: LockMode = LockMode::Compliance;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[allow(clippy::unnecessary_wraps, reason = "the cases read as values of the field")]
    fn ret(mode: LockMode, until: u64) -> Option<Retention> {
        Some(Retention { mode, until: at(until) })
    }

    #[test]
    fn column_round_trips() {
        for lock in [
            ObjectLock::default(),
            ObjectLock { retention: ret(G, 100), legal_hold: false },
            ObjectLock { retention: ret(C, 1_900_000_000), legal_hold: true },
            ObjectLock { retention: None, legal_hold: true },
        ] {
            let col = lock.to_column();
            assert_eq!(ObjectLock::from_column(col.as_deref()).unwrap(), lock, "{col:?}");
        }
        assert_eq!(ObjectLock::default().to_column(), None);
        assert_eq!(
            ObjectLock { retention: ret(C, 2), legal_hold: false }.to_column().unwrap(),
            "COMPLIANCE 2000000000 OFF"
        );
        for bad in ["", "X 1 ON", "GOVERNANCE x ON", "- - maybe", "- - ON extra"] {
            assert!(ObjectLock::from_column(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn deletion_rules() {
        let now = at(50);
        let check = |retention, hold, bypass, blocked| {
            let lock = ObjectLock { retention, legal_hold: hold };
            assert_eq!(lock.blocks_delete(now, bypass), blocked, "{lock:?} bypass={bypass}");
        };
        check(None, false, false, false);
        check(None, true, true, true);
        check(ret(G, 100), false, false, true);
        check(ret(G, 100), false, true, false);
        check(ret(G, 100), true, true, true);
        check(ret(C, 100), false, true, true);
        check(ret(C, 50), false, false, false); // expired exactly now
        check(ret(C, 10), false, false, false);
    }

    #[test]
    fn retention_change_rules() {
        let now = at(50);
        let check = |cur, new, bypass, ok: bool| {
            let lock = ObjectLock { retention: cur, legal_hold: false };
            let got = lock.changed(LockChange::Retention { retention: new, bypass }, now);
            assert_eq!(got.is_ok(), ok, "{cur:?} -> {new:?} bypass={bypass}");
            if ok {
                assert_eq!(got.unwrap().retention, new);
            } else {
                assert!(matches!(got, Err(MetaError::ObjectLocked)));
            }
        };
        // Nothing set, or expired: anything goes.
        check(None, ret(C, 100), false, true);
        check(ret(C, 10), None, false, true);
        check(ret(C, 10), ret(G, 20), false, true);
        // Governance: extend freely; shorten, remove, change mode only with bypass.
        check(ret(G, 100), ret(G, 200), false, true);
        check(ret(G, 100), ret(G, 100), false, true);
        check(ret(G, 100), ret(G, 60), false, false);
        check(ret(G, 100), ret(G, 60), true, true);
        check(ret(G, 100), None, false, false);
        check(ret(G, 100), None, true, true);
        check(ret(G, 100), ret(C, 100), false, false);
        check(ret(G, 100), ret(C, 100), true, true);
        // Compliance: extend only, whoever asks.
        check(ret(C, 100), ret(C, 200), false, true);
        check(ret(C, 100), ret(C, 60), true, false);
        check(ret(C, 100), ret(G, 200), true, false);
        check(ret(C, 100), None, true, false);
    }

    #[test]
    fn legal_hold_is_independent() {
        let lock = ObjectLock { retention: ret(C, 100), legal_hold: false };
        let held = lock.changed(LockChange::LegalHold(true), at(50)).unwrap();
        assert_eq!(held, ObjectLock { retention: ret(C, 100), legal_hold: true });
        let off = held.changed(LockChange::LegalHold(false), at(50)).unwrap();
        assert_eq!(off, lock);
    }
}
