//! ARNs of the resources Stratus serves.

use crate::ACCOUNT_ID;

/// `arn:aws:lambda:REGION:ACCT:function:NAME[:QUALIFIER]`.
pub fn function_arn(region: &str, name: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}:{q}"),
        None => format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"),
    }
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
