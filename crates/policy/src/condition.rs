//! Condition operators, compiled once per clause and evaluated against the context.
//!
//! Semantics as in the IAM reference: the values of one key are ORed, the keys and operators
//! of a block are ANDed; a negated operator (`StringNotEquals`, `NotIpAddress`, ...) holds when
//! no value matches, and when the key is absent; `...IfExists` holds when the key is absent;
//! `ForAnyValue:` needs one request value to match (false when the key is absent),
//! `ForAllValues:` needs every request value to match (true when the key is absent); `Null`
//! tests presence. A multi-valued key under a plain operator is read as `ForAnyValue:`.

use crate::context::Value;
use crate::error::{PolicyError, malformed, reason};
use crate::ip::Cidr;
use crate::keys::{Key, ValueType};
use crate::pattern::Pattern;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASES: [(Base, &str); 27] = [
    (Base::StringEquals, "StringEquals"),
    (Base::StringNotEquals, "StringNotEquals"),
    (Base::StringEqualsIgnoreCase, "StringEqualsIgnoreCase"),
    (Base::StringNotEqualsIgnoreCase, "StringNotEqualsIgnoreCase"),
    (Base::StringLike, "StringLike"),
    (Base::StringNotLike, "StringNotLike"),
    (Base::NumericEquals, "NumericEquals"),
    (Base::NumericNotEquals, "NumericNotEquals"),
    (Base::NumericLessThan, "NumericLessThan"),
    (Base::NumericLessThanEquals, "NumericLessThanEquals"),
    (Base::NumericGreaterThan, "NumericGreaterThan"),
    (Base::NumericGreaterThanEquals, "NumericGreaterThanEquals"),
    (Base::DateEquals, "DateEquals"),
    (Base::DateNotEquals, "DateNotEquals"),
    (Base::DateLessThan, "DateLessThan"),
    (Base::DateLessThanEquals, "DateLessThanEquals"),
    (Base::DateGreaterThan, "DateGreaterThan"),
    (Base::DateGreaterThanEquals, "DateGreaterThanEquals"),
    (Base::Bool, "Bool"),
    (Base::BinaryEquals, "BinaryEquals"),
    (Base::IpAddress, "IpAddress"),
    (Base::NotIpAddress, "NotIpAddress"),
    (Base::ArnEquals, "ArnEquals"),
    (Base::ArnLike, "ArnLike"),
    (Base::ArnNotEquals, "ArnNotEquals"),
    (Base::ArnNotLike, "ArnNotLike"),
    (Base::Null, "Null"),
];

impl Base {
    fn negated(self) -> bool {
        matches!(
            self,
            Base::StringNotEquals
                | Base::StringNotEqualsIgnoreCase
                | Base::StringNotLike
                | Base::NumericNotEquals
                | Base::DateNotEquals
                | Base::NotIpAddress
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    AnyValue,
    AllValues,
}

/// `text` without `prefix`, compared ignoring ASCII case.
fn strip<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    base: Base,
    set: Option<SetQualifier>,
    if_exists: bool,
}

impl Operator {
    /// Parses an operator name; names are compared ignoring ASCII case.
    fn parse(text: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = strip(text, "ForAnyValue:") {
            (Some(SetQualifier::AnyValue), rest)
        } else if let Some(rest) = strip(text, "ForAllValues:") {
            (Some(SetQualifier::AllValues), rest)
        } else {
            (None, text)
        };
        let exact = BASES.iter().find(|(_, name)| name.eq_ignore_ascii_case(rest));
        let (base, if_exists) = if let Some((base, _)) = exact {
            (*base, false)
        } else {
            let cut = rest.len().checked_sub("IfExists".len())?;
            if !rest.is_char_boundary(cut) || !rest[cut..].eq_ignore_ascii_case("IfExists") {
                return None;
            }
            let base = BASES.iter().find(|(_, name)| name.eq_ignore_ascii_case(&rest[..cut]))?.0;
            (base, true)
        };
        if base == Base::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Operator { base, set, if_exists })
    }
}

/// The compiled values of a clause.
#[derive(Debug, Clone)]
enum Operand {
    /// Equality or glob patterns (with policy variables in 2012-10-17).
    Strings(Vec<Pattern>),
    Numbers(Vec<f64>),
    Dates(Vec<i64>),
    Bools(Vec<bool>),
    Cidrs(Vec<Cidr>),
    /// The six colon-separated parts of each ARN pattern (fewer: the whole value in one).
    Arns(Vec<Vec<Pattern>>),
    Null(bool),
}

/// One compiled clause: operator, key, values.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    op: Operator,
    pub(crate) key: Key,
    operand: Operand,
}

impl Condition {
    /// Compiles a clause; `variables` is whether the policy is version 2012-10-17.
    pub(crate) fn compile(
        operator: &str,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Result<Condition, PolicyError> {
        let op = Operator::parse(operator)
            .ok_or_else(|| malformed(format!("Invalid Condition type : {operator}")))?;
        let key = Key::parse(key).ok_or_else(|| malformed(reason::INVALID_CONDITION_KEY))?;
        let bad_value = |value: &str| {
            malformed(format!("Invalid value for condition operator {operator}: {value}"))
        };
        if key.value_type() == ValueType::Ip && op.base != Base::Null {
            for value in values {
                if Cidr::parse(value).is_none() {
                    return Err(malformed(reason::INVALID_IP));
                }
            }
        }
        let strings = |wildcards: bool| {
            values
                .iter()
                .map(|v| {
                    Pattern::parse(v, wildcards, variables)
                        .map_err(|_| malformed(reason::INVALID_CONDITION_KEY))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let operand = match op.base {
            Base::StringEquals
            | Base::StringNotEquals
            | Base::StringEqualsIgnoreCase
            | Base::StringNotEqualsIgnoreCase
            | Base::BinaryEquals => Operand::Strings(strings(false)?),
            Base::StringLike | Base::StringNotLike => Operand::Strings(strings(true)?),
            Base::NumericEquals
            | Base::NumericNotEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals => Operand::Numbers(
                values
                    .iter()
                    .map(|v| {
                        v.trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|n| n.is_finite())
                            .ok_or_else(|| bad_value(v))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Base::DateEquals
            | Base::DateNotEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals => Operand::Dates(
                values
                    .iter()
                    .map(|v| crate::date::parse_millis(v).ok_or_else(|| bad_value(v)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::Bool => Operand::Bools(
                values
                    .iter()
                    .map(|v| parse_bool(v).ok_or_else(|| bad_value(v)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::IpAddress | Base::NotIpAddress => Operand::Cidrs(
                values
                    .iter()
                    .map(|v| Cidr::parse(v).ok_or_else(|| malformed(reason::INVALID_IP)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::ArnEquals | Base::ArnLike | Base::ArnNotEquals | Base::ArnNotLike => {
                Operand::Arns(
                    values
                        .iter()
                        .map(|v| {
                            arn_parts(v)
                                .into_iter()
                                .map(|part| Pattern::parse(part, true, variables))
                                .collect::<Result<Vec<_>, _>>()
                                .map_err(|_| malformed(reason::INVALID_CONDITION_KEY))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            Base::Null => match values {
                [one] => Operand::Null(parse_bool(one).ok_or_else(|| bad_value(one))?),
                _ => return Err(bad_value(&values.join(","))),
            },
        };
        Ok(Condition { op, key, operand })
    }

    /// Whether the clause holds, given the key's values in the request (`None`: absent).
    pub(crate) fn holds<'r>(
        &self,
        values: Option<&[Value]>,
        resolve: &impl Fn(&Key) -> Option<&'r str>,
    ) -> bool {
        let present = values.filter(|v| !v.is_empty());
        if let Operand::Null(expect_absent) = self.operand {
            return present.is_none() == expect_absent;
        }
        let negated = self.op.base.negated();
        let Some(values) = present else {
            if self.op.if_exists {
                return true;
            }
            return match self.op.set {
                Some(SetQualifier::AllValues) => true,
                Some(SetQualifier::AnyValue) => false,
                None => negated,
            };
        };
        let matches = |v: &Value| self.matches_one(v, resolve);
        match (self.op.set, negated) {
            (None | Some(SetQualifier::AnyValue), false) => values.iter().any(matches),
            (None | Some(SetQualifier::AllValues), true) => !values.iter().any(matches),
            (Some(SetQualifier::AnyValue), true) => values.iter().any(|v| !matches(v)),
            (Some(SetQualifier::AllValues), false) => values.iter().all(matches),
        }
    }

    /// Whether one request value matches one of the clause's values, under the positive form
    /// of the operator.
    fn matches_one<'r>(&self, v: &Value, resolve: &impl Fn(&Key) -> Option<&'r str>) -> bool {
        use Base as B;
        match (&self.operand, self.op.base) {
            (Operand::Strings(ps), B::StringEquals | B::StringNotEquals | B::BinaryEquals) => {
                ps.iter().any(|p| p.equals(v.as_str(), false, resolve))
            }
            (Operand::Strings(ps), B::StringEqualsIgnoreCase | B::StringNotEqualsIgnoreCase) => {
                ps.iter().any(|p| p.equals(v.as_str(), true, resolve))
            }
            (Operand::Strings(ps), _) => ps.iter().any(|p| p.matches(v.as_str(), resolve)),
            (Operand::Numbers(ns), base) => {
                v.number.is_some_and(|x| ns.iter().any(|n| compare(base, x.partial_cmp(n))))
            }
            (Operand::Dates(ds), base) => {
                v.date.is_some_and(|x| ds.iter().any(|d| compare(base, Some(x.cmp(d)))))
            }
            (Operand::Bools(bs), _) => v.boolean.is_some_and(|x| bs.contains(&x)),
            (Operand::Cidrs(cs), _) => v.ip.is_some_and(|ip| cs.iter().any(|c| c.contains(ip))),
            (Operand::Arns(arns), _) => {
                arns.iter().any(|parts| arn_matches(parts, v.as_str(), resolve))
            }
            (Operand::Null(_), _) => false,
        }
    }

    /// Whether the clause restricts the request to fixed values of `key` (no wildcard, no
    /// variable, not optional): what makes a wildcard grant non-public.
    pub(crate) fn pins(&self) -> bool {
        if self.op.if_exists
            || self.op.set == Some(SetQualifier::AllValues)
            || self.op.base.negated()
        {
            return false;
        }
        match &self.operand {
            Operand::Strings(ps) => ps.iter().all(|p| p.as_literal().is_some()),
            Operand::Arns(arns) => arns.iter().flatten().all(|p| p.as_literal().is_some()),
            // A block wider than /8 (IPv4) or /32 (IPv6) is as good as everyone.
            Operand::Cidrs(cs) => cs.iter().all(|c| c.prefix() >= if c.is_ipv4() { 8 } else { 32 }),
            Operand::Numbers(_) | Operand::Dates(_) | Operand::Bools(_) | Operand::Null(_) => false,
        }
    }
}

fn compare(base: Base, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let Some(ordering) = ordering else { return false };
    match base {
        Base::NumericEquals | Base::NumericNotEquals | Base::DateEquals | Base::DateNotEquals => {
            ordering == Equal
        }
        Base::NumericLessThan | Base::DateLessThan => ordering == Less,
        Base::NumericLessThanEquals | Base::DateLessThanEquals => ordering != Greater,
        Base::NumericGreaterThan | Base::DateGreaterThan => ordering == Greater,
        Base::NumericGreaterThanEquals | Base::DateGreaterThanEquals => ordering != Less,
        _ => false,
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The six parts of an ARN (the last keeps its colons); a value with fewer is one part.
fn arn_parts(text: &str) -> Vec<&str> {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    if parts.len() == 6 { parts } else { vec![text] }
}

fn arn_matches<'r>(
    parts: &[Pattern],
    value: &str,
    resolve: &impl Fn(&Key) -> Option<&'r str>,
) -> bool {
    // ArnEquals and ArnLike both honour wildcards in each part (IAM reference).
    if parts.len() == 1 {
        return parts[0].matches(value, resolve);
    }
    let mut count = 0;
    for (pattern, part) in parts.iter().zip(value.splitn(6, ':')) {
        if !pattern.matches(part, resolve) {
            return false;
        }
        count += 1;
    }
    count == 6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_vars(_: &Key) -> Option<&'static str> {
        None
    }

    /// Evaluates one clause against `values` (`None`: the key is absent).
    fn check(op: &str, policy: &[&str], request: Option<&[&str]>, expected: bool) {
        let policy: Vec<String> = policy.iter().map(|s| (*s).to_owned()).collect();
        let key = if op.contains("Ip") { "aws:SourceIp" } else { "s3:prefix" };
        let c = Condition::compile(op, key, &policy, true).unwrap();
        let values: Option<Vec<Value>> =
            request.map(|r| r.iter().map(|s| Value::new(*s)).collect());
        assert_eq!(c.holds(values.as_deref(), &no_vars), expected, "{op} {policy:?} {request:?}");
    }

    #[test]
    fn operators() {
        let one =
            |s: &'static str| -> Option<&'static [&'static str]> { Some(Box::leak(Box::new([s]))) };
        check("StringEquals", &["a"], one("a"), true);
        check("StringEquals", &["a"], one("A"), false);
        check("StringEquals", &["a", "b"], one("b"), true);
        check("StringEquals", &["a*"], one("ab"), false);
        check("StringEquals", &["a"], None, false);
        check("StringNotEquals", &["a"], one("a"), false);
        check("StringNotEquals", &["a"], one("b"), true);
        check("StringNotEquals", &["a", "b"], one("b"), false);
        check("StringNotEquals", &["a"], None, true);
        check("StringEqualsIgnoreCase", &["abc"], one("ABC"), true);
        check("StringNotEqualsIgnoreCase", &["abc"], one("ABC"), false);
        check("StringLike", &["home/*"], one("home/x/y"), true);
        check("StringLike", &["home/*"], one("other"), false);
        check("StringLike", &["a?c"], one("abc"), true);
        check("StringNotLike", &["home/*"], one("other"), true);
        check("StringNotLike", &["home/*"], None, true);
        check("StringLikeIfExists", &["home/*"], None, true);
        check("StringLikeIfExists", &["home/*"], one("x"), false);
        check("StringNotEqualsIfExists", &["a"], one("a"), false);
        check("NumericLessThan", &["10"], one("9"), true);
        check("NumericLessThan", &["10"], one("10"), false);
        check("NumericLessThanEquals", &["10"], one("10"), true);
        check("NumericGreaterThan", &["10"], one("10.5"), true);
        check("NumericGreaterThanEquals", &["10"], one("9.99"), false);
        check("NumericEquals", &["10"], one("10.0"), true);
        check("NumericNotEquals", &["10"], one("11"), true);
        check("NumericEquals", &["10"], one("ten"), false);
        check("NumericLessThan", &["10"], None, false);
        check("DateLessThan", &["2020-01-01T00:00:00Z"], one("2019-12-31T23:59:59Z"), true);
        check("DateLessThan", &["2020-01-01T00:00:00Z"], one("2020-01-01T00:00:00Z"), false);
        check("DateGreaterThanEquals", &["2020-01-01"], one("1577836800"), true);
        check("DateEquals", &["2020-01-01"], one("2020-01-01T00:00:00.000Z"), true);
        check("DateNotEquals", &["2020-01-01"], one("2020-01-02"), true);
        check("Bool", &["true"], one("true"), true);
        check("Bool", &["true"], one("false"), false);
        check("Bool", &["false"], one("FALSE"), true);
        check("Bool", &["true"], None, false);
        check("BoolIfExists", &["false"], None, true);
        check("IpAddress", &["10.0.0.0/8"], one("10.1.2.3"), true);
        check("IpAddress", &["10.0.0.0/8"], one("11.1.2.3"), false);
        check("IpAddress", &["10.0.0.0/8", "2001:db8::/32"], one("2001:db8::1"), true);
        check("NotIpAddress", &["10.0.0.0/8"], one("11.1.2.3"), true);
        check("NotIpAddress", &["10.0.0.0/8"], one("10.1.2.3"), false);
        check("NotIpAddress", &["10.0.0.0/8"], None, true);
        check("IpAddressIfExists", &["10.0.0.0/8"], None, true);
        check("Null", &["true"], None, true);
        check("Null", &["true"], one("x"), false);
        check("Null", &["false"], one("x"), true);
        check("Null", &["false"], Some(&[]), false);
        check("BinaryEquals", &["QmluYXJ5"], one("QmluYXJ5"), true);
    }

    #[test]
    fn set_qualifiers() {
        let many: &[&str] = &["a", "b"];
        check("ForAnyValue:StringEquals", &["a"], Some(many), true);
        check("ForAnyValue:StringEquals", &["c"], Some(many), false);
        check("ForAnyValue:StringEquals", &["a"], None, false);
        check("ForAnyValue:StringEquals", &["a"], Some(&[]), false);
        check("ForAllValues:StringEquals", &["a", "b", "c"], Some(many), true);
        check("ForAllValues:StringEquals", &["a"], Some(many), false);
        check("ForAllValues:StringEquals", &["a"], None, true);
        check("ForAllValues:StringEquals", &["a"], Some(&[]), true);
        check("ForAnyValue:StringNotEquals", &["a"], Some(many), true);
        check("ForAnyValue:StringNotEquals", &["a", "b"], Some(many), false);
        check("ForAllValues:StringNotEquals", &["c"], Some(many), true);
        check("ForAllValues:StringNotEquals", &["a"], Some(many), false);
        check("ForAnyValue:StringLike", &["a*"], Some(many), true);
        check("ForAllValues:StringLikeIfExists", &["x*"], None, true);
        check("ForAnyValue:StringEqualsIfExists", &["x"], None, true);
        // A plain operator on a multi-valued key behaves as ForAnyValue.
        check("StringEquals", &["b"], Some(many), true);
        check("StringNotEquals", &["b"], Some(many), false);
    }

    #[test]
    fn arns() {
        let c = Condition::compile("ArnLike", "aws:SourceArn", &["arn:aws:s3:::b*".into()], true)
            .unwrap();
        let v = |s: &str| [Value::new(s)];
        assert!(c.holds(Some(&v("arn:aws:s3:::bucket")), &no_vars));
        assert!(!c.holds(Some(&v("arn:aws:sns:::bucket")), &no_vars));
        assert!(!c.holds(Some(&v("not-an-arn")), &no_vars));
        let eq = Condition::compile(
            "ArnEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::123456789012:user/*".into()],
            true,
        )
        .unwrap();
        assert!(eq.holds(Some(&v("arn:aws:iam::123456789012:user/alice")), &no_vars));
        assert!(!eq.holds(Some(&v("arn:aws:iam::123456789013:user/alice")), &no_vars));
        let not =
            Condition::compile("ArnNotLike", "aws:SourceArn", &["arn:aws:s3:::b*".into()], true)
                .unwrap();
        assert!(not.holds(None, &no_vars));
        assert!(not.holds(Some(&v("arn:aws:s3:::other")), &no_vars));
        let star = Condition::compile("ArnLike", "aws:SourceArn", &["*".into()], true).unwrap();
        assert!(star.holds(Some(&v("arn:aws:s3:::x")), &no_vars));
    }

    #[test]
    fn refused() {
        let err = |op: &str, key: &str, values: &[&str]| {
            let values: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
            match Condition::compile(op, key, &values, true) {
                Err(PolicyError::MalformedPolicy { reason }) => reason,
                Ok(_) => panic!("{op} {key} {values:?} compiled"),
                Err(other) => panic!("{other:?}"),
            }
        };
        assert_eq!(
            err("StringEqualz", "s3:prefix", &["a"]),
            "Invalid Condition type : StringEqualz"
        );
        assert_eq!(
            err("NullIfExists", "s3:prefix", &["true"]),
            "Invalid Condition type : NullIfExists"
        );
        assert_eq!(
            err("ForAnyValue:Null", "s3:prefix", &["true"]),
            "Invalid Condition type : ForAnyValue:Null"
        );
        assert_eq!(
            err("ForSomeValues:StringEquals", "s3:prefix", &["a"]),
            "Invalid Condition type : ForSomeValues:StringEquals"
        );
        assert_eq!(err("StringEquals", "s3:nope", &["a"]), reason::INVALID_CONDITION_KEY);
        assert_eq!(
            err("StringEquals", "s3:prefix", &["${s3:nope}"]),
            reason::INVALID_CONDITION_KEY
        );
        assert_eq!(err("IpAddress", "aws:SourceIp", &["10.0.0.0/33"]), reason::INVALID_IP);
        assert_eq!(err("StringEquals", "aws:SourceIp", &["nope"]), reason::INVALID_IP);
        assert_eq!(err("IpAddress", "s3:prefix", &["nope"]), reason::INVALID_IP);
        assert!(err("NumericLessThan", "s3:max-keys", &["ten"]).starts_with("Invalid value"));
        assert!(err("DateLessThan", "aws:CurrentTime", &["soon"]).starts_with("Invalid value"));
        assert!(err("Bool", "aws:SecureTransport", &["yes"]).starts_with("Invalid value"));
        assert!(err("Null", "s3:prefix", &["maybe"]).starts_with("Invalid value"));
        assert!(err("Null", "s3:prefix", &["true", "false"]).starts_with("Invalid value"));
        // Operator names ignore case.
        assert!(Condition::compile("stringequals", "s3:prefix", &["a".into()], true).is_ok());
        assert!(
            Condition::compile(
                "forallvalues:stringequalsifexists",
                "s3:prefix",
                &["a".into()],
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn pinning() {
        let pins = |op: &str, key: &str, values: &[&str]| {
            let values: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
            Condition::compile(op, key, &values, true).unwrap().pins()
        };
        assert!(pins("IpAddress", "aws:SourceIp", &["203.0.113.0/24"]));
        assert!(!pins("IpAddress", "aws:SourceIp", &["0.0.0.0/1"]));
        assert!(!pins("IpAddress", "aws:SourceIp", &["::/0"]));
        assert!(!pins("NotIpAddress", "aws:SourceIp", &["203.0.113.0/24"]));
        assert!(!pins("IpAddressIfExists", "aws:SourceIp", &["203.0.113.0/24"]));
        assert!(pins("StringEquals", "aws:SourceVpce", &["vpce-1"]));
        assert!(!pins("StringLike", "aws:SourceVpce", &["vpce-*"]));
        assert!(!pins("StringEquals", "aws:SourceArn", &["${aws:username}"]));
        assert!(pins("ArnEquals", "aws:SourceArn", &["arn:aws:s3:::b"]));
        assert!(!pins("ForAllValues:StringEquals", "aws:SourceVpce", &["vpce-1"]));
    }
}
