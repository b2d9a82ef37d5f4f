//! The console's routes as data: method and raw path → [`Page`], tested as a table.

use http::Method;

/// What a console request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Page {
    /// `/`: the bucket list, or the login form.
    Home,
    /// `GET /login`.
    LoginForm,
    /// `POST /login`: access key id and secret.
    Login,
    /// `POST /logout`.
    Logout,
    /// `GET /b/{bucket}`: a listing (query: `prefix`, `token`).
    Bucket { bucket: String },
    /// `GET /o/{bucket}/{key}`: an object's details.
    Object { bucket: String, key: String },
    /// `POST /share`: a presigned GET URL (JSON).
    Share,
    /// `GET /assets/{name}`: an embedded asset.
    Asset(&'static str),
    /// `/s3/{path}`: an S3 request run as the session's user (`path` raw, from its `/`).
    S3 { path: String },
    /// `GET /settings/{bucket}`: versioning and the stored configurations.
    Settings { bucket: String },
    /// `GET /iam`: users, groups and policies (root).
    Iam,
    /// `/admin/v1/...`: the admin API (root), as on the operations listener.
    Admin { path: String },
    /// `GET /dashboard`: charts of the gateway's metrics (root).
    Dashboard,
}

/// Why a request names no page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteError {
    NotFound,
    MethodNotAllowed,
}

/// The embedded assets, by name.
pub(crate) const ASSETS: &[&str] = &["console.css", "console.js"];

/// Percent-decodes one path segment (or a key with its slashes); `None` if not UTF-8.
pub(crate) fn decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

/// The page of `method` on `raw_path`.
pub(crate) fn route(method: &Method, raw_path: &str) -> Result<Page, RouteError> {
    let (get, post) = (method == Method::GET || method == Method::HEAD, method == Method::POST);
    let only = |ok: bool, page: Page| if ok { Ok(page) } else { Err(RouteError::MethodNotAllowed) };
    if let Some(rest) = raw_path.strip_prefix("/s3/") {
        let allowed = [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::DELETE];
        return only(allowed.contains(method), Page::S3 { path: format!("/{rest}") });
    }
    if raw_path.starts_with("/admin/v1/") {
        let allowed = [Method::GET, Method::PUT, Method::POST, Method::DELETE];
        return only(allowed.contains(method), Page::Admin { path: raw_path.to_owned() });
    }
    if let Some(rest) = raw_path.strip_prefix("/settings/") {
        if rest.is_empty() || rest.contains('/') {
            return Err(RouteError::NotFound);
        }
        let bucket = decode(rest).ok_or(RouteError::NotFound)?;
        return only(get, Page::Settings { bucket });
    }
    if let Some(name) = raw_path.strip_prefix("/assets/") {
        let asset = ASSETS.iter().find(|a| **a == name).ok_or(RouteError::NotFound)?;
        return only(get, Page::Asset(asset));
    }
    if let Some(rest) = raw_path.strip_prefix("/b/") {
        if rest.is_empty() || rest.contains('/') {
            return Err(RouteError::NotFound);
        }
        let bucket = decode(rest).ok_or(RouteError::NotFound)?;
        return only(get, Page::Bucket { bucket });
    }
    if let Some(rest) = raw_path.strip_prefix("/o/") {
        let (bucket, key) = rest.split_once('/').ok_or(RouteError::NotFound)?;
        if bucket.is_empty() || key.is_empty() {
            return Err(RouteError::NotFound);
        }
        let bucket = decode(bucket).ok_or(RouteError::NotFound)?;
        let key = decode(key).ok_or(RouteError::NotFound)?;
        return only(get, Page::Object { bucket, key });
    }
    match raw_path {
        "/" => only(get, Page::Home),
        "/login" if post => Ok(Page::Login),
        "/login" => only(get, Page::LoginForm),
        "/logout" => only(post, Page::Logout),
        "/share" => only(post, Page::Share),
        "/iam" => only(get, Page::Iam),
        "/dashboard" => only(get, Page::Dashboard),
        _ => Err(RouteError::NotFound),
    }
}

/// Whether a request may change state (and so must pass the CSRF checks).
pub(crate) fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// The `name=value` pairs of a query string or form body, decoded (`+` is a space).
pub(crate) fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(&k.replace('+', " "))?, decode(&v.replace('+', " "))?))
        })
        .collect()
}

/// The first value of `name` in `pairs`.
pub(crate) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &Method, path: &str, expected: &Result<Page, RouteError>) {
        assert_eq!(&route(method, path), expected, "{method} {path}");
    }

    #[test]
    fn routes() {
        use Page as P;
        use RouteError::{MethodNotAllowed as NA, NotFound as NF};
        let (get, post, put, delete) = (&Method::GET, &Method::POST, &Method::PUT, &Method::DELETE);
        let bucket = |b: &str| Ok(P::Bucket { bucket: b.into() });
        let object = |b: &str, k: &str| Ok(P::Object { bucket: b.into(), key: k.into() });
        let s3 = |p: &str| Ok(P::S3 { path: p.into() });
        let cases: Vec<(&Method, &str, Result<Page, RouteError>)> = vec![
            (get, "/", Ok(P::Home)),
            (&Method::HEAD, "/", Ok(P::Home)),
            (post, "/", Err(NA)),
            (get, "/login", Ok(P::LoginForm)),
            (post, "/login", Ok(P::Login)),
            (delete, "/login", Err(NA)),
            (post, "/logout", Ok(P::Logout)),
            (get, "/logout", Err(NA)),
            (post, "/share", Ok(P::Share)),
            (get, "/share", Err(NA)),
            (get, "/b/photos", bucket("photos")),
            (post, "/b/photos", Err(NA)),
            (get, "/b/", Err(NF)),
            (get, "/b/photos/x", Err(NF)),
            (get, "/o/photos/a/b%20c.jpg", object("photos", "a/b c.jpg")),
            (get, "/o/photos/%C3%A9", object("photos", "é")),
            (get, "/o/photos/%FF", Err(NF)),
            (get, "/o/photos/", Err(NF)),
            (get, "/o/photos", Err(NF)),
            (put, "/o/photos/k", Err(NA)),
            (get, "/assets/console.css", Ok(P::Asset("console.css"))),
            (get, "/assets/console.js", Ok(P::Asset("console.js"))),
            (get, "/assets/../Cargo.toml", Err(NF)),
            (post, "/assets/console.js", Err(NA)),
            (get, "/s3/photos/a%2Fb?x", s3("/photos/a%2Fb?x")),
            (put, "/s3/photos/k", s3("/photos/k")),
            (post, "/s3/photos/k", s3("/photos/k")),
            (delete, "/s3/photos", s3("/photos")),
            (&Method::HEAD, "/s3/photos/k", s3("/photos/k")),
            (&Method::OPTIONS, "/s3/photos/k", Err(NA)),
            (&Method::PATCH, "/s3/photos/k", Err(NA)),
            (get, "/settings/photos", Ok(P::Settings { bucket: "photos".into() })),
            (put, "/settings/photos", Err(NA)),
            (get, "/settings/", Err(NF)),
            (get, "/iam", Ok(P::Iam)),
            (post, "/iam", Err(NA)),
            (get, "/dashboard", Ok(P::Dashboard)),
            (get, "/admin/v1/users", Ok(P::Admin { path: "/admin/v1/users".into() })),
            (
                put,
                "/admin/v1/users/u/keys/K",
                Ok(P::Admin { path: "/admin/v1/users/u/keys/K".into() }),
            ),
            (&Method::PATCH, "/admin/v1/users", Err(NA)),
            (get, "/admin/v2/users", Err(NF)),
            (get, "/nothing", Err(NF)),
            (get, "", Err(NF)),
        ];
        for (m, p, e) in cases {
            check(m, p, &e);
        }
    }

    #[test]
    fn state_changing_methods() {
        for (m, changes) in [
            (Method::GET, false),
            (Method::HEAD, false),
            (Method::POST, true),
            (Method::PUT, true),
            (Method::DELETE, true),
        ] {
            assert_eq!(changes_state(&m), changes, "{m}");
        }
    }

    #[test]
    fn forms() {
        let pairs = form_pairs("access_key=AK%2B1&secret=a+b&empty=&flag&bad=%FF");
        assert_eq!(field(&pairs, "access_key"), Some("AK+1"));
        assert_eq!(field(&pairs, "secret"), Some("a b"));
        assert_eq!(field(&pairs, "empty"), Some(""));
        assert_eq!(field(&pairs, "flag"), Some(""));
        assert_eq!(field(&pairs, "bad"), None);
        assert_eq!(field(&pairs, "missing"), None);
        assert!(form_pairs("").is_empty());
    }
}
