//! Each operation of each service Stratus serves, as the IAM action it needs and the ARN of
//! the resource it acts on, following AWS's service authorization reference. The API layer
//! names the operation (from the path, `X-Amz-Target` or `Action`); these tables turn it
//! into what the evaluator reads.

use stratus_core::ACCOUNT_ID;

use crate::Context;

/// What one request asks to do: an action on one or more resources (a batch may touch
/// several tables), with the condition keys the request carries.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub action: String,
    pub resources: Vec<String>,
    pub context: Context,
}

impl Target {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Target {
        Target {
            action: action.into(),
            resources: vec![resource.into()],
            context: Context::default(),
        }
    }
}

/// A path segment percent-decoded; borrowed when it has nothing to decode (a function's
/// name almost always), since this runs on every authorized request.
fn decode(s: &str) -> std::borrow::Cow<'_, str> {
    match s.contains('%') {
        true => std::borrow::Cow::Owned(percent_decode(s)),
        false => std::borrow::Cow::Borrowed(s),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The unqualified ARN of the function a `FunctionName` path segment names (a name, a
/// `name:qualifier`, a partial or a full ARN).
pub fn function_arn(region: &str, segment: &str) -> String {
    let s = decode(segment);
    let name = match s.split_once("function:") {
        Some((_, rest)) => rest,
        None => &s,
    };
    let name = name.split(':').next().unwrap_or(name);
    // `concat`, not `format!`: this runs on every authorized invoke.
    [
        "arn:aws:lambda:",
        region,
        ":",
        ACCOUNT_ID,
        ":function:",
        name,
    ]
    .concat()
}

/// A Lambda API request (`method`, `path`).
pub fn lambda(method: &str, path: &str, region: &str) -> Option<Target> {
    // Lambda's paths have at most seven segments (a layer version's policy statement); the
    // rest is no route. Kept on the stack.
    let mut segments = [""; 7];
    let mut n = 0;
    for segment in path.trim_matches('/').split('/') {
        *segments.get_mut(n)? = segment;
        n += 1;
    }
    let (action, resource) = match (method, &segments[..n]) {
        ("POST", [_, "functions"]) => ("CreateFunction", None),
        ("GET", [_, "functions"]) => ("ListFunctions", Some("*".to_string())),
        ("GET", [_, "account-settings"]) => ("GetAccountSettings", Some("*".to_string())),
        // Event source mappings: the resource is the mapping's ARN (`*` for create and list).
        ("POST", [_, "event-source-mappings"]) => {
            ("CreateEventSourceMapping", Some("*".to_string()))
        }
        ("GET", [_, "event-source-mappings"]) => ("ListEventSourceMappings", Some("*".to_string())),
        (m, [_, "event-source-mappings", id]) => {
            let action = match m {
                "GET" => "GetEventSourceMapping",
                "PUT" => "UpdateEventSourceMapping",
                _ => "DeleteEventSourceMapping",
            };
            let arn = [
                "arn:aws:lambda:",
                region,
                ":",
                ACCOUNT_ID,
                ":event-source-mapping:",
                id,
            ];
            (action, Some(arn.concat()))
        }
        // Code signing configurations: the resource is the configuration's ARN.
        ("POST", [_, "code-signing-configs"]) => ("CreateCodeSigningConfig", Some("*".to_string())),
        ("GET", [_, "code-signing-configs"]) => ("ListCodeSigningConfigs", Some("*".to_string())),
        (m, [_, "code-signing-configs", arn, rest @ ..]) => {
            let action = match (m, rest) {
                ("GET", []) => "GetCodeSigningConfig",
                ("PUT", []) => "UpdateCodeSigningConfig",
                ("DELETE", []) => "DeleteCodeSigningConfig",
                ("GET", ["functions"]) => "ListFunctionsByCodeSigningConfig",
                _ => return None,
            };
            (action, Some(decode(arn).into_owned()))
        }
        (m, [_, "tags", arn]) => {
            let action = match m {
                "POST" => "TagResource",
                "DELETE" => "UntagResource",
                _ => "ListTags",
            };
            (action, Some(decode(arn).into_owned()))
        }
        // Layers: the resource is the layer (publish) or the layer version.
        ("GET", [_, "layers"]) => ("ListLayers", Some("*".to_string())),
        ("POST", [_, "layers", l, "versions"]) => {
            ("PublishLayerVersion", Some(layer_arn(region, l, None)))
        }
        ("GET", [_, "layers", _, "versions"]) => ("ListLayerVersions", Some("*".to_string())),
        (m, [_, "layers", l, "versions", v, rest @ ..]) => {
            let action = match (m, rest) {
                ("GET", []) => "GetLayerVersion",
                ("DELETE", []) => "DeleteLayerVersion",
                ("POST", ["policy"]) => "AddLayerVersionPermission",
                ("GET", ["policy"]) => "GetLayerVersionPolicy",
                ("DELETE", ["policy", _]) => "RemoveLayerVersionPermission",
                _ => return None,
            };
            (action, Some(layer_arn(region, l, Some(v))))
        }
        (m, [_, "functions", f, rest @ ..]) => {
            let action = match (m, rest) {
                ("GET", []) => "GetFunction",
                ("DELETE", []) => "DeleteFunction",
                ("GET", ["configuration"]) => "GetFunctionConfiguration",
                ("PUT", ["configuration"]) => "UpdateFunctionConfiguration",
                ("PUT", ["code"]) => "UpdateFunctionCode",
                ("POST", ["versions"]) => "PublishVersion",
                ("GET", ["versions"]) => "ListVersionsByFunction",
                ("POST", ["aliases"]) => "CreateAlias",
                ("GET", ["aliases"]) => "ListAliases",
                ("GET", ["aliases", _]) => "GetAlias",
                ("PUT", ["aliases", _]) => "UpdateAlias",
                ("DELETE", ["aliases", _]) => "DeleteAlias",
                ("POST", ["invocations"]) => "InvokeFunction",
                ("POST", ["invoke-async"]) => "InvokeFunction",
                // InvokeWithResponseStream has no action of its own.
                ("POST", ["response-streaming-invocations"]) => "InvokeFunction",
                ("POST", ["policy"]) => "AddPermission",
                ("GET", ["policy"]) => "GetPolicy",
                ("DELETE", ["policy", _]) => "RemovePermission",
                ("PUT", ["concurrency"]) => "PutFunctionConcurrency",
                ("DELETE", ["concurrency"]) => "DeleteFunctionConcurrency",
                ("GET", ["concurrency"]) => "GetFunctionConcurrency",
                ("PUT", ["provisioned-concurrency"]) => "PutProvisionedConcurrencyConfig",
                // ListProvisionedConcurrencyConfigs shares the path (`?List=ALL`).
                ("GET", ["provisioned-concurrency"]) => "GetProvisionedConcurrencyConfig",
                ("DELETE", ["provisioned-concurrency"]) => "DeleteProvisionedConcurrencyConfig",
                ("PUT", ["recursion-config"]) => "PutFunctionRecursionConfig",
                ("GET", ["recursion-config"]) => "GetFunctionRecursionConfig",
                ("PUT", ["event-invoke-config"]) => "PutFunctionEventInvokeConfig",
                ("POST", ["event-invoke-config"]) => "UpdateFunctionEventInvokeConfig",
                ("GET", ["event-invoke-config"]) => "GetFunctionEventInvokeConfig",
                ("DELETE", ["event-invoke-config"]) => "DeleteFunctionEventInvokeConfig",
                ("GET", ["event-invoke-config", "list"]) => "ListFunctionEventInvokeConfigs",
                ("POST", ["url"]) => "CreateFunctionUrlConfig",
                ("GET", ["url"]) => "GetFunctionUrlConfig",
                ("PUT", ["url"]) => "UpdateFunctionUrlConfig",
                ("DELETE", ["url"]) => "DeleteFunctionUrlConfig",
                ("GET", ["urls"]) => "ListFunctionUrlConfigs",
                ("GET", ["code-signing-config"]) => "GetFunctionCodeSigningConfig",
                ("PUT", ["code-signing-config"]) => "PutFunctionCodeSigningConfig",
                ("DELETE", ["code-signing-config"]) => "DeleteFunctionCodeSigningConfig",
                ("PUT", ["runtime-management-config"]) => "PutRuntimeManagementConfig",
                ("GET", ["runtime-management-config"]) => "GetRuntimeManagementConfig",
                _ => return None,
            };
            (action, Some(function_arn(region, f)))
        }
        _ => return None,
    };
    // CreateFunction's function is named in the body; the caller passes it as the resource.
    let resource =
        resource.unwrap_or_else(|| ["arn:aws:lambda:", region, ":", ACCOUNT_ID, ":*"].concat());
    Some(Target::new(["lambda:", action].concat(), resource))
}

/// A layer's (or layer version's) ARN from a `LayerName` path argument, a name or an ARN.
fn layer_arn(region: &str, layer: &str, version: Option<&str>) -> String {
    let decoded = decode(layer);
    let name = decoded.rsplit(':').next().unwrap_or(&decoded);
    let base = ["arn:aws:lambda:", region, ":", ACCOUNT_ID, ":layer:", name].concat();
    match version {
        Some(v) => [base.as_str(), ":", v].concat(),
        None => base,
    }
}

/// A DynamoDB request (`X-Amz-Target` operation and JSON body).
pub fn dynamodb(op: &str, body: &serde_json::Value, region: &str) -> Target {
    let table = |name: &str| format!("arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}");
    let mut t = Target::new(format!("dynamodb:{op}"), "*");
    t.resources.clear();
    if let Some(name) = body.get("TableName").and_then(|v| v.as_str()) {
        t.resources.push(table(name));
    }
    if let Some(items) = body.get("RequestItems").and_then(|v| v.as_object()) {
        t.resources.extend(items.keys().map(|n| table(n)));
    }
    if let Some(items) = body.get("TransactItems").and_then(|v| v.as_array()) {
        for item in items {
            let inner = item.as_object().and_then(|o| o.values().next());
            if let Some(name) = inner
                .and_then(|i| i.get("TableName"))
                .and_then(|v| v.as_str())
            {
                t.resources.push(table(name));
            }
        }
    }
    // The streams API names its stream by ARN (`table/<t>/stream/<label>`).
    if let Some(arn) = body.get("StreamArn").and_then(|v| v.as_str()) {
        t.resources.push(arn.to_string());
    }
    if t.resources.is_empty() {
        t.resources
            .push(format!("arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/*"));
    }
    t
}

/// An SNS request (`Action` and its parameters).
pub fn sns<'a>(action: &str, param: impl Fn(&str) -> Option<&'a str>, region: &str) -> Target {
    let resource = match action {
        "CreateTopic" => param("Name")
            .map(|n| format!("arn:aws:sns:{region}:{ACCOUNT_ID}:{n}"))
            .unwrap_or_else(|| "*".into()),
        _ => param("TopicArn")
            .or_else(|| param("ResourceArn"))
            .map(str::to_string)
            .or_else(|| {
                // A subscription's ARN is its topic's ARN and an id.
                param("SubscriptionArn")
                    .map(|s| s.rsplit_once(':').map_or(s, |(t, _)| t).to_string())
            })
            .unwrap_or_else(|| "*".into()),
    };
    Target::new(format!("sns:{action}"), resource)
}

/// A CloudFormation request: its action on the stack it names (by name or ARN), or on every
/// stack when it names none (ListStacks, ValidateTemplate, ListExports...).
pub fn cloudformation<'a>(
    action: &str,
    param: impl Fn(&str) -> Option<&'a str>,
    region: &str,
) -> Target {
    let resource = match param("StackName") {
        Some(arn) if arn.starts_with("arn:") => arn.to_string(),
        Some(name) => format!("arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{name}/*"),
        None => "*".to_string(),
    };
    Target::new(format!("cloudformation:{action}"), resource)
}

/// An SQS request: its operation and the parameter naming its queue (a `QueueUrl`, a
/// `QueueName` or a `SourceArn`), or the queue URL path it was sent to. A batch needs the
/// permission of its single-message operation, as on AWS.
pub fn sqs<'a>(
    op: &str,
    param: impl Fn(&str) -> Option<&'a str>,
    path: &str,
    region: &str,
) -> Target {
    let action = match op {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let from_url = |u: &'a str| u.trim_end_matches('/').rsplit('/').next();
    let path = path.trim_matches('/');
    let name = match op {
        "ListQueues" | "CancelMessageMoveTask" => None,
        "StartMessageMoveTask" | "ListMessageMoveTasks" => {
            param("SourceArn").and_then(|a| a.rsplit(':').next())
        }
        _ => param("QueueUrl")
            .and_then(from_url)
            .or_else(|| param("QueueName"))
            .or_else(|| {
                (path.split('/').count() == 2)
                    .then(|| path.rsplit('/').next())
                    .flatten()
            }),
    };
    let resource = name.map_or_else(
        || "*".to_string(),
        |n| format!("arn:aws:sqs:{region}:{ACCOUNT_ID}:{n}"),
    );
    Target::new(format!("sqs:{action}"), resource)
}

/// A CloudWatch Logs request (`X-Amz-Target` operation and JSON body).
pub fn logs(op: &str, body: &serde_json::Value, region: &str) -> Target {
    let group = body
        .get("logGroupName")
        .and_then(|v| v.as_str())
        .or_else(|| body.get("logGroupIdentifier").and_then(|v| v.as_str()))
        .map(|g| {
            g.rsplit("log-group:")
                .next()
                .unwrap_or(g)
                .trim_end_matches(":*")
                .to_string()
        });
    let resource = match group {
        Some(g) => match body.get("logStreamName").and_then(|v| v.as_str()) {
            Some(s) => format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{g}:log-stream:{s}"),
            None => format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{g}:*"),
        },
        None => format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:*"),
    };
    Target::new(format!("logs:{op}"), resource)
}

/// An EventBridge request (`X-Amz-Target: AWSEvents.<Op>`): the rule, bus or tagged resource
/// it names.
pub fn events(op: &str, body: &serde_json::Value, region: &str) -> Target {
    let s = |k: &str| body.get(k).and_then(|v| v.as_str());
    let bus = s("EventBusName")
        .map(|b| b.rsplit_once(":event-bus/").map_or(b, |(_, n)| n))
        .unwrap_or("default");
    let base = format!("arn:aws:events:{region}:{ACCOUNT_ID}");
    let rule = |name: &str| match bus {
        "default" => format!("{base}:rule/{name}"),
        b => format!("{base}:rule/{b}/{name}"),
    };
    let resource = match op {
        "PutRule" | "DescribeRule" | "DeleteRule" | "EnableRule" | "DisableRule" => {
            s("Name").map_or_else(|| "*".into(), rule)
        }
        "PutTargets" | "RemoveTargets" | "ListTargetsByRule" => {
            s("Rule").map_or_else(|| "*".into(), rule)
        }
        "CreateEventBus" | "DescribeEventBus" | "DeleteEventBus" => {
            format!("{base}:event-bus/{}", s("Name").unwrap_or("default"))
        }
        "PutEvents" => format!("{base}:event-bus/{bus}"),
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            s("ResourceARN").unwrap_or("*").to_string()
        }
        _ => "*".into(),
    };
    Target::new(format!("events:{op}"), resource)
}

/// A CodeDeploy request (`X-Amz-Target: CodeDeploy_20141006.<Op>`): the deployment group,
/// application or configuration it names (deployments are named by their group on AWS, which
/// a request naming only a deployment id does not give: those are on `*`).
pub fn codedeploy(op: &str, body: &serde_json::Value, region: &str) -> Target {
    let s = |k: &str| body.get(k).and_then(|v| v.as_str());
    let base = format!("arn:aws:codedeploy:{region}:{ACCOUNT_ID}");
    let group = s("deploymentGroupName").or(s("currentDeploymentGroupName"));
    let resource = match (s("applicationName"), group, s("deploymentConfigName")) {
        (Some(app), Some(g), _) => format!("{base}:deploymentgroup:{app}/{g}"),
        (Some(app), None, _) => format!("{base}:application:{app}"),
        (None, _, Some(c)) if op.contains("DeploymentConfig") => {
            format!("{base}:deploymentconfig:{c}")
        }
        _ => "*".into(),
    };
    Target::new(format!("codedeploy:{op}"), resource)
}

/// An EventBridge Scheduler request: the operation from the method and path, the schedule
/// or group it names.
pub fn scheduler(method: &str, path: &str, group: Option<&str>, region: &str) -> Target {
    let base = format!("arn:aws:scheduler:{region}:{ACCOUNT_ID}");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (op, resource) = match (method, segments.as_slice()) {
        ("GET", ["schedules"]) => ("ListSchedules", "*".to_string()),
        ("GET", ["schedule-groups"]) => ("ListScheduleGroups", "*".to_string()),
        (m, ["schedules", name]) => {
            let op = match m {
                "POST" => "CreateSchedule",
                "PUT" => "UpdateSchedule",
                "DELETE" => "DeleteSchedule",
                _ => "GetSchedule",
            };
            let group = group.unwrap_or("default");
            (op, format!("{base}:schedule/{group}/{name}"))
        }
        (m, ["schedule-groups", name]) => {
            let op = match m {
                "POST" => "CreateScheduleGroup",
                "DELETE" => "DeleteScheduleGroup",
                _ => "GetScheduleGroup",
            };
            (op, format!("{base}:schedule-group/{name}"))
        }
        _ => ("Unknown", "*".to_string()),
    };
    Target::new(format!("scheduler:{op}"), resource)
}

/// An API Gateway management request: the action is the HTTP method, the resource the path.
pub fn apigateway(method: &str, path: &str, region: &str) -> Target {
    let path = path.strip_prefix("/v2").unwrap_or(path);
    Target::new(
        format!("apigateway:{method}"),
        format!("arn:aws:apigateway:{region}::{path}"),
    )
}

/// An IAM request (`Action` and its parameters).
pub fn iam<'a>(action: &str, param: impl Fn(&str) -> Option<&'a str>) -> Target {
    let resource = if let Some(arn) = param("PolicyArn") {
        arn.to_string()
    } else if let Some(p) = param("InstanceProfileName") {
        format!(
            "arn:aws:iam::{ACCOUNT_ID}:instance-profile{}{p}",
            param("Path").unwrap_or("/")
        )
    } else if let Some(r) = param("RoleName") {
        format!("arn:aws:iam::{ACCOUNT_ID}:role/{r}")
    } else if let Some(g) = param("GroupName") {
        format!("arn:aws:iam::{ACCOUNT_ID}:group/{g}")
    } else if let Some(u) = param("UserName") {
        format!("arn:aws:iam::{ACCOUNT_ID}:user/{u}")
    } else if let Some(p) = param("PolicyName").filter(|_| action == "CreatePolicy") {
        format!(
            "arn:aws:iam::{ACCOUNT_ID}:policy{}{p}",
            param("Path").unwrap_or("/")
        )
    } else {
        "*".to_string()
    };
    Target::new(format!("iam:{action}"), resource)
}

/// An STS request; `None` for the operations AWS answers without a permission
/// (GetCallerIdentity, GetSessionToken).
pub fn sts<'a>(action: &str, param: impl Fn(&str) -> Option<&'a str>) -> Option<Target> {
    match action {
        "GetCallerIdentity" | "GetSessionToken" => None,
        _ => Some(Target::new(
            format!("sts:{action}"),
            param("RoleArn").unwrap_or("*"),
        )),
    }
}

/// An S3 operation (s3s's operation name) on a bucket and key: its IAM action and resource.
pub fn s3(op: &str, bucket: Option<&str>, key: Option<&str>) -> Target {
    let action = match op {
        "HeadObject" | "GetObjectAttributes" => "GetObject",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListBuckets" => "ListAllMyBuckets",
        "DeleteObjects" => "DeleteObject",
        "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListObjectVersions" => "ListBucketVersions",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        "DeleteBucketPolicy" => "DeleteBucketPolicy",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "PutEncryptionConfiguration",
        "DeleteBucketTagging" => "PutBucketTagging",
        "GetBucketAccelerateConfiguration" => "GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration" => "PutAccelerateConfiguration",
        "GetBucketReplication" => "GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "PutReplicationConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "DeleteObjectTagging" => "DeleteObjectTagging",
        other => other,
    };
    let resource = match (bucket, key, op) {
        (Some(b), Some(k), _) => format!("arn:aws:s3:::{b}/{k}"),
        // DeleteObjects names its keys in the body: the bucket's objects are the resource.
        (Some(b), None, "DeleteObjects") => format!("arn:aws:s3:::{b}/*"),
        (Some(b), None, _) => format!("arn:aws:s3:::{b}"),
        (None, _, _) => "*".to_string(),
    };
    Target::new(format!("s3:{action}"), resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_actions_and_arns() {
        let t = lambda("POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af%3Aprod/invocations", "us-east-1").unwrap();
        assert_eq!(
            (t.action.as_str(), t.resources[0].as_str()),
            (
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:000000000000:function:f"
            )
        );
        let t = lambda(
            "POST",
            "/2021-11-15/functions/f/response-streaming-invocations",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(t.action, "lambda:InvokeFunction");
        let t = lambda("PUT", "/2021-10-31/functions/f/url", "us-east-1").unwrap();
        assert_eq!(t.action, "lambda:UpdateFunctionUrlConfig");
        let t = lambda("GET", "/2021-10-31/functions/f/urls", "us-east-1").unwrap();
        assert_eq!(t.action, "lambda:ListFunctionUrlConfigs");
        let t = lambda(
            "PUT",
            "/2019-09-30/functions/f/provisioned-concurrency",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(t.action, "lambda:PutProvisionedConcurrencyConfig");
        assert_eq!(
            t.resources[0],
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        let t = lambda(
            "PUT",
            "/2024-08-31/functions/f/recursion-config",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(t.action, "lambda:PutFunctionRecursionConfig");
        let t = lambda(
            "GET",
            "/2024-08-31/functions/f/recursion-config",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(t.action, "lambda:GetFunctionRecursionConfig");
        let t = lambda(
            "DELETE",
            "/2018-10-31/layers/lib/versions/3/policy/s1",
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(t.action, "lambda:RemoveLayerVersionPermission");
        assert_eq!(
            t.resources,
            vec!["arn:aws:lambda:eu-west-1:000000000000:layer:lib:3".to_string()]
        );
        let t = lambda("POST", "/2018-10-31/layers/lib/versions", "eu-west-1").unwrap();
        assert_eq!(t.action, "lambda:PublishLayerVersion");
        let t = lambda("DELETE", "/2015-03-31/functions/f", "eu-west-1").unwrap();
        assert_eq!(
            t.resources[0],
            "arn:aws:lambda:eu-west-1:000000000000:function:f"
        );
        assert_eq!(t.action, "lambda:DeleteFunction");
        let body = serde_json::json!({"RequestItems": {"A": [], "B": []}});
        let t = dynamodb("BatchWriteItem", &body, "us-east-1");
        assert_eq!(
            t.resources,
            [
                "arn:aws:dynamodb:us-east-1:000000000000:table/A",
                "arn:aws:dynamodb:us-east-1:000000000000:table/B"
            ]
        );
        let t = sqs(
            "SendMessageBatch",
            |k| (k == "QueueUrl").then_some("http://localhost:4566/000000000000/jobs"),
            "/",
            "us-east-1",
        );
        assert_eq!(t.action, "sqs:SendMessage");
        assert_eq!(t.resources[0], "arn:aws:sqs:us-east-1:000000000000:jobs");
        let t = sqs(
            "GetQueueAttributes",
            |_| None,
            "/000000000000/q",
            "us-east-1",
        );
        assert_eq!(t.resources[0], "arn:aws:sqs:us-east-1:000000000000:q");
        assert_eq!(
            sqs("ListQueues", |_| None, "/", "us-east-1").resources[0],
            "*"
        );
        let t = sns(
            "Unsubscribe",
            |k| (k == "SubscriptionArn").then_some("arn:aws:sns:us-east-1:000000000000:t:abc"),
            "us-east-1",
        );
        assert_eq!(t.resources[0], "arn:aws:sns:us-east-1:000000000000:t");
        let t = s3("HeadObject", Some("b"), Some("k/1"));
        assert_eq!(
            (t.action.as_str(), t.resources[0].as_str()),
            ("s3:GetObject", "arn:aws:s3:::b/k/1")
        );
        // Bucket configurations take the action names of IAM's S3 reference.
        for (op, action) in [
            ("PutBucketCors", "s3:PutBucketCORS"),
            ("DeleteBucketCors", "s3:PutBucketCORS"),
            ("GetBucketCors", "s3:GetBucketCORS"),
            ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
            ("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
            (
                "GetBucketAccelerateConfiguration",
                "s3:GetAccelerateConfiguration",
            ),
            (
                "GetObjectLockConfiguration",
                "s3:GetBucketObjectLockConfiguration",
            ),
            ("DeleteBucketEncryption", "s3:PutEncryptionConfiguration"),
        ] {
            assert_eq!(s3(op, Some("b"), None).action, action);
        }
        let t = logs(
            "PutLogEvents",
            &serde_json::json!({"logGroupName": "/aws/lambda/f", "logStreamName": "s"}),
            "us-east-1",
        );
        assert_eq!(
            t.resources[0],
            "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:log-stream:s"
        );
        assert!(sts("GetCallerIdentity", |_| None).is_none());
        assert_eq!(
            iam("GetRole", |k| (k == "RoleName").then_some("r")).resources[0],
            "arn:aws:iam::000000000000:role/r"
        );
    }
}
