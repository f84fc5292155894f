use super::*;
use crate::providers::{ApiRequest, ApiResponse};
use async_trait::async_trait;
use std::sync::Mutex;

/// Answers every call as AWS would for a fresh account, except CreateQueue when told to
/// fail; records what was asked.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    fail_queues: bool,
    /// What GetDeployment says of every deployment.
    deployment_fails: bool,
}

#[async_trait]
impl Client for Fake {
    async fn send(&self, _: &str, _: &str, r: ApiRequest) -> ApiResponse {
        let target = r
            .headers
            .iter()
            .find(|(k, _)| *k == "x-amz-target")
            .map(|(_, v)| v.clone());
        let what = format!(
            "{} {} {}",
            r.method,
            r.path,
            target.clone().unwrap_or_default()
        );
        let what = match target.as_deref() {
            Some("CodeDeploy_20141006.CreateDeployment") => {
                format!("{what} {}", String::from_utf8_lossy(&r.body))
            }
            _ => what,
        };
        self.calls.lock().unwrap().push(what);
        let ok = |body: &str| ApiResponse {
            status: 200,
            body: body.as_bytes().to_vec(),
        };
        match target.as_deref() {
            Some("AmazonSQS.CreateQueue") if self.fail_queues => ApiResponse {
                status: 400,
                body: br#"{"message": "queue refused"}"#.to_vec(),
            },
            Some("AmazonSQS.CreateQueue") => ok(r#"{"QueueUrl": "http://q/1/name"}"#),
            Some("CodeDeploy_20141006.CreateDeployment") => ok(r#"{"deploymentId": "d-1"}"#),
            Some("CodeDeploy_20141006.GetDeployment") if self.deployment_fails => ok(
                r#"{"deploymentInfo": {"status": "Failed", "errorInformation": {"message": "hook failed"}}}"#,
            ),
            Some("CodeDeploy_20141006.GetDeployment") => {
                ok(r#"{"deploymentInfo": {"status": "Succeeded"}}"#)
            }
            _ => ok("{}"),
        }
    }
}

fn engine(fake: Arc<Fake>) -> (Arc<Engine>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Stacks::open(&stratus_db::Location::Sqlite(dir.path().into())).unwrap());
    (
        Arc::new(Engine {
            store,
            client: fake,
            account_id: "123456789012".into(),
            sam: None,
        }),
        dir,
    )
}

const TEMPLATE: &str = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub '${AWS::StackName}-data'\n  Queue:\n    Type: AWS::SQS::Queue\n    DependsOn: Bucket\nOutputs:\n  Url:\n    Value: !Ref Queue\n    Export:\n      Name: QueueUrl\n";

fn new_stack(e: &Engine, template: &str) -> String {
    let stack = Stack {
        id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1".into(),
        name: "app".into(),
        region: "us-east-1".into(),
        status: "CREATE_IN_PROGRESS".into(),
        template: template.into(),
        created_ms: now_ms(),
        ..Default::default()
    };
    e.store.create(&stack).unwrap();
    stack.id
}

fn statuses(e: &Engine, id: &str) -> Vec<String> {
    let mut events = e.store.events(id).unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|ev| format!("{} {}", ev.logical_id, ev.status))
        .collect()
}

#[tokio::test]
async fn creates_in_order_with_outputs_then_deletes_in_reverse() {
    let fake = Arc::new(Fake::default());
    let (e, _dir) = engine(fake.clone());
    let id = new_stack(&e, TEMPLATE);
    e.clone().run(id.clone(), Operation::Create).await;
    let stack = e.store.get(&id).unwrap().unwrap();
    assert_eq!(stack.status, "CREATE_COMPLETE");
    assert_eq!(stack.outputs[0].value, "http://q/1/name");
    assert_eq!(
        e.store.export("QueueUrl").unwrap().as_deref(),
        Some("http://q/1/name")
    );
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls[0], "PUT /app-data ");
    assert!(calls[1].ends_with("AmazonSQS.CreateQueue"));
    assert_eq!(
        statuses(&e, &id),
        vec![
            "app CREATE_IN_PROGRESS",
            "Bucket CREATE_IN_PROGRESS",
            "Bucket CREATE_IN_PROGRESS",
            "Bucket CREATE_COMPLETE",
            "Queue CREATE_IN_PROGRESS",
            "Queue CREATE_IN_PROGRESS",
            "Queue CREATE_COMPLETE",
            "app CREATE_COMPLETE"
        ]
        .into_iter()
        .skip(1)
        .map(String::from)
        .collect::<Vec<_>>()
    );
    e.clone().run(id.clone(), Operation::Delete).await;
    let stack = e.store.get(&id).unwrap().unwrap();
    assert_eq!(stack.status, "DELETE_COMPLETE");
    let calls = fake.calls.lock().unwrap().clone();
    assert!(calls[2].ends_with("AmazonSQS.DeleteQueue"), "{calls:?}");
    assert_eq!(calls[3], "DELETE /app-data ");
    assert!(e.store.resources(&id).unwrap().is_empty());
    assert!(e.store.export("QueueUrl").unwrap().is_none());
}

#[tokio::test]
async fn a_failed_resource_rolls_the_create_back() {
    let fake = Arc::new(Fake {
        fail_queues: true,
        ..Default::default()
    });
    let (e, _dir) = engine(fake.clone());
    let id = new_stack(&e, TEMPLATE);
    e.clone().run(id.clone(), Operation::Create).await;
    let stack = e.store.get(&id).unwrap().unwrap();
    assert_eq!(stack.status, "ROLLBACK_COMPLETE");
    let events = e.store.events(&id).unwrap();
    let failed = events
        .iter()
        .find(|ev| ev.status == "CREATE_FAILED")
        .unwrap();
    assert_eq!(
        failed.reason.as_deref(),
        Some("Resource handler returned message: \"queue refused\"")
    );
    let rollback = events
        .iter()
        .find(|ev| ev.status == "ROLLBACK_IN_PROGRESS")
        .unwrap();
    assert_eq!(
        rollback.reason.as_deref(),
        Some("The following resource(s) failed to create: [Queue]. Rollback requested by user.")
    );
    assert!(fake
        .calls
        .lock()
        .unwrap()
        .contains(&"DELETE /app-data ".to_string()));
    assert!(e.store.resources(&id).unwrap().is_empty());
}

#[tokio::test]
async fn an_unsupported_type_fails_naming_it() {
    let (e, _dir) = engine(Arc::new(Fake::default()));
    let id = new_stack(&e, "Resources:\n  X:\n    Type: AWS::EC2::VPC\n");
    e.clone().run(id.clone(), Operation::Create).await;
    let events = e.store.events(&id).unwrap();
    let failed = events
        .iter()
        .find(|ev| ev.status == "CREATE_FAILED")
        .unwrap();
    assert!(failed.reason.as_deref().unwrap().contains("AWS::EC2::VPC"));
    assert_eq!(
        e.store.get(&id).unwrap().unwrap().status,
        "ROLLBACK_COMPLETE"
    );
}

#[tokio::test]
async fn an_interrupted_create_is_rolled_back_at_start() {
    let fake = Arc::new(Fake::default());
    let (e, _dir) = engine(fake.clone());
    let id = new_stack(&e, TEMPLATE);
    let r = Resource {
        logical_id: "Bucket".into(),
        kind: "AWS::S3::Bucket".into(),
        physical_id: Some("app-data".into()),
        status: "CREATE_COMPLETE".into(),
        ..Default::default()
    };
    e.store.put_resource(&id, &r).unwrap();
    e.clone().recover().await.unwrap();
    assert_eq!(
        e.store.get(&id).unwrap().unwrap().status,
        "ROLLBACK_COMPLETE"
    );
    assert!(fake
        .calls
        .lock()
        .unwrap()
        .contains(&"DELETE /app-data ".to_string()));
}

#[tokio::test]
async fn update_replaces_and_cleans_up_or_rolls_back() {
    let fake = Arc::new(Fake::default());
    let (e, _dir) = engine(fake.clone());
    let id = new_stack(&e, TEMPLATE);
    e.clone().run(id.clone(), Operation::Create).await;
    let mut stack = e.store.get(&id).unwrap().unwrap();
    stack.previous = Some(crate::store::Previous {
        template: stack.template.clone(),
        parameters: stack.parameters.clone(),
        outputs: stack.outputs.clone(),
    });
    stack.template = TEMPLATE.replace("-data", "-data2");
    stack.status = "UPDATE_IN_PROGRESS".into();
    e.store.put(&stack).unwrap();
    e.clone().run(id.clone(), Operation::Update).await;
    let stack = e.store.get(&id).unwrap().unwrap();
    assert_eq!(stack.status, "UPDATE_COMPLETE");
    let calls = fake.calls.lock().unwrap().clone();
    assert!(calls.contains(&"PUT /app-data2 ".to_string()));
    assert!(
        calls.contains(&"DELETE /app-data ".to_string()),
        "{calls:?}"
    );
    let bucket = e
        .store
        .resources(&id)
        .unwrap()
        .into_iter()
        .find(|r| r.logical_id == "Bucket")
        .unwrap();
    assert_eq!(bucket.physical_id.as_deref(), Some("app-data2"));
    assert!(bucket.replaced.is_empty() && bucket.before.is_none());
}

const ALIAS_TEMPLATE: &str = "Parameters:\n  V:\n    Type: String\nResources:\n  App:\n    Type: AWS::CodeDeploy::Application\n    Properties:\n      ApplicationName: app1\n      ComputePlatform: Lambda\n  Group:\n    Type: AWS::CodeDeploy::DeploymentGroup\n    Properties:\n      ApplicationName: !Ref App\n      DeploymentGroupName: g1\n      ServiceRoleArn: arn:aws:iam::123456789012:role/r\n  Alias:\n    Type: AWS::Lambda::Alias\n    Properties:\n      FunctionName: f\n      Name: live\n      FunctionVersion: !Ref V\n    UpdatePolicy:\n      CodeDeployLambdaAliasUpdate:\n        ApplicationName: !Ref App\n        DeploymentGroupName: !Ref Group\n        BeforeAllowTrafficHook: pre\n";

/// Creates the alias stack at version 1, then updates it to version 2; the calls made by the
/// update and the stack's final status.
async fn move_alias(deployment_fails: bool) -> (Vec<String>, String) {
    let fake = Arc::new(Fake {
        deployment_fails,
        ..Default::default()
    });
    let (e, _dir) = engine(fake.clone());
    let id = new_stack(&e, ALIAS_TEMPLATE);
    let mut stack = e.store.get(&id).unwrap().unwrap();
    stack.parameters = [("V".to_string(), "1".to_string())].into();
    e.store.put(&stack).unwrap();
    e.clone().run(id.clone(), Operation::Create).await;
    let mut stack = e.store.get(&id).unwrap().unwrap();
    assert_eq!(stack.status, "CREATE_COMPLETE");
    let created = fake.calls.lock().unwrap().clone();
    let position = |what: &str| created.iter().position(|c| c.contains(what)).unwrap();
    // The UpdatePolicy's references order the alias after the application and the group.
    assert!(
        position("CreateDeploymentGroup") < position("/aliases"),
        "{created:?}"
    );
    assert!(!created.iter().any(|c| c.contains("CreateDeployment ")));
    stack.previous = Some(crate::store::Previous {
        template: stack.template.clone(),
        parameters: stack.parameters.clone(),
        outputs: stack.outputs.clone(),
    });
    stack.parameters = [("V".to_string(), "2".to_string())].into();
    stack.status = "UPDATE_IN_PROGRESS".into();
    e.store.put(&stack).unwrap();
    e.clone().run(id.clone(), Operation::Update).await;
    let calls = fake.calls.lock().unwrap()[created.len()..].to_vec();
    (calls, e.store.get(&id).unwrap().unwrap().status)
}

#[tokio::test]
async fn an_alias_with_a_codedeploy_update_policy_moves_through_a_deployment() {
    let (calls, status) = move_alias(false).await;
    assert_eq!(status, "UPDATE_COMPLETE");
    let create = calls
        .iter()
        .find(|c| c.contains("CodeDeploy_20141006.CreateDeployment"))
        .expect("a deployment");
    for part in [
        r#""applicationName":"app1""#,
        r#""deploymentGroupName":"g1""#,
        r#"\"CurrentVersion\":\"1\""#,
        r#"\"TargetVersion\":\"2\""#,
        r#"\"BeforeAllowTraffic\":\"pre\""#,
    ] {
        assert!(create.contains(part), "{part} not in {create}");
    }
    assert!(calls.iter().any(|c| c.contains("GetDeployment")));
}

#[tokio::test]
async fn a_failed_alias_deployment_rolls_the_update_back() {
    let (calls, status) = move_alias(true).await;
    assert_eq!(status, "UPDATE_ROLLBACK_COMPLETE");
    // The deployment put the alias back itself: no UpdateAlias, before or after.
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("PUT") && c.contains("/aliases/")),
        "{calls:?}"
    );
}
