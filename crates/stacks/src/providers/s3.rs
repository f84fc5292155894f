//! AWS::S3::Bucket, through the S3 REST API (path-style).

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
        _: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        _: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        // Only BucketName (a replacement) is applied so far; the bucket's configuration
        // properties are accepted and kept in the template.
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
