//! Resource policies that decide whether a service may act on a resource for its owner: a
//! function's permissions (AddPermission statements) let S3, SNS or API Gateway invoke it,
//! for the source ARN and account they name.

use serde_json::Value;
use stratus_core::ACCOUNT_ID;

use crate::eval::{decide, Request, Who};
use crate::policy::{Effect, Kind, Policy};
use crate::Context;

/// Whether a function's policy statements allow `service` (`s3.amazonaws.com`) to invoke it
/// on behalf of `source_arn` (the bucket, topic or API that triggers it).
pub fn service_may_invoke(
    statements: &[Value],
    service: &str,
    source_arn: &str,
    function_arn: &str,
) -> bool {
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    let Ok(policy) = Policy::parse(&doc.to_string(), Kind::Resource) else {
        return false;
    };
    let who = Who {
        arn: "",
        role_arn: None,
        account: ACCOUNT_ID,
        service: Some(service),
    };
    let mut ctx = Context::default();
    ctx.add("aws:SourceArn", source_arn);
    ctx.add("aws:SourceAccount", ACCOUNT_ID);
    let req = Request {
        action: "lambda:InvokeFunction",
        resource: function_arn,
        context: &ctx,
    };
    decide(&policy, Some(&who), &req) == Some(Effect::Allow)
}

/// A function's policy statements as one resource policy (`None` when there are none, or
/// when they do not parse, which AddPermission prevents).
pub fn function_policy(statements: &[Value]) -> Option<Policy> {
    if statements.is_empty() {
        return None;
    }
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse(&doc.to_string(), Kind::Resource).ok()
}

/// Whether a function's policy lets anyone call its URL of auth type `NONE`: a statement
/// allowing `lambda:InvokeFunctionUrl` to principal `*`, which AWS requires (AddPermission
/// with `--principal '*' --function-url-auth-type NONE`).
pub fn anyone_may_invoke_url(statements: &[Value], function_arn: &str) -> bool {
    let Some(policy) = function_policy(statements) else {
        return false;
    };
    let who = Who {
        arn: "anonymous",
        role_arn: None,
        account: "anonymous",
        service: None,
    };
    let mut ctx = Context::default();
    ctx.add("lambda:FunctionUrlAuthType", "NONE");
    let req = Request {
        action: "lambda:InvokeFunctionUrl",
        resource: function_arn,
        context: &ctx,
    };
    decide(&policy, Some(&who), &req) == Some(Effect::Allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

    #[test]
    fn public_urls_need_a_statement_for_anyone() {
        let public = json!({"Sid": "url", "Effect": "Allow", "Principal": "*",
            "Action": "lambda:InvokeFunctionUrl", "Resource": FN,
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}});
        assert!(anyone_may_invoke_url(&[public], FN));
        let iam_only = json!({"Sid": "url", "Effect": "Allow", "Principal": "*",
            "Action": "lambda:InvokeFunctionUrl", "Resource": FN,
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}});
        assert!(!anyone_may_invoke_url(&[iam_only], FN));
        let invoke = json!({"Sid": "i", "Effect": "Allow", "Principal": "*",
            "Action": "lambda:InvokeFunction", "Resource": FN});
        assert!(!anyone_may_invoke_url(&[invoke], FN));
        assert!(!anyone_may_invoke_url(&[], FN));
    }

    #[test]
    fn permissions_name_the_service_and_its_source() {
        let s3 = json!({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": FN,
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::photos"},
                          "StringEquals": {"AWS:SourceAccount": "000000000000"}}});
        let statements = [s3];
        assert!(service_may_invoke(
            &statements,
            "s3.amazonaws.com",
            "arn:aws:s3:::photos",
            FN
        ));
        assert!(!service_may_invoke(
            &statements,
            "s3.amazonaws.com",
            "arn:aws:s3:::other",
            FN
        ));
        assert!(!service_may_invoke(
            &statements,
            "sns.amazonaws.com",
            "arn:aws:s3:::photos",
            FN
        ));
        let any_topic = json!({"Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": FN});
        assert!(service_may_invoke(
            &[any_topic],
            "sns.amazonaws.com",
            "arn:aws:sns:us-east-1:000000000000:t",
            FN
        ));
        assert!(!service_may_invoke(
            &[],
            "sns.amazonaws.com",
            "arn:aws:sns:us-east-1:000000000000:t",
            FN
        ));
    }
}
