"""Shared pytest fixtures: real services on loopback (moto server, Label Studio)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tools.local_gateway import http_api_event  # noqa: E402
from tools.moto_server import MotoServer  # noqa: E402


def load_processing_script(name: str) -> ModuleType:
    """Import preprocessing/<name>.py under its own module name, as the processing container runs it.

    Once per name: a second call returns the same module.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "preprocessing" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One patched moto server per test session (see tools/moto_server.py for the patches)."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with MotoServer(log_path=log) as server:
        yield server


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Point boto3 in this process at the moto server (fake credentials, us-east-1)."""
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


# --------------------------------------------------------------------------- Label Studio
# Appended by the bootstrap engineer (issue 6): a real Label Studio for the session.

from tools.label_studio_server import LabelStudioServer  # noqa: E402


@pytest.fixture(scope="session")
def label_studio(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabelStudioServer]:
    """One Label Studio 1.23.2 per session: SQLite, loopback, SSRF protection off, legacy token on.

    Its environment holds moto's fake AWS credentials and region (its S3 storages run boto3 in
    its own process) but *not* AWS_ENDPOINT_URL: storages must name the moto endpoint themselves
    (``s3_endpoint``), as they would for any S3-compatible store.
    ``label_studio.url`` / ``label_studio.api_key`` / ``label_studio.log_path``.
    """
    env = {k: v for k, v in moto_server.env().items() if k != "AWS_ENDPOINT_URL"}
    data_dir = tmp_path_factory.mktemp("label-studio")
    server = LabelStudioServer(data_dir=data_dir, extra_env=env)
    with server:
        yield server


# --------------------------------------------------------------------------- webhook Lambda (lambda/handler.py)
# Appended for tests/test_lambda*.py and bench/bench_lambda.py: load the handler the way Lambda does
# (from build/webhook_lambda.zip) and give each test its own table, secret and pipeline on the moto server.

import base64  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
import zipfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

LAMBDA_SOURCE = REPO_ROOT / "lambda" / "handler.py"
LAMBDA_ZIP = REPO_ROOT / "build" / "webhook_lambda.zip"
LS_WEBHOOK_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "ls_webhooks"
WEBHOOK_TOKEN = "test-webhook-token-not-a-secret"
MINIMAL_PIPELINE_DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "LabelStudioProjectId", "Type": "String", "DefaultValue": "manual"},
        {"Name": "AnnotationCount", "Type": "Integer", "DefaultValue": 0},
    ],
    "Steps": [{"Name": "Noop", "Type": "Fail", "Arguments": {"ErrorMessage": "test"}}],
}


def lambda_zip_is_current() -> bool:
    """True when build/webhook_lambda.zip holds exactly today's lambda/handler.py."""
    if not LAMBDA_ZIP.exists():
        return False
    with zipfile.ZipFile(LAMBDA_ZIP) as archive:
        return "handler.py" in archive.namelist() and archive.read("handler.py") == LAMBDA_SOURCE.read_bytes()


def prepare_lambda_task_dir(target: Path) -> Path:
    """Lambda's /var/task: the zip's contents, (re)built with build.py when stale."""
    if not lambda_zip_is_current():
        info = REPO_ROOT / "build" / "build_info.json"
        region = json.loads(info.read_text()).get("region") if info.exists() else None
        command = [sys.executable, str(REPO_ROOT / "build.py"), "--region", region or "us-east-1", "--quiet"]
        subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    if not lambda_zip_is_current():
        raise RuntimeError("build.py did not write a build/webhook_lambda.zip matching lambda/handler.py")
    with zipfile.ZipFile(LAMBDA_ZIP) as archive:
        archive.extractall(target)
    return target


def load_lambda_module(task_dir: Path) -> ModuleType:
    """A fresh handler module (own caches and clients), as a new Lambda container would have."""
    name = f"webhook_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, task_dir / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ls_webhook(name: str, project_id: int | None = None, total: int | None = None) -> dict[str, Any]:
    """A captured Label Studio body (tests/fixtures/ls_webhooks/<name>.json), counters overridable."""
    body = json.loads((LS_WEBHOOK_FIXTURES / f"{name}.json").read_text())["body"]
    if project_id is not None:
        body["project"]["id"] = project_id
    if total is not None:
        body["project"]["total_annotations_number"] = total
    return body


_SHARED_LOADER: list[Any] = []
_TEST_CLIENTS: dict[str, dict[str, Any]] = {}  # moto endpoint -> service -> client, shared by tests


def boto3_session() -> Any:
    """A new boto3 session that reuses one botocore data loader across the test session.

    Each handler module must get its own session and clients (no state leaks between tests), but
    re-parsing the SageMaker service model for every test costs ~0.5 s; the loader only caches
    those parsed JSON files.
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    if not _SHARED_LOADER:
        _SHARED_LOADER.append(core.get_component("data_loader"))
    core.register_component("data_loader", _SHARED_LOADER[0])
    return boto3.session.Session(botocore_session=core)


@pytest.fixture(scope="session")
def lambda_task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_lambda_task_dir(tmp_path_factory.mktemp("lambda_task"))


def encoded_body(body: Any, b64: bool) -> str:
    """A gateway event's body: JSON text, base64-encoded when the gateway says so."""
    raw = body if isinstance(body, str) else json.dumps(body)
    return base64.b64encode(raw.encode()).decode() if b64 else raw


@dataclass
class LambdaStack:
    """One test's AWS resources on the moto server plus helpers to build events and read state."""

    moto: MotoServer
    task_dir: Path
    table: str
    pipeline: str
    secret_arn: str
    header_name: str = "X-Webhook-Token"
    token: str = WEBHOOK_TOKEN
    modules: list[ModuleType] = field(default_factory=list)
    clients: dict[str, Any] = field(default_factory=dict)

    def aws(self, service: str) -> Any:
        """A cached test-side client on the moto server (not the handler's)."""
        if service not in self.clients:
            self.clients[service] = self.moto.client(service)
        return self.clients[service]

    def load(self) -> ModuleType:
        """A fresh handler module whose boto3 session shares parsed service models (speed only)."""
        module = load_lambda_module(self.task_dir)
        module._cache["session"] = boto3_session()
        self.modules.append(module)
        return module

    def http_event(
        self, body: Any, headers: dict[str, str] | None = None, b64: bool = False, method: str = "POST"
    ) -> dict[str, Any]:
        """API Gateway HTTP API payload 2.0, built as the demo's local gateway builds it."""
        headers = {self.header_name: self.token} if headers is None else headers
        event = http_api_event(method, "/webhook", "", headers, b"")
        event.update(body=encoded_body(body, b64), isBase64Encoded=b64)
        return event

    def rest_event(
        self, body: Any, headers: dict[str, str] | None = None, b64: bool = False
    ) -> dict[str, Any]:
        """API Gateway REST proxy payload 1.0 (header case preserved, multiValueHeaders)."""
        raw = encoded_body(body, b64)
        headers = {self.header_name: self.token} if headers is None else headers
        return {
            "resource": "/webhook",
            "path": "/webhook",
            "httpMethod": "POST",
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "requestContext": {"httpMethod": "POST", "stage": "prod"},
            "body": raw,
            "isBase64Encoded": b64,
        }

    def completion_event(self, execution_arn: str, status: str = "Succeeded") -> dict[str, Any]:
        """The EventBridge event the module's rule forwards when an execution ends."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
            "source": "aws.sagemaker",
            "account": "123456789012",
            "region": "us-east-1",
            "resources": [execution_arn],
            "detail": {
                "pipelineExecutionArn": execution_arn,
                "pipelineArn": f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{self.pipeline}",
                "currentPipelineExecutionStatus": status,
                "previousPipelineExecutionStatus": "Executing",
            },
        }

    def executions(self) -> list[dict[str, Any]]:
        """Executions of the pipeline, oldest first, with their parameters."""
        sagemaker = self.aws("sagemaker")
        summaries = sagemaker.list_pipeline_executions(PipelineName=self.pipeline)[
            "PipelineExecutionSummaries"
        ]
        return [
            {
                **summary,
                "Parameters": {
                    p["Name"]: p["Value"]
                    for p in sagemaker.list_pipeline_parameters_for_execution(
                        PipelineExecutionArn=summary["PipelineExecutionArn"]
                    )["PipelineParameters"]
                },
            }
            for summary in sorted(summaries, key=lambda s: s["StartTime"])
        ]

    def item(self, pk: str) -> dict[str, Any] | None:
        return (
            self.aws("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True)
            .get("Item")
        )

    def create_pipeline(self) -> None:
        self.aws("sagemaker").create_pipeline(
            PipelineName=self.pipeline,
            PipelineDefinition=json.dumps(MINIMAL_PIPELINE_DEFINITION),
            RoleArn="arn:aws:iam::123456789012:role/lsr-test-sagemaker",
        )


def create_lambda_stack(
    moto: MotoServer, task_dir: Path, prefix: str, threshold: int, clients: dict[str, Any] | None = None
) -> tuple[LambdaStack, dict[str, str]]:
    """A fresh table, secret and pipeline (unique names) on the moto server, and the Lambda's environment."""
    suffix = uuid.uuid4().hex[:10]
    stack = LambdaStack(
        moto=moto,
        task_dir=task_dir,
        table=f"{prefix}-state-{suffix}",
        pipeline=f"{prefix}-pipeline-{suffix}",
        secret_arn="",
        clients=clients if clients is not None else {},
    )
    stack.secret_arn = stack.aws("secretsmanager").create_secret(
        Name=f"{prefix}-webhook-{suffix}", SecretString=WEBHOOK_TOKEN
    )["ARN"]
    stack.aws("dynamodb").create_table(
        TableName=stack.table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    stack.create_pipeline()
    environment = {
        "PIPELINE_NAME": stack.pipeline,
        "STATE_TABLE": stack.table,
        "ANNOTATION_THRESHOLD": str(threshold),
        "WEBHOOK_SECRET_ARN": stack.secret_arn,
        "WEBHOOK_HEADER_NAME": stack.header_name,
        "ALLOWED_PROJECT_IDS": "",
    }
    return stack, environment


@pytest.fixture
def lambda_stack(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch, lambda_task_dir: Path) -> LambdaStack:
    """Fresh table/secret/pipeline and the Lambda's environment (threshold 16) for one test."""
    clients = _TEST_CLIENTS.setdefault(aws_env.endpoint, {})
    stack, environment = create_lambda_stack(aws_env, lambda_task_dir, "lsr", threshold=16, clients=clients)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return stack


def record_aws_calls(module: ModuleType) -> list[tuple[str, dict[str, Any]]]:
    """Give the handler module a boto3 session whose clients log every AWS call (botocore hooks).

    Returns the live list of ``(Service.Operation, params)``, e.g. ``("DynamoDB.UpdateItem", {...})``.
    """
    calls: list[tuple[str, dict[str, Any]]] = []

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((f"{model.service_model.service_id}.{model.name}", params.get("body", params)))

    def before_parameter_build(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((f"params:{model.service_model.service_id}.{model.name}", dict(params)))

    session = boto3_session()
    session.events.register("before-call", before_call)
    session.events.register("before-parameter-build", before_parameter_build)
    module._cache.clear()
    module._cache["session"] = session
    return calls


def aws_operations(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The operations actually sent (one entry per request, retries included)."""
    return [name for name, _ in calls if not name.startswith("params:")]
