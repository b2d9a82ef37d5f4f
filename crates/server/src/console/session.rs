//! Console sessions: a server-side table of random ids with idle and absolute expiry, the
//! per-session CSRF token, and the checks every state-changing request passes.
//!
//! A session is only ever in this process's memory: a restart logs everyone out (the cost of
//! keeping no secret at rest), and gateways behind one load balancer need sticky sessions for
//! the console. The clock is a parameter, so the expiry rules are tested without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "s3gate_console";
/// The header the console's JavaScript carries the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-s3gate-csrf";
/// Sessions kept at most; a login beyond it evicts the session idle the longest.
const CAPACITY: usize = 10_000;

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused this long is gone.
    pub idle: Duration,
    /// A session is gone this long after its login, used or not.
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits { idle: Duration::from_mins(30), absolute: Duration::from_hours(12) }
    }
}

/// One logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The access key the user logged in with: each request resolves it again (a disabled
    /// key ends the session).
    pub(crate) access_key_id: String,
    /// The token every state-changing request must carry.
    pub(crate) csrf: String,
    created: Instant,
    last_used: Instant,
}

/// Why a request has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSession {
    /// No cookie, or an id the table does not hold (logged out, or the gateway restarted).
    Missing,
    /// The session passed its idle or absolute limit (and is now deleted).
    Expired,
}

/// The session table.
pub(crate) struct Sessions {
    limits: SessionLimits,
    table: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes in hex; `None` if the OS has no randomness to give.
fn random_token() -> Option<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).ok()?;
    Some(hex::encode(raw))
}

impl Sessions {
    pub(crate) fn new(limits: SessionLimits) -> Self {
        Sessions { limits, table: Mutex::new(HashMap::new()) }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for `access_key_id`: its id (the cookie's value) and the session.
    pub(crate) fn create(&self, access_key_id: &str, now: Instant) -> Option<(String, Session)> {
        let id = random_token()?;
        let session = Session {
            access_key_id: access_key_id.to_owned(),
            csrf: random_token()?,
            created: now,
            last_used: now,
        };
        let mut table = self.table();
        if table.len() >= CAPACITY {
            self.sweep(&mut table, now);
            if table.len() >= CAPACITY
                && let Some(oldest) =
                    table.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone())
            {
                table.remove(&oldest);
            }
        }
        table.insert(id.clone(), session.clone());
        Some((id, session))
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_used) >= self.limits.idle
            || now.saturating_duration_since(s.created) >= self.limits.absolute
    }

    fn sweep(&self, table: &mut HashMap<String, Session>, now: Instant) {
        table.retain(|_, s| !self.expired(s, now));
    }

    /// The live session `id`, marked used at `now`.
    pub(crate) fn get(&self, id: &str, now: Instant) -> Result<Session, NoSession> {
        let mut table = self.table();
        let Some(s) = table.get_mut(id) else { return Err(NoSession::Missing) };
        if self.expired(s, now) {
            table.remove(id);
            return Err(NoSession::Expired);
        }
        s.last_used = now;
        Ok(s.clone())
    }

    /// Ends session `id` (logout); ending one that is gone is no error.
    pub(crate) fn remove(&self, id: &str) {
        self.table().remove(id);
    }
}

/// Whether `a` equals `b`, in time that depends only on their lengths (for secrets and tokens).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The `Set-Cookie` value of a new session (`Secure` when the console is served over TLS).
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that deletes the session cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// Why a state-changing request is refused before it does anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsrfRefusal {
    /// The `Origin` header names another origin.
    CrossOrigin,
    /// No token, or not the session's.
    BadToken,
}

/// The checks of a state-changing request: an `Origin`, when the browser sent one, must be
/// the console's own (`expected`, e.g. `http://127.0.0.1:9300`); the token must be the
/// session's.
pub(crate) fn check_csrf(
    origin: Option<&str>,
    expected: &str,
    token: Option<&str>,
    session: &Session,
) -> Result<(), CsrfRefusal> {
    if let Some(o) = origin
        && !o.eq_ignore_ascii_case(expected)
    {
        return Err(CsrfRefusal::CrossOrigin);
    }
    match token {
        Some(t) if constant_time_eq(t.as_bytes(), session.csrf.as_bytes()) => Ok(()),
        _ => Err(CsrfRefusal::BadToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SessionLimits {
        SessionLimits { idle: Duration::from_mins(1), absolute: Duration::from_mins(5) }
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let sessions = Sessions::new(limits());
        let t0 = Instant::now();
        let (id, s) = sessions.create("AK", t0).unwrap();
        assert_eq!(s.access_key_id, "AK");
        assert_eq!((id.len(), s.csrf.len()), (64, 64));
        assert_ne!(id, s.csrf);
        // Used every 50 s, it stays alive past the idle limit...
        for i in 1..=5 {
            assert!(sessions.get(&id, t0 + Duration::from_secs(50 * i)).is_ok(), "{i}");
        }
        // ...but not past the absolute one, and then it is gone.
        assert_eq!(sessions.get(&id, t0 + Duration::from_mins(5)), Err(NoSession::Expired));
        assert_eq!(sessions.get(&id, t0 + Duration::from_secs(301)), Err(NoSession::Missing));
        // Idle for the limit: expired.
        let (id, _) = sessions.create("AK", t0).unwrap();
        assert!(sessions.get(&id, t0 + Duration::from_secs(59)).is_ok());
        let late = t0 + Duration::from_secs(59 + 60);
        assert_eq!(sessions.get(&id, late), Err(NoSession::Expired));
    }

    #[test]
    fn logout_and_unknown_ids() {
        let sessions = Sessions::new(limits());
        let t0 = Instant::now();
        let (a, _) = sessions.create("A", t0).unwrap();
        let (b, _) = sessions.create("B", t0).unwrap();
        assert_ne!(a, b);
        sessions.remove(&a);
        sessions.remove(&a);
        assert_eq!(sessions.get(&a, t0), Err(NoSession::Missing));
        assert_eq!(sessions.get(&b, t0).unwrap().access_key_id, "B");
        assert_eq!(sessions.get("", t0), Err(NoSession::Missing));
    }

    #[test]
    fn csrf_checks() {
        let sessions = Sessions::new(limits());
        let (_, s) = sessions.create("A", Instant::now()).unwrap();
        let me = "http://127.0.0.1:9300";
        let token = s.csrf.clone();
        let check = |origin, t: Option<&str>| check_csrf(origin, me, t, &s);
        assert_eq!(check(Some(me), Some(&token)), Ok(()));
        assert_eq!(check(None, Some(&token)), Ok(()));
        assert_eq!(check(Some("HTTP://127.0.0.1:9300"), Some(&token)), Ok(()));
        assert_eq!(
            check(Some("http://127.0.0.1:9301"), Some(&token)),
            Err(CsrfRefusal::CrossOrigin)
        );
        assert_eq!(check(Some("null"), Some(&token)), Err(CsrfRefusal::CrossOrigin));
        assert_eq!(check(Some(me), None), Err(CsrfRefusal::BadToken));
        assert_eq!(check(Some(me), Some("")), Err(CsrfRefusal::BadToken));
        assert_eq!(check(Some(me), Some(&token[1..])), Err(CsrfRefusal::BadToken));
        let mut wrong = token.clone().into_bytes();
        wrong[10] = if wrong[10] == b'a' { b'b' } else { b'a' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert_eq!(check(Some(me), Some(&wrong)), Err(CsrfRefusal::BadToken));
    }

    #[test]
    fn cookies() {
        let h = "a=1; s3gate_console=abc; b=2";
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie("s3gate_console_x=1", COOKIE), None);
        assert_eq!(cookie("", COOKIE), None);
        assert_eq!(set_cookie("id", false), "s3gate_console=id; Path=/; HttpOnly; SameSite=Strict");
        assert!(set_cookie("id", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
