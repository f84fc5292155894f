//! AWS::IAM::Policy (an inline policy put on roles, users and groups) and
//! AWS::IAM::ManagedPolicy, through the IAM Query API.

use super::*;

const VERSION: &str = "2010-05-08";

pub struct Policy;
pub struct ManagedPolicy;

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

fn document(props: &Map<String, Value>) -> Result<String, Failed> {
    match props.get("PolicyDocument") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ Value::Object(_)) => Ok(v.to_string()),
        _ => Err(
            "Properties validation failed for resource: required key [PolicyDocument] not found"
                .into(),
        ),
    }
}

/// The principal kinds a policy goes on: the template property, the Query parameter that
/// names one, and the action stem (`PutRolePolicy`, `AttachRolePolicy`...).
const KINDS: [(&str, &str, &str); 3] = [
    ("Roles", "RoleName", "Role"),
    ("Users", "UserName", "User"),
    ("Groups", "GroupName", "Group"),
];

/// Every principal the policy is on, as (parameter, action stem, name).
fn principals(props: &Map<String, Value>) -> Vec<(&'static str, &'static str, String)> {
    KINDS
        .iter()
        .flat_map(|(prop, param, stem)| {
            props
                .get(*prop)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |v| (*param, *stem, text(v)))
        })
        .collect()
}

/// An inline policy on one principal.
async fn put_inline(
    cx: &Cx<'_>,
    (param, stem, name): &(&str, &str, String),
    policy: &str,
    doc: &str,
) -> Result<(), Failed> {
    let params = [
        p(param, name.clone()),
        p("PolicyName", policy),
        p("PolicyDocument", doc),
    ];
    query(cx, "iam", &format!("Put{stem}Policy"), VERSION, &params)
        .await
        .map(|_| ())
}

async fn delete_inline(
    cx: &Cx<'_>,
    (param, stem, name): &(&str, &str, String),
    policy: &str,
) -> Result<(), Failed> {
    let params = [p(param, name.clone()), p("PolicyName", policy)];
    let request = query_request("iam", &format!("Delete{stem}Policy"), VERSION, &params);
    send_delete(cx, request).await
}

fn policy_name(props: &Map<String, Value>) -> Result<&str, Failed> {
    str_prop(props, "PolicyName").ok_or_else(|| {
        "Properties validation failed for resource: required key [PolicyName] not found".into()
    })
}

#[async_trait]
impl Provider for Policy {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let (name, doc) = (policy_name(props)?, document(props)?);
        let on = principals(props);
        if on.is_empty() {
            return Err(failed(
                "At least one of [Groups,Roles,Users] must be non-empty.",
            ));
        }
        for principal in &on {
            put_inline(cx, principal, name, &doc).await?;
        }
        let id = physical_name(cx, 128, false);
        Ok(Made {
            attributes: BTreeMap::from([("Id".to_string(), Value::String(id.clone()))]),
            physical_id: id,
        })
    }

    /// Puts the new policy everywhere first, then removes it where it no longer belongs, so
    /// a principal that keeps the policy never goes without it.
    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let (name, doc) = (policy_name(new)?, document(new)?);
        let now = principals(new);
        for principal in &now {
            put_inline(cx, principal, name, &doc).await?;
        }
        let old_name = policy_name(old).unwrap_or(name);
        for principal in principals(old) {
            if old_name != name || !now.contains(&principal) {
                delete_inline(cx, &principal, old_name).await?;
            }
        }
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        _: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let name = policy_name(props)?;
        for principal in principals(props) {
            delete_inline(cx, &principal, name).await?;
        }
        Ok(())
    }

    fn replaces(&self, _: &Map<String, Value>, _: &Map<String, Value>) -> bool {
        false
    }
}

async fn attach(
    cx: &Cx<'_>,
    verb: &str,
    arn: &str,
    principals: &[(&str, &str, String)],
) -> Result<(), Failed> {
    for (param, stem, name) in principals {
        let params = [p(param, name.clone()), p("PolicyArn", arn)];
        let action = format!("{verb}{stem}Policy");
        if verb == "Detach" {
            send_delete(cx, query_request("iam", &action, VERSION, &params)).await?;
        } else {
            query(cx, "iam", &action, VERSION, &params).await?;
        }
    }
    Ok(())
}

/// The version ids of a managed policy that are not its default.
async fn old_versions(cx: &Cx<'_>, arn: &str) -> Result<Vec<String>, Failed> {
    let xml = query(
        cx,
        "iam",
        "ListPolicyVersions",
        VERSION,
        &[p("PolicyArn", arn)],
    )
    .await?;
    Ok(xml
        .split("<member>")
        .skip(1)
        .filter(|m| xml_text(m, "IsDefaultVersion").as_deref() != Some("true"))
        .filter_map(|m| xml_text(m, "VersionId"))
        .collect())
}

async fn delete_versions(cx: &Cx<'_>, arn: &str) -> Result<(), Failed> {
    for id in old_versions(cx, arn).await? {
        let params = [p("PolicyArn", arn), p("VersionId", id)];
        send_delete(
            cx,
            query_request("iam", "DeletePolicyVersion", VERSION, &params),
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Provider for ManagedPolicy {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "ManagedPolicyName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 128, false));
        let mut params = vec![p("PolicyName", name), p("PolicyDocument", document(props)?)];
        for k in ["Path", "Description"] {
            if let Some(v) = str_prop(props, k) {
                params.push(p(k, v));
            }
        }
        let xml = query(cx, "iam", "CreatePolicy", VERSION, &params).await?;
        let arn = xml_text(&xml, "Arn").ok_or_else(|| failed("the response has no Arn"))?;
        let mut attributes = BTreeMap::new();
        for (attr, tag) in [
            ("PolicyArn", "Arn"),
            ("PolicyId", "PolicyId"),
            ("DefaultVersionId", "DefaultVersionId"),
        ] {
            if let Some(v) = xml_text(&xml, tag) {
                attributes.insert(attr.to_string(), Value::String(v));
            }
        }
        let made = Made {
            physical_id: arn.clone(),
            attributes,
        };
        // Attachments that fail leave no policy behind (the rollback does not know it).
        if let Err(e) = attach(cx, "Attach", &arn, &principals(props)).await {
            let _ = self.delete(cx, &made, props).await;
            return Err(e);
        }
        Ok(made)
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let arn = current.physical_id.as_str();
        let mut made = current.clone();
        if changed(old, new, &["PolicyDocument"]) {
            // IAM keeps five versions; the previous ones are not CloudFormation's to keep.
            delete_versions(cx, arn).await?;
            let params = [
                p("PolicyArn", arn),
                p("PolicyDocument", document(new)?),
                p("SetAsDefault", "true"),
            ];
            let xml = query(cx, "iam", "CreatePolicyVersion", VERSION, &params).await?;
            if let Some(v) = xml_text(&xml, "VersionId") {
                made.attributes
                    .insert("DefaultVersionId".into(), Value::String(v));
            }
            delete_versions(cx, arn).await?;
        }
        let (was, now) = (principals(old), principals(new));
        let added: Vec<_> = now.iter().filter(|x| !was.contains(x)).cloned().collect();
        let removed: Vec<_> = was.iter().filter(|x| !now.contains(x)).cloned().collect();
        attach(cx, "Attach", arn, &added).await?;
        attach(cx, "Detach", arn, &removed).await?;
        Ok(made)
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let arn = current.physical_id.as_str();
        attach(cx, "Detach", arn, &principals(props)).await?;
        if let Err(e) = delete_versions(cx, arn).await {
            if !e.contains("NoSuchEntity") && !e.contains("does not exist") {
                return Err(e);
            }
        }
        let request = query_request("iam", "DeletePolicy", VERSION, &[p("PolicyArn", arn)]);
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["ManagedPolicyName", "Path", "Description"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn principals_cover_roles_users_and_groups() {
        let props = json!({"Roles": ["r"], "Users": ["u1", "u2"], "Groups": []});
        let got = principals(props.as_object().unwrap());
        assert_eq!(
            got,
            vec![
                ("RoleName", "Role", "r".to_string()),
                ("UserName", "User", "u1".to_string()),
                ("UserName", "User", "u2".to_string()),
            ]
        );
    }
}
