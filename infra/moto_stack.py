"""Creates the translated templates as stacks on moto's CloudFormation, in process.

    moto_stack.py ORDERS.json CONSUMER.json

ORDERS.json and CONSUMER.json are infra/template.yaml and
infra/consumer-template.yaml as infra/translate.py leaves them: includes
resolved, SAM transform applied, plain CloudFormation. The orders stack is
created once with the defaults and once with every optional switch turned the
other way; the consumer stack is then created against the orders stack's
OrderEventsTopicArn output, as a consuming team would deploy it.

A stack passes when it reaches CREATE_COMPLETE and every resource the template
creates under those parameters is there, CREATE_COMPLETE with a physical id.
moto's CloudFormation silently skips resource types it does not implement;
those are named on the output (they are still checked by the SAM translator,
cfn-lint and checkov), and any other missing resource fails the check.
Exits 1 on any failure.
"""

import io
import json
import logging
import sys
import warnings
import zipfile

import boto3
from moto import mock_aws
from moto.cloudformation.parsing import NULL_MODELS, get_model_map

REGION = "us-east-1"
# moto's models of these types keep no physical id (moto lists them with an
# empty one); every other created resource must have one.
NO_PHYSICAL_ID_IN_MOTO = {"AWS::Lambda::Permission"}

# (stack name, parameter overrides). The second set flips every condition of
# infra/template.yaml (auth, reserved concurrency, table protection and warm
# throughput, e-mails, the events topic's data protection audit, the customers'
# confirmations).
ORDERS_RUNS = [
    ("orders", {}),
    (
        "orders-switched",
        {
            "AuthMode": "JWT",
            "JwtIssuer": "https://issuer.example.com/pool",
            "JwtAudience": "orders-client",
            "IntakeReservedConcurrency": "0",
            "TableDeletionProtection": "false",
            "TableWarmWriteUnitsPerSecond": "12000",
            "AdminEmail": "admin@example.com",
            "OpsEmail": "ops@example.com",
            "Architecture": "x86_64",
            "EventsTopicDataProtection": "Audit",
            "EventSubscriberAccounts": "111122223333,444455556666",
            "ConfirmationFromAddress": "orders@example.com",
            "ConfirmationSenderIdentity": "example.com",
            "SesConfigurationSet": "orders",
            "SesMaxSendRate": "1",
        },
    ),
]


class Failure(Exception):
    """A stack that CloudFormation (as moto emulates it) would not create."""


def condition_values(template, parameters):
    """Each condition of the template under these parameter values.

    Evaluated here, not read back from moto, so that a resource moto fails to
    create cannot pass for one whose condition is false.
    """
    values = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    values.update(parameters)
    conditions = template.get("Conditions", {})
    done = {}

    def value(node):
        if isinstance(node, dict) and len(node) == 1:
            (function, argument), = node.items()
            if function == "Ref":
                if argument not in values:
                    raise Failure(f"condition refers to {argument}, which is no parameter")
                return str(values[argument])
            if function == "Fn::Equals":
                return value(argument[0]) == value(argument[1])
            if function == "Fn::Not":
                return not value(argument[0])
            if function == "Fn::And":
                return all(value(item) for item in argument)
            if function == "Fn::Or":
                return any(value(item) for item in argument)
            if function == "Condition":
                return condition(argument)
            if function == "Fn::Join":
                delimiter, items = argument
                if isinstance(items, dict):
                    # A list parameter (CommaDelimitedList), given as "a,b".
                    joined = value(items)
                    parts = joined.split(",") if joined else []
                else:
                    parts = [value(item) for item in items]
                return delimiter.join(parts)
            raise Failure(f"condition function {function} not understood by this check")
        if isinstance(node, (str, int, float, bool)):
            return str(node)
        raise Failure(f"condition value {node!r} not understood by this check")

    def condition(name):
        if name not in done:
            done[name] = value(conditions[name])
        return done[name]

    return {name: condition(name) for name in conditions}


def expected_resources(template, parameters):
    """Logical id -> type of every resource created under these parameters."""
    conditions = condition_values(template, parameters)
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition"), True)
    }


def stub_zip():
    """A Lambda deployment package; moto stores it and never runs it here."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\n")
    return buffer.getvalue()


def upload_artifacts(template):
    """What `sam deploy` uploads: each function's package at the S3 URI the template names."""
    s3 = boto3.client("s3", region_name=REGION)
    package = stub_zip()
    for resource in template["Resources"].values():
        code = resource.get("Properties", {}).get("Code", {}) if resource["Type"] == "AWS::Lambda::Function" else {}
        if "S3Bucket" in code:
            try:
                s3.create_bucket(Bucket=code["S3Bucket"])
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass
            s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=package)


def create_stack(name, template, parameters):
    """Creates one stack: (stack, resources created, {type: ids moto skipped}). Raises Failure."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    supported = get_model_map()
    expected = expected_resources(template, parameters)
    try:
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    except Exception as error:  # moto raises what a resource's creation raised
        raise Failure(f"{name}: create_stack failed: {type(error).__name__}: {error}") from error
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise Failure(f"{name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    # moto also lists the stack's parameters and pseudo parameters, without a
    # logical id: only resources count.
    created = {
        r["LogicalResourceId"]: r
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
        for r in page["StackResourceSummaries"]
        if r["LogicalResourceId"]
    }
    problems, skipped = [], {}
    for logical_id, resource_type in sorted(expected.items()):
        resource = created.get(logical_id)
        if resource is None:
            if resource_type in supported and resource_type not in NULL_MODELS:
                problems.append(f"{logical_id} ({resource_type}) was not created")
            else:
                skipped.setdefault(resource_type, []).append(logical_id)
        elif resource["ResourceStatus"] != "CREATE_COMPLETE" or not (
            resource.get("PhysicalResourceId") or resource_type in NO_PHYSICAL_ID_IN_MOTO
        ):
            problems.append(f"{logical_id}: {resource['ResourceStatus']} {resource.get('PhysicalResourceId')!r}")
    for logical_id in sorted(set(created) - set(expected)):
        problems.append(f"{logical_id} was created though its condition is false")
    if problems:
        raise Failure(f"{name}: " + "; ".join(problems))
    return stack, len(expected) - sum(len(ids) for ids in skipped.values()), skipped


def report(name, created, skipped):
    """One line per stack: what moto created, and what it could not."""
    line = f"{name}: CREATE_COMPLETE, {created} resources created"
    if skipped:
        line += "; not created, no moto support for: " + ", ".join(
            f"{resource_type} ({', '.join(ids) if len(ids) == 1 else len(ids)})"
            for resource_type, ids in sorted(skipped.items())
        )
    print(line)


@mock_aws
def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    # moto logs and warns for each resource of a type it does not implement;
    # report() names them once per stack instead.
    logging.getLogger("moto").addFilter(lambda record: not record.getMessage().startswith("No Moto CloudFormation"))
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    with open(sys.argv[1], encoding="utf-8") as f:
        orders = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        consumer = json.load(f)
    failed = False
    topic_arn = None
    upload_artifacts(orders)
    for name, parameters in ORDERS_RUNS:
        try:
            stack, created, skipped = create_stack(name, orders, parameters)
        except Failure as failure:
            print(f"FAIL {failure}", file=sys.stderr)
            failed = True
            continue
        report(name, created, skipped)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        topic_arn = topic_arn or outputs.get("OrderEventsTopicArn")
    if topic_arn is None:
        print("FAIL consumer stack: no orders stack gave an OrderEventsTopicArn", file=sys.stderr)
        sys.exit(1)
    parameters = {"OrderEventsTopicArn": topic_arn, "TeamName": "shipping"}
    try:
        _, created, skipped = create_stack("orders-consumer-shipping", consumer, parameters)
        report("orders-consumer-shipping", created, skipped)
    except Failure as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
