//! The web console's way into the gateway (module `crate::console` is the console itself).
//!
//! A console session stands for a signature: the session's access key resolves to the same
//! [`Signer`] a signed request of that key would (the signer cache, so a disabled key or a
//! changed policy reaches open sessions within `auth::TTL`). Everything the console does is an
//! S3 operation, routed by `s3_protocol::route` from the path and query an S3 client would
//! send, and decided by `Gateway::authorize`, the one evaluator of the S3 API:
//!
//! - the pages' reads ([`Gateway::console_buckets`], [`Gateway::console_list`],
//!   [`Gateway::console_object`]) authorize their operation, then make the engine call the S3
//!   operation makes;
//! - every other action (download, upload, multipart, delete, copy, bucket create and delete,
//!   versioning) is a whole S3 request run by the S3 pipeline as the session's user
//!   ([`Gateway::handle_as`]): the same header checks, body decoding, engine calls and errors;
//! - which buttons a page shows is asked of the bucket's grant ([`Gateway::console_grant`]):
//!   a hint only, since the request itself is decided again when it is made.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use s3gate_engine::api::ListObjectsRequest;
use s3gate_engine::{ListVersionsRequest, VersionListEntry};
use s3gate_metadata::{Bucket, ListPage, MetadataStore, ObjectVersion};
use s3gate_protocol::{ErrorCode, Operation, RequestTarget, route};
use s3gate_storage_backend::BlobStore;

use super::{Authed, Gateway, Signed, decode_token, encode_token};
use crate::auth::Signer;
use crate::authz::{Authz, BucketGrant, ClientInfo};
use crate::errors::ApiError;

/// One version of a key, as the object page lists them.
#[derive(Debug, Clone)]
pub(crate) struct VersionRow {
    pub(crate) version_id: String,
    pub(crate) is_latest: bool,
    pub(crate) is_delete_marker: bool,
    pub(crate) size: u64,
    pub(crate) last_modified: SystemTime,
}

/// What the object page shows.
#[derive(Debug)]
pub(crate) struct ObjectDetails {
    /// The latest version (its headers, checksum and lock).
    pub(crate) version: ObjectVersion,
    /// The tags, when the user may read them (`s3:GetObjectTagging`).
    pub(crate) tags: Option<Vec<(String, String)>>,
    /// The key's versions, newest first, when the user may list them
    /// (`s3:ListBucketVersions`); at most 100.
    pub(crate) versions: Option<Vec<VersionRow>>,
}

/// A page of a bucket listing with the token of the next page.
#[derive(Debug)]
pub(crate) struct Listing {
    pub(crate) page: ListPage,
    pub(crate) next_token: Option<String>,
}

/// What the bucket settings page shows: each item `None` when the user may not read it.
#[derive(Debug)]
pub(crate) struct BucketSettings {
    pub(crate) versioning: Option<s3gate_metadata::Versioning>,
    /// Whether the user may change versioning (`s3:PutBucketVersioning`).
    pub(crate) may_set_versioning: bool,
    /// The stored configurations (policy, CORS, encryption, lifecycle, ...), by sub-resource
    /// name, with their documents.
    pub(crate) configs: Vec<(String, Option<String>)>,
}

/// Percent-encodes `s` for a URI path (`/` kept when `keep_slash`) or query value, as S3
/// clients do (RFC 3986 unreserved characters are left as they are).
pub(crate) fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// The signer of an active key `access_key_id` (through the signer cache), `None` for an
    /// unknown or disabled key.
    pub(crate) async fn console_signer(
        &self,
        access_key_id: &str,
    ) -> Result<Option<Arc<Signer>>, ApiError> {
        let found = self.users.lookup(self.engine.metadata(), &self.authz, access_key_id).await?;
        Ok(found.filter(|s| s.active))
    }

    /// The S3 pipeline's view of a console user.
    pub(super) fn console_authed(signer: &Signer) -> Authed {
        let u = &signer.user;
        Authed {
            caller: s3gate_engine::api::Caller {
                user: u.name.clone(),
                is_root: u.is_root,
                authorized: false,
            },
            signed: Some(Signed::Console),
            identity: signer.identity.clone(),
            grant: None,
            bucket: None,
            bypass: false,
            checker: None,
        }
    }

    /// The operation an S3 client's `method path?query` names (path style).
    fn console_route(&self, method: &str, path: &str, query: &str) -> Result<Operation, ApiError> {
        let target = RequestTarget {
            method,
            raw_path: path,
            raw_query: if query.is_empty() { None } else { Some(query) },
            host: None,
            has_copy_source: false,
        };
        Ok(route(&target, &self.route_cfg)?)
    }

    /// Authorizes `op` for a console user as the S3 API would authorize it (no headers).
    async fn console_authorize(
        &self,
        signer: &Signer,
        op: &Operation,
        client: ClientInfo,
    ) -> Result<Authed, ApiError> {
        let mut authed = Self::console_authed(signer);
        self.authorize(op, &HeaderMap::new(), client, None, &mut authed).await?;
        Ok(authed)
    }

    /// ListBuckets as the S3 API answers it for this user.
    pub(crate) async fn console_buckets(
        &self,
        signer: &Signer,
        client: ClientInfo,
    ) -> Result<Vec<Bucket>, ApiError> {
        let op = self.console_route("GET", "/", "")?;
        let authed = self.console_authorize(signer, &op, client).await?;
        let e = &self.engine;
        match &authed.checker {
            Some(checker) if authed.identity.has_policies() => {
                let all = e.metadata().list_buckets(None).await.map_err(super::engine_meta)?;
                Ok(all
                    .into_iter()
                    .filter(|b| {
                        b.owner == authed.caller.user || Authz::identity_lists(checker, &b.name)
                    })
                    .collect())
            }
            _ => Ok(e.list_buckets(&authed.caller).await?),
        }
    }

    /// Whether a console user may create some bucket: root, or an identity policy with an
    /// Allow naming `s3:CreateBucket` (the name is decided when the bucket is created).
    pub(crate) fn console_may_create_bucket(signer: &Signer) -> bool {
        signer.user.is_root
            || signer.identity.user.as_ref().is_some_and(|u| {
                u.policies().iter().any(|p| p.policy.may_allow(s3gate_policy::Action::CreateBucket))
            })
    }

    /// One page of ListObjectsV2 (`/` as the delimiter) as the S3 API answers it.
    pub(crate) async fn console_list(
        &self,
        signer: &Signer,
        client: ClientInfo,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
        max_keys: u32,
    ) -> Result<Listing, ApiError> {
        let mut query = format!(
            "delimiter=%2F&list-type=2&max-keys={max_keys}&prefix={}",
            uri_encode(prefix, false)
        );
        if let Some(t) = token {
            query = format!("continuation-token={}&{query}", uri_encode(t, false));
        }
        let op = self.console_route("GET", &format!("/{}", uri_encode(bucket, false)), &query)?;
        let Operation::ListObjectsV2 { bucket, params } = &op else {
            return Err(ApiError::internal_error("a console listing routed elsewhere".to_owned()));
        };
        let authed = self.console_authorize(signer, &op, client).await?;
        let start_after = params.continuation_token.as_deref().map(decode_token).transpose()?;
        let req = ListObjectsRequest {
            prefix: params.prefix.clone(),
            delimiter: params.delimiter.clone(),
            start_after,
            max_keys: params.max_keys,
        };
        let page = self.engine.list_objects(&authed.caller, bucket, &req).await?;
        let next_token = if page.is_truncated {
            page.entries.last().map(|e| encode_token(e.sort_key()))
        } else {
            None
        };
        Ok(Listing { page, next_token })
    }

    /// HeadObject's answer, with the tags and versions the user may read.
    pub(crate) async fn console_object(
        &self,
        signer: &Signer,
        client: ClientInfo,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectDetails, ApiError> {
        let path = format!("/{}/{}", uri_encode(bucket, false), uri_encode(key, true));
        let head = self.console_route("HEAD", &path, "")?;
        let Operation::HeadObject { bucket: b, key: k, .. } = &head else {
            return Err(ApiError::internal_error("a console head routed elsewhere".to_owned()));
        };
        let authed = self.console_authorize(signer, &head, client).await?;
        let version = self.engine.object_attributes(&authed.caller, b, k, None).await?;
        let tagging = self.console_route("GET", &path, "tagging")?;
        let tags = match self.console_authorize(signer, &tagging, client).await {
            Ok(_) => Some(version.tags.clone()),
            Err(e) if e.s3.code == ErrorCode::AccessDenied => None,
            Err(e) => return Err(e),
        };
        let query = format!("prefix={}&versions", uri_encode(key, false));
        let list = self.console_route("GET", &format!("/{}", uri_encode(bucket, false)), &query)?;
        let versions = match self.console_authorize(signer, &list, client).await {
            Ok(authed) => {
                let req = ListVersionsRequest {
                    prefix: key.to_owned(),
                    delimiter: None,
                    key_marker: None,
                    version_id_marker: None,
                    max_keys: 100,
                };
                let page = self.engine.list_object_versions(&authed.caller, b, &req).await?;
                let rows = page.entries.into_iter().filter_map(|e| match e {
                    VersionListEntry::Version(v) if v.key == key => Some(VersionRow {
                        version_id: v.version_id,
                        is_latest: v.is_latest,
                        is_delete_marker: v.is_delete_marker,
                        size: v.size,
                        last_modified: v.last_modified,
                    }),
                    _ => None,
                });
                Some(rows.collect())
            }
            Err(e) if e.s3.code == ErrorCode::AccessDenied => None,
            Err(e) => return Err(e),
        };
        Ok(ObjectDetails { version, tags, versions })
    }

    /// What a console user may do on `bucket`, for deciding which buttons to show (`None`:
    /// no such bucket, or nothing at all).
    pub(crate) async fn console_grant(
        &self,
        signer: &Signer,
        client: ClientInfo,
        bucket: &str,
    ) -> Result<Option<BucketGrant>, ApiError> {
        let op = self.console_route("GET", &format!("/{}", uri_encode(bucket, false)), "")?;
        let authed = Self::console_authed(signer);
        let checker = Authz::checker(&authed.identity, &op, &HeaderMap::new(), client, None);
        match self.authz.decide(self.engine.metadata(), checker, None, bucket, None, None).await {
            Ok(grant) => Ok(grant),
            Err(e) if e.s3.code == ErrorCode::AccessDenied => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a console user may make the S3 request `method path?query` (decided with no
    /// headers, as a hint for which buttons to show).
    pub(crate) async fn console_may(
        &self,
        signer: &Signer,
        client: ClientInfo,
        method: &str,
        path: &str,
        query: &str,
    ) -> bool {
        let Ok(op) = self.console_route(method, path, query) else { return false };
        self.console_authorize(signer, &op, client).await.is_ok()
    }

    /// The bucket's versioning state and stored configurations, each read only when the user
    /// may read it with its S3 GET (GetBucketVersioning, GetBucketPolicy, GetBucketCors, ...).
    pub(crate) async fn console_settings(
        &self,
        signer: &Signer,
        client: ClientInfo,
        bucket: &str,
    ) -> Result<BucketSettings, ApiError> {
        let path = format!("/{}", uri_encode(bucket, false));
        let meta = self.engine.metadata();
        let Some(b) = meta.bucket(bucket).await.map_err(super::engine_meta)? else {
            return Err(ApiError::code(ErrorCode::NoSuchBucket));
        };
        let versioning = self
            .console_may(signer, client, "GET", &path, "versioning")
            .await
            .then_some(b.versioning);
        let may_set_versioning = self.console_may(signer, client, "PUT", &path, "versioning").await;
        let mut configs = Vec::new();
        for (kind, text) in meta.bucket_configs(bucket).await.map_err(super::engine_meta)? {
            let readable =
                s3gate_protocol::SubResource::find(s3gate_protocol::Scope::Bucket, &kind)
                    .is_some_and(|row| row.get.is_some());
            if !readable {
                continue;
            }
            let allowed = self.console_may(signer, client, "GET", &path, &kind).await;
            configs.push((kind, allowed.then_some(text)));
        }
        Ok(BucketSettings { versioning, may_set_versioning, configs })
    }

    /// An admin API request (`/admin/v1/...`) of a console session: root's only, as the admin
    /// API's own signature check requires.
    pub(crate) async fn console_admin(
        &self,
        signer: &Signer,
        method: &http::Method,
        path: &str,
        body: &[u8],
    ) -> Option<http::Response<crate::ResponseBody>> {
        if !signer.user.is_root {
            return None;
        }
        Some(self.admin_unsigned(method, path, body).await)
    }

    /// A presigned GET URL of `bucket/key` on `base` (the S3 listener's URL as clients reach
    /// it), signed with the user's key, valid for `expires`: only for a user who may read the
    /// object now (a link the user could not use would only fail later).
    pub(crate) async fn console_presign(
        &self,
        signer: &Signer,
        client: ClientInfo,
        base: &str,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<String, ApiError> {
        let path = format!("/{}/{}", uri_encode(bucket, false), uri_encode(key, true));
        let op = self.console_route("GET", &path, "")?;
        self.console_authorize(signer, &op, client).await?;
        let base = base.trim_end_matches('/');
        let host = base.split_once("://").map_or(base, |(_, h)| h);
        let host = host.split('/').next().unwrap_or(host);
        let headers = [("host", host)];
        let req = s3gate_sigv4::RequestParts {
            method: "GET",
            raw_path: &path,
            raw_query: None,
            headers: &headers,
        };
        let params = s3gate_sigv4::SigningParams {
            access_key_id: &signer.user.access_key_id,
            secret_key: &signer.user.secret_key,
            region: &self.engine.config().region,
            service: "s3",
            time: SystemTime::now(),
        };
        let query = s3gate_sigv4::presign(&req, expires, &params);
        Ok(format!("{base}{path}?{query}"))
    }
}

#[cfg(test)]
mod tests {
    use super::uri_encode;

    #[test]
    fn encodes_as_s3_clients_do() {
        let cases = [
            ("a/b c", true, "a/b%20c"),
            ("a/b c", false, "a%2Fb%20c"),
            ("é~_-.", false, "%C3%A9~_-."),
            ("x+y=z&", true, "x%2By%3Dz%26"),
        ];
        for (input, slash, expected) in cases {
            assert_eq!(uri_encode(input, slash), expected, "{input}");
        }
    }
}
