"""Benchmark the webhook Lambda against the moto server (run by hand; results go to README.md).

Measures, in-process and warm (clients and secret cached, as in a reused container):
* latency of the sub-threshold path and of the firing path (median, p99);
* AWS calls per event on each path (botocore ``before-call`` hook);
* size of build/webhook_lambda.zip (or of lambda/handler.py when the zip is missing);
* import time of the handler module beyond boto3 (fresh interpreters, boto3 imported first).

    .venv/bin/python bench/bench_lambda.py [--events 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import (  # noqa: E402
    LAMBDA_SOURCE,
    LAMBDA_ZIP,
    LambdaStack,
    aws_operations,
    create_lambda_stack,
    ls_webhook,
    prepare_lambda_task_dir,
    record_aws_calls,
)
from tools.moto_server import MotoServer  # noqa: E402

IMPORT_PROBE = """
import sys, time, importlib.util
import boto3, botocore.config, botocore.exceptions
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print((time.perf_counter() - start) * 1000)
"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
    }


def make_stack(moto: MotoServer, task_dir: Path, threshold: int) -> LambdaStack:
    stack, environment = create_lambda_stack(moto, task_dir, "bench", threshold)
    os.environ.update(environment)
    return stack


def timed(module: Any, event: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = module.lambda_handler(event, None)
    return time.perf_counter() - start, response


def bench_sub_threshold(moto: MotoServer, task_dir: Path, events: int) -> dict[str, Any]:
    stack = make_stack(moto, task_dir, threshold=10**9)
    module = stack.load()
    calls = record_aws_calls(module)
    timed(module, stack.http_event(ls_webhook("annotation_created_1", total=0)))  # warm: secret + clients
    calls.clear()
    samples = []
    for total in range(1, events + 1):
        elapsed, response = timed(module, stack.http_event(ls_webhook("annotation_created_1", total=total)))
        assert response["statusCode"] == 200 and "below_threshold" in response["body"], response
        samples.append(elapsed)
    return {**summary(samples), "aws_calls_per_event": len(aws_operations(calls)) / events}


def bench_firing(moto: MotoServer, task_dir: Path, events: int) -> dict[str, Any]:
    """Each event crosses the threshold of a fresh project (one start per event)."""
    stack = make_stack(moto, task_dir, threshold=1)
    module = stack.load()
    calls = record_aws_calls(module)
    timed(module, stack.http_event(ls_webhook("annotation_created_1", project_id=0, total=0)))  # warm
    calls.clear()
    samples = []
    for project_id in range(1, events + 1):
        event = stack.http_event(ls_webhook("annotation_created_1", project_id=project_id, total=1))
        elapsed, response = timed(module, event)
        assert response["statusCode"] == 200 and "started" in response["body"], response
        samples.append(elapsed)
    operations = aws_operations(calls)
    return {
        **summary(samples),
        "aws_calls_per_event": len(operations) / events,
        "calls": sorted(set(operations)),
    }


def import_time_ms(task_dir: Path, runs: int = 15) -> dict[str, float]:
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE, str(task_dir / "handler.py")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return {"median_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args(argv)
    task_dir = prepare_lambda_task_dir(Path(tempfile.mkdtemp(prefix="bench-lambda-")))
    with MotoServer() as moto:
        os.environ.update(moto.env())
        results = {
            "loaded_from": "zip",
            "zip_bytes": LAMBDA_ZIP.stat().st_size if LAMBDA_ZIP.exists() else None,
            "handler_bytes": LAMBDA_SOURCE.stat().st_size,
            "import_beyond_boto3": import_time_ms(task_dir),
            "sub_threshold": bench_sub_threshold(moto, task_dir, args.events),
            "firing": bench_firing(moto, task_dir, max(20, args.events // 5)),
            "python": sys.version.split()[0],
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
