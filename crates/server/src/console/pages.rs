//! The console's HTML, rendered on the server from plain data (no template engine: every
//! value passes through [`esc`]). Each page carries the session's CSRF token in a `<meta>`
//! for the script, and shows only the actions the user's policies allow.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::service::console::{ObjectDetails, uri_encode};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A byte count as people read it.
pub(crate) fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss, reason = "a displayed approximation")]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

fn time(t: SystemTime) -> String {
    s3gate_protocol::format_iso8601(t)
}

/// Who is logged in, for the header of every page.
pub(crate) struct Viewer<'a> {
    pub(crate) user: &'a str,
    pub(crate) is_root: bool,
    pub(crate) csrf: &'a str,
}

/// A whole page: `title`, the navigation (when logged in) and `body`.
pub(crate) fn layout(title: &str, viewer: Option<&Viewer<'_>>, body: &str) -> String {
    let mut out = String::new();
    let csrf = viewer.map_or(String::new(), |v| esc(v.csrf));
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf\" content=\"{csrf}\"><title>{} · s3gate console</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a><header><a class=\"brand\" href=\"/\">s3gate</a>",
        esc(title)
    );
    if let Some(v) = viewer {
        let role = if v.is_root { " (root)" } else { "" };
        let _ = write!(
            out,
            "<nav aria-label=\"Main\"><a href=\"/\">Buckets</a>{}</nav>\
             <form class=\"logout\" method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <span class=\"who\">{}{role}</span> <button type=\"submit\">Log out</button></form>",
            if v.is_root {
                " <a href=\"/iam\">Users &amp; policies</a> <a href=\"/dashboard\">Dashboard</a>"
            } else {
                ""
            },
            esc(v.user)
        );
    }
    let _ = write!(
        out,
        "</header><main id=\"main\"><h1>{}</h1>\
         <p id=\"status\" role=\"status\" aria-live=\"polite\"></p>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// The login form, with a notice (`expired`, a refused login).
pub(crate) fn login(notice: Option<&str>) -> String {
    let notice = notice
        .map_or(String::new(), |n| format!("<p class=\"notice\" role=\"alert\">{}</p>", esc(n)));
    let body = format!(
        "{notice}<form class=\"login\" method=\"post\" action=\"/login\">\
         <label for=\"access_key\">Access key id</label>\
         <input id=\"access_key\" name=\"access_key\" autocomplete=\"username\" required autofocus>\
         <label for=\"secret_key\">Secret access key</label>\
         <input id=\"secret_key\" name=\"secret_key\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Log in</button></form>"
    );
    layout("Log in", None, &body)
}

/// One bucket of the list.
pub(crate) struct BucketRow {
    pub(crate) name: String,
    pub(crate) created: SystemTime,
    pub(crate) owner: String,
}

/// The bucket list, with the create form when the user may create buckets.
pub(crate) fn buckets(viewer: &Viewer<'_>, rows: &[BucketRow], may_create: bool) -> String {
    let mut body = String::new();
    if may_create {
        body.push_str(
            "<form id=\"create-bucket\" class=\"inline\"><label for=\"new-bucket\">New bucket</label>\
             <input id=\"new-bucket\" name=\"bucket\" required pattern=\"[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]\" \
             aria-describedby=\"new-bucket-help\"><button type=\"submit\">Create bucket</button>\
             <small id=\"new-bucket-help\">3–63 lowercase letters, digits, dots and hyphens</small></form>",
        );
    }
    if rows.is_empty() {
        body.push_str("<p>No buckets yet.</p>");
    } else {
        body.push_str(
            "<table><caption class=\"sr\">Buckets</caption><thead><tr><th scope=\"col\">Name</th>\
             <th scope=\"col\">Owner</th><th scope=\"col\">Created</th></tr></thead><tbody>",
        );
        for b in rows {
            let _ = write!(
                body,
                "<tr><td><a href=\"/b/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                uri_encode(&b.name, false),
                esc(&b.name),
                esc(&b.owner),
                time(b.created)
            );
        }
        body.push_str("</tbody></table>");
    }
    layout("Buckets", Some(viewer), &body)
}

/// One row of a listing.
pub(crate) enum Row {
    Folder(String),
    Object { key: String, size: u64, modified: SystemTime, may_delete: bool },
}

/// What the bucket page may offer.
pub(crate) struct BucketActions {
    pub(crate) upload: bool,
    pub(crate) delete_bucket: bool,
}

/// A bucket listing under `prefix`.
#[allow(clippy::too_many_lines, reason = "one page, top to bottom")]
pub(crate) fn bucket(
    viewer: &Viewer<'_>,
    bucket: &str,
    prefix: &str,
    rows: &[Row],
    next_token: Option<&str>,
    actions: &BucketActions,
) -> String {
    let b = uri_encode(bucket, false);
    let mut body = String::new();
    // Breadcrumbs: the bucket, then each folder of the prefix.
    let _ = write!(
        body,
        "<nav aria-label=\"Breadcrumb\" class=\"crumbs\"><a href=\"/b/{b}\">{}</a>",
        esc(bucket)
    );
    let mut at = String::new();
    for part in prefix.split_terminator('/') {
        at.push_str(part);
        at.push('/');
        let _ = write!(
            body,
            " / <a href=\"/b/{b}?prefix={}\">{}</a>",
            uri_encode(&at, false),
            esc(part)
        );
    }
    body.push_str("</nav>");
    let _ = write!(
        body,
        "<form class=\"inline\" method=\"get\" action=\"/b/{b}\" role=\"search\">\
         <label for=\"prefix\">Prefix</label><input id=\"prefix\" name=\"prefix\" value=\"{}\">\
         <button type=\"submit\">Search</button></form>",
        esc(prefix)
    );
    if actions.upload {
        let _ = write!(
            body,
            "<section id=\"drop\" class=\"drop\" data-bucket=\"{}\" data-prefix=\"{}\" tabindex=\"0\" \
             aria-label=\"Upload: drop files or folders here\"><p>Drop files or folders here, or \
             <label class=\"button\" for=\"files\">choose files</label></p>\
             <input id=\"files\" type=\"file\" multiple class=\"sr\"><ul id=\"uploads\"></ul></section>",
            esc(bucket),
            esc(prefix)
        );
    }
    if rows.is_empty() {
        body.push_str("<p>Nothing here.</p>");
    } else {
        body.push_str(
            "<table id=\"listing\"><caption class=\"sr\">Objects</caption><thead><tr>\
             <th scope=\"col\">Name</th><th scope=\"col\">Size</th><th scope=\"col\">Modified</th>\
             <th scope=\"col\"><span class=\"sr\">Actions</span></th></tr></thead><tbody>",
        );
        for row in rows {
            match row {
                Row::Folder(p) => {
                    let name = p.strip_prefix(prefix).unwrap_or(p);
                    let _ = write!(
                        body,
                        "<tr class=\"folder\"><td><a href=\"/b/{b}?prefix={}\">{}</a></td><td></td><td></td><td></td></tr>",
                        uri_encode(p, false),
                        esc(name)
                    );
                }
                Row::Object { key, size: n, modified, may_delete } => {
                    let name = key.strip_prefix(prefix).unwrap_or(key);
                    let k = uri_encode(key, true);
                    let delete = if *may_delete {
                        format!(
                            "<button type=\"button\" class=\"danger\" data-delete=\"{}\" data-bucket=\"{}\">Delete<span class=\"sr\"> {}</span></button>",
                            esc(key),
                            esc(bucket),
                            esc(name)
                        )
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        body,
                        "<tr><td><a href=\"/o/{b}/{k}\">{}</a></td><td>{}</td><td>{}</td>\
                         <td class=\"actions\"><a href=\"{}\" download>Download<span class=\"sr\"> {}</span></a> {delete}</td></tr>",
                        esc(name),
                        size(*n),
                        time(*modified),
                        esc(&download_url(bucket, key)),
                        esc(name)
                    );
                }
            }
        }
        body.push_str("</tbody></table>");
    }
    if let Some(t) = next_token {
        let _ = write!(
            body,
            "<p><a id=\"next\" rel=\"next\" href=\"/b/{b}?prefix={}&amp;token={}\">Next page</a></p>",
            uri_encode(prefix, false),
            uri_encode(t, false)
        );
    }
    let _ = write!(body, "<p><a href=\"/settings/{b}\">Bucket settings</a></p>");
    if actions.delete_bucket {
        let _ = write!(
            body,
            "<p><button type=\"button\" class=\"danger\" id=\"delete-bucket\" data-bucket=\"{}\">Delete bucket</button></p>",
            esc(bucket)
        );
    }
    layout(bucket, Some(viewer), &body)
}

/// The console URL that downloads `bucket/key` (an S3 GET as the session's user, saved as a
/// file).
pub(crate) fn download_url(bucket: &str, key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let disposition = format!("attachment; filename=\"{}\"", name.replace(['"', '\\'], "_"));
    format!(
        "/s3/{}/{}?response-content-disposition={}",
        uri_encode(bucket, false),
        uri_encode(key, true),
        uri_encode(&disposition, false)
    )
}

/// What the object page may offer.
pub(crate) struct ObjectActions {
    pub(crate) delete: bool,
    pub(crate) restore: bool,
}

/// An object's details, versions and actions.
#[allow(clippy::too_many_lines, reason = "one page, top to bottom")]
pub(crate) fn object(
    viewer: &Viewer<'_>,
    bucket: &str,
    key: &str,
    details: &ObjectDetails,
    actions: &ObjectActions,
) -> String {
    let v = &details.version;
    let mut body = String::new();
    let b = uri_encode(bucket, false);
    let parent = key.rfind('/').map_or("", |i| &key[..=i]);
    let _ = write!(
        body,
        "<nav aria-label=\"Breadcrumb\" class=\"crumbs\"><a href=\"/b/{b}\">{}</a> / \
         <a href=\"/b/{b}?prefix={}\">{}</a></nav>",
        esc(bucket),
        uri_encode(parent, false),
        if parent.is_empty() { "(top)".to_owned() } else { esc(parent) }
    );
    body.push_str("<dl class=\"details\">");
    let mut item = |name: &str, value: &str| {
        let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(value));
    };
    item("Key", key);
    item("Size", &format!("{} ({} bytes)", size(v.size), v.size));
    item("ETag", &format!("\"{}\"", v.etag));
    item("Last modified", &time(v.last_modified));
    item("Version", &v.version_id);
    let content_type = v.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
    item("Content type", content_type.unwrap_or("binary/octet-stream"));
    if let (Some(alg), Some(sum)) = (&v.checksum_algorithm, &v.checksum) {
        let kind = v.checksum_type.as_deref().unwrap_or("");
        item("Checksum", &format!("{alg} {kind} {sum}"));
    }
    item("Encrypted", if v.encryption.is_some() { "yes (server-side)" } else { "no" });
    let lock = match (&v.lock.retention, v.lock.legal_hold) {
        (None, false) => "none".to_owned(),
        (r, hold) => {
            let mut s = r
                .as_ref()
                .map_or(String::new(), |r| format!("{} until {}", r.mode.as_str(), time(r.until)));
            if hold {
                if !s.is_empty() {
                    s.push_str(", ");
                }
                s.push_str("legal hold");
            }
            s
        }
    };
    item("Lock", &lock);
    for (k, val) in v.headers.iter().filter(|(k, _)| k.starts_with("x-amz-meta-")) {
        item(&format!("Metadata {}", &k["x-amz-meta-".len()..]), val);
    }
    for (k, val) in
        v.headers.iter().filter(|(k, _)| !k.starts_with("x-amz-meta-") && k != "content-type")
    {
        item(k, val);
    }
    match &details.tags {
        Some(tags) if tags.is_empty() => item("Tags", "none"),
        Some(tags) => {
            let t: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            item("Tags", &t.join(", "));
        }
        None => item("Tags", "(not permitted)"),
    }
    body.push_str("</dl><p class=\"actions\">");
    let _ = write!(
        body,
        "<a class=\"button\" id=\"download\" href=\"{}\" download>Download</a> ",
        esc(&download_url(bucket, key))
    );
    if actions.delete {
        let _ = write!(
            body,
            "<button type=\"button\" class=\"danger\" data-delete=\"{}\" data-bucket=\"{}\" data-then=\"/b/{b}?prefix={}\">Delete</button>",
            esc(key),
            esc(bucket),
            uri_encode(parent, false)
        );
    }
    body.push_str("</p>");
    let _ = write!(
        body,
        "<form id=\"share\" class=\"inline\" data-bucket=\"{}\" data-key=\"{}\">\
         <label for=\"expires\">Share link valid for</label><select id=\"expires\" name=\"expires\">\
         <option value=\"3600\">1 hour</option><option value=\"86400\" selected>1 day</option>\
         <option value=\"604800\">7 days</option></select><button type=\"submit\">Create link</button>\
         <label for=\"share-url\" class=\"sr\">Share link</label><input id=\"share-url\" readonly hidden></form>",
        esc(bucket),
        esc(key)
    );
    if let Some(versions) = &details.versions
        && versions.len() > 1
    {
        body.push_str(
            "<h2>Versions</h2><table id=\"versions\"><thead><tr><th scope=\"col\">Version</th>\
             <th scope=\"col\">Size</th><th scope=\"col\">Modified</th><th scope=\"col\"><span class=\"sr\">Actions</span></th></tr></thead><tbody>",
        );
        for r in versions {
            let what = if r.is_delete_marker { "delete marker".to_owned() } else { size(r.size) };
            let latest = if r.is_latest { " (latest)" } else { "" };
            let restore = if actions.restore && !r.is_latest && !r.is_delete_marker {
                format!(
                    "<button type=\"button\" data-restore=\"{}\" data-bucket=\"{}\" data-key=\"{}\">Restore</button>",
                    esc(&r.version_id),
                    esc(bucket),
                    esc(key)
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr><td><code>{}</code>{latest}</td><td>{what}</td><td>{}</td><td>{restore}</td></tr>",
                esc(&r.version_id),
                time(r.last_modified)
            );
        }
        body.push_str("</tbody></table>");
    }
    layout(key.rsplit('/').next().unwrap_or(key), Some(viewer), &body)
}

/// The bucket settings page.
pub(crate) fn settings(
    viewer: &Viewer<'_>,
    bucket: &str,
    s: &crate::service::console::BucketSettings,
) -> String {
    use s3gate_metadata::Versioning;
    let mut body = format!(
        "<nav aria-label=\"Breadcrumb\" class=\"crumbs\"><a href=\"/b/{}\">{}</a></nav><h2>Versioning</h2>",
        uri_encode(bucket, false),
        esc(bucket)
    );
    match s.versioning {
        None => body.push_str("<p>(not permitted)</p>"),
        Some(v) => {
            let (state, next) = match v {
                Versioning::Unversioned => ("never enabled", "Enabled"),
                Versioning::Enabled => ("enabled", "Suspended"),
                Versioning::Suspended => ("suspended", "Enabled"),
            };
            let _ =
                write!(body, "<p id=\"versioning\">Versioning is <strong>{state}</strong>.</p>");
            if s.may_set_versioning {
                let verb =
                    if next == "Enabled" { "Enable versioning" } else { "Suspend versioning" };
                let _ = write!(
                    body,
                    "<p><button type=\"button\" data-versioning=\"{next}\" data-bucket=\"{}\">{verb}</button></p>",
                    esc(bucket)
                );
            }
        }
    }
    body.push_str("<h2>Configurations</h2>");
    if s.configs.is_empty() {
        body.push_str(
            "<p>None set (no policy, CORS, encryption, lifecycle or website configuration).</p>",
        );
    }
    for (kind, text) in &s.configs {
        let _ = write!(body, "<h3>{}</h3>", esc(kind));
        match text {
            Some(t) => {
                let _ = write!(body, "<pre tabindex=\"0\">{}</pre>", esc(t));
            }
            None => body.push_str("<p>(set; not permitted to read)</p>"),
        }
    }
    layout(&format!("Settings of {bucket}"), Some(viewer), &body)
}

/// The root's users, groups and policies page, from the admin API's JSON.
#[allow(clippy::too_many_lines, reason = "one page, top to bottom")]
pub(crate) fn iam(
    viewer: &Viewer<'_>,
    users: &serde_json::Value,
    groups: &serde_json::Value,
    policies: &serde_json::Value,
) -> String {
    let list = |v: &serde_json::Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
    let text = |v: &serde_json::Value| esc(v.as_str().unwrap_or(""));
    let names = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).map(esc).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let policies = list(policies, "policies");
    let mut options = String::new();
    for p in &policies {
        let _ = write!(options, "<option>{}</option>", text(&p["name"]));
    }
    let mut body = String::from("<h2>Users</h2>");
    let _ = write!(
        body,
        "<form class=\"inline\" data-method=\"POST\" data-path=\"/admin/v1/users\" data-json=\"name,policies\">\
         <label for=\"user-name\">New user</label><input id=\"user-name\" name=\"name\" required>\
         <label for=\"user-policy\">with policy</label><select id=\"user-policy\" name=\"policies\">{options}</select>\
         <button type=\"submit\">Create user</button></form>"
    );
    body.push_str(
        "<table id=\"users\"><thead><tr><th scope=\"col\">User</th><th scope=\"col\">Keys</th>\
         <th scope=\"col\">Groups</th><th scope=\"col\">Policies</th></tr></thead><tbody>",
    );
    for u in list(users, "users") {
        let name = u["name"].as_str().unwrap_or("");
        let n = uri_encode(name, false);
        let mut keys = String::new();
        for k in u["keys"].as_array().cloned().unwrap_or_default() {
            let id = k["access_key_id"].as_str().unwrap_or("");
            let active = k["status"] == "Active";
            let _ = write!(
                keys,
                "<div><code>{}</code> {}",
                esc(id),
                if active { "active" } else { "disabled" }
            );
            if u["root"] != true {
                let (to, label) =
                    if active { ("Inactive", "Disable") } else { ("Active", "Enable") };
                let _ = write!(
                    keys,
                    " <button type=\"button\" data-method=\"PUT\" data-path=\"/admin/v1/users/{n}/keys/{}\" \
                     data-body='{{\"status\":\"{to}\"}}'>{label}<span class=\"sr\"> key {}</span></button>",
                    uri_encode(id, false),
                    esc(id)
                );
            }
            keys.push_str("</div>");
        }
        let mut actions = String::new();
        if u["root"] != true {
            let _ = write!(
                actions,
                "<button type=\"button\" data-method=\"POST\" data-path=\"/admin/v1/users/{n}/keys\">New key<span class=\"sr\"> for {}</span></button>\
                 <form class=\"inline\" data-method=\"PUT\" data-path=\"/admin/v1/users/{n}/policies/{{policy}}\">\
                 <label for=\"attach-{n}\" class=\"sr\">Policy for {}</label><select id=\"attach-{n}\" name=\"policy\">{options}</select>\
                 <button type=\"submit\">Attach<span class=\"sr\"> to {}</span></button></form>",
                esc(name),
                esc(name),
                esc(name)
            );
        }
        let _ = write!(
            body,
            "<tr><td>{}{}</td><td>{keys}{actions}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            if u["root"] == true { " (root)" } else { "" },
            names(&u["groups"]),
            names(&u["policies"])
        );
    }
    body.push_str("</tbody></table><h2>Groups</h2>");
    body.push_str(
        "<form class=\"inline\" data-method=\"PUT\" data-path=\"/admin/v1/groups/{name}\">\
         <label for=\"group-name\">New group</label><input id=\"group-name\" name=\"name\" required>\
         <button type=\"submit\">Create group</button></form>\
         <table><thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Members</th><th scope=\"col\">Policies</th></tr></thead><tbody>",
    );
    for g in list(groups, "groups") {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&g["name"]),
            names(&g["members"]),
            names(&g["policies"])
        );
    }
    body.push_str(
        "</tbody></table><h2>Policies</h2><table><thead><tr><th scope=\"col\">Policy</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">Attached to</th></tr></thead><tbody>",
    );
    for p in &policies {
        let kind = if p["builtin"] == true { "built-in" } else { "stored" };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{kind}</td><td>{}</td></tr>",
            text(&p["name"]),
            names(&p["attached"])
        );
    }
    body.push_str(
        "</tbody></table><form class=\"stack\" data-method=\"PUT\" data-path=\"/admin/v1/policies/{name}\" data-raw=\"document\">\
         <label for=\"policy-name\">New policy name</label><input id=\"policy-name\" name=\"name\" required>\
         <label for=\"policy-doc\">Policy document (IAM JSON)</label><textarea id=\"policy-doc\" name=\"document\" rows=\"6\" required></textarea>\
         <button type=\"submit\">Create policy</button></form>",
    );
    layout("Users and policies", Some(viewer), &body)
}

/// The dashboard: charts of the last ten minutes and the totals since start.
pub(crate) fn dashboard(
    viewer: &Viewer<'_>,
    rates: &[super::dashboard::Rates],
    totals: &super::dashboard::Totals,
) -> String {
    use super::dashboard::chart;
    let series = |f: fn(&super::dashboard::Rates) -> f64| rates.iter().map(f).collect::<Vec<f64>>();
    let mut body = String::from("<div class=\"charts\">");
    body.push_str(&chart("Requests", "/s", &series(|r| r.requests)));
    body.push_str(&chart("Errors (4xx and 5xx)", "/s", &series(|r| r.errors)));
    body.push_str(&chart("Bytes in", "KiB/s", &series(|r| r.bytes_in / 1024.0)));
    body.push_str(&chart("Bytes out", "KiB/s", &series(|r| r.bytes_out / 1024.0)));
    body.push_str(&chart("Mean latency", "ms", &series(|r| r.latency_ms)));
    let _ = write!(
        body,
        "</div><h2>Since the gateway started</h2><dl class=\"details\"><dt>Requests</dt><dd>{}</dd>\
         <dt>Client errors (4xx)</dt><dd>{}</dd><dt>Server errors (5xx)</dt><dd>{}</dd>\
         <dt>Received</dt><dd>{}</dd><dt>Sent</dt><dd>{}</dd></dl>\
         <p><small>Sampled every {} seconds; the page refreshes itself.</small></p>",
        totals.requests,
        totals.client_errors,
        totals.server_errors,
        size(totals.bytes_in),
        size(totals.bytes_out),
        super::dashboard::EVERY.as_secs()
    );
    layout("Dashboard", Some(viewer), &body)
}

/// A page that only says something (an error, a refusal).
pub(crate) fn message(title: &str, viewer: Option<&Viewer<'_>>, text: &str) -> String {
    layout(
        title,
        viewer,
        &format!("<p>{}</p><p><a href=\"/\">Back to the buckets</a></p>", esc(text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_sizes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        for (n, s) in
            [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (20 * 1024 * 1024, "20.0 MiB")]
        {
            assert_eq!(size(n), s);
        }
        assert_eq!(
            download_url("b", "a dir/x\"y.txt"),
            "/s3/b/a%20dir/x%22y.txt?response-content-disposition=attachment%3B%20filename%3D%22x_y.txt%22"
        );
    }

    #[test]
    fn buttons_follow_the_decisions() {
        let viewer = Viewer { user: "reader", is_root: false, csrf: "tok<" };
        let rows = [Row::Object {
            key: "docs/a.txt".into(),
            size: 3,
            modified: SystemTime::UNIX_EPOCH,
            may_delete: false,
        }];
        let none = BucketActions { upload: false, delete_bucket: false };
        let page = bucket(&viewer, "b", "docs/", &rows, None, &none);
        assert!(page.contains("content=\"tok&lt;\""));
        assert!(page.contains(">a.txt</a>"));
        assert!(!page.contains("data-delete"));
        assert!(!page.contains("id=\"drop\""));
        assert!(!page.contains("delete-bucket"));
        let rows = [Row::Object {
            key: "docs/a.txt".into(),
            size: 3,
            modified: SystemTime::UNIX_EPOCH,
            may_delete: true,
        }];
        let all = BucketActions { upload: true, delete_bucket: true };
        let page = bucket(&viewer, "b", "docs/", &rows, Some("tok"), &all);
        assert!(page.contains("data-delete=\"docs/a.txt\""));
        assert!(page.contains("id=\"drop\""));
        assert!(page.contains("delete-bucket"));
        assert!(page.contains("token=tok"));
    }
}
