//! The admin API on the operations listener: users, access keys, groups, identity policies and
//! their attachments as JSON over HTTP under `/admin/v1/`, for scripts and the web console
//! (the `s3gate user|group|policy` commands do the same on the store directly).
//!
//! Every request must carry a SigV4 `Authorization` header (service `s3`, the gateway's
//! region) made with an active key of the **root** user; anything else is `403` with a JSON
//! error, and nothing, not even a listing, is answered without it. Each change is one
//! metadata transaction (`MetadataStore::change_iam`), so a refused request changes nothing;
//! what it changes reaches every gateway sharing the store within the signer cache's bound
//! (`auth::TTL`). The routes are a table ([`route`]), tested as data.

use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use s3gate_metadata::{
    AccessKey, Attachee, IamChange, IamEntity, IamState, MetaError, MetadataStore, StoredPolicy,
    User,
};
use s3gate_policy::{BUILTIN, Policy};
use s3gate_sigv4::PayloadMode;
use s3gate_storage_backend::BlobStore;
use serde_json::{Value, json};

use super::{Gateway, Signed};
use crate::body::ResponseBody;

/// The root user's name (its keys come from the operator, never from this API).
const ROOT: &str = "root";
/// The policy a user created without a `policies` list gets, as `s3gate user add` does.
const DEFAULT_POLICY: &str = "self-service";
/// Largest request body (a policy document is at most 6,144 characters besides white space).
const MAX_BODY: usize = 64 * 1024;

/// One admin operation, as [`route`] reads it from the method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminOp {
    ListUsers,
    CreateUser,
    DeleteUser { user: String },
    CreateKey { user: String },
    SetKeyStatus { user: String, key: String },
    DeleteKey { user: String, key: String },
    AttachUserPolicy { user: String, policy: String, on: bool },
    ListGroups,
    CreateGroup { group: String },
    DeleteGroup { group: String },
    Membership { group: String, user: String, on: bool },
    AttachGroupPolicy { group: String, policy: String, on: bool },
    ListPolicies,
    GetPolicy { policy: String },
    CreatePolicy { policy: String },
    DeletePolicy { policy: String },
}

/// Why a request names no operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// No such resource.
    NotFound,
    /// The resource exists, not with this method.
    MethodNotAllowed,
}

/// The operation of `method` on `path` (which starts with `/admin/v1/`).
pub(crate) fn route(method: &Method, path: &str) -> Result<AdminOp, RouteError> {
    use AdminOp as A;
    let rest = path.strip_prefix("/admin/v1/").ok_or(RouteError::NotFound)?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(RouteError::NotFound);
    }
    let s = |i: usize| parts[i].to_owned();
    let (get, post, put, delete) = (
        method == Method::GET,
        method == Method::POST,
        method == Method::PUT,
        method == Method::DELETE,
    );
    let op = match parts.as_slice() {
        ["users"] if get => A::ListUsers,
        ["users"] if post => A::CreateUser,
        ["users", _] if delete => A::DeleteUser { user: s(1) },
        ["users", _, "keys"] if post => A::CreateKey { user: s(1) },
        ["users", _, "keys", _] if put => A::SetKeyStatus { user: s(1), key: s(3) },
        ["users", _, "keys", _] if delete => A::DeleteKey { user: s(1), key: s(3) },
        ["users", _, "policies", _] if put || delete => {
            A::AttachUserPolicy { user: s(1), policy: s(3), on: put }
        }
        ["groups"] if get => A::ListGroups,
        ["groups", _] if put => A::CreateGroup { group: s(1) },
        ["groups", _] if delete => A::DeleteGroup { group: s(1) },
        ["groups", _, "members", _] if put || delete => {
            A::Membership { group: s(1), user: s(3), on: put }
        }
        ["groups", _, "policies", _] if put || delete => {
            A::AttachGroupPolicy { group: s(1), policy: s(3), on: put }
        }
        ["policies"] if get => A::ListPolicies,
        ["policies", _] if get => A::GetPolicy { policy: s(1) },
        ["policies", _] if put => A::CreatePolicy { policy: s(1) },
        ["policies", _] if delete => A::DeletePolicy { policy: s(1) },
        // A resource of the table, not with this method.
        ["users" | "groups" | "policies"]
        | ["users" | "groups" | "policies", _]
        | ["users", _, "keys"]
        | ["users", _, "keys" | "policies", _]
        | ["groups", _, "members" | "policies", _] => return Err(RouteError::MethodNotAllowed),
        _ => return Err(RouteError::NotFound),
    };
    Ok(op)
}

/// A refused admin request: its status, a code and a message.
#[derive(Debug)]
struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError { status, code, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }
}

/// The admin answer for a store error: `404` for what does not exist, `409` for a conflict.
fn store_error(e: MetaError) -> AdminError {
    let not_found = |what: &str| AdminError::new(StatusCode::NOT_FOUND, "NoSuchEntity", what);
    match e {
        MetaError::NoSuchUser => not_found("no such user"),
        MetaError::NotFound(entity) => not_found(&format!("no such {entity}")),
        MetaError::AlreadyExists(entity) => AdminError::new(
            StatusCode::CONFLICT,
            "EntityAlreadyExists",
            format!("the {entity} already exists"),
        ),
        MetaError::UserExists => AdminError::new(
            StatusCode::CONFLICT,
            "EntityAlreadyExists",
            "the user or access key exists, or the name is a removed user's (names are never \
             reused)",
        ),
        MetaError::DeleteConflict => AdminError::new(
            StatusCode::CONFLICT,
            "DeleteConflict",
            "the policy is attached: detach it first",
        ),
        MetaError::Unavailable(_) => AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the metadata store is unavailable",
        ),
        other => {
            tracing::error!(error = %other, "admin API: metadata store error");
            AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "internal error")
        }
    }
}

fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|(n, _, _)| *n == name)
}

fn check_name(kind: &str, name: &str) -> Result<(), AdminError> {
    if s3gate_metadata::is_iam_name(name) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!(
            "a {kind} name is 1 to 128 characters of letters, digits and + = , . @ _ -"
        )))
    }
}

/// Refuses root: identity policies neither restrict nor extend it, and its keys are the
/// operator's (`S3GATE_ACCESS_KEY`/`S3GATE_SECRET_KEY`).
fn not_root(user: &str) -> Result<(), AdminError> {
    if user == ROOT {
        Err(AdminError::invalid(
            "the root user is managed with S3GATE_ACCESS_KEY/S3GATE_SECRET_KEY",
        ))
    } else {
        Ok(())
    }
}

fn time(t: SystemTime) -> String {
    s3gate_protocol::format_iso8601(t)
}

fn key_json(k: &AccessKey) -> Value {
    json!({
        "access_key_id": k.access_key_id,
        "status": if k.active { "Active" } else { "Inactive" },
        "created": time(k.created),
        "last_used": k.last_used.map(time),
    })
}

/// Users with their keys (never secrets), groups and policies.
fn users_json(users: &[User], state: &IamState) -> Value {
    let users: Vec<Value> = users
        .iter()
        .map(|u| {
            let keys: Vec<Value> =
                state.keys.iter().filter(|k| k.user == u.name).map(key_json).collect();
            let groups: Vec<&str> = state
                .groups
                .iter()
                .filter(|g| g.members.contains(&u.name))
                .map(|g| g.name.as_str())
                .collect();
            let policies: Vec<&str> = state
                .attachments
                .iter()
                .filter(|(_, to)| matches!(to, Attachee::User(n) if *n == u.name))
                .map(|(p, _)| p.as_str())
                .collect();
            json!({
                "name": u.name,
                "root": u.is_root,
                "created": time(u.created),
                "keys": keys,
                "groups": groups,
                "policies": policies,
            })
        })
        .collect();
    json!({ "users": users })
}

fn groups_json(state: &IamState) -> Value {
    let groups: Vec<Value> = state
        .groups
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "created": time(g.created),
                "members": g.members,
                "policies": g.policies,
            })
        })
        .collect();
    json!({ "groups": groups })
}

fn policies_json(state: &IamState) -> Value {
    let attached = |name: &str| -> Vec<String> {
        state
            .attachments
            .iter()
            .filter(|(p, _)| p == name)
            .map(|(_, to)| match to {
                Attachee::User(u) => format!("user:{u}"),
                Attachee::Group(g) => format!("group:{g}"),
            })
            .collect()
    };
    let mut policies: Vec<Value> = BUILTIN
        .iter()
        .map(|(name, about, _)| {
            json!({ "name": name, "builtin": true, "description": about, "attached": attached(name) })
        })
        .collect();
    policies.extend(state.policies.iter().map(|p| {
        json!({
            "name": p.name,
            "builtin": false,
            "created": time(p.created),
            "attached": attached(&p.name),
        })
    }));
    json!({ "policies": policies })
}

/// A JSON response.
fn answer(status: StatusCode, body: &Value) -> Response<ResponseBody> {
    let mut r = Response::new(crate::body::full(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

fn refused(e: &AdminError) -> Response<ResponseBody> {
    answer(e.status, &json!({ "error": e.code, "message": e.message }))
}

fn done() -> (StatusCode, Value) {
    (StatusCode::NO_CONTENT, Value::Null)
}

/// The answer to a request no route names.
fn route_refused(e: RouteError) -> Response<ResponseBody> {
    refused(&match e {
        RouteError::NotFound => AdminError::new(StatusCode::NOT_FOUND, "NotFound", "no such path"),
        RouteError::MethodNotAllowed => AdminError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not with this method",
        ),
    })
}

/// The answer of an operation.
fn respond(result: Result<(StatusCode, Value), AdminError>) -> Response<ResponseBody> {
    match result {
        Ok((StatusCode::NO_CONTENT, _)) => {
            let mut r = Response::new(crate::body::full(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Ok((status, value)) => answer(status, &value),
        Err(e) => refused(&e),
    }
}

/// The JSON object of a request body.
fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, AdminError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(AdminError::invalid("the body must be a JSON object")),
    }
}

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// Answers an admin API request (module docs).
    pub(crate) async fn admin(&self, req: Request<Incoming>) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        let op = match route(&parts.method, parts.uri.path()) {
            Ok(op) => op,
            Err(e) => return route_refused(e),
        };
        let result = match self.admin_body(&parts, body).await {
            Ok(body) => self.admin_op(op, &body).await,
            Err(e) => Err(e),
        };
        respond(result)
    }

    /// An admin request already known to be root's (the web console's root session, which
    /// checked its CSRF token): the same routes, validation and changes as [`Self::admin`].
    pub(crate) async fn admin_unsigned(
        &self,
        method: &Method,
        path: &str,
        body: &[u8],
    ) -> Response<ResponseBody> {
        match route(method, path) {
            Ok(op) => respond(self.admin_op(op, body).await),
            Err(e) => route_refused(e),
        }
    }

    /// Authenticates the request as root's (SigV4 header auth) and reads its body, checking
    /// the signed payload hash.
    async fn admin_body(
        &self,
        parts: &http::request::Parts,
        body: Incoming,
    ) -> Result<Bytes, AdminError> {
        let denied = |why: &str| AdminError::new(StatusCode::FORBIDDEN, "AccessDenied", why);
        let authed = self
            .authenticate(parts)
            .await
            .map_err(|e| denied(&format!("{}: {}", e.s3.code.as_str(), e.s3.message)))?;
        let Some(Signed::V4(verified)) = &authed.signed else {
            return Err(denied("sign the request with SigV4 (a root key)"));
        };
        if verified.presigned || !authed.caller.is_root {
            return Err(denied("only the root user's keys, in an Authorization header, may"));
        }
        let limited = http_body_util::Limited::new(body, MAX_BODY);
        let raw = limited
            .collect()
            .await
            .map_err(|_| AdminError::invalid("the body is too large or ended early"))?
            .to_bytes();
        match &verified.payload {
            PayloadMode::Sha256(expected) => {
                let mut h = s3gate_sigv4::PayloadHasher::new(*expected);
                h.update(&raw);
                h.finish().map_err(|_| denied("the body does not match x-amz-content-sha256"))?;
            }
            PayloadMode::Unsigned => {}
            PayloadMode::StreamingSigned { .. } | PayloadMode::StreamingUnsignedTrailer => {
                return Err(AdminError::invalid("aws-chunked bodies are not accepted"));
            }
        }
        Ok(raw)
    }

    /// Carries out one authenticated operation.
    async fn admin_op(&self, op: AdminOp, body: &[u8]) -> Result<(StatusCode, Value), AdminError> {
        let meta = self.engine.metadata();
        let change = |c: IamChange| async move { meta.change_iam(c).await.map_err(store_error) };
        match op {
            AdminOp::ListUsers => {
                let users = meta.list_users().await.map_err(store_error)?;
                let state = meta.iam_state().await.map_err(store_error)?;
                Ok((StatusCode::OK, users_json(&users, &state)))
            }
            AdminOp::CreateUser => self.admin_create_user(body).await,
            AdminOp::DeleteUser { user } => {
                not_root(&user)?;
                meta.delete_user(&user).await.map_err(store_error)?;
                Ok(done())
            }
            AdminOp::CreateKey { user } => {
                not_root(&user)?;
                let (ak, sk) = new_keys()?;
                let key = AccessKey {
                    access_key_id: ak.clone(),
                    secret_key: sk.clone(),
                    user: user.clone(),
                    active: true,
                    created: SystemTime::now(),
                    last_used: None,
                };
                change(IamChange::CreateKey(key)).await?;
                let created = json!({ "user": user, "access_key_id": ak, "secret_access_key": sk });
                Ok((StatusCode::CREATED, created))
            }
            AdminOp::SetKeyStatus { user, key } => {
                not_root(&user)?;
                let active = match json_body(body)?.get("status").and_then(Value::as_str) {
                    Some("Active") => true,
                    Some("Inactive") => false,
                    _ => {
                        return Err(AdminError::invalid(r#"give {"status": "Active"|"Inactive"}"#));
                    }
                };
                change(IamChange::SetKeyActive { user, access_key_id: key, active }).await?;
                Ok(done())
            }
            AdminOp::DeleteKey { user, key } => {
                not_root(&user)?;
                change(IamChange::DeleteKey { user, access_key_id: key }).await?;
                Ok(done())
            }
            AdminOp::AttachUserPolicy { user, policy, on } => {
                not_root(&user)?;
                check_name("policy", &policy)?;
                change(attachment(policy, Attachee::User(user), on)).await?;
                Ok(done())
            }
            other => self.admin_group_or_policy_op(other, body).await,
        }
    }

    /// The group and policy operations of [`Self::admin_op`].
    async fn admin_group_or_policy_op(
        &self,
        op: AdminOp,
        body: &[u8],
    ) -> Result<(StatusCode, Value), AdminError> {
        let meta = self.engine.metadata();
        let change = |c: IamChange| async move { meta.change_iam(c).await.map_err(store_error) };
        match op {
            AdminOp::ListGroups => {
                let state = meta.iam_state().await.map_err(store_error)?;
                Ok((StatusCode::OK, groups_json(&state)))
            }
            AdminOp::CreateGroup { group } => {
                check_name("group", &group)?;
                change(IamChange::CreateGroup { name: group.clone(), created: SystemTime::now() })
                    .await?;
                Ok((StatusCode::CREATED, json!({ "name": group })))
            }
            AdminOp::DeleteGroup { group } => {
                change(IamChange::DeleteGroup { name: group }).await?;
                Ok(done())
            }
            AdminOp::Membership { group, user, on } => {
                not_root(&user)?;
                let c = if on {
                    IamChange::AddMember { group, user }
                } else {
                    IamChange::RemoveMember { group, user }
                };
                change(c).await?;
                Ok(done())
            }
            AdminOp::AttachGroupPolicy { group, policy, on } => {
                check_name("policy", &policy)?;
                change(attachment(policy, Attachee::Group(group), on)).await?;
                Ok(done())
            }
            AdminOp::ListPolicies => {
                let state = meta.iam_state().await.map_err(store_error)?;
                Ok((StatusCode::OK, policies_json(&state)))
            }
            AdminOp::GetPolicy { policy } => {
                let document =
                    if let Some((_, _, text)) = BUILTIN.iter().find(|(n, _, _)| *n == policy) {
                        (*text).to_owned()
                    } else {
                        let state = meta.iam_state().await.map_err(store_error)?;
                        let stored = state.policies.into_iter().find(|p| p.name == policy);
                        stored
                            .ok_or_else(|| store_error(MetaError::NotFound(IamEntity::Policy)))?
                            .document
                    };
                let value: Value =
                    serde_json::from_str(&document).unwrap_or(Value::String(document));
                Ok((StatusCode::OK, json!({ "name": policy, "document": value })))
            }
            AdminOp::CreatePolicy { policy } => {
                check_name("policy", &policy)?;
                if is_builtin(&policy) {
                    return Err(AdminError::new(
                        StatusCode::CONFLICT,
                        "EntityAlreadyExists",
                        "that is the name of a built-in policy",
                    ));
                }
                let text = std::str::from_utf8(body)
                    .map_err(|_| AdminError::invalid("the document is not UTF-8"))?;
                let parsed = Policy::parse_identity_policy(text).map_err(|e| {
                    AdminError::new(
                        StatusCode::BAD_REQUEST,
                        "MalformedPolicyDocument",
                        e.to_string(),
                    )
                })?;
                let stored = StoredPolicy {
                    name: policy.clone(),
                    document: parsed.to_json(),
                    created: SystemTime::now(),
                };
                change(IamChange::CreatePolicy(stored)).await?;
                Ok((StatusCode::CREATED, json!({ "name": policy })))
            }
            AdminOp::DeletePolicy { policy } => {
                if is_builtin(&policy) {
                    return Err(AdminError::invalid("a built-in policy cannot be deleted"));
                }
                change(IamChange::DeletePolicy { name: policy }).await?;
                Ok(done())
            }
            _ => Err(AdminError::new(StatusCode::NOT_FOUND, "NotFound", "no such path")),
        }
    }

    /// `POST /admin/v1/users {"name": N, "policies": [...]}`: a user with a fresh key and its
    /// policies (`self-service` unless the list is given; `[]` for none). The policies are
    /// checked before the user is created, so a refused request creates nobody.
    async fn admin_create_user(&self, body: &[u8]) -> Result<(StatusCode, Value), AdminError> {
        let meta = self.engine.metadata();
        let map = json_body(body)?;
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| AdminError::invalid(r#"give {"name": "..."}"#))?
            .to_owned();
        not_root(&name)?;
        let policies: Vec<String> = match map.get("policies") {
            None => vec![DEFAULT_POLICY.to_owned()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| AdminError::invalid("policies is a list of names"))?,
            Some(_) => return Err(AdminError::invalid("policies is a list of names")),
        };
        for p in &policies {
            check_name("policy", p)?;
        }
        if policies.iter().any(|p| !is_builtin(p)) {
            let state = meta.iam_state().await.map_err(store_error)?;
            if let Some(missing) = policies
                .iter()
                .find(|p| !is_builtin(p) && !state.policies.iter().any(|s| s.name == **p))
            {
                return Err(store_error(MetaError::NotFound(IamEntity::Policy))).map_err(
                    |mut e| {
                        e.message = format!("no policy named {missing}");
                        e
                    },
                );
            }
        }
        let (ak, sk) = new_keys()?;
        s3gate_metadata::check_user(&name, &ak, &sk)
            .map_err(|e| AdminError::invalid(e.to_string()))?;
        let user = User {
            name: name.clone(),
            access_key_id: ak.clone(),
            secret_key: sk.clone(),
            is_root: false,
            created: SystemTime::now(),
        };
        meta.create_user(user).await.map_err(store_error)?;
        for p in &policies {
            let c = attachment(p.clone(), Attachee::User(name.clone()), true);
            meta.change_iam(c).await.map_err(store_error)?;
        }
        let created = json!({
            "user": name,
            "access_key_id": ak,
            "secret_access_key": sk,
            "policies": policies,
        });
        Ok((StatusCode::CREATED, created))
    }
}

/// Attaching or detaching `policy`: a built-in name needs no stored policy.
fn attachment(policy: String, to: Attachee, on: bool) -> IamChange {
    if on {
        let stored = !is_builtin(&policy);
        IamChange::Attach { policy, to, stored }
    } else {
        IamChange::Detach { policy, to }
    }
}

fn new_keys() -> Result<(String, String), AdminError> {
    s3gate_metadata::generate_keys().map_err(|e| {
        tracing::error!(error = %e, "admin API: no randomness");
        AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "no randomness")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routing table as data: method, path, operation or refusal.
    #[test]
    fn routes() {
        use AdminOp as A;
        let u = |s: &str| s.to_owned();
        let cases: Vec<(Method, &str, Result<AdminOp, RouteError>)> = vec![
            (Method::GET, "/admin/v1/users", Ok(A::ListUsers)),
            (Method::POST, "/admin/v1/users", Ok(A::CreateUser)),
            (Method::PUT, "/admin/v1/users", Err(RouteError::MethodNotAllowed)),
            (Method::DELETE, "/admin/v1/users/bob", Ok(A::DeleteUser { user: u("bob") })),
            (Method::GET, "/admin/v1/users/bob", Err(RouteError::MethodNotAllowed)),
            (Method::POST, "/admin/v1/users/bob/keys", Ok(A::CreateKey { user: u("bob") })),
            (
                Method::PUT,
                "/admin/v1/users/bob/keys/AK1",
                Ok(A::SetKeyStatus { user: u("bob"), key: u("AK1") }),
            ),
            (
                Method::DELETE,
                "/admin/v1/users/bob/keys/AK1",
                Ok(A::DeleteKey { user: u("bob"), key: u("AK1") }),
            ),
            (
                Method::PUT,
                "/admin/v1/users/bob/policies/read-only",
                Ok(A::AttachUserPolicy { user: u("bob"), policy: u("read-only"), on: true }),
            ),
            (
                Method::DELETE,
                "/admin/v1/users/bob/policies/read-only",
                Ok(A::AttachUserPolicy { user: u("bob"), policy: u("read-only"), on: false }),
            ),
            (Method::GET, "/admin/v1/groups", Ok(A::ListGroups)),
            (Method::PUT, "/admin/v1/groups/ci", Ok(A::CreateGroup { group: u("ci") })),
            (Method::DELETE, "/admin/v1/groups/ci", Ok(A::DeleteGroup { group: u("ci") })),
            (
                Method::PUT,
                "/admin/v1/groups/ci/members/bob",
                Ok(A::Membership { group: u("ci"), user: u("bob"), on: true }),
            ),
            (
                Method::DELETE,
                "/admin/v1/groups/ci/policies/write-only",
                Ok(A::AttachGroupPolicy { group: u("ci"), policy: u("write-only"), on: false }),
            ),
            (Method::GET, "/admin/v1/policies", Ok(A::ListPolicies)),
            (Method::GET, "/admin/v1/policies/p", Ok(A::GetPolicy { policy: u("p") })),
            (Method::PUT, "/admin/v1/policies/p", Ok(A::CreatePolicy { policy: u("p") })),
            (Method::DELETE, "/admin/v1/policies/p", Ok(A::DeletePolicy { policy: u("p") })),
            (Method::POST, "/admin/v1/policies/p", Err(RouteError::MethodNotAllowed)),
            (Method::GET, "/admin/v1/", Err(RouteError::NotFound)),
            (Method::GET, "/admin/v1/users/", Err(RouteError::NotFound)),
            (Method::GET, "/admin/v1//users", Err(RouteError::NotFound)),
            (Method::GET, "/admin/v2/users", Err(RouteError::NotFound)),
            (Method::GET, "/admin/v1/buckets", Err(RouteError::NotFound)),
            (Method::GET, "/admin/v1/users/bob/keys/AK1/x", Err(RouteError::NotFound)),
        ];
        for (method, path, expected) in cases {
            assert_eq!(route(&method, path), expected, "{method} {path}");
        }
    }

    /// Store errors keep their meaning: missing is 404, taken and attached are 409.
    #[test]
    fn store_errors() {
        let cases = [
            (MetaError::NoSuchUser, 404, "NoSuchEntity"),
            (MetaError::NotFound(IamEntity::Group), 404, "NoSuchEntity"),
            (MetaError::AlreadyExists(IamEntity::Policy), 409, "EntityAlreadyExists"),
            (MetaError::UserExists, 409, "EntityAlreadyExists"),
            (MetaError::DeleteConflict, 409, "DeleteConflict"),
        ];
        for (e, status, code) in cases {
            let got = store_error(e);
            assert_eq!((got.status.as_u16(), got.code), (status, code));
        }
    }
}
