//! Adapters from the `http` crate's types to [`RequestParts`](crate::RequestParts) pieces.

/// Header pairs of `map` in arrival order, for [`RequestParts::headers`](crate::RequestParts).
/// `None` if a value is not UTF-8: such a request cannot be verified (answer 400).
pub fn header_pairs(map: &http::HeaderMap) -> Option<Vec<(&str, &str)>> {
    map.iter().map(|(n, v)| Some((n.as_str(), std::str::from_utf8(v.as_bytes()).ok()?))).collect()
}

/// The raw path and raw query of `uri` (an empty path becomes `/`).
pub fn path_and_query(uri: &http::Uri) -> (&str, Option<&str>) {
    let path = uri.path();
    (if path.is_empty() { "/" } else { path }, uri.query())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapters() {
        let uri: http::Uri = "http://h/a%20b?x=1".parse().expect("uri");
        assert_eq!(path_and_query(&uri), ("/a%20b", Some("x=1")));
        let mut map = http::HeaderMap::new();
        map.append("x-a", http::HeaderValue::from_static("1"));
        map.append("x-a", http::HeaderValue::from_static("2"));
        assert_eq!(header_pairs(&map), Some(vec![("x-a", "1"), ("x-a", "2")]));
        map.append("x-b", http::HeaderValue::from_bytes(b"\xff").expect("value"));
        assert_eq!(header_pairs(&map), None);
    }
}
