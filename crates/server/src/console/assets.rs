//! The console's CSS and JavaScript, embedded in the binary (no build step, no CDN).

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{self, ResponseBody};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The response serving asset `name` (one of `routes::ASSETS`).
pub(crate) fn response(name: &str) -> Response<ResponseBody> {
    let (text, kind) = match name {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => {
            let mut r = Response::new(body::empty());
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
    };
    let mut r = Response::new(body::full(text));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The binary's assets change only with the binary: an hour in the browser's cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_routed_asset_is_embedded() {
        for name in super::super::routes::ASSETS {
            let r = super::response(name);
            assert_eq!(r.status(), http::StatusCode::OK, "{name}");
        }
        assert_eq!(super::response("nope").status(), http::StatusCode::NOT_FOUND);
    }
}
