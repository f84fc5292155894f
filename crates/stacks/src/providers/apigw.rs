//! AWS::ApiGatewayV2::Api, Stage, Route, Integration and Authorizer, through the API Gateway
//! v2 management API (REST-JSON under `/v2/apis`, camelCase members).

use super::*;

pub struct Api;
pub struct Stage;
pub struct Route;
pub struct Integration;
pub struct Authorizer;

/// Properties whose keys are the user's own (tags, variables, parameter mappings): copied
/// as they are, not renamed.
const VERBATIM: [&str; 6] = [
    "Tags",
    "StageVariables",
    "RequestParameters",
    "RequestTemplates",
    "ResponseParameters",
    "RequestModels",
];

/// `ApiId` and the other members the path carries, or CloudFormation alone reads.
const NOT_SENT: [&str; 1] = ["ApiId"];

/// The request body for a resource's properties. `RouteSettings` is keyed by route keys, so
/// only its values are renamed.
fn body(props: &Map<String, Value>, skip: &[&str]) -> Value {
    let mut out = Map::new();
    for (k, v) in props {
        if NOT_SENT.contains(&k.as_str()) || skip.contains(&k.as_str()) {
            continue;
        }
        let v = if VERBATIM.contains(&k.as_str()) {
            v.clone()
        } else if k == "RouteSettings" {
            match v {
                Value::Object(m) => {
                    Value::Object(m.iter().map(|(r, s)| (r.clone(), camel_value(s))).collect())
                }
                other => other.clone(),
            }
        } else {
            camel_value(v)
        };
        out.insert(camel(k), v);
    }
    Value::Object(out)
}

fn api_id(props: &Map<String, Value>) -> Result<&str, Failed> {
    str_prop(props, "ApiId").ok_or_else(|| {
        "Properties validation failed for resource: required key [ApiId] not found".to_string()
    })
}

/// The id member (`apiId`, `routeId`...) of a create response.
fn id_of(out: &Value, member: &str) -> Result<String, Failed> {
    out.get(member)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| failed(&format!("the response has no {member}")))
}

fn made(id: String, attrs: &[(&str, Value)]) -> Made {
    Made {
        physical_id: id,
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

async fn delete(cx: &Cx<'_>, path: String) -> Result<(), Failed> {
    let request = ApiRequest {
        service: "apigateway",
        method: "DELETE",
        path,
        headers: vec![],
        body: vec![],
    };
    send_delete(cx, request).await
}

async fn patch(cx: &Cx<'_>, path: String, body: Value) -> Result<Value, Failed> {
    rest_json(cx, "apigateway", "PATCH", path, Some(body)).await
}

/// Brings the tags of the API or stage at `path` (`/apis/<id>[/stages/<name>]`) from `old`'s
/// `Tags` to `new`'s: UpdateApi and UpdateStage take no tags, so TagResource sets the new and
/// changed ones and UntagResource removes the rest.
async fn retag(
    cx: &Cx<'_>,
    path: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), Failed> {
    let (set, removed) = tag_changes(old.get("Tags"), new.get("Tags"));
    let arn = pe(&format!("arn:aws:apigateway:{}::{path}", cx.region));
    if !removed.is_empty() {
        let query: Vec<String> = removed
            .iter()
            .map(|k| format!("tagKeys={}", pe(k)))
            .collect();
        delete(cx, format!("/v2/tags/{arn}?{}", query.join("&"))).await?;
    }
    if !set.is_empty() {
        let body = serde_json::json!({ "tags": set });
        rest_json(
            cx,
            "apigateway",
            "POST",
            format!("/v2/tags/{arn}"),
            Some(body),
        )
        .await?;
    }
    Ok(())
}

/// The tags to set (new or changed) and the keys to remove, from two `Tags` maps.
fn tag_changes(old: Option<&Value>, new: Option<&Value>) -> (Map<String, Value>, Vec<String>) {
    let empty = Map::new();
    let old = old.and_then(Value::as_object).unwrap_or(&empty);
    let new = new.and_then(Value::as_object).unwrap_or(&empty);
    let set = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    (set, removed)
}

fn api_attrs(out: &Value, id: String) -> Made {
    let endpoint = out.get("apiEndpoint").cloned().unwrap_or(Value::Null);
    made(
        id.clone(),
        &[("ApiId", Value::String(id)), ("ApiEndpoint", endpoint)],
    )
}

#[async_trait]
impl Provider for Api {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        for k in ["Body", "BodyS3Location", "BasePath"] {
            if props.contains_key(k) {
                return Err(failed(&format!(
                    "Importing an OpenAPI definition ({k}) is not supported"
                )));
            }
        }
        let mut b = body(props, &[]);
        if props.get("Name").is_none() {
            b["name"] = Value::String(cx.stack_name.to_string());
        }
        let out = rest_json(cx, "apigateway", "POST", "/v2/apis".into(), Some(b)).await?;
        Ok(api_attrs(&out, id_of(&out, "apiId")?))
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let id = &current.physical_id;
        let out = patch(cx, format!("/v2/apis/{}", pe(id)), body(new, &["Tags"])).await?;
        retag(cx, &format!("/apis/{id}"), old, new).await?;
        Ok(api_attrs(&out, id.clone()))
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        delete(cx, format!("/v2/apis/{}", pe(&current.physical_id))).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["ProtocolType"])
    }
}

#[async_trait]
impl Provider for Stage {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let api = api_id(props)?;
        let out = rest_json(
            cx,
            "apigateway",
            "POST",
            format!("/v2/apis/{}/stages", pe(api)),
            Some(body(props, &[])),
        )
        .await?;
        Ok(made(id_of(&out, "stageName")?, &[]))
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let path = format!(
            "/v2/apis/{}/stages/{}",
            pe(api_id(new)?),
            pe(&current.physical_id)
        );
        patch(cx, path.clone(), body(new, &["StageName", "Tags"])).await?;
        // UpdateStage keeps what it is not sent: a removed access log setting is deleted.
        if old.contains_key("AccessLogSettings") && !new.contains_key("AccessLogSettings") {
            delete(cx, format!("{path}/accesslogsettings")).await?;
        }
        let stage = format!("/apis/{}/stages/{}", api_id(new)?, current.physical_id);
        retag(cx, &stage, old, new).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let path = format!(
            "/v2/apis/{}/stages/{}",
            pe(api_id(props)?),
            pe(&current.physical_id)
        );
        delete(cx, path).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["ApiId", "StageName"])
    }
}

/// A sub-resource of an API whose every property but `ApiId` updates in place: routes,
/// integrations and authorizers.
struct Child {
    /// The collection under `/v2/apis/{api}/`.
    collection: &'static str,
    /// The id member of the response, which is also the `Fn::GetAtt` name in PascalCase.
    id_member: &'static str,
    attribute: &'static str,
}

impl Child {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let path = format!("/v2/apis/{}/{}", pe(api_id(props)?), self.collection);
        let out = rest_json(cx, "apigateway", "POST", path, Some(body(props, &[]))).await?;
        let id = id_of(&out, self.id_member)?;
        Ok(made(id.clone(), &[(self.attribute, Value::String(id))]))
    }

    fn path(&self, props: &Map<String, Value>, id: &str) -> Result<String, Failed> {
        Ok(format!(
            "/v2/apis/{}/{}/{}",
            pe(api_id(props)?),
            self.collection,
            pe(id)
        ))
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        patch(cx, self.path(new, &current.physical_id)?, body(new, &[])).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        delete(cx, self.path(props, &current.physical_id)?).await
    }
}

const ROUTE: Child = Child {
    collection: "routes",
    id_member: "routeId",
    attribute: "RouteId",
};
const INTEGRATION: Child = Child {
    collection: "integrations",
    id_member: "integrationId",
    attribute: "IntegrationId",
};
const AUTHORIZER: Child = Child {
    collection: "authorizers",
    id_member: "authorizerId",
    attribute: "AuthorizerId",
};

/// The [`Provider`] of a [`Child`] type.
macro_rules! child_provider {
    ($ty:ty, $child:expr) => {
        #[async_trait]
        impl Provider for $ty {
            async fn create(
                &self,
                cx: &Cx<'_>,
                props: &Map<String, Value>,
            ) -> Result<Made, Failed> {
                $child.create(cx, props).await
            }
            async fn update(
                &self,
                cx: &Cx<'_>,
                current: &Made,
                _: &Map<String, Value>,
                new: &Map<String, Value>,
            ) -> Result<Made, Failed> {
                $child.update(cx, current, new).await
            }
            async fn delete(
                &self,
                cx: &Cx<'_>,
                current: &Made,
                props: &Map<String, Value>,
            ) -> Result<(), Failed> {
                $child.delete(cx, current, props).await
            }
            fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
                changed(old, new, &["ApiId"])
            }
        }
    };
}

child_provider!(Route, ROUTE);
child_provider!(Integration, INTEGRATION);
child_provider!(Authorizer, AUTHORIZER);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_camel_case_but_user_keys_are_kept() {
        let props = json!({
            "ApiId": "abc",
            "StageName": "$default",
            "AutoDeploy": true,
            "Tags": {"Team": "x"},
            "StageVariables": {"Mode": "y"},
            "AccessLogSettings": {"DestinationArn": "arn", "Format": "$context.requestId"},
            "RouteSettings": {"GET /a": {"ThrottlingBurstLimit": 5}},
        });
        let b = body(props.as_object().unwrap(), &[]);
        assert_eq!(
            b,
            json!({
                "stageName": "$default",
                "autoDeploy": true,
                "tags": {"Team": "x"},
                "stageVariables": {"Mode": "y"},
                "accessLogSettings": {"destinationArn": "arn", "format": "$context.requestId"},
                "routeSettings": {"GET /a": {"throttlingBurstLimit": 5}},
            })
        );
    }

    #[test]
    fn tag_changes_set_new_and_changed_and_remove_the_rest() {
        let old = json!({"keep": "1", "change": "a", "drop": "x"});
        let new = json!({"keep": "1", "change": "b", "add": "y"});
        let (set, removed) = tag_changes(Some(&old), Some(&new));
        assert_eq!(Value::Object(set), json!({"change": "b", "add": "y"}));
        assert_eq!(removed, vec!["drop".to_string()]);
        let (set, removed) = tag_changes(Some(&old), None);
        assert!(set.is_empty());
        assert_eq!(removed.len(), 3);
    }

    #[test]
    fn skipped_members_are_left_out() {
        let props = json!({"Name": "n", "Tags": {"a": "b"}});
        assert_eq!(
            body(props.as_object().unwrap(), &["Tags"]),
            json!({"name": "n"})
        );
    }
}
