"""Per-order CPU of the old system's Python functions (P3), for comparison
with `bench/benches/per_order.rs` on the same machine in the same run.

Each stage does what the Rust function does, written the way the old Python
function did it (json, hashlib, uuid, datetime, boto3's DynamoDB type
serialiser), without I/O:

- intake: parse the body, validate every field, hash the content, serialise
  the queue message;
- worker: decode the message, map it to a DynamoDB item;
- notifier: read the stream image, build the event, its JSON and the e-mail
  text.

Prints one JSON object: CPU nanoseconds per order of each stage
(time.process_time_ns over many orders).
"""

import hashlib
import json
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

HERE = os.path.dirname(os.path.abspath(__file__))
ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = {"orderID", "orderId", "customerName", "customerEmail", "shippingAddress", "items", "currency"}
ITEM_FIELDS = {"itemId", "quantity", "unitPrice"}
SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()


def text(obj, key, errors, required, limit, pattern=None):
    value = obj.get(key)
    if value is None:
        if required:
            errors.append({"pointer": "/" + key, "detail": key + " is required"})
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.append({"pointer": "/" + key, "detail": key + " is invalid"})
        return None
    if pattern is not None and not pattern.match(value):
        errors.append({"pointer": "/" + key, "detail": key + " is invalid"})
        return None
    return value


def validate(body):
    errors = []
    if not isinstance(body, dict):
        return None, [{"pointer": "", "detail": "the request body must be a JSON object"}]
    for key in body:
        if key not in FIELDS:
            errors.append({"pointer": "/" + key, "detail": "unknown field"})
    order_id = text(body, "orderID", errors, False, 64, ID)
    order = {
        "customerName": text(body, "customerName", errors, True, 200),
        "customerEmail": text(body, "customerEmail", errors, False, 254, EMAIL),
        "shippingAddress": text(body, "shippingAddress", errors, True, 500),
        "currency": text(body, "currency", errors, False, 3, CURRENCY),
    }
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        errors.append({"pointer": "/items", "detail": "items must hold 1 to 100 lines"})
        items = []
    lines, seen = [], set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"pointer": "/items/%d" % i, "detail": "must be an object"})
            continue
        for key in item:
            if key not in ITEM_FIELDS:
                errors.append({"pointer": "/items/%d/%s" % (i, key), "detail": "unknown field"})
        item_id = item.get("itemId")
        quantity = item.get("quantity")
        price = item.get("unitPrice")
        if not isinstance(item_id, str) or not ID.match(item_id) or item_id in seen:
            errors.append({"pointer": "/items/%d/itemId" % i, "detail": "invalid"})
        seen.add(item_id)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 10000:
            errors.append({"pointer": "/items/%d/quantity" % i, "detail": "invalid"})
        if price is not None and (isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= 100000000):
            errors.append({"pointer": "/items/%d/unitPrice" % i, "detail": "invalid"})
        line = {"itemId": item_id, "quantity": quantity}
        if price is not None:
            line["unitPrice"] = price
        lines.append(line)
    if any("unitPrice" in line for line in lines) and order["currency"] is None:
        errors.append({"pointer": "/currency", "detail": "currency is required with prices"})
    order["items"] = lines
    order = {k: v for k, v in order.items() if v is not None}
    return (order_id, order), errors


def content_hash(owner, order_id, order):
    digest = hashlib.sha256()
    digest.update(owner.encode())
    digest.update(b"\0")
    digest.update(order_id.encode())
    digest.update(b"\0")
    digest.update(json.dumps(order, separators=(",", ":")).encode())
    return digest.hexdigest()


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def intake(raw):
    parsed, errors = validate(json.loads(raw))
    if errors:
        return None
    order_id, order = parsed
    message = {
        "schemaVersion": 2,
        "owner": "anonymous",
        "orderId": order_id,
        "correlationId": str(uuid.uuid4()),
        "acceptedAt": now(),
        "order": order,
    }
    message["dedupId"] = content_hash("anonymous", order_id, order)
    return json.dumps(message, separators=(",", ":"))


def worker(body):
    message = json.loads(body)
    if message.get("schemaVersion") != 2:
        return None
    message.pop("dedupId", None)
    stamp = now()
    item = {
        "orderKey": message["owner"] + "#" + message["orderId"],
        "owner": message["owner"],
        "orderId": message["orderId"],
        "status": "CREATED",
        "itemVersion": 2,
        "correlationId": message["correlationId"],
        "acceptedAt": message["acceptedAt"],
        "createdAt": stamp,
        "updatedAt": stamp,
        "contentHash": content_hash(message["owner"], message["orderId"], message["order"]),
    }
    item.update(message["order"])
    return {key: SERIALIZER.serialize(value) for key, value in item.items()}


def money(minor, currency):
    return "%s %d.%02d" % (currency, minor // 100, minor % 100) if currency else "%d (minor units)" % minor


def notifier(image):
    stored = {key: DESERIALIZER.deserialize(value) for key, value in image.items()}
    currency = stored.get("currency")
    items = [
        {k: (int(v) if k != "itemId" else v) for k, v in line.items()} for line in stored["items"]
    ]
    priced = all("unitPrice" in line for line in items)
    event = {
        "eventType": "OrderCreated",
        "schemaVersion": 2,
        "eventId": "OrderCreated:" + stored["owner"] + ":" + stored["orderId"],
        "occurredAt": stored["createdAt"],
        "correlationId": stored["correlationId"],
        "owner": stored["owner"],
        "orderId": stored["orderId"],
        "acceptedAt": stored["acceptedAt"],
        "lineCount": len(items),
        "unitCount": sum(line["quantity"] for line in items),
        "items": items,
    }
    if currency:
        event["currency"] = currency
    if priced:
        event["total"] = sum(line["unitPrice"] * line["quantity"] for line in items)
    rows = [
        (
            line["itemId"],
            str(line["quantity"]),
            money(line["unitPrice"], currency) if "unitPrice" in line else "",
            money(line["unitPrice"] * line["quantity"], currency) if "unitPrice" in line else "",
        )
        for line in items
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = [
        "New order %s" % event["orderId"],
        "",
        "Accepted:       %s" % event["acceptedAt"],
        "Correlation id: %s" % event["correlationId"],
        "",
        "Items (%d lines, %d units):" % (event["lineCount"], event["unitCount"]),
    ]
    for row in rows:
        line = "  %s  x %s" % (row[0].ljust(widths[0]), row[1].rjust(widths[1]))
        if row[2]:
            line += "  at %s = %s" % (row[2].rjust(widths[2]), row[3].rjust(widths[3]))
        lines.append(line)
    if "total" in event:
        lines += ["", "Total: " + money(event["total"], currency)]
    lines += [
        "",
        "The customer's name, address and e-mail are not in this message.",
        "With access to the orders table, show them with:",
        "",
        "    orders-ops order show " + event["orderId"],
    ]
    return json.dumps(event, separators=(",", ":")), "\n".join(lines) + "\n"


def cpu_ns_per_call(fn, arg, count):
    for _ in range(count // 10):
        fn(arg)
    start = time.process_time_ns()
    for _ in range(count):
        fn(arg)
    return (time.process_time_ns() - start) / count


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with open(os.path.join(HERE, "order.json")) as f:
        body = f.read()
    message = intake(body)
    item = worker(message)
    assert message and item and notifier(item)[1]
    print(json.dumps({
        "intake_ns": cpu_ns_per_call(intake, body, count),
        "worker_ns": cpu_ns_per_call(worker, message, count),
        "notifier_ns": cpu_ns_per_call(notifier, item, count),
    }))
