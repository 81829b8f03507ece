"""The old system's equivalent for the cold-start and memory comparison.

A Python Lambda function as the old system ran it: it imports boto3 and builds
the SQS, DynamoDB and SNS clients at init, then serves invocations through
the Lambda Runtime API
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) with the
standard library, the way the managed Python runtime's loop does. Each
invocation echoes its event, so the figures are the runtime's and the SDK's
floor, not the old handler's work (P3 compares that work).
"""

import json
import os
import urllib.request

import boto3

SQS = boto3.client("sqs")
DYNAMODB = boto3.client("dynamodb")
SNS = boto3.client("sns")

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"


def main():
    while True:
        with urllib.request.urlopen(API + "next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        body = json.dumps(event).encode()
        answer = urllib.request.Request(API + request_id + "/response", data=body, method="POST")
        with urllib.request.urlopen(answer) as response:
            response.read()


if __name__ == "__main__":
    main()
