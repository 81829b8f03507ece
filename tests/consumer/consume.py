"""A consumer of OrderCreated events written from the guide ("Add a consumer"
in infra/README.md) and the schema only, in Python with boto3.

It reads the team's queue (subscribed with raw message delivery, so each body
is the event JSON), validates every event against the v1 schema, drops
repeats by eventId and deletes what it handled. An invalid event is left on
the queue (its redrive policy takes it to the DLQ) and makes the exit status 2.

    consume.py --queue-url URL --schema shared/domain/schema/order-created.v2.schema.json \
        [--endpoint-url http://127.0.0.1:5000] [--expect 1] [--wait-seconds 30]

Prints one JSON line per event handled, then a summary line.
"""

import argparse
import json
import sys
import time

import boto3
from jsonschema import Draft202012Validator, ValidationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--endpoint-url")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--wait-seconds", type=float, default=30)
    args = parser.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url, region_name=args.region)

    seen = set()  # a real consumer keeps this in a table (see the guide)
    handled, duplicates, invalid = [], 0, 0
    deadline = time.monotonic() + args.wait_seconds
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=args.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages and len(handled) >= args.expect:
            break  # what was expected arrived and the queue is empty
        for message in messages:
            event = json.loads(message["Body"])
            try:
                validator.validate(event)
            except ValidationError as error:
                print(f"invalid event {message['MessageId']}: {error.message}", file=sys.stderr)
                invalid += 1
                continue
            if event["eventId"] in seen:
                duplicates += 1
            else:
                seen.add(event["eventId"])
                attributes = {
                    name: value.get("StringValue")
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                handled.append(
                    {"eventId": event["eventId"], "orderId": event["orderId"], "attributes": attributes}
                )
                print(json.dumps(handled[-1]), flush=True)
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"])
    print(json.dumps({"handled": len(handled), "duplicates": duplicates, "invalid": invalid}))
    if invalid:
        return 2
    return 0 if len(handled) >= args.expect else 1


if __name__ == "__main__":
    sys.exit(main())
