//! AWS::IAM::Role (inline Policies, ManagedPolicyArns), through the IAM Query API.

use super::*;

const VERSION: &str = "2010-05-08";

pub struct Role;

fn doc(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// Inline policies by name.
fn inline(props: &Map<String, Value>) -> BTreeMap<String, String> {
    props
        .get("Policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("PolicyName")?.as_str()?.to_string(),
                doc(p.get("PolicyDocument")?),
            ))
        })
        .collect()
}

fn managed(props: &Map<String, Value>) -> Vec<String> {
    props
        .get("ManagedPolicyArns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(text)
        .collect()
}

async fn put_policies(
    cx: &Cx<'_>,
    role: &str,
    policies: &BTreeMap<String, String>,
) -> Result<(), Failed> {
    for (name, document) in policies {
        query(
            cx,
            "iam",
            "PutRolePolicy",
            VERSION,
            &[
                p("RoleName", role),
                p("PolicyName", name.clone()),
                p("PolicyDocument", document.clone()),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn attach(cx: &Cx<'_>, role: &str, arns: &[String], action: &str) -> Result<(), Failed> {
    for arn in arns {
        query(
            cx,
            "iam",
            action,
            VERSION,
            &[p("RoleName", role), p("PolicyArn", arn.clone())],
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Provider for Role {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "RoleName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 64, false));
        let mut params = vec![p("RoleName", name.clone())];
        if let Some(d) = props.get("AssumeRolePolicyDocument") {
            params.push(p("AssumeRolePolicyDocument", doc(d)));
        }
        for k in [
            "Path",
            "Description",
            "MaxSessionDuration",
            "PermissionsBoundary",
        ] {
            if let Some(v) = props.get(k) {
                params.push(p(k, text(v)));
            }
        }
        for (i, (k, v)) in tags(props).into_iter().enumerate() {
            params.push(p(&format!("Tags.member.{}.Key", i + 1), k));
            params.push(p(&format!("Tags.member.{}.Value", i + 1), v));
        }
        let xml = query(cx, "iam", "CreateRole", VERSION, &params).await?;
        let made = Made {
            physical_id: name.clone(),
            attributes: BTreeMap::from([
                (
                    "Arn".to_string(),
                    Value::String(xml_text(&xml, "Arn").unwrap_or_default()),
                ),
                (
                    "RoleId".to_string(),
                    Value::String(xml_text(&xml, "RoleId").unwrap_or_default()),
                ),
            ]),
        };
        // A role whose policies fail is not left half-made: it is deleted before the failure
        // is reported (the rollback does not know it).
        let policies = async {
            put_policies(cx, &name, &inline(props)).await?;
            attach(cx, &name, &managed(props), "AttachRolePolicy").await
        };
        if let Err(e) = policies.await {
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
        let role = current.physical_id.as_str();
        if changed(old, new, &["AssumeRolePolicyDocument"]) {
            let d = new
                .get("AssumeRolePolicyDocument")
                .map(doc)
                .unwrap_or_default();
            query(
                cx,
                "iam",
                "UpdateAssumeRolePolicy",
                VERSION,
                &[p("RoleName", role), p("PolicyDocument", d)],
            )
            .await?;
        }
        if changed(old, new, &["Description", "MaxSessionDuration"]) {
            let mut params = vec![p("RoleName", role)];
            for k in ["Description", "MaxSessionDuration"] {
                if let Some(v) = new.get(k) {
                    params.push(p(k, text(v)));
                }
            }
            query(cx, "iam", "UpdateRole", VERSION, &params).await?;
        }
        let (was, now) = (inline(old), inline(new));
        let changed_policies: BTreeMap<String, String> = now
            .iter()
            .filter(|(k, v)| was.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        put_policies(cx, role, &changed_policies).await?;
        for name in was.keys().filter(|k| !now.contains_key(*k)) {
            query(
                cx,
                "iam",
                "DeleteRolePolicy",
                VERSION,
                &[p("RoleName", role), p("PolicyName", name.clone())],
            )
            .await?;
        }
        let (was, now) = (managed(old), managed(new));
        let added: Vec<String> = now.iter().filter(|a| !was.contains(a)).cloned().collect();
        let removed: Vec<String> = was.iter().filter(|a| !now.contains(a)).cloned().collect();
        attach(cx, role, &added, "AttachRolePolicy").await?;
        attach(cx, role, &removed, "DetachRolePolicy").await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let role = current.physical_id.as_str();
        // Whatever is attached must go first; failures here surface in DeleteRole's answer.
        for arn in managed(props) {
            let _ = query(
                cx,
                "iam",
                "DetachRolePolicy",
                VERSION,
                &[p("RoleName", role), p("PolicyArn", arn)],
            )
            .await;
        }
        for name in inline(props).into_keys() {
            let _ = query(
                cx,
                "iam",
                "DeleteRolePolicy",
                VERSION,
                &[p("RoleName", role), p("PolicyName", name)],
            )
            .await;
        }
        let request = query_request("iam", "DeleteRole", VERSION, &[p("RoleName", role)]);
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["RoleName", "Path"])
    }
}
