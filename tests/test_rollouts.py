"""CodeDeploy for Lambda as boto3's `codedeploy` client uses it, with the platform driving the
rollouts: a version failing a third of its invocations under steady traffic is rolled back by
an alarm on its errors, a good one ends at 100 % after a canary share seen mid-way, a failing
BeforeAllowTraffic hook stops a rollout before traffic moves, a restarted server resumes a
rollout, and the management operations answer with AWS's shapes and errors.

Minutes last a second here (STRATUS_MINUTE_MS), and alarms are evaluated every 500 ms."""

import json
import os
import subprocess
import threading

import pytest
from botocore.exceptions import ClientError

from conftest import stratus_binary
from helpers import ROLE, invoke, make_client, make_zip, unique_name, wait_until

MINUTE_MS = "1000"
ENV = {"STRATUS_MINUTE_MS": MINUTE_MS, "STRATUS_ALARM_EVALUATION_MS": "500"}
SERVICE_ROLE = "arn:aws:iam::000000000000:role/codedeploy-role"

GOOD = "def handler(event, context):\n    return {'ok': True}\n"
# Fails every third invocation of each environment: about 30 % of its traffic.
BAD = (
    "n = 0\n"
    "def handler(event, context):\n"
    "    global n\n"
    "    n += 1\n"
    "    if n % 3 == 0:\n"
    "        raise RuntimeError('bad version')\n"
    "    return {'ok': True}\n"
)
HOOK = (
    "import os, boto3\n"
    "def handler(event, context):\n"
    "    boto3.client('codedeploy').put_lifecycle_event_hook_execution_status(\n"
    "        deploymentId=event['DeploymentId'],\n"
    "        lifecycleEventHookExecutionId=event['LifecycleEventHookExecutionId'],\n"
    "        status=os.environ['REPORT'])\n"
)


@pytest.fixture(scope="module")
def platform(module_server_factory):
    return module_server_factory(env=ENV)


def clients(srv):
    return (make_client(srv.url, "lambda"), make_client(srv.url, "codedeploy"),
            make_client(srv.url, "cloudwatch"))


def create_function(lam, code, name=None, env=None):
    name = name or unique_name("ro")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": code})},
                        Environment={"Variables": env or {}})
    wait_until(lambda: lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active",
               30, message="function active")
    return name


def two_versions(lam, second=GOOD + "# version 2\n"):
    """A function with version 1 (good), version 2 (`second`, good by default) and alias
    `live` on 1."""
    name = create_function(lam, GOOD)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": second}))
    wait_until(lambda: lam.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"]
               == "Successful", 30, message="code updated")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def appspec(fn, before=None, after=None, as_yaml=False):
    hooks = [h for h in ({"BeforeAllowTraffic": before}, {"AfterAllowTraffic": after})
             if list(h.values())[0]]
    if as_yaml:
        text = ("version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n"
                f"      Properties:\n        Name: {fn}\n        Alias: live\n"
                "        CurrentVersion: 1\n        TargetVersion: 2\n")
        if hooks:
            text += "Hooks:\n" + "".join(f"  - {k}: {v}\n" for h in hooks for k, v in h.items())
        return {"revisionType": "AppSpecContent", "appSpecContent": {"content": text}}
    spec = {"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": fn, "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}}],
            "Hooks": hooks}
    return {"revisionType": "String", "string": {"content": json.dumps(spec)}}


def group(cd, config, alarms=(), app=None):
    app = app or unique_name("app")
    cd.create_application(applicationName=app, computePlatform="Lambda")
    args = {"applicationName": app, "deploymentGroupName": "g", "serviceRoleArn": SERVICE_ROLE,
            "deploymentConfigName": config,
            "deploymentStyle": {"deploymentType": "BLUE_GREEN",
                                "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "autoRollbackConfiguration": {"enabled": True,
                                          "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}}
    if alarms:
        args["alarmConfiguration"] = {"enabled": True, "alarms": [{"name": a} for a in alarms]}
    cd.create_deployment_group(**args)
    return app


def deployment(cd, dep_id):
    return cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]


def finished(cd, dep_id, timeout=60):
    return wait_until(
        lambda: (d := deployment(cd, dep_id))["status"] in ("Succeeded", "Failed", "Stopped") and d,
        timeout, interval=0.2, message=lambda: f"deployment over: {deployment(cd, dep_id)}")


def alias(lam, fn):
    a = lam.get_alias(FunctionName=fn, Name="live")
    return a["FunctionVersion"], a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


class Traffic:
    """A thread invoking the alias steadily until stopped."""

    def __init__(self, srv, fn):
        self.lam = make_client(srv.url, "lambda")
        self.fn = fn
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                invoke(self.lam, self.fn, {}, Qualifier="live", tail=False)
            except Exception as e:  # noqa: BLE001 - kept to fail the test after the join
                self.errors.append(e)
            self.stop.wait(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_a_version_failing_a_third_of_its_invocations_is_rolled_back_by_its_alarm(platform):
    lam, cd, cw = clients(platform)
    fn = two_versions(lam, BAD)
    alarm = unique_name("errors")
    # A 10 s period: alarms judge complete periods only, and the shortened minute does not
    # shorten an alarm's period, so a 60 s one could end after the canary has.
    cw.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum", Period=10,
        EvaluationPeriods=1, Threshold=2.0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        Dimensions=[{"Name": "FunctionName", "Value": fn}, {"Name": "Resource", "Value": f"{fn}:live"},
                    {"Name": "ExecutedVersion", "Value": "2"}])
    # A 30-minute canary (30 s here): the alarm must end it long before.
    app = group(cd, "CodeDeployDefault.LambdaCanary10Percent30Minutes", alarms=[alarm])
    with Traffic(platform, fn) as traffic:
        dep = cd.create_deployment(applicationName=app, deploymentGroupName="g",
                                   revision=appspec(fn))["deploymentId"]
        wait_until(lambda: alias(lam, fn) == ("1", {"2": 0.1}), 20, message="canary weight")
        info = finished(cd, dep, timeout=40)
    assert not traffic.errors, traffic.errors[:3]
    assert info["status"] == "Failed", info
    assert info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert info["errorInformation"]["message"].endswith(f"Activated alarms: {alarm}")
    assert "rollbackMessage" in info["rollbackInfo"]
    assert info["deploymentOverview"]["Failed"] == 1
    assert alias(lam, fn) == ("1", {}), "the alias is back on the current version"


def test_a_good_version_completes_through_its_hooks_with_the_canary_seen_midway(platform):
    lam, cd, _ = clients(platform)
    fn = two_versions(lam)
    before = create_function(lam, HOOK, env={"REPORT": "Succeeded"})
    after = create_function(lam, HOOK, env={"REPORT": "Succeeded"})
    app = group(cd, "CodeDeployDefault.LambdaCanary10Percent5Minutes")
    with Traffic(platform, fn) as traffic:
        dep = cd.create_deployment(applicationName=app, deploymentGroupName="g",
                                   revision=appspec(fn, before, after, as_yaml=True),
                                   description="ship v2")["deploymentId"]
        wait_until(lambda: alias(lam, fn) == ("1", {"2": 0.1}), 30, message="canary weight")
        expected = {"functionName": fn, "functionAlias": "live", "currentVersion": "1",
                    "targetVersion": "2", "targetVersionWeight": 0.1}
        wait_until(lambda: cd.get_deployment_target(deploymentId=dep, targetId=f"{fn}:live")[
            "deploymentTarget"]["lambdaTarget"]["lambdaFunctionInfo"] == expected, 10,
            message="the target's weight")
        done = finished(cd, dep)
    assert not traffic.errors, traffic.errors[:3]
    assert done["status"] == "Succeeded", done
    assert "errorInformation" not in done
    assert done["description"] == "ship v2" and done["creator"] == "user"
    assert done["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert done["deploymentOverview"]["Succeeded"] == 1
    assert done["completeTime"] >= done["startTime"] >= done["createTime"]
    assert alias(lam, fn) == ("2", {})
    events = cd.get_deployment_target(deploymentId=dep, targetId=f"{fn}:live")[
        "deploymentTarget"]["lambdaTarget"]["lifecycleEvents"]
    assert [(e["lifecycleEventName"], e["status"]) for e in events] == [
        ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "Succeeded"),
        ("AfterAllowTraffic", "Succeeded")]
    assert cd.list_deployments(applicationName=app, deploymentGroupName="g",
                               includeOnlyStatuses=["Succeeded"])["deployments"] == [dep]


def test_a_failing_before_allow_traffic_hook_stops_the_rollout_before_traffic_moves(platform):
    lam, cd, _ = clients(platform)
    fn = two_versions(lam)
    before = create_function(lam, HOOK, env={"REPORT": "Failed"})
    app = group(cd, "CodeDeployDefault.LambdaAllAtOnce")
    dep = cd.create_deployment(applicationName=app, deploymentGroupName="g",
                               revision=appspec(fn, before))["deploymentId"]
    info = finished(cd, dep)
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert "rollbackInfo" not in info, "no traffic had moved"
    assert alias(lam, fn) == ("1", {})
    events = cd.get_deployment_target(deploymentId=dep, targetId=f"{fn}:live")[
        "deploymentTarget"]["lambdaTarget"]["lifecycleEvents"]
    assert [e["status"] for e in events] == ["Failed", "Skipped", "Skipped"]


def test_stop_deployment_rolls_the_alias_back(platform):
    lam, cd, _ = clients(platform)
    fn = two_versions(lam)
    app = group(cd, "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes")
    dep = cd.create_deployment(applicationName=app, deploymentGroupName="g",
                               revision=appspec(fn))["deploymentId"]
    wait_until(lambda: alias(lam, fn) == ("1", {"2": 0.1}), 20, message="first linear step")
    # A second deployment in the group waits for this one.
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName=app, deploymentGroupName="g", revision=appspec(fn))
    assert e.value.response["Error"]["Code"] == "DeploymentLimitExceededException"
    got = cd.stop_deployment(deploymentId=dep)
    assert got["status"] == "Pending"
    info = finished(cd, dep)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    assert alias(lam, fn) == ("1", {})
    with pytest.raises(ClientError) as e:
        cd.stop_deployment(deploymentId=dep)
    assert e.value.response["Error"]["Code"] == "DeploymentAlreadyCompletedException"


def test_a_restarted_server_resumes_a_rollout(server_factory):
    srv = server_factory(env=ENV)
    lam, cd, _ = clients(srv)
    fn = two_versions(lam)
    cd.create_deployment_config(
        deploymentConfigName="Canary20Percent4Minutes", computePlatform="Lambda",
        trafficRoutingConfig={"type": "TimeBasedCanary",
                              "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 4}})
    app = group(cd, "Canary20Percent4Minutes")
    dep = cd.create_deployment(applicationName=app, deploymentGroupName="g",
                               revision=appspec(fn))["deploymentId"]
    wait_until(lambda: alias(lam, fn) == ("1", {"2": 0.2}), 20, message="canary weight")
    assert deployment(cd, dep)["status"] == "InProgress"
    srv.stop()
    srv = server_factory(data_dir=srv.data_dir, env=ENV)
    lam, cd, _ = clients(srv)
    info = finished(cd, dep)
    assert info["status"] == "Succeeded", info
    assert alias(lam, fn) == ("2", {})


def code_of(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_management_operations_answer_with_aws_shapes_and_errors(platform):
    _, cd, _ = clients(platform)
    app = unique_name("app")
    app_id = cd.create_application(applicationName=app, computePlatform="Lambda")["applicationId"]
    got = cd.get_application(applicationName=app)["application"]
    assert got["applicationId"] == app_id and got["computePlatform"] == "Lambda"
    assert got["linkedToGitHub"] is False and "createTime" in got
    assert app in cd.list_applications()["applications"]
    assert code_of(cd.create_application, applicationName=app, computePlatform="Lambda")[0] == \
        "ApplicationAlreadyExistsException"
    assert code_of(cd.create_application, applicationName=unique_name("s"),
                   computePlatform="Server")[0] == "InvalidComputePlatformException"
    assert code_of(cd.get_application, applicationName="nope-" + app) == (
        "ApplicationDoesNotExistException", f"No application found for name: nope-{app}")

    # Deployment groups.
    base = {"applicationName": app, "serviceRoleArn": SERVICE_ROLE}
    assert code_of(cd.create_deployment_group, deploymentGroupName="g", applicationName=app,
                   serviceRoleArn="nope")[0] == "InvalidRoleException"
    assert code_of(cd.create_deployment_group, deploymentGroupName="g",
                   deploymentConfigName="NoSuchConfig", **base)[0] == \
        "DeploymentConfigDoesNotExistException"
    assert code_of(cd.create_deployment_group, deploymentGroupName="g",
                   deploymentStyle={"deploymentType": "IN_PLACE",
                                    "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}, **base)[0] == \
        "InvalidDeploymentStyleException"
    gid = cd.create_deployment_group(deploymentGroupName="g", **base)["deploymentGroupId"]
    info = cd.get_deployment_group(applicationName=app, deploymentGroupName="g")["deploymentGroupInfo"]
    assert info["deploymentGroupId"] == gid
    assert info["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN",
                                       "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert info["computePlatform"] == "Lambda" and info["serviceRoleArn"] == SERVICE_ROLE
    assert code_of(cd.create_deployment_group, deploymentGroupName="g", **base)[0] == \
        "DeploymentGroupAlreadyExistsException"
    cd.update_deployment_group(applicationName=app, currentDeploymentGroupName="g",
                               newDeploymentGroupName="h",
                               deploymentConfigName="CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
    assert cd.list_deployment_groups(applicationName=app)["deploymentGroups"] == ["h"]
    assert code_of(cd.get_deployment_group, applicationName=app, deploymentGroupName="g")[0] == \
        "DeploymentGroupDoesNotExistException"

    # Configurations.
    configs = cd.list_deployment_configs()["deploymentConfigsList"]
    assert "CodeDeployDefault.LambdaCanary10Percent5Minutes" in configs
    canary = cd.get_deployment_config(
        deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent15Minutes")["deploymentConfigInfo"]
    assert canary["trafficRoutingConfig"] == {
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 15}}
    name = unique_name("Linear")
    cd.create_deployment_config(deploymentConfigName=name, computePlatform="Lambda",
                                trafficRoutingConfig={"type": "TimeBasedLinear", "timeBasedLinear": {
                                    "linearPercentage": 25, "linearInterval": 2}})
    assert cd.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"][
        "trafficRoutingConfig"]["timeBasedLinear"] == {"linearPercentage": 25, "linearInterval": 2}
    assert code_of(cd.create_deployment_config, deploymentConfigName=unique_name("bad"),
                   computePlatform="Lambda", trafficRoutingConfig={
                       "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 0,
                                                                      "canaryInterval": 1}})[0] == \
        "InvalidTrafficRoutingConfigurationException"
    cd.delete_deployment_config(deploymentConfigName=name)
    assert code_of(cd.get_deployment_config, deploymentConfigName=name)[0] == \
        "DeploymentConfigDoesNotExistException"

    # Deployments.
    assert code_of(cd.create_deployment, applicationName=app, deploymentGroupName="h",
                   revision={"revisionType": "String", "string": {"content": "Resources: []"}})[0] == \
        "InvalidRevisionException"
    assert code_of(cd.get_deployment, deploymentId="d-NOTTHERE1")[0] == \
        "DeploymentDoesNotExistException"
    assert code_of(cd.put_lifecycle_event_hook_execution_status, deploymentId="d-NOTTHERE1",
                   lifecycleEventHookExecutionId="x", status="Succeeded")[0] == \
        "DeploymentDoesNotExistException"
    cd.delete_deployment_group(applicationName=app, deploymentGroupName="h")
    cd.delete_application(applicationName=app)
    assert app not in cd.list_applications()["applications"]


def stratus(srv, *args):
    """Runs `stratus ARGS` against `srv` as a user would; the completed process (text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_"))}
    env["STRATUS_ENDPOINT"] = srv.url
    return subprocess.run([stratus_binary(), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_stratus_rollout_moves_the_alias_and_status_shows_it(platform):
    lam, cd, cw = clients(platform)
    fn = two_versions(lam)
    out = stratus(platform, "rollout", fn, "--alias", "live", "--to", "2", "--canary", "20%/3m",
                  "--rollback-on", "errors>5")
    assert out.returncode == 0, out.stderr
    dep = out.stdout.strip().removeprefix("deployment: ")
    info = deployment(cd, dep)
    assert info["applicationName"] == f"stratus-{fn}" and info["deploymentGroupName"] == "live"
    assert info["deploymentConfigName"] == "StratusCanary20Percent3Minutes"
    assert info["overrideAlarmConfiguration"]["alarms"] == [{"name": f"stratus-rollout-{fn}-live"}]
    alarm = cw.describe_alarms(AlarmNames=[f"stratus-rollout-{fn}-live"])["MetricAlarms"][0]
    assert alarm["MetricName"] == "Errors" and alarm["Threshold"] == 5.0
    assert {"Name": "ExecutedVersion", "Value": "2"} in alarm["Dimensions"]
    wait_until(lambda: alias(lam, fn) == ("1", {"2": 0.2}), 20, message="canary weight")
    for _ in range(3):
        invoke(lam, fn, {}, Qualifier="live", tail=False)
    status = stratus(platform, "rollout", "status", fn)
    assert status.returncode == 0, status.stderr
    assert f"deployment: {dep} InProgress (StratusCanary20Percent3Minutes)" in status.stdout
    lines = status.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("VERSION")) + 1:]
    rows = {line.split()[0]: line.split()[1:] for line in table if line}
    assert rows["1"][0] == "80%" and rows["2"][0] == "20%", status.stdout
    assert finished(cd, dep)["status"] == "Succeeded"
    assert alias(lam, fn) == ("2", {})
    again = stratus(platform, "rollout", fn, "--alias", "live", "--to", "2")
    assert again.returncode != 0 and "already points at version 2" in again.stderr


# --- SAM's DeploymentPreference: a stack update that moves an alias runs a deployment ---

def sam_template(code, hook_report):
    """A SAM app: `Fn` (AutoPublishAlias live, a 10 % canary for 5 minutes, a PreTraffic hook)
    and the hook, reporting `hook_report`."""
    return json.dumps({
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
                "InlineCode": code, "Handler": "index.handler", "Runtime": "python3.12",
                "AutoPublishAlias": "live",
                "DeploymentPreference": {"Type": "Canary10Percent5Minutes",
                                         "Hooks": {"PreTraffic": {"Ref": "PreHook"}}}}},
            "PreHook": {"Type": "AWS::Serverless::Function", "Properties": {
                "InlineCode": HOOK, "Handler": "index.handler", "Runtime": "python3.12",
                "Environment": {"Variables": {"REPORT": hook_report}},
                "Policies": [{"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Resource": "*",
                    "Action": "codedeploy:PutLifecycleEventHookExecutionStatus"}]}]}},
        },
    })


def deploy(cfn, stack, body, change_type):
    """What `aws cloudformation deploy` does: a change set with the transform, executed; the
    stack once it has settled."""
    cs = cfn.create_change_set(StackName=stack, ChangeSetName=unique_name("cs"), TemplateBody=body,
                               ChangeSetType=change_type,
                               Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])["Id"]
    wait_until(lambda: cfn.describe_change_set(ChangeSetName=cs)["Status"] == "CREATE_COMPLETE",
               30, message=lambda: f"change set: {cfn.describe_change_set(ChangeSetName=cs)}")
    cfn.execute_change_set(ChangeSetName=cs)


def settled(cfn, stack, timeout=60):
    return wait_until(
        lambda: (s := cfn.describe_stacks(StackName=stack)["Stacks"][0])["StackStatus"]
        .endswith(("_COMPLETE", "_FAILED")) and s,
        timeout, interval=0.2, message=lambda: f"stack settled: {cfn.describe_stacks(StackName=stack)}")


def failures(cfn, stack):
    return [(e["LogicalResourceId"], e.get("ResourceStatusReason"))
            for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
            if e["ResourceStatus"].endswith("_FAILED")]


def test_sam_deployment_preference_shifts_the_alias_on_update_and_rolls_back_a_failed_one(platform):
    lam, cd, _ = clients(platform)
    cfn = make_client(platform.url, "cloudformation")
    stack = unique_name("sam-canary")
    deploy(cfn, stack, sam_template(GOOD, "Succeeded"), "CREATE")
    assert settled(cfn, stack)["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack)
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]}
    fn, app, grp = physical["Fn"], physical["ServerlessDeploymentApplication"], physical["FnDeploymentGroup"]
    assert alias(lam, fn) == ("1", {})
    assert cd.get_deployment_group(applicationName=app, deploymentGroupName=grp)[
        "deploymentGroupInfo"]["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert cd.list_deployments(applicationName=app, deploymentGroupName=grp)["deployments"] == []

    # New code: the update runs a canary deployment, the alias weighted mid-way.
    deploy(cfn, stack, sam_template(GOOD + "# v2\n", "Succeeded"), "UPDATE")
    wait_until(lambda: alias(lam, fn) == ("1", {"2": 0.1}), 30, message=lambda: (
        f"canary weight: {alias(lam, fn)}, {failures(cfn, stack)}, "
        f"{cd.list_deployments(applicationName=app, deploymentGroupName=grp)['deployments']}"))
    [dep] = cd.list_deployments(applicationName=app, deploymentGroupName=grp)["deployments"]
    assert deployment(cd, dep)["status"] == "InProgress"
    assert settled(cfn, stack)["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, stack)
    assert deployment(cd, dep)["status"] == "Succeeded"
    assert alias(lam, fn) == ("2", {})

    # A hook reporting Failed: the deployment fails, the stack update rolls back.
    deploy(cfn, stack, sam_template(GOOD + "# v3\n", "Failed"), "UPDATE")
    assert settled(cfn, stack)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", failures(cfn, stack)
    failed = [d for d in cd.list_deployments(applicationName=app, deploymentGroupName=grp)[
        "deployments"] if d != dep]
    assert len(failed) == 1 and deployment(cd, failed[0])["status"] == "Failed"
    assert alias(lam, fn) == ("2", {})
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    alias_failures = [e for e in events if e["ResourceType"] == "AWS::Lambda::Alias"
                      and e["ResourceStatus"] == "UPDATE_FAILED"]
    assert alias_failures and failed[0] in alias_failures[0]["ResourceStatusReason"]
