//! A request as received, and the credentials lookup: the inputs every verifier shares.

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

/// Looks up the secret key of an access key id. Sync: the server pre-fetches.
pub trait CredentialsProvider {
    /// The secret key of `access_key_id`, or `None` if the key is unknown.
    fn secret_key(&self, access_key_id: &str) -> Option<String>;
}

impl<S: std::hash::BuildHasher> CredentialsProvider for HashMap<String, String, S> {
    fn secret_key(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

/// One request as received.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `PUT`.
    pub method: &'a str,
    /// The path exactly as on the wire (percent-encoded, not normalised).
    pub raw_path: &'a str,
    /// The part after `?` exactly as on the wire; `None` when there is no `?`.
    pub raw_query: Option<&'a str>,
    /// Headers in arrival order, names in any case; repeated headers appear repeatedly.
    pub headers: &'a [(&'a str, &'a str)],
}

/// The first value of header `name` (any case).
pub(crate) fn header<'a>(req: &RequestParts<'a>, name: &str) -> Option<&'a str> {
    req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
}

/// The decoded value of the first query parameter named exactly `name`.
pub(crate) fn query_param(raw_query: Option<&str>, name: &str) -> Option<String> {
    raw_query?.split('&').find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode_str(n).decode_utf8().ok()? == name)
            .then(|| percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}
