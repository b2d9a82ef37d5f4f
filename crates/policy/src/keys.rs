//! Condition keys: the global `aws:` keys and the `s3:` keys, by name, plus the tag-keyed
//! families (`s3:ExistingObjectTag/<key>`). Key names are case-insensitive, as in IAM; the
//! tag key after the `/` is compared exactly.

use crate::tables::KEYS;

/// The type AWS documents for a key's values; it decides which values a policy may compare
/// it with and how the context parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Text.
    String,
    /// Several texts (`aws:TagKeys`): use `ForAnyValue:` / `ForAllValues:`.
    StringList,
    /// An ARN.
    Arn,
    /// A number.
    Numeric,
    /// `true` or `false`.
    Bool,
    /// A date (ISO 8601) or seconds since the epoch.
    Date,
    /// An IP address (matched against CIDR blocks).
    Ip,
}

/// A condition key known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyName {
    /// `aws:AssumedRoot`
    AwsAssumedRoot,
    /// `aws:CalledVia`
    AwsCalledVia,
    /// `aws:CalledViaFirst`
    AwsCalledViaFirst,
    /// `aws:CalledViaLast`
    AwsCalledViaLast,
    /// `aws:ChatbotSourceArn`
    AwsChatbotSourceArn,
    /// `aws:CurrentTime`
    AwsCurrentTime,
    /// `aws:Ec2InstanceSourcePrivateIPv4`
    AwsEc2InstanceSourcePrivateIPv4,
    /// `aws:Ec2InstanceSourceVpc`
    AwsEc2InstanceSourceVpc,
    /// `aws:EpochTime`
    AwsEpochTime,
    /// `aws:FederatedProvider`
    AwsFederatedProvider,
    /// `aws:MultiFactorAuthAge`
    AwsMultiFactorAuthAge,
    /// `aws:MultiFactorAuthPresent`
    AwsMultiFactorAuthPresent,
    /// `aws:PrincipalAccount`
    AwsPrincipalAccount,
    /// `aws:PrincipalArn`
    AwsPrincipalArn,
    /// `aws:PrincipalIsAWSService`
    AwsPrincipalIsAWSService,
    /// `aws:PrincipalOrgID`
    AwsPrincipalOrgID,
    /// `aws:PrincipalOrgPaths`
    AwsPrincipalOrgPaths,
    /// `aws:PrincipalServiceName`
    AwsPrincipalServiceName,
    /// `aws:PrincipalServiceNamesList`
    AwsPrincipalServiceNamesList,
    /// `aws:PrincipalType`
    AwsPrincipalType,
    /// `aws:Referer`
    AwsReferer,
    /// `aws:RequestedRegion`
    AwsRequestedRegion,
    /// `aws:ResourceAccount`
    AwsResourceAccount,
    /// `aws:ResourceOrgID`
    AwsResourceOrgID,
    /// `aws:ResourceOrgPaths`
    AwsResourceOrgPaths,
    /// `aws:SecureTransport`
    AwsSecureTransport,
    /// `aws:SourceAccount`
    AwsSourceAccount,
    /// `aws:SourceArn`
    AwsSourceArn,
    /// `aws:SourceIdentity`
    AwsSourceIdentity,
    /// `aws:SourceIp`
    AwsSourceIp,
    /// `aws:SourceOrgID`
    AwsSourceOrgID,
    /// `aws:SourceOrgPaths`
    AwsSourceOrgPaths,
    /// `aws:SourceOwner`
    AwsSourceOwner,
    /// `aws:SourceVpc`
    AwsSourceVpc,
    /// `aws:SourceVpcArn`
    AwsSourceVpcArn,
    /// `aws:SourceVpce`
    AwsSourceVpce,
    /// `aws:TagKeys`
    AwsTagKeys,
    /// `aws:TokenIssueTime`
    AwsTokenIssueTime,
    /// `aws:UserAgent`
    AwsUserAgent,
    /// `aws:userid`
    AwsUserid,
    /// `aws:username`
    AwsUsername,
    /// `aws:ViaAWSService`
    AwsViaAWSService,
    /// `aws:VpcSourceIp`
    AwsVpcSourceIp,
    /// `aws:VpceAccount`
    AwsVpceAccount,
    /// `aws:VpceOrgID`
    AwsVpceOrgID,
    /// `aws:VpceOrgPaths`
    AwsVpceOrgPaths,
    /// `s3:AccessGrantScope`
    S3AccessGrantScope,
    /// `s3:AccessGrantsInstanceArn`
    S3AccessGrantsInstanceArn,
    /// `s3:AccessGrantsLocationScope`
    S3AccessGrantsLocationScope,
    /// `s3:AccessPointNetworkOrigin`
    S3AccessPointNetworkOrigin,
    /// `s3:authType`
    S3AuthType,
    /// `s3:DataAccessPointAccount`
    S3DataAccessPointAccount,
    /// `s3:DataAccessPointArn`
    S3DataAccessPointArn,
    /// `s3:delimiter`
    S3Delimiter,
    /// `s3:destinationRegion`
    S3DestinationRegion,
    /// `s3:ExistingJobOperation`
    S3ExistingJobOperation,
    /// `s3:ExistingJobPriority`
    S3ExistingJobPriority,
    /// `s3:if-match`
    S3IfMatch,
    /// `s3:if-none-match`
    S3IfNoneMatch,
    /// `s3:InventoryAccessibleOptionalFields`
    S3InventoryAccessibleOptionalFields,
    /// `s3:isReplicationPauseRequest`
    S3IsReplicationPauseRequest,
    /// `s3:JobSuspendedCause`
    S3JobSuspendedCause,
    /// `s3:locationconstraint`
    S3Locationconstraint,
    /// `s3:max-keys`
    S3MaxKeys,
    /// `s3:object-lock-legal-hold`
    S3ObjectLockLegalHold,
    /// `s3:object-lock-mode`
    S3ObjectLockMode,
    /// `s3:object-lock-remaining-retention-days`
    S3ObjectLockRemainingRetentionDays,
    /// `s3:object-lock-retain-until-date`
    S3ObjectLockRetainUntilDate,
    /// `s3:ObjectCreationOperation`
    S3ObjectCreationOperation,
    /// `s3:prefix`
    S3Prefix,
    /// `s3:RequestJobOperation`
    S3RequestJobOperation,
    /// `s3:RequestJobPriority`
    S3RequestJobPriority,
    /// `s3:RequestObjectTagKeys`
    S3RequestObjectTagKeys,
    /// `s3:ResourceAccount`
    S3ResourceAccount,
    /// `s3:signatureAge`
    S3SignatureAge,
    /// `s3:signatureversion`
    S3Signatureversion,
    /// `s3:TlsVersion`
    S3TlsVersion,
    /// `s3:versionid`
    S3Versionid,
    /// `s3:x-amz-acl`
    S3XAmzAcl,
    /// `s3:x-amz-bucket-namespace`
    S3XAmzBucketNamespace,
    /// `s3:x-amz-content-sha256`
    S3XAmzContentSha256,
    /// `s3:x-amz-copy-source`
    S3XAmzCopySource,
    /// `s3:x-amz-grant-full-control`
    S3XAmzGrantFullControl,
    /// `s3:x-amz-grant-read`
    S3XAmzGrantRead,
    /// `s3:x-amz-grant-read-acp`
    S3XAmzGrantReadAcp,
    /// `s3:x-amz-grant-write`
    S3XAmzGrantWrite,
    /// `s3:x-amz-grant-write-acp`
    S3XAmzGrantWriteAcp,
    /// `s3:x-amz-metadata-directive`
    S3XAmzMetadataDirective,
    /// `s3:x-amz-object-ownership`
    S3XAmzObjectOwnership,
    /// `s3:x-amz-server-side-encryption`
    S3XAmzServerSideEncryption,
    /// `s3:x-amz-server-side-encryption-aws-kms-key-id`
    S3XAmzServerSideEncryptionAwsKmsKeyId,
    /// `s3:x-amz-server-side-encryption-customer-algorithm`
    S3XAmzServerSideEncryptionCustomerAlgorithm,
    /// `s3:x-amz-storage-class`
    S3XAmzStorageClass,
    /// `s3:x-amz-website-redirect-location`
    S3XAmzWebsiteRedirectLocation,
}

impl KeyName {
    /// The key's name as AWS spells it (`aws:SourceIp`).
    pub fn name(self) -> &'static str {
        KEYS[self as usize].1
    }

    /// The type of its values.
    pub fn value_type(self) -> ValueType {
        KEYS[self as usize].2
    }

    /// Whether it is a global (`aws:`) key, which every action accepts.
    pub fn is_global(self) -> bool {
        KEYS[self as usize].1.starts_with("aws:")
    }

    /// Looks a key name up, case-insensitively.
    pub fn parse(text: &str) -> Option<KeyName> {
        KEYS.iter().find(|row| row.1.eq_ignore_ascii_case(text)).map(|row| row.0)
    }

    /// Every named key.
    pub fn all() -> impl Iterator<Item = KeyName> {
        KEYS.iter().map(|row| row.0)
    }
}

/// A family of keys with a tag key after the `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagFamily {
    /// `aws:PrincipalTag/<key>`: a tag of the requesting user.
    AwsPrincipalTag,
    /// `aws:RequestTag/<key>`: a tag the request sets.
    AwsRequestTag,
    /// `aws:ResourceTag/<key>`: a tag of the bucket or object.
    AwsResourceTag,
    /// `s3:AccessPointTag/<key>`.
    S3AccessPointTag,
    /// `s3:BucketTag/<key>`: a tag of the bucket.
    S3BucketTag,
    /// `s3:ExistingObjectTag/<key>`: a tag the object has.
    S3ExistingObjectTag,
    /// `s3:RequestObjectTag/<key>`: a tag the request gives the object.
    S3RequestObjectTag,
}

const FAMILIES: [(TagFamily, &str); 7] = [
    (TagFamily::AwsPrincipalTag, "aws:PrincipalTag/"),
    (TagFamily::AwsRequestTag, "aws:RequestTag/"),
    (TagFamily::AwsResourceTag, "aws:ResourceTag/"),
    (TagFamily::S3AccessPointTag, "s3:AccessPointTag/"),
    (TagFamily::S3BucketTag, "s3:BucketTag/"),
    (TagFamily::S3ExistingObjectTag, "s3:ExistingObjectTag/"),
    (TagFamily::S3RequestObjectTag, "s3:RequestObjectTag/"),
];

impl TagFamily {
    /// The prefix, with its `/` (`s3:ExistingObjectTag/`).
    pub fn prefix(self) -> &'static str {
        FAMILIES[self as usize].1
    }

    /// Whether it is a global (`aws:`) family.
    pub fn is_global(self) -> bool {
        self.prefix().starts_with("aws:")
    }
}

/// A condition key: a named key or a tag key of a family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A key known by name.
    Name(KeyName),
    /// A tag-keyed key; the `String` is the tag key (case-sensitive, never empty).
    Tag(TagFamily, String),
}

impl Key {
    /// Parses a key as a policy or the server names it; `None` for a key s3gate does not know.
    pub fn parse(text: &str) -> Option<Key> {
        if let Some(name) = KeyName::parse(text) {
            return Some(Key::Name(name));
        }
        for (family, prefix) in FAMILIES {
            if text.len() > prefix.len()
                && text.is_char_boundary(prefix.len())
                && text[..prefix.len()].eq_ignore_ascii_case(prefix)
            {
                return Some(Key::Tag(family, text[prefix.len()..].to_owned()));
            }
        }
        None
    }

    /// The type of its values (tag values are strings).
    pub fn value_type(&self) -> ValueType {
        match self {
            Key::Name(name) => name.value_type(),
            Key::Tag(..) => ValueType::String,
        }
    }

    /// Whether it is a global (`aws:`) key.
    pub fn is_global(&self) -> bool {
        match self {
            Key::Name(name) => name.is_global(),
            Key::Tag(family, _) => family.is_global(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Name(name) => f.write_str(name.name()),
            Key::Tag(family, tag) => write!(f, "{}{tag}", family.prefix()),
        }
    }
}

impl From<KeyName> for Key {
    fn from(name: KeyName) -> Self {
        Key::Name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_discriminant() {
        for (i, row) in KEYS.iter().enumerate() {
            assert_eq!(row.0 as usize, i, "{}", row.1);
        }
        for (i, row) in FAMILIES.iter().enumerate() {
            assert_eq!(row.0 as usize, i);
        }
    }

    #[test]
    fn parse() {
        let check = |text: &str, expected: Option<Key>| assert_eq!(Key::parse(text), expected);
        check("aws:SourceIp", Some(Key::Name(KeyName::AwsSourceIp)));
        check("AWS:sourceip", Some(Key::Name(KeyName::AwsSourceIp)));
        check("s3:prefix", Some(Key::Name(KeyName::S3Prefix)));
        check("s3:VersionId", Some(Key::Name(KeyName::S3Versionid)));
        check("s3:x-amz-acl", Some(Key::Name(KeyName::S3XAmzAcl)));
        check(
            "s3:ExistingObjectTag/Env",
            Some(Key::Tag(TagFamily::S3ExistingObjectTag, "Env".into())),
        );
        check(
            "s3:existingobjecttag/Env",
            Some(Key::Tag(TagFamily::S3ExistingObjectTag, "Env".into())),
        );
        check("aws:PrincipalTag/team", Some(Key::Tag(TagFamily::AwsPrincipalTag, "team".into())));
        check("s3:ExistingObjectTag/", None);
        check("s3:nope", None);
        check("ec2:SourceInstanceARN", None);
        check("", None);
    }

    #[test]
    fn types() {
        assert_eq!(KeyName::AwsSourceIp.value_type(), ValueType::Ip);
        assert_eq!(KeyName::S3MaxKeys.value_type(), ValueType::Numeric);
        assert_eq!(KeyName::AwsSecureTransport.value_type(), ValueType::Bool);
        assert_eq!(KeyName::AwsCurrentTime.value_type(), ValueType::Date);
        assert_eq!(KeyName::S3RequestObjectTagKeys.value_type(), ValueType::StringList);
        assert!(KeyName::AwsUsername.is_global());
        assert!(!KeyName::S3Prefix.is_global());
        assert_eq!(
            Key::parse("s3:RequestObjectTag/a").map(|k| k.to_string()).as_deref(),
            Some("s3:RequestObjectTag/a")
        );
    }
}
