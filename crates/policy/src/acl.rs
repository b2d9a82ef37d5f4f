//! Access control lists: grants, canned ACLs, the `x-amz-grant-*` headers, the actions each
//! ACL permission allows, and Object Ownership (which can switch ACLs off).
//!
//! The ACL XML body is not here: s3-protocol owns XML and converts to and from [`Acl`].

use crate::action::Action;
use crate::error::PolicyError;
use crate::principal::Principal;

/// The most grants one ACL may hold, as on S3.
pub const MAX_GRANTS: usize = 100;

/// An ACL permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `READ`: list a bucket, read an object.
    Read,
    /// `WRITE`: create, overwrite and delete objects in a bucket.
    Write,
    /// `READ_ACP`: read the ACL.
    ReadAcp,
    /// `WRITE_ACP`: replace the ACL.
    WriteAcp,
    /// `FULL_CONTROL`: all four.
    FullControl,
}

impl Permission {
    /// Parses `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP`, `FULL_CONTROL`.
    pub fn parse(text: &str) -> Option<Permission> {
        Some(match text {
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            "FULL_CONTROL" => Permission::FullControl,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    /// Whether holding `self` gives `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// A predefined group of grantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Everyone, signed or not.
    AllUsers,
    /// Every user who signs requests (in s3gate: every user of the gateway).
    AuthenticatedUsers,
    /// The log delivery service; s3gate has none, so the group matches no requester.
    LogDelivery,
}

impl Group {
    /// The group's URI.
    pub fn uri(self) -> &'static str {
        match self {
            Group::AllUsers => "http://acs.amazonaws.com/groups/global/AllUsers",
            Group::AuthenticatedUsers => {
                "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
            }
            Group::LogDelivery => "http://acs.amazonaws.com/groups/s3/LogDelivery",
        }
    }

    /// The group a URI names.
    pub fn from_uri(uri: &str) -> Option<Group> {
        [Group::AllUsers, Group::AuthenticatedUsers, Group::LogDelivery]
            .into_iter()
            .find(|g| g.uri() == uri)
    }
}

/// Who a grant is to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// A user, by canonical id.
    User(String),
    /// A predefined group.
    Group(Group),
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

/// A bucket's or an object's ACL: its owner and its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// The owner's canonical id (the owner may always read and replace the ACL).
    pub owner: String,
    /// The grants, in order.
    pub grants: Vec<Grant>,
}

impl Acl {
    /// An ACL of `grants`; more than [`MAX_GRANTS`] is `MalformedACLError`.
    pub fn new(owner: impl Into<String>, grants: Vec<Grant>) -> Result<Acl, PolicyError> {
        if grants.len() > MAX_GRANTS {
            return Err(PolicyError::MalformedAcl {
                reason: format!("An ACL may hold at most {MAX_GRANTS} grants"),
            });
        }
        Ok(Acl { owner: owner.into(), grants })
    }

    /// The `private` ACL: the owner has full control.
    pub fn private(owner: impl Into<String>) -> Acl {
        let owner = owner.into();
        let grants = vec![Grant {
            grantee: Grantee::User(owner.clone()),
            permission: Permission::FullControl,
        }];
        Acl { owner, grants }
    }

    /// Whether the ACL grants anything to AllUsers or AuthenticatedUsers (AWS's "public").
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| {
            matches!(g.grantee, Grantee::Group(Group::AllUsers | Group::AuthenticatedUsers))
        })
    }

    /// The canonical ids the grants name, for the server to check they exist.
    pub fn canonical_ids(&self) -> impl Iterator<Item = &str> {
        self.grants.iter().filter_map(|g| match &g.grantee {
            Grantee::User(id) => Some(id.as_str()),
            Grantee::Group(_) => None,
        })
    }

    /// Whether the ACL gives `principal` the permission `wanted`; with `ignore_public`
    /// (IgnorePublicAcls), grants to AllUsers and AuthenticatedUsers count for nothing.
    pub fn grants_to(
        &self,
        principal: &Principal,
        wanted: Permission,
        ignore_public: bool,
    ) -> bool {
        let user = principal.user();
        if let Some(user) = user
            && user.canonical_id() == self.owner
            && matches!(wanted, Permission::ReadAcp | Permission::WriteAcp)
        {
            return true;
        }
        self.grants.iter().any(|g| {
            g.permission.covers(wanted)
                && match &g.grantee {
                    Grantee::User(id) => user.is_some_and(|u| u.canonical_id() == id),
                    Grantee::Group(Group::AllUsers) => !ignore_public,
                    Grantee::Group(Group::AuthenticatedUsers) => !ignore_public && user.is_some(),
                    Grantee::Group(Group::LogDelivery) => false,
                }
        })
    }

    /// Whether every grant is full control to `owner` (and there is one): the only ACL a
    /// bucket with ObjectOwnership BucketOwnerEnforced accepts.
    pub fn is_owner_full_control(&self, owner: &str) -> bool {
        !self.grants.is_empty()
            && self.grants.iter().all(|g| {
                g.permission == Permission::FullControl
                    && matches!(&g.grantee, Grantee::User(id) if id == owner)
            })
    }
}

/// Which ACL, and which permission in it, allows an action (AWS's "ACL permission and
/// access policy permission" table). Actions not listed are never allowed by an ACL.
pub fn acl_permission(action: Action) -> Option<(AclOf, Permission)> {
    use Action as A;
    Some(match action {
        A::ListBucket | A::ListBucketVersions | A::ListBucketMultipartUploads => {
            (AclOf::Bucket, Permission::Read)
        }
        A::PutObject | A::DeleteObject => (AclOf::Bucket, Permission::Write),
        A::GetBucketAcl => (AclOf::Bucket, Permission::ReadAcp),
        A::PutBucketAcl => (AclOf::Bucket, Permission::WriteAcp),
        A::GetObject | A::GetObjectVersion | A::GetObjectTorrent => {
            (AclOf::Object, Permission::Read)
        }
        A::GetObjectAcl | A::GetObjectVersionAcl => (AclOf::Object, Permission::ReadAcp),
        A::PutObjectAcl | A::PutObjectVersionAcl => (AclOf::Object, Permission::WriteAcp),
        _ => return None,
    })
}

/// The ACL an action is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOf {
    /// The bucket's ACL.
    Bucket,
    /// The object's ACL.
    Object,
}

/// A canned ACL (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedAcl {
    /// Owner: full control.
    Private,
    /// Owner: full control; AllUsers: read.
    PublicRead,
    /// Owner: full control; AllUsers: read and write.
    PublicReadWrite,
    /// Owner: full control; AuthenticatedUsers: read.
    AuthenticatedRead,
    /// Owner: full control; Amazon EC2: read. Refused: s3gate has no EC2.
    AwsExecRead,
    /// Object owner: full control; bucket owner: read (on a bucket: as private).
    BucketOwnerRead,
    /// Object owner and bucket owner: full control (on a bucket: as private).
    BucketOwnerFullControl,
    /// Owner: full control; LogDelivery: write and read-acp.
    LogDeliveryWrite,
}

impl CannedAcl {
    /// Parses an `x-amz-acl` value.
    pub fn parse(text: &str) -> Result<CannedAcl, PolicyError> {
        Ok(match text {
            "private" => CannedAcl::Private,
            "public-read" => CannedAcl::PublicRead,
            "public-read-write" => CannedAcl::PublicReadWrite,
            "authenticated-read" => CannedAcl::AuthenticatedRead,
            "aws-exec-read" => CannedAcl::AwsExecRead,
            "bucket-owner-read" => CannedAcl::BucketOwnerRead,
            "bucket-owner-full-control" => CannedAcl::BucketOwnerFullControl,
            "log-delivery-write" => CannedAcl::LogDeliveryWrite,
            _ => {
                return Err(PolicyError::InvalidArgument {
                    reason: format!("Invalid canned ACL: {text}"),
                });
            }
        })
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CannedAcl::Private => "private",
            CannedAcl::PublicRead => "public-read",
            CannedAcl::PublicReadWrite => "public-read-write",
            CannedAcl::AuthenticatedRead => "authenticated-read",
            CannedAcl::AwsExecRead => "aws-exec-read",
            CannedAcl::BucketOwnerRead => "bucket-owner-read",
            CannedAcl::BucketOwnerFullControl => "bucket-owner-full-control",
            CannedAcl::LogDeliveryWrite => "log-delivery-write",
        }
    }

    /// The ACL it stands for on a resource owned by `owner` in a bucket owned by
    /// `bucket_owner` (for a bucket, pass its owner twice).
    pub fn to_acl(self, owner: &str, bucket_owner: &str) -> Result<Acl, PolicyError> {
        let mut acl = Acl::private(owner);
        let mut grant =
            |grantee: Grantee, permission| acl.grants.push(Grant { grantee, permission });
        match self {
            CannedAcl::PublicRead => grant(Grantee::Group(Group::AllUsers), Permission::Read),
            CannedAcl::PublicReadWrite => {
                grant(Grantee::Group(Group::AllUsers), Permission::Read);
                grant(Grantee::Group(Group::AllUsers), Permission::Write);
            }
            CannedAcl::AuthenticatedRead => {
                grant(Grantee::Group(Group::AuthenticatedUsers), Permission::Read);
            }
            CannedAcl::AwsExecRead => {
                return Err(PolicyError::NotImplemented {
                    reason: "The aws-exec-read canned ACL grants read access to Amazon EC2, which s3gate does not have",
                });
            }
            CannedAcl::BucketOwnerRead if owner != bucket_owner => {
                grant(Grantee::User(bucket_owner.to_owned()), Permission::Read);
            }
            CannedAcl::BucketOwnerFullControl if owner != bucket_owner => {
                grant(Grantee::User(bucket_owner.to_owned()), Permission::FullControl);
            }
            CannedAcl::Private | CannedAcl::BucketOwnerRead | CannedAcl::BucketOwnerFullControl => {
            }
            CannedAcl::LogDeliveryWrite => {
                grant(Grantee::Group(Group::LogDelivery), Permission::Write);
                grant(Grantee::Group(Group::LogDelivery), Permission::ReadAcp);
            }
        }
        Ok(acl)
    }
}

/// The ACL a request asks for through its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRequest {
    /// `x-amz-acl`.
    Canned(CannedAcl),
    /// `x-amz-grant-*`: exactly these grants.
    Grants(Vec<Grant>),
}

impl AclRequest {
    /// Reads the ACL headers of a request: `canned` is `x-amz-acl`, `grants` the
    /// `x-amz-grant-{read,write,read-acp,write-acp,full-control}` headers as (name, value).
    /// `None` when the request sets no ACL.
    pub fn from_headers(
        canned: Option<&str>,
        grants: &[(&str, &str)],
    ) -> Result<Option<AclRequest>, PolicyError> {
        let mut out = Vec::new();
        for (name, value) in grants {
            let permission = match name.to_ascii_lowercase().as_str() {
                "x-amz-grant-read" => Permission::Read,
                "x-amz-grant-write" => Permission::Write,
                "x-amz-grant-read-acp" => Permission::ReadAcp,
                "x-amz-grant-write-acp" => Permission::WriteAcp,
                "x-amz-grant-full-control" => Permission::FullControl,
                _ => continue,
            };
            for grantee in parse_grantees(value)? {
                out.push(Grant { grantee, permission });
            }
        }
        match (canned, out.is_empty()) {
            (Some(_), false) => Err(PolicyError::InvalidRequest {
                reason: "Specifying both Canned ACLs and Header Grants is not allowed".into(),
            }),
            (Some(canned), true) => Ok(Some(AclRequest::Canned(CannedAcl::parse(canned)?))),
            (None, false) => {
                if out.len() > MAX_GRANTS {
                    return Err(PolicyError::MalformedAcl {
                        reason: format!("An ACL may hold at most {MAX_GRANTS} grants"),
                    });
                }
                Ok(Some(AclRequest::Grants(out)))
            }
            (None, true) => Ok(None),
        }
    }

    /// The ACL the request sets on a resource owned by `owner` in a bucket owned by
    /// `bucket_owner`.
    pub fn to_acl(&self, owner: &str, bucket_owner: &str) -> Result<Acl, PolicyError> {
        match self {
            AclRequest::Canned(canned) => canned.to_acl(owner, bucket_owner),
            AclRequest::Grants(grants) => Acl::new(owner, grants.clone()),
        }
    }
}

/// Parses `id="abc", uri="http://acs.amazonaws.com/groups/global/AllUsers"`.
fn parse_grantees(value: &str) -> Result<Vec<Grantee>, PolicyError> {
    let bad = || PolicyError::InvalidArgument { reason: format!("Invalid grant header: {value}") };
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(bad());
        }
        let (kind, raw) = item.split_once('=').ok_or_else(bad)?;
        let raw = raw.trim();
        let text = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
        if text.is_empty() {
            return Err(bad());
        }
        match kind.trim() {
            "id" => out.push(Grantee::User(text.to_owned())),
            "uri" => out.push(Grantee::Group(Group::from_uri(text).ok_or_else(|| {
                PolicyError::InvalidArgument { reason: format!("Invalid group uri: {text}") }
            })?)),
            "emailAddress" => return Err(PolicyError::GrantByEmail),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// A bucket's Object Ownership setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectOwnership {
    /// ACLs are off; the bucket owner owns every object (AWS's default since April 2023).
    #[default]
    BucketOwnerEnforced,
    /// ACLs are on; an object uploaded with `bucket-owner-full-control` belongs to the bucket
    /// owner, any other to its writer.
    BucketOwnerPreferred,
    /// ACLs are on; every object belongs to its writer.
    ObjectWriter,
}

impl ObjectOwnership {
    /// Parses the `ObjectOwnership` value of the XML or the `x-amz-object-ownership` header.
    pub fn parse(text: &str) -> Option<ObjectOwnership> {
        Some(match text {
            "BucketOwnerEnforced" => ObjectOwnership::BucketOwnerEnforced,
            "BucketOwnerPreferred" => ObjectOwnership::BucketOwnerPreferred,
            "ObjectWriter" => ObjectOwnership::ObjectWriter,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    /// Whether ACLs take part in access decisions.
    pub fn acls_enabled(self) -> bool {
        self != ObjectOwnership::BucketOwnerEnforced
    }

    /// Who owns an object `writer` uploads with the ACL request `acl`.
    pub fn object_owner<'a>(
        self,
        writer: &'a str,
        bucket_owner: &'a str,
        acl: Option<&AclRequest>,
    ) -> &'a str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => bucket_owner,
            ObjectOwnership::BucketOwnerPreferred
                if acl == Some(&AclRequest::Canned(CannedAcl::BucketOwnerFullControl)) =>
            {
                bucket_owner
            }
            ObjectOwnership::BucketOwnerPreferred | ObjectOwnership::ObjectWriter => writer,
        }
    }

    /// Checks an ACL a request sets (CreateBucket, PutBucketAcl, PutObject, CopyObject,
    /// CreateMultipartUpload, PutObjectAcl): with BucketOwnerEnforced only full control for
    /// the bucket owner is accepted, anything else is `AccessControlListNotSupported`.
    pub fn check_acl(self, acl: &Acl, bucket_owner: &str) -> Result<(), PolicyError> {
        if self == ObjectOwnership::BucketOwnerEnforced && !acl.is_owner_full_control(bucket_owner)
        {
            return Err(PolicyError::AclNotSupported);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{AccountId, User};

    fn user(name: &str) -> Principal {
        let account = AccountId::new("123456789012").unwrap();
        Principal::User(std::sync::Arc::new(User::new(
            &account,
            name,
            name,
            &format!("c-{name}"),
            false,
        )))
    }

    #[test]
    fn canned_acls() {
        let g = |grantee: Grantee, permission| Grant { grantee, permission };
        let owner = || g(Grantee::User("o".into()), Permission::FullControl);
        let check = |canned: &str, expected: Vec<Grant>| {
            let acl = CannedAcl::parse(canned).unwrap().to_acl("o", "b").unwrap();
            assert_eq!(acl.owner, "o");
            assert_eq!(acl.grants, expected, "{canned}");
        };
        check("private", vec![owner()]);
        check("public-read", vec![owner(), g(Grantee::Group(Group::AllUsers), Permission::Read)]);
        check(
            "public-read-write",
            vec![
                owner(),
                g(Grantee::Group(Group::AllUsers), Permission::Read),
                g(Grantee::Group(Group::AllUsers), Permission::Write),
            ],
        );
        check(
            "authenticated-read",
            vec![owner(), g(Grantee::Group(Group::AuthenticatedUsers), Permission::Read)],
        );
        check("bucket-owner-read", vec![owner(), g(Grantee::User("b".into()), Permission::Read)]);
        check(
            "bucket-owner-full-control",
            vec![owner(), g(Grantee::User("b".into()), Permission::FullControl)],
        );
        check(
            "log-delivery-write",
            vec![
                owner(),
                g(Grantee::Group(Group::LogDelivery), Permission::Write),
                g(Grantee::Group(Group::LogDelivery), Permission::ReadAcp),
            ],
        );
        // On a bucket (owner twice) the bucket-owner ACLs are private.
        assert_eq!(CannedAcl::BucketOwnerRead.to_acl("o", "o").unwrap(), Acl::private("o"));
        assert!(matches!(
            CannedAcl::AwsExecRead.to_acl("o", "o"),
            Err(PolicyError::NotImplemented { .. })
        ));
        assert!(matches!(CannedAcl::parse("Private"), Err(PolicyError::InvalidArgument { .. })));
        for c in ["private", "public-read", "bucket-owner-full-control", "log-delivery-write"] {
            assert_eq!(CannedAcl::parse(c).unwrap().as_str(), c);
        }
    }

    #[test]
    fn grant_headers() {
        let req = AclRequest::from_headers(
            None,
            &[
                (
                    "x-amz-grant-read",
                    "id=\"c-bob\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
                ),
                ("X-Amz-Grant-Full-Control", "id=c-carol"),
                ("x-amz-meta-x", "ignored"),
            ],
        )
        .unwrap()
        .unwrap();
        let AclRequest::Grants(grants) = &req else { panic!("{req:?}") };
        assert_eq!(grants.len(), 3);
        assert_eq!(grants[0].grantee, Grantee::User("c-bob".into()));
        assert_eq!(
            grants[1],
            Grant { grantee: Grantee::Group(Group::AllUsers), permission: Permission::Read }
        );
        assert_eq!(grants[2].permission, Permission::FullControl);
        let acl = req.to_acl("c-alice", "c-alice").unwrap();
        assert!(acl.is_public());
        assert_eq!(acl.canonical_ids().collect::<Vec<_>>(), ["c-bob", "c-carol"]);

        assert_eq!(AclRequest::from_headers(None, &[]).unwrap(), None);
        assert_eq!(
            AclRequest::from_headers(Some("public-read"), &[]).unwrap(),
            Some(AclRequest::Canned(CannedAcl::PublicRead))
        );
        assert!(matches!(
            AclRequest::from_headers(Some("private"), &[("x-amz-grant-read", "id=x")]),
            Err(PolicyError::InvalidRequest { .. })
        ));
        assert_eq!(
            AclRequest::from_headers(None, &[("x-amz-grant-read", "emailAddress=\"a@b.c\"")]),
            Err(PolicyError::GrantByEmail)
        );
        for bad in [
            "",
            "id",
            "id=",
            "id=\"\"",
            "who=x",
            "uri=\"http://acs.amazonaws.com/groups/global/Nobody\"",
            "id=a,,id=b",
        ] {
            assert!(
                matches!(
                    AclRequest::from_headers(None, &[("x-amz-grant-write", bad)]),
                    Err(PolicyError::InvalidArgument { .. })
                ),
                "{bad}"
            );
        }
        let many = vec!["id=x"; 101].join(",");
        assert!(matches!(
            AclRequest::from_headers(None, &[("x-amz-grant-read", &many)]),
            Err(PolicyError::MalformedAcl { .. })
        ));
    }

    #[test]
    fn grants_to_principals() {
        let acl = Acl::new(
            "c-alice",
            vec![
                Grant { grantee: Grantee::User("c-bob".into()), permission: Permission::Read },
                Grant {
                    grantee: Grantee::Group(Group::AuthenticatedUsers),
                    permission: Permission::Write,
                },
                Grant {
                    grantee: Grantee::Group(Group::LogDelivery),
                    permission: Permission::FullControl,
                },
            ],
        )
        .unwrap();
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        let anon = Principal::Anonymous;
        assert!(acl.grants_to(&bob, Permission::Read, false));
        assert!(!acl.grants_to(&bob, Permission::ReadAcp, false));
        assert!(!acl.grants_to(&carol, Permission::Read, false));
        assert!(acl.grants_to(&carol, Permission::Write, false));
        assert!(!acl.grants_to(&carol, Permission::Write, true));
        assert!(!acl.grants_to(&anon, Permission::Write, false));
        // The owner always reads and writes the ACL, even without a grant.
        assert!(acl.grants_to(&alice, Permission::WriteAcp, false));
        assert!(!acl.grants_to(&alice, Permission::Read, false));
        let public = CannedAcl::PublicRead.to_acl("c-alice", "c-alice").unwrap();
        assert!(public.grants_to(&anon, Permission::Read, false));
        assert!(!public.grants_to(&anon, Permission::Read, true));
        assert!(!public.grants_to(&anon, Permission::Write, false));
    }

    #[test]
    fn acl_action_table() {
        assert_eq!(acl_permission(Action::ListBucket), Some((AclOf::Bucket, Permission::Read)));
        assert_eq!(acl_permission(Action::PutObject), Some((AclOf::Bucket, Permission::Write)));
        assert_eq!(acl_permission(Action::GetObject), Some((AclOf::Object, Permission::Read)));
        assert_eq!(
            acl_permission(Action::PutObjectAcl),
            Some((AclOf::Object, Permission::WriteAcp))
        );
        assert_eq!(
            acl_permission(Action::GetBucketAcl),
            Some((AclOf::Bucket, Permission::ReadAcp))
        );
        assert_eq!(acl_permission(Action::PutBucketPolicy), None);
        assert_eq!(acl_permission(Action::GetObjectTagging), None);
    }

    #[test]
    fn object_ownership() {
        let enforced = ObjectOwnership::BucketOwnerEnforced;
        let preferred = ObjectOwnership::BucketOwnerPreferred;
        let writer = ObjectOwnership::ObjectWriter;
        let full = AclRequest::Canned(CannedAcl::BucketOwnerFullControl);
        assert_eq!(enforced.object_owner("w", "b", None), "b");
        assert_eq!(preferred.object_owner("w", "b", Some(&full)), "b");
        assert_eq!(preferred.object_owner("w", "b", None), "w");
        assert_eq!(writer.object_owner("w", "b", Some(&full)), "w");
        assert!(!enforced.acls_enabled() && preferred.acls_enabled() && writer.acls_enabled());
        // BucketOwnerEnforced takes bucket-owner-full-control and private, nothing else.
        let acl = |c: CannedAcl| c.to_acl("b", "b").unwrap();
        assert_eq!(enforced.check_acl(&acl(CannedAcl::BucketOwnerFullControl), "b"), Ok(()));
        assert_eq!(enforced.check_acl(&acl(CannedAcl::Private), "b"), Ok(()));
        assert_eq!(
            enforced.check_acl(&acl(CannedAcl::PublicRead), "b"),
            Err(PolicyError::AclNotSupported)
        );
        assert_eq!(
            enforced.check_acl(&CannedAcl::BucketOwnerRead.to_acl("w", "b").unwrap(), "b"),
            Err(PolicyError::AclNotSupported)
        );
        assert_eq!(
            enforced.check_acl(&Acl::new("b", vec![]).unwrap(), "b"),
            Err(PolicyError::AclNotSupported)
        );
        assert_eq!(writer.check_acl(&acl(CannedAcl::PublicRead), "b"), Ok(()));
        for o in [enforced, preferred, writer] {
            assert_eq!(ObjectOwnership::parse(o.as_str()), Some(o));
        }
        assert_eq!(ObjectOwnership::parse("bucketownerenforced"), None);
        assert_eq!(ObjectOwnership::default(), enforced);
    }
}
