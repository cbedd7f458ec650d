"""The webhook Lambda's request contract: packaging, event formats, auth, validation, allow-list.

Each test loads a fresh handler module from the Lambda zip (see ``lambda_task_dir`` in conftest)
and talks to the session moto server.
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    LAMBDA_SOURCE,
    LAMBDA_ZIP,
    LS_WEBHOOK_FIXTURES,
    WEBHOOK_TOKEN,
    LambdaStack,
    aws_operations,
    lambda_zip_is_current,
    ls_webhook,
    record_aws_calls,
)

pytestmark = pytest.mark.integration


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def log_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


# --------------------------------------------------------------------------- packaging


def test_handler_imports_only_stdlib_and_boto3() -> None:
    tree = ast.parse(LAMBDA_SOURCE.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "__future__"}
    assert third_party <= {"boto3", "botocore"}


def test_zip_layout(lambda_task_dir: Path) -> None:
    """The zip holds handler.py only (handler ``handler.lambda_handler``) and is what the tests load."""
    with zipfile.ZipFile(LAMBDA_ZIP) as archive:
        assert archive.namelist() == ["handler.py"]
    assert lambda_zip_is_current()
    assert (lambda_task_dir / "handler.py").read_bytes() == LAMBDA_SOURCE.read_bytes()
    assert LAMBDA_ZIP.stat().st_size < 20_000


def test_module_exposes_lambda_handler(lambda_stack: LambdaStack) -> None:
    assert callable(lambda_stack.load().lambda_handler)


# --------------------------------------------------------------------------- captured payloads


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("annotation_created_1", "recorded"),
        ("annotation_created_2", "recorded"),
        ("annotation_created_skipped", "recorded"),
        ("annotations_created_bulk", "recorded"),
        ("annotation_updated", "ignored"),
        ("annotations_deleted", "ignored"),
    ],
)
def test_captured_label_studio_deliveries(lambda_stack: LambdaStack, fixture: str, expected: str) -> None:
    """Real Label Studio 1.23.2 bodies *and* headers, replayed through the REST gateway shape."""
    captured = json.loads((LS_WEBHOOK_FIXTURES / f"{fixture}.json").read_text())
    module = lambda_stack.load()
    response = module.lambda_handler(
        lambda_stack.rest_event(json.dumps(captured["body"]), captured["headers"])
    )
    assert response["statusCode"] == 200
    assert body_of(response)["status"] == expected
    item = lambda_stack.item("project#1")
    if expected == "ignored":
        assert item is None
    else:
        assert item["seen_count"]["N"] == str(captured["body"]["project"]["total_annotations_number"])


def test_skipped_annotation_is_not_counted() -> None:
    """total_annotations_number excludes was_cancelled annotations (what LS 1.23.2 sends)."""
    before = ls_webhook("annotation_created_2")["project"]
    skipped = ls_webhook("annotation_created_skipped")
    assert skipped["annotation"]["was_cancelled"] is True
    assert skipped["project"]["total_annotations_number"] == before["total_annotations_number"]
    assert skipped["project"]["skipped_annotations_number"] == before["skipped_annotations_number"] + 1


# --------------------------------------------------------------------------- event formats


@pytest.mark.parametrize("shape", ["http_v2", "http_v2_base64", "rest_v1", "rest_v1_base64", "direct"])
def test_event_shapes(lambda_stack: LambdaStack, shape: str) -> None:
    body = ls_webhook("annotation_created_1", total=3)
    event = {
        "http_v2": lambda: lambda_stack.http_event(body),
        "http_v2_base64": lambda: lambda_stack.http_event(body, b64=True),
        "rest_v1": lambda: lambda_stack.rest_event(body),
        "rest_v1_base64": lambda: lambda_stack.rest_event(body, b64=True),
        "direct": lambda: body,
    }[shape]()
    response = lambda_stack.load().lambda_handler(event, None)
    assert response["statusCode"] == 200, response
    assert body_of(response) == {"status": "recorded", "decision": "below_threshold"}
    assert lambda_stack.item("project#1")["seen_count"] == {"N": "3"}


def test_non_post_is_405(lambda_stack: LambdaStack) -> None:
    event = lambda_stack.http_event(ls_webhook("annotation_created_1"), method="GET")
    assert lambda_stack.load().lambda_handler(event)["statusCode"] == 405


# --------------------------------------------------------------------------- authentication


AUTH_CASES = [
    ({}, 401),
    ({"X-Webhook-Token": "wrong"}, 401),
    ({"X-Webhook-Token": ""}, 401),
    ({"X-Webhook-Token": WEBHOOK_TOKEN + "x"}, 401),
    ({"Authorization": WEBHOOK_TOKEN}, 401),
    ({"X-Webhook-Token": WEBHOOK_TOKEN}, 200),
    ({"x-webhook-token": WEBHOOK_TOKEN}, 200),
    ({"X-WEBHOOK-TOKEN": WEBHOOK_TOKEN}, 200),
]
# A REST (1.0) event can carry the same header twice in different case; an HTTP API merges them.
DUPLICATE_HEADER_CASE = ({"X-Webhook-Token": WEBHOOK_TOKEN, "x-webhook-token": "wrong"}, 401)


@pytest.mark.parametrize(
    ("headers", "status", "gateway"),
    [(h, s, g) for h, s in AUTH_CASES for g in ("http_event", "rest_event")]
    + [(*DUPLICATE_HEADER_CASE, "rest_event")],
)
def test_authentication(
    lambda_stack: LambdaStack, capsys: pytest.CaptureFixture[str], headers: dict, status: int, gateway: str
) -> None:
    module = lambda_stack.load()
    response = module.lambda_handler(
        getattr(lambda_stack, gateway)(ls_webhook("annotation_created_1"), headers)
    )
    assert response["statusCode"] == status
    out = capsys.readouterr().out
    assert WEBHOOK_TOKEN not in json.dumps(response)
    assert WEBHOOK_TOKEN not in out
    if status == 401:
        assert body_of(response) == {"error": "unauthorized"}
        assert lambda_stack.item("project#1") is None


def test_secret_read_once_per_container(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    calls = record_aws_calls(module)
    for total in (1, 2, 3):
        module.lambda_handler(lambda_stack.http_event(ls_webhook("annotation_created_1", total=total)))
    module.lambda_handler(
        lambda_stack.http_event(ls_webhook("annotation_created_1"), {"X-Webhook-Token": "no"})
    )
    assert aws_operations(calls).count("Secrets Manager.GetSecretValue") == 1


# --------------------------------------------------------------------------- validation


def with_project(**changes: Any) -> dict[str, Any]:
    body = ls_webhook("annotation_created_1")
    for key, value in changes.items():
        if value is ...:
            body["project"].pop(key)
        else:
            body["project"][key] = value
    return body


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "JSON"),
        ("", "body"),
        ("[1, 2]", "object"),
        ('"ANNOTATION_CREATED"', "object"),
        ("null", "object"),
        (json.dumps({"project": {"id": 1}}), "action"),
        (json.dumps({"action": 5}), "action"),
        (json.dumps({"action": "ANNOTATION_CREATED"}), "project"),
        (json.dumps({"action": "ANNOTATION_CREATED", "project": [1]}), "project"),
        (json.dumps(with_project(id=...)), "project.id"),
        (json.dumps(with_project(id="1")), "project.id"),
        (json.dumps(with_project(id=True)), "project.id"),
        (json.dumps(with_project(id=-1)), "project.id"),
        (json.dumps(with_project(total_annotations_number=...)), "total_annotations_number"),
        (json.dumps(with_project(total_annotations_number="16")), "total_annotations_number"),
        (json.dumps(with_project(total_annotations_number=16.0)), "total_annotations_number"),
        (json.dumps(with_project(total_annotations_number=-3)), "total_annotations_number"),
        (json.dumps(with_project(total_annotations_number=10**40)), "total_annotations_number"),
        (json.dumps(with_project(total_annotations_number=None)), "total_annotations_number"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
        ('{"action": NaN}', "action"),
    ],
)
def test_bad_requests_are_400(lambda_stack: LambdaStack, raw: str, fragment: str) -> None:
    response = lambda_stack.load().lambda_handler(lambda_stack.http_event(raw))
    assert response["statusCode"] == 400, response
    assert fragment in body_of(response)["error"]
    assert lambda_stack.item("project#1") is None


def test_bad_base64_is_400(lambda_stack: LambdaStack) -> None:
    event = lambda_stack.http_event("x")
    event.update(body="!!not base64!!", isBase64Encoded=True)
    response = lambda_stack.load().lambda_handler(event)
    assert response["statusCode"] == 400
    assert "base64" in body_of(response)["error"]


def test_non_object_direct_event_is_400(lambda_stack: LambdaStack) -> None:
    assert lambda_stack.load().lambda_handler(["not", "an", "object"])["statusCode"] == 400


@pytest.mark.parametrize(
    "action", ["ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "PROJECT_CREATED", "TASKS_CREATED"]
)
def test_other_actions_are_ignored(lambda_stack: LambdaStack, action: str) -> None:
    body = ls_webhook("annotation_created_1", total=100)
    body["action"] = action
    module = lambda_stack.load()
    calls = record_aws_calls(module)
    response = module.lambda_handler(lambda_stack.http_event(body))
    assert (response["statusCode"], body_of(response)) == (200, {"status": "ignored"})
    assert aws_operations(calls) == ["Secrets Manager.GetSecretValue"]
    assert lambda_stack.item("project#1") is None


def test_allow_list(lambda_stack: LambdaStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_PROJECT_IDS", " 7, 8 ,")
    module = lambda_stack.load()
    denied = module.lambda_handler(lambda_stack.http_event(ls_webhook("annotation_created_1", project_id=1)))
    assert (denied["statusCode"], body_of(denied)) == (403, {"error": "project not allowed"})
    assert lambda_stack.item("project#1") is None
    allowed = module.lambda_handler(lambda_stack.http_event(ls_webhook("annotation_created_1", project_id=8)))
    assert allowed["statusCode"] == 200
    assert lambda_stack.item("project#8") is not None


def test_empty_allow_list_accepts_any_project(lambda_stack: LambdaStack) -> None:
    response = lambda_stack.load().lambda_handler(
        lambda_stack.http_event(ls_webhook("annotation_created_1", project_id=123456))
    )
    assert response["statusCode"] == 200


# --------------------------------------------------------------------------- logs and other events


def test_one_json_log_line_per_decision(
    lambda_stack: LambdaStack, capsys: pytest.CaptureFixture[str]
) -> None:
    module = lambda_stack.load()
    module.lambda_handler(lambda_stack.http_event(ls_webhook("annotation_created_1", total=5)))
    (line,) = log_lines(capsys.readouterr().out)
    assert line == {
        "decision": "below_threshold",
        "in_flight": False,
        "project": "1",
        "count": 5,
        "count_at_last_start": 0,
        "threshold": 16,
        "execution_arn": None,
        "trigger": "ANNOTATION_CREATED",
    }


def test_unrelated_eventbridge_events_are_ignored(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    other = {"source": "aws.sagemaker", "detail-type": "SageMaker Training Job State Change", "detail": {}}
    assert module.lambda_handler(other) == {"status": "ignored"}
    running = lambda_stack.completion_event("arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x")
    running["detail"]["currentPipelineExecutionStatus"] = "Executing"
    assert module.lambda_handler(running) == {"status": "ignored"}
    unknown = lambda_stack.completion_event("arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/y")
    assert module.lambda_handler(unknown) == {"status": "ignored"}
