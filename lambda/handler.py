"""Label Studio webhook -> SageMaker pipeline trigger. Design: README.md § The webhook Lambda."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
import time
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ANNOTATION_ACTIONS = frozenset({"ANNOTATION_CREATED", "ANNOTATIONS_CREATED"})
PIPELINE_EVENT_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped"})
PROJECT_PK = "project#"
EXECUTION_PK = "execution#"
CLAIM_LEASE_SECONDS = 300  # claim without start this old: its Lambda died
STALE_RUN_SECONDS = 6 * 3600  # run this old: ask SageMaker (lost completion event)
SECRET_REFRESH_SECONDS = 300  # wrong token: re-read secret at most this often
INDEX_TTL_SECONDS = 180 * 24 * 3600
MAX_COUNT = 10**12  # keeps numbers sane for DynamoDB
AWS_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
TRUE, FALSE = {"BOOL": True}, {"BOOL": False}

Item = dict[str, Any]  # JSON object or DynamoDB item
Result = tuple[int, Item]  # (HTTP status, body)
_lock = threading.Lock()
_cache: dict[str, Any] = {}  # per container: settings, session, clients, token


class Settings(NamedTuple):
    pipeline_name: str
    state_table: str
    annotation_threshold: int
    webhook_secret_arn: str
    webhook_header_name: str  # lower-cased: header names are case-insensitive
    allowed_project_ids: frozenset[str]


class RequestError(Exception):
    """A refused request: args = (4xx status, message safe to return)."""


class Webhook(NamedTuple):
    action: str
    project_id: str
    annotation_count: int


def settings() -> Settings:
    """Once per container; a bad value is a deployment bug: fail loudly."""
    if "settings" not in _cache:
        env = os.environ
        threshold = int(env["ANNOTATION_THRESHOLD"])
        if threshold < 1:
            raise ValueError("ANNOTATION_THRESHOLD must be >= 1")
        _cache["settings"] = Settings(
            env["PIPELINE_NAME"],
            env["STATE_TABLE"],
            threshold,
            env["WEBHOOK_SECRET_ARN"],
            (env.get("WEBHOOK_HEADER_NAME") or "X-Webhook-Token").lower(),
            frozenset(p.strip() for p in env.get("ALLOWED_PROJECT_IDS", "").split(",") if p.strip()),
        )
    return _cache["settings"]


def client(service: str) -> Any:
    """Per container; locked: boto3 session set-up is not thread-safe."""
    if service not in _cache:
        with _lock:
            if service not in _cache:
                session = _cache.get("session") or _cache.setdefault("session", boto3.session.Session())
                _cache[service] = session.client(service, config=AWS_CONFIG)
    return _cache[service]


def iso(now: float) -> str:
    """UTC ISO-8601 with ms, ordered as a string (lease checks)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def log(decision: str, **fields: Any) -> None:
    """One JSON line per decision (CloudWatch Logs); never headers or the token."""
    print(json.dumps({"decision": decision, **fields}, default=str, separators=(",", ":")))


def reply(status: int, body: Item) -> Item:
    """For both API Gateway payload formats (1.0 and 2.0)."""
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def S(value: str) -> dict[str, str]:  # DynamoDB type letters
    return {"S": value}


def N(value: int | str) -> dict[str, str]:
    return {"N": str(value)}


def num(item: Item, key: str) -> int:
    return int(item[key]["N"]) if key in item else 0


def text(item: Item, key: str) -> str | None:
    return item[key]["S"] if key in item else None


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def update(pk: dict, expression: str, values: dict, condition: str = "") -> Item | None:
    """UpdateItem -> the new item, or None if ``condition`` fails."""
    kwargs: Item = {"ConditionExpression": condition} if condition else {}
    try:
        response = client("dynamodb").update_item(
            TableName=settings().state_table,
            Key={"pk": pk},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            **kwargs,
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return response["Attributes"]


def get(pk: dict) -> Item | None:
    table, key = settings().state_table, {"pk": pk}
    return client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def header_values(event: Item, name: str) -> set[str]:
    """Header ``name`` (any case) from 2.0 ``headers`` or 1.0 ``multiValueHeaders``."""
    pairs: list[tuple[Any, Any]] = []
    for key in ("headers", "multiValueHeaders"):
        found = event.get(key)
        if isinstance(found, dict):
            for k, v in found.items():
                pairs.extend((k, x) for x in (v if isinstance(v, list) else [v]))
    return {v for k, v in pairs if isinstance(k, str) and k.lower() == name and isinstance(v, str)}


def webhook_token(refresh: bool = False) -> bytes:
    """The secret's SecretString: read once per container, re-read on refresh."""
    stale = time.monotonic() - _cache.get("token_at", 0.0) > SECRET_REFRESH_SECONDS
    if "token" not in _cache or (refresh and stale):
        secret = client("secretsmanager").get_secret_value(SecretId=settings().webhook_secret_arn)
        if not secret.get("SecretString"):
            raise ValueError("webhook secret has no SecretString")
        _cache["token"], _cache["token_at"] = secret["SecretString"].encode(), time.monotonic()
    return _cache["token"]


def authenticate(event: Item) -> None:
    """401 unless exactly one token value is sent and it matches (constant time)."""
    values = header_values(event, settings().webhook_header_name)
    if len(values) == 1:
        presented = next(iter(values)).encode("utf-8", "replace")
        for refresh in (False, True):
            if hmac.compare_digest(presented, webhook_token(refresh)):
                return
    raise RequestError(401, "unauthorized")


def request_body(event: Item) -> Any:
    body = event.get("body")
    if not isinstance(body, str) or not body:
        raise RequestError(400, "missing body")
    if event.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise RequestError(400, "body is not valid base64 UTF-8") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise RequestError(400, "body is not valid JSON") from None


def integer(container: Item, key: str) -> int:
    value = container.get(key)
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise RequestError(400, f"project.{key} must be a non-negative integer")
    return value


def parse_webhook(body: Any) -> Webhook | None:
    """None for ignored actions. Count: total_annotations_number (non-skipped)."""
    if not isinstance(body, dict):
        raise RequestError(400, "body must be a JSON object")
    action = body.get("action")
    if not isinstance(action, str):
        raise RequestError(400, "action must be a string")
    if action not in ANNOTATION_ACTIONS:
        return None
    project = body.get("project")
    if not isinstance(project, dict):
        raise RequestError(400, "project must be an object")
    project_id = str(integer(project, "id"))
    allowed = settings().allowed_project_ids
    if allowed and project_id not in allowed:
        raise RequestError(403, "project not allowed")
    return Webhook(action, project_id, integer(project, "total_annotations_number"))


def record_seen_count(hook: Webhook, now: float) -> Item:
    """The fast path's only AWS call: store the count, return the whole item."""
    return update(
        S(PROJECT_PK + hook.project_id),
        "SET seen_count = :count, seen_at = :now, project_id = :project, "
        "created_at = if_not_exists(created_at, :now), "
        "count_at_last_start = if_not_exists(count_at_last_start, :zero), "
        "in_flight = if_not_exists(in_flight, :f), run_seq = if_not_exists(run_seq, :zero)",
        {":count": N(hook.annotation_count), ":now": S(iso(now)), ":project": S(hook.project_id)}
        | {":zero": N(0), ":f": FALSE},
    )


def claim_crossing(item: Item, now: float) -> Item | None:
    """Conditional write; None: another invocation won. A new crossing takes run_seq + 1 and freezes
    pending_count; a retry/takeover reuses both (same token: SageMaker dedupes the start)."""
    in_flight, seq = item["in_flight"] == TRUE, num(item, "run_seq")
    values = {":t": TRUE, ":now": S(iso(now))}  # DynamoDB rejects unused values: add as used
    if "pending_count" in item and in_flight:
        count, values[":claimed"] = num(item, "pending_count"), item["claimed_at"]
        condition = "run_seq = :seq AND pending_count = :count AND in_flight = :t AND claimed_at = :claimed"
    elif "pending_count" in item:
        count, values[":f"] = num(item, "pending_count"), FALSE
        condition = "run_seq = :seq AND pending_count = :count AND in_flight = :f"
    else:
        seq, count, values[":old"], values[":f"] = seq + 1, num(item, "seen_count"), N(seq), FALSE
        condition = "run_seq = :old AND in_flight = :f AND attribute_not_exists(pending_count)"
    base = num(item, "prev_count_at_last_start" if in_flight else "count_at_last_start")
    values |= {":seq": N(seq), ":count": N(count), ":base": N(base)}
    return update(
        item["pk"],
        "SET in_flight = :t, run_seq = :seq, pending_count = :count, count_at_last_start = :count, "
        "prev_count_at_last_start = :base, claimed_at = :now",
        values,
        condition,
    )


def release_claim(claim: Item, reason: str) -> None:
    """After a failed start: restore the baseline, keep run_seq/pending_count for the retry."""
    update(
        claim["pk"],
        "SET in_flight = :f, count_at_last_start = prev_count_at_last_start, last_error = :reason",
        {":f": FALSE, ":t": TRUE, ":reason": S(reason)}
        | {":seq": claim["run_seq"], ":claimed": claim["claimed_at"]},
        "run_seq = :seq AND claimed_at = :claimed AND in_flight = :t",
    )


def record_start(claim: Item, execution_arn: str, now: float) -> None:
    """Index ARN -> project (for the completion event), then mark the item started."""
    client("dynamodb").put_item(
        TableName=settings().state_table,
        Item={
            "pk": S(EXECUTION_PK + execution_arn),
            "project_pk": claim["pk"],
            "project_id": claim["project_id"],
            "run_seq": claim["run_seq"],
            "annotation_count": claim["pending_count"],
            "started_at": S(iso(now)),
            "expires_at": N(int(now) + INDEX_TTL_SECONDS),
        },
    )
    update(
        claim["pk"],
        "SET execution_arn = :arn, started_at = :now "
        "REMOVE pending_count, prev_count_at_last_start, last_error",
        {":arn": S(execution_arn), ":now": S(iso(now)), ":seq": claim["run_seq"]},
        "run_seq = :seq",
    )


def finish_run(pk: dict, seq: dict, status: str, now: float, arn: str = "") -> Item | None:
    """Clear in-flight of run ``seq`` (heal: if still execution ``arn``); None if that fails."""
    values = {":f": FALSE, ":t": TRUE, ":status": S(status), ":now": S(iso(now)), ":seq": seq}
    condition = "run_seq = :seq AND in_flight = :t"
    if arn:
        values[":arn"] = S(arn)
        condition += " AND execution_arn = :arn AND attribute_not_exists(pending_count)"
    return update(
        pk,
        "SET in_flight = :f, last_status = :status, completed_at = :now "
        "REMOVE pending_count, prev_count_at_last_start",
        values,
        condition,
    )


def idempotency_token(claim: Item) -> str:
    """sha256 hex (SageMaker: 32-128 chars); created_at: a recreated table never reuses one."""
    parts = [settings().pipeline_name, claim["project_id"]["S"], claim["created_at"]["S"]]
    parts += [claim["run_seq"]["N"], claim["pending_count"]["N"]]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def start_pipeline(claim: Item) -> str:
    """Display name and parameters trace the run to project and count."""
    project, count, seq = claim["project_id"]["S"], claim["pending_count"]["N"], claim["run_seq"]["N"]
    description = {"label_studio_project_id": project, "annotation_count": int(count), "run_seq": int(seq)}
    return client("sagemaker").start_pipeline_execution(
        PipelineName=settings().pipeline_name,
        PipelineExecutionDisplayName=f"ls-p{project}-n{count}-r{seq}",  # [a-zA-Z0-9-], <= 82
        PipelineExecutionDescription=json.dumps(description),
        PipelineParameters=[
            {"Name": "LabelStudioProjectId", "Value": project},
            {"Name": "AnnotationCount", "Value": count},
        ],
        ClientRequestToken=idempotency_token(claim),
    )["PipelineExecutionArn"]


def fire(item: Item, trigger: str, now: float) -> Result:
    """Claim, start, record; exactly one log line."""
    fields = {"project": text(item, "project_id"), "count": num(item, "seen_count"), "trigger": trigger}
    claim = claim_crossing(item, now)
    if claim is None:
        log("claim_lost", **fields)
        return 200, {"status": "recorded", "decision": "claim_lost"}
    fields |= {"run_seq": num(claim, "run_seq"), "annotation_count": num(claim, "pending_count")}
    try:
        arn = start_pipeline(claim)
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc)
        release_claim(claim, code)
        log("start_failed", error=code, **fields)
        return 502, {"error": "pipeline start failed", "code": code}
    record_start(claim, arn, now)
    log("started", execution_arn=arn, **fields)
    return 200, {"status": "started", "execution_arn": arn, "annotation_count": fields["annotation_count"]}


def evaluate(item: Item, now: float, trigger: str) -> Result:
    """Decide on the item as this event left it: fire, defer or record only."""
    threshold = settings().annotation_threshold
    seen, base = num(item, "seen_count"), num(item, "count_at_last_start")
    due, in_flight = seen - base >= threshold, item.get("in_flight") == TRUE
    claimed_at = text(item, "claimed_at") or ""
    if in_flight and "pending_count" in item and claimed_at < iso(now - CLAIM_LEASE_SECONDS):
        return fire(item, "stale_claim", now)
    if in_flight and due and (text(item, "started_at") or "~") < iso(now - STALE_RUN_SECONDS):
        healed = heal_stale_run(item, now)
        if healed is not None:
            return evaluate(healed, now, "stale_run")
    if due and not in_flight:
        return fire(item, trigger, now)
    decision = "deferred" if due else "below_threshold"
    fields = {"project": text(item, "project_id"), "count": seen, "count_at_last_start": base}
    fields |= {"threshold": threshold, "execution_arn": text(item, "execution_arn"), "trigger": trigger}
    log(decision, in_flight=in_flight, **fields)
    return 200, {"status": "recorded", "decision": decision}


def heal_stale_run(item: Item, now: float) -> Item | None:
    """Its completion event may be lost: ask SageMaker."""
    arn = text(item, "execution_arn")
    if not arn or "pending_count" in item:  # claimed, not started: ARN is the previous run's
        return None
    try:
        execution = client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=arn)
    except (ClientError, BotoCoreError) as exc:  # cannot tell: keep deferring, never fail the webhook
        log("stale_run_check_failed", execution_arn=arn, error=error_code(exc))
        return None
    status = execution["PipelineExecutionStatus"]
    if status not in TERMINAL_STATUSES:
        return None
    log("stale_run_finished", project=text(item, "project_id"), execution_arn=arn, status=status)
    return finish_run(item["pk"], item["run_seq"], status, now, arn)


def handle_webhook(event: Item) -> Item:
    """Gateway event (token auth) or direct invocation (IAM auth)."""
    if "requestContext" in event or "httpMethod" in event or "routeKey" in event:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, dict) else None
        method = event.get("httpMethod") or (http.get("method") if isinstance(http, dict) else None)
        if isinstance(method, str) and method.upper() != "POST":
            raise RequestError(405, "method not allowed")
        authenticate(event)
        body = request_body(event)
    else:
        body = event
    hook = parse_webhook(body)
    if hook is None:
        log("ignored", action=body.get("action"))
        return reply(200, {"status": "ignored"})
    now = time.time()
    return reply(*evaluate(record_seen_count(hook, now), now, hook.action))


def handle_pipeline_event(event: Item) -> Item:
    """An execution ended: clear in-flight, start the follow-up run if due."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    arn, status = detail.get("pipelineExecutionArn"), detail.get("currentPipelineExecutionStatus")
    if not isinstance(arn, str) or status not in TERMINAL_STATUSES:
        log("ignored", status=status, execution_arn=arn)
        return {"status": "ignored"}
    index = get(S(EXECUTION_PK + arn))
    fields = {"project": text(index or {}, "project_id"), "execution_arn": arn, "status": status}
    now = time.time()
    item = finish_run(index["project_pk"], index["run_seq"], status, now) if index else None
    if index and not item:  # finished: a retry after a failed follow-up start?
        item = get(index["project_pk"]) or {}
        failed = "pending_count" in item and item["in_flight"] == FALSE
        item = item if failed and num(item, "run_seq") == num(index, "run_seq") + 1 else None
    if not item:
        log("completion_ignored", known=index is not None, **fields)
        return {"status": "ignored"}
    log("run_finished", **fields)
    code, result = evaluate(item, now, "follow_up")
    if code >= 500:  # claim released; fail: Lambda retries the event, then its DLQ
        raise RuntimeError(f"follow-up pipeline start failed: {result['code']}")
    return {"statusCode": code, **result}


def lambda_handler(event: Any, context: Any = None) -> Item:
    """Entry point ``handler.lambda_handler``: bad input is a 4xx, never a 5xx."""
    settings()  # fails loudly if misconfigured
    if isinstance(event, dict) and event.get("source") == "aws.sagemaker" and "detail-type" in event:
        if event["detail-type"] != PIPELINE_EVENT_TYPE:
            log("ignored", event=event["detail-type"])
            return {"status": "ignored"}
        return handle_pipeline_event(event)  # errors raise: Lambda retries the event
    try:
        if not isinstance(event, dict):
            raise RequestError(400, "event must be a JSON object")
        return handle_webhook(event)
    except RequestError as exc:
        status, message = exc.args
        log("rejected", status=status, reason=message)
        return reply(status, {"error": message})
    except (ClientError, BotoCoreError) as exc:
        log("aws_error", error=error_code(exc))
        return reply(503, {"error": "service unavailable", "code": error_code(exc)})
