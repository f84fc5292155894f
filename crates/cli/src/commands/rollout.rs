//! `stratus rollout N --alias A --to V [--canary P%/Mm | --linear P%/Mm] [--rollback-on R]`:
//! a CodeDeploy rollout of version V on alias A, made through the APIs a user would call
//! (an application `stratus-N`, a deployment group named after the alias, a configuration,
//! an alarm on the new version's errors), and `stratus rollout status N`: the alias's weights,
//! the latest deployment, and each version's error rate over the last 15 minutes.

use http::Method;
use serde_json::{json, Value};

use super::{function_path, progress};
use crate::client::{enc, Client, Error};

/// The role named in the deployment group (CodeDeploy requires one; Stratus does not assume it).
const SERVICE_ROLE: &str = "arn:aws:iam::000000000000:role/stratus-codedeploy";

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub status: Option<StatusCommand>,
    /// Function name.
    #[arg(required = true)]
    pub name: Option<String>,
    /// The alias whose traffic moves.
    #[arg(long, default_value = "live")]
    pub alias: String,
    /// The version to move the alias to.
    #[arg(long, required = true)]
    pub to: Option<String>,
    /// A canary: this share first, the rest after the interval, e.g. 10%/5m.
    #[arg(long, conflicts_with = "linear")]
    pub canary: Option<String>,
    /// Linear steps: this share more every interval, e.g. 10%/1m.
    #[arg(long)]
    pub linear: Option<String>,
    /// Roll back when the new version's errors exceed this: `errors>2%` (a share of its
    /// invocations, a metric-math alarm) or `errors>5` (a count per minute).
    #[arg(long)]
    pub rollback_on: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum StatusCommand {
    /// The alias's weights, the latest rollout and each version's error rate.
    Status {
        /// Function name.
        name: String,
        /// The alias.
        #[arg(long, default_value = "live")]
        alias: String,
    },
}

impl Args {
    /// The function the command is about.
    pub fn function(&self) -> Option<&str> {
        match &self.status {
            Some(StatusCommand::Status { name, .. }) => Some(name),
            None => self.name.as_deref(),
        }
    }
}

/// A `P%/Mm` step: percent and minutes.
fn parse_step(flag: &str, s: &str) -> Result<(u32, u32), Error> {
    let bad = || {
        Error::other(format!(
            "--{flag} {s}: expected PERCENT%/MINUTESm, e.g. 10%/5m"
        ))
    };
    let (p, m) = s.split_once('/').ok_or_else(bad)?;
    let p: u32 = p.trim().trim_end_matches('%').parse().map_err(|_| bad())?;
    let m = m.trim();
    let m = m.strip_suffix("min").or(m.strip_suffix('m')).unwrap_or(m);
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=99).contains(&p) || m == 0 {
        return Err(bad());
    }
    Ok((p, m))
}

/// A `--rollback-on` rule: the threshold and whether it is a percentage.
fn parse_rule(s: &str) -> Result<(f64, bool), Error> {
    let bad = || Error::other(format!("--rollback-on {s}: expected errors>N% or errors>N"));
    let t = s
        .trim()
        .strip_prefix("errors")
        .ok_or_else(bad)?
        .trim_start();
    let t = t.strip_prefix('>').ok_or_else(bad)?.trim();
    let (n, pct) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let n: f64 = n.parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n, pct))
}

/// The configuration for the steps asked: a predefined one when it exists, else a custom one.
fn config_for(canary: Option<(u32, u32)>, linear: Option<(u32, u32)>) -> (String, Option<Value>) {
    let (kind, (p, m)) = match (canary, linear) {
        (Some(c), _) => ("Canary", c),
        (None, Some(l)) => ("Linear", l),
        (None, None) => return ("CodeDeployDefault.LambdaAllAtOnce".into(), None),
    };
    let predefined = match (kind, p, m) {
        ("Canary", 10, 5 | 10 | 15 | 30) => Some(format!("Canary10Percent{m}Minutes")),
        ("Linear", 10, 1) => Some("Linear10PercentEvery1Minute".to_string()),
        ("Linear", 10, 2 | 3 | 10) => Some(format!("Linear10PercentEvery{m}Minutes")),
        _ => None,
    };
    if let Some(name) = predefined {
        return (format!("CodeDeployDefault.Lambda{name}"), None);
    }
    let (name, routing) = if kind == "Canary" {
        (
            format!("StratusCanary{p}Percent{m}Minutes"),
            json!({"type": "TimeBasedCanary",
                   "timeBasedCanary": {"canaryPercentage": p, "canaryInterval": m}}),
        )
    } else {
        (
            format!("StratusLinear{p}PercentEvery{m}Minutes"),
            json!({"type": "TimeBasedLinear",
                   "timeBasedLinear": {"linearPercentage": p, "linearInterval": m}}),
        )
    };
    (name, Some(routing))
}

async fn codedeploy(client: &Client, op: &str, body: &Value) -> Result<Value, Error> {
    let target = format!("CodeDeploy_20141006.{op}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    client
        .json("codedeploy", Method::POST, "/", &headers, Some(body))
        .await
}

async fn cloudwatch(client: &Client, op: &str, body: &Value) -> Result<Value, Error> {
    let target = format!("GraniteServiceVersion20100801.{op}");
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target.as_str()),
    ];
    client
        .json("monitoring", Method::POST, "/", &headers, Some(body))
        .await
}

/// Runs a create call, taking "already exists" (`exists`) as success.
fn ensure(result: Result<Value, Error>, exists: &str) -> Result<bool, Error> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(exists) => Ok(false),
        Err(e) => Err(e),
    }
}

fn app_name(function: &str) -> String {
    format!("stratus-{function}")
}

fn alarm_name(function: &str, alias: &str) -> String {
    format!("stratus-rollout-{function}-{alias}")
}

fn version_dims(function: &str, alias: &str, version: &str) -> Value {
    json!([
        {"Name": "FunctionName", "Value": function},
        {"Name": "Resource", "Value": format!("{function}:{alias}")},
        {"Name": "ExecutedVersion", "Value": version},
    ])
}

/// The alarm `--rollback-on` asks for, on the new version's invocations through the alias.
fn alarm(function: &str, alias: &str, to: &str, threshold: f64, percent: bool) -> Value {
    let dims = version_dims(function, alias, to);
    let stat = |metric: &str| {
        json!({"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
               "Period": 60, "Stat": "Sum"})
    };
    let mut a = json!({
        "AlarmName": alarm_name(function, alias),
        "AlarmDescription": format!("Rolls back {function}:{alias} when version {to} fails"),
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    });
    if percent {
        a["Metrics"] = json!([
            {"Id": "errors", "MetricStat": stat("Errors"), "ReturnData": false},
            {"Id": "invocations", "MetricStat": stat("Invocations"), "ReturnData": false},
            {"Id": "rate", "Expression": "100*errors/invocations",
             "Label": "Error rate (%)", "ReturnData": true},
        ]);
    } else {
        a["Namespace"] = json!("AWS/Lambda");
        a["MetricName"] = json!("Errors");
        a["Dimensions"] = dims;
        a["Statistic"] = json!("Sum");
        a["Period"] = json!(60);
    }
    a
}

pub async fn run(client: &Client, args: Args) -> Result<bool, Error> {
    if let Some(StatusCommand::Status { name, alias }) = args.status {
        return status(client, &name, &alias).await.map(|()| true);
    }
    let (Some(function), Some(to)) = (args.name, args.to) else {
        return Err(Error::other("a function name and --to VERSION are needed"));
    };
    let alias = args.alias;
    let canary = args
        .canary
        .as_deref()
        .map(|s| parse_step("canary", s))
        .transpose()?;
    let linear = args
        .linear
        .as_deref()
        .map(|s| parse_step("linear", s))
        .transpose()?;
    let rule = args.rollback_on.as_deref().map(parse_rule).transpose()?;
    let path = format!("{}/aliases/{}", function_path(&function), enc(&alias));
    let current = client.lambda(Method::GET, &path, None).await?;
    let current = current["FunctionVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if current == to {
        return Err(Error::other(format!(
            "{function}:{alias} already points at version {to}"
        )));
    }
    let app = app_name(&function);
    let body = json!({"applicationName": app, "computePlatform": "Lambda"});
    let created = codedeploy(client, "CreateApplication", &body).await;
    ensure(created, "ApplicationAlreadyExistsException")?;
    let (config, routing) = config_for(canary, linear);
    if let Some(routing) = routing {
        let body = json!({"deploymentConfigName": config, "computePlatform": "Lambda",
                          "trafficRoutingConfig": routing});
        let made = codedeploy(client, "CreateDeploymentConfig", &body).await;
        ensure(made, "DeploymentConfigAlreadyExistsException")?;
    }
    let mut alarms = json!({"enabled": false, "alarms": []});
    if let Some((threshold, percent)) = rule {
        let name = alarm_name(&function, &alias);
        // A fresh alarm: one left in ALARM by an earlier rollout would stop this one at once.
        let gone = cloudwatch(client, "DeleteAlarms", &json!({"AlarmNames": [name]})).await;
        ensure(gone, "ResourceNotFound")?;
        let a = alarm(&function, &alias, &to, threshold, percent);
        cloudwatch(client, "PutMetricAlarm", &a).await?;
        progress(&format!(
            "Alarm {name}: {}",
            args.rollback_on.unwrap_or_default()
        ));
        alarms = json!({"enabled": true, "alarms": [{"name": name}]});
    }
    let group = json!({
        "applicationName": app,
        "deploymentGroupName": alias,
        "serviceRoleArn": SERVICE_ROLE,
        "deploymentConfigName": config,
        "alarmConfiguration": alarms,
        "autoRollbackConfiguration": {"enabled": true,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        "deploymentStyle": {"deploymentType": "BLUE_GREEN",
                            "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    });
    let made = codedeploy(client, "CreateDeploymentGroup", &group).await;
    if !ensure(made, "DeploymentGroupAlreadyExistsException")? {
        let mut update = group.clone();
        update["currentDeploymentGroupName"] = json!(alias);
        if let Some(m) = update.as_object_mut() {
            m.remove("deploymentGroupName");
        }
        codedeploy(client, "UpdateDeploymentGroup", &update).await?;
    }
    let spec = json!({"version": 0.0, "Resources": [{function.clone(): {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Name": function, "Alias": alias, "CurrentVersion": current,
                       "TargetVersion": to}}}]});
    let dep = codedeploy(
        client,
        "CreateDeployment",
        &json!({
            "applicationName": app,
            "deploymentGroupName": alias,
            "revision": {"revisionType": "String", "string": {"content": spec.to_string()}},
            "description": format!("stratus rollout {function} --alias {alias} --to {to}"),
        }),
    )
    .await?;
    progress(&format!(
        "Rolling {function}:{alias} from version {current} to {to} ({config}); \
         `stratus rollout status {function}` follows it"
    ));
    println!(
        "deployment: {}",
        dep["deploymentId"].as_str().unwrap_or_default()
    );
    Ok(true)
}

/// Sums a metric of one version over the last 15 minutes.
async fn version_sum(
    client: &Client,
    metric: &str,
    function: &str,
    alias: &str,
    version: &str,
) -> Result<f64, Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let got = cloudwatch(
        client,
        "GetMetricStatistics",
        &json!({
            "Namespace": "AWS/Lambda", "MetricName": metric,
            "Dimensions": version_dims(function, alias, version),
            "StartTime": now - 900, "EndTime": now + 60, "Period": 60, "Statistics": ["Sum"],
        }),
    )
    .await?;
    let points = got["Datapoints"].as_array().cloned().unwrap_or_default();
    Ok(points.iter().filter_map(|p| p["Sum"].as_f64()).sum())
}

async fn status(client: &Client, function: &str, alias: &str) -> Result<(), Error> {
    let path = format!("{}/aliases/{}", function_path(function), enc(alias));
    let a = client.lambda(Method::GET, &path, None).await?;
    let main = a["FunctionVersion"].as_str().unwrap_or("").to_string();
    let mut weights: Vec<(String, f64)> = Vec::new();
    if let Some(w) = a["RoutingConfig"]["AdditionalVersionWeights"].as_object() {
        weights.extend(
            w.iter()
                .map(|(v, w)| (v.clone(), w.as_f64().unwrap_or(0.0))),
        );
    }
    let rest: f64 = 1.0 - weights.iter().map(|(_, w)| w).sum::<f64>();
    weights.insert(0, (main.clone(), rest));
    println!("alias:      {function}:{alias}");
    let latest = codedeploy(
        client,
        "ListDeployments",
        &json!({
        "applicationName": app_name(function), "deploymentGroupName": alias}),
    )
    .await;
    let latest = match latest {
        Ok(l) => l["deployments"][0].as_str().map(str::to_string),
        Err(e)
            if e.code() == Some("ApplicationDoesNotExistException")
                || e.code() == Some("DeploymentGroupDoesNotExistException") =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let mut versions: Vec<String> = weights.iter().map(|(v, _)| v.clone()).collect();
    match latest {
        Some(id) => {
            let d = codedeploy(client, "GetDeployment", &json!({"deploymentId": id})).await?;
            let d = &d["deploymentInfo"];
            println!(
                "deployment: {id} {} ({})",
                d["status"].as_str().unwrap_or(""),
                d["deploymentConfigName"].as_str().unwrap_or("")
            );
            if let Some(code) = d["errorInformation"]["code"].as_str() {
                println!(
                    "error:      {code}: {}",
                    d["errorInformation"]["message"].as_str().unwrap_or("")
                );
            }
            let t = codedeploy(
                client,
                "GetDeploymentTarget",
                &json!({
                "deploymentId": id, "targetId": format!("{function}:{alias}")}),
            )
            .await?;
            let info = &t["deploymentTarget"]["lambdaTarget"]["lambdaFunctionInfo"];
            for key in ["currentVersion", "targetVersion"] {
                if let Some(v) = info[key]
                    .as_str()
                    .filter(|v| !versions.iter().any(|x| x == v))
                {
                    versions.push(v.to_string());
                }
            }
        }
        None => println!("deployment: none"),
    }
    println!();
    println!(
        "{:<10} {:>7} {:>12} {:>7} {:>11}",
        "VERSION", "WEIGHT", "INVOCATIONS", "ERRORS", "ERROR RATE"
    );
    for v in versions {
        let weight = weights
            .iter()
            .find(|(x, _)| *x == v)
            .map_or(0.0, |(_, w)| *w);
        let invocations = version_sum(client, "Invocations", function, alias, &v).await?;
        let errors = version_sum(client, "Errors", function, alias, &v).await?;
        let rate = if invocations > 0.0 {
            format!("{:.1}%", 100.0 * errors / invocations)
        } else {
            "-".into()
        };
        println!(
            "{v:<10} {:>6.0}% {invocations:>12} {errors:>7} {rate:>11}",
            weight * 100.0
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_rules_parse() {
        assert_eq!(parse_step("canary", "10%/5m").unwrap(), (10, 5));
        assert_eq!(parse_step("linear", "25%/2").unwrap(), (25, 2));
        assert!(parse_step("canary", "0%/5m").is_err());
        assert!(parse_step("canary", "10%").is_err());
        assert_eq!(parse_rule("errors>2%").unwrap(), (2.0, true));
        assert_eq!(parse_rule("errors > 5").unwrap(), (5.0, false));
        assert!(parse_rule("latency>2").is_err());
    }

    #[test]
    fn predefined_configurations_are_used_when_they_fit() {
        let (name, custom) = config_for(Some((10, 5)), None);
        assert_eq!(name, "CodeDeployDefault.LambdaCanary10Percent5Minutes");
        assert!(custom.is_none());
        let (name, _) = config_for(None, Some((10, 1)));
        assert_eq!(name, "CodeDeployDefault.LambdaLinear10PercentEvery1Minute");
        let (name, custom) = config_for(Some((20, 1)), None);
        assert_eq!(name, "StratusCanary20Percent1Minutes");
        assert_eq!(custom.unwrap()["timeBasedCanary"]["canaryPercentage"], 20);
        assert_eq!(
            config_for(None, None).0,
            "CodeDeployDefault.LambdaAllAtOnce"
        );
    }
}
