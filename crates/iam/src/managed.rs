//! The AWS-managed policies Lambda users attach, with their ARNs and documents as AWS
//! publishes them (the files beside this module). They exist in every account, cannot be
//! changed or deleted, and are attached by ARN like customer-managed ones.

/// One AWS-managed policy.
#[derive(Debug)]
pub struct Managed {
    pub name: &'static str,
    /// `/` or `/service-role/`.
    pub path: &'static str,
    pub description: &'static str,
    pub document: &'static str,
    /// The default version's id as AWS reports it.
    pub version: &'static str,
    /// When AWS created the policy (its `CreateDate`).
    pub created: &'static str,
}

impl Managed {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy{}{}", self.path, self.name)
    }
}

macro_rules! managed {
    ($name:literal, $path:literal, $version:literal, $created:literal, $description:literal) => {
        Managed {
            name: $name,
            path: $path,
            description: $description,
            document: include_str!(concat!("managed/", $name, ".json")),
            version: $version,
            created: $created,
        }
    };
}

pub const ALL: &[Managed] = &[
    managed!("AWSLambdaBasicExecutionRole", "/service-role/", "v1", "2015-04-09T15:03:43Z", "Provides write permissions to CloudWatch Logs."),
    managed!("AWSLambdaDynamoDBExecutionRole", "/service-role/", "v1", "2015-04-09T15:09:29Z", "Provides list and read access to DynamoDB streams and write permissions to CloudWatch logs."),
    managed!("AWSLambdaSQSQueueExecutionRole", "/service-role/", "v1", "2018-06-14T21:50:45Z", "Provides receive message, delete message, and read attribute access to SQS queues, and write permissions to CloudWatch logs."),
    managed!("AWSLambdaRole", "/service-role/", "v1", "2015-02-06T18:41:28Z", "Default policy for AWS Lambda service role."),
    managed!("AWSCodeDeployRoleForLambda", "/service-role/", "v3", "2017-11-28T14:05:00Z", "Provides CodeDeploy service access to perform a Lambda deployment on your behalf."),
    managed!("AmazonS3ReadOnlyAccess", "/", "v1", "2015-02-06T18:40:59Z", "Provides read only access to all buckets via the AWS Management Console."),
    managed!("AmazonS3FullAccess", "/", "v1", "2015-02-06T18:40:58Z", "Provides full access to all buckets via the AWS Management Console."),
    managed!("AmazonDynamoDBFullAccess", "/", "v15", "2015-02-06T18:40:11Z", "Provides full access to Amazon DynamoDB via the AWS Management Console."),
    managed!("AmazonSNSFullAccess", "/", "v1", "2015-02-06T18:41:05Z", "Provides full access to Amazon SNS via the AWS Management Console."),
    managed!("CloudWatchLogsFullAccess", "/", "v1", "2015-02-06T18:40:02Z", "Provides full access to CloudWatch Logs"),
    managed!("AdministratorAccess", "/", "v1", "2015-02-06T18:39:46Z", "Provides full access to AWS services and resources."),
    managed!("ReadOnlyAccess", "/", "v78", "2015-02-06T18:39:48Z", "Provides read-only access to AWS services and resources."),
];

/// The AWS-managed policy with this ARN.
pub fn by_arn(arn: &str) -> Option<&'static Managed> {
    let rest = arn.strip_prefix("arn:aws:iam::aws:policy")?;
    ALL.iter()
        .find(|m| rest.strip_prefix(m.path) == Some(m.name))
}
