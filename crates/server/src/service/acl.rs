//! ACLs and Object Ownership: Put/GetBucketAcl, Put/GetObjectAcl,
//! Put/Get/DeleteBucketOwnershipControls, and the owner and ACL a write gives its version
//! (module `crate::acl` stores them, `authz` enforces them).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use s3gate_engine::api::Caller;
use s3gate_engine::{EngineError, VersionOwnership};
use s3gate_metadata::MetadataStore;
use s3gate_policy::{Acl, AclRequest, ObjectOwnership, PolicyError};
use s3gate_protocol::{
    AccessControlPolicy, BucketName, ErrorCode, ObjectKey, ownership_controls_xml,
    parse_ownership_controls,
};
use s3gate_storage_backend::BlobStore;

use super::{Gateway, Resp, empty, version_id_header, xml};
use crate::acl::{self, ACL_KIND, OWNERSHIP_KIND};
use crate::authz::BucketFacts;
use crate::errors::ApiError;

fn meta_err(e: s3gate_metadata::MetaError) -> ApiError {
    ApiError::from(EngineError::from(e))
}

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// The bucket's owner, Object Ownership, ACL and Block Public Access (one read of its
    /// configurations). `NoSuchBucket` if it is gone.
    pub(super) async fn bucket_acl_state(
        &self,
        bucket: &BucketName,
    ) -> Result<BucketFacts, ApiError> {
        let meta = self.engine.metadata();
        let b = meta
            .bucket(bucket.as_str())
            .await
            .map_err(meta_err)?
            .ok_or_else(|| ApiError::from(EngineError::NoSuchBucket))?;
        let configs = meta.bucket_configs(bucket.as_str()).await.map_err(meta_err)?;
        BucketFacts::from_configs(b.owner, &configs, self.authz.gateway_block())
    }

    /// Checks an ACL a request sets on a bucket whose ACLs are on: Block Public Access
    /// (`AccessDenied`), and every canonical-user grantee is a user of the gateway
    /// (`InvalidArgument` "Invalid id", as AWS answers for an unknown canonical id).
    async fn check_new_acl(&self, acl: &Acl, state: &BucketFacts) -> Result<(), ApiError> {
        state.public_access_block.check_acl(acl)?;
        for id in acl.canonical_ids() {
            if id != state.owner && id != acl.owner && !self.user_exists(id).await? {
                return Err(ApiError::msg(ErrorCode::InvalidArgument, "Invalid id"));
            }
        }
        Ok(())
    }

    /// The owner and ACL a write by `caller` gives its version (PutObject, CopyObject,
    /// CreateMultipartUpload, POST Object), decided by the bucket's Object Ownership and the
    /// request's `x-amz-acl`/`x-amz-grant-*` headers. With ACLs off only the bucket owner's
    /// full control is accepted (`AccessControlListNotSupported` otherwise) and the engine's
    /// default stays; with ACLs on the ACL is always stored (`private` when none is sent).
    ///
    /// `known` is what the authorization of the request read of the bucket (no second read);
    /// `None` reads it.
    pub(super) async fn write_ownership(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        headers: &HeaderMap,
        known: Option<&Arc<BucketFacts>>,
    ) -> Result<VersionOwnership, ApiError> {
        let requested = acl::requested(headers)?;
        let state = match known {
            Some(facts) => Arc::clone(facts),
            None => Arc::new(self.bucket_acl_state(bucket).await?),
        };
        if !state.ownership.acls_enabled() {
            if let Some(r) = &requested
                && !acl::enforced_accepts(r, &caller.user, &state.owner)?
            {
                return Err(PolicyError::AclNotSupported.into());
            }
            return Ok(VersionOwnership::default());
        }
        let owner =
            state.ownership.object_owner(&caller.user, &state.owner, requested.as_ref()).to_owned();
        let acl = match &requested {
            Some(r) => r.to_acl(&owner, &state.owner)?,
            None => Acl::private(&owner),
        };
        self.check_new_acl(&acl, &state).await?;
        Ok(VersionOwnership { owner: Some(owner), acl: Some(acl::to_xml(&acl)) })
    }

    /// The ACL a PutBucketAcl/PutObjectAcl sets on a resource owned by `owner`: from the
    /// headers or from an `AccessControlPolicy` body, never both.
    fn put_acl_request(
        headers: &HeaderMap,
        body: &[u8],
        owner: &str,
        bucket_owner: &str,
    ) -> Result<(Acl, Option<AclRequest>), ApiError> {
        let requested = acl::requested(headers)?;
        match (requested, body.iter().all(u8::is_ascii_whitespace)) {
            (Some(r), true) => Ok((r.to_acl(owner, bucket_owner)?, Some(r))),
            (Some(_), false) => Err(ApiError::code(ErrorCode::UnexpectedContent)),
            (None, false) => {
                let doc = AccessControlPolicy::parse(body)?;
                Ok((acl::from_document(&doc, owner)?, None))
            }
            (None, true) => Err(s3gate_protocol::S3Error::with_message(
                ErrorCode::MissingSecurityHeader,
                "Your request was missing a required header",
            )
            .with_extra("MissingHeaderName", "x-amz-acl")
            .into()),
        }
    }

    /// Get/PutBucketAcl.
    pub(super) async fn bucket_acl(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        operation: &str,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let state = self.bucket_acl_state(bucket).await?;
        if operation == "GetBucketAcl" {
            return Ok(xml(StatusCode::OK, acl::to_xml(&state.acl())));
        }
        let body = body.unwrap_or_default();
        let (new, requested) = Self::put_acl_request(headers, &body, &state.owner, &state.owner)?;
        if !state.ownership.acls_enabled() {
            // Only what is already true is accepted: the bucket owner's full control.
            let accepted = match &requested {
                Some(r) => acl::enforced_accepts(r, &caller.user, &state.owner)?,
                None => new.is_owner_full_control(&state.owner),
            };
            return if accepted {
                Ok(empty(StatusCode::OK))
            } else {
                Err(PolicyError::AclNotSupported.into())
            };
        }
        self.check_new_acl(&new, &state).await?;
        let meta = self.engine.metadata();
        meta.put_bucket_config(bucket.as_str(), ACL_KIND, Some(acl::to_xml(&new)))
            .await
            .map_err(meta_err)?;
        Ok(empty(StatusCode::OK))
    }

    /// Get/PutObjectAcl of one version (the latest when `version_id` is `None`).
    #[allow(clippy::too_many_arguments, reason = "the parts of one request, each used once")]
    pub(super) async fn object_acl(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
        operation: &str,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let e = &self.engine;
        let version = e.object_attributes(caller, bucket, key, version_id).await?;
        let state = self.bucket_acl_state(bucket).await?;
        // With ACLs off the bucket owner owns every object, with full control.
        let current = if state.ownership.acls_enabled() {
            acl::stored(version.acl.as_deref(), &version.owner)?
        } else {
            Acl::private(&state.owner)
        };
        let mut r = if operation == "GetObjectAcl" {
            xml(StatusCode::OK, acl::to_xml(&current))
        } else {
            let body = body.unwrap_or_default();
            let (new, requested) =
                Self::put_acl_request(headers, &body, &current.owner, &state.owner)?;
            if state.ownership.acls_enabled() {
                self.check_new_acl(&new, &state).await?;
                let text = Some(acl::to_xml(&new));
                let meta = e.metadata();
                meta.set_object_acl(bucket.as_str(), key.as_str(), Some(&version.version_id), text)
                    .await
                    .map_err(meta_err)?;
            } else {
                let accepted = match &requested {
                    Some(r) => acl::enforced_accepts(r, &caller.user, &state.owner)?,
                    None => new.is_owner_full_control(&state.owner),
                };
                if !accepted {
                    return Err(PolicyError::AclNotSupported.into());
                }
            }
            empty(StatusCode::OK)
        };
        version_id_header(&mut r, &version.version_id, version_id.is_some());
        Ok(r)
    }

    /// Get/Put/DeleteBucketOwnershipControls.
    pub(super) async fn bucket_ownership(
        &self,
        bucket: &BucketName,
        operation: &str,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let meta = self.engine.metadata();
        let state = self.bucket_acl_state(bucket).await?;
        match operation {
            "GetBucketOwnershipControls" => {
                let stored = meta
                    .bucket_config(bucket.as_str(), OWNERSHIP_KIND)
                    .await
                    .map_err(meta_err)?
                    .ok_or_else(|| {
                        ApiError::msg(
                            ErrorCode::OwnershipControlsNotFoundError,
                            "The bucket ownership controls were not found",
                        )
                    })?;
                Ok(xml(StatusCode::OK, ownership_controls_xml(&stored)))
            }
            "PutBucketOwnershipControls" => {
                let value = parse_ownership_controls(&body.unwrap_or_default())?;
                // ACLs cannot be switched off while the bucket's ACL grants more than the
                // owner's full control (AWS's rule): the grants would silently vanish.
                if value == ObjectOwnership::BucketOwnerEnforced.as_str()
                    && !state.acl().is_owner_full_control(&state.owner)
                {
                    return Err(ApiError::code(ErrorCode::InvalidBucketAclWithObjectOwnership));
                }
                meta.put_bucket_config(bucket.as_str(), OWNERSHIP_KIND, Some(value.to_owned()))
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::OK))
            }
            _ => {
                meta.put_bucket_config(bucket.as_str(), OWNERSHIP_KIND, None)
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
        }
    }

    /// CreateBucket's Object Ownership and ACL, stored after the bucket is created: first the
    /// ownership, then the ACL. A crash between the steps leaves a bucket that grants less
    /// than asked, never more: no ownership is BucketOwnerEnforced (ACLs off, only the owner),
    /// and ownership without an ACL is the owner's private ACL.
    pub(super) async fn create_bucket_acl(
        &self,
        bucket: &BucketName,
        ownership: ObjectOwnership,
        acl: Option<&Acl>,
    ) -> Result<(), ApiError> {
        let meta = self.engine.metadata();
        meta.put_bucket_config(
            bucket.as_str(),
            OWNERSHIP_KIND,
            Some(ownership.as_str().to_owned()),
        )
        .await
        .map_err(meta_err)?;
        if let Some(acl) = acl.filter(|_| ownership.acls_enabled()) {
            meta.put_bucket_config(bucket.as_str(), ACL_KIND, Some(acl::to_xml(acl)))
                .await
                .map_err(meta_err)?;
        }
        Ok(())
    }

    /// Checks CreateBucket's ACL headers against the ownership it asks for (before anything
    /// is created): with ACLs off, an ACL granting more than the owner's full control is
    /// `InvalidBucketAclWithObjectOwnership`; with ACLs on, the gateway-wide Block Public
    /// Access applies (a new bucket has none of its own) and grantees must exist.
    pub(super) async fn check_create_bucket_acl(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        ownership: ObjectOwnership,
    ) -> Result<Option<Acl>, ApiError> {
        let Some(requested) = acl::requested(headers)? else { return Ok(None) };
        let acl = requested.to_acl(&caller.user, &caller.user)?;
        if !ownership.acls_enabled() {
            if !acl.is_owner_full_control(&caller.user) {
                return Err(ApiError::code(ErrorCode::InvalidBucketAclWithObjectOwnership));
            }
            return Ok(None);
        }
        // The bucket has no Block Public Access of its own yet; the gateway's applies.
        self.authz.gateway_block().check_acl(&acl)?;
        for id in acl.canonical_ids() {
            if id != caller.user && !self.user_exists(id).await? {
                return Err(ApiError::msg(ErrorCode::InvalidArgument, "Invalid id"));
            }
        }
        Ok(Some(acl))
    }
}
