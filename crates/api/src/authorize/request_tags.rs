//! `aws:RequestTag/<key>` and `aws:TagKeys`: the tags a request asks to set, and the keys it
//! sets or removes, as every tagging operation offers them to policies. Each protocol names
//! them its own way: the Query protocol's `Tags.member.N.Key` and `TagKeys.member.N`, Lambda's
//! `Tags` object and `tagKeys` query parameters, DynamoDB's `Tags` list and `TagKeys`, Logs'
//! `tags` object and `tagKeys` (or UntagLogGroup's `tags` list of keys).

use http::request::Parts;
use stratus_iam::Context;

use crate::services::sns::form::Params;

/// Adds the request's tag keys to `ctx`. Bodies are read only when the request can carry
/// tags (a JSON operation that tags or creates, a form that names tags), so an invocation's
/// payload is never parsed here.
pub fn add_request_tags(parts: &Parts, body: &[u8], ctx: &mut Context) {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "tagKeys" {
            ctx.add("aws:TagKeys", v.into_owned());
        }
    }
    if body.first() == Some(&b'{') {
        if json_may_tag(parts, path) {
            let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            add_from_json(&json, ctx);
        }
    } else if contains(body, b"Tag") || contains(query.as_bytes(), b"Tag") {
        add_from_form(&Params::decode(query, body), ctx);
    }
}

/// Whether a JSON request is one that sets or removes tags: an `X-Amz-Target` operation
/// whose name says so or creates something, Lambda's `/tags/` paths or CreateFunction.
fn json_may_tag(parts: &Parts, path: &str) -> bool {
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split_once('.'))
        .map(|(_, op)| op);
    match op {
        Some(op) => op.contains("Tag") || op.starts_with("Create"),
        None => {
            path.contains("/tags/")
                || (parts.method == http::Method::POST
                    && path.trim_end_matches('/').ends_with("/functions"))
        }
    }
}

fn add_from_json(json: &serde_json::Value, ctx: &mut Context) {
    for field in ["Tags", "tags"] {
        match &json[field] {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    add_tag(ctx, k, v.as_str().unwrap_or(""));
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    match (item.as_str(), item["Key"].as_str()) {
                        // UntagLogGroup's `tags` is a list of keys.
                        (Some(key), _) => {
                            ctx.add("aws:TagKeys", key);
                        }
                        (None, Some(key)) => {
                            add_tag(ctx, key, item["Value"].as_str().unwrap_or(""))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    for field in ["TagKeys", "tagKeys"] {
        for key in json[field].as_array().into_iter().flatten() {
            if let Some(key) = key.as_str() {
                ctx.add("aws:TagKeys", key);
            }
        }
    }
}

fn add_from_form(p: &Params, ctx: &mut Context) {
    for tag in p.indexed("Tags", "member") {
        if let Some(key) = tag.get("Key") {
            add_tag(ctx, key, tag.get("Value").unwrap_or(""));
        }
    }
    for key in p.members("TagKeys") {
        ctx.add("aws:TagKeys", key);
    }
}

fn add_tag(ctx: &mut Context, key: &str, value: &str) {
    ctx.add(&format!("aws:RequestTag/{key}"), value);
    ctx.add("aws:TagKeys", key);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context_of(method: &str, uri: &str, target: Option<&str>, body: &str) -> Context {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(t) = target {
            b = b.header("x-amz-target", t);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let mut ctx = Context::default();
        add_request_tags(&parts, body.as_bytes(), &mut ctx);
        ctx
    }

    fn keys(ctx: &Context) -> Vec<String> {
        ctx.get("aws:tagkeys")
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    #[test]
    fn each_protocol_names_its_tags() {
        let lambda = context_of(
            "POST",
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af",
            None,
            r#"{"Tags":{"team":"blue"}}"#,
        );
        assert_eq!(
            lambda.get("aws:requesttag/team"),
            Some(&["blue".to_string()][..])
        );
        assert_eq!(keys(&lambda), ["team"]);
        let untag = context_of("DELETE", "/2017-03-31/tags/x?tagKeys=a&tagKeys=b", None, "");
        assert_eq!(keys(&untag), ["a", "b"]);
        let dynamo = context_of(
            "POST",
            "/",
            Some("DynamoDB_20120810.TagResource"),
            r#"{"ResourceArn":"x","Tags":[{"Key":"env","Value":"prod"}]}"#,
        );
        assert_eq!(
            dynamo.get("aws:requesttag/env"),
            Some(&["prod".to_string()][..])
        );
        let form = context_of(
            "POST",
            "/",
            None,
            "Action=TagRole&RoleName=r&Tags.member.1.Key=team&Tags.member.1.Value=red",
        );
        assert_eq!(
            form.get("aws:requesttag/team"),
            Some(&["red".to_string()][..])
        );
        let untag_form = context_of("POST", "/", None, "Action=UntagUser&TagKeys.member.1=team");
        assert_eq!(keys(&untag_form), ["team"]);
    }

    #[test]
    fn an_invocation_payload_is_not_read_for_tags() {
        let invoke = context_of(
            "POST",
            "/2015-03-31/functions/f/invocations",
            None,
            r#"{"Tags":{"team":"blue"}}"#,
        );
        assert!(invoke.get("aws:tagkeys").is_none());
        let put_item = context_of(
            "POST",
            "/",
            Some("DynamoDB_20120810.PutItem"),
            r#"{"Tags":{"team":"blue"}}"#,
        );
        assert!(put_item.get("aws:tagkeys").is_none());
    }
}
