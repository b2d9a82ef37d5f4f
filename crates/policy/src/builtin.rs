//! Built-in identity policies for the usual roles, as policy documents (an operator reads,
//! copies and narrows them like any other).

use crate::compile::Policy;

/// The built-in policies: name, what it is for, document.
pub const BUILTIN: [(&str, &str, &str); 5] = [
    (
        "read-only",
        "read every bucket and object, list everything",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnly","Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#,
    ),
    (
        "read-write",
        "read, write and delete objects in every bucket (no bucket settings, ACLs or policies)",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"},{"Sid":"WriteObjects","Effect":"Allow","Action":["s3:PutObject","s3:PutObjectTagging","s3:PutObjectVersionTagging","s3:DeleteObject","s3:DeleteObjectVersion","s3:DeleteObjectTagging","s3:DeleteObjectVersionTagging","s3:AbortMultipartUpload","s3:RestoreObject"],"Resource":"arn:aws:s3:::*/*"}]}"#,
    ),
    (
        "write-only",
        "upload objects (single or multipart) to any bucket; read, list and delete nothing",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"UploadOnly","Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":"arn:aws:s3:::*/*"}]}"#,
    ),
    (
        "self-service",
        "create buckets and do anything with one's own (the bucket-owner rule does the rest)",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"CreateAndListBuckets","Effect":"Allow","Action":["s3:CreateBucket","s3:ListAllMyBuckets"],"Resource":"*"}]}"#,
    ),
    (
        "admin",
        "everything, on every bucket",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Admin","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    ),
];

/// The built-in policy `name`, compiled.
pub fn builtin(name: &str) -> Option<Policy> {
    let (_, _, text) = BUILTIN.iter().find(|(n, _, _)| *n == name)?;
    Policy::parse_identity_policy(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_compiles() {
        for (name, _, text) in BUILTIN {
            let policy =
                Policy::parse_identity_policy(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(policy.to_json(), text, "{name} is stored in canonical form");
            assert!(builtin(name).is_some());
        }
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn may_allow_names_the_actions_an_allow_statement_lists() {
        use crate::Action;
        let cases = [
            ("read-only", Action::GetObject, true),
            ("read-only", Action::DeleteObject, false),
            ("read-write", Action::DeleteObject, true),
            ("write-only", Action::PutObject, true),
            ("write-only", Action::DeleteObject, false),
            ("self-service", Action::DeleteObject, false),
            ("self-service", Action::CreateBucket, true),
            ("admin", Action::DeleteObjectVersion, true),
        ];
        for (name, action, expected) in cases {
            let policy = builtin(name).unwrap();
            assert_eq!(policy.may_allow(action), expected, "{name} {action:?}");
        }
        let deny = Policy::parse_identity_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert!(!deny.may_allow(Action::DeleteObject));
    }
}
