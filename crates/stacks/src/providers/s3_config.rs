//! AWS::S3::Bucket's configuration properties that Stratus's S3 has an API for, applied with
//! it: `VersioningConfiguration`, `CorsConfiguration`, `Tags` and `BucketEncryption`. A
//! property removed on update is undone as CloudFormation undoes it (versioning suspended, the
//! others deleted). `PublicAccessBlockConfiguration` is accepted and kept in the template
//! only: Stratus's buckets are never public (decision 0041).

use super::*;

const XMLNS: &str = r#" xmlns="http://s3.amazonaws.com/doc/2006-03-01/""#;

/// The properties this module applies, with the bucket subresource each is.
const APPLIED: [(&str, &str); 4] = [
    ("VersioningConfiguration", "versioning"),
    ("CorsConfiguration", "cors"),
    ("Tags", "tagging"),
    ("BucketEncryption", "encryption"),
];

/// Applies each property that differs between `old` (empty on create) and `new`.
pub async fn apply(
    cx: &Cx<'_>,
    bucket: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), Failed> {
    for (property, subresource) in APPLIED {
        if old.get(property) == new.get(property) {
            continue;
        }
        let request = match new.get(property) {
            Some(value) => put(bucket, subresource, xml(property, value)?),
            // Versioning cannot be switched off once on, only suspended.
            None if property == "VersioningConfiguration" => put(
                bucket,
                subresource,
                xml(property, &serde_json::json!({"Status": "Suspended"}))?,
            ),
            None => ApiRequest {
                service: "s3",
                method: "DELETE",
                path: format!("/{bucket}?{subresource}"),
                headers: vec![],
                body: vec![],
            },
        };
        send(cx, request).await?;
    }
    Ok(())
}

fn put(bucket: &str, subresource: &str, body: String) -> ApiRequest {
    let body = body.into_bytes();
    ApiRequest {
        service: "s3",
        method: "PUT",
        path: format!("/{bucket}?{subresource}"),
        // S3 wants the length of a body it is sent, as a header.
        headers: vec![
            ("content-type", "application/xml".into()),
            ("content-length", body.len().to_string()),
        ],
        body,
    }
}

/// A property's value as the XML body of S3's Put call for it.
fn xml(property: &str, value: &Value) -> Result<String, Failed> {
    match property {
        "VersioningConfiguration" => {
            let status = required(value, "Status", property)?;
            Ok(format!(
                "<VersioningConfiguration{XMLNS}><Status>{}</Status></VersioningConfiguration>",
                escape(status)
            ))
        }
        "CorsConfiguration" => cors_xml(value),
        "Tags" => tags_xml(value),
        _ => encryption_xml(value),
    }
}

fn required<'a>(value: &'a Value, name: &str, within: &str) -> Result<&'a str, Failed> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("Property {name} cannot be empty in {within}"))
}

/// `CorsRules` as a `CORSConfiguration`: each rule's id, headers, methods, origins, exposed
/// headers and max age, in the order of S3's schema.
fn cors_xml(value: &Value) -> Result<String, Failed> {
    let mut xml = format!("<CORSConfiguration{XMLNS}>");
    for rule in list(value, "CorsRules") {
        xml += "<CORSRule>";
        if let Some(id) = rule.get("Id").and_then(Value::as_str) {
            xml += &format!("<ID>{}</ID>", escape(id));
        }
        for (property, element) in [
            ("AllowedHeaders", "AllowedHeader"),
            ("AllowedMethods", "AllowedMethod"),
            ("AllowedOrigins", "AllowedOrigin"),
            ("ExposedHeaders", "ExposeHeader"),
        ] {
            for v in list(rule, property) {
                xml += &format!("<{element}>{}</{element}>", escape(&scalar(v)));
            }
        }
        if let Some(age) = rule.get("MaxAge") {
            xml += &format!("<MaxAgeSeconds>{}</MaxAgeSeconds>", escape(&scalar(age)));
        }
        xml += "</CORSRule>";
    }
    Ok(xml + "</CORSConfiguration>")
}

fn tags_xml(value: &Value) -> Result<String, Failed> {
    let mut xml = format!("<Tagging{XMLNS}><TagSet>");
    for tag in value.as_array().into_iter().flatten() {
        let key = required(tag, "Key", "Tags")?;
        let v = tag.get("Value").map(scalar).unwrap_or_default();
        xml += &format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            escape(key),
            escape(&v)
        );
    }
    Ok(xml + "</TagSet></Tagging>")
}

fn encryption_xml(value: &Value) -> Result<String, Failed> {
    let mut xml = format!("<ServerSideEncryptionConfiguration{XMLNS}>");
    for rule in list(value, "ServerSideEncryptionConfiguration") {
        xml += "<Rule>";
        if let Some(by_default) = rule.get("ServerSideEncryptionByDefault") {
            let algorithm = required(by_default, "SSEAlgorithm", "ServerSideEncryptionByDefault")?;
            xml += &format!(
                "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{}</SSEAlgorithm>",
                escape(algorithm)
            );
            if let Some(key) = by_default.get("KMSMasterKeyID").and_then(Value::as_str) {
                xml += &format!("<KMSMasterKeyID>{}</KMSMasterKeyID>", escape(key));
            }
            xml += "</ApplyServerSideEncryptionByDefault>";
        }
        if let Some(enabled) = rule.get("BucketKeyEnabled") {
            xml += &format!("<BucketKeyEnabled>{}</BucketKeyEnabled>", scalar(enabled));
        }
        xml += "</Rule>";
    }
    Ok(xml + "</ServerSideEncryptionConfiguration>")
}

fn list<'a>(value: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A template scalar as text: strings as they are, numbers and booleans as JSON writes them.
fn scalar(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_property_becomes_its_put_body() {
        let cors = json!({"CorsRules": [{"Id": "r", "AllowedMethods": ["GET"],
            "AllowedOrigins": ["*"], "MaxAge": 60}]});
        assert_eq!(
            xml("CorsConfiguration", &cors).unwrap(),
            format!(
                "<CORSConfiguration{XMLNS}><CORSRule><ID>r</ID><AllowedMethod>GET</AllowedMethod>\
                     <AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>\
                     </CORSConfiguration>"
            )
        );
        assert_eq!(
            xml("Tags", &json!([{"Key": "a&b", "Value": "1"}])).unwrap(),
            format!("<Tagging{XMLNS}><TagSet><Tag><Key>a&amp;b</Key><Value>1</Value></Tag></TagSet></Tagging>")
        );
        let sse = json!({"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": true}]});
        assert_eq!(
            xml("BucketEncryption", &sse).unwrap(),
            format!("<ServerSideEncryptionConfiguration{XMLNS}><Rule><ApplyServerSideEncryptionByDefault>\
                     <SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault>\
                     <BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>")
        );
        assert_eq!(
            xml("VersioningConfiguration", &json!({})).unwrap_err(),
            "Property Status cannot be empty in VersioningConfiguration"
        );
    }
}
