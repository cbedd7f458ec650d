"""`make demo`: the whole annotate -> retrain loop on this machine, no AWS account, no network.

Stages: start a moto server (the AWS stand-in) and a real Label Studio; build and
apply the Terraform example against moto; draw synthetic birds into the images
prefix; bootstrap Label Studio from Terraform's outputs; serve the deployed
Lambda behind a local gateway and re-point the webhook there; annotate through
Label Studio's API until the threshold is crossed; run the pipeline's
preprocessing step locally on what Label Studio wrote; summarise.

    python demo.py [--keep] [--workdir DIR] [--images N]

The end-to-end test calls ``run_demo`` and asserts on the returned ``DemoResult``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent
REGION = "us-east-1"
CONTAINER_ROOT = "/opt/ml/processing"


class DemoError(RuntimeError):
    """A stage failed; the message names the stage and the log to read."""


@dataclass
class DemoOptions:
    workdir: Path
    images: int = 36
    keep: bool = False
    quiet: bool = False


@dataclass
class DemoResult:
    """What happened, for the summary and for the end-to-end test's assertions."""

    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    threshold: int = 0
    executions_after_each_annotation: list[int] = field(default_factory=list)
    executions_after_duplicate: int = -1
    duplicate_response: dict[str, Any] = field(default_factory=dict)
    execution_arn: str = ""
    execution_parameters: dict[str, str] = field(default_factory=dict)
    executions_during_run: list[int] = field(default_factory=list)
    completion_response: dict[str, Any] = field(default_factory=dict)
    executions_after_completion: int = -1
    follow_up_arn: str = ""
    follow_up_parameters: dict[str, str] = field(default_factory=dict)
    submitted: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # task id -> regions
    preprocess_output: Path | None = None
    preprocess_args: list[str] = field(default_factory=list)
    preview: Path | None = None
    label_studio_url: str = ""
    gateway_url: str = ""
    moto_endpoint: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


class StageRunner:
    """Prints progress per stage, times it, and turns any failure into a DemoError naming stage and log."""

    def __init__(self, result: DemoResult, logs: Path, quiet: bool, total: int) -> None:
        self.result, self.logs, self.quiet, self.total, self.n = result, logs, quiet, total, 0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    @contextlib.contextmanager
    def stage(self, name: str, log: str) -> Iterator[Path]:
        self.n += 1
        log_path = self.logs / log
        self.say(f"[{self.n}/{self.total}] {name} ...")
        start = time.monotonic()
        try:
            yield log_path
        except DemoError:
            raise
        except Exception as exc:
            raise DemoError(f"stage '{name}' failed: {exc} (log: {log_path})") from exc
        elapsed = time.monotonic() - start
        self.result.timings[name] = elapsed
        self.say(f"      done in {elapsed:.1f} s")


def run_logged(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> str:
    """Run a command, append its output to ``log``, raise with the tail of it on failure."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(
            f"{Path(cmd[1]).name if len(cmd) > 1 else cmd[0]} exited {proc.returncode}:\n{tail}"
        )
    return proc.stdout


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


# ----------------------------------------------------------------------------------------- stages


def deploy(moto: Any, stack_dir: Path, log: Path) -> dict[str, Any]:
    """Build, stage the example against moto, apply, and return Terraform's outputs."""
    from tools import terraform
    from tools.moto_stack import stage_example

    run_logged([sys.executable, "build.py", "--region", REGION], log)
    root = stage_example(stack_dir, moto.endpoint, region=REGION)
    terraform.init(root)
    terraform.apply(root)
    return terraform.outputs(root)


def upload_birds(moto: Any, outputs: dict[str, Any], count: int) -> dict[str, Any]:
    """Draw ``count`` birds and put them under the images prefix; return them by file name."""
    from tools.synthetic_birds import flock

    s3 = moto.client("s3", REGION)
    birds = {}
    for bird in flock(count):
        key = f"{outputs['images_prefix']}{bird.name}"
        s3.put_object(Bucket=outputs["bucket_name"], Key=key, Body=bird.jpeg, ContentType="image/jpeg")
        birds[bird.name] = bird
    return birds


def bootstrap(ls: Any, moto: Any, outputs_file: Path, log: Path) -> str:
    cmd = [sys.executable, "bootstrap.py", "--url", ls.url, "--api-key", ls.api_key]
    cmd += ["--outputs-json", str(outputs_file), "--s3-endpoint", moto.endpoint]
    return run_logged(cmd, log, env={**os.environ, **moto.env(REGION)})


def write_outputs_json(outputs: dict[str, Any], path: Path) -> Path:
    """Outputs in ``terraform output -json`` form (what bootstrap.py --outputs-json reads)."""
    text = json.dumps({k: {"value": v} for k, v in outputs.items()}, indent=2, sort_keys=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the webhook token
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def start_gateway(moto: Any, outputs: dict[str, Any], workdir: Path, log: Path) -> tuple[Any, str, Path]:
    from tools.moto_server import free_port

    port = free_port()
    record = workdir / "gateway-deliveries.jsonl"
    cmd = [sys.executable, "-m", "tools.local_gateway", "--function-name", outputs["lambda_function_name"]]
    cmd += ["--zip", str(REPO_ROOT / "build" / "webhook_lambda.zip"), "--aws-endpoint", moto.endpoint]
    cmd += ["--port", str(port), "--record", str(record)]
    out = log.open("ab")
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env={**os.environ, **moto.env(REGION)}, stdout=out, stderr=out
    )
    url = f"http://127.0.0.1:{port}/webhook"
    wait_for_http(f"http://127.0.0.1:{port}/")
    if proc.poll() is not None:
        raise RuntimeError(f"the local gateway exited with code {proc.returncode}")
    return proc, url, record


def pipeline_executions(moto: Any, pipeline_name: str) -> list[dict[str, Any]]:
    sm = moto.client("sagemaker", REGION)
    return sm.list_pipeline_executions(PipelineName=pipeline_name)["PipelineExecutionSummaries"]


def label_config_names(project: Any) -> tuple[str, str]:
    """The ``from_name``/``to_name`` of the polygon control in the project's label config."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(project.label_config)
    control = root.find(".//PolygonLabels")
    if control is None:
        raise RuntimeError("the project's label config has no <PolygonLabels> control")
    return control.attrib["name"], control.attrib["toName"]


def polygon_regions(bird: Any, from_name: str, to_name: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{label.lower()}-{bird.name}",
            "from_name": from_name,
            "to_name": to_name,
            "type": "polygonlabels",
            "original_width": bird.width,
            "original_height": bird.height,
            "image_rotation": 0,
            "value": {"points": [list(p) for p in points], "closed": True, "polygonlabels": [label]},
        }
        for label, points in bird.parts
    ]


def annotate_tasks(
    ls: Any,
    moto: Any,
    outputs: dict[str, Any],
    birds: dict[str, Any],
    count: int,
    submitted: dict[int, list[dict[str, Any]]],
) -> list[int]:
    """Annotate ``count`` not yet annotated tasks one by one through Label Studio's API.

    Each annotation is a polygon per drawn bird part; Label Studio sends its webhook inside the request.
    Records the regions in ``submitted`` (task id -> regions) and returns the number of pipeline executions
    in the emulator after each annotation.
    """
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=ls.url, api_key=ls.api_key)
    project = next(p for p in client.projects.list() if p.title == PROJECT_TITLE)
    from_name, to_name = label_config_names(project)
    tasks = sorted(client.tasks.list(project=project.id, resolve_uri=False), key=lambda t: t.id)
    todo = [t for t in tasks if not t.total_annotations][:count]
    if len(todo) < count:
        raise RuntimeError(f"only {len(todo)} unannotated tasks synced from S3, need {count}")
    counts = []
    for task in todo:
        name = task.data["image"].rsplit("/", 1)[-1]
        regions = polygon_regions(birds[name], from_name, to_name)
        client.annotations.create(id=task.id, result=regions, was_cancelled=False, ground_truth=False)
        submitted[task.id] = regions
        counts.append(len(pipeline_executions(moto, outputs["pipeline_name"])))
    return counts


def completion_event(moto: Any, execution_arn: str) -> dict[str, Any]:
    """The EventBridge event SageMaker emits when an execution ends, built from the emulator's record.

    moto marks executions Succeeded at once but delivers no events to Lambda.
    """
    sm = moto.client("sagemaker", REGION)
    execution = sm.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        "source": "aws.sagemaker",
        "account": execution_arn.split(":")[4],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [execution["PipelineArn"], execution_arn],
        "detail": {
            "pipelineArn": execution["PipelineArn"],
            "pipelineExecutionArn": execution_arn,
            "executionDisplayName": execution.get("PipelineExecutionDisplayName", ""),
            "currentPipelineExecutionStatus": execution["PipelineExecutionStatus"],
            "previousPipelineExecutionStatus": "Executing",
        },
    }


def deliver_to_lambda(gateway_root: str, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke the function with ``event`` through the gateway's Lambda Invoke API, as EventBridge would."""
    import boto3

    client = boto3.client(
        "lambda",
        endpoint_url=gateway_root,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    response = client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise RuntimeError(f"the function failed on the completion event: {payload.get('errorMessage')}")
    return payload


def execution_parameters(moto: Any, execution_arn: str) -> dict[str, str]:
    sm = moto.client("sagemaker", REGION)
    listed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)
    return {p["Name"]: p["Value"] for p in listed["PipelineParameters"]}


def replay_last_delivery(gateway_url: str, record: Path) -> dict[str, Any]:
    """Send the last recorded webhook again, byte for byte, as a duplicate delivery would."""
    last = json.loads(record.read_text().splitlines()[-1])["request"]
    headers = {k: v for k, v in last["headers"].items() if k not in {"host", "content-length", "connection"}}
    req = urllib.request.Request(gateway_url, data=last["body"].encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return {"status": resp.status, "body": json.loads(resp.read() or b"{}")}


def resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """Resolve a definition value (``{"Get": "Parameters.X"}``, ``Std:Join``) against execution parameters."""
    if isinstance(value, dict) and "Get" in value and str(value["Get"]).startswith("Parameters."):
        return parameters[value["Get"].split(".", 1)[1]]
    if isinstance(value, dict) and value.get("Std:Join"):
        join = value["Std:Join"]
        return join["On"].join(str(resolve(v, parameters)) for v in join["Values"])
    return value


def run_processing_step_locally(
    moto: Any, outputs: dict[str, Any], execution_arn: str, container: Path, log: Path
) -> tuple[Path, list[str]]:
    """Run the pipeline's preprocessing step here as the processing job would run it.

    Reads the deployed definition back from the emulator, resolves the step's
    arguments with this execution's parameters, downloads its S3 inputs to the
    container paths (re-rooted under ``container``), and runs the same script.
    """
    sm = moto.client("sagemaker", REGION)
    s3 = moto.client("s3", REGION)
    definition = json.loads(sm.describe_pipeline(PipelineName=outputs["pipeline_name"])["PipelineDefinition"])
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    executed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)
    parameters.update({p["Name"]: p["Value"] for p in executed["PipelineParameters"]})
    from sagemaker_pipeline.layout import PREPROCESS_STEP

    step = next(s for s in definition["Steps"] if s["Name"] == PREPROCESS_STEP)
    args = step["Arguments"]

    def local(path: str) -> str:
        return str(container / Path(path).relative_to("/")) if path.startswith(CONTAINER_ROOT) else path

    for item in args.get("ProcessingInputs", []):
        s3_input = item["S3Input"]
        uri = str(resolve(s3_input["S3Uri"], parameters))
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        target = Path(local(s3_input["LocalPath"]))
        target.mkdir(parents=True, exist_ok=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = (
                    obj["Key"][len(prefix) :].lstrip("/")
                    if not uri.endswith(".py")
                    else Path(obj["Key"]).name
                )
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(dest))
    entry = [local(str(resolve(x, parameters))) for x in args["AppSpecification"]["ContainerEntrypoint"]]
    arguments = [
        local(str(resolve(x, parameters))) for x in args["AppSpecification"].get("ContainerArguments", [])
    ]
    command = [sys.executable, *entry[1:], *arguments]
    run_logged(command, log, env={**os.environ, **moto.env(REGION)})
    output_root = container / Path(CONTAINER_ROOT).relative_to("/") / "output"
    return output_root, command


def write_preview(output_root: Path, labels: list[str], dest: Path, samples: int = 4) -> Path:
    """Tile a few images with their masks overlaid, class colours from a fixed palette."""
    import numpy as np
    from PIL import Image

    palette = np.array(
        [(0, 0, 0), (255, 60, 60), (60, 200, 60), (60, 120, 255), (255, 200, 0), (200, 60, 255)],
        dtype=np.uint8,
    )
    lines = [json.loads(x) for x in (output_root / "manifest.jsonl").read_text().splitlines()][:samples]
    tiles = []
    for line in lines:
        image = Image.open(output_root / line["image"]).convert("RGB")
        mask = np.asarray(Image.open(output_root / line["mask"]))
        colours = palette[mask % len(palette)]
        colours[mask == 255] = 255  # ignore value: white
        overlay = Image.fromarray(colours, "RGB")
        alpha = Image.fromarray(np.where(mask > 0, 140, 0).astype(np.uint8), "L")
        tiles.append(Image.composite(overlay, image, alpha))
    width, height = tiles[0].size
    sheet = Image.new("RGB", (width * len(tiles), height), (255, 255, 255))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * width, 0))
    dest.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(dest)
    return dest


# ------------------------------------------------------------------------------------------- main

PROJECT_TITLE = "Bird Segmentation"
DEMO_MARKER = ".made-by-demo"


def run_demo(options: DemoOptions) -> DemoResult:
    from tools.label_studio_server import LabelStudioServer
    from tools.moto_server import MotoServer

    workdir = options.workdir
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result = DemoResult(workdir=workdir)
    runner = StageRunner(result, logs, options.quiet, total=9)
    with contextlib.ExitStack() as stack:
        with runner.stage("start moto and Label Studio", "services.log"):
            moto = stack.enter_context(MotoServer(log_path=logs / "moto.log"))
            ls = LabelStudioServer(
                data_dir=workdir / "label-studio",
                log_path=logs / "label-studio.log",
                extra_env=moto.env(REGION),
            )
            stack.enter_context(ls)
            result.moto_endpoint, result.label_studio_url = moto.endpoint, ls.url
        with runner.stage("build and terraform apply against moto", "deploy.log") as log:
            outputs = deploy(moto, workdir / "stack", log)
            result.outputs = outputs
            config = moto.client("lambda", REGION).get_function_configuration(
                FunctionName=outputs["lambda_function_name"]
            )
            result.threshold = int(config["Environment"]["Variables"]["ANNOTATION_THRESHOLD"])
        with runner.stage(f"draw {options.images} synthetic birds into s3", "images.log"):
            birds = upload_birds(moto, outputs, max(options.images, 2 * result.threshold))
        with runner.stage("bootstrap Label Studio from Terraform outputs", "bootstrap.log") as log:
            outputs_file = write_outputs_json(outputs, workdir / "terraform-outputs.json")
            runner.say(bootstrap(ls, moto, outputs_file, log).rstrip())
        with runner.stage("serve the deployed Lambda behind a local gateway", "gateway.log") as log:
            gateway, result.gateway_url, record = start_gateway(moto, outputs, workdir, log)
            stack.callback(stop_process, gateway)
            local_outputs = {**outputs, "webhook_url": result.gateway_url}
            local_file = write_outputs_json(local_outputs, workdir / "terraform-outputs-local.json")
            bootstrap(ls, moto, local_file, log)
            runner.say(
                f"      webhook re-pointed to {result.gateway_url} (moto cannot serve API Gateway URLs)"
            )
        with runner.stage(f"annotate {result.threshold} birds in Label Studio", "annotate.log"):
            result.executions_after_each_annotation = annotate_tasks(
                ls, moto, outputs, birds, result.threshold, result.submitted
            )
            executions = pipeline_executions(moto, outputs["pipeline_name"])
            if len(executions) != 1:
                raise RuntimeError(f"expected exactly one pipeline execution, found {len(executions)}")
            result.execution_arn = executions[0]["PipelineExecutionArn"]
            result.execution_parameters = execution_parameters(moto, result.execution_arn)
            result.duplicate_response = replay_last_delivery(result.gateway_url, record)
            result.executions_after_duplicate = len(pipeline_executions(moto, outputs["pipeline_name"]))
            runner.say(f"      executions after each annotation: {result.executions_after_each_annotation}")
            runner.say(f"      started {result.execution_arn}")
            runner.say(f"      parameters {json.dumps(result.execution_parameters, sort_keys=True)}")
            runner.say(
                f"      duplicate delivery answered {result.duplicate_response['status']}: "
                f"{result.executions_after_duplicate} execution(s) in all"
            )
        with runner.stage(
            f"annotate {result.threshold} more while the run is in flight, then end the run", "annotate.log"
        ):
            result.executions_during_run = annotate_tasks(
                ls, moto, outputs, birds, result.threshold, result.submitted
            )
            runner.say(f"      executions after each annotation: {result.executions_during_run} (deferred)")
            gateway_root = result.gateway_url.rsplit("/", 1)[0]
            event = completion_event(moto, result.execution_arn)
            result.completion_response = deliver_to_lambda(
                gateway_root, outputs["lambda_function_name"], event
            )
            executions = pipeline_executions(moto, outputs["pipeline_name"])
            result.executions_after_completion = len(executions)
            follow_ups = [e for e in executions if e["PipelineExecutionArn"] != result.execution_arn]
            if len(follow_ups) != 1:
                raise RuntimeError(f"expected one follow-up execution, found {len(follow_ups)}")
            result.follow_up_arn = follow_ups[0]["PipelineExecutionArn"]
            result.follow_up_parameters = execution_parameters(moto, result.follow_up_arn)
            runner.say(
                f"      completion event ({event['detail']['currentPipelineExecutionStatus']}) answered "
                f"{json.dumps(result.completion_response, sort_keys=True)}"
            )
            runner.say(f"      follow-up {result.follow_up_arn}")
            runner.say(f"      parameters {json.dumps(result.follow_up_parameters, sort_keys=True)}")
        with runner.stage("run the preprocessing step locally", "preprocess.log") as log:
            output_root, command = run_processing_step_locally(
                moto, outputs, result.follow_up_arn, workdir / "container", log
            )
            result.preprocess_output, result.preprocess_args = output_root, command
            result.preview = write_preview(output_root, outputs["labels"], workdir / "preview.png")
            runner.say(f"      preview: {result.preview}")
            runner.say(
                "      training needs SageMaker (a GPU training job) and cannot run here; on AWS the same "
                f"execution continues with training. Start one by hand with:\n        aws sagemaker "
                f"start-pipeline-execution --pipeline-name {outputs['pipeline_name']}"
            )
        with runner.stage("summary", "summary.log"):
            print_summary(result, runner)
        if options.keep:
            runner.say(
                f"\nServers stay up (--keep). Label Studio: {ls.url}  login {ls.username} / {ls.password}"
            )
            runner.say("Annotate by hand and watch logs/gateway.log; Ctrl-C to stop everything.")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            runner.say("stopping the servers ...")
    return result


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def print_summary(result: DemoResult, runner: StageRunner) -> None:
    stats = (
        json.loads((result.preprocess_output / "stats.json").read_text()) if result.preprocess_output else {}
    )
    rows = [
        ("Label Studio", result.label_studio_url),
        ("AWS stand-in (moto)", result.moto_endpoint),
        ("webhook (deployed API)", result.outputs.get("webhook_url", "")),
        ("webhook (local gateway)", result.gateway_url),
        ("annotation threshold", str(result.threshold)),
        ("annotations submitted", str(len(result.submitted))),
        ("pipeline executions", str(result.executions_after_completion)),
        ("first execution", result.execution_arn),
        ("follow-up execution", result.follow_up_arn),
        (
            "training / validation samples",
            f"{stats.get('num_training_samples')} / {stats.get('num_validation_samples')}",
        ),
        ("preview", str(result.preview)),
    ]
    rows += [(f"time: {name}", f"{seconds:.1f} s") for name, seconds in result.timings.items()]
    width = max(len(k) for k, _ in rows)
    runner.say("\n".join(f"  {k:<{width}}  {v}" for k, v in rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers up after the run (Ctrl-C stops)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where logs, state and outputs go (default demo-output/)"
    )
    parser.add_argument(
        "--images", type=int, default=36, help="synthetic images to draw (default 36, at least 2 x threshold)"
    )
    args = parser.parse_args(argv)
    workdir = (args.workdir or REPO_ROOT / "demo-output").resolve()
    marker = workdir / DEMO_MARKER
    if workdir.exists() and any(workdir.iterdir()) and not marker.exists():
        print(
            f"demo: {workdir} is not empty and was not made by the demo; choose another --workdir",
            file=sys.stderr,
        )
        return 2
    if workdir.exists():
        shutil.rmtree(workdir)  # a previous demo run's folder
    workdir.mkdir(parents=True)
    marker.write_text("made by demo.py; removed by the next run\n")
    try:
        run_demo(DemoOptions(workdir=workdir, images=args.images, keep=args.keep))
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
