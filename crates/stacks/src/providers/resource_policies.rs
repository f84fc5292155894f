//! AWS::SQS::QueuePolicy and AWS::S3::BucketPolicy: resource policies set on resources the
//! template (or someone) made, through SetQueueAttributes and PutBucketPolicy.

use super::*;
use serde_json::json;

pub struct QueuePolicy;
pub struct BucketPolicy;

/// A policy document as the APIs take it: JSON text.
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

fn queues(props: &Map<String, Value>) -> Vec<String> {
    props
        .get("Queues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(text)
        .collect()
}

async fn set_queue_policy(cx: &Cx<'_>, url: &str, policy: &str) -> Result<(), Failed> {
    let body = json!({"QueueUrl": url, "Attributes": {"Policy": policy}});
    json_target(
        cx,
        "sqs",
        "AmazonSQS.SetQueueAttributes".into(),
        "1.0",
        body,
    )
    .await
    .map(|_| ())
}

#[async_trait]
impl Provider for QueuePolicy {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let policy = document(props)?;
        let urls = queues(props);
        if urls.is_empty() {
            return Err(
                "Properties validation failed for resource: required key [Queues] not found".into(),
            );
        }
        for url in &urls {
            set_queue_policy(cx, url, &policy).await?;
        }
        let id = physical_name(cx, 128, false);
        Ok(Made {
            attributes: BTreeMap::from([("Id".to_string(), Value::String(id.clone()))]),
            physical_id: id,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let policy = document(new)?;
        let now = queues(new);
        for url in &now {
            set_queue_policy(cx, url, &policy).await?;
        }
        for url in queues(old).iter().filter(|u| !now.contains(u)) {
            set_queue_policy(cx, url, "").await?;
        }
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        _: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        for url in queues(props) {
            let body = json!({"QueueUrl": url, "Attributes": {"Policy": ""}});
            let request = ApiRequest {
                service: "sqs",
                method: "POST",
                path: "/".into(),
                headers: vec![
                    ("content-type", "application/x-amz-json-1.0".into()),
                    ("x-amz-target", "AmazonSQS.SetQueueAttributes".into()),
                ],
                body: body.to_string().into_bytes(),
            };
            // A queue already deleted has no policy left to remove.
            send_delete(cx, request).await?;
        }
        Ok(())
    }

    fn replaces(&self, _: &Map<String, Value>, _: &Map<String, Value>) -> bool {
        false
    }
}

/// The bucket, which goes into the path as it is (path-style): a name S3 could never have
/// is refused before it can reshape the request.
fn bucket(props: &Map<String, Value>) -> Result<&str, Failed> {
    let name = str_prop(props, "Bucket").ok_or_else(|| {
        "Properties validation failed for resource: required key [Bucket] not found".to_string()
    })?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(failed("The specified bucket does not exist"))
    }
}

async fn put_bucket_policy(cx: &Cx<'_>, props: &Map<String, Value>) -> Result<(), Failed> {
    let body = document(props)?.into_bytes();
    let request = ApiRequest {
        service: "s3",
        method: "PUT",
        path: format!("/{}?policy", bucket(props)?),
        headers: vec![
            ("content-type", "application/json".into()),
            ("content-length", body.len().to_string()),
        ],
        body,
    };
    send(cx, request).await.map(|_| ())
}

#[async_trait]
impl Provider for BucketPolicy {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        put_bucket_policy(cx, props).await?;
        Ok(Made {
            physical_id: bucket(props)?.to_string(),
            attributes: BTreeMap::new(),
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        put_bucket_policy(cx, new).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = ApiRequest {
            service: "s3",
            method: "DELETE",
            path: format!("/{}?policy", current.physical_id),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["Bucket"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_sent_as_json_text() {
        let props = json!({"PolicyDocument": {"Version": "2012-10-17", "Statement": []}});
        let text = document(props.as_object().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            props["PolicyDocument"]
        );
        assert!(document(&Map::new())
            .unwrap_err()
            .contains("PolicyDocument"));
    }
}
