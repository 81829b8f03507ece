"""Capacity (P6) and cost (P5) model of the deployed stack; infra/CAPACITY.md
explains it. Reads bench/capacity_inputs.json (quotas, prices, assumptions,
the sale's parameters), infra/template.yaml (what the stack sets), the
admin-digest settings in shared/adapters/src/settings.rs, the confirmation's
in functions/confirmation/src/settings.rs and the measured
figures of tests/examples/capacity_probe.rs.

    python3 bench/capacity.py MEASURED.json            # budget lines
    python3 bench/capacity.py MEASURED.json --markdown # the arithmetic, for the doc

Standard library only.
"""

import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 65536  # SQS and SNS bill one request per 64 KB of payload
P6_BUDGET = 10000  # orders/s: API Gateway's default account throttle
OLD_COST_SHARE = 5  # P5: at most a fifth of the old design's cost


def fail(why):
    sys.exit(f"capacity: {why}")


def top_level(text, name):
    """The lines under a top-level key of the template (`Parameters`, `Resources`)."""
    m = re.search(rf"^{name}:\n((?:(?: .*)?\n)*)", text, re.M)
    return m.group(1) if m else fail(f"no {name} in the template")


def entries(section):
    """Two-space keys of a section and the (deeper) lines under each."""
    found = {}
    for m in re.finditer(r"^  (\w+):\n((?:(?:    .*|  #.*)?\n)*)", section, re.M):
        found[m.group(1)] = m.group(2)
    return found


def template_settings(text):
    """What the model reads from the template: parameter defaults, function
    memory and architecture, the mappings' batch sizes and which parameter
    feeds the worker's MaximumConcurrency and the table's warm writes."""
    params, bounds = {}, {}
    for name, block in entries(top_level(text, "Parameters")).items():
        m = re.search(r"^    Default: (\S+)", block, re.M)
        if m:
            params[name] = m.group(1).strip('"')
        low = re.search(r"^    MinValue: (\d+)", block, re.M)
        high = re.search(r"^    MaxValue: (\d+)", block, re.M)
        bounds[name] = (int(low.group(1)) if low else None, int(high.group(1)) if high else None)
    resources = entries(top_level(text, "Resources"))

    def in_resource(resource, pattern, what):
        m = re.search(pattern, resources.get(resource) or fail(f"no {resource}"), re.M)
        return m.group(1) if m else fail(f"{resource} has no {what}")

    memory = re.search(r"^Globals:\n(?:  .*\n)*?    MemorySize: (\d+)", text, re.M)
    return {
        "params": params,
        "bounds": bounds,
        "memory_mb": int(memory.group(1)) if memory else fail("no Globals MemorySize"),
        "worker_batch": int(in_resource("WorkerFunction", r"^\s+BatchSize: (\d+)", "BatchSize")),
        "notifier_batch": int(in_resource("NotifierFunction", r"^\s+BatchSize: (\d+)", "BatchSize")),
        "pf": int(in_resource("NotifierFunction", r"^\s+ParallelizationFactor: (\d+)", "ParallelizationFactor")),
        "worker_mc_param": in_resource("WorkerFunction", r"^\s+MaximumConcurrency: !Ref (\w+)", "MaximumConcurrency parameter"),
        "warm_param": in_resource("OrdersTable", r"^\s+(?:- )?WriteUnitsPerSecond: !Ref (\w+)", "WarmThroughput parameter"),
    }


def digest_settings():
    """The admin-digest mapping and pace, as the code and template agree on them."""
    text = (ROOT / "shared/adapters/src/settings.rs").read_text()
    consts = dict(re.findall(r"pub const (ADMIN_DIGEST_\w+): \w+ = ([\d_]+);", text))
    handler = (ROOT / "functions/admin-digest/src/handler.rs").read_text()
    store = re.search(r"const STORE_CONCURRENCY: usize = (\d+);", handler)

    def get(name):
        return int(consts[name].replace("_", "")) if name in consts else fail(f"{name} not in settings.rs")

    return {
        "batch": get("ADMIN_DIGEST_BATCH_SIZE"),
        "window_s": get("ADMIN_DIGEST_BATCHING_WINDOW_SECS"),
        "concurrency": get("ADMIN_DIGEST_MAX_CONCURRENCY"),
        "interval_ms": get("ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS"),
        "store_concurrency": int(store.group(1)) if store else fail("STORE_CONCURRENCY not in admin-digest's handler"),
    }


def pipeline(inputs, t, d, measured, params, quota):
    """Each stage's ceiling in orders/s for one set of parameters and one
    account concurrency quota, and the ceiling of the whole path."""
    lat, lim, acct = inputs["latency_ms"], inputs["service_limits"], inputs["account"]
    scale = inputs["cpu"]["full_vcpu_mb"] / t["memory_mb"]
    bw, bn, pf = t["worker_batch"], t["notifier_batch"], t["pf"]
    s = {"scale": scale, "quota": quota}
    s["d_i"] = measured["worker_cpu_ms_per_batch"] / bw * scale + lat["sqs_send"]
    s["c_i"] = (s["d_i"] + lat["lambda_invoke_overhead"]) / 1000  # concurrency per order/s
    s["d_w"] = measured["worker_cpu_ms_per_batch"] * scale + lat["dynamodb_put"]
    s["cycle_w"] = s["d_w"] + lat["lambda_invoke_overhead"] + lat["sqs_mapping_cycle"]
    s["d_n"] = measured["notifier_cpu_ms_per_batch"] * scale + math.ceil(bn / 10) * lat["sns_publish_batch_10"]
    s["cycle_n"] = s["d_n"] + lat["lambda_invoke_overhead"] + lat["stream_mapping_cycle"]
    mc = int(params[t["worker_mc_param"]])
    warm = int(params[t["warm_param"]]) or lim["dynamodb_new_table_wru_per_s"]
    reserved = int(params["IntakeReservedConcurrency"])
    s.update(mc=mc, warm=warm, reserved=reserved)
    s["wru"] = math.ceil(measured["order_item_bytes"] / 1024)
    s["partitions"] = math.ceil(warm / lim["dynamodb_partition_wcu"])
    s["shards"] = s["partitions"] * lim["stream_shards_per_partition"]
    s["per_shard"] = pf * bn * 1000 / s["cycle_n"]
    s["inv_per_order"] = 1 + 1 / bw + 1 / bn + 1 / d["batch"]
    s["email_rate"] = d["concurrency"] * 1000 / d["interval_ms"]
    background = mc + s["shards"] * pf + d["concurrency"]  # everything but intake, at most
    s["background"] = background
    inf = float("inf")
    stages = {
        "API Gateway": min(int(params["ApiThrottleRateLimit"]), acct["apigw_rps"]),
        "Lambda invocations": acct["lambda_rps_per_concurrency"] * quota / s["inv_per_order"],
        "SQS FIFO": lim["sqs_fifo_tps"],
        "worker": mc * bw * 1000 / s["cycle_w"],
        "DynamoDB": warm / s["wru"],
        "notifier": s["shards"] * s["per_shard"],
        "SNS publish": lim["sns_publish_per_s"] - s["email_rate"],
        "admin e-mail": inf if s["email_rate"] <= lim["email_per_s_per_subscription"] else 0,
    }
    if reserved:
        stages["intake"] = min(reserved / s["c_i"], acct["lambda_rps_per_concurrency"] * reserved)
        stages["Lambda concurrency"] = inf if background <= quota - reserved else 0
    else:
        stages["Lambda concurrency"] = max(0, quota - background) / s["c_i"]
    s["stages"] = stages
    s["bottleneck"] = min(stages, key=stages.get)
    s["capacity"] = stages[s["bottleneck"]]
    behind = {k: v for k, v in stages.items() if k not in ("API Gateway", "admin e-mail")}
    s["behind_api"] = min(behind.values())
    s["behind_api_stage"] = min(behind, key=behind.get)
    return s


def digest_batch(inputs, d, cpu, b):
    """One admin-digest invocation over `b` new orders: its e-mails, claims,
    completions and pace (functions/admin-digest/src/handler.rs)."""
    lat, g = inputs["latency_ms"], inputs["digest"]
    emails = math.ceil((g["header_bytes"] + b * g["bytes_per_order"]) / inputs["service_limits"]["sns_message_bytes"])
    claim = math.ceil(b / d["store_concurrency"]) * lat["dynamodb_put"]
    complete = math.ceil(math.ceil(b / emails) / d["store_concurrency"]) * lat["dynamodb_put"]
    per_email = max(d["interval_ms"], lat["sns_publish"] + complete)
    return {
        "emails": emails, "claim": claim, "complete": complete, "per_email": per_email, "cpu": cpu,
        "duration": b * cpu + claim + emails * per_email,
        "email_bytes": g["header_bytes"] + math.ceil(b / emails) * g["bytes_per_order"],
    }


def digest(inputs, t, d, measured, s, rate):
    """The admin digest at a sustained order rate: how fast it drains, the
    e-mails it sends, and how far the admin's mail trails a sale."""
    lat, g = inputs["latency_ms"], inputs["digest"]
    cpu = measured["notifier_cpu_ms_per_batch"] / t["notifier_batch"] * s["scale"]
    b = d["batch"]
    x = digest_batch(inputs, d, cpu, b)
    x["cycle"] = x["duration"] + lat["lambda_invoke_overhead"] + lat["sqs_mapping_cycle"]
    x["fn"] = d["concurrency"] * b * 1000 / x["cycle"]
    x["table"] = g["idempotency_table_wru_per_s"] / g["writes_per_order"]
    x["drain"] = min(x["fn"], x["table"])
    x["rate"] = rate
    x["lag_per_s"] = max(0.0, rate / x["drain"] - 1)  # seconds of lag per second of sale
    x["max_sale_s"] = g["queue_retention_s"] / x["lag_per_s"] if x["lag_per_s"] else float("inf")
    return x


def costs(inputs, t, d, measured, s, x, orders_per_batch=None, fill=1.0):
    """USD per million orders, item by item. `orders_per_batch` is the digest's
    batch (full by default), `fill` how full the worker's and notifier's are."""
    price = inputs["prices_usd"]
    bw, bn = t["worker_batch"] * fill, t["notifier_batch"] * fill
    b = orders_per_batch or d["batch"]
    full = b == d["batch"]
    per_sqs = inputs["service_limits"]["sqs_messages_per_receive"]
    gb = t["memory_mb"] / 1024
    gb_s = price["lambda_arm64_gb_s"] if t["params"]["Architecture"] == "arm64" else price["lambda_x86_gb_s"]
    y = digest_batch(inputs, d, x["cpu"], b)
    billed = math.ceil(s["d_i"]) + math.ceil(s["d_w"]) / bw + math.ceil(s["d_n"]) / bn + math.ceil(y["duration"]) / b
    entry = measured["sns_entry_bytes"]
    # The digest queue: full receives when orders pile up, about one per order when they trickle in.
    receives = 1 / per_sqs if full else 1.0
    email_req = math.ceil(y["email_bytes"] / CHUNK)
    emails = y["emails"]
    g = inputs["digest"]
    return {
        "API Gateway (HTTP API, 1 request)": price["apigw_http_per_million"],
        f"Lambda requests (1 + 1/{bw:g} + 1/{bn:g} + 1/{b})": price["lambda_requests_per_million"] * (1 + 1 / bw + 1 / bn + 1 / b),
        f"Lambda GB-s ({gb:.3f} GB x {billed:.1f} ms)": 1e6 * gb * billed / 1000 * gb_s,
        f"SQS FIFO (send 1 + receive 1/{bw:g} + delete 1/{bw:g})": price["sqs_fifo_per_million"] * (1 + 2 / bw),
        f"DynamoDB orders ({s['wru']} WRU, {measured['order_item_bytes']} B item)": price["dynamodb_wru_per_million"] * s["wru"],
        "DynamoDB Streams (GetRecords by Lambda: free)": 0.0,
        f"SNS events topic (PublishBatch of {bn:g}, {entry} B entries)": price["sns_requests_per_million"] * math.ceil(bn * entry / CHUNK) / bn,
        "SNS to SQS deliveries (digest queue, consumer queues: free)": 0.0,
        f"SQS digest queue (receive {receives:g} + delete 1/{per_sqs})": price["sqs_standard_per_million"] * (receives + 1 / per_sqs),
        f"DynamoDB idempotency ({g['writes_per_order']} WRU: claim, complete)": price["dynamodb_wru_per_million"] * g["writes_per_order"],
        f"SNS admin topic ({emails} Publish of {email_req} x 64 KB per {b} orders)": price["sns_requests_per_million"] * emails * email_req / b,
        f"SNS e-mail ({emails} per {b} orders)": price["sns_email_per_million"] * emails / b,
    }


def confirmation_settings(text):
    """The confirmation mapping as the code and the template agree on them:
    its concurrency and batch (functions/confirmation/src/settings.rs), the
    account's send rate (SesMaxSendRate's default) and its queue's retention."""
    code = (ROOT / "functions/confirmation/src/settings.rs").read_text()

    def const(name):
        m = re.search(rf"pub const {name}: \w+ = ([\d_]+);", code)
        return int(m.group(1).replace("_", "")) if m else fail(f"{name} not in the confirmation's settings.rs")

    params = entries(top_level(text, "Parameters"))
    rate = re.search(r"^    Default: ([\d.]+)", params.get("SesMaxSendRate") or fail("no SesMaxSendRate"), re.M)
    queue = entries(top_level(text, "Resources")).get("ConfirmationQueue") or fail("no ConfirmationQueue")
    retention = re.search(r"^      MessageRetentionPeriod: (\d+)", queue, re.M)
    return {
        "concurrency": const("MAX_CONCURRENCY"),
        "batch": const("BATCH_SIZE"),
        "rate": float(rate.group(1)) if rate else fail("SesMaxSendRate has no default"),
        "retention_s": int(retention.group(1)) if retention else fail("ConfirmationQueue has no retention"),
    }


def confirmation(inputs, t, c, rate):
    """The confirmations at a sustained order rate, every order with an
    address: how far they trail a sale, the longest sale the queue's
    retention allows, and the cost per million confirmations."""
    price, k = inputs["prices_usd"], inputs["confirmation"]
    x = {"rate": rate, "send_rate": c["rate"], "interval_ms": math.ceil(c["concurrency"] * 1000 / c["rate"])}
    x["lag_per_s"] = max(0.0, rate / c["rate"] - 1)
    x["sale_10min_h"] = rate * 600 / c["rate"] / 3600
    x["max_sale_s"] = c["retention_s"] / x["lag_per_s"] if x["lag_per_s"] else float("inf")
    gb_s = price["lambda_arm64_gb_s"] if t["params"]["Architecture"] == "arm64" else price["lambda_x86_gb_s"]
    per_sqs = inputs["service_limits"]["sqs_messages_per_receive"]
    x["cost"] = {
        "SES (1 e-mail)": price["ses_per_thousand"] * 1000,
        f"Lambda requests (1/{c['batch']})": price["lambda_requests_per_million"] / c["batch"],
        f"Lambda GB-s ({t['memory_mb'] / 1024:.3f} GB x {x['interval_ms']} ms pace)": 1e6 * t["memory_mb"] / 1024 * x["interval_ms"] / 1000 * gb_s,
        f"SQS confirmation queue (receive 1/{per_sqs} + delete 1/{per_sqs})": price["sqs_standard_per_million"] * 2 / per_sqs,
        f"DynamoDB orders ({k['reads_per_order']} RRU read, {k['writes_per_order']} WRU claim and sent mark)": price["dynamodb_rru_per_million"] * k["reads_per_order"] + price["dynamodb_wru_per_million"] * k["writes_per_order"],
    }
    x["total"] = sum(x["cost"].values())
    return x


def old_design(inputs, measured):
    """The old single Python function, priced and sized the same way."""
    lat, lim, acct, old, price = (inputs[k] for k in ("latency_ms", "service_limits", "account", "old_design", "prices_usd"))
    d_old = old["python_overhead_ms"] + lat["dynamodb_put"] + lat["sns_publish"]
    wru = math.ceil(measured["order_item_bytes"] / 1024)
    cost = {
        "API Gateway (HTTP API, 1 request)": old["apigw_http_per_million"],
        "Lambda requests (1)": price["lambda_requests_per_million"],
        f"Lambda GB-s (x86_64 {old['memory_mb'] / 1024:.3f} GB x {d_old} ms)": 1e6 * old["memory_mb"] / 1024 * d_old / 1000 * price["lambda_x86_gb_s"],
        f"DynamoDB ({wru} WRU)": price["dynamodb_wru_per_million"] * wru,
        "SNS (1 Publish request)": price["sns_requests_per_million"],
        "SNS e-mail (1 per order)": price["sns_email_per_million"],
    }
    quota = acct["lambda_concurrency_quota_default"]
    stages = {
        "API Gateway": acct["apigw_rps"],
        "Lambda invocations": acct["lambda_rps_per_concurrency"] * quota,
        "Lambda concurrency": quota * 1000 / (d_old + lat["lambda_invoke_overhead"]),
        "DynamoDB (new table)": lim["dynamodb_new_table_wru_per_s"] / wru,
        "SNS publish": lim["sns_publish_per_s"],
        "admin e-mail subscription": lim["email_per_s_per_subscription"],
    }
    stored = min(v for k, v in stages.items() if k != "admin e-mail subscription")
    return {"d": d_old, "cost": cost, "total": sum(cost.values()), "stages": stages, "capacity": min(stages.values()), "stored": stored}


def model(inputs, t, d, measured, confirmations):
    sale = inputs["sale"]
    for name, value in sale["parameters"].items():
        if name not in t["params"]:
            fail(f"sale parameter {name} is not a parameter of the template")
        low, high = t["bounds"][name]
        if (low is not None and value < low) or (high is not None and value > high):
            fail(f"sale parameter {name}={value} is outside the template's {low}..{high}")
    m = {"confirmation_settings": confirmations, "sale": pipeline(inputs, t, d, measured, {**t["params"], **sale["parameters"]}, sale["lambda_concurrency_quota"])}
    default_quota = inputs["account"]["lambda_concurrency_quota_default"]
    m["sale_default_quota"] = pipeline(inputs, t, d, measured, {**t["params"], **sale["parameters"]}, default_quota)
    m["defaults"] = pipeline(inputs, t, d, measured, t["params"], default_quota)
    m["digest"] = digest(inputs, t, d, measured, m["sale"], P6_BUDGET)
    m["cost"] = costs(inputs, t, d, measured, m["sale"], m["digest"])
    m["total"] = sum(m["cost"].values())
    m["half"] = sum(costs(inputs, t, d, measured, m["sale"], m["digest"], fill=0.5).values())
    # Quiet hours: one batch per batching window, so r x window orders per e-mail.
    m["quiet"] = {}
    for rate in (1.0, 1 / d["window_s"]):
        per_batch = max(1, min(d["batch"], round(rate * d["window_s"])))
        m["quiet"][rate] = (per_batch, sum(costs(inputs, t, d, measured, m["sale"], m["digest"], per_batch).values()))
    m["confirmation"] = confirmation(inputs, t, m["confirmation_settings"], P6_BUDGET)
    m["old"] = old_design(inputs, measured)
    m["budget"] = m["old"]["total"] / OLD_COST_SHARE
    return m


def fmt(v):
    return "unbounded" if v == float("inf") else f"{v:,.0f}"


def lines(m, t, d):
    s, x, old = m["sale"], m["digest"], m["old"]
    sale = ", ".join(f"{k}={v}" for k, v in m["inputs_sale"].items())
    cap_ok = s["capacity"] >= P6_BUDGET
    cost_ok = m["total"] <= m["budget"]
    q1, q0 = m["quiet"].values()
    return [
        f"P6 capacity: {s['capacity']:.0f} orders/s (budget >= {P6_BUDGET} orders/s) {'PASS' if cap_ok else 'FAIL'}",
        f"P6 info: sale parameters {sale}, Lambda concurrency quota {s['quota']}; bottleneck {s['bottleneck']}; "
        f"behind the API {s['behind_api']:,.0f}/s ({s['behind_api_stage']}); "
        + ", ".join(f"{k} {fmt(v)}" for k, v in s["stages"].items()),
        f"P6 info: at the default concurrency quota {m['sale_default_quota']['quota']}: "
        f"{m['sale_default_quota']['capacity']:,.0f} orders/s ({m['sale_default_quota']['bottleneck']}); "
        f"at the template's defaults: {m['defaults']['capacity']:,.0f} orders/s ({m['defaults']['bottleneck']}), "
        f"{m['defaults']['behind_api']:,.0f}/s behind the API ({m['defaults']['behind_api_stage']})",
        f"P6 info: admin digest drains {x['drain']:,.0f} orders/s ({d['concurrency']} x {d['batch']} per "
        f"{x['cycle'] / 1000:.2f} s); at {x['rate']:,} orders/s its e-mails fall behind by {x['lag_per_s']:.1f} s per second "
        f"of sale ({x['lag_per_s'] * 600 / 60:.0f} min after a 10-minute sale); admin e-mails at most "
        f"{s['email_rate']:g}/s at any rate (suspended above 10/s)",
        f"P6 info: customer confirmations at most {m['confirmation']['send_rate']:g}/s (SesMaxSendRate); at {P6_BUDGET:,} orders/s, "
        f"every order with an address, they fall behind by {m['confirmation']['lag_per_s']:,.0f} s per second of sale "
        f"(a 10-minute sale is confirmed over {m['confirmation']['sale_10min_h']:,.0f} h; the queue's retention allows "
        f"{m['confirmation']['max_sale_s'] / 60:,.0f} min of such a sale); ${m['confirmation']['total']:.2f} per million confirmations, "
        "not in P5 (orders without an address cost none)",
        f"P5 cost: ${m['total']:.2f} per million (budget <= ${m['budget']:.2f}, a fifth of the old design) {'PASS' if cost_ok else 'FAIL'}",
        f"P5 old design (one synchronous Python Lambda per order, one SNS e-mail per order): ${old['total']:.2f} per million; "
        f"capacity {old['capacity']:.0f} orders/s (its e-mail subscription is suspended above that; {old['stored']:,.0f}/s stored)",
        f"P5 info: with half-full worker and notifier batches ${m['half']:.2f}; quiet hours (one digest e-mail per "
        f"{d['window_s']} s window): ${q1[1]:.2f} at 1 order/s, ${q0[1]:.2f} at one order per window or fewer; "
        f"memory {t['memory_mb']} MB {t['params']['Architecture']}",
    ]


def markdown(m, t, d, measured, inputs):
    lat = inputs["latency_ms"]
    s, x, old = m["sale"], m["digest"], m["old"]
    out = []
    w = out.append
    w("| measured here (tests/examples/capacity_probe.rs, release build) | value |")
    w("|---|---|")
    w(f"| worker CPU per batch of {t['worker_batch']} (10 groups, in-memory store, JSON logs) | {measured['worker_cpu_ms_per_batch']:.3f} ms |")
    w(f"| notifier CPU per batch of {t['notifier_batch']} (in-memory publisher, JSON logs) | {measured['notifier_cpu_ms_per_batch']:.3f} ms |")
    w(f"| DynamoDB size of the legacy order item | {measured['order_item_bytes']} B |")
    w(f"| SNS PublishBatch entry of its event (message, attributes) | {measured['sns_entry_bytes']} B |")
    w("")
    w(f"CPU scale at {t['memory_mb']} MB: 1769 / {t['memory_mb']} = {s['scale']:.2f}.")
    w("")
    w("| stage | arithmetic (sale parameters) | orders/s |")
    w("|---|---|---|")
    st = s["stages"]
    w(f"| API Gateway | min(ApiThrottleRateLimit {m['inputs_sale']['ApiThrottleRateLimit']}, account {inputs['account']['apigw_rps']}) | **{fmt(st['API Gateway'])}** |")
    w(f"| Lambda invocations (account) | {inputs['account']['lambda_rps_per_concurrency']} x quota {s['quota']} / {s['inv_per_order']:.3f} invocations per order | {fmt(st['Lambda invocations'])} |")
    w(f"| Lambda concurrency (account) | (quota {s['quota']} - worker {s['mc']} - notifier {s['shards']} x {t['pf']} - digest {d['concurrency']}) / intake {s['c_i'] * 1000:.1f} ms | {fmt(st['Lambda concurrency'])} |")
    w(f"| SQS FIFO high throughput | SendMessage {inputs['service_limits']['sqs_fifo_tps']} per s | {fmt(st['SQS FIFO'])} |")
    w(f"| worker | {s['mc']} slots x {t['worker_batch']} / ({measured['worker_cpu_ms_per_batch']:.3f} x {s['scale']:.2f} + {lat['dynamodb_put']} put + {lat['lambda_invoke_overhead']} + {lat['sqs_mapping_cycle']}) ms | {fmt(st['worker'])} |")
    w(f"| DynamoDB orders table | warm {s['warm']} WRU/s / {s['wru']} WRU | {fmt(st['DynamoDB'])} |")
    w(f"| notifier | {s['shards']} shards ({s['partitions']} partitions) x PF {t['pf']} x {t['notifier_batch']} / {s['cycle_n']:.1f} ms | {fmt(st['notifier'])} |")
    w(f"| SNS publish quota | {inputs['service_limits']['sns_publish_per_s']} messages/s - {s['email_rate']:g} admin e-mails | {fmt(st['SNS publish'])} |")
    w(f"| admin e-mail subscription | {d['concurrency']} invocations x 1 per {d['interval_ms']} ms = {s['email_rate']:g}/s <= 10/s | {fmt(st['admin e-mail'])} |")
    w(f"| **P6** | min: {s['bottleneck']} | **{s['capacity']:,.0f}** (behind the API: {s['behind_api']:,.0f}, {s['behind_api_stage']}) |")
    w(f"| at the default quota {m['sale_default_quota']['quota']} | min: {m['sale_default_quota']['bottleneck']} | {m['sale_default_quota']['capacity']:,.0f} |")
    w(f"| template defaults | min: {m['defaults']['bottleneck']} | {m['defaults']['capacity']:,.0f} (behind the API: {m['defaults']['behind_api']:,.0f}, {m['defaults']['behind_api_stage']}) |")
    w("")
    w("| admin digest (full batches) | arithmetic | result |")
    w("|---|---|---|")
    w(f"| e-mails per batch | ({inputs['digest']['header_bytes']} + {d['batch']} x {inputs['digest']['bytes_per_order']} B) / 262,144 B, rounded up | {x['emails']} |")
    w(f"| claims | {d['batch']} / {d['store_concurrency']} at a time x {lat['dynamodb_put']} ms | {x['claim']} ms |")
    w(f"| per e-mail | max({d['interval_ms']} ms pace, {lat['sns_publish']} publish + {x['complete']} ms completions) | {x['per_email']} ms |")
    w(f"| invocation | {d['batch']} x {x['cpu']:.3f} ms CPU + {x['claim']} + {x['emails']} x {x['per_email']} ms | {x['duration']:.0f} ms |")
    w(f"| drain | min({d['concurrency']} x {d['batch']} / ({x['duration']:.0f} + {lat['lambda_invoke_overhead']} + {lat['sqs_mapping_cycle']}) ms, idempotency table {inputs['digest']['idempotency_table_wru_per_s']} WRU/s / {inputs['digest']['writes_per_order']}) | {x['drain']:,.0f} orders/s |")
    w(f"| lag at {x['rate']:,} orders/s | {x['rate']:,} / {x['drain']:,.0f} - 1 | {x['lag_per_s']:.2f} s per second of sale |")
    w(f"| longest sale before the digest queue's retention ({inputs['digest']['queue_retention_s'] // 86400} days) is reached | retention / lag | {x['max_sale_s'] / 3600:,.1f} h |")
    w("")
    for title, table, total in (("cost per million orders (sale, full batches)", m["cost"], m["total"]),
                                ("old design, per million orders", old["cost"], old["total"])):
        w(f"| {title} | USD |")
        w("|---|---|")
        for k, v in table.items():
            w(f"| {k} | {v:.3f} |")
        w(f"| **total** | **{total:.2f}** |")
        w("")
    y = m["confirmation"]
    c = m["confirmation_settings"]
    w("| customer confirmations (every order with an address) | arithmetic | result |")
    w("|---|---|---|")
    w(f"| send rate | SesMaxSendRate default: {c['concurrency']} invocations x 1 per {y['interval_ms']} ms | {y['send_rate']:g} e-mails/s |")
    w(f"| lag at {y['rate']:,} orders/s | {y['rate']:,} / {y['send_rate']:g} - 1 | {y['lag_per_s']:,.0f} s per second of sale |")
    w(f"| a 10-minute sale confirmed within | {y['rate']:,} x 600 / {y['send_rate']:g} | {y['sale_10min_h']:,.0f} h |")
    w(f"| longest such sale before the queue's retention ({c['retention_s'] // 86400} days) is reached | retention / lag | {y['max_sale_s'] / 60:,.0f} min |")
    w("")
    w("| cost per million confirmations (not in P5) | USD |")
    w("|---|---|")
    for k, v in y["cost"].items():
        w(f"| {k} | {v:.3f} |")
    w(f"| **total** | **{y['total']:.2f}** |")
    w("")
    w("| sensitivity | USD per million |")
    w("|---|---|")
    w(f"| P5 budget: a fifth of the old design | {m['budget']:.2f} |")
    w(f"| worker and notifier batches half full | {m['half']:.2f} |")
    for rate, (per_batch, total) in m["quiet"].items():
        w(f"| {rate:g} orders/s: {per_batch} order(s) per digest e-mail | {total:.2f} |")
    w(f"| old design's capacity | {old['capacity']:.0f} orders/s (e-mail), {old['stored']:,.0f} stored |")
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    measured = json.loads(Path(args[0]).read_text())
    inputs = json.loads((ROOT / "bench" / "capacity_inputs.json").read_text())
    t = template_settings((ROOT / "infra" / "template.yaml").read_text())
    d = digest_settings()
    template = (ROOT / "infra" / "template.yaml").read_text()
    m = model(inputs, t, d, measured, confirmation_settings(template))
    m["inputs_sale"] = inputs["sale"]["parameters"]
    out = markdown(m, t, d, measured, inputs) if "--markdown" in sys.argv else lines(m, t, d)
    print("\n".join(out))


if __name__ == "__main__":
    main()
