"""When the webhook Lambda starts the pipeline: threshold, lost/duplicate/concurrent deliveries,
failed starts, in-flight runs and their completion (against the moto server)."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest

from tests.conftest import LambdaStack, aws_operations, ls_webhook, record_aws_calls

pytestmark = pytest.mark.integration
THRESHOLD = 16  # the lambda_stack fixture's ANNOTATION_THRESHOLD


def deliver(stack: LambdaStack, module: Any, total: int, project_id: int = 1) -> dict[str, Any]:
    response = module.lambda_handler(stack.http_event(ls_webhook("annotation_created_1", project_id, total)))
    return {"http": response["statusCode"], **json.loads(response["body"])}


def state(stack: LambdaStack, project_id: int = 1) -> dict[str, Any]:
    """The project item with DynamoDB types flattened (numbers as int)."""
    item = stack.item(f"project#{project_id}") or {}
    return {k: int(v["N"]) if "N" in v else next(iter(v.values())) for k, v in item.items()}


def test_first_run_at_exactly_the_threshold(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    for total in range(1, THRESHOLD):
        assert deliver(lambda_stack, module, total)["decision"] == "below_threshold"
    assert lambda_stack.executions() == []
    started = deliver(lambda_stack, module, THRESHOLD)
    assert (
        started["http"] == 200 and started["status"] == "started" and started["annotation_count"] == THRESHOLD
    )
    (execution,) = lambda_stack.executions()
    assert execution["PipelineExecutionArn"] == started["execution_arn"]
    assert execution["Parameters"] == {"LabelStudioProjectId": "1", "AnnotationCount": "16"}
    assert execution["PipelineExecutionDisplayName"] == "ls-p1-n16-r1"
    assert json.loads(execution["PipelineExecutionDescription"]) == {
        "label_studio_project_id": "1",
        "annotation_count": 16,
        "run_seq": 1,
    }
    item = state(lambda_stack)
    assert item["in_flight"] is True and item["count_at_last_start"] == 16 and item["run_seq"] == 1
    assert item["execution_arn"] == started["execution_arn"]
    assert "pending_count" not in item
    index = lambda_stack.item(f"execution#{started['execution_arn']}")
    assert index["project_pk"] == {"S": "project#1"} and index["run_seq"] == {"N": "1"}


def test_jump_past_threshold_fires_once(lambda_stack: LambdaStack) -> None:
    """Lost webhooks: 3 -> 40 still starts exactly one run, traced to the count it saw."""
    module = lambda_stack.load()
    deliver(lambda_stack, module, 3)
    assert deliver(lambda_stack, module, 40)["annotation_count"] == 40
    assert deliver(lambda_stack, module, 41)["decision"] == "below_threshold"
    assert deliver(lambda_stack, module, 70)["decision"] == "deferred"
    assert [e["Parameters"]["AnnotationCount"] for e in lambda_stack.executions()] == ["40"]


def test_decreasing_counts_never_fire_nor_corrupt_state(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    for total in (10, 5, 0, 3):
        assert deliver(lambda_stack, module, total)["decision"] == "below_threshold"
    assert state(lambda_stack)["count_at_last_start"] == 0
    started = deliver(lambda_stack, module, 16)
    lambda_stack.load().lambda_handler(lambda_stack.completion_event(started["execution_arn"]))
    for total in (12, 4, 31):  # deletions below the last start, then back up: still below 16 + 16
        assert deliver(lambda_stack, module, total)["decision"] == "below_threshold"
    item = state(lambda_stack)
    assert (item["count_at_last_start"], item["in_flight"], item["run_seq"]) == (16, False, 1)
    assert deliver(lambda_stack, module, 32)["annotation_count"] == 32
    assert len(lambda_stack.executions()) == 2


def test_duplicate_deliveries_start_one_execution(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    decisions = [deliver(lambda_stack, module, 16).get("decision", "started") for _ in range(5)]
    assert decisions == ["started"] + ["below_threshold"] * 4
    assert len(lambda_stack.executions()) == 1


@pytest.mark.parametrize("modules", ["one_module", "module_per_thread"])
def test_concurrent_crossing_starts_exactly_one_execution(lambda_stack: LambdaStack, modules: str) -> None:
    threads = 32
    shared = lambda_stack.load()
    handlers = (
        [shared] * threads if modules == "one_module" else [lambda_stack.load() for _ in range(threads)]
    )
    for module in handlers:  # warm each container (secret, clients) so the race is on the crossing
        deliver(lambda_stack, module, 15)
    barrier = threading.Barrier(threads)
    results: list[dict[str, Any]] = []

    def worker(module: Any) -> None:
        barrier.wait()
        results.append(deliver(lambda_stack, module, 16))

    pool = [threading.Thread(target=worker, args=(m,)) for m in handlers]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(results) == threads and all(r["http"] == 200 for r in results)
    assert sum(r["status"] == "started" for r in results) == 1
    assert len(lambda_stack.executions()) == 1
    item = state(lambda_stack)
    assert (item["run_seq"], item["in_flight"], item["count_at_last_start"]) == (1, True, 16)


def test_failed_start_releases_claim_and_next_event_retries(lambda_stack: LambdaStack) -> None:
    lambda_stack.aws("sagemaker").delete_pipeline(
        PipelineName=lambda_stack.pipeline, ClientRequestToken="x" * 32
    )
    module = lambda_stack.load()
    calls = record_aws_calls(module)
    failed = deliver(lambda_stack, module, 16)
    assert failed["http"] == 502 and failed["error"] == "pipeline start failed"
    item = state(lambda_stack)
    assert (item["in_flight"], item["count_at_last_start"], item["pending_count"], item["run_seq"]) == (
        False,
        0,
        16,
        1,
    )
    assert item["last_error"]
    lambda_stack.create_pipeline()
    started = deliver(lambda_stack, module, 17)
    assert started["annotation_count"] == 16  # the retried crossing keeps its count ...
    tokens = [
        p["ClientRequestToken"] for name, p in calls if name == "params:SageMaker.StartPipelineExecution"
    ]
    assert len(tokens) == 2 and tokens[0] == tokens[1] and 32 <= len(tokens[0]) <= 128  # ... and its token
    (execution,) = lambda_stack.executions()
    assert execution["Parameters"]["AnnotationCount"] == "16"
    item = state(lambda_stack)
    assert (item["in_flight"], item["count_at_last_start"], item["run_seq"]) == (True, 16, 1)
    assert "pending_count" not in item and "last_error" not in item


def test_in_flight_run_defers_and_completion_starts_follow_up(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    first = deliver(lambda_stack, module, 16)
    assert deliver(lambda_stack, module, 40)["decision"] == "deferred"
    events = lambda_stack.load()  # EventBridge invocations may land in another container
    result = events.lambda_handler(lambda_stack.completion_event(first["execution_arn"], "Failed"))
    assert result["status"] == "started" and result["annotation_count"] == 40
    assert events.lambda_handler(lambda_stack.completion_event(first["execution_arn"])) == {
        "status": "ignored"
    }
    second = result["execution_arn"]
    assert [e["Parameters"]["AnnotationCount"] for e in lambda_stack.executions()] == ["16", "40"]
    assert (
        events.lambda_handler(lambda_stack.completion_event(second, "Stopped"))["decision"]
        == "below_threshold"
    )
    item = state(lambda_stack)
    assert (item["in_flight"], item["last_status"], item["run_seq"]) == (False, "Stopped", 2)
    assert deliver(lambda_stack, module, 56)["annotation_count"] == 56


def test_completion_without_enough_new_annotations_just_clears(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    first = deliver(lambda_stack, module, 20)
    deliver(lambda_stack, module, 25)
    result = module.lambda_handler(lambda_stack.completion_event(first["execution_arn"]))
    assert result["decision"] == "below_threshold"
    assert state(lambda_stack)["in_flight"] is False
    assert len(lambda_stack.executions()) == 1


def test_projects_are_independent(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    assert "execution_arn" in deliver(lambda_stack, module, 16, project_id=1)
    assert "execution_arn" in deliver(lambda_stack, module, 16, project_id=2)
    assert sorted(e["Parameters"]["LabelStudioProjectId"] for e in lambda_stack.executions()) == ["1", "2"]


def test_dead_claimer_is_taken_over_with_the_same_token(
    lambda_stack: LambdaStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container that dies between claim and start leaves a claim; after the lease it is retried."""
    dying = lambda_stack.load()
    dying_calls = record_aws_calls(dying)

    def crash(*args: Any, **kwargs: Any) -> str:
        raise TimeoutError("Lambda timed out")

    monkeypatch.setattr(dying, "start_pipeline", crash)
    with pytest.raises(TimeoutError):
        deliver(lambda_stack, dying, 16)
    assert state(lambda_stack)["in_flight"] is True and lambda_stack.executions() == []
    fresh = lambda_stack.load()
    assert deliver(lambda_stack, fresh, 17)["decision"] == "below_threshold"  # lease not expired
    fresh.CLAIM_LEASE_SECONDS = -1
    calls = record_aws_calls(fresh)
    started = deliver(lambda_stack, fresh, 18)
    assert started["annotation_count"] == 16
    assert len(lambda_stack.executions()) == 1
    token = next(p["ClientRequestToken"] for n, p in calls if n == "params:SageMaker.StartPipelineExecution")
    claim = next(
        p for n, p in dying_calls if n == "params:DynamoDB.UpdateItem" and "ConditionExpression" in p
    )
    assert claim  # the dead container did claim; the token is derived from the same claim fields
    assert token == fresh.idempotency_token(
        {
            "project_id": {"S": "1"},
            "created_at": lambda_stack.item("project#1")["created_at"],
            "run_seq": {"N": "1"},
            "pending_count": {"N": "16"},
        },
    )


def test_lost_completion_event_is_healed_by_describe(lambda_stack: LambdaStack) -> None:
    module = lambda_stack.load()
    deliver(lambda_stack, module, 16)
    module.STALE_RUN_SECONDS = -1  # pretend the run has been in flight for longer than any real run
    calls = record_aws_calls(module)
    started = deliver(lambda_stack, module, 32)  # moto reports the first execution Succeeded
    assert started["annotation_count"] == 32
    assert "SageMaker.DescribePipelineExecution" in aws_operations(calls)
    assert len(lambda_stack.executions()) == 2


def test_aws_calls_per_path(lambda_stack: LambdaStack) -> None:
    """Sub-threshold: one UpdateItem. Firing: record, claim, start, index, mark started."""
    module = lambda_stack.load()
    calls = record_aws_calls(module)
    deliver(lambda_stack, module, 1)
    assert aws_operations(calls) == ["Secrets Manager.GetSecretValue", "DynamoDB.UpdateItem"]
    calls.clear()
    deliver(lambda_stack, module, 2)
    assert aws_operations(calls) == ["DynamoDB.UpdateItem"]
    calls.clear()
    deliver(lambda_stack, module, 16)
    assert aws_operations(calls) == [
        "DynamoDB.UpdateItem",
        "DynamoDB.UpdateItem",
        "SageMaker.StartPipelineExecution",
        "DynamoDB.PutItem",
        "DynamoDB.UpdateItem",
    ]


def test_every_expression_value_is_used(lambda_stack: LambdaStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real DynamoDB rejects unused ExpressionAttributeValues (moto does not): check every write path."""
    module = lambda_stack.load()
    calls = record_aws_calls(module)
    deliver(lambda_stack, module, 3)  # record only
    first = deliver(lambda_stack, module, 16)  # claim, start, record
    deliver(lambda_stack, module, 40)  # deferred
    second = module.lambda_handler(
        lambda_stack.completion_event(first["execution_arn"])
    )  # finish + follow-up
    module.STALE_RUN_SECONDS = -1
    third = deliver(lambda_stack, module, 80)  # heal the "stale" second run, start a third
    module.STALE_RUN_SECONDS = 6 * 3600
    module.lambda_handler(lambda_stack.completion_event(third["execution_arn"]))
    pipeline_gone = {"PipelineName": lambda_stack.pipeline, "ClientRequestToken": "y" * 32}
    lambda_stack.aws("sagemaker").delete_pipeline(**pipeline_gone)
    assert deliver(lambda_stack, module, 200)["http"] == 502  # claim, start fails, release

    def crash(*args: Any) -> str:
        raise TimeoutError

    monkeypatch.setattr(module, "start_pipeline", crash)
    with pytest.raises(TimeoutError):
        deliver(lambda_stack, module, 201)  # re-claims the pending crossing, then "dies"
    monkeypatch.undo()
    lambda_stack.create_pipeline()
    module.CLAIM_LEASE_SECONDS = -1
    assert deliver(lambda_stack, module, 202)["annotation_count"] == 200  # takes the dead claim over
    assert second["status"] == "started"
    writes = [p for name, p in calls if name == "params:DynamoDB.UpdateItem"]
    assert len(writes) >= 15
    for params in writes:
        used = set(
            re.findall(r":\w+", f"{params['UpdateExpression']} {params.get('ConditionExpression', '')}")
        )
        assert set(params["ExpressionAttributeValues"]) == used, params


def test_due_webhook_between_claim_and_start_does_not_heal_the_new_claim(lambda_stack: LambdaStack) -> None:
    """Between claim and record_start the item still names the previous, ended, > 6 h old execution:
    a due webhook in that window must defer, not "heal" the claim away and start a second run."""
    module = lambda_stack.load()
    first = deliver(lambda_stack, module, 16)
    module.lambda_handler(lambda_stack.completion_event(first["execution_arn"]))  # run 1 ended
    lambda_stack.aws("dynamodb").update_item(  # ... long ago
        TableName=lambda_stack.table,
        Key={"pk": {"S": "project#1"}},
        UpdateExpression="SET started_at = :old",
        ExpressionAttributeValues={":old": {"S": "2020-01-01T00:00:00.000Z"}},
    )
    claimer, other = lambda_stack.load(), lambda_stack.load()
    start = claimer.start_pipeline
    in_window: list[dict[str, Any]] = []

    def start_after_a_due_webhook(*args: Any) -> str:
        window = state(lambda_stack)
        assert window["pending_count"] == 32 and window["execution_arn"] == first["execution_arn"]
        in_window.append(deliver(lambda_stack, other, 48))  # due: 48 - 32 >= 16
        return start(*args)

    claimer.start_pipeline = start_after_a_due_webhook
    second = deliver(lambda_stack, claimer, 32)
    assert in_window == [{"http": 200, "status": "recorded", "decision": "deferred"}]
    assert second["status"] == "started" and second["annotation_count"] == 32
    assert [e["Parameters"]["AnnotationCount"] for e in lambda_stack.executions()] == ["16", "32"]
    item = state(lambda_stack)  # the claimed run is tracked: its completion event will be honoured
    assert (item["execution_arn"], item["run_seq"], item["in_flight"]) == (second["execution_arn"], 2, True)
    assert "pending_count" not in item
    follow_up = other.lambda_handler(lambda_stack.completion_event(second["execution_arn"]))
    assert follow_up["status"] == "started" and follow_up["annotation_count"] == 48


def test_heal_never_clears_a_run_other_than_the_one_it_described(lambda_stack: LambdaStack) -> None:
    """The heal's finish is conditioned on the ARN it described: a snapshot naming an ended older
    execution cannot clear the run that has since been recorded under the same run_seq."""
    module = lambda_stack.load()
    first = deliver(lambda_stack, module, 16)
    module.lambda_handler(lambda_stack.completion_event(first["execution_arn"]))
    second = deliver(lambda_stack, module, 32)
    snapshot = lambda_stack.item("project#1")
    snapshot |= {
        "execution_arn": {"S": first["execution_arn"]},
        "started_at": {"S": "2020-01-01T00:00:00.000Z"},
    }
    assert module.heal_stale_run(snapshot, module.time.time()) is None
    snapshot["pending_count"] = {"N": "32"}  # a claim not yet started: never healed
    assert module.heal_stale_run(snapshot, module.time.time()) is None
    item = state(lambda_stack)
    assert (item["execution_arn"], item["run_seq"], item["in_flight"]) == (second["execution_arn"], 2, True)


def test_failed_follow_up_start_raises_so_eventbridge_retries(lambda_stack: LambdaStack) -> None:
    """The async invocation must fail (Lambda retries it, then the DLQ gets it), the claim is
    released, and a retry of the same event retries the same crossing with the same token."""
    module = lambda_stack.load()
    first = deliver(lambda_stack, module, 16)
    assert deliver(lambda_stack, module, 40)["decision"] == "deferred"
    lambda_stack.aws("sagemaker").delete_pipeline(
        PipelineName=lambda_stack.pipeline, ClientRequestToken="z" * 32
    )
    calls = record_aws_calls(module)
    event = lambda_stack.completion_event(first["execution_arn"])
    for _ in range(2):  # the first delivery and a retry while SageMaker still refuses
        with pytest.raises(RuntimeError, match="follow-up pipeline start failed") as failure:
            module.lambda_handler(event)
        assert lambda_stack.token not in str(failure.value)
        item = state(lambda_stack)
        assert (item["in_flight"], item["count_at_last_start"], item["pending_count"], item["run_seq"]) == (
            False,
            16,
            40,
            2,
        )
        assert item["last_error"] and item["last_status"] == "Succeeded"
    lambda_stack.create_pipeline()
    retried = module.lambda_handler(event)
    assert retried["status"] == "started" and retried["annotation_count"] == 40
    tokens = [p["ClientRequestToken"] for n, p in calls if n == "params:SageMaker.StartPipelineExecution"]
    assert len(tokens) == 3 and len(set(tokens)) == 1
    assert [e["Parameters"]["AnnotationCount"] for e in lambda_stack.executions()] == ["40"]
    item = state(lambda_stack)
    assert (item["in_flight"], item["run_seq"], item["execution_arn"]) == (True, 2, retried["execution_arn"])
    assert module.lambda_handler(event) == {"status": "ignored"}  # a later duplicate does nothing
