//! The policy document as written: the IAM JSON grammar S3 accepts, parsed into plain data
//! and written back. Validation of meaning (actions, keys, principals) is in `compile`.

use crate::error::{PolicyError, malformed, reason};
use crate::json::{Json, write_str, write_strs};

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`: the original language; `${...}` is literal text.
    V2008_10_17,
}

impl Version {
    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants the statement's actions.
    Allow,
    /// Refuses them, whatever else allows them.
    Deny,
}

/// A list of strings that may be negated (`Action` / `NotAction`, `Resource` / `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Items {
    /// `NotAction` / `NotResource`.
    pub negated: bool,
    /// The values, in order.
    pub values: Vec<String>,
}

/// The `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    /// `NotPrincipal`.
    pub negated: bool,
    /// `"*"` or the typed map.
    pub value: PrincipalValue,
}

/// What a `Principal` element holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalValue {
    /// `"Principal": "*"`.
    Wildcard,
    /// `{"AWS": [...], "CanonicalUser": [...], "Service": [...]}` in order.
    Map(Vec<(String, Vec<String>)>),
}

/// One key of a `Condition` block: `"StringEquals": {"s3:prefix": ["a", "b"]}` is one clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionClause {
    /// The operator as written (`ForAnyValue:StringLikeIfExists`).
    pub operator: String,
    /// The key as written (`aws:SourceIp`).
    pub key: String,
    /// The values, as text (numbers and booleans are kept as their JSON text).
    pub values: Vec<String>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal` (bucket policies only).
    pub principal: Option<Principals>,
    /// `Action` / `NotAction`.
    pub action: Items,
    /// `Resource` / `NotResource`.
    pub resource: Items,
    /// The `Condition` block, one clause per operator and key, in order.
    pub conditions: Vec<ConditionClause>,
}

/// A whole policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`; `None` when absent, which IAM reads as 2008-10-17.
    pub version: Option<Version>,
    /// `Id`.
    pub id: Option<String>,
    /// `Statement` (a single object is read as a list of one).
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// The version in force: 2008-10-17 when the document names none.
    pub fn effective_version(&self) -> Version {
        self.version.unwrap_or(Version::V2008_10_17)
    }

    /// Parses the JSON text (grammar only).
    pub fn parse(text: &str) -> Result<PolicyDocument, PolicyError> {
        if !text.starts_with('{') {
            return Err(malformed(reason::FIRST_BYTE));
        }
        let Some(Json::Object(members)) = Json::parse(text) else {
            return Err(malformed(reason::INVALID_JSON));
        };
        let mut version = None;
        let mut id = None;
        let mut statements = None;
        for (name, value) in unique(members)? {
            match name.as_str() {
                "Version" => match value {
                    Json::String(v) if v == "2012-10-17" => version = Some(Version::V2012_10_17),
                    Json::String(v) if v == "2008-10-17" => version = Some(Version::V2008_10_17),
                    _ => return Err(malformed(reason::INVALID_VERSION)),
                },
                "Id" => id = Some(string(value)?),
                "Statement" => {
                    statements = Some(match value {
                        Json::Array(items) => {
                            items.into_iter().map(parse_statement).collect::<Result<Vec<_>, _>>()?
                        }
                        object @ Json::Object(_) => vec![parse_statement(object)?],
                        _ => return Err(malformed(reason::INVALID_JSON)),
                    });
                }
                other => return Err(malformed(format!("Unknown field {other}"))),
            }
        }
        let statements = statements.ok_or_else(|| malformed(reason::MISSING_STATEMENT))?;
        if statements.is_empty() {
            return Err(malformed(reason::EMPTY_STATEMENT));
        }
        Ok(PolicyDocument { version, id, statements })
    }

    /// Writes the document as compact JSON (one value as a string, several as an array).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push('{');
        let mut first = true;
        let mut field = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            write_str(out, name);
            out.push(':');
        };
        if let Some(version) = self.version {
            field(&mut out, "Version");
            write_str(&mut out, version.as_str());
        }
        if let Some(id) = &self.id {
            field(&mut out, "Id");
            write_str(&mut out, id);
        }
        field(&mut out, "Statement");
        out.push('[');
        for (i, statement) in self.statements.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_statement(&mut out, statement);
        }
        out.push_str("]}");
        out
    }
}

fn write_statement(out: &mut String, s: &Statement) {
    out.push('{');
    if let Some(sid) = &s.sid {
        out.push_str("\"Sid\":");
        write_str(out, sid);
        out.push(',');
    }
    out.push_str(match s.effect {
        Effect::Allow => "\"Effect\":\"Allow\"",
        Effect::Deny => "\"Effect\":\"Deny\"",
    });
    if let Some(p) = &s.principal {
        out.push_str(if p.negated { ",\"NotPrincipal\":" } else { ",\"Principal\":" });
        match &p.value {
            PrincipalValue::Wildcard => out.push_str("\"*\""),
            PrincipalValue::Map(entries) => {
                out.push('{');
                for (i, (kind, values)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, kind);
                    out.push(':');
                    write_strs(out, values);
                }
                out.push('}');
            }
        }
    }
    out.push_str(if s.action.negated { ",\"NotAction\":" } else { ",\"Action\":" });
    write_strs(out, &s.action.values);
    out.push_str(if s.resource.negated { ",\"NotResource\":" } else { ",\"Resource\":" });
    write_strs(out, &s.resource.values);
    if !s.conditions.is_empty() {
        out.push_str(",\"Condition\":{");
        let mut i = 0;
        while i < s.conditions.len() {
            let operator = &s.conditions[i].operator;
            if i > 0 {
                out.push(',');
            }
            write_str(out, operator);
            out.push_str(":{");
            let mut j = i;
            while j < s.conditions.len() && &s.conditions[j].operator == operator {
                if j > i {
                    out.push(',');
                }
                write_str(out, &s.conditions[j].key);
                out.push(':');
                write_strs(out, &s.conditions[j].values);
                j += 1;
            }
            out.push('}');
            i = j;
        }
        out.push('}');
    }
    out.push('}');
}

/// Refuses an object that names a member twice.
fn unique(members: Vec<(String, Json)>) -> Result<Vec<(String, Json)>, PolicyError> {
    for (i, (name, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(other, _)| other == name) {
            return Err(malformed(reason::INVALID_JSON));
        }
    }
    Ok(members)
}

fn string(value: Json) -> Result<String, PolicyError> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(malformed(reason::INVALID_JSON)),
    }
}

/// A string or a non-empty array of strings.
fn strings(value: Json, empty: &'static str) -> Result<Vec<String>, PolicyError> {
    let values = match value {
        Json::String(s) => vec![s],
        Json::Array(items) => items.into_iter().map(string).collect::<Result<Vec<_>, _>>()?,
        _ => return Err(malformed(reason::INVALID_JSON)),
    };
    if values.is_empty() {
        return Err(malformed(empty));
    }
    Ok(values)
}

/// A condition value: strings, numbers and booleans, alone or in an array.
fn condition_values(value: Json) -> Result<Vec<String>, PolicyError> {
    let scalar = |v: Json| match v {
        Json::String(s) | Json::Number(s) => Ok(s),
        Json::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed(reason::INVALID_JSON)),
    };
    match value {
        Json::Array(items) if !items.is_empty() => items.into_iter().map(scalar).collect(),
        Json::Array(_) => Err(malformed("Condition values must not be empty")),
        other => Ok(vec![scalar(other)?]),
    }
}

fn parse_statement(value: Json) -> Result<Statement, PolicyError> {
    let Json::Object(members) = value else {
        return Err(malformed(reason::INVALID_JSON));
    };
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<Principals> = None;
    let mut action: Option<Items> = None;
    let mut resource: Option<Items> = None;
    let mut conditions = Vec::new();
    for (name, value) in unique(members)? {
        match name.as_str() {
            "Sid" => sid = Some(string(value)?),
            "Effect" => {
                effect = Some(match value {
                    Json::String(e) if e == "Allow" => Effect::Allow,
                    Json::String(e) if e == "Deny" => Effect::Deny,
                    Json::String(e) => return Err(malformed(format!("Invalid effect: {e}"))),
                    _ => return Err(malformed(reason::INVALID_JSON)),
                });
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return Err(malformed(reason::INVALID_PRINCIPAL));
                }
                let negated = name == "NotPrincipal";
                principal = Some(Principals { negated, value: parse_principal(value)? });
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(malformed(reason::INVALID_ACTION));
                }
                let values = strings(value, reason::INVALID_ACTION)?;
                action = Some(Items { negated: name == "NotAction", values });
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(malformed(reason::INVALID_RESOURCE));
                }
                let values = strings(value, reason::INVALID_RESOURCE)?;
                resource = Some(Items { negated: name == "NotResource", values });
            }
            "Condition" => {
                let Json::Object(operators) = value else {
                    return Err(malformed(reason::INVALID_JSON));
                };
                for (operator, keys) in unique(operators)? {
                    let Json::Object(keys) = keys else {
                        return Err(malformed(reason::INVALID_JSON));
                    };
                    for (key, values) in unique(keys)? {
                        let values = condition_values(values)?;
                        conditions.push(ConditionClause {
                            operator: operator.clone(),
                            key,
                            values,
                        });
                    }
                }
            }
            other => return Err(malformed(format!("Unknown field {other}"))),
        }
    }
    Ok(Statement {
        sid,
        effect: effect.ok_or_else(|| malformed("Missing required field Effect"))?,
        principal,
        action: action.ok_or_else(|| malformed("Missing required field Action"))?,
        resource: resource.ok_or_else(|| malformed("Missing required field Resource"))?,
        conditions,
    })
}

fn parse_principal(value: Json) -> Result<PrincipalValue, PolicyError> {
    match value {
        Json::String(s) if s == "*" => Ok(PrincipalValue::Wildcard),
        Json::Object(members) if !members.is_empty() => {
            let mut entries = Vec::new();
            for (kind, values) in unique(members)? {
                let values = match values {
                    Json::String(s) => vec![s],
                    Json::Array(items) if !items.is_empty() => items
                        .into_iter()
                        .map(|v| match v {
                            Json::String(s) => Ok(s),
                            _ => Err(malformed(reason::INVALID_PRINCIPAL)),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => return Err(malformed(reason::INVALID_PRINCIPAL)),
                };
                entries.push((kind, values));
            }
            Ok(PrincipalValue::Map(entries))
        }
        _ => Err(malformed(reason::INVALID_PRINCIPAL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_of(text: &str) -> String {
        match PolicyDocument::parse(text) {
            Err(PolicyError::MalformedPolicy { reason }) => reason,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn grammar_errors_have_aws_reasons() {
        let s = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":{body}}}"#);
        let cases: Vec<(String, &str)> = vec![
            (" {}".into(), reason::FIRST_BYTE),
            ("[]".into(), reason::FIRST_BYTE),
            ("{".into(), reason::INVALID_JSON),
            (r#"{"Version":"2012-10-17"}"#.into(), reason::MISSING_STATEMENT),
            (s("[]"), reason::EMPTY_STATEMENT),
            (r#"{"Version":"2012-10-18","Statement":[]}"#.into(), reason::INVALID_VERSION),
            (r#"{"Version":2012,"Statement":[]}"#.into(), reason::INVALID_VERSION),
            (s("3"), reason::INVALID_JSON),
            (
                s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Effect":"Deny"}"#),
                reason::INVALID_JSON,
            ),
            (s(r#"{"Effect":"allow","Action":"s3:*","Resource":"*"}"#), "Invalid effect: allow"),
            (s(r#"{"Action":"s3:*","Resource":"*"}"#), "Missing required field Effect"),
            (s(r#"{"Effect":"Allow","Resource":"*"}"#), "Missing required field Action"),
            (s(r#"{"Effect":"Allow","Action":"s3:*"}"#), "Missing required field Resource"),
            (s(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#), reason::INVALID_ACTION),
            (
                s(r#"{"Effect":"Allow","Action":"s3:*","NotAction":"s3:*","Resource":"*"}"#),
                reason::INVALID_ACTION,
            ),
            (s(r#"{"Effect":"Allow","Action":"s3:*","Resource":[]}"#), reason::INVALID_RESOURCE),
            (
                s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"alice"}"#),
                reason::INVALID_PRINCIPAL,
            ),
            (
                s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":{}}"#),
                reason::INVALID_PRINCIPAL,
            ),
            (
                s(
                    r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"*","NotPrincipal":"*"}"#,
                ),
                reason::INVALID_PRINCIPAL,
            ),
            (
                s(
                    r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":[]}}}"#,
                ),
                "Condition values must not be empty",
            ),
            (
                s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":[]}"#),
                reason::INVALID_JSON,
            ),
            (
                s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Actions":"x"}"#),
                "Unknown field Actions",
            ),
            (r#"{"Statment":[]}"#.into(), "Unknown field Statment"),
        ];
        for (text, expected) in cases {
            assert_eq!(reason_of(&text), expected, "{text}");
        }
    }

    #[test]
    fn single_values_and_lists() {
        let doc = PolicyDocument::parse(
            r#"{"Statement":{"Effect":"Deny","NotAction":"s3:GetObject","NotResource":["a","b"],
                "Principal":{"AWS":"*"},
                "Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":false}}}}"#,
        )
        .unwrap();
        assert_eq!(doc.version, None);
        assert_eq!(doc.effective_version(), Version::V2008_10_17);
        let st = &doc.statements[0];
        assert_eq!(st.effect, Effect::Deny);
        assert!(st.action.negated);
        assert_eq!(st.resource.values, ["a", "b"]);
        assert_eq!(st.conditions[0].values, ["10"]);
        assert_eq!(st.conditions[1].values, ["false"]);
        let again = PolicyDocument::parse(&doc.to_json()).unwrap();
        assert_eq!(again, doc);
    }
}
