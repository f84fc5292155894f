//! A function's `Events`: each event source becomes the resources that deliver it (a
//! subscription, a rule, a mapping, a route...) and the permission or role policy that lets it
//! invoke the function, named `<Function><Event>` as SAM names them.

use serde_json::{json, Map, Value};

use crate::function::{assume_role, Target};
use crate::resources::{
    account_ref, kind_of, permission, ref_to_kind, Attrs, Translator, RESOURCE_ERROR,
};
use crate::util::{copy_props, get_att, resource};
use crate::{http_api, policies, Invalid};

/// The generated execution role, when the function has one: pull sources add policies to it.
pub(crate) type Role<'r> = Option<&'r mut (String, Value)>;

pub(crate) fn translate(
    t: &mut Translator,
    fn_id: &str,
    events: Option<&Value>,
    target: &Target,
    mut role: Role,
    attrs: &Attrs,
) -> Result<(), Invalid> {
    let Some(events) = events else { return Ok(()) };
    let events = events
        .as_object()
        .ok_or("Type of property 'Events' is invalid.")?;
    // SAM handles events in the order of their Path (else their id), so `$default` comes first.
    let mut ordered: Vec<(&String, &Value)> = events.iter().collect();
    ordered.sort_by_key(|(id, e)| sort_key(id, e));
    for (ev_id, event) in ordered {
        one(t, fn_id, ev_id, event, target, role.as_deref_mut(), attrs).map_err(|e| {
            match e.starts_with(RESOURCE_ERROR) {
                true => e,
                false => format!("Event with id [{ev_id}] is invalid. {e}"),
            }
        })?;
    }
    Ok(())
}

/// An HttpApi event without `Path` and `Method` is the `$default` route, and sorts as such.
fn sort_key(id: &str, e: &Value) -> String {
    let p = e.get("Properties");
    let path = p.and_then(|p| p.get("Path"));
    let is_default_route = e.get("Type").and_then(Value::as_str) == Some("HttpApi")
        && path.is_none()
        && p.and_then(|p| p.get("Method")).is_none();
    if is_default_route {
        return "$default".into();
    }
    path.and_then(Value::as_str).unwrap_or(id).to_string()
}

fn one(
    t: &mut Translator,
    fn_id: &str,
    ev_id: &str,
    event: &Value,
    target: &Target,
    role: Role,
    attrs: &Attrs,
) -> Result<(), Invalid> {
    let kind = event.get("Type").and_then(Value::as_str).unwrap_or("");
    let empty = Map::new();
    let p = match event.get("Properties") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err("Type of property 'Properties' is invalid.".into()),
    };
    let e = Event {
        id: format!("{fn_id}{ev_id}"),
        source: fn_id,
        p,
        target,
        attrs,
    };
    match kind {
        "HttpApi" => http_api::add_route(t, &e, ev_id),
        "S3" => e.s3(t),
        "SNS" => e.sns(t),
        "SQS" => e.mapping(t, "Queue", &[], role, "service-role/AWSLambdaSQSQueueExecutionRole"),
        "DynamoDB" => e.mapping(
            t,
            "Stream",
            &["StartingPosition"],
            role,
            "service-role/AWSLambdaDynamoDBExecutionRole",
        ),
        "Schedule" => e.rule(t, "Schedule"),
        "EventBridgeRule" | "CloudWatchEvent" => e.rule(t, "Pattern"),
        "ScheduleV2" => e.schedule_v2(t),
        "Api" => Err("Api events (REST APIs, API Gateway v1) are not supported; use an HttpApi event (API Gateway v2 HTTP APIs) instead.".into()),
        "Kinesis" | "MSK" | "MQ" | "SelfManagedKafka" | "DocumentDB" | "CloudWatchLogs" | "IoTRule"
        | "AlexaSkill" | "Cognito" => Err(format!("Event type {kind} is not supported by this transform.")),
        _ => Err(format!(
            "Resource dict has missing or invalid value for key Type. Event Type is: {kind}."
        )),
    }
}

pub(crate) struct Event<'e> {
    /// `<Function><Event>`, the prefix of every generated id.
    pub id: String,
    pub source: &'e str,
    pub p: &'e Map<String, Value>,
    pub target: &'e Target,
    pub attrs: &'e Attrs,
}

impl Event<'_> {
    pub(crate) fn required(&self, name: &str) -> Result<&Value, Invalid> {
        self.p
            .get(name)
            // SAM names the event's resource (`<Fn><Event>`) in this one.
            .ok_or_else(|| {
                format!(
                    "{RESOURCE_ERROR}{}] is invalid. Missing required property '{name}'.",
                    self.id
                )
            })
    }

    pub(crate) fn add(&self, t: &mut Translator, id: &str, r: Value) -> Result<(), Invalid> {
        t.add_child(self.source, id, r, self.attrs)
    }

    fn permission(
        &self,
        t: &mut Translator,
        principal: &str,
        source: Option<(&str, Value)>,
    ) -> Result<(), Invalid> {
        let perm = permission(principal, &self.target.name, source);
        self.add(t, &format!("{}Permission", self.id), perm)
    }

    fn s3(&self, t: &mut Translator) -> Result<(), Invalid> {
        let bucket = self.required("Bucket")?;
        let events = self.required("Events")?;
        let bucket_id = ref_to_kind(t.input, bucket, "AWS::S3::Bucket")
            .ok_or("S3 events must reference an S3 bucket in the same template.")?
            .to_string();
        let permission_id = format!("{}Permission", self.id);
        self.permission(
            t,
            "s3.amazonaws.com",
            Some(("SourceAccount", account_ref())),
        )?;
        let events: Vec<Value> = match events {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let bucket = t
            .out
            .get_mut(&bucket_id)
            .and_then(Value::as_object_mut)
            .ok_or("S3 events must reference an S3 bucket in the same template.")?;
        let props = bucket
            .entry("Properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("The bucket's Properties must be an object.")?;
        let condition = self.attrs.condition.clone();
        if let Some(cond) = &condition {
            // A conditional function cannot be a DependsOn of an unconditional bucket; SAM
            // makes the dependency through a tag whose value refers to the permission.
            let tags = props
                .entry("Tags")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or("The bucket's Tags must be a list.")?;
            tags.push(json!({
                "Key": format!("sam:ConditionalDependsOn:{permission_id}"),
                "Value": { "Fn::If": [cond, { "Ref": permission_id }, "no dependency"] }
            }));
        }
        let config = props
            .entry("NotificationConfiguration")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("The bucket's NotificationConfiguration must be an object.")?;
        let list = config
            .entry("LambdaConfigurations")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("The bucket's LambdaConfigurations must be a list.")?;
        for event in events {
            let mut c = Map::new();
            c.insert("Event".into(), event);
            if let Some(f) = self.p.get("Filter") {
                c.insert("Filter".into(), f.clone());
            }
            c.insert("Function".into(), self.target.arn.clone());
            list.push(match &condition {
                Some(cond) => json!({ "Fn::If": [cond, c, { "Ref": "AWS::NoValue" }] }),
                None => Value::Object(c),
            });
        }
        if condition.is_none() {
            // The bucket waits for the permission: S3 checks it when the notification is set.
            let depends = match bucket.remove("DependsOn") {
                None => vec![json!(permission_id)],
                Some(Value::Array(mut a)) => {
                    a.push(json!(permission_id));
                    a
                }
                Some(one) => vec![one, json!(permission_id)],
            };
            bucket.insert("DependsOn".into(), Value::Array(depends));
        }
        Ok(())
    }

    fn sns(&self, t: &mut Translator) -> Result<(), Invalid> {
        let topic = self.required("Topic")?.clone();
        if self.p.contains_key("SqsSubscription") {
            return Err("SqsSubscription is not supported by this transform.".into());
        }
        let mut s = Map::new();
        s.insert("Endpoint".into(), self.target.arn.clone());
        s.insert("Protocol".into(), json!("lambda"));
        s.insert("TopicArn".into(), topic.clone());
        copy_props(
            self.p,
            &mut s,
            &[
                "FilterPolicy",
                "FilterPolicyScope",
                "Region",
                "RedrivePolicy",
            ],
        );
        self.add(t, &self.id, resource("AWS::SNS::Subscription", s))?;
        self.permission(t, "sns.amazonaws.com", Some(("SourceArn", topic)))
    }

    /// An event source mapping (SQS, DynamoDB), and the managed policy that lets it read.
    fn mapping(
        &self,
        t: &mut Translator,
        source: &str,
        required: &[&str],
        role: Role,
        policy: &str,
    ) -> Result<(), Invalid> {
        let arn = self.required(source)?.clone();
        for r in required {
            self.required(r)?;
        }
        let mut m = Map::new();
        m.insert("EventSourceArn".into(), arn);
        m.insert("FunctionName".into(), self.target.name.clone());
        copy_props(
            self.p,
            &mut m,
            &[
                "BatchSize",
                "Enabled",
                "StartingPosition",
                "StartingPositionTimestamp",
                "MaximumBatchingWindowInSeconds",
                "MaximumRetryAttempts",
                "MaximumRecordAgeInSeconds",
                "BisectBatchOnFunctionError",
                "ParallelizationFactor",
                "TumblingWindowInSeconds",
                "DestinationConfig",
                "FunctionResponseTypes",
                "FilterCriteria",
                "ScalingConfig",
                "KmsKeyArn",
                "MetricsConfig",
            ],
        );
        self.add(t, &self.id, resource("AWS::Lambda::EventSourceMapping", m))?;
        if let Some((_, role)) = role {
            let arn = json!(policies::managed_policy_arn(
                policy.rsplit('/').next().unwrap_or(policy),
                t.ctx
            ));
            if let Some(list) = role["Properties"]["ManagedPolicyArns"].as_array_mut() {
                if !list.contains(&arn) {
                    list.push(arn);
                }
            }
        }
        Ok(())
    }

    /// An EventBridge rule on a schedule (`what` = `Schedule`) or a pattern, targeting the
    /// function.
    fn rule(&self, t: &mut Translator, what: &str) -> Result<(), Invalid> {
        let mut r = Map::new();
        if what == "Schedule" {
            r.insert(
                "ScheduleExpression".into(),
                self.required("Schedule")?.clone(),
            );
        } else if let Some(pattern) = self.p.get("Pattern") {
            // Optional to SAM: CloudFormation then asks for a pattern or a schedule.
            r.insert("EventPattern".into(), pattern.clone());
        }
        if self.p.contains_key("State") && self.p.contains_key("Enabled") {
            return Err("State and Enabled Properties cannot both be specified.".into());
        }
        copy_props(self.p, &mut r, &["State", "Description", "EventBusName"]);
        if let Some(name) = self.p.get("Name").or_else(|| self.p.get("RuleName")) {
            r.insert("Name".into(), name.clone());
        }
        if let Some(enabled) = self.p.get("Enabled").and_then(Value::as_bool) {
            r.insert(
                "State".into(),
                json!(if enabled { "ENABLED" } else { "DISABLED" }),
            );
        }
        let target_id = self
            .p
            .get("Target")
            .and_then(|t| t.get("Id"))
            .cloned()
            .unwrap_or_else(|| json!(format!("{}LambdaTarget", self.id)));
        let mut target = Map::new();
        target.insert("Arn".into(), self.target.arn.clone());
        target.insert("Id".into(), target_id);
        copy_props(
            self.p,
            &mut target,
            &["Input", "InputPath", "InputTransformer", "RetryPolicy"],
        );
        if let Some(dlq) = self.p.get("DeadLetterConfig").and_then(|d| d.get("Arn")) {
            target.insert("DeadLetterConfig".into(), json!({ "Arn": dlq }));
        }
        r.insert("Targets".into(), json!([target]));
        self.add(t, &self.id, resource("AWS::Events::Rule", r))?;
        self.permission(
            t,
            "events.amazonaws.com",
            Some(("SourceArn", get_att(&self.id, "Arn"))),
        )
    }

    /// An EventBridge Scheduler schedule, and the role Scheduler assumes to invoke the function.
    fn schedule_v2(&self, t: &mut Translator) -> Result<(), Invalid> {
        let expression = self.required("ScheduleExpression")?.clone();
        let mut s = Map::new();
        s.insert("ScheduleExpression".into(), expression);
        s.insert(
            "Name".into(),
            self.p
                .get("Name")
                .cloned()
                .unwrap_or_else(|| json!(self.id)),
        );
        s.insert(
            "FlexibleTimeWindow".into(),
            self.p
                .get("FlexibleTimeWindow")
                .cloned()
                .unwrap_or_else(|| json!({ "Mode": "OFF" })),
        );
        copy_props(
            self.p,
            &mut s,
            &[
                "Description",
                "GroupName",
                "State",
                "StartDate",
                "EndDate",
                "ScheduleExpressionTimezone",
                "KmsKeyArn",
            ],
        );
        let role_arn = match self.p.get("RoleArn") {
            Some(arn) => arn.clone(),
            None => {
                let role_id = format!("{}Role", self.id);
                let role = json!({
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": assume_role("scheduler.amazonaws.com"),
                        "Policies": [{
                            "PolicyName": format!("{}LambdaPolicy", self.id),
                            "PolicyDocument": { "Statement": [{
                                "Action": "lambda:InvokeFunction",
                                "Effect": "Allow",
                                "Resource": self.target.arn,
                            }]}
                        }]
                    }
                });
                self.add(t, &role_id, role)?;
                get_att(&role_id, "Arn")
            }
        };
        let mut target = Map::new();
        target.insert("Arn".into(), self.target.arn.clone());
        target.insert("RoleArn".into(), role_arn);
        copy_props(self.p, &mut target, &["Input", "RetryPolicy"]);
        if let Some(dlq) = self.p.get("DeadLetterConfig").and_then(|d| d.get("Arn")) {
            target.insert("DeadLetterConfig".into(), json!({ "Arn": dlq }));
        }
        s.insert("Target".into(), Value::Object(target));
        self.add(t, &self.id, resource("AWS::Scheduler::Schedule", s))
    }
}

/// True when `v` is `{"Ref": id}` of an `AWS::Serverless::HttpApi` of the template.
pub(crate) fn http_api_ref<'v>(t: &Translator, v: &'v Value) -> Option<&'v str> {
    let id = v
        .as_object()
        .filter(|m| m.len() == 1)?
        .get("Ref")?
        .as_str()?;
    (kind_of(t.input.get(id)?) == "AWS::Serverless::HttpApi").then_some(id)
}
