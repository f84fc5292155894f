//! ARNs of the resources Stratus serves.

use crate::ACCOUNT_ID;

/// `arn:aws:lambda:REGION:ACCT:function:NAME[:QUALIFIER]`.
pub fn function_arn(region: &str, name: &str, qualifier: Option<&str>) -> String {
    // Sized once: every invocation builds its ARN, and `format!` would grow the string as
    // it wrote the parts.
    const SERVICE: &str = "arn:aws:lambda:";
    const RESOURCE: &str = ":function:";
    let len = SERVICE.len() + region.len() + 1 + ACCOUNT_ID.len() + RESOURCE.len() + name.len();
    let mut arn = String::with_capacity(len + qualifier.map_or(0, |q| q.len() + 1));
    for part in [SERVICE, region, ":", ACCOUNT_ID, RESOURCE, name] {
        arn.push_str(part);
    }
    if let Some(q) = qualifier {
        arn.push(':');
        arn.push_str(q);
    }
    arn
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_qualified_and_unqualified() {
        assert_eq!(
            super::function_arn("us-east-1", "f", Some("$LATEST")),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
        assert_eq!(
            super::function_arn("eu-west-1", "f", None),
            "arn:aws:lambda:eu-west-1:000000000000:function:f"
        );
    }
}
