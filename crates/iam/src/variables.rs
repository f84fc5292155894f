//! Policy variables: `${aws:username}` and the other request keys in a `Resource` or a
//! condition value are replaced by the request's value when the policy is evaluated, as AWS
//! documents for policies of version 2012-10-17. `${*}`, `${?}` and `${$}` stand for the
//! characters themselves (a literal `*` that is no wildcard), and `${key, 'default'}` gives
//! the value to use when the request has no such key. A variable the request has no value
//! for, and no default, makes the pattern match nothing.

use std::borrow::Cow;

use crate::Context;

/// Marks the next byte of a wildcard pattern as a literal (see [`crate::glob`]): what `${*}`
/// and `${?}` become, and how substituted values keep their own `*` and `?` literal.
pub const LITERAL: u8 = 0;

/// Whether a policy string uses variables (checked before paying for [`expand`]).
pub fn has_variables(s: &str) -> bool {
    s.contains("${")
}

/// `s` with its variables replaced by the request's values; `glob` when the result is a
/// wildcard pattern (a Resource, a `*Like` condition value), so that substituted text is
/// marked literal. `None` when a variable has no value and no default.
pub fn expand<'a>(s: &'a str, ctx: &Context, glob: bool) -> Option<Cow<'a, str>> {
    if !has_variables(s) {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // An unclosed `${` is plain text.
            out.push_str(&rest[start..]);
            return Some(Cow::Owned(out));
        };
        let value = value_of(&after[..end], ctx)?;
        push_value(&mut out, &value, glob);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// The value of one variable's inside (`aws:username`, `*`, `aws:username, 'anon'`).
fn value_of(inner: &str, ctx: &Context) -> Option<String> {
    match inner {
        "*" | "?" | "$" => return Some(inner.to_string()),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .unwrap_or(d);
            (k.trim(), Some(d))
        }
        None => (inner.trim(), None),
    };
    let key = key.to_ascii_lowercase();
    match ctx.get(&key).and_then(|v| v.first()) {
        Some(v) => Some(v.clone()),
        None => default.map(str::to_string),
    }
}

/// Appends a substituted value; in a wildcard pattern its `*` and `?` stay literal.
fn push_value(out: &mut String, value: &str, glob: bool) {
    for c in value.chars() {
        if glob && (c == '*' || c == '?') {
            out.push(LITERAL as char);
        }
        out.push(c);
    }
}

/// A pattern's text with the literal marks removed: what a non-wildcard comparison
/// (`StringEquals`) reads.
pub fn plain(s: &str) -> Cow<'_, str> {
    if s.as_bytes().contains(&LITERAL) {
        Cow::Owned(s.chars().filter(|&c| c != LITERAL as char).collect())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob;

    fn ctx() -> Context {
        let mut c = Context::default();
        c.add("aws:username", "carlos");
        c.add("aws:userid", "AIDAEXAMPLE");
        c.add("aws:PrincipalTag/team", "blue");
        c
    }

    #[test]
    fn variables_expand_from_the_request() {
        let c = ctx();
        let cases: &[(&str, Option<&str>)] = &[
            (
                "arn:aws:s3:::home/${aws:username}/*",
                Some("arn:aws:s3:::home/carlos/*"),
            ),
            ("${aws:userid}", Some("AIDAEXAMPLE")),
            ("${aws:PrincipalTag/team}-data", Some("blue-data")),
            ("${AWS:UserName}", Some("carlos")),
            ("no variables", Some("no variables")),
            ("${aws:SourceVpc}", None),
            ("${aws:SourceVpc, 'none'}", Some("none")),
            ("${aws:username,'x'}", Some("carlos")),
            ("${$}{literal}", Some("${literal}")),
            ("unclosed ${aws:username", Some("unclosed ${aws:username")),
        ];
        for (s, want) in cases {
            assert_eq!(expand(s, &c, false).as_deref(), *want, "{s}");
        }
    }

    #[test]
    fn special_characters_are_literal_in_patterns() {
        let c = ctx();
        let p = expand("arn:aws:s3:::b/${*}/${?}/*", &c, true).unwrap();
        assert!(glob::matches(&p, "arn:aws:s3:::b/*/?/anything"));
        assert!(!glob::matches(&p, "arn:aws:s3:::b/x/?/anything"));
        assert!(!glob::matches(&p, "arn:aws:s3:::b/*/y/anything"));
        assert_eq!(plain(&p), "arn:aws:s3:::b/*/?/*");
        let home = expand("arn:aws:s3:::home/${aws:username}/*", &c, true).unwrap();
        assert!(glob::matches(&home, "arn:aws:s3:::home/carlos/a.txt"));
        assert!(!glob::matches(&home, "arn:aws:s3:::home/maria/a.txt"));
    }
}
