//! A policy validated as S3 validates it and compiled for evaluation: action patterns become
//! bit sets, resources and condition values wildcard patterns, CIDRs and dates are parsed.

use crate::action::{Action, ActionSet, ResourceKinds};
use crate::condition::Condition;
use crate::context::{Context, Value};
use crate::document::{Effect, PolicyDocument, PrincipalValue, Principals, Statement, Version};
use crate::error::{PolicyError, malformed, reason};
use crate::keys::Key;
use crate::pattern::Pattern;
use crate::principal::{AccountId, Principal, PrincipalKey};

/// The most a bucket policy may hold, in bytes (AWS: 20 KB).
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;
/// The most an identity policy may hold, in characters other than white space (AWS: a managed
/// policy's 6,144).
pub const MAX_IDENTITY_POLICY_CHARS: usize = 6144;

const S3_ARN: &str = "arn:aws:s3:::";

/// Which kind of policy a document is; they differ in what they may and must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a bucket: names principals, and only that bucket and its objects.
    Bucket,
    /// Attached to a user or group: no principal, any bucket.
    Identity,
}

#[derive(Debug, Clone)]
struct PrincipalMatcher {
    negated: bool,
    everyone: bool,
    account: bool,
    users: Vec<Box<str>>,
    canonical: Vec<Box<str>>,
}

impl PrincipalMatcher {
    fn matches(&self, principal: &Principal, effect: Effect) -> bool {
        if !self.negated {
            return self.lists(principal, effect);
        }
        // NotPrincipal applies unless every identity of the requester is listed: a user is
        // both itself and its account (AWS's rule; so excluding a user from a Deny takes
        // both its ARN and the account's).
        if self.everyone {
            return false;
        }
        let Some(user) = principal.user() else { return true };
        let named = self.canonical.iter().any(|c| **c == *user.canonical_id())
            || (!user.is_root() && self.users.iter().any(|u| **u == *user.name()));
        if user.is_root() { !(self.account || named) } else { !(named && self.account) }
    }

    fn lists(&self, principal: &Principal, effect: Effect) -> bool {
        if self.everyone {
            return true;
        }
        let Some(user) = principal.user() else { return false };
        // Naming the account delegates to the account's own identity policies: it allows
        // the root alone, but a Deny of the account binds every one of its users.
        if self.account && (user.is_root() || effect == Effect::Deny) {
            return true;
        }
        (!user.is_root() && self.users.iter().any(|u| **u == *user.name()))
            || self.canonical.iter().any(|c| **c == *user.canonical_id())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledStatement {
    effect: Effect,
    principal: Option<PrincipalMatcher>,
    actions: ActionSet,
    resources_negated: bool,
    resources: Vec<Pattern>,
    conditions: Vec<Condition>,
}

/// A parsed, validated and compiled policy. Cheap to evaluate; share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Policy {
    kind: PolicyKind,
    document: PolicyDocument,
    statements: Vec<CompiledStatement>,
    public: bool,
}

/// What a statement lookup sees: the context plus the principal's own keys.
pub(crate) struct Lookup<'a> {
    pub(crate) principal: &'a Principal,
    pub(crate) context: &'a Context,
}

impl<'a> Lookup<'a> {
    pub(crate) fn values(&self, key: &Key) -> Option<&'a [Value]> {
        match self.principal.key(key) {
            PrincipalKey::Other => self.context.get(key),
            PrincipalKey::Absent => None,
            PrincipalKey::Value(value) => Some(std::slice::from_ref(value)),
        }
    }

    /// A key's single value as text, for policy variables (a multi-valued key has none).
    pub(crate) fn text(&self, key: &Key) -> Option<&'a str> {
        match self.values(key) {
            Some([one]) => Some(one.as_str()),
            _ => None,
        }
    }
}

impl Policy {
    /// Parses and validates a bucket policy for `bucket`, as PutBucketPolicy does.
    pub fn parse_bucket_policy(
        text: &str,
        bucket: &str,
        account: &AccountId,
    ) -> Result<Policy, PolicyError> {
        if text.len() > MAX_BUCKET_POLICY_BYTES {
            return Err(malformed(reason::TOO_LARGE));
        }
        let document = PolicyDocument::parse(text)?;
        Policy::compile(document, PolicyKind::Bucket, Some(bucket), Some(account))
    }

    /// Parses and validates an identity policy (attached to a user or group).
    pub fn parse_identity_policy(text: &str) -> Result<Policy, PolicyError> {
        if text.chars().filter(|c| !c.is_whitespace()).count() > MAX_IDENTITY_POLICY_CHARS {
            return Err(malformed(reason::TOO_LARGE));
        }
        let document = PolicyDocument::parse(text)?;
        Policy::compile(document, PolicyKind::Identity, None, None)
    }

    /// Validates and compiles a parsed document. A bucket policy needs its bucket and the
    /// gateway's account; an identity policy needs neither.
    pub fn compile(
        document: PolicyDocument,
        kind: PolicyKind,
        bucket: Option<&str>,
        account: Option<&AccountId>,
    ) -> Result<Policy, PolicyError> {
        let variables = document.effective_version() == Version::V2012_10_17;
        let mut sids: Vec<&str> = Vec::new();
        let mut statements = Vec::with_capacity(document.statements.len());
        for statement in &document.statements {
            // IAM holds Sids of identity policies to letters and digits, unique in the policy;
            // S3 accepts any Sid, repeated or not, in a bucket policy.
            if let (Some(sid), PolicyKind::Identity) = (&statement.sid, kind) {
                if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(malformed(reason::SID_CHARSET));
                }
                if sids.contains(&sid.as_str()) {
                    return Err(malformed(reason::DUPLICATE_SID));
                }
                sids.push(sid);
            }
            statements.push(compile_statement(statement, kind, bucket, account, variables)?);
        }
        let public = kind == PolicyKind::Bucket && statements.iter().any(is_public_statement);
        Ok(Policy { kind, document, statements, public })
    }

    /// The document as written (parsed).
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// Bucket or identity policy.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The document as compact JSON.
    pub fn to_json(&self) -> String {
        self.document.to_json()
    }

    /// Whether the policy is public by AWS's definition (GetBucketPolicyStatus's IsPublic):
    /// an Allow to every principal (`*`, `{"AWS": "*"}`, or a `NotPrincipal`) that no
    /// condition pins to fixed values of `aws:SourceIp` (a block no wider than /8 or /32),
    /// `aws:SourceArn`, `aws:SourceVpc(e)`, `aws:SourceAccount`, `aws:SourceOwner`,
    /// `aws:PrincipalAccount`, `aws:PrincipalArn`, `aws:PrincipalOrgID`, `aws:userid`,
    /// `aws:username`, `s3:DataAccessPointArn` or `s3:DataAccessPointAccount`.
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// The user names the policy's principals name, for the server to check they exist
    /// ("Invalid principal in policy" otherwise).
    pub fn principal_users(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .filter_map(|s| s.principal.as_ref())
            .flat_map(|p| p.users.iter().map(|u| &**u))
    }

    /// The canonical ids the policy's principals name, for the same check.
    pub fn principal_canonical_ids(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .filter_map(|s| s.principal.as_ref())
            .flat_map(|p| p.canonical.iter().map(|u| &**u))
    }

    /// The first Deny and the first Allow statement (indexes) that apply to the request;
    /// with `allows` false, Allow statements are skipped.
    pub(crate) fn scan(
        &self,
        action: Action,
        resource: &str,
        lookup: &Lookup<'_>,
        allows: bool,
    ) -> (Option<usize>, Option<usize>) {
        let mut allow = None;
        let resolve = |key: &Key| lookup.text(key);
        for (i, st) in self.statements.iter().enumerate() {
            if !st.actions.contains(action)
                || (st.effect == Effect::Allow && (!allows || allow.is_some()))
            {
                continue;
            }
            if let Some(p) = &st.principal
                && !p.matches(lookup.principal, st.effect)
            {
                continue;
            }
            let listed = st.resources.iter().any(|p| p.matches(resource, &resolve));
            if listed == st.resources_negated {
                continue;
            }
            if !st.conditions.iter().all(|c| c.holds(lookup.values(&c.key), &resolve)) {
                continue;
            }
            match st.effect {
                Effect::Deny => return (Some(i), allow),
                Effect::Allow => allow = Some(i),
            }
        }
        (None, allow)
    }

    /// Whether some Allow statement names `action`, whatever its resources and conditions:
    /// `false` means the policy can never allow it (a server may then refuse a request whose
    /// parts it would otherwise decide one by one).
    pub fn may_allow(&self, action: Action) -> bool {
        self.statements.iter().any(|st| st.effect == Effect::Allow && st.actions.contains(action))
    }

    /// The Sid of statement `index`.
    pub(crate) fn sid(&self, index: usize) -> Option<&str> {
        self.document.statements.get(index).and_then(|s| s.sid.as_deref())
    }
}

fn is_public_statement(st: &CompiledStatement) -> bool {
    use crate::keys::KeyName as K;
    let Some(p) = &st.principal else { return false };
    // `NotPrincipal` with Allow grants everyone it does not list.
    let everyone = if p.negated { !p.everyone } else { p.everyone };
    if st.effect != Effect::Allow || !everyone {
        return false;
    }
    !st.conditions.iter().any(|c| {
        let pinning_key = matches!(
            c.key,
            Key::Name(
                K::AwsSourceIp
                    | K::AwsSourceArn
                    | K::AwsSourceVpc
                    | K::AwsSourceVpce
                    | K::AwsSourceAccount
                    | K::AwsSourceOwner
                    | K::AwsPrincipalAccount
                    | K::AwsPrincipalArn
                    | K::AwsPrincipalOrgID
                    | K::AwsUserid
                    | K::AwsUsername
                    | K::S3DataAccessPointArn
                    | K::S3DataAccessPointAccount
            )
        );
        pinning_key && c.pins()
    })
}

fn compile_statement(
    st: &Statement,
    kind: PolicyKind,
    bucket: Option<&str>,
    account: Option<&AccountId>,
    variables: bool,
) -> Result<CompiledStatement, PolicyError> {
    let principal = match (&st.principal, kind) {
        (Some(_), PolicyKind::Identity) => return Err(malformed(reason::IDENTITY_PRINCIPAL)),
        (None, PolicyKind::Bucket) => return Err(malformed("Missing required field Principal")),
        (None, PolicyKind::Identity) => None,
        (Some(p), PolicyKind::Bucket) => Some(compile_principal(p, account)?),
    };

    let mut actions = ActionSet::EMPTY;
    let mut per_pattern = Vec::with_capacity(st.action.values.len());
    for pattern in &st.action.values {
        let set = ActionSet::matching(pattern);
        if set.is_empty() {
            return Err(malformed(reason::INVALID_ACTION));
        }
        actions.union_with(&set);
        per_pattern.push((pattern, set));
    }
    if st.action.negated {
        actions = actions.complement();
    }

    let mut resources = Vec::with_capacity(st.resource.values.len());
    let mut kinds = ResourceKinds(0);
    for text in &st.resource.values {
        let pattern = Pattern::parse(text, true, variables)
            .map_err(|_| malformed(reason::INVALID_CONDITION_KEY))?;
        kinds.0 |= resource_kinds(text, &pattern, kind, bucket)?.0;
        resources.push(pattern);
    }

    let conditions = st
        .conditions
        .iter()
        .map(|c| Condition::compile(&c.operator, &c.key, &c.values, variables))
        .collect::<Result<Vec<_>, _>>()?;

    if kind == PolicyKind::Bucket && !st.action.negated {
        // Every key a concrete action is named with must apply to it.
        for (pattern, set) in &per_pattern {
            if pattern.contains(['*', '?']) {
                continue;
            }
            for action in set.iter() {
                if conditions.iter().any(|c| !action.accepts_key(&c.key)) {
                    return Err(malformed(reason::CONDITION_MISMATCH));
                }
            }
        }
        if !st.resource.negated {
            for (_, set) in &per_pattern {
                if !set.iter().any(|a| a.resource_kinds().intersects(kinds)) {
                    return Err(malformed(reason::ACTION_RESOURCE_MISMATCH));
                }
            }
        }
    }

    Ok(CompiledStatement {
        effect: st.effect,
        principal,
        actions,
        resources_negated: st.resource.negated,
        resources,
        conditions,
    })
}

/// The kinds of resource a `Resource` value can name, after checking it is one s3gate has
/// (and, in a bucket policy, that it can name the policy's own bucket).
fn resource_kinds(
    text: &str,
    pattern: &Pattern,
    kind: PolicyKind,
    bucket: Option<&str>,
) -> Result<ResourceKinds, PolicyError> {
    let all = ResourceKinds(
        ResourceKinds::BUCKET.0
            | ResourceKinds::OBJECT.0
            | ResourceKinds::ACCOUNT.0
            | ResourceKinds::OTHER.0,
    );
    if text == "*" {
        // A bucket policy may not name every resource of the account.
        return match kind {
            PolicyKind::Bucket => Err(malformed(reason::INVALID_RESOURCE)),
            PolicyKind::Identity => Ok(all),
        };
    }
    let Some(path) = text.strip_prefix(S3_ARN) else {
        return Err(malformed(reason::INVALID_RESOURCE));
    };
    if path.is_empty() {
        return Err(malformed(reason::INVALID_RESOURCE));
    }
    if let (PolicyKind::Bucket, Some(bucket)) = (kind, bucket) {
        // The bucket part (up to the first `/`) must be able to name this bucket.
        let head = path.split('/').next().unwrap_or(path);
        let head = Pattern::parse(head, true, true)
            .map_err(|_| malformed(reason::INVALID_CONDITION_KEY))?;
        if !head.widened().matches(bucket, &|_| None) {
            return Err(malformed(reason::INVALID_RESOURCE));
        }
    }
    let wild = pattern.has_wildcard() || pattern.has_variable();
    Ok(if path.contains('/') {
        ResourceKinds::OBJECT
    } else if wild {
        ResourceKinds(ResourceKinds::BUCKET.0 | ResourceKinds::OBJECT.0)
    } else {
        ResourceKinds::BUCKET
    })
}

fn compile_principal(
    p: &Principals,
    account: Option<&AccountId>,
) -> Result<PrincipalMatcher, PolicyError> {
    let invalid = || malformed(reason::INVALID_PRINCIPAL);
    let mut m = PrincipalMatcher {
        negated: p.negated,
        everyone: false,
        account: false,
        users: Vec::new(),
        canonical: Vec::new(),
    };
    let PrincipalValue::Map(entries) = &p.value else {
        m.everyone = true;
        return Ok(m);
    };
    let account = account.ok_or_else(invalid)?;
    for (kind, values) in entries {
        for value in values {
            match kind.as_str() {
                "AWS" => {
                    if value == "*" {
                        m.everyone = true;
                    } else if value == account.as_str() {
                        m.account = true;
                    } else if let Some(rest) = value.strip_prefix("arn:aws:iam::") {
                        let (acct, what) = rest.split_once(':').ok_or_else(invalid)?;
                        if acct != account.as_str() {
                            return Err(invalid());
                        }
                        if what == "root" {
                            m.account = true;
                        } else {
                            let name = what.strip_prefix("user/").ok_or_else(invalid)?;
                            m.users.push(valid_user_name(name).ok_or_else(invalid)?.into());
                        }
                    } else {
                        // s3gate extension: a bare user name.
                        m.users.push(valid_user_name(value).ok_or_else(invalid)?.into());
                    }
                }
                "CanonicalUser" if !value.is_empty() && !value.contains(['*', '?']) => {
                    m.canonical.push(value.as_str().into());
                }
                // Services never sign requests to s3gate: the entry is valid and never matches.
                "Service" if !value.is_empty() && !value.contains(['*', '?']) => {}
                _ => return Err(invalid()),
            }
        }
    }
    Ok(m)
}

/// An IAM user name: 1..=64 of letters, digits and `+=,.@_-`, and not an account id.
fn valid_user_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        && !(name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(name)
}
