//! AssumeRole's session tags (`Tags`, `TransitiveTagKeys`): validated with AWS's limits and
//! errors, combined with the transitive tags of the calling session (role chaining), and
//! offered to the trust policy as condition keys (`aws:RequestTag/<key>`, `aws:TagKeys`,
//! `sts:TransitiveTagKeys`, the caller's `aws:PrincipalTag/<key>` and the role's
//! `aws:ResourceTag/<key>`).

use stratus_core::{Error, Kind};
use stratus_iam::store::tags::SessionTag;
use stratus_iam::Context;

use crate::auth::Caller;
use crate::services::iam::constraint;
use crate::services::sns::form::Params;
use crate::Shared;

/// AWS's limits: 50 session tags and 50 transitive keys, keys of 1 to 128 characters,
/// values of at most 256.
const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

fn invalid_parameter(message: &str) -> Error {
    Error::new("InvalidParameterValue", Kind::InvalidInput, message)
}

/// The characters STS allows in tag keys and values (`[\p{L}\p{Z}\p{N}_.:/=+\-@]`).
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// The tags a request passes, in order, each marked transitive if `TransitiveTagKeys` names
/// it; refused as AWS refuses them.
pub fn requested(p: &Params) -> Result<Vec<SessionTag>, Error> {
    let members = p.indexed("Tags", "member");
    if members.len() > MAX_TAGS {
        return Err(constraint(
            "[...]",
            "tags",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        ));
    }
    let mut tags: Vec<SessionTag> = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let n = i + 1;
        let key = m.get("Key").unwrap_or("");
        let value = m.get("Value").unwrap_or("");
        check_text(key, &format!("tags.{n}.member.key"), 1, MAX_KEY)?;
        check_text(value, &format!("tags.{n}.member.value"), 0, MAX_VALUE)?;
        if tags.iter().any(|t| t.key.eq_ignore_ascii_case(key)) {
            return Err(invalid_parameter(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        tags.push(SessionTag {
            key: key.to_string(),
            value: value.to_string(),
            transitive: false,
        });
    }
    let transitive = p.members("TransitiveTagKeys");
    if transitive.len() > MAX_TAGS {
        return Err(constraint(
            "[...]",
            "transitiveTagKeys",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        ));
    }
    for key in &transitive {
        let Some(tag) = tags.iter_mut().find(|t| t.key.eq_ignore_ascii_case(key)) else {
            return Err(invalid_parameter(
                "The specified transitive tag key must be included in the requested tags.",
            ));
        };
        tag.transitive = true;
    }
    Ok(tags)
}

/// A key or value within its length and characters (STS's ValidationError otherwise).
fn check_text(v: &str, member: &str, min: usize, max: usize) -> Result<(), Error> {
    let len = v.chars().count();
    if len < min {
        return Err(constraint(
            v,
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(constraint(
            v,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !v.chars().all(tag_char) {
        return Err(constraint(
            v,
            member,
            "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
        ));
    }
    Ok(())
}

/// The transitive tags of the calling session, which pass on to the session it assumes.
pub fn inherited(state: &Shared, caller: &Caller) -> Result<Vec<SessionTag>, Error> {
    if !caller.session || caller.identity.role_arn().is_none() {
        return Ok(Vec::new());
    }
    let tags = state.stores.iam.session_tags(&caller.access_key)?;
    Ok(tags.into_iter().filter(|t| t.transitive).collect())
}

/// The new session's tags: the inherited transitive ones, then the requested ones. A
/// requested key may not replace an inherited one (AWS's InvalidParameterValue).
pub fn combine(
    requested: &[SessionTag],
    inherited: &[SessionTag],
) -> Result<Vec<SessionTag>, Error> {
    if requested
        .iter()
        .any(|r| inherited.iter().any(|i| i.key.eq_ignore_ascii_case(&r.key)))
    {
        return Err(invalid_parameter(
            "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.",
        ));
    }
    let mut out = inherited.to_vec();
    out.extend(requested.iter().cloned());
    if out.len() > MAX_TAGS {
        return Err(constraint(
            "[...]",
            "tags",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        ));
    }
    Ok(out)
}

/// The condition keys of an AssumeRole request as its trust policy reads them: the tags it
/// passes (`tags`, inherited ones included), the caller's principal tags and the role's
/// tags.
pub fn context(
    state: &Shared,
    caller: &Caller,
    role_tags: &[(String, String)],
    tags: &[SessionTag],
) -> Result<Context, Error> {
    let mut ctx = Context::default();
    for t in tags {
        ctx.add(&format!("aws:RequestTag/{}", t.key), t.value.as_str());
        ctx.add("aws:TagKeys", t.key.as_str());
        if t.transitive {
            ctx.add("sts:TransitiveTagKeys", t.key.as_str());
        }
    }
    let session = crate::authorize::session_key(caller);
    for (k, v) in state
        .stores
        .iam
        .principal_tags(&caller.identity, session)?
        .iter()
    {
        ctx.add(&format!("aws:PrincipalTag/{k}"), v.as_str());
    }
    for (k, v) in role_tags {
        ctx.add(&format!("aws:ResourceTag/{k}"), v.as_str());
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let q: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        Params::decode(&q.join("&"), b"")
    }

    fn urlencode(v: &str) -> String {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    fn tag(key: &str, value: &str, transitive: bool) -> SessionTag {
        SessionTag {
            key: key.into(),
            value: value.into(),
            transitive,
        }
    }

    #[test]
    fn requested_tags_are_checked_as_aws_checks_them() {
        let ok = params(&[
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "blue"),
            ("Tags.member.2.Key", "cost"),
            ("Tags.member.2.Value", "42"),
            ("TransitiveTagKeys.member.1", "Team"),
        ]);
        assert_eq!(
            requested(&ok).unwrap(),
            vec![tag("team", "blue", true), tag("cost", "42", false)]
        );
        // The request's parameters, the error code and message they get.
        type Refused<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Refused] = &[
            (
                &[("Tags.member.1.Key", "a"), ("Tags.member.2.Key", "A")],
                "InvalidParameterValue",
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ),
            (
                &[("Tags.member.1.Key", "a"), ("TransitiveTagKeys.member.1", "b")],
                "InvalidParameterValue",
                "The specified transitive tag key must be included in the requested tags.",
            ),
            (
                &[("Tags.member.1.Key", "")],
                "ValidationError",
                "1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ),
            (
                &[("Tags.member.1.Key", "a"), ("Tags.member.1.Value", "x!")],
                "ValidationError",
                "1 validation error detected: Value 'x!' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
            ),
        ];
        for (pairs, code, message) in cases {
            let e = requested(&params(pairs)).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (*code, *message), "{pairs:?}");
        }
        let long = "k".repeat(129);
        let e = requested(&params(&[("Tags.member.1.Key", &long)])).unwrap_err();
        assert!(e
            .message
            .ends_with("Member must have length less than or equal to 128"));
        let many: Vec<(String, String)> = (1..=51)
            .map(|i| (format!("Tags.member.{i}.Key"), format!("k{i}")))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let e = requested(&params(&many)).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("at 'tags' failed"), "{}", e.message);
    }

    #[test]
    fn inherited_transitive_tags_cannot_be_replaced() {
        let inherited = [tag("team", "blue", true)];
        let e = combine(&[tag("TEAM", "red", false)], &inherited).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        let both = combine(&[tag("cost", "1", false)], &inherited).unwrap();
        assert_eq!(
            both,
            vec![tag("team", "blue", true), tag("cost", "1", false)]
        );
    }
}
