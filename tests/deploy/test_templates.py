"""The AWS CloudFormation templates in deploy/: cfn-lint finds nothing in them, and the
properties that keep platbot's secrets and permissions tight hold in every stack.

Each property has a checker that returns its problems as sentences, a test that the real
templates have none, and a test that the checker catches a copy of a template broken on
purpose: a checker that could never fail would prove nothing.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint, lint_by_config

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
TEMPLATE_FILES = sorted(DEPLOY.glob("*.yaml"))
STACKS = [path.stem for path in TEMPLATE_FILES]
ECS_STACKS = ["ecs-socket", "ecs-http"]
# Where platbot is likely to run: the default Region, Europe, and Tokyo for the Japanese users.
LINT_CONFIG = ManualArgs(include_checks=["I"], regions=["us-east-1", "eu-west-1", "ap-northeast-1"])

Template = dict[str, Any]
Problems = list[str]


# --- reading templates ------------------------------------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as their long forms: `!Ref X` -> {"Ref": "X"},
    `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]}, `!Sub s` -> {"Fn::Sub": s}."""


def _short_tag(loader: yaml.SafeLoader, name: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if name in ("Ref", "Condition"):
        return {name: value}
    if name == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{name}": value}


CloudFormationLoader.add_multi_constructor("!", _short_tag)


def parse(text: str) -> Template:
    return yaml.load(text, Loader=CloudFormationLoader)  # a SafeLoader: plain data only


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in TEMPLATE_FILES}


@pytest.fixture(scope="module")
def parsed(texts: dict[str, str]) -> dict[str, Template]:
    return {name: parse(text) for name, text in texts.items()}


@pytest.fixture
def template(parsed: dict[str, Template]) -> Callable[[str], Template]:
    """template("lambda") -> a fresh copy of that stack's template, free to break."""
    return lambda name: copy.deepcopy(parsed[name])


# --- walking templates -------------------------------------------------------------------------


def resources(t: Template, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in t.get("Resources", {}).items():
        if resource["Type"] == kind:
            yield logical_id, resource


def properties(t: Template, logical_id: str) -> dict[str, Any]:
    return t["Resources"][logical_id].get("Properties", {})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def canonical(value: Any) -> str:
    """One string per value, intrinsic functions included, so they can be compared as sets."""
    return json.dumps(value, sort_keys=True)


def role_id(arn: Any) -> str | None:
    """The logical id of a role given as `!GetAtt Role.Arn`."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return arn["Fn::GetAtt"][0]
    return None


def names_role(value: Any, role: str) -> bool:
    return any(item == {"Ref": role} for item in as_list(value))


def entries(items: list[Any]) -> Iterator[Any]:
    """The entries of a list whose items may be `!If [condition, entry, !Ref AWS::NoValue]`:
    either branch may be deployed, so both are checked."""
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            yield from (branch for branch in item["Fn::If"][1:] if branch != {"Ref": "AWS::NoValue"})
        else:
            yield item


def statements(t: Template, role: str) -> list[dict[str, Any]]:
    """Every policy statement that applies to `role`: its inline policies and the
    AWS::IAM::RolePolicy / AWS::IAM::Policy resources attached to it."""
    found = []
    for policy in entries(properties(t, role).get("Policies", [])):
        found += as_list(policy["PolicyDocument"]["Statement"])
    for kind, key in (("AWS::IAM::RolePolicy", "RoleName"), ("AWS::IAM::Policy", "Roles")):
        for _, resource in resources(t, kind):
            if names_role(resource["Properties"].get(key), role):
                found += as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def every_statement(t: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every identity policy statement in the template."""
    for logical_id, _ in resources(t, "AWS::IAM::Role"):
        for policy in entries(properties(t, logical_id).get("Policies", [])):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                yield logical_id, statement
    for kind in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, resource in resources(t, kind):
            for statement in as_list(resource["Properties"]["PolicyDocument"]["Statement"]):
                yield logical_id, statement


def container_definitions(t: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in resources(t, "AWS::ECS::TaskDefinition"):
        for container in resource["Properties"]["ContainerDefinitions"]:
            yield f"{logical_id}/{container['Name']}", container


# --- the properties ----------------------------------------------------------------------------

SLACK_TOKEN = re.compile(r"xox[abeoprs]-|xapp-")
# Names of values that must never be written down; an ...Arn, ...Name or ...Id only points at one.
SECRET_NAME = re.compile(r"token|secret|password|signing", re.IGNORECASE)
POINTER_NAME = re.compile(r"(arn|name|id)$", re.IGNORECASE)
# Dynamic references that put a secret's value into the resource they are resolved for.
SECRET_REFERENCES = ("{{resolve:secretsmanager:", "{{resolve:ssm-secure:")
# A Lambda setting given by where its secret is: SLACK_BOT_TOKEN_SECRET_ARN for SLACK_BOT_TOKEN.
ARN_SUFFIX = "_SECRET_ARN"
# A role a service assumes on this account's behalf only (the confused deputy problem).
ACCOUNT_ONLY = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
# Actions that cannot be limited to a resource, so `Resource: "*"` is the only way to grant them.
UNSCOPABLE_ACTIONS = {"ecr:GetAuthorizationToken", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}


def looks_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not POINTER_NAME.search(name.replace("_", ""))


def plaintext_tokens(text: str) -> Problems:
    """Anything shaped like a Slack token, anywhere in the file (comments included)."""
    lines = [text.count("\n", 0, match.start()) + 1 for match in SLACK_TOKEN.finditer(text)]
    return [f"line {line}: a Slack token" for line in lines]


def written_secrets(t: Template) -> Problems:
    """A secret value written in the template or in a resource's configuration: a secret's
    SecretString, a secret-looking parameter that echoes or has a default, a secret in a
    container's plain environment, a Lambda variable that holds a secret (rather than its ARN)
    or resolves one (a dynamic reference stores the value in the function's configuration)."""
    problems = []
    for logical_id, resource in resources(t, "AWS::SecretsManager::Secret"):
        if "SecretString" in resource.get("Properties", {}):
            problems.append(f"{logical_id}: SecretString writes the value into the template")
    for name, parameter in t.get("Parameters", {}).items():
        if looks_secret(name):
            if str(parameter.get("NoEcho")).lower() != "true":
                problems.append(f"parameter {name}: secret-like but not NoEcho")
            if "Default" in parameter:
                problems.append(f"parameter {name}: secret-like with a default value")
    for where, container in container_definitions(t):
        for variable in entries(container.get("Environment", [])):
            if isinstance(variable, dict) and "Name" in variable and looks_secret(variable["Name"]):
                problems.append(f"{where}: {variable['Name']} in Environment, not Secrets")
    for logical_id, variables in lambda_variables(t):
        for name, value in variables.items():
            if any(reference in canonical(value) for reference in SECRET_REFERENCES):
                problems.append(f"{logical_id}: {name} resolves a secret into the function's configuration")
            elif looks_secret(name):
                problems.append(f"{logical_id}: {name} holds a secret; give its ARN in {name}{ARN_SUFFIX}")
    return problems


def lambda_variables(t: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in resources(t, "AWS::Lambda::Function"):
        yield logical_id, resource["Properties"].get("Environment", {}).get("Variables", {})


def secrets_handed_over(t: Template) -> Iterator[tuple[str, str | None, set[str]]]:
    """(what, the role that reads its secrets, the secrets it gets) for each ECS task definition
    (its execution role reads what its containers' `Secrets` name) and each Lambda function (its
    own role reads what its NAME_SECRET_ARN variables name, at init)."""
    for logical_id, resource in resources(t, "AWS::ECS::TaskDefinition"):
        given = {
            canonical(secret["ValueFrom"])
            for container in resource["Properties"]["ContainerDefinitions"]
            for secret in entries(container.get("Secrets", []))
        }
        yield logical_id, role_id(resource["Properties"].get("ExecutionRoleArn")), given
    for logical_id, variables in lambda_variables(t):
        given = {
            canonical(arn) for name, value in variables.items() if name.endswith(ARN_SUFFIX) for arn in entries([value])
        }
        yield logical_id, role_id(t["Resources"][logical_id]["Properties"].get("Role")), given


def execution_role_secrets(t: Template) -> Problems:
    """Each execution role (ECS task or Lambda function) reads exactly the secrets its task or
    function is given, with secretsmanager:GetSecretValue and nothing else from Secrets Manager."""
    problems = []
    for logical_id, role, given in secrets_handed_over(t):
        if role is None:
            problems.append(f"{logical_id}: no execution role from this template")
            continue
        if properties(t, role).get("ManagedPolicyArns"):
            problems.append(f"{role}: managed policies cannot be checked here")
        readable: set[str] = set()
        for statement in statements(t, role):
            actions = as_list(statement["Action"])
            if any(action.lower().startswith("secretsmanager:") or action == "*" for action in actions):
                if actions != ["secretsmanager:GetSecretValue"]:
                    problems.append(f"{role}: Secrets Manager actions {actions}, not only GetSecretValue")
                readable |= {canonical(r) for r in as_list(statement["Resource"])}
        if readable != given:
            problems.append(f"{role}: reads {sorted(readable)}, {logical_id} gets {sorted(given)}")
    return problems


def wildcard_actions(t: Template) -> Problems:
    """No action with a wildcard (`*`, `s3:*`, `s3:Get*`), no NotAction, and `Resource: "*"`
    only for actions that have no resource-level permissions."""
    problems = []
    for where, statement in every_statement(t):
        if "NotAction" in statement:
            problems.append(f"{where}: NotAction allows everything else")
        actions = as_list(statement.get("Action", []))
        problems += [f"{where}: wildcard action {a}" for a in actions if "*" in a]
        if "*" in as_list(statement.get("Resource")) and not set(actions) <= UNSCOPABLE_ACTIONS:
            problems.append(f"{where}: Resource '*' for {actions}")
    return problems


def task_role_grants(t: Template) -> Problems:
    """The task role (platbot's own code) gets nothing, except reading the database
    credentials when, and only when, the database is configured."""
    problems = []
    for _, resource in resources(t, "AWS::ECS::TaskDefinition"):
        role = role_id(resource["Properties"].get("TaskRoleArn"))
        if role is None:
            continue  # no task role: the container gets no AWS credentials at all
        extra = {key for key in ("Policies", "ManagedPolicyArns") if properties(t, role).get(key)}
        problems += [f"{role}: {key} on the task role" for key in sorted(extra)]
        for policy_id, policy in resources(t, "AWS::IAM::RolePolicy"):
            if not names_role(policy["Properties"]["RoleName"], role):
                continue
            expected = {"Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "DatabaseSecretArn"}}
            for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                if {key: statement.get(key) for key in expected} != expected:
                    problems.append(f"{policy_id}: grants {statement.get('Action')} on {statement.get('Resource')}")
            if policy.get("Condition") != "HasDatabase":
                problems.append(f"{policy_id}: applies even without a database")
        for _, policy in resources(t, "AWS::IAM::Policy"):
            if names_role(policy["Properties"].get("Roles"), role):
                problems.append(f"{role}: an AWS::IAM::Policy is attached to the task role")
    return problems


def container_hardening(t: Template) -> Problems:
    """Every container runs as a numeric non-root user on a read-only root filesystem."""
    problems = []
    for where, container in container_definitions(t):
        user = str(container.get("User", ""))
        if not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user):
            problems.append(f"{where}: User {user!r} is not a numeric non-root uid")
        if container.get("ReadonlyRootFilesystem") is not True:
            problems.append(f"{where}: the root filesystem is writable")
    return problems


def circuit_breaker(t: Template) -> Problems:
    """Every ECS service stops a failing deployment and rolls back to the last good one."""
    problems = []
    for logical_id, resource in resources(t, "AWS::ECS::Service"):
        breaker = resource["Properties"].get("DeploymentConfiguration", {}).get("DeploymentCircuitBreaker", {})
        if breaker != {"Enable": True, "Rollback": True}:
            problems.append(f"{logical_id}: circuit breaker {breaker}, not enabled with rollback")
    return problems


def lambda_invocations(t: Template) -> Problems:
    """A function may invoke itself (bolt's lazy listeners) and nothing else; the public may
    invoke it through its function URL only."""
    problems = []
    functions = dict(resources(t, "AWS::Lambda::Function"))
    for logical_id, resource in functions.items():
        role = role_id(resource["Properties"]["Role"])
        if role is None:
            problems.append(f"{logical_id}: its role is not from this template, so it cannot be checked")
            continue
        itself = {canonical({"Fn::GetAtt": [logical_id, "Arn"]}), canonical({"Fn::Sub": f"${{{logical_id}.Arn}}:*"})}
        invokable = {
            canonical(target)
            for statement in statements(t, role)
            if "lambda:InvokeFunction" in as_list(statement["Action"])
            for target in as_list(statement["Resource"])
        }
        if not invokable:
            problems.append(f"{logical_id}: cannot invoke itself; lazy listeners would fail")
        if invokable - itself:
            problems.append(f"{logical_id}: may invoke {sorted(invokable - itself)}")
    for logical_id, resource in resources(t, "AWS::Lambda::Permission"):
        grant = resource["Properties"]
        target = grant["FunctionName"]
        if not any(target in ({"Ref": f}, {"Fn::GetAtt": [f, "Arn"]}) for f in functions):
            problems.append(f"{logical_id}: grants on {target}, not on this stack's function")
        if grant["Principal"] == "*":
            through_url = (
                grant["Action"] == "lambda:InvokeFunctionUrl" and grant.get("FunctionUrlAuthType") == "NONE"
            ) or (grant["Action"] == "lambda:InvokeFunction" and grant.get("InvokedViaFunctionUrl") is True)
            if not through_url:
                problems.append(f"{logical_id}: anyone may {grant['Action']}, not only through the function URL")
    return problems


def scheduled_invocations(t: Template) -> Problems:
    """A schedule that invokes this stack's function does so with a role of its own, which only
    EventBridge Scheduler acting for this account may assume, and which may invoke that function
    and do nothing else."""
    problems = []
    functions = {canonical({"Fn::GetAtt": [f, "Arn"]}) for f, _ in resources(t, "AWS::Lambda::Function")}
    for logical_id, schedule in resources(t, "AWS::Scheduler::Schedule"):
        target = schedule["Properties"]["Target"]
        if canonical(target["Arn"]) not in functions:
            continue  # another kind of target (an ECS task): checked where it is defined
        role = role_id(target["RoleArn"])
        if role is None:
            problems.append(f"{logical_id}: its role is not from this template, so it cannot be checked")
            continue
        trust = as_list(properties(t, role)["AssumeRolePolicyDocument"]["Statement"])
        expected_trust = {"Service": "scheduler.amazonaws.com"}
        if [s.get("Principal") for s in trust] != [expected_trust]:
            problems.append(f"{role}: may be assumed by {[s.get('Principal') for s in trust]}, not the scheduler alone")
        if any(canonical(s.get("Condition", {})) != canonical(ACCOUNT_ONLY) for s in trust):
            problems.append(f"{role}: the scheduler may assume it for any account (no aws:SourceAccount condition)")
        granted = {(canonical(s["Action"]), canonical(s["Resource"])) for s in statements(t, role)}
        if granted != {(canonical("lambda:InvokeFunction"), canonical(target["Arn"]))}:
            problems.append(f"{role}: grants {sorted(granted)}, not only lambda:InvokeFunction on {target['Arn']}")
    return problems


def log_retention(t: Template) -> Problems:
    """Every log line lands in a log group with a retention period: log groups set one, Lambda
    functions name their group (else Lambda makes /aws/lambda/NAME, kept forever), containers
    use awslogs with a given group."""
    problems = []
    for logical_id, resource in resources(t, "AWS::Logs::LogGroup"):
        if "RetentionInDays" not in resource.get("Properties", {}):
            problems.append(f"{logical_id}: no RetentionInDays")
    for logical_id, resource in resources(t, "AWS::Lambda::Function"):
        if "LogGroup" not in resource["Properties"].get("LoggingConfig", {}):
            problems.append(f"{logical_id}: logs to Lambda's default group, which keeps them forever")
    for where, container in container_definitions(t):
        logging = container.get("LogConfiguration", {})
        options = logging.get("Options", {})
        if logging.get("LogDriver") != "awslogs" or "awslogs-group" not in options:
            problems.append(f"{where}: not logging to a given CloudWatch log group")
        if str(options.get("awslogs-create-group")).lower() == "true":
            problems.append(f"{where}: awslogs-create-group makes a group with no retention")
    return problems


CHECKERS: list[Callable[[Template], Problems]] = [
    written_secrets,
    execution_role_secrets,
    wildcard_actions,
    task_role_grants,
    container_hardening,
    circuit_breaker,
    lambda_invocations,
    scheduled_invocations,
    log_retention,
]


# --- cfn-lint --------------------------------------------------------------------------------


def test_the_stacks_are_the_documented_ones() -> None:
    assert STACKS == ["database", "ecs-http", "ecs-socket", "edge", "foundation", "lambda"]


def test_cfn_lint_finds_nothing_in_any_template() -> None:
    config = ManualArgs(**LINT_CONFIG, templates=[str(path) for path in TEMPLATE_FILES])
    assert [f"{m.filename}:{m.linenumber}: {m.rule.id} {m.message}" for m in lint_by_config(config)] == []


def test_cfn_lint_catches_a_broken_template(texts: dict[str, str]) -> None:
    broken = texts["ecs-http"].replace("HealthCheckPath: /healthz", "HealthCheckPth: /healthz")
    assert "E3002" in {m.rule.id for m in lint(broken, config=LINT_CONFIG)}


# --- the properties, on the real templates -----------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_slack_token_in_any_template(texts: dict[str, str], stack: str) -> None:
    assert plaintext_tokens(texts[stack]) == []


@pytest.mark.parametrize("check", CHECKERS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("stack", STACKS)
def test_every_property_holds_in_every_stack(parsed: dict[str, Template], stack: str, check) -> None:
    assert check(parsed[stack]) == []


@pytest.mark.parametrize(
    ("stack", "tokens"),
    [("ecs-socket", {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"}), ("ecs-http", {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"})],
)
def test_each_ecs_service_gets_the_two_secrets_its_mode_needs(parsed: dict[str, Template], stack, tokens) -> None:
    [(_, container)] = container_definitions(parsed[stack])
    # With the database stack, the user hash key too; the database login is read by platbot itself.
    assert {secret["Name"] for secret in entries(container["Secrets"])} == tokens | {"PLATBOT_USER_HASH_KEY"}
    # ...and execution_role_secrets holds there, so its execution role reads exactly these.
    assert execution_role_secrets(parsed[stack]) == []


@pytest.mark.parametrize("stack", ECS_STACKS)
def test_the_weekly_digest_runs_the_service_task_definition_with_the_digest_command(
    parsed: dict[str, Template], stack: str
) -> None:
    t = parsed[stack]
    [(_, container)] = container_definitions(t)
    assert container["Command"][0] == "serve"  # the image's entrypoint is `platbot`
    [(_, schedule)] = resources(t, "AWS::Scheduler::Schedule")
    target = schedule["Properties"]["Target"]

    assert schedule["Condition"] == "HasDigest"
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "TaskDefinition"}
    assert json.loads(target["Input"]) == {"containerOverrides": [{"name": container["Name"], "command": ["digest"]}]}
    # The scheduler may start that task definition and hand it its two roles, nothing more.
    role = role_id(target["RoleArn"])
    assert role is not None
    granted = {(canonical(s["Action"]), canonical(s["Resource"])) for s in statements(t, role)}
    assert granted == {
        (canonical("ecs:RunTask"), canonical({"Ref": "TaskDefinition"})),
        (
            canonical("iam:PassRole"),
            canonical([{"Fn::GetAtt": ["ExecutionRole", "Arn"]}, {"Fn::GetAtt": ["TaskRole", "Arn"]}]),
        ),
    }
    assert "HasDatabase" in canonical(t["Conditions"]["HasDigest"])  # the digest reads the store


def test_the_lambda_is_given_where_its_secrets_are_and_not_their_values(parsed: dict[str, Template]) -> None:
    [(_, variables)] = lambda_variables(parsed["lambda"])
    assert {name: value for name, value in variables.items() if name.endswith(ARN_SUFFIX)} == {
        "SLACK_BOT_TOKEN_SECRET_ARN": {"Fn::ImportValue": {"Fn::Sub": "${Foundation}-SlackBotTokenArn"}},
        "SLACK_SIGNING_SECRET_SECRET_ARN": {"Fn::ImportValue": {"Fn::Sub": "${Foundation}-SlackSigningSecretArn"}},
        # The curator store's URL and user hash key, only when the stack is given them.
        "PLATBOT_DATABASE_URL_SECRET_ARN": {"Fn::If": ["HasStore", {"Ref": "DatabaseUrlSecretArn"}, NO_VALUE]},
        "PLATBOT_USER_HASH_KEY_SECRET_ARN": {"Fn::If": ["HasStore", {"Ref": "UserHashKeySecretArn"}, NO_VALUE]},
    }
    assert not {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "PLATBOT_DATABASE_URL"} & variables.keys()
    # ...and execution_role_secrets holds there, so the function's role reads exactly these.
    assert execution_role_secrets(parsed["lambda"]) == []
    policies = parsed["lambda"]["Resources"]["FunctionRole"]["Properties"]["Policies"]
    [store] = [p["Fn::If"] for p in policies if "Fn::If" in p and p["Fn::If"][1]["PolicyName"] == "read-store-secrets"]
    assert store[0] == "HasStore"  # the store's two secrets are readable only with a store


# --- the Lambda's optional store, VPC and digest: the rules and conditions, evaluated ---------------

NO_VALUE = {"Ref": "AWS::NoValue"}


def evaluate(t: Template, expression: Any, values: dict[str, str]) -> Any:
    """`expression` (a rule's or a condition's) with the parameters at `values`, the rest at their
    defaults, as CloudFormation evaluates it: only the functions the templates use."""
    if not isinstance(expression, dict):
        return expression
    [(function, argument)] = expression.items()
    if function == "Ref":
        parameter = t["Parameters"][argument]
        value = str(values.get(argument, parameter.get("Default", "")))
        return value.split(",") if parameter["Type"] == "CommaDelimitedList" else value
    if function == "Condition":
        return evaluate(t, t["Conditions"][argument], values)
    args = [evaluate(t, item, values) for item in argument]
    if function in ("Fn::And", "Fn::Or", "Fn::Not", "Fn::Equals"):
        return {"Fn::And": all, "Fn::Or": any, "Fn::Not": lambda a: not a[0], "Fn::Equals": lambda a: a[0] == a[1]}[
            function
        ](args)
    if function == "Fn::Join":
        return args[0].join(args[1])
    if function == "Fn::EachMemberEquals":
        return all(member == args[1] for member in args[0])
    raise AssertionError(f"{function}: not a function this evaluator knows")


def refused(t: Template, values: dict[str, str]) -> list[str]:
    """What the template's rules say when they refuse these parameter values (the deploy stops)."""
    return [
        assertion["AssertDescription"]
        for rule in t.get("Rules", {}).values()
        if evaluate(t, rule.get("RuleCondition", True), values)
        for assertion in rule["Assertions"]
        if not evaluate(t, assertion["Assert"], values)
    ]


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:platbot/x-AbCdEf"
STORE = {"DatabaseUrlSecretArn": SECRET_ARN, "UserHashKeySecretArn": SECRET_ARN}
VPC = {
    "VpcSubnetIds": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb",
    "VpcSecurityGroupIds": "sg-0cccccccccccccccc",
}


@pytest.mark.parametrize(
    ("values", "conditions"),
    [
        pytest.param({}, set(), id="defaults: nothing recorded, no VPC, no digest"),
        pytest.param(STORE, {"HasStore"}, id="store"),
        pytest.param(
            {**STORE, "CuratorChannel": "C0123ABCD"}, {"HasStore", "HasCuratorChannel", "HasDigest"}, id="digest"
        ),
        pytest.param({**STORE, "CuratorChannel": "C0123ABCD", "DigestSchedule": ""}, {"HasStore", "HasCuratorChannel"}),
        pytest.param({**STORE, **VPC}, {"HasStore", "HasVpc"}, id="store in a VPC"),
    ],
)
def test_the_lambda_stack_deploys_what_its_parameters_ask_for(
    parsed: dict[str, Template], values: dict[str, str], conditions: set[str]
) -> None:
    t = parsed["lambda"]
    assert refused(t, values) == []
    assert {name for name in t["Conditions"] if evaluate(t, {"Condition": name}, values)} - {
        "HasCodeObjectVersion"
    } == conditions


@pytest.mark.parametrize(
    ("values", "description"),
    [
        ({"DatabaseUrlSecretArn": SECRET_ARN}, "DatabaseUrlSecretArn and UserHashKeySecretArn go together."),
        ({"UserHashKeySecretArn": SECRET_ARN}, "DatabaseUrlSecretArn and UserHashKeySecretArn go together."),
        ({"VpcSubnetIds": VPC["VpcSubnetIds"]}, "VpcSubnetIds and VpcSecurityGroupIds go together."),
        ({"VpcSecurityGroupIds": VPC["VpcSecurityGroupIds"]}, "VpcSubnetIds and VpcSecurityGroupIds go together."),
        ({"CuratorChannel": "C0123ABCD"}, "CuratorChannel needs DatabaseUrlSecretArn and UserHashKeySecretArn;"),
    ],
)
def test_a_half_set_store_or_vpc_or_a_digest_without_a_store_stops_the_deploy(
    parsed: dict[str, Template], values: dict[str, str], description: str
) -> None:
    [why] = refused(parsed["lambda"], values)
    assert why.startswith(description)


def test_the_lambda_joins_a_vpc_only_when_given_one(parsed: dict[str, Template]) -> None:
    function = parsed["lambda"]["Resources"]["Function"]["Properties"]
    assert function["VpcConfig"] == {
        "Fn::If": [
            "HasVpc",
            {"SubnetIds": {"Ref": "VpcSubnetIds"}, "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"}},
            NO_VALUE,
        ]
    }
    policies = parsed["lambda"]["Resources"]["FunctionRole"]["Properties"]["Policies"]
    [network] = [p["Fn::If"] for p in policies if "Fn::If" in p and p["Fn::If"][0] == "HasVpc"]
    actions = {action for statement in network[1]["PolicyDocument"]["Statement"] for action in statement["Action"]}
    assert {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"} <= actions  # what Lambda needs to join


def test_the_weekly_digest_invokes_the_function_with_the_digest_task(parsed: dict[str, Template]) -> None:
    t = parsed["lambda"]
    [(_, schedule)] = resources(t, "AWS::Scheduler::Schedule")
    target = schedule["Properties"]["Target"]

    assert schedule["Condition"] == "HasDigest"
    assert target["Arn"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert json.loads(target["Input"]) == {"platbot": "digest"}  # what bot/slack/aws_lambda.py runs as the digest
    assert schedule["Properties"]["FlexibleTimeWindow"] == {"Mode": "OFF"}  # on the hour, not within a window
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "DigestSchedule"}
    assert t["Parameters"]["DigestSchedule"]["Default"] == "cron(0 9 ? * MON *)"
    assert t["Resources"][role_id(target["RoleArn"])]["Condition"] == "HasDigest"
    # ...and scheduled_invocations holds there: its role may invoke the function and nothing else.
    assert scheduled_invocations(t) == []


def test_the_checks_have_something_to_check(parsed: dict[str, Template]) -> None:
    """Each property is about resources the stacks really have, so "no problems" is not vacuous."""
    for stack in ECS_STACKS:
        assert len(list(resources(parsed[stack], "AWS::ECS::Service"))) == 1
        assert len(list(container_definitions(parsed[stack]))) == 1
    assert len(list(resources(parsed["lambda"], "AWS::Lambda::Function"))) == 1
    assert len(list(resources(parsed["lambda"], "AWS::Scheduler::Schedule"))) == 1
    assert len(list(resources(parsed["foundation"], "AWS::SecretsManager::Secret"))) == 3
    assert len(list(resources(parsed["foundation"], "AWS::Logs::LogGroup"))) == 1


def test_the_slack_secrets_are_created_empty(parsed: dict[str, Template]) -> None:
    for _, secret in resources(parsed["foundation"], "AWS::SecretsManager::Secret"):
        assert not {"SecretString", "GenerateSecretString"} & secret["Properties"].keys()


def test_the_lambda_runs_the_documented_handler(parsed: dict[str, Template]) -> None:
    [(_, function)] = resources(parsed["lambda"], "AWS::Lambda::Function")
    assert function["Properties"]["Runtime"] == "python3.11"
    assert function["Properties"]["Handler"] == "bot.slack.aws_lambda.handler"
    [(_, url)] = resources(parsed["lambda"], "AWS::Lambda::Url")
    assert url["Properties"]["AuthType"] == "NONE"


# --- each checker catches what it is for ---------------------------------------------------------


def test_a_pasted_token_is_caught(texts: dict[str, str]) -> None:
    fake = "xoxb-" + "1" * 12 + "-" + "a" * 24
    broken = texts["lambda"].replace("LOG_FORMAT: json", f"LOG_FORMAT: json\n          EXTRA: {fake}")
    line = broken[: broken.index(fake)].count("\n") + 1
    assert plaintext_tokens(broken) == [f"line {line}: a Slack token"]


def test_a_written_secret_is_caught(template) -> None:
    foundation = template("foundation")
    foundation["Resources"]["SlackBotToken"]["Properties"]["SecretString"] = "value"
    foundation["Parameters"]["SlackSigningSecret"] = {"Type": "String", "Default": "value"}
    socket = template("ecs-socket")
    [(_, container)] = container_definitions(socket)
    container["Environment"].append({"Name": "SLACK_APP_TOKEN", "Value": "value"})
    function = template("lambda")
    function["Resources"]["Function"]["Properties"]["Environment"]["Variables"]["SLACK_BOT_TOKEN"] = "value"
    assert written_secrets(foundation) == [
        "SlackBotToken: SecretString writes the value into the template",
        "parameter SlackSigningSecret: secret-like but not NoEcho",
        "parameter SlackSigningSecret: secret-like with a default value",
    ]
    assert written_secrets(socket) == ["TaskDefinition/platbot: SLACK_APP_TOKEN in Environment, not Secrets"]
    assert written_secrets(function) == [
        "Function: SLACK_BOT_TOKEN holds a secret; give its ARN in SLACK_BOT_TOKEN_SECRET_ARN"
    ]


@pytest.mark.parametrize("name", ["SLACK_SIGNING_SECRET", "DATABASE_URL", "SLACK_SIGNING_SECRET_SECRET_ARN"])
def test_a_secret_resolved_into_the_lambda_configuration_is_caught(template, name: str) -> None:
    """What this template did before: CloudFormation resolves the reference when it deploys the
    function, and the value then sits in its configuration, whatever the variable is called."""
    stack = template("lambda")
    arn = {"Fn::ImportValue": {"Fn::Sub": "${Foundation}-SlackSigningSecretArn"}}
    reference = {"Fn::Sub": ["{{resolve:secretsmanager:${Arn}}}", {"Arn": arn}]}
    stack["Resources"]["Function"]["Properties"]["Environment"]["Variables"][name] = reference
    assert f"Function: {name} resolves a secret into the function's configuration" in written_secrets(stack)


def test_a_secret_parameter_with_noecho_and_no_default_passes(template) -> None:
    stack = template("lambda")
    stack["Parameters"]["SlackBotToken"] = {"Type": "String", "NoEcho": True}
    assert written_secrets(stack) == []


@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param(
            lambda s: s.update(Action=["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]),
            id="extra-action",
        ),
        pytest.param(lambda s: s.update(Action="secretsmanager:*"), id="service-wildcard"),
        pytest.param(lambda s: s["Resource"].append({"Fn::ImportValue": "other-secret"}), id="third-secret"),
        pytest.param(lambda s: s.update(Resource=s["Resource"][:1]), id="missing-secret"),
        pytest.param(lambda s: s.update(Resource="*"), id="every-secret"),
    ],
)
@pytest.mark.parametrize(("stack_name", "role"), [("ecs-socket", "ExecutionRole"), ("lambda", "FunctionRole")])
def test_an_execution_role_reading_other_secrets_is_caught(template, break_it, stack_name: str, role: str) -> None:
    stack = template(stack_name)
    [statement] = [s for s in statements(stack, role) if s.get("Sid") == "ReadSlackSecrets"]
    break_it(statement)
    assert any(problem.startswith(f"{role}: ") for problem in execution_role_secrets(stack))


def test_a_lambda_given_a_secret_its_role_cannot_read_is_caught(template) -> None:
    stack = template("lambda")
    variables = stack["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    variables["SLACK_APP_TOKEN_SECRET_ARN"] = {"Fn::ImportValue": {"Fn::Sub": "${Foundation}-SlackAppTokenArn"}}
    [problem] = execution_role_secrets(stack)
    assert problem.startswith("FunctionRole: reads ") and "SlackAppTokenArn" in problem.split(" gets ")[1]


@pytest.mark.parametrize("action", ["*", "s3:*", "secretsmanager:Get*"])
def test_a_wildcard_action_is_caught(template, action: str) -> None:
    stack = template("ecs-http")
    stack["Resources"]["TaskRole"]["Properties"]["Policies"] = [
        {
            "PolicyName": "too-much",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::b"}]},
        }
    ]
    assert f"TaskRole: wildcard action {action}" in wildcard_actions(stack)
    assert task_role_grants(stack) == ["TaskRole: Policies on the task role"]


def test_a_resource_wildcard_on_a_scopable_action_is_caught(template) -> None:
    stack = template("lambda")
    [statement] = statements(stack, "FunctionRole")[:1]
    statement["Resource"] = "*"
    assert wildcard_actions(stack) == ["FunctionRole: Resource '*' for ['logs:CreateLogStream', 'logs:PutLogEvents']"]


def test_a_task_role_reading_the_database_secret_without_a_database_is_caught(template) -> None:
    stack = template("ecs-socket")
    del stack["Resources"]["TaskRoleDatabasePolicy"]["Condition"]
    stack["Resources"]["TaskRoleDatabasePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] = "*"
    assert task_role_grants(stack) == [
        "TaskRoleDatabasePolicy: grants secretsmanager:GetSecretValue on *",
        "TaskRoleDatabasePolicy: applies even without a database",
    ]


@pytest.mark.parametrize("user", [None, "0", "root", "0:0", "platbot"])
def test_a_root_or_unnamed_user_is_caught(template, user: str | None) -> None:
    stack = template("ecs-http")
    [(_, container)] = container_definitions(stack)
    container.pop("User")
    if user is not None:
        container["User"] = user
    assert container_hardening(stack) == [f"TaskDefinition/platbot: User {user or ''!r} is not a numeric non-root uid"]


def test_a_writable_root_filesystem_is_caught(template) -> None:
    stack = template("ecs-socket")
    [(_, container)] = container_definitions(stack)
    container["ReadonlyRootFilesystem"] = False
    assert container_hardening(stack) == ["TaskDefinition/platbot: the root filesystem is writable"]


@pytest.mark.parametrize("breaker", [{"Enable": True, "Rollback": False}, {"Enable": False, "Rollback": True}, None])
def test_a_service_without_rollback_is_caught(template, breaker: dict[str, bool] | None) -> None:
    stack = template("ecs-socket")
    deployment = stack["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    deployment.pop("DeploymentCircuitBreaker")
    if breaker is not None:
        deployment["DeploymentCircuitBreaker"] = breaker
    assert circuit_breaker(stack) == [f"Service: circuit breaker {breaker or {}}, not enabled with rollback"]


@pytest.mark.parametrize(
    "targets",
    [
        ["*"],
        [{"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"}],
        [{"Fn::GetAtt": ["Function", "Arn"]}, "arn:aws:lambda:us-east-1:123456789012:function:other"],
    ],
)
def test_a_lambda_invoking_more_than_itself_is_caught(template, targets: list[Any]) -> None:
    stack = template("lambda")
    stack["Resources"]["SelfInvokePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] = targets
    assert any(problem.startswith("Function: may invoke") for problem in lambda_invocations(stack))


def test_a_lambda_that_cannot_invoke_itself_is_caught(template) -> None:
    stack = template("lambda")
    del stack["Resources"]["SelfInvokePolicy"]
    assert lambda_invocations(stack) == ["Function: cannot invoke itself; lazy listeners would fail"]


def test_a_public_invoke_outside_the_function_url_is_caught(template) -> None:
    stack = template("lambda")
    del stack["Resources"]["PublicUrlInvokeFunction"]["Properties"]["InvokedViaFunctionUrl"]
    assert lambda_invocations(stack) == [
        "PublicUrlInvokeFunction: anyone may lambda:InvokeFunction, not only through the function URL"
    ]


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        pytest.param(
            lambda role, policy: policy["Statement"].append(
                {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:*"}
            ),
            "DigestSchedulerRole: grants ",
            id="invoke-any-function",
        ),
        pytest.param(
            lambda role, policy: policy["Statement"][0].update(Action="lambda:*"),
            "DigestSchedulerRole: grants ",
            id="every-lambda-action",
        ),
        pytest.param(
            lambda role, policy: role["AssumeRolePolicyDocument"]["Statement"][0].pop("Condition"),
            "DigestSchedulerRole: the scheduler may assume it for any account",
            id="any-account",
        ),
        pytest.param(
            lambda role, policy: role["AssumeRolePolicyDocument"]["Statement"][0].update(
                Principal={"Service": ["scheduler.amazonaws.com", "events.amazonaws.com"]}
            ),
            "DigestSchedulerRole: may be assumed by ",
            id="another-service",
        ),
    ],
)
def test_a_schedule_role_that_may_do_more_than_invoke_the_function_is_caught(template, break_it, problem: str) -> None:
    stack = template("lambda")
    role = stack["Resources"]["DigestSchedulerRole"]["Properties"]
    break_it(role, role["Policies"][0]["PolicyDocument"])
    [found] = scheduled_invocations(stack)
    assert found.startswith(problem)


def test_logs_kept_forever_are_caught(template) -> None:
    foundation = template("foundation")
    del foundation["Resources"]["LogGroup"]["Properties"]["RetentionInDays"]
    function = template("lambda")
    del function["Resources"]["Function"]["Properties"]["LoggingConfig"]
    service = template("ecs-http")
    [(_, container)] = container_definitions(service)
    container["LogConfiguration"]["Options"]["awslogs-create-group"] = "true"
    assert log_retention(foundation) == ["LogGroup: no RetentionInDays"]
    assert log_retention(function) == ["Function: logs to Lambda's default group, which keeps them forever"]
    assert log_retention(service) == ["TaskDefinition/platbot: awslogs-create-group makes a group with no retention"]


def test_the_short_tags_are_read_as_long_forms() -> None:
    text = "A: !Ref X\nB: !GetAtt R.Arn\nC: !Sub [s, {v: !ImportValue e}]\nD: !If [c, !Ref AWS::NoValue, 1]\n"
    assert parse(text) == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["R", "Arn"]},
        "C": {"Fn::Sub": ["s", {"v": {"Fn::ImportValue": "e"}}]},
        "D": {"Fn::If": ["c", {"Ref": "AWS::NoValue"}, 1]},
    }


def test_the_deploy_readme_exists_and_names_every_stack() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in TEMPLATE_FILES:
        assert f"deploy/{path.name}" in readme
