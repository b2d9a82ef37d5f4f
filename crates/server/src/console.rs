//! The web console: a listener of its own (`serve_console`) serving server-rendered pages, a
//! little plain JavaScript and the S3 requests that script makes, every asset embedded in the
//! binary. docs/console.md is the user's guide and the security model.
//!
//! - [`routes`]: the routes as data; [`session`]: sessions, cookies and the CSRF checks;
//!   [`pages`]: the HTML; [`assets`]: the embedded CSS and JavaScript.
//! - Authorization is the S3 API's: the console asks the gateway (`service::console`) to
//!   decide every page's operation, and runs every action as an S3 request of the session's
//!   user through the S3 pipeline. A session is no more than a signature would be.

mod assets;
mod dashboard;
mod pages;
mod routes;
mod session;

pub use session::SessionLimits;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use s3gate_metadata::{ListEntry, MetadataStore};
use s3gate_storage_backend::BlobStore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::Signer;
use crate::authz::ClientInfo;
use crate::body::{self, ResponseBody};
use crate::errors::ApiError;
use crate::{Gateway, conn};
use pages::Viewer;
use routes::{Page, RouteError};
use session::{NoSession, Session, Sessions};

/// Settings of the console listener.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The S3 endpoint as users reach it, for share links (`http://host:port`).
    pub s3_url: String,
    /// How long sessions live.
    pub sessions: SessionLimits,
    /// Mark the session cookie `Secure` (the console is reached over HTTPS, directly or
    /// through a proxy that terminates TLS).
    pub secure_cookie: bool,
}

/// Connections the console serves at once, and per client address.
const CONNECTIONS: usize = 256;
const CONNECTIONS_PER_CLIENT: usize = 64;
/// Time to the first request head and between requests of a connection.
const IDLE: Duration = Duration::from_secs(30);
/// Largest login, share or form body.
const MAX_FORM: usize = 16 * 1024;
/// Rows of one listing page.
const PAGE_SIZE: u32 = 100;

type Resp = Response<ResponseBody>;

struct Console<M, B> {
    gateway: Arc<Gateway<M, B>>,
    sessions: Sessions,
    config: ConsoleConfig,
    samples: dashboard::Samples,
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve_console<M, B>(
    listener: TcpListener,
    gateway: Arc<Gateway<M, B>>,
    config: ConsoleConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    M: MetadataStore,
    B: BlobStore,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(IDLE).keep_alive(true);
    let builder = Arc::new(builder);
    let console = Arc::new(Console {
        gateway,
        sessions: Sessions::new(config.sessions),
        config,
        samples: dashboard::Samples::new(),
    });
    let sampler = {
        let console = Arc::clone(&console);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(dashboard::EVERY);
            loop {
                tick.tick().await;
                console.samples.push(dashboard::Totals::now());
            }
        })
    };
    let deadlines = conn::Deadlines { first_request: IDLE, idle: IDLE };
    let connections = conn::Connections::new(CONNECTIONS_PER_CLIENT);
    let limit = Arc::new(Semaphore::new(CONNECTIONS));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed on the console listener");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Some(admitted) = connections.admit(peer.ip()) else { continue };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else { continue };
        let console = Arc::clone(&console);
        let activity = Arc::clone(admitted.activity());
        let requests = Arc::clone(&activity);
        let client = ClientInfo { ip: peer.ip(), tls: false, tls_version: None };
        let service = service_fn(move |req| {
            let console = Arc::clone(&console);
            let request = requests.begin();
            async move {
                let resp = console.respond(req, client).await;
                Ok::<_, std::convert::Infallible>(body::hold(resp, request))
            }
        });
        let builder = Arc::clone(&builder);
        let stop = stop.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = conn::drive(conn, &activity, deadlines, stop).await;
            activity.hand_over(permit);
            drop(admitted);
        });
    }
    let _ = stopping.send(true);
    sampler.abort();
    Ok(())
}

fn set(r: &mut Resp, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// A page's response, with the headers every console page carries.
fn html(status: StatusCode, page: String) -> Resp {
    let mut r = Response::new(body::full(page));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(&mut r, header::CACHE_CONTROL, "no-store");
    set(
        &mut r,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    hardened(&mut r);
    r
}

fn hardened(r: &mut Resp) {
    set(r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(r, header::X_FRAME_OPTIONS, "DENY");
    set(r, header::REFERRER_POLICY, "same-origin");
}

fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    let mut r = Response::new(body::full(value.to_string()));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "application/json");
    set(&mut r, header::CACHE_CONTROL, "no-store");
    hardened(&mut r);
    r
}

fn redirect(to: &str) -> Resp {
    let mut r = Response::new(body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    set(&mut r, header::LOCATION, to);
    set(&mut r, header::CACHE_CONTROL, "no-store");
    r
}

/// A refusal of a script's request (JSON) or of a page (HTML).
fn refused(page: &Page, status: StatusCode, code: &str, message: &str) -> Resp {
    if matches!(page, Page::S3 { .. } | Page::Share | Page::Admin { .. }) {
        json(status, &serde_json::json!({"code": code, "message": message}))
    } else {
        html(status, pages::message(code, None, message))
    }
}

/// The page a user who is not root gets for a root-only page.
fn root_only(viewer: &Viewer<'_>) -> Resp {
    html(
        StatusCode::FORBIDDEN,
        pages::message(
            "AccessDenied",
            Some(viewer),
            "Only root manages users, policies and the dashboard.",
        ),
    )
}

/// The answer to a failed page or request: its S3 error code and message.
fn failure(page: &Page, viewer: Option<&Viewer<'_>>, e: &ApiError) -> Resp {
    if let Some(cause) = &e.cause {
        tracing::error!(cause = %cause, "console: internal error");
    }
    let status =
        StatusCode::from_u16(e.s3.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if matches!(page, Page::S3 { .. } | Page::Share | Page::Admin { .. }) {
        return refused(page, status, e.s3.code.as_str(), &e.s3.message);
    }
    html(status, pages::message(e.s3.code.as_str(), viewer, &e.s3.message))
}

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn read_form(body: Incoming) -> Option<Vec<(String, String)>> {
    let raw = http_body_util::Limited::new(body, MAX_FORM).collect().await.ok()?.to_bytes();
    Some(routes::form_pairs(std::str::from_utf8(&raw).ok()?))
}

impl<M: MetadataStore, B: BlobStore> Console<M, B> {
    /// This console's origin as the browser names it (`http://` + the Host it sent).
    fn origin(&self, req: &Request<Incoming>) -> String {
        let scheme = if self.config.secure_cookie { "https" } else { "http" };
        format!("{scheme}://{}", header_str(req, "host").unwrap_or(""))
    }

    fn session(&self, req: &Request<Incoming>) -> Result<(String, Session), NoSession> {
        let id = req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| session::cookie(h, session::COOKIE))
            .ok_or(NoSession::Missing)?
            .to_owned();
        let s = self.sessions.get(&id, Instant::now())?;
        Ok((id, s))
    }

    #[allow(clippy::too_many_lines, reason = "the session checks, then one arm per page")]
    async fn respond(&self, req: Request<Incoming>, client: ClientInfo) -> Resp {
        let page = match routes::route(req.method(), req.uri().path()) {
            Ok(p) => p,
            Err(RouteError::NotFound) => {
                return html(
                    StatusCode::NOT_FOUND,
                    pages::message("Not found", None, "No such page."),
                );
            }
            Err(RouteError::MethodNotAllowed) => {
                return html(
                    StatusCode::METHOD_NOT_ALLOWED,
                    pages::message("Method not allowed", None, "Not with this method."),
                );
            }
        };
        match page {
            Page::Asset(name) => return assets::response(name),
            Page::LoginForm => return html(StatusCode::OK, pages::login(None)),
            Page::Login => return self.login(req).await,
            _ => {}
        }
        let (id, session) = match self.session(&req) {
            Ok(s) => s,
            Err(why) => {
                let expired = why == NoSession::Expired;
                return match page {
                    Page::S3 { .. } | Page::Share | Page::Admin { .. } => refused(
                        &page,
                        StatusCode::UNAUTHORIZED,
                        if expired { "SessionExpired" } else { "NotLoggedIn" },
                        "log in again",
                    ),
                    _ if expired => {
                        let mut r = html(
                            StatusCode::UNAUTHORIZED,
                            pages::login(Some("Your session expired: log in again.")),
                        );
                        set(
                            &mut r,
                            header::SET_COOKIE,
                            &session::clear_cookie(self.config.secure_cookie),
                        );
                        r
                    }
                    _ => redirect("/login"),
                };
            }
        };
        if routes::changes_state(req.method()) && !matches!(page, Page::Logout) {
            let origin = header_str(&req, "origin");
            let token = header_str(&req, session::CSRF_HEADER);
            if let Err(why) = session::check_csrf(origin, &self.origin(&req), token, &session) {
                tracing::info!(
                    ?why,
                    path = req.uri().path(),
                    "console: CSRF check refused a request"
                );
                return refused(
                    &page,
                    StatusCode::FORBIDDEN,
                    "CsrfRefused",
                    "the request did not come from this console",
                );
            }
        }
        let signer = match self.gateway.console_signer(&session.access_key_id).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                // The key was disabled or deleted since the login.
                self.sessions.remove(&id);
                return redirect("/login");
            }
            Err(e) => return failure(&page, None, &e),
        };
        let viewer =
            Viewer { user: &signer.user.name, is_root: signer.user.is_root, csrf: &session.csrf };
        match page {
            Page::Logout => self.logout(req, &id, &session).await,
            Page::Home => self.home(&signer, &viewer, client).await,
            Page::Bucket { bucket } => {
                let query = routes::form_pairs(req.uri().query().unwrap_or(""));
                self.bucket(&signer, &viewer, client, &bucket, &query).await
            }
            Page::Object { bucket, key } => {
                self.object(&signer, &viewer, client, &bucket, &key).await
            }
            Page::Share => self.share(req, &signer, client).await,
            Page::S3 { path } => self.s3(req, &path, signer, client).await,
            Page::Settings { bucket } => {
                match self.gateway.console_settings(&signer, client, &bucket).await {
                    Ok(s) => html(StatusCode::OK, pages::settings(&viewer, &bucket, &s)),
                    Err(e) => failure(&Page::Home, Some(&viewer), &e),
                }
            }
            Page::Iam => self.iam(&signer, &viewer).await,
            Page::Admin { path } => self.admin(req, &path, &signer).await,
            Page::Dashboard if signer.user.is_root => {
                let (rates, totals) = self.samples.snapshot();
                let mut r = html(StatusCode::OK, pages::dashboard(&viewer, &rates, &totals));
                set(&mut r, header::REFRESH, "5");
                r
            }
            Page::Dashboard => root_only(&viewer),
            Page::Asset(_) | Page::LoginForm | Page::Login => {
                html(StatusCode::NOT_FOUND, pages::message("Not found", None, "No such page."))
            }
        }
    }

    async fn login(&self, req: Request<Incoming>) -> Resp {
        // A login form posted from another origin logs nobody in (login CSRF).
        if let Some(origin) = header_str(&req, "origin")
            && !origin.eq_ignore_ascii_case(&self.origin(&req))
        {
            return html(
                StatusCode::FORBIDDEN,
                pages::login(Some("Log in from the console's own page.")),
            );
        }
        let Some(form) = read_form(req.into_body()).await else {
            return html(
                StatusCode::BAD_REQUEST,
                pages::login(Some("The form did not arrive whole.")),
            );
        };
        let ak = routes::field(&form, "access_key").unwrap_or("").trim();
        let secret = routes::field(&form, "secret_key").unwrap_or("");
        let refused = || {
            html(
                StatusCode::UNAUTHORIZED,
                pages::login(Some("Wrong access key id or secret, or the key is disabled.")),
            )
        };
        if ak.is_empty() {
            return refused();
        }
        let signer = match self.gateway.console_signer(ak).await {
            Ok(Some(s)) => s,
            Ok(None) => return refused(),
            Err(e) => return failure(&Page::Login, None, &e),
        };
        if !session::constant_time_eq(signer.user.secret_key.as_bytes(), secret.as_bytes()) {
            tracing::info!(access_key_id = ak, "console: refused a login");
            return refused();
        }
        let Some((id, _)) = self.sessions.create(ak, Instant::now()) else {
            return failure(
                &Page::Login,
                None,
                &ApiError::internal_error("no randomness for a session id".to_owned()),
            );
        };
        tracing::info!(user = %signer.user.name, "console: logged in");
        let mut r = redirect("/");
        set(&mut r, header::SET_COOKIE, &session::set_cookie(&id, self.config.secure_cookie));
        r
    }

    async fn logout(&self, req: Request<Incoming>, id: &str, session: &Session) -> Resp {
        let origin = header_str(&req, "origin").map(str::to_owned);
        let expected = self.origin(&req);
        let form = read_form(req.into_body()).await.unwrap_or_default();
        if let Err(why) =
            session::check_csrf(origin.as_deref(), &expected, routes::field(&form, "csrf"), session)
        {
            tracing::info!(?why, "console: CSRF check refused a logout");
            return refused(
                &Page::Logout,
                StatusCode::FORBIDDEN,
                "CsrfRefused",
                "the request did not come from this console",
            );
        }
        self.sessions.remove(id);
        let mut r = redirect("/login");
        set(&mut r, header::SET_COOKIE, &session::clear_cookie(self.config.secure_cookie));
        r
    }

    async fn home(&self, signer: &Signer, viewer: &Viewer<'_>, client: ClientInfo) -> Resp {
        match self.gateway.console_buckets(signer, client).await {
            Ok(list) => {
                let rows: Vec<pages::BucketRow> = list
                    .into_iter()
                    .map(|b| pages::BucketRow { name: b.name, created: b.created, owner: b.owner })
                    .collect();
                let may_create = Gateway::<M, B>::console_may_create_bucket(signer);
                html(StatusCode::OK, pages::buckets(viewer, &rows, may_create))
            }
            Err(e) => failure(&Page::Home, Some(viewer), &e),
        }
    }

    async fn bucket(
        &self,
        signer: &Signer,
        viewer: &Viewer<'_>,
        client: ClientInfo,
        bucket: &str,
        query: &[(String, String)],
    ) -> Resp {
        let prefix = routes::field(query, "prefix").unwrap_or("");
        let token = routes::field(query, "token").filter(|t| !t.is_empty());
        let g = &self.gateway;
        let listing = match g.console_list(signer, client, bucket, prefix, token, PAGE_SIZE).await {
            Ok(l) => l,
            Err(e) => return failure(&Page::Home, Some(viewer), &e),
        };
        let grant = match g.console_grant(signer, client, bucket).await {
            Ok(g) => g,
            Err(e) => return failure(&Page::Home, Some(viewer), &e),
        };
        let allows = |action, key: &str| grant.as_ref().is_some_and(|g| g.allows(action, key));
        let rows: Vec<pages::Row> = listing
            .page
            .entries
            .into_iter()
            .map(|e| match e {
                ListEntry::CommonPrefix(p) => pages::Row::Folder(p),
                ListEntry::Object(o) => pages::Row::Object {
                    may_delete: allows(s3gate_policy::Action::DeleteObject, &o.key),
                    key: o.key,
                    size: o.size,
                    modified: o.last_modified,
                },
            })
            .collect();
        // Uploads are offered when a new key under the prefix could be written.
        let probe = format!("{prefix}upload");
        let path = format!("/{}", crate::service::console::uri_encode(bucket, false));
        let actions = pages::BucketActions {
            upload: allows(s3gate_policy::Action::PutObject, &probe),
            delete_bucket: g.console_may(signer, client, "DELETE", &path, "").await,
        };
        let next = listing.next_token.as_deref();
        html(StatusCode::OK, pages::bucket(viewer, bucket, prefix, &rows, next, &actions))
    }

    async fn object(
        &self,
        signer: &Signer,
        viewer: &Viewer<'_>,
        client: ClientInfo,
        bucket: &str,
        key: &str,
    ) -> Resp {
        let g = &self.gateway;
        let details = match g.console_object(signer, client, bucket, key).await {
            Ok(d) => d,
            Err(e) => return failure(&Page::Home, Some(viewer), &e),
        };
        let grant = match g.console_grant(signer, client, bucket).await {
            Ok(g) => g,
            Err(e) => return failure(&Page::Home, Some(viewer), &e),
        };
        let allows = |action| grant.as_ref().is_some_and(|g| g.allows(action, key));
        let actions = pages::ObjectActions {
            delete: allows(s3gate_policy::Action::DeleteObject),
            restore: allows(s3gate_policy::Action::PutObject)
                && allows(s3gate_policy::Action::GetObjectVersion),
        };
        html(StatusCode::OK, pages::object(viewer, bucket, key, &details, &actions))
    }

    async fn iam(&self, signer: &Signer, viewer: &Viewer<'_>) -> Resp {
        let mut docs = Vec::new();
        for path in ["/admin/v1/users", "/admin/v1/groups", "/admin/v1/policies"] {
            let Some(r) = self.gateway.console_admin(signer, &Method::GET, path, &[]).await else {
                return root_only(viewer);
            };
            let status = r.status();
            let raw = r.into_body().collect().await.map(http_body_util::Collected::to_bytes);
            let value = raw.ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            match value {
                Some(v) if status == StatusCode::OK => docs.push(v),
                _ => {
                    let e = ApiError::internal_error(format!("the admin API answered {status}"));
                    return failure(&Page::Iam, Some(viewer), &e);
                }
            }
        }
        html(StatusCode::OK, pages::iam(viewer, &docs[0], &docs[1], &docs[2]))
    }

    /// An admin API request of a root session (its CSRF token checked above).
    async fn admin(&self, req: Request<Incoming>, path: &str, signer: &Signer) -> Resp {
        let method = req.method().clone();
        let raw = http_body_util::Limited::new(req.into_body(), 64 * 1024).collect().await;
        let Ok(raw) = raw.map(http_body_util::Collected::to_bytes) else {
            let page = Page::Admin { path: path.to_owned() };
            return refused(
                &page,
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "the body is too large or ended early",
            );
        };
        match self.gateway.console_admin(signer, &method, path, &raw).await {
            Some(mut r) => {
                set(&mut r, header::CACHE_CONTROL, "no-store");
                hardened(&mut r);
                r
            }
            None => refused(
                &Page::Admin { path: path.to_owned() },
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "only root manages users and policies",
            ),
        }
    }

    async fn share(&self, req: Request<Incoming>, signer: &Signer, client: ClientInfo) -> Resp {
        let page = Page::Share;
        let Some(form) = read_form(req.into_body()).await else {
            return refused(
                &page,
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "the form did not arrive whole",
            );
        };
        let (Some(bucket), Some(key)) =
            (routes::field(&form, "bucket"), routes::field(&form, "key"))
        else {
            return refused(
                &page,
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "name the bucket and the key",
            );
        };
        // SigV4 presigned URLs live at most seven days.
        let expires = match routes::field(&form, "expires").map(str::parse::<u64>) {
            Some(Ok(s)) if (1..=604_800).contains(&s) => Duration::from_secs(s),
            _ => {
                return refused(
                    &page,
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "expires must be 1 to 604800 seconds",
                );
            }
        };
        let url = self
            .gateway
            .console_presign(signer, client, &self.config.s3_url, bucket, key, expires)
            .await;
        match url {
            Ok(url) => {
                json(StatusCode::OK, &serde_json::json!({"url": url, "expires": expires.as_secs()}))
            }
            Err(e) => failure(&page, None, &e),
        }
    }

    /// Runs `path` (an S3 path and query) as an S3 request of the session's user: the S3
    /// pipeline decides and answers it. What a browser adds that would change its meaning
    /// (our cookie, an `Authorization`, `Origin`) is removed; a GET's answer is sandboxed so
    /// that an uploaded HTML file can never run as the console.
    async fn s3(
        &self,
        req: Request<Incoming>,
        path: &str,
        signer: Arc<Signer>,
        client: ClientInfo,
    ) -> Resp {
        let (mut parts, body) = req.into_parts();
        let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let Ok(uri) = format!("{path}{query}").parse::<http::Uri>() else {
            return refused(
                &Page::S3 { path: path.to_owned() },
                StatusCode::BAD_REQUEST,
                "InvalidURI",
                "not a URI",
            );
        };
        parts.uri = uri;
        for name in [
            "authorization",
            "cookie",
            "origin",
            "host",
            "referer",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
            session::CSRF_HEADER,
        ] {
            parts.headers.remove(name);
        }
        parts.extensions.insert(client);
        let is_get = parts.method == Method::GET;
        let mut r = self.gateway.handle_as(Request::from_parts(parts, body), Some(signer)).await;
        if is_get {
            set(&mut r, header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'");
        }
        hardened(&mut r);
        r
    }
}
