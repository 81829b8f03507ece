"""Runs the AWS SAM transform on a template as CloudFormation would, offline.

    translate.py TEMPLATE OUTPUT.json [REGION]

TEMPLATE is the template as CloudFormation receives it from `sam deploy`: every
`Fn::Transform: AWS::Include` already resolved in place (infra/check.sh
inlines the local ones, as CloudFormation does with the uploaded copy before it
runs the template's `Transform` section:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-macros.html).
Short-form tags (`!Ref`) are read as their long form (`Ref:`), which is what
CloudFormation hands to the transform.

Local artifact paths (`CodeUri: ..`) become `s3://` URIs, as `sam package`
makes them; the SAM translator accepts nothing else. The result, plain
CloudFormation JSON, is written to OUTPUT.json for the stack check
(infra/moto_stack.py). A template without the SAM transform is written out
unchanged apart from its tags, so both templates go through the same check.

Exits 1 with every error the translator reports: a template that fails here
fails `sam deploy` at change-set creation.
"""

import hashlib
import json
import sys

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Where the artifacts are said to be. Any bucket name will do for the
# translation; infra/moto_stack.py uploads a stub object to each one named in
# the translated template.
ARTIFACT_BUCKET = "orders-sam-artifacts"


def unresolved_includes(node, path="$"):
    """Paths of `Fn::Transform: AWS::Include` left in the template (none may be)."""
    found = []
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
            found.append(path)
        for key, value in node.items():
            found += unresolved_includes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += unresolved_includes(value, f"{path}[{index}]")
    return found


def s3_uri(logical_id, local_path):
    """A `sam package`-like URI: the key is a hash, as SAM's uploads are named."""
    key = hashlib.md5(f"{logical_id}:{local_path}".encode(), usedforsecurity=False).hexdigest()
    return f"s3://{ARTIFACT_BUCKET}/{key}"


def package_local_artifacts(template):
    """Replaces local CodeUri/DefinitionUri paths with S3 URIs (what `sam package` does)."""
    artifact_properties = {
        "AWS::Serverless::Function": "CodeUri",
        "AWS::Serverless::LayerVersion": "ContentUri",
        "AWS::Serverless::Api": "DefinitionUri",
        "AWS::Serverless::HttpApi": "DefinitionUri",
        "AWS::Serverless::StateMachine": "DefinitionUri",
    }
    globals_function = template.get("Globals", {}).get("Function", {})
    local = globals_function.get("CodeUri")
    if isinstance(local, str) and not local.startswith("s3://"):
        globals_function["CodeUri"] = s3_uri("Globals", local)
    for logical_id, resource in template.get("Resources", {}).items():
        prop = artifact_properties.get(resource.get("Type"))
        properties = resource.get("Properties", {})
        local = properties.get(prop) if prop else None
        if isinstance(local, str) and not local.startswith("s3://"):
            properties[prop] = s3_uri(logical_id, local)


def translate(template, region):
    """The template after CloudFormation's SAM transform (unchanged without one)."""
    if template.get("Transform") != SAM_TRANSFORM:
        return template
    package_local_artifacts(template)
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        # Only for the AWS::Region and AWS::Partition pseudo parameters: the
        # translation calls no AWS API.
        boto_session=boto3.session.Session(region_name=region),
    )
    # The template names no AWS managed policy; translation must not reach IAM
    # (offline), so an unknown name fails instead of being looked up.
    return translator.translate(sam_template=template, parameter_values={}, get_managed_policy_map=lambda: {})


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    region = sys.argv[3] if len(sys.argv) == 4 else "us-east-1"
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    left = unresolved_includes(template)
    if left:
        sys.exit(f"{source}: AWS::Include not resolved locally at {', '.join(left)}")
    try:
        translated = translate(template, region)
    except InvalidDocumentException as error:
        print(error.message, file=sys.stderr)
        for cause in error.causes:
            print(f"  {getattr(cause, 'message', cause)}", file=sys.stderr)
        sys.exit(1)
    with open(target, "w", encoding="utf-8") as f:
        json.dump(translated, f, indent=1, sort_keys=True)
    resources = translated.get("Resources", {})
    print(f"{len(resources)} CloudFormation resources")


if __name__ == "__main__":
    main()
