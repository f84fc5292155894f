//! AWS::S3::Bucket, through the S3 REST API (path-style).

use super::s3_config::{self, escape};
use super::*;

pub struct Bucket;

#[async_trait]
impl Provider for Bucket {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "BucketName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 63, true));
        let request = ApiRequest {
            service: "s3",
            method: "PUT",
            path: format!("/{name}"),
            headers: vec![],
            body: vec![],
        };
        send(cx, request).await?;
        s3_config::apply(cx, &name, &Map::new(), props).await?;
        if props.contains_key("NotificationConfiguration") {
            put_notifications(cx, &name, props).await?;
        }
        let (region, n) = (cx.region, name.as_str());
        let s = |v: String| Value::String(v);
        let attributes = BTreeMap::from([
            ("Arn".to_string(), s(format!("arn:aws:s3:::{n}"))),
            ("DomainName".to_string(), s(format!("{n}.s3.amazonaws.com"))),
            (
                "RegionalDomainName".to_string(),
                s(format!("{n}.s3.{region}.amazonaws.com")),
            ),
            (
                "DualStackDomainName".to_string(),
                s(format!("{n}.s3.dualstack.{region}.amazonaws.com")),
            ),
            (
                "WebsiteURL".to_string(),
                s(format!("http://{n}.s3-website-{region}.amazonaws.com")),
            ),
        ]);
        Ok(Made {
            physical_id: name,
            attributes,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        // BucketName is a replacement; the configuration properties Stratus's S3 has are
        // applied (the others are kept in the template only, as decisions 0031 and 0041 say).
        s3_config::apply(cx, &current.physical_id, old, new).await?;
        if changed(old, new, &["NotificationConfiguration"]) {
            put_notifications(cx, &current.physical_id, new).await?;
        }
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
            path: format!("/{}", current.physical_id),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["BucketName"])
    }
}

/// `NotificationConfiguration` as S3's PutBucketNotificationConfiguration (an absent one
/// clears the bucket's notifications).
async fn put_notifications(
    cx: &Cx<'_>,
    bucket: &str,
    props: &Map<String, Value>,
) -> Result<(), Failed> {
    let config = props
        .get("NotificationConfiguration")
        .cloned()
        .unwrap_or(Value::Null);
    let body = notification_xml(&config)?.into_bytes();
    let request = ApiRequest {
        service: "s3",
        method: "PUT",
        path: format!("/{bucket}?notification"),
        // S3 wants the length of a body it is sent, as a header.
        headers: vec![
            ("content-type", "application/xml".into()),
            ("content-length", body.len().to_string()),
        ],
        body,
    };
    send(cx, request).await.map(|_| ())
}

/// CloudFormation's `NotificationConfiguration` in S3's XML: its three lists, each entry's
/// target, event and key filter rules, in the order S3's schema gives them.
fn notification_xml(config: &Value) -> Result<String, Failed> {
    const KINDS: [(&str, &str, &str, &str); 3] = [
        (
            "TopicConfigurations",
            "TopicConfiguration",
            "Topic",
            "Topic",
        ),
        (
            "QueueConfigurations",
            "QueueConfiguration",
            "Queue",
            "Queue",
        ),
        (
            "LambdaConfigurations",
            "CloudFunctionConfiguration",
            "Function",
            "CloudFunction",
        ),
    ];
    let mut xml = String::from(
        r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for (list, element, property, target) in KINDS {
        for entry in config
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |name: &str| {
                entry.get(name).and_then(Value::as_str).ok_or_else(|| {
                    format!(
                        "Property {name} cannot be empty in {list} of NotificationConfiguration"
                    )
                })
            };
            xml += &format!(
                "<{element}><{target}>{}</{target}><Event>{}</Event>",
                escape(field(property)?),
                escape(field("Event")?)
            );
            let rules = entry
                .pointer("/Filter/S3Key/Rules")
                .and_then(Value::as_array);
            if let Some(rules) = rules {
                xml += "<Filter><S3Key>";
                for rule in rules {
                    let part = |k: &str| escape(rule.get(k).and_then(Value::as_str).unwrap_or(""));
                    xml += &format!(
                        "<FilterRule><Name>{}</Name><Value>{}</Value></FilterRule>",
                        part("Name"),
                        part("Value")
                    );
                }
                xml += "</S3Key></Filter>";
            }
            xml += &format!("</{element}>");
        }
    }
    Ok(xml + "</NotificationConfiguration>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_become_s3s_xml_in_schema_order() {
        let config = serde_json::json!({
            "LambdaConfigurations": [{"Event": "s3:ObjectCreated:*", "Function": "arn:f",
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "in/<a>"}]}}}],
            "QueueConfigurations": [{"Event": "s3:ObjectRemoved:*", "Queue": "arn:q"}]
        });
        assert_eq!(
            notification_xml(&config).unwrap(),
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <QueueConfiguration><Queue>arn:q</Queue><Event>s3:ObjectRemoved:*</Event></QueueConfiguration>\
             <CloudFunctionConfiguration><CloudFunction>arn:f</CloudFunction><Event>s3:ObjectCreated:*</Event>\
             <Filter><S3Key><FilterRule><Name>prefix</Name><Value>in/&lt;a&gt;</Value></FilterRule></S3Key></Filter>\
             </CloudFunctionConfiguration></NotificationConfiguration>"
        );
        let e = notification_xml(&serde_json::json!({"TopicConfigurations": [{"Event": "e"}]}));
        assert_eq!(
            e.unwrap_err(),
            "Property Topic cannot be empty in TopicConfigurations of NotificationConfiguration"
        );
    }
}
