//! ACLs and Object Ownership as the server stores and reads them.
//!
//! A bucket's ACL is the bucket configuration of kind [`ACL_KIND`], its Object Ownership the
//! one of kind [`OWNERSHIP_KIND`] (the bare value, `ObjectWriter`); an object's ACL is kept on
//! its version ([`s3gate_metadata::ObjectVersion::acl`]). Every stored ACL is the
//! `AccessControlPolicy` document GetBucketAcl/GetObjectAcl answer, naming its owner by
//! canonical id (the user name, as the `Owner` of listings reports it). No stored ACL is the
//! owner's private ACL; no stored ownership is BucketOwnerEnforced (ACLs off), which is what
//! every bucket was before ACLs were built.

use http::HeaderMap;
use s3gate_policy::{Acl, AclRequest, Grant, Grantee, Group, ObjectOwnership, Permission};
use s3gate_protocol::{AccessControlPolicy, AclGrant, AclGrantee, ErrorCode};

use crate::errors::ApiError;
use crate::headers::header;

/// The configuration kind of a bucket's ACL.
pub(crate) const ACL_KIND: &str = "acl";
/// The configuration kind of a bucket's Object Ownership.
pub(crate) const OWNERSHIP_KIND: &str = "ownership";

/// The grant headers, in the order AWS documents them.
const GRANT_HEADERS: [&str; 5] = [
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
];

/// A stored Object Ownership (absent: BucketOwnerEnforced).
pub(crate) fn ownership(stored: Option<&str>) -> Result<ObjectOwnership, ApiError> {
    stored.map_or(Ok(ObjectOwnership::BucketOwnerEnforced), |text| {
        ObjectOwnership::parse(text).ok_or_else(|| {
            ApiError::internal_error(format!("the stored object ownership {text:?} is unknown"))
        })
    })
}

/// The ACL a request's `x-amz-acl` / `x-amz-grant-*` headers ask for, if any.
pub(crate) fn requested(headers: &HeaderMap) -> Result<Option<AclRequest>, ApiError> {
    let grants: Vec<(&str, &str)> =
        GRANT_HEADERS.iter().filter_map(|n| header(headers, n).map(|v| (*n, v))).collect();
    Ok(AclRequest::from_headers(header(headers, "x-amz-acl"), &grants)?)
}

/// The ACL of an `AccessControlPolicy` document sent for a resource owned by `owner`:
/// unknown permissions and groups are `MalformedACLError`, e-mail grantees
/// `UnresolvableGrantByEmailAddress`, an `Owner` other than the resource's `AccessDenied`
/// (an ACL cannot give a resource away).
pub(crate) fn from_document(doc: &AccessControlPolicy, owner: &str) -> Result<Acl, ApiError> {
    if doc.owner.as_deref().is_some_and(|o| o != owner) {
        return Err(ApiError::code(ErrorCode::AccessDenied));
    }
    let mut grants = Vec::with_capacity(doc.grants.len());
    for g in &doc.grants {
        let permission = Permission::parse(&g.permission)
            .ok_or_else(|| ApiError::code(ErrorCode::MalformedACLError))?;
        let grantee = match &g.grantee {
            AclGrantee::CanonicalUser(id) => Grantee::User(id.clone()),
            AclGrantee::Group(uri) => Grantee::Group(
                Group::from_uri(uri).ok_or_else(|| ApiError::code(ErrorCode::MalformedACLError))?,
            ),
            AclGrantee::Email(_) => return Err(s3gate_policy::PolicyError::GrantByEmail.into()),
        };
        grants.push(Grant { grantee, permission });
    }
    Ok(Acl::new(owner, grants)?)
}

/// The `AccessControlPolicy` document of an ACL (what is stored, and what Get*Acl answers).
/// Group grants come first, then user grants, each in their order (the order RGW answers and
/// clients written against it compare; an ACL's order means nothing).
pub(crate) fn to_xml(acl: &Acl) -> String {
    let (groups, users): (Vec<&Grant>, Vec<&Grant>) =
        acl.grants.iter().partition(|g| matches!(g.grantee, Grantee::Group(_)));
    let grants = groups
        .into_iter()
        .chain(users)
        .map(|g| AclGrant {
            grantee: match &g.grantee {
                Grantee::User(id) => AclGrantee::CanonicalUser(id.clone()),
                Grantee::Group(group) => AclGrantee::Group(group.uri().to_owned()),
            },
            permission: g.permission.as_str().to_owned(),
        })
        .collect();
    AccessControlPolicy { owner: Some(acl.owner.clone()), grants }.to_xml()
}

/// The ACL stored for a resource owned by `owner` (`None`: its private ACL).
pub(crate) fn stored(text: Option<&str>, owner: &str) -> Result<Acl, ApiError> {
    let Some(text) = text else { return Ok(Acl::private(owner)) };
    let bad = |e: String| ApiError::internal_error(format!("a stored ACL does not parse: {e}"));
    let doc = AccessControlPolicy::parse(text.as_bytes()).map_err(|e| bad(e.message))?;
    let owner = doc.owner.clone().unwrap_or_else(|| owner.to_owned());
    from_document(&doc, &owner).map_err(|e| bad(e.s3.message))
}

/// Whether an ACL a request sets is one BucketOwnerEnforced accepts: the canned
/// `bucket-owner-full-control`, or one that, with the requester as its owner, grants full
/// control to the bucket owner and nothing to anyone else (so `private` from the bucket owner
/// is accepted, and from another user refused, as on AWS).
pub(crate) fn enforced_accepts(
    request: &AclRequest,
    requester: &str,
    bucket_owner: &str,
) -> Result<bool, ApiError> {
    if *request == AclRequest::Canned(s3gate_policy::CannedAcl::BucketOwnerFullControl) {
        return Ok(true);
    }
    Ok(request.to_acl(requester, bucket_owner)?.is_owner_full_control(bucket_owner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3gate_policy::CannedAcl;

    /// The same owner and the same grants; the stored form lists group grants first.
    fn same(a: &Acl, b: &Acl) -> bool {
        let set = |acl: &Acl| acl.grants.iter().cloned().collect::<std::collections::HashSet<_>>();
        a.owner == b.owner && a.grants.len() == b.grants.len() && set(a) == set(b)
    }

    #[test]
    fn stored_documents_round_trip() {
        let acl = CannedAcl::PublicReadWrite.to_acl("alice", "alice").unwrap();
        let back = stored(Some(&to_xml(&acl)), "bob").unwrap();
        assert!(same(&back, &acl), "{back:?} != {acl:?}");
        assert!(matches!(back.grants[0].grantee, Grantee::Group(_)), "{back:?}");
        assert_eq!(stored(None, "bob").unwrap(), Acl::private("bob"));
        let log = CannedAcl::LogDeliveryWrite.to_acl("alice", "alice").unwrap();
        let back = stored(Some(&to_xml(&log)), "alice").unwrap();
        assert!(same(&back, &log), "{back:?} != {log:?}");
    }

    #[test]
    fn documents_from_clients() {
        let doc =
            |owner: Option<&str>, grantee: AclGrantee, permission: &str| AccessControlPolicy {
                owner: owner.map(str::to_owned),
                grants: vec![AclGrant { grantee, permission: permission.to_owned() }],
            };
        let user = || AclGrantee::CanonicalUser("bob".into());
        let acl = from_document(&doc(Some("alice"), user(), "READ"), "alice").unwrap();
        assert_eq!(acl.grants[0].permission, Permission::Read);
        let code = |r: Result<Acl, ApiError>| r.unwrap_err().s3.code;
        assert_eq!(
            code(from_document(&doc(None, user(), "PEEK"), "a")),
            ErrorCode::MalformedACLError
        );
        assert_eq!(
            code(from_document(&doc(None, AclGrantee::Group("http://x".into()), "READ"), "a")),
            ErrorCode::MalformedACLError
        );
        assert_eq!(
            code(from_document(&doc(None, AclGrantee::Email("a@b".into()), "READ"), "a")),
            ErrorCode::UnresolvableGrantByEmailAddress
        );
        assert_eq!(
            code(from_document(&doc(Some("eve"), user(), "READ"), "a")),
            ErrorCode::AccessDenied
        );
    }

    #[test]
    fn bucket_owner_enforced_accepts_only_the_owners_full_control() {
        let canned = |c| AclRequest::Canned(c);
        assert!(enforced_accepts(&canned(CannedAcl::BucketOwnerFullControl), "w", "b").unwrap());
        assert!(enforced_accepts(&canned(CannedAcl::Private), "b", "b").unwrap());
        assert!(!enforced_accepts(&canned(CannedAcl::Private), "w", "b").unwrap());
        assert!(!enforced_accepts(&canned(CannedAcl::PublicRead), "b", "b").unwrap());
        let grants = AclRequest::Grants(vec![Grant {
            grantee: Grantee::User("b".into()),
            permission: Permission::FullControl,
        }]);
        assert!(enforced_accepts(&grants, "w", "b").unwrap());
    }
}
