"""terraform/examples/complete applied against the patched moto server (integration).

Harness (tools/moto_stack.py, shared with the e2e test and the demo): the example and
the module are copied to a temp dir with the same relative layout (``terraform/``,
``terraform/examples/complete``, ``build/``, ``preprocessing/``) and a provider override
file ``moto_override.tf`` points every AWS endpoint at moto. The
example itself is applied unchanged, without ``-var`` arguments. Then: assertions on the
created resources, a second plan that must be empty, destroy, and checks that the
bucket, table and pipeline are gone. Durations are printed (``-s`` not needed).

moto's gaps (e.g. the Lambda ``DeadLetterConfig`` it drops, which would make every plan
show a diff) are patched in tools/moto_server.py, never in the module.

``LSR_TEST_BUILD_DIR`` may point at another build/ folder; by default the repository's
``build/`` (``python build.py``) is used.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tools import terraform as tf  # noqa: E402
from tools.moto_server import MotoServer  # noqa: E402
from tools.moto_stack import stage_example  # noqa: E402

pytestmark = pytest.mark.integration

# Module defaults the example keeps (variables.tf) -> expected pipeline parameter defaults.
EXPECTED_PARAMETERS = {
    "ProcessingInstanceType": "ml.m5.xlarge",
    "ProcessingInstanceCount": 1,
    "TrainingInstanceType": "ml.g5.2xlarge",
    "TrainingInstanceCount": 1,
    "Epochs": 10,
    "LearningRate": 0.001,
    "MiniBatchSize": 8,
    "ValidationRatio": 0.2,
    "MiouThreshold": 0.5,
    "ModelApprovalStatus": "PendingManualApproval",
    "Labels": "Beak,Head,Wing,Body",
    "NumClasses": 5,
    "LabelStudioProjectId": "manual",
    "AnnotationCount": 0,
}
CONTRACT_ENV = {
    "PIPELINE_NAME",
    "STATE_TABLE",
    "ANNOTATION_THRESHOLD",
    "WEBHOOK_SECRET_ARN",
    "WEBHOOK_HEADER_NAME",
    "ALLOWED_PROJECT_IDS",
}


# --------------------------------------------------------------------------- moto (harness side)


def build_dir() -> Path:
    path = Path(os.environ.get("LSR_TEST_BUILD_DIR") or REPO_ROOT / "build")
    missing = [
        n
        for n in ("webhook_lambda.zip", "pipeline_definition.json", "build_info.json")
        if not (path / n).is_file()
    ]
    if missing:
        pytest.fail(f"{path} lacks {', '.join(missing)}: run `python build.py` (make build) first")
    return path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tf_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    log = tmp_path_factory.mktemp("moto-tf") / "moto.log"
    with MotoServer(log_path=log) as server:
        yield server


@pytest.fixture(scope="module")
def timings(request: pytest.FixtureRequest) -> Iterator[dict[str, float]]:
    """Durations of init/apply/plan/destroy, printed after the module's tests."""
    times: dict[str, float] = {}
    yield times
    if times:
        line = "[terraform on moto] " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
        capture = request.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            with capture.global_and_fixture_disabled():
                print(f"\n{line}")
        else:
            print(line)


@pytest.fixture(scope="module")
def deployed(tf_moto: MotoServer, tmp_path_factory: pytest.TempPathFactory, timings: dict[str, float]):
    example = stage_example(tmp_path_factory.mktemp("tf-complete"), tf_moto.endpoint, build_dir=build_dir())
    start = time.monotonic()
    tf.init(example)
    timings["init"] = time.monotonic() - start
    start = time.monotonic()
    try:
        tf.apply(example)
    except tf.TerraformError:
        try:
            tf.destroy(example)
        finally:
            raise
    timings["apply"] = time.monotonic() - start
    state: dict[str, Any] = {"example": example, "outputs": tf.outputs(example), "destroyed": False}
    yield state
    if not state["destroyed"]:
        tf.destroy(example)


# --------------------------------------------------------------------------- tests (ordered)


def test_outputs(deployed):
    out = deployed["outputs"]
    assert out["region"] == "us-east-1"
    assert out["webhook_url"].startswith("https://") and out["webhook_url"].endswith("/webhook")
    assert list(out["webhook_headers"]) == ["X-Webhook-Token"]
    assert len(out["webhook_headers"]["X-Webhook-Token"]) >= 32
    assert out["labels"] == ["Beak", "Head", "Wing", "Body"]
    assert out["images_prefix"] == "images/" and out["annotations_prefix"] == "annotations/"
    assert out["models_s3_uri"] == f"s3://{out['bucket_name']}/models/"
    assert out["sagemaker_role_arn"].startswith("arn:aws:iam::123456789012:role/")


def test_pipeline_definition(deployed, tf_moto):
    out = deployed["outputs"]
    info = json.loads((build_dir() / "build_info.json").read_text())
    sm = tf_moto.client("sagemaker")
    described = sm.describe_pipeline(PipelineName=out["pipeline_name"])
    assert described["RoleArn"] == out["sagemaker_role_arn"]
    text = described["PipelineDefinition"]
    for key, token in info["placeholders"].items():
        assert token not in text, f"placeholder {key} ({token}) left in the definition"
    definition = json.loads(text)
    params = {p["Name"]: p for p in definition["Parameters"]}
    for name, value in EXPECTED_PARAMETERS.items():
        assert params[name]["DefaultValue"] == value, name
        assert type(params[name]["DefaultValue"]) is type(value), name
    bucket = out["bucket_name"]
    assert params["ImagesS3Uri"]["DefaultValue"] == f"s3://{bucket}/images/"
    assert params["AnnotationsS3Uri"]["DefaultValue"] == f"s3://{bucket}/annotations/"
    assert sm.describe_model_package_group(ModelPackageGroupName=out["model_package_group_name"])


def test_lambda_environment_has_no_secret(deployed, tf_moto):
    out = deployed["outputs"]
    token = out["webhook_headers"]["X-Webhook-Token"]
    config = tf_moto.client("lambda").get_function_configuration(FunctionName=out["lambda_function_name"])
    env = config["Environment"]["Variables"]
    assert set(env) == CONTRACT_ENV
    assert token not in json.dumps(config)
    assert env["WEBHOOK_SECRET_ARN"] == out["webhook_secret_arn"]
    assert env["PIPELINE_NAME"] == out["pipeline_name"]
    assert env["STATE_TABLE"] == out["state_table_name"]
    assert env["ANNOTATION_THRESHOLD"] == "16"
    assert env["WEBHOOK_HEADER_NAME"] == "X-Webhook-Token"
    assert env["ALLOWED_PROJECT_IDS"] == ""
    assert config["Runtime"] == "python3.12" and config["Handler"] == "handler.lambda_handler"
    assert config["TracingConfig"]["Mode"] == "Active"
    secret = tf_moto.client("secretsmanager").get_secret_value(SecretId=out["webhook_secret_arn"])
    assert secret["SecretString"] == token


def test_bucket_configuration(deployed, tf_moto):
    out = deployed["outputs"]
    s3 = tf_moto.client("s3")
    bucket = out["bucket_name"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
    assert cors["AllowedOrigins"] == ["http://localhost:8080"]
    assert sorted(cors["AllowedMethods"]) == ["GET", "HEAD"]
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    # Versioned bucket: scratch under runs/ is really removed (noncurrent copies after 1 day, then the
    # expired delete markers); other prefixes keep noncurrent versions for noncurrent_version_expiration_days.
    scratch = lifecycle["expire-run-scratch"]
    assert scratch["Filter"]["Prefix"] == "runs/" and scratch["Expiration"]["Days"] == 7
    assert scratch["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    markers = lifecycle["remove-run-scratch-delete-markers"]
    assert markers["Filter"]["Prefix"] == "runs/" and markers["Expiration"] == {
        "ExpiredObjectDeleteMarker": True
    }
    whole = lifecycle["expire-noncurrent-versions"]
    assert whole["Filter"]["Prefix"] == "" and whole["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="scripts/").get("Contents", [])}
    expected = {
        f"scripts/{p.name}" for p in (REPO_ROOT / "preprocessing").glob("*.py") if not p.name.startswith("_")
    }
    if not os.environ.get("LSR_TEST_BUILD_DIR"):
        assert keys == expected
    assert keys == set(out["script_keys"])


def test_state_table_and_events(deployed, tf_moto):
    out = deployed["outputs"]
    table = tf_moto.client("dynamodb").describe_table(TableName=out["state_table_name"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    ttl = tf_moto.client("dynamodb").describe_time_to_live(TableName=out["state_table_name"])
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    events = tf_moto.client("events")
    rules = events.list_rule_names_by_target(TargetArn=out["lambda_function_arn"])["RuleNames"]
    assert len(rules) == 1
    pattern = json.loads(events.describe_rule(Name=rules[0])["EventPattern"])
    assert pattern["detail"]["pipelineArn"] == [out["pipeline_arn"]]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail"]["currentPipelineExecutionStatus"] == ["Succeeded", "Failed", "Stopped"]


def test_label_studio_storage_policy(deployed, tf_moto):
    """The output is a valid policy document scoped to the two Label Studio prefixes (no user/keys made)."""
    out = deployed["outputs"]
    document = json.loads(out["label_studio_storage_policy_json"])
    arn = out["bucket_arn"]
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert set(by_sid) == {"ListStoragePrefixes", "ReadImages", "WriteAnnotations"}
    assert by_sid["ListStoragePrefixes"]["Resource"] == [arn]
    assert by_sid["ListStoragePrefixes"]["Condition"]["StringLike"]["s3:prefix"] == [
        "images",
        "images/*",
        "annotations",
        "annotations/*",
    ]
    assert by_sid["ReadImages"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadImages"]["Resource"] == [f"{arn}/images/*"]
    assert sorted(by_sid["WriteAnnotations"]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert by_sid["WriteAnnotations"]["Resource"] == [f"{arn}/annotations/*"]
    iam = tf_moto.client("iam")
    users = iam.list_users()["Users"]
    assert not [u for u in users if u["UserName"].startswith("ls-retrain-demo")]
    # moto parses and validates the document like IAM does (syntax, element names).
    created = iam.create_policy(
        PolicyName="lsr-label-studio-check", PolicyDocument=out["label_studio_storage_policy_json"]
    )
    iam.delete_policy(PolicyArn=created["Policy"]["Arn"])


def test_second_plan_is_empty(deployed, timings):
    start = time.monotonic()
    has_changes, text = tf.plan(deployed["example"])
    timings["plan"] = time.monotonic() - start
    assert not has_changes, text[-4000:]


def test_destroy_removes_everything(deployed, tf_moto, timings):
    out = deployed["outputs"]
    start = time.monotonic()
    tf.destroy(deployed["example"])
    timings["destroy"] = time.monotonic() - start
    deployed["destroyed"] = True
    buckets = [b["Name"] for b in tf_moto.client("s3").list_buckets().get("Buckets", [])]
    assert out["bucket_name"] not in buckets
    assert out["state_table_name"] not in tf_moto.client("dynamodb").list_tables()["TableNames"]
    pipelines = tf_moto.client("sagemaker").list_pipelines()["PipelineSummaries"]
    assert out["pipeline_name"] not in [p["PipelineName"] for p in pipelines]
    functions = tf_moto.client("lambda").list_functions()["Functions"]
    assert out["lambda_function_name"] not in [f["FunctionName"] for f in functions]
