//! The Lambda Runtime API's paths and headers, as far as the floor measurements need them.

pub const NEXT: &str = "/2018-06-01/runtime/invocation/next";
pub const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
pub const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
pub const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
pub const TRACE_ID: &str = "lambda-runtime-trace-id";

/// The environment a `lambda_runtime` function requires to start (its `Config::from_env`).
pub fn function_env(api: &str, name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "floor".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
