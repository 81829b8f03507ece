"""Capacity (P6) and cost (P5) model of the deployed stack; infra/CAPACITY.md
explains it. Reads bench/capacity_inputs.json, infra/template.yaml (the
defaults) and the measured figures of tests/examples/capacity_probe.rs.

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


def template_settings(text):
    """The template values the model depends on (defaults of parameters)."""

    def parameter_default(name):
        m = re.search(rf"^  {name}:\n(?:    .*\n)*?    Default: (\S+)", text, re.M)
        if not m:
            sys.exit(f"capacity: parameter {name} not found in the template")
        return m.group(1).strip('"')

    def function_events(function):
        m = re.search(rf"^  {function}:\n((?:(?:    .*)?\n)*)", text, re.M)
        if not m:
            sys.exit(f"capacity: {function} not found in the template")
        return m.group(1)

    def int_in(block, key):
        m = re.search(rf"^\s+{key}: (\d+)", block, re.M)
        if not m:
            sys.exit(f"capacity: {key} not found in the template")
        return int(m.group(1))

    memory = re.search(r"^Globals:\n(?:  .*\n)*?    MemorySize: (\d+)", text, re.M)
    worker = function_events("WorkerFunction")
    notifier = function_events("NotifierFunction")
    return {
        "memory_mb": int(memory.group(1)),
        "architecture": parameter_default("Architecture"),
        "worker_max_concurrency": int(parameter_default("WorkerMaximumConcurrency")),
        "worker_batch": int_in(worker, "BatchSize"),
        "notifier_batch": int_in(notifier, "BatchSize"),
        "parallelization_factor": int_in(notifier, "ParallelizationFactor"),
        "api_rate": int(parameter_default("ApiThrottleRateLimit")),
        "intake_reserved": int(parameter_default("IntakeReservedConcurrency")),
    }


def model(inputs, t, measured):
    lat = inputs["latency_ms"]
    lim = inputs["service_limits"]
    price = inputs["prices_usd"]
    old = inputs["old_design"]
    scale = inputs["cpu"]["full_vcpu_mb"] / t["memory_mb"]
    bw, bn = t["worker_batch"], t["notifier_batch"]
    mc = inputs["knob"]["WorkerMaximumConcurrency"]
    pf = t["parallelization_factor"]
    m = {"scale": scale, "mc": mc, "pf": pf, "bw": bw, "bn": bn}

    # Worker: one invocation stores ten orders of ten customers (one per
    # message group in a flash sale); groups run concurrently, so one put
    # round trip per batch instead of ten.
    m["cpu_w"] = measured["worker_cpu_ms_per_batch"] * scale
    m["d_w"] = m["cpu_w"] + 1 * lat["dynamodb_put"]
    m["d_w_old"] = m["cpu_w"] + bw * lat["dynamodb_put"]
    cycle_w = lat["lambda_invoke_overhead"] + lat["sqs_mapping_cycle"]
    m["cycle_w"] = m["d_w"] + cycle_w
    m["cycle_w_old"] = m["d_w_old"] + cycle_w
    m["worker"] = mc * bw * 1000 / m["cycle_w"]
    m["worker_default"] = t["worker_max_concurrency"] * bw * 1000 / m["cycle_w"]
    m["worker_old"] = t["worker_max_concurrency"] * bw * 1000 / m["cycle_w_old"]

    # Notifier: one PublishBatch per ten records; PF batches per shard at once.
    m["cpu_n"] = measured["notifier_cpu_ms_per_batch"] * scale
    m["d_n"] = m["cpu_n"] + math.ceil(bn / 10) * lat["sns_publish_batch_10"]
    m["d_n_old"] = m["cpu_n"] + bn * lat["sns_publish"]
    cycle_n = lat["lambda_invoke_overhead"] + lat["stream_mapping_cycle"]
    m["cycle_n"] = m["d_n"] + cycle_n
    m["cycle_n_old"] = m["d_n_old"] + cycle_n
    m["per_shard"] = pf * bn * 1000 / m["cycle_n"]
    m["per_shard_old"] = 1 * bn * 1000 / m["cycle_n_old"]
    m["shards"] = lim["stream_shards"]
    m["notifier"] = m["shards"] * m["per_shard"]
    m["notifier_old"] = m["shards"] * m["per_shard_old"]

    # Services.
    m["wru"] = math.ceil(measured["order_item_bytes"] / 1024)
    m["dynamodb"] = lim["dynamodb_initial_wru_per_s"] / m["wru"]
    m["sqs"] = lim["sqs_fifo_tps"]
    m["sns"] = lim["sns_publish_per_s"]
    stages = {
        "worker": m["worker"],
        "notifier": m["notifier"],
        "SQS FIFO": m["sqs"],
        "DynamoDB": m["dynamodb"],
        "SNS": m["sns"],
    }
    m["bottleneck"] = min(stages, key=stages.get)
    m["capacity"] = stages[m["bottleneck"]]
    m["capacity_old"] = min(m["worker_old"], m["notifier_old"], m["sqs"], m["dynamodb"], m["sns"])

    # Front door (admission limits, parameters): not part of the pipeline ceiling.
    m["d_i"] = measured["worker_cpu_ms_per_batch"] / bw * scale + lat["sqs_send"]
    m["intake"] = t["intake_reserved"] * 1000 / (m["d_i"] + lat["lambda_invoke_overhead"])
    m["front_door"] = min(t["api_rate"], m["intake"])

    # Cost per million orders.
    gb = t["memory_mb"] / 1024
    gb_s_price = price["lambda_arm64_gb_s"] if t["architecture"] == "arm64" else price["lambda_x86_gb_s"]
    billed = math.ceil(m["d_i"]) + math.ceil(m["d_w"]) / bw + math.ceil(m["d_n"]) / bn
    sns_requests = math.ceil(bn * measured["sns_entry_bytes"] / 65536) / bn
    cost = {
        "API Gateway (HTTP API, 1 request)": price["apigw_http_per_million"],
        f"Lambda requests (1 + 1/{bw} + 1/{bn})": price["lambda_requests_per_million"] * (1 + 1 / bw + 1 / bn),
        f"Lambda GB-s ({gb:.3f} GB x {billed:.1f} ms)": 1e6 * gb * billed / 1000 * gb_s_price,
        f"SQS FIFO (send 1 + receive 1/{bw} + delete 1/{bw})": price["sqs_fifo_per_million"] * (1 + 2 / bw),
        f"DynamoDB ({m['wru']} WRU, {measured['order_item_bytes']} B item)": price["dynamodb_wru_per_million"] * m["wru"],
        "DynamoDB Streams (GetRecords by Lambda: free)": 0.0,
        f"SNS ({sns_requests:.2f} requests: PublishBatch of {bn})": price["sns_requests_per_million"] * sns_requests,
    }
    m["billed_ms_per_order"] = billed
    m["cost"] = cost
    m["total"] = sum(cost.values())
    # Half-full batches (a quiet shard, a partly filled poll): requests per order double.
    half = dict(cost)
    half[f"Lambda requests (1 + 1/{bw} + 1/{bn})"] = price["lambda_requests_per_million"] * (1 + 2 / bw + 2 / bn)
    half[f"SQS FIFO (send 1 + receive 1/{bw} + delete 1/{bw})"] = price["sqs_fifo_per_million"] * (1 + 4 / bw)
    half[f"SNS ({sns_requests:.2f} requests: PublishBatch of {bn})"] = price["sns_requests_per_million"] * 2 * sns_requests
    m["total_half_batches"] = sum(half.values())

    d_old = old["python_overhead_ms"] + lat["dynamodb_put"] + lat["sns_publish"]
    old_cost = {
        "API Gateway (HTTP API, 1 request)": old["apigw_http_per_million"],
        "Lambda requests (1)": price["lambda_requests_per_million"],
        f"Lambda GB-s (x86_64 {old['memory_mb'] / 1024:.3f} GB x {d_old} ms)": 1e6 * old["memory_mb"] / 1024 * d_old / 1000 * price["lambda_x86_gb_s"],
        f"DynamoDB ({m['wru']} WRU)": price["dynamodb_wru_per_million"] * m["wru"],
        "SNS (1 Publish request)": price["sns_requests_per_million"],
    }
    m["d_old"] = d_old
    m["old_cost"] = old_cost
    m["old_total"] = sum(old_cost.values())
    return m


def lines(m, t):
    cap_ok = m["capacity"] >= 3000
    cost_ok = m["total"] <= 2.60
    return [
        f"P6 capacity: {m['capacity']:.0f} orders/s (budget >= 3000 orders/s) {'PASS' if cap_ok else 'FAIL'}",
        f"P6 info: template defaults + WorkerMaximumConcurrency={m['mc']}; bottleneck {m['bottleneck']}; "
        f"worker {m['worker']:.0f}/s (at the default {t['worker_max_concurrency']}: {m['worker_default']:.0f}/s; "
        f"old one-at-a-time worker {m['worker_old']:.0f}/s), notifier {m['notifier']:.0f}/s "
        f"(PF {m['pf']}, {m['shards']} shards; old {m['notifier_old']:.0f}/s)",
        f"P6 info: front door (parameters, not the pipeline): ApiThrottleRateLimit {t['api_rate']}/s, "
        f"intake at IntakeReservedConcurrency {t['intake_reserved']}: {m['intake']:.0f}/s",
        f"P5 cost: ${m['total']:.2f} per million (budget <= $2.60) {'PASS' if cost_ok else 'FAIL'}",
        f"P5 info: old design (one synchronous Python Lambda) ${m['old_total']:.2f} per million; "
        f"with half-full batches ${m['total_half_batches']:.2f}; memory {t['memory_mb']} MB {t['architecture']}",
    ]


def markdown(m, t, measured, inputs):
    lat = inputs["latency_ms"]
    out = []
    w = out.append
    w("| measured here (tests/examples/capacity_probe.rs, release build) | value |")
    w("|---|---|")
    w(f"| worker CPU per batch of {m['bw']} (10 groups, in-memory store, JSON logs) | {measured['worker_cpu_ms_per_batch']:.3f} ms |")
    w(f"| notifier CPU per batch of {m['bn']} (in-memory publisher, JSON logs) | {measured['notifier_cpu_ms_per_batch']:.3f} ms |")
    w(f"| DynamoDB size of the legacy order item | {measured['order_item_bytes']} B |")
    w(f"| SNS PublishBatch entry of its event (message, subject, attributes) | {measured['sns_entry_bytes']} B |")
    w("")
    w(f"CPU scale at {t['memory_mb']} MB: 1769 / {t['memory_mb']} = {m['scale']:.2f}.")
    w("")
    w("| step | arithmetic | result |")
    w("|---|---|---|")
    w(f"| worker duration (groups concurrent) | {measured['worker_cpu_ms_per_batch']:.3f} x {m['scale']:.2f} + 1 x {lat['dynamodb_put']} | {m['d_w']:.1f} ms |")
    w(f"| worker slot cycle | + {lat['lambda_invoke_overhead']} invoke + {lat['sqs_mapping_cycle']} receive/delete | {m['cycle_w']:.1f} ms |")
    w(f"| worker ceiling | {m['mc']} x {m['bw']} / {m['cycle_w']:.1f} ms | **{m['worker']:.0f} orders/s** |")
    w(f"| ... at the default MaximumConcurrency {t['worker_max_concurrency']} | {t['worker_max_concurrency']} x {m['bw']} / {m['cycle_w']:.1f} ms | {m['worker_default']:.0f} orders/s |")
    w(f"| ... old worker (one put after another) | {t['worker_max_concurrency']} x {m['bw']} / ({m['cpu_w']:.1f} + {m['bw']} x {lat['dynamodb_put']} + {lat['lambda_invoke_overhead'] + lat['sqs_mapping_cycle']}) ms | {m['worker_old']:.0f} orders/s |")
    w(f"| notifier duration (one PublishBatch) | {measured['notifier_cpu_ms_per_batch']:.3f} x {m['scale']:.2f} + {math.ceil(m['bn'] / 10)} x {lat['sns_publish_batch_10']} | {m['d_n']:.1f} ms |")
    w(f"| notifier per shard | {m['pf']} x {m['bn']} / ({m['d_n']:.1f} + {lat['lambda_invoke_overhead']} + {lat['stream_mapping_cycle']}) ms | {m['per_shard']:.0f} records/s |")
    w(f"| notifier ceiling | {m['shards']} shards x {m['per_shard']:.0f} | **{m['notifier']:.0f} orders/s** |")
    w(f"| ... old notifier (Publish one by one, PF 1) | {m['shards']} x {m['bn']} / ({m['d_n_old']:.1f} + {lat['lambda_invoke_overhead'] + lat['stream_mapping_cycle']}) ms | {m['notifier_old']:.0f} orders/s |")
    w(f"| DynamoDB (new on-demand table) | {inputs['service_limits']['dynamodb_initial_wru_per_s']} WRU/s / {m['wru']} WRU | {m['dynamodb']:.0f} orders/s |")
    w(f"| SQS FIFO high throughput / SNS Publish quota | | {m['sqs']} / {m['sns']} per s |")
    w(f"| **pipeline ceiling** | min(...): {m['bottleneck']} | **{m['capacity']:.0f} orders/s** (old design at defaults: {m['capacity_old']:.0f}) |")
    w(f"| front door (parameters) | ApiThrottleRateLimit {t['api_rate']}; intake {t['intake_reserved']} x 1000 / ({m['d_i']:.1f} + {lat['lambda_invoke_overhead']}) | {m['front_door']:.0f} orders/s at the defaults |")
    w("")
    w("| cost per million orders | USD |")
    w("|---|---|")
    for k, v in m["cost"].items():
        w(f"| {k} | {v:.3f} |")
    w(f"| **total** | **{m['total']:.2f}** |")
    w("")
    w("| old design, per million orders | USD |")
    w("|---|---|")
    for k, v in m["old_cost"].items():
        w(f"| {k} | {v:.3f} |")
    w(f"| **total** | **{m['old_total']:.2f}** |")
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    measured = json.loads(Path(args[0]).read_text())
    inputs = json.loads((ROOT / "bench" / "capacity_inputs.json").read_text())
    t = template_settings((ROOT / "infra" / "template.yaml").read_text())
    m = model(inputs, t, measured)
    out = markdown(m, t, measured, inputs) if "--markdown" in sys.argv else lines(m, t)
    print("\n".join(out))


if __name__ == "__main__":
    main()
