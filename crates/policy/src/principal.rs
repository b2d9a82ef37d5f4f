//! Who is asking: anonymous, or a user of the gateway.
//!
//! s3gate is **one AWS account**. Its users are that account's IAM users (named in policies
//! as `arn:aws:iam::<account>:user/<name>`, or by bare name); the root user is the account
//! root (`arn:aws:iam::<account>:root`, or the bare account id). Every user also has a
//! canonical id, which ACL grants and `{"CanonicalUser": ...}` principals name.

use std::sync::{Arc, LazyLock};

use crate::compile::Policy;
use crate::context::Value;
use crate::keys::{Key, KeyName};

/// The gateway's account id: twelve digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(Box<str>);

impl AccountId {
    /// Validates twelve ASCII digits.
    pub fn new(id: &str) -> Option<AccountId> {
        (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(id.into()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an identity policy is attached, for the decision's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// Attached to the user.
    User,
    /// Attached to a group the user is in.
    Group(Box<str>),
}

/// An identity policy of a user: attached to the user or to one of its groups.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// The policy's name (a built-in's or the operator's).
    pub name: Box<str>,
    /// Where it is attached.
    pub attached: Attachment,
    /// The compiled policy (shared between the users of a group).
    pub policy: Arc<Policy>,
}

/// An authenticated user, built once (in the server's user cache) with its identity policies.
#[derive(Debug, Clone)]
pub struct User {
    name: Box<str>,
    canonical_id: Box<str>,
    is_root: bool,
    groups: Vec<Box<str>>,
    policies: Vec<IdentityPolicy>,
    // Precomputed context values, so that evaluation allocates nothing.
    username: Value,
    userid: Value,
    arn: Value,
    account: Value,
    principal_type: Value,
}

impl User {
    /// A user of the account. `userid` is the stable id `aws:userid` reports (the server's
    /// user id), `canonical_id` the id ACL grants name.
    pub fn new(
        account: &AccountId,
        name: &str,
        userid: &str,
        canonical_id: &str,
        is_root: bool,
    ) -> User {
        let (arn, userid, principal_type) = if is_root {
            (format!("arn:aws:iam::{}:root", account.as_str()), account.as_str(), "Account")
        } else {
            (format!("arn:aws:iam::{}:user/{name}", account.as_str()), userid, "User")
        };
        User {
            name: name.into(),
            canonical_id: canonical_id.into(),
            is_root,
            groups: Vec::new(),
            policies: Vec::new(),
            username: Value::new(name),
            userid: Value::new(userid),
            arn: Value::new(arn),
            account: Value::new(account.as_str()),
            principal_type: Value::new(principal_type),
        }
    }

    /// Adds the groups the user is in (names, for reports and `aws:username`-style checks).
    #[must_use]
    pub fn with_groups<I: IntoIterator<Item = S>, S: Into<Box<str>>>(mut self, groups: I) -> User {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an identity policy (the user's own or a group's). Ignored for root, whom no
    /// identity policy restricts or extends, as on AWS.
    #[must_use]
    pub fn with_policy(mut self, policy: IdentityPolicy) -> User {
        if !self.is_root {
            self.policies.push(policy);
        }
        self
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The canonical id.
    pub fn canonical_id(&self) -> &str {
        &self.canonical_id
    }

    /// Whether this is the account root.
    pub fn is_root(&self) -> bool {
        self.is_root
    }

    /// The groups.
    pub fn groups(&self) -> &[Box<str>] {
        &self.groups
    }

    /// The identity policies.
    pub fn policies(&self) -> &[IdentityPolicy] {
        &self.policies
    }

    /// The user's ARN (`arn:aws:iam::<account>:user/<name>`, or `:root`).
    pub fn arn(&self) -> &str {
        self.arn.as_str()
    }
}

/// The requester.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An unsigned request.
    Anonymous,
    /// A user who signed the request (shared with the server's user cache).
    User(Arc<User>),
}

static ANONYMOUS_USERID: LazyLock<Value> = LazyLock::new(|| Value::new("anonymous"));
static ANONYMOUS_TYPE: LazyLock<Value> = LazyLock::new(|| Value::new("Anonymous"));

impl Principal {
    /// The user, unless anonymous.
    pub fn user(&self) -> Option<&User> {
        match self {
            Principal::Anonymous => None,
            Principal::User(user) => Some(user),
        }
    }

    /// The value of a key that describes the principal.
    pub(crate) fn key(&self, key: &Key) -> PrincipalKey<'_> {
        let Key::Name(name) = key else { return PrincipalKey::Other };
        let user = self.user();
        let value = match name {
            KeyName::AwsUsername => user.filter(|u| !u.is_root).map(|u| &u.username),
            KeyName::AwsUserid => Some(user.map_or(&*ANONYMOUS_USERID, |u| &u.userid)),
            KeyName::AwsPrincipalArn => user.map(|u| &u.arn),
            KeyName::AwsPrincipalAccount => user.map(|u| &u.account),
            KeyName::AwsPrincipalType => Some(user.map_or(&*ANONYMOUS_TYPE, |u| &u.principal_type)),
            _ => return PrincipalKey::Other,
        };
        value.map_or(PrincipalKey::Absent, PrincipalKey::Value)
    }
}

/// What [`Principal::key`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PrincipalKey<'a> {
    /// The key does not describe the principal: look in the context.
    Other,
    /// It does, and this principal has no value (`aws:username` of root).
    Absent,
    /// Its value.
    Value(&'a Value),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The principal's value of `k`: `Err(())` when `k` is not a principal key.
    fn text(p: &Principal, k: KeyName) -> Result<Option<&str>, ()> {
        match p.key(&Key::Name(k)) {
            PrincipalKey::Other => Err(()),
            PrincipalKey::Absent => Ok(None),
            PrincipalKey::Value(v) => Ok(Some(v.as_str())),
        }
    }

    #[test]
    fn principal_keys() {
        let account = AccountId::new("123456789012").unwrap();
        let alice =
            Principal::User(Arc::new(User::new(&account, "alice", "AIDALICE", "c-alice", false)));
        let root =
            Principal::User(Arc::new(User::new(&account, "admin", "AIDROOT", "c-root", true)));
        assert_eq!(text(&alice, KeyName::AwsUsername), Ok(Some("alice")));
        assert_eq!(text(&alice, KeyName::AwsUserid), Ok(Some("AIDALICE")));
        assert_eq!(
            text(&alice, KeyName::AwsPrincipalArn),
            Ok(Some("arn:aws:iam::123456789012:user/alice"))
        );
        assert_eq!(text(&alice, KeyName::AwsPrincipalType), Ok(Some("User")));
        assert_eq!(text(&root, KeyName::AwsUsername), Ok(None));
        assert_eq!(text(&root, KeyName::AwsUserid), Ok(Some("123456789012")));
        assert_eq!(
            text(&root, KeyName::AwsPrincipalArn),
            Ok(Some("arn:aws:iam::123456789012:root"))
        );
        assert_eq!(text(&root, KeyName::AwsPrincipalType), Ok(Some("Account")));
        let anon = Principal::Anonymous;
        assert_eq!(text(&anon, KeyName::AwsUserid), Ok(Some("anonymous")));
        assert_eq!(text(&anon, KeyName::AwsPrincipalType), Ok(Some("Anonymous")));
        assert_eq!(text(&anon, KeyName::AwsPrincipalArn), Ok(None));
        assert_eq!(text(&anon, KeyName::AwsSourceIp), Err(()));
    }

    #[test]
    fn account_ids() {
        assert!(AccountId::new("123456789012").is_some());
        for bad in ["12345678901", "1234567890123", "12345678901a", ""] {
            assert!(AccountId::new(bad).is_none(), "{bad}");
        }
    }
}
