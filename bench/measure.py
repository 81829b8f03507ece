"""Measures budgets P1, P1b, P2 and P3 on this machine and prints one line per
budget (`bench/run.sh` runs it with the bench virtual environment's Python,
which also serves the old system's boto3 baseline).

Every figure is measured in this run, side by side:

- P1 init: `lambda-emu` starts each release binary (and the no-SDK floor and
  the Python boto3 baseline) under an emulated Lambda Runtime API with
  `AWS_ENDPOINT_URL` pointing at a closed port, and times exec -> first
  `GET /next`; the median of BENCH_ROUNDS cold starts per function, the
  functions interleaved round by round so drift hits all alike.
- P1b first request and P2 peak RSS: the same, over a moto server holding the
  stack's queue, table and topic, with real work per invocation (new order
  ids each time): the first invocation against the median of the next 20
  (median over several cold starts), and VmHWM after BENCH_INVOCATIONS
  invocations.
- P2 zip: each release binary zipped as `bootstrap` (deflate, as Lambda
  deploys it).
- P3 CPU per order: criterion's estimates from `cargo bench -p orders-bench`
  (already run by bench/run.sh) against `bench/python/per_order.py`.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3

FUNCTIONS = ["intake", "worker", "notifier"]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENTS = {
    "intake": ("events/apigw-v2-order.json", ["web-7f3a9c2e-0001"]),
    "worker": (
        "events/sqs-fifo-batch.json",
        ["23214", "ORD-2026-11-0001", "019ab5e2-1c32-7d40-8f6e-3a9b2c7d1e05"],
    ),
    "notifier": ("events/dynamodb-insert.json", ["23214", "ORD-2026-11-0001"]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(endpoint, home):
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    env.update(
        {
            # Lambda has no shared config files: an empty HOME keeps this
            # machine's ~/.aws out of the measurement.
            "HOME": home,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
            "ORDERS_QUEUE_URL": f"{endpoint}/{ACCOUNT}/bench-orders.fifo",
            "MESSAGE_GROUP_STRATEGY": "customer",
            "ORDERS_TABLE_NAME": "bench-orders",
            # The open API: the bench's events carry no authorizer.
            "AUTH_MODE": "NONE",
            "ORDER_EVENTS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:bench-order-events",
            "WORKER_DLQ_URL": f"{endpoint}/{ACCOUNT}/bench-worker-dlq.fifo",
            "NOTIFIER_DLQ_URL": f"{endpoint}/{ACCOUNT}/bench-notifier-dlq",
        }
    )
    return env


class Runner:
    def __init__(self, args, home):
        self.args = args
        self.home = home
        self.commands = {f: [os.path.join(args.bin_dir, f)] for f in FUNCTIONS}
        self.commands["floor"] = [os.path.join(args.bin_dir, "floor")]
        self.commands["python"] = [sys.executable, os.path.join(ROOT, "bench/python/bootstrap.py")]

    def emulate(self, name, endpoint, invocations=0, env=None):
        cmd = [self.args.emu, "--invocations", str(invocations), "--timeout-secs", "60"]
        if invocations and name in EVENTS:
            path, vary = EVENTS[name]
            cmd += ["--event", os.path.join(ROOT, path)]
            for text in vary:
                cmd += ["--vary", text]
        elif invocations:
            cmd += ["--event", os.path.join(ROOT, EVENTS["notifier"][0])]
        for key, value in {**base_env(endpoint, self.home), **(env or {})}.items():
            cmd += ["--env", f"{key}={value}"]
        if self.args.log:
            cmd += ["--log", self.args.log]
        cmd += ["--"] + self.commands[name]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        if out.stderr.strip():
            print(f"{name}: {out.stderr.strip()}", file=sys.stderr)
        return json.loads(out.stdout)


def create_stack(endpoint):
    kwargs = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    sqs = boto3.client("sqs", **kwargs)
    fifo = {"FifoQueue": "true"}
    sqs.create_queue(QueueName="bench-orders.fifo", Attributes=fifo)
    sqs.create_queue(QueueName="bench-worker-dlq.fifo", Attributes=fifo)
    sqs.create_queue(QueueName="bench-notifier-dlq")
    boto3.client("dynamodb", **kwargs).create_table(
        TableName="bench-orders",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("sns", **kwargs).create_topic(Name="bench-order-events")


def verdict(ok):
    return "PASS" if ok else "FAIL"


def zip_size(binary):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bootstrap.zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.write(binary, "bootstrap")
        return os.path.getsize(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emu", required=True)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--moto-server", required=True)
    parser.add_argument("--criterion-dir", required=True)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "20")))
    parser.add_argument(
        "--invocations", type=int, default=int(os.environ.get("BENCH_INVOCATIONS", "1000"))
    )
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    lines = []

    def emit(line):
        lines.append(line)
        print(line, flush=True)

    with tempfile.TemporaryDirectory() as home:
        runner = Runner(args, home)

        # P1: init with the endpoint unreachable (a closed loopback port).
        closed = f"http://127.0.0.1:{free_port()}"
        names = ["floor"] + FUNCTIONS + ["python"]
        inits = {n: [] for n in names}
        for _ in range(args.rounds):
            for name in names:
                inits[name].append(runner.emulate(name, closed)["init_ms"])
        init = {n: statistics.median(v) for n, v in inits.items()}
        floor = init["floor"]
        for f in FUNCTIONS:
            ratio = init[f] / floor
            emit(
                f"P1 init {f}: {init[f]:.1f} ms = {ratio:.1f}x floor {floor:.1f} ms "
                f"(budget <= 2x; endpoint unreachable, median of {args.rounds}) {verdict(ratio <= 2)}"
            )
        emit(
            f"P1 info: Python boto3 init {init['python']:.1f} ms = "
            f"{init['python'] / floor:.0f}x floor (median of {args.rounds})"
        )

        # P1b and P2 memory: over moto, with real work per invocation.
        port = free_port()
        moto = subprocess.Popen(
            [args.moto_server, "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            create_stack(endpoint)
            sqs = boto3.client(
                "sqs",
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            cold = {n: [] for n in ["floor"] + FUNCTIONS + ["python"]}
            for round_ in range(5):
                count = args.invocations if round_ == 0 else 21
                # moto's FIFO send slows down as the queue fills (its
                # deduplication scans every message): each cold start of
                # intake gets an empty queue, as a drained production queue is.
                queue = sqs.create_queue(
                    QueueName=f"bench-orders-{round_}.fifo", Attributes={"FifoQueue": "true"}
                )
                for name in cold:
                    env = {"ORDERS_QUEUE_URL": queue["QueueUrl"]} if name == "intake" else None
                    cold[name].append(runner.emulate(name, endpoint, count, env))
        finally:
            moto.terminate()
            moto.wait()

        for f in FUNCTIONS:
            runs = cold[f]
            failures = sum(r["errors"] + r["unsuccessful"] for r in runs)
            first = statistics.median(r["first_ms"] for r in runs)
            rest = statistics.median(r["next20_median_ms"] for r in runs)
            ratio = first / rest
            ok = ratio <= 1.5 and failures == 0
            note = f"; {failures} failed invocations" if failures else ""
            emit(
                f"P1b first request {f}: {first:.2f} ms = {ratio:.2f}x median of next 20 "
                f"{rest:.2f} ms (budget <= 1.5x; over moto, median of {len(runs)} cold starts{note}) "
                f"{verdict(ok)}"
            )

        for f in FUNCTIONS + ["floor"]:
            size = zip_size(runner.commands[f][0])
            if f == "floor":
                emit(f"P2 info: zip floor {size / 1e6:.2f} MB")
            else:
                emit(f"P2 zip {f}: {size / 1e6:.2f} MB (budget <= 3 MB) {verdict(size <= 3e6)}")
        for f in FUNCTIONS:
            peak = cold[f][0]["peak_rss_kb"] / 1024
            emit(
                f"P2 peak RSS {f}: {peak:.1f} MB over {cold[f][0]['invocations']} invocations "
                f"(budget <= 16 MB) {verdict(peak <= 16)}"
            )
        emit(
            f"P2 info: peak RSS floor {cold['floor'][0]['peak_rss_kb'] / 1024:.1f} MB, "
            f"Python boto3 {cold['python'][0]['peak_rss_kb'] / 1024:.1f} MB "
            f"over {cold['floor'][0]['invocations']} invocations"
        )

    # P3: criterion (Rust, already run) against the Python equivalent.
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench/python/per_order.py"), "20000"],
        check=True,
        capture_output=True,
        text=True,
    )
    python = json.loads(out.stdout)
    for f in FUNCTIONS:
        estimates = os.path.join(args.criterion_dir, f, "new", "estimates.json")
        if not os.path.exists(estimates):
            emit(f"P3 CPU per order {f}: not measured (no {estimates}) FAIL")
            continue
        with open(estimates) as fh:
            rust_ns = json.load(fh)["mean"]["point_estimate"]
        py_ns = python[f"{f}_ns"]
        ratio = py_ns / rust_ns
        emit(
            f"P3 CPU per order {f}: {rust_ns / 1000:.2f} us = {ratio:.0f}x less than Python "
            f"{py_ns / 1000:.1f} us (budget >= 50x) {verdict(ratio >= 50)}"
        )


if __name__ == "__main__":
    main()
