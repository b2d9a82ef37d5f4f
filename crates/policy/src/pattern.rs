//! Wildcard patterns (`*`, `?`) and policy variables (`${aws:username}`), compiled once.
//!
//! A pattern is a sequence of tokens: literal runs, variables (resolved from the request when
//! it is matched, so matching allocates nothing), and the two wildcards. `${*}`, `${?}` and
//! `${$}` are the literal characters. A variable may carry a default (`${aws:username,
//! 'nobody'}`) used when the request has no value for the key.

use crate::keys::Key;

/// A policy variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    pub(crate) key: Key,
    pub(crate) default: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(Box<str>),
    Var(Var),
    /// `*`: any run of characters, `/` included.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    toks: Box<[Tok]>,
}

/// Why a pattern did not compile: a `${...}` naming no known key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownVariable;

impl Pattern {
    /// Compiles `text`. With `wildcards`, `*` and `?` match; with `variables` (policy version
    /// 2012-10-17), `${...}` is a variable, otherwise literal text.
    pub(crate) fn parse(
        text: &str,
        wildcards: bool,
        variables: bool,
    ) -> Result<Pattern, UnknownVariable> {
        let mut toks = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let inner = &rest[2..end];
                rest = &rest[end + 1..];
                match inner {
                    "*" | "?" | "$" => lit.push_str(inner),
                    _ => {
                        flush(&mut lit, &mut toks);
                        toks.push(Tok::Var(parse_var(inner)?));
                    }
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if wildcards => {
                    flush(&mut lit, &mut toks);
                    // Two stars in a row match what one does.
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' if wildcards => {
                    flush(&mut lit, &mut toks);
                    toks.push(Tok::One);
                }
                _ => lit.push(c),
            }
        }
        flush(&mut lit, &mut toks);
        Ok(Pattern { toks: toks.into_boxed_slice() })
    }

    /// Whether the pattern has a wildcard.
    pub(crate) fn has_wildcard(&self) -> bool {
        self.toks.iter().any(|t| matches!(t, Tok::Star | Tok::One))
    }

    /// Whether the pattern has a variable.
    pub(crate) fn has_variable(&self) -> bool {
        self.toks.iter().any(|t| matches!(t, Tok::Var(_)))
    }

    /// The pattern as text with every variable read as `*` (what it could match at most),
    /// for checks made when the policy is stored.
    pub(crate) fn widened(&self) -> Pattern {
        let toks = self
            .toks
            .iter()
            .map(|t| match t {
                Tok::Var(_) => Tok::Star,
                other => other.clone(),
            })
            .collect();
        Pattern { toks }
    }

    /// The literal text, if the pattern has neither wildcard nor variable.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match &*self.toks {
            [] => Some(""),
            [Tok::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// Glob match of `text` (case-sensitive), variables resolved through `resolve`.
    pub(crate) fn matches<'r>(
        &self,
        text: &str,
        resolve: &impl Fn(&Key) -> Option<&'r str>,
    ) -> bool {
        let toks = &*self.toks;
        let (mut t, mut s) = (0, 0);
        // Where to resume after the last star: (token after the star, text position).
        let mut back: Option<(usize, usize)> = None;
        loop {
            if t < toks.len() {
                let advanced = match &toks[t] {
                    Tok::Star => {
                        back = Some((t + 1, s));
                        t += 1;
                        continue;
                    }
                    Tok::One => match text[s..].chars().next() {
                        Some(c) => {
                            s += c.len_utf8();
                            true
                        }
                        None => false,
                    },
                    Tok::Lit(lit) => advance(text, &mut s, lit),
                    Tok::Var(var) => match pick(resolve(&var.key), var.default.as_deref()) {
                        Some(value) => advance(text, &mut s, value),
                        None => return false,
                    },
                };
                if advanced {
                    t += 1;
                    continue;
                }
            } else if s == text.len() {
                return true;
            }
            match back {
                Some((bt, bs)) if bs < text.len() => {
                    let next = bs + text[bs..].chars().next().map_or(1, char::len_utf8);
                    back = Some((bt, next));
                    t = bt;
                    s = next;
                }
                _ => return false,
            }
        }
    }

    /// Exact comparison (wildcards are literal here), optionally ignoring case.
    pub(crate) fn equals<'r>(
        &self,
        text: &str,
        ignore_case: bool,
        resolve: &impl Fn(&Key) -> Option<&'r str>,
    ) -> bool {
        let mut rest = text;
        for tok in &*self.toks {
            let piece: &str = match tok {
                Tok::Lit(lit) => lit,
                Tok::Var(var) => match pick(resolve(&var.key), var.default.as_deref()) {
                    Some(value) => value,
                    None => return false,
                },
                Tok::Star => "*",
                Tok::One => "?",
            };
            match strip_prefix(rest, piece, ignore_case) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

fn flush(lit: &mut String, toks: &mut Vec<Tok>) {
    if !lit.is_empty() {
        toks.push(Tok::Lit(std::mem::take(lit).into_boxed_str()));
    }
}

fn parse_var(inner: &str) -> Result<Var, UnknownVariable> {
    let (name, default) = match inner.split_once(',') {
        Some((name, default)) => {
            let default = default.trim();
            let quoted = default
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .ok_or(UnknownVariable)?;
            (name.trim(), Some(quoted.into()))
        }
        None => (inner.trim(), None),
    };
    let key = Key::parse(name).ok_or(UnknownVariable)?;
    Ok(Var { key, default })
}

/// The value of a variable: the request's, else its default.
fn pick<'x>(value: Option<&'x str>, default: Option<&'x str>) -> Option<&'x str> {
    value.or(default)
}

fn advance(text: &str, s: &mut usize, piece: &str) -> bool {
    if text[*s..].starts_with(piece) {
        *s += piece.len();
        true
    } else {
        false
    }
}

fn strip_prefix<'t>(text: &'t str, prefix: &str, ignore_case: bool) -> Option<&'t str> {
    if !ignore_case {
        return text.strip_prefix(prefix);
    }
    let mut rest = text.chars();
    for p in prefix.chars() {
        let t = rest.next()?;
        if t != p && !t.to_lowercase().eq(p.to_lowercase()) {
            return None;
        }
    }
    Some(rest.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyName;

    fn resolve(key: &Key) -> Option<&'static str> {
        match key {
            Key::Name(KeyName::AwsUsername) => Some("alice"),
            Key::Name(KeyName::AwsUserid) => Some("AIDA*?"),
            _ => None,
        }
    }

    fn glob(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern, true, true).unwrap().matches(text, &resolve)
    }

    #[test]
    fn wildcards() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("a*", "a", true),
            ("a*", "ab/c", true),
            ("a*", "ba", false),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "a/c", true),
            ("a?c", "aéc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("a*b*c", "abbbc", true),
            ("**", "x", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/k", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b", false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::bb/k", false),
            ("arn:aws:s3:::b*", "arn:aws:s3:::b/k", true),
            ("", "", true),
            ("", "x", false),
            ("x", "X", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), *expected, "{pattern} vs {text}");
        }
    }

    #[test]
    fn variables() {
        let cases: &[(&str, &str, bool)] = &[
            ("home/${aws:username}/*", "home/alice/x", true),
            ("home/${aws:username}/*", "home/bob/x", false),
            ("home/${AWS:USERNAME}", "home/alice", true),
            // A variable's value is literal even if it holds wildcard characters.
            ("${aws:userid}", "AIDA*?", true),
            ("${aws:userid}", "AIDAxy", false),
            // No value and no default: no match.
            ("${aws:PrincipalArn}*", "anything", false),
            ("${aws:PrincipalArn, 'none'}/*", "none/x", true),
            ("${*}${?}${$}", "*?$", true),
            ("${*}", "x", false),
            ("a${", "a${", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), *expected, "{pattern} vs {text}");
        }
        assert_eq!(Pattern::parse("${nope:key}", true, true), Err(UnknownVariable));
        assert_eq!(Pattern::parse("${aws:username, nobody}", true, true), Err(UnknownVariable));
        // In policy version 2008-10-17 there are no variables.
        let old = Pattern::parse("${aws:username}", true, false).unwrap();
        assert!(old.matches("${aws:username}", &resolve));
        assert!(!old.matches("alice", &resolve));
    }

    #[test]
    fn equality() {
        let eq = |pattern: &str, text: &str, ci: bool| {
            Pattern::parse(pattern, false, true).unwrap().equals(text, ci, &resolve)
        };
        assert!(eq("abc", "abc", false));
        assert!(!eq("abc", "ABC", false));
        assert!(eq("abc", "ABC", true));
        assert!(!eq("Straße", "STRASSE", false));
        assert!(eq("ÄB", "äb", true));
        assert!(eq("a*", "a*", false));
        assert!(!eq("a*", "ab", false));
        assert!(eq("${aws:username}", "alice", false));
        assert!(eq("x-${aws:username}", "X-ALICE", true));
        assert!(!eq("${aws:PrincipalArn}", "", false));
    }

    #[test]
    fn literal_and_widened() {
        let p = Pattern::parse("b/${aws:username}", true, true).unwrap();
        assert!(p.has_variable());
        assert!(!p.has_wildcard());
        assert_eq!(p.as_literal(), None);
        assert!(p.widened().matches("b/anyone", &|_| None));
        assert_eq!(Pattern::parse("plain", true, true).unwrap().as_literal(), Some("plain"));
    }
}
