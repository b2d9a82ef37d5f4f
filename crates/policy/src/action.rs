//! The S3 action table: every action name of AWS's service authorization reference, which
//! kind of resource each applies to, and which `s3:` condition keys each accepts.

use crate::keys::TagFamily;
use crate::keys::{Key, KeyName};
use crate::tables::ACTIONS;

/// An S3 action (`s3:GetObject`), as a policy's `Action` element names it.
///
/// The discriminant indexes the action table; `Action::ALL` lists them in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Action {
    /// `s3:AbortMultipartUpload`
    AbortMultipartUpload,
    /// `s3:AssociateAccessGrantsIdentityCenter`
    AssociateAccessGrantsIdentityCenter,
    /// `s3:BypassGovernanceRetention`
    BypassGovernanceRetention,
    /// `s3:CreateAccessGrant`
    CreateAccessGrant,
    /// `s3:CreateAccessGrantsInstance`
    CreateAccessGrantsInstance,
    /// `s3:CreateAccessGrantsLocation`
    CreateAccessGrantsLocation,
    /// `s3:CreateAccessPoint`
    CreateAccessPoint,
    /// `s3:CreateAccessPointForObjectLambda`
    CreateAccessPointForObjectLambda,
    /// `s3:CreateBucket`
    CreateBucket,
    /// `s3:CreateBucketMetadataTableConfiguration`
    CreateBucketMetadataTableConfiguration,
    /// `s3:CreateJob`
    CreateJob,
    /// `s3:CreateMultiRegionAccessPoint`
    CreateMultiRegionAccessPoint,
    /// `s3:CreateStorageLensGroup`
    CreateStorageLensGroup,
    /// `s3:DeleteAccessGrant`
    DeleteAccessGrant,
    /// `s3:DeleteAccessGrantsInstance`
    DeleteAccessGrantsInstance,
    /// `s3:DeleteAccessGrantsInstanceResourcePolicy`
    DeleteAccessGrantsInstanceResourcePolicy,
    /// `s3:DeleteAccessGrantsLocation`
    DeleteAccessGrantsLocation,
    /// `s3:DeleteAccessPoint`
    DeleteAccessPoint,
    /// `s3:DeleteAccessPointForObjectLambda`
    DeleteAccessPointForObjectLambda,
    /// `s3:DeleteAccessPointPolicy`
    DeleteAccessPointPolicy,
    /// `s3:DeleteAccessPointPolicyForObjectLambda`
    DeleteAccessPointPolicyForObjectLambda,
    /// `s3:DeleteBucket`
    DeleteBucket,
    /// `s3:DeleteBucketMetadataTableConfiguration`
    DeleteBucketMetadataTableConfiguration,
    /// `s3:DeleteBucketPolicy`
    DeleteBucketPolicy,
    /// `s3:DeleteBucketWebsite`
    DeleteBucketWebsite,
    /// `s3:DeleteJobTagging`
    DeleteJobTagging,
    /// `s3:DeleteMultiRegionAccessPoint`
    DeleteMultiRegionAccessPoint,
    /// `s3:DeleteObject`
    DeleteObject,
    /// `s3:DeleteObjectTagging`
    DeleteObjectTagging,
    /// `s3:DeleteObjectVersion`
    DeleteObjectVersion,
    /// `s3:DeleteObjectVersionTagging`
    DeleteObjectVersionTagging,
    /// `s3:DeleteStorageLensConfiguration`
    DeleteStorageLensConfiguration,
    /// `s3:DeleteStorageLensConfigurationTagging`
    DeleteStorageLensConfigurationTagging,
    /// `s3:DeleteStorageLensGroup`
    DeleteStorageLensGroup,
    /// `s3:DescribeJob`
    DescribeJob,
    /// `s3:DescribeMultiRegionAccessPointOperation`
    DescribeMultiRegionAccessPointOperation,
    /// `s3:DissociateAccessGrantsIdentityCenter`
    DissociateAccessGrantsIdentityCenter,
    /// `s3:GetAccelerateConfiguration`
    GetAccelerateConfiguration,
    /// `s3:GetAccessGrant`
    GetAccessGrant,
    /// `s3:GetAccessGrantsInstance`
    GetAccessGrantsInstance,
    /// `s3:GetAccessGrantsInstanceForPrefix`
    GetAccessGrantsInstanceForPrefix,
    /// `s3:GetAccessGrantsInstanceResourcePolicy`
    GetAccessGrantsInstanceResourcePolicy,
    /// `s3:GetAccessGrantsLocation`
    GetAccessGrantsLocation,
    /// `s3:GetAccessPoint`
    GetAccessPoint,
    /// `s3:GetAccessPointConfigurationForObjectLambda`
    GetAccessPointConfigurationForObjectLambda,
    /// `s3:GetAccessPointForObjectLambda`
    GetAccessPointForObjectLambda,
    /// `s3:GetAccessPointPolicy`
    GetAccessPointPolicy,
    /// `s3:GetAccessPointPolicyForObjectLambda`
    GetAccessPointPolicyForObjectLambda,
    /// `s3:GetAccessPointPolicyStatus`
    GetAccessPointPolicyStatus,
    /// `s3:GetAccessPointPolicyStatusForObjectLambda`
    GetAccessPointPolicyStatusForObjectLambda,
    /// `s3:GetAccountPublicAccessBlock`
    GetAccountPublicAccessBlock,
    /// `s3:GetAnalyticsConfiguration`
    GetAnalyticsConfiguration,
    /// `s3:GetBucketAbac`
    GetBucketAbac,
    /// `s3:GetBucketAcl`
    GetBucketAcl,
    /// `s3:GetBucketCORS`
    GetBucketCORS,
    /// `s3:GetBucketLocation`
    GetBucketLocation,
    /// `s3:GetBucketLogging`
    GetBucketLogging,
    /// `s3:GetBucketMetadataTableConfiguration`
    GetBucketMetadataTableConfiguration,
    /// `s3:GetBucketNotification`
    GetBucketNotification,
    /// `s3:GetBucketObjectLockConfiguration`
    GetBucketObjectLockConfiguration,
    /// `s3:GetBucketOwnershipControls`
    GetBucketOwnershipControls,
    /// `s3:GetBucketPolicy`
    GetBucketPolicy,
    /// `s3:GetBucketPolicyStatus`
    GetBucketPolicyStatus,
    /// `s3:GetBucketPublicAccessBlock`
    GetBucketPublicAccessBlock,
    /// `s3:GetBucketRequestPayment`
    GetBucketRequestPayment,
    /// `s3:GetBucketTagging`
    GetBucketTagging,
    /// `s3:GetBucketVersioning`
    GetBucketVersioning,
    /// `s3:GetBucketWebsite`
    GetBucketWebsite,
    /// `s3:GetDataAccess`
    GetDataAccess,
    /// `s3:GetEncryptionConfiguration`
    GetEncryptionConfiguration,
    /// `s3:GetIntelligentTieringConfiguration`
    GetIntelligentTieringConfiguration,
    /// `s3:GetInventoryConfiguration`
    GetInventoryConfiguration,
    /// `s3:GetJobTagging`
    GetJobTagging,
    /// `s3:GetLifecycleConfiguration`
    GetLifecycleConfiguration,
    /// `s3:GetMetricsConfiguration`
    GetMetricsConfiguration,
    /// `s3:GetMultiRegionAccessPoint`
    GetMultiRegionAccessPoint,
    /// `s3:GetMultiRegionAccessPointPolicy`
    GetMultiRegionAccessPointPolicy,
    /// `s3:GetMultiRegionAccessPointPolicyStatus`
    GetMultiRegionAccessPointPolicyStatus,
    /// `s3:GetMultiRegionAccessPointRoutes`
    GetMultiRegionAccessPointRoutes,
    /// `s3:GetObject`
    GetObject,
    /// `s3:GetObjectAcl`
    GetObjectAcl,
    /// `s3:GetObjectAttributes`
    GetObjectAttributes,
    /// `s3:GetObjectLegalHold`
    GetObjectLegalHold,
    /// `s3:GetObjectRetention`
    GetObjectRetention,
    /// `s3:GetObjectTagging`
    GetObjectTagging,
    /// `s3:GetObjectTorrent`
    GetObjectTorrent,
    /// `s3:GetObjectVersion`
    GetObjectVersion,
    /// `s3:GetObjectVersionAcl`
    GetObjectVersionAcl,
    /// `s3:GetObjectVersionAttributes`
    GetObjectVersionAttributes,
    /// `s3:GetObjectVersionForReplication`
    GetObjectVersionForReplication,
    /// `s3:GetObjectVersionTagging`
    GetObjectVersionTagging,
    /// `s3:GetObjectVersionTorrent`
    GetObjectVersionTorrent,
    /// `s3:GetReplicationConfiguration`
    GetReplicationConfiguration,
    /// `s3:GetStorageLensConfiguration`
    GetStorageLensConfiguration,
    /// `s3:GetStorageLensConfigurationTagging`
    GetStorageLensConfigurationTagging,
    /// `s3:GetStorageLensDashboard`
    GetStorageLensDashboard,
    /// `s3:GetStorageLensGroup`
    GetStorageLensGroup,
    /// `s3:InitiateReplication`
    InitiateReplication,
    /// `s3:ListAccessGrants`
    ListAccessGrants,
    /// `s3:ListAccessGrantsInstances`
    ListAccessGrantsInstances,
    /// `s3:ListAccessGrantsLocations`
    ListAccessGrantsLocations,
    /// `s3:ListAccessPoints`
    ListAccessPoints,
    /// `s3:ListAccessPointsForObjectLambda`
    ListAccessPointsForObjectLambda,
    /// `s3:ListAllMyBuckets`
    ListAllMyBuckets,
    /// `s3:ListBucket`
    ListBucket,
    /// `s3:ListBucketMultipartUploads`
    ListBucketMultipartUploads,
    /// `s3:ListBucketVersions`
    ListBucketVersions,
    /// `s3:ListCallerAccessGrants`
    ListCallerAccessGrants,
    /// `s3:ListJobs`
    ListJobs,
    /// `s3:ListMultipartUploadParts`
    ListMultipartUploadParts,
    /// `s3:ListMultiRegionAccessPoints`
    ListMultiRegionAccessPoints,
    /// `s3:ListStorageLensConfigurations`
    ListStorageLensConfigurations,
    /// `s3:ListStorageLensGroups`
    ListStorageLensGroups,
    /// `s3:ListTagsForResource`
    ListTagsForResource,
    /// `s3:ObjectOwnerOverrideToBucketOwner`
    ObjectOwnerOverrideToBucketOwner,
    /// `s3:PauseReplication`
    PauseReplication,
    /// `s3:PutAccelerateConfiguration`
    PutAccelerateConfiguration,
    /// `s3:PutAccessGrantsInstanceResourcePolicy`
    PutAccessGrantsInstanceResourcePolicy,
    /// `s3:PutAccessPointConfigurationForObjectLambda`
    PutAccessPointConfigurationForObjectLambda,
    /// `s3:PutAccessPointPolicy`
    PutAccessPointPolicy,
    /// `s3:PutAccessPointPolicyForObjectLambda`
    PutAccessPointPolicyForObjectLambda,
    /// `s3:PutAccessPointPublicAccessBlock`
    PutAccessPointPublicAccessBlock,
    /// `s3:PutAccountPublicAccessBlock`
    PutAccountPublicAccessBlock,
    /// `s3:PutAnalyticsConfiguration`
    PutAnalyticsConfiguration,
    /// `s3:PutBucketAbac`
    PutBucketAbac,
    /// `s3:PutBucketAcl`
    PutBucketAcl,
    /// `s3:PutBucketCORS`
    PutBucketCORS,
    /// `s3:PutBucketLogging`
    PutBucketLogging,
    /// `s3:PutBucketNotification`
    PutBucketNotification,
    /// `s3:PutBucketObjectLockConfiguration`
    PutBucketObjectLockConfiguration,
    /// `s3:PutBucketOwnershipControls`
    PutBucketOwnershipControls,
    /// `s3:PutBucketPolicy`
    PutBucketPolicy,
    /// `s3:PutBucketPublicAccessBlock`
    PutBucketPublicAccessBlock,
    /// `s3:PutBucketRequestPayment`
    PutBucketRequestPayment,
    /// `s3:PutBucketTagging`
    PutBucketTagging,
    /// `s3:PutBucketVersioning`
    PutBucketVersioning,
    /// `s3:PutBucketWebsite`
    PutBucketWebsite,
    /// `s3:PutEncryptionConfiguration`
    PutEncryptionConfiguration,
    /// `s3:PutIntelligentTieringConfiguration`
    PutIntelligentTieringConfiguration,
    /// `s3:PutInventoryConfiguration`
    PutInventoryConfiguration,
    /// `s3:PutJobTagging`
    PutJobTagging,
    /// `s3:PutLifecycleConfiguration`
    PutLifecycleConfiguration,
    /// `s3:PutMetricsConfiguration`
    PutMetricsConfiguration,
    /// `s3:PutMultiRegionAccessPointPolicy`
    PutMultiRegionAccessPointPolicy,
    /// `s3:PutObject`
    PutObject,
    /// `s3:PutObjectAcl`
    PutObjectAcl,
    /// `s3:PutObjectLegalHold`
    PutObjectLegalHold,
    /// `s3:PutObjectRetention`
    PutObjectRetention,
    /// `s3:PutObjectTagging`
    PutObjectTagging,
    /// `s3:PutObjectVersionAcl`
    PutObjectVersionAcl,
    /// `s3:PutObjectVersionTagging`
    PutObjectVersionTagging,
    /// `s3:PutReplicationConfiguration`
    PutReplicationConfiguration,
    /// `s3:PutStorageLensConfiguration`
    PutStorageLensConfiguration,
    /// `s3:PutStorageLensConfigurationTagging`
    PutStorageLensConfigurationTagging,
    /// `s3:ReplicateDelete`
    ReplicateDelete,
    /// `s3:ReplicateObject`
    ReplicateObject,
    /// `s3:ReplicateTags`
    ReplicateTags,
    /// `s3:RestoreObject`
    RestoreObject,
    /// `s3:SubmitMultiRegionAccessPointRoutes`
    SubmitMultiRegionAccessPointRoutes,
    /// `s3:TagResource`
    TagResource,
    /// `s3:UntagResource`
    UntagResource,
    /// `s3:UpdateAccessGrantsLocation`
    UpdateAccessGrantsLocation,
    /// `s3:UpdateBucketMetadataInventoryTableConfiguration`
    UpdateBucketMetadataInventoryTableConfiguration,
    /// `s3:UpdateBucketMetadataJournalTableConfiguration`
    UpdateBucketMetadataJournalTableConfiguration,
    /// `s3:UpdateJobPriority`
    UpdateJobPriority,
    /// `s3:UpdateJobStatus`
    UpdateJobStatus,
    /// `s3:UpdateObjectEncryption`
    UpdateObjectEncryption,
    /// `s3:UpdateStorageLensGroup`
    UpdateStorageLensGroup,
}

/// AWS's access level of an action (how the IAM console groups it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Listing.
    List,
    /// Reading.
    Read,
    /// Writing.
    Write,
    /// Changing who may do what.
    PermissionsManagement,
    /// Tagging.
    Tagging,
}

/// The kinds of resource an action applies to, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceKinds(pub(crate) u8);

impl ResourceKinds {
    /// A bucket: `arn:aws:s3:::bucket`.
    pub const BUCKET: Self = Self(1);
    /// An object: `arn:aws:s3:::bucket/key`.
    pub const OBJECT: Self = Self(2);
    /// No resource (`"Resource": "*"` only): ListAllMyBuckets, account settings, jobs.
    pub const ACCOUNT: Self = Self(4);
    /// Resources s3gate does not have: access points, batch jobs, Storage Lens, access grants,
    /// multi-region access points, Object Lambda.
    pub const OTHER: Self = Self(8);

    /// Whether every kind of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `self` and `other` share a kind.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

/// How many actions the table holds.
pub const ACTION_COUNT: usize = ACTIONS.len();

impl Action {
    /// Every action, in name order.
    pub fn all() -> impl ExactSizeIterator<Item = Action> {
        ACTIONS.iter().map(|row| row.0)
    }

    /// The action's name without the `s3:` prefix (`GetObject`).
    pub fn name(self) -> &'static str {
        ACTIONS[self as usize].1
    }

    /// AWS's access level.
    pub fn access(self) -> Access {
        ACTIONS[self as usize].2
    }

    /// The kinds of resource the action applies to.
    pub fn resource_kinds(self) -> ResourceKinds {
        ACTIONS[self as usize].3
    }

    /// Parses `s3:GetObject` (the prefix and the name are case-insensitive, as in IAM).
    pub fn parse(text: &str) -> Option<Action> {
        let (service, name) = text.split_once(':')?;
        if !service.eq_ignore_ascii_case("s3") {
            return None;
        }
        ACTIONS
            .binary_search_by(|row| cmp_ignore_case(row.1, name))
            .ok()
            .map(|index| ACTIONS[index].0)
    }

    /// Whether a condition on `key` can ever hold for this action: every `aws:` key does;
    /// an `s3:` key only for the actions AWS lists it with.
    pub fn accepts_key(self, key: &Key) -> bool {
        let wanted = match key {
            Key::Name(name) if name.is_global() => return true,
            Key::Tag(family, _) if family.is_global() => return true,
            Key::Name(name) => ActionKey::K(*name),
            Key::Tag(family, _) => ActionKey::F(*family),
        };
        ACTIONS[self as usize].4.contains(&wanted)
    }

    /// Whether the action accepts `key` (a named key, not a tag family).
    pub fn accepts(self, key: KeyName) -> bool {
        self.accepts_key(&Key::Name(key))
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3:{}", self.name())
    }
}

/// ASCII case-insensitive ordering, the order of the table (which is sorted by lowercase name).
fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// An `s3:` key in the action table: a named key or a tag family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionKey {
    K(KeyName),
    F(TagFamily),
}

/// A set of actions: the compiled form of an `Action` or `NotAction` element (one bit per
/// action, so matching a request is one bit test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionSet([u64; 3]);

const _: () = assert!(ACTION_COUNT <= 192, "ActionSet holds 192 actions");

impl ActionSet {
    /// No action.
    pub const EMPTY: Self = Self([0; 3]);

    /// Every action.
    pub fn all() -> Self {
        let mut set = Self::EMPTY;
        for action in Action::all() {
            set.insert(action);
        }
        set
    }

    /// Adds an action.
    pub fn insert(&mut self, action: Action) {
        let i = action as usize;
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Whether the set holds `action`.
    pub fn contains(&self, action: Action) -> bool {
        let i = action as usize;
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 3]
    }

    /// The actions not in the set.
    #[must_use]
    pub fn complement(&self) -> Self {
        let all = Self::all();
        Self([all.0[0] & !self.0[0], all.0[1] & !self.0[1], all.0[2] & !self.0[2]])
    }

    /// Adds every action of `other`.
    pub fn union_with(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// The actions of the set, in name order.
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        Action::all().filter(|a| self.contains(*a))
    }

    /// The actions whose `s3:Name` matches an IAM action pattern (`s3:Get*`, `s3:?etObject`,
    /// `*`), compared case-insensitively as IAM does.
    pub fn matching(pattern: &str) -> Self {
        let mut set = Self::EMPTY;
        if pattern == "*" {
            return Self::all();
        }
        let Some((service, name)) = pattern.split_once(':') else { return set };
        if !glob_ignore_case(service.as_bytes(), b"s3") {
            return set;
        }
        if !name.contains(['*', '?']) {
            if let Some(action) = Action::parse(pattern) {
                set.insert(action);
            }
            return set;
        }
        for action in Action::all() {
            if glob_ignore_case(name.as_bytes(), action.name().as_bytes()) {
                set.insert(action);
            }
        }
        set
    }
}

/// `*` / `?` glob ignoring ASCII case, over bytes (action names are ASCII; a pattern with
/// other bytes simply matches nothing it does not spell).
fn glob_ignore_case(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                back = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match back {
            Some((bp, bt)) => {
                back = Some((bp, bt + 1));
                p = bp;
                t = bt + 1;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_indexed_by_discriminant() {
        for (i, row) in ACTIONS.iter().enumerate() {
            assert_eq!(row.0 as usize, i, "{}", row.1);
            if i > 0 {
                assert_eq!(
                    cmp_ignore_case(ACTIONS[i - 1].1, row.1),
                    std::cmp::Ordering::Less,
                    "{}",
                    row.1
                );
            }
        }
    }

    #[test]
    fn parse_is_case_insensitive_and_needs_the_prefix() {
        let check =
            |text: &str, expected: Option<Action>| assert_eq!(Action::parse(text), expected);
        check("s3:GetObject", Some(Action::GetObject));
        check("S3:getobject", Some(Action::GetObject));
        check("s3:ListBucket", Some(Action::ListBucket));
        check("s3:BypassGovernanceRetention", Some(Action::BypassGovernanceRetention));
        check("GetObject", None);
        check("s3:GetObjects", None);
        check("iam:GetObject", None);
        check("s3:", None);
    }

    #[test]
    fn resource_kinds_follow_the_reference() {
        assert!(Action::GetObject.resource_kinds().contains(ResourceKinds::OBJECT));
        assert!(!Action::GetObject.resource_kinds().intersects(ResourceKinds::BUCKET));
        assert!(Action::ListBucket.resource_kinds().contains(ResourceKinds::BUCKET));
        assert!(Action::ListAllMyBuckets.resource_kinds().contains(ResourceKinds::ACCOUNT));
        assert!(Action::CreateJob.resource_kinds().contains(ResourceKinds::ACCOUNT));
        assert_eq!(Action::PutBucketPolicy.access(), Access::PermissionsManagement);
    }

    #[test]
    fn condition_keys_per_action() {
        assert!(Action::ListBucket.accepts(KeyName::S3Prefix));
        assert!(Action::ListBucketVersions.accepts(KeyName::S3MaxKeys));
        assert!(!Action::ListBucketMultipartUploads.accepts(KeyName::S3Prefix));
        assert!(!Action::GetObject.accepts(KeyName::S3Prefix));
        assert!(Action::PutObject.accepts(KeyName::S3XAmzAcl));
        assert!(Action::PutObject.accepts(KeyName::S3IfNoneMatch));
        assert!(Action::DeleteObject.accepts(KeyName::S3IfMatch));
        assert!(Action::GetObjectVersion.accepts(KeyName::S3Versionid));
        assert!(!Action::GetObject.accepts(KeyName::S3Versionid));
        assert!(Action::GetObject.accepts(KeyName::AwsSourceIp));
        assert!(
            Action::GetObject
                .accepts_key(&Key::Tag(crate::keys::TagFamily::S3ExistingObjectTag, "k".into()))
        );
        assert!(
            !Action::PutObject
                .accepts_key(&Key::Tag(crate::keys::TagFamily::S3ExistingObjectTag, "k".into()))
        );
    }

    #[test]
    fn action_patterns() {
        let names = |p: &str| ActionSet::matching(p).iter().map(Action::name).collect::<Vec<_>>();
        assert_eq!(ActionSet::matching("*"), ActionSet::all());
        assert_eq!(ActionSet::matching("s3:*"), ActionSet::all());
        assert_eq!(names("s3:getobjectversion"), ["GetObjectVersion"]);
        assert_eq!(names("s3:GetObjectVersion*").len(), 6);
        assert!(names("s3:List*").contains(&"ListBucket"));
        assert!(ActionSet::matching("s3:Nope*").is_empty());
        assert!(ActionSet::matching("ec2:*").is_empty());
        assert!(ActionSet::matching("GetObject").is_empty());
        assert_eq!(names("s3:?etObject"), ["GetObject"]);
        assert_eq!(names("S3:*objectlegalhold"), ["GetObjectLegalHold", "PutObjectLegalHold"]);
        assert!(glob_ignore_case(b"a*b*c", b"AXBYC"));
        assert!(!glob_ignore_case(b"a*b*c", b"AXBY"));
        assert!(glob_ignore_case(b"**", b""));
        let mut not = ActionSet::matching("s3:GetObject").complement();
        assert!(!not.contains(Action::GetObject));
        assert!(not.contains(Action::PutObject));
        not.union_with(&ActionSet::matching("s3:GetObject"));
        assert_eq!(not, ActionSet::all());
    }
}
