"""The rendered pipeline definition: contract parameters, step graph, plumbing of values, offline rendering.

Rendered once per region per module (the SDK import and render take a few seconds), inside a guard that
records any socket use or botocore API call; the SDK swallows some errors (telemetry), so the guard records
attempts instead of only raising.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_pipeline import PARAMETER_TYPES, PLACEHOLDERS, PipelineDefaults, layout, render_definition

REPO_ROOT = Path(__file__).resolve().parent.parent
REGIONS = ("us-east-1", "eu-west-1")
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}


# ------------------------------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def no_network() -> Iterator[list[str]]:
    """Record (and refuse) every socket connect / DNS lookup / botocore API call made inside the block."""
    import botocore.client

    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def _refuse(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what} {args[1:] if what.startswith('socket.socket') else args[:2]}")
            raise OSError(f"network disabled in tests: {what}")

        return _refuse

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse("socket.socket.connect"))
        patch.setattr(socket.socket, "connect_ex", refuse("socket.socket.connect_ex"))
        patch.setattr(socket, "create_connection", refuse("socket.create_connection"))
        patch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
        patch.setattr(botocore.client.BaseClient, "_make_api_call", refuse("botocore _make_api_call"))
        yield attempts


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[str, list[str]]]:
    """{region: (definition text, network attempts)} rendered under the guard."""
    out = {}
    for region in REGIONS:
        with no_network() as attempts:
            text = render_definition(region)
        out[region] = (text, list(attempts))
    return out


@pytest.fixture(scope="module")
def definition(rendered: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    return json.loads(rendered["us-east-1"][0])


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Top-level steps plus the ones nested in condition branches."""
    found = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            for nested in step.get("Arguments", {}).get(branch, []):
                found[nested["Name"]] = nested
    return found


def evaluate(expr: Any, parameters: dict[str, Any]) -> Any:
    """Tiny evaluator for the pipeline DSL parts that only involve parameters (Get Parameters.*, Std:Join)."""
    if isinstance(expr, dict) and set(expr) == {"Get"} and expr["Get"].startswith("Parameters."):
        return parameters[expr["Get"].removeprefix("Parameters.")]
    if isinstance(expr, dict) and "Std:Join" in expr:
        join = expr["Std:Join"]
        return join["On"].join(_as_string(evaluate(value, parameters)) for value in join["Values"])
    if isinstance(expr, dict | list):
        raise ValueError(f"not a parameter-only expression: {expr}")
    return expr


def _as_string(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def terraform_defaults(definition: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """What terraform/sagemaker.tf does to parameter defaults: Labels = join(",", labels), NumClasses = n + 1."""
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    defaults.update(Labels=",".join(labels), NumClasses=len(labels) + 1)
    return defaults


def references(node: Any) -> set[str]:
    """Names of the steps a JSON fragment refers to through {"Get": "Steps.<name>..."}."""
    found: set[str] = set()
    if isinstance(node, dict):
        value = node.get("Get")
        if isinstance(value, str) and value.startswith("Steps."):
            found.add(re.split(r"[.\[]", value.removeprefix("Steps."), maxsplit=1)[0])
        for child in node.values():
            found |= references(child)
    elif isinstance(node, list):
        for child in node:
            found |= references(child)
    return found


def contract_parameters() -> dict[str, str]:
    """The "Pipeline parameters" table of docs/contracts.md: {name: type}."""
    text = (REPO_ROOT / "docs" / "contracts.md").read_text()
    section = text.split("## Pipeline parameters", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| (String|Integer|Float) \|", section, flags=re.MULTILINE))


# ------------------------------------------------------------------------------------------------ tests


def test_rendering_makes_no_network_or_aws_call(rendered: dict[str, tuple[str, list[str]]]) -> None:
    for region, (_, attempts) in rendered.items():
        assert attempts == [], f"{region}: rendering tried to reach the network: {attempts}"


def test_rendering_is_canonical_json(rendered: dict[str, tuple[str, list[str]]]) -> None:
    text = rendered["us-east-1"][0]
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_version_and_contract_parameters(definition: dict[str, Any]) -> None:
    assert definition["Version"] == "2020-12-01"
    contract = contract_parameters()
    assert len(contract) == 16, "could not read the parameter table from docs/contracts.md"
    rendered = {p["Name"]: p["Type"] for p in definition["Parameters"]}
    assert rendered == contract
    assert contract == PARAMETER_TYPES
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert defaults == PipelineDefaults().by_parameter_name()
    for name, kind in contract.items():
        python_type = {"String": str, "Integer": int, "Float": float}[kind]
        assert type(defaults[name]) is python_type, name


def test_no_experiments_entities(definition: dict[str, Any]) -> None:
    """The SDK's default ExperimentName/TrialName would need sagemaker:CreateExperiment/CreateTrial."""
    assert definition.get("PipelineExperimentConfig") is None  # the SDK writes null: experiments off


def test_training_defaults_to_a_supported_gpu_instance(definition: dict[str, Any]) -> None:
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert re.match(r"^ml\.(p2|p3|g4dn|g5)\.\d*x?large$", defaults["TrainingInstanceType"])
    assert defaults["TrainingInstanceCount"] == 1  # the algorithm trains on a single machine


def test_steps_types_and_dependencies(definition: dict[str, Any]) -> None:
    steps = steps_by_name(definition)
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"),
        ("MergeStats", "Processing"),
        ("Train", "Training"),
        ("CheckMiou", "Condition"),
        ("Cleanup", "Processing"),
    ]
    edges = {
        (upstream, name)
        for name, step in steps.items()
        for upstream in references(step["Arguments"])
        | references(step.get("PropertyFiles", []))
        | set(step.get("DependsOn", []))
    }
    assert edges == {
        ("Preprocess", "MergeStats"),
        ("Preprocess", "Train"),
        ("MergeStats", "Train"),
        ("Train", "CheckMiou"),
        ("Train", "RegisterModel-RegisterModel"),
        ("CheckMiou", "Cleanup"),
    }
    gate = steps["CheckMiou"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["RegisterModel-RegisterModel"]
    assert gate["ElseSteps"] == []
    # Cleanup hangs off the gate itself, not a branch, so it runs whether or not the model is registered.
    assert steps["Cleanup"]["DependsOn"] == ["CheckMiou"]


def test_image_uris_are_regional(rendered: dict[str, tuple[str, list[str]]]) -> None:
    import sagemaker

    config_dir = Path(sagemaker.__file__).parent / "image_uri_config"
    algorithm = json.loads((config_dir / "semantic-segmentation.json").read_text())["versions"]["1"]
    sklearn = json.loads((config_dir / "sklearn.json").read_text())["training"]["versions"]["1.2-1"]
    training_images = {}
    for region, (text, _) in rendered.items():
        steps = steps_by_name(json.loads(text))
        expected = f"{algorithm['registries'][region]}.dkr.ecr.{region}.amazonaws.com/semantic-segmentation:1"
        image = steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]
        assert image == expected
        container = steps["RegisterModel-RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][
            0
        ]
        assert container["Image"] == expected
        sklearn_image = (
            f"{sklearn['registries'][region]}.dkr.ecr.{region}.amazonaws.com/"
            f"{sklearn['repository']}:1.2-1-cpu-py3"
        )
        for name in ("Preprocess", "MergeStats", "Cleanup"):
            assert steps[name]["Arguments"]["AppSpecification"]["ImageUri"] == sklearn_image
        training_images[region] = image
    assert training_images["us-east-1"] != training_images["eu-west-1"]


def test_hyperparameters(definition: dict[str, Any]) -> None:
    hyper = steps_by_name(definition)["Train"]["Arguments"]["HyperParameters"]
    assert hyper["backbone"] == "resnet-50"
    assert hyper["algorithm"] == "fcn"
    # Every value is a string or a Std:Join (which yields a string): the API takes strings only.
    for name, value in hyper.items():
        assert isinstance(value, str) or set(value) == {"Std:Join"}, name
    assert hyper["num_classes"] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.NumClasses"}]}}
    for name, parameter in (
        ("epochs", "Epochs"),
        ("learning_rate", "LearningRate"),
        ("mini_batch_size", "MiniBatchSize"),
    ):
        assert hyper[name] == {"Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{parameter}"}]}}


def test_num_training_samples_comes_from_the_merged_stats(definition: dict[str, Any]) -> None:
    steps = steps_by_name(definition)
    value = steps["Train"]["Arguments"]["HyperParameters"]["num_training_samples"]
    [json_get] = value["Std:Join"]["Values"]
    assert json_get == {
        "Std:JsonGet": {
            "Path": "num_training_samples",
            "PropertyFile": {"Get": "Steps.MergeStats.PropertyFiles.PreprocessStats"},
        }
    }
    assert steps["MergeStats"]["PropertyFiles"] == [
        {"FilePath": "stats.json", "OutputName": "merged_stats", "PropertyFileName": "PreprocessStats"}
    ]
    merge = steps["MergeStats"]["Arguments"]
    assert [o["OutputName"] for o in merge["ProcessingOutputConfig"]["Outputs"]] == ["merged_stats"]
    assert merge["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    [stats_input] = [i for i in merge["ProcessingInputs"] if i["InputName"] == "stats"]
    assert stats_input["S3Input"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['stats'].S3Output.S3Uri"
    }


@pytest.mark.parametrize(
    ("labels", "num_classes"), [(["bird"], "2"), (["Beak", "Head", "Wing", "Body"], "5")]
)
def test_num_classes_after_terraform_substitution(
    definition: dict[str, Any], labels: list[str], num_classes: str
) -> None:
    parameters = terraform_defaults(definition, labels)
    steps = steps_by_name(definition)
    hyper = steps["Train"]["Arguments"]["HyperParameters"]
    assert evaluate(hyper["num_classes"], parameters) == num_classes
    arguments = [
        evaluate(a, parameters)
        for a in steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    ]
    assert arguments[arguments.index("--labels") + 1] == ",".join(labels)


def test_preprocess_cli_and_inputs(definition: dict[str, Any]) -> None:
    steps = steps_by_name(definition)
    args = steps["Preprocess"]["Arguments"]
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    parameters.update(Labels="a,b", ValidationRatio=0.25, ImagesS3Uri="s3://b/img/")
    assert [evaluate(a, parameters) for a in args["AppSpecification"]["ContainerArguments"]] == [
        "--annotations", "/opt/ml/processing/annotations",
        "--images-s3-uri", "s3://b/img/",
        "--output", "/opt/ml/processing/output",
        "--labels", "a,b",
        "--validation-ratio", "0.25",
        "--shard-by", "task",
    ]  # fmt: skip
    assert args["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/preprocess.py",
    ]
    inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert inputs["annotations"]["S3Uri"] == {"Get": "Parameters.AnnotationsS3Uri"}
    # Sharded by task inside preprocess.py: every instance must see every annotation of a task.
    assert inputs["annotations"]["S3DataDistributionType"] == "FullyReplicated"
    bucket, scripts = PLACEHOLDERS["bucket"], PLACEHOLDERS["scripts_prefix"]
    assert inputs["code"]["S3Uri"] == f"s3://{bucket}/{scripts}preprocess.py"
    cluster = args["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}
    assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    merge = steps["MergeStats"]["Arguments"]
    assert merge["AppSpecification"]["ContainerArguments"] == [
        "--merge-stats", "/opt/ml/processing/stats", "--output", "/opt/ml/processing/merged",
    ]  # fmt: skip


def test_images_are_fetched_per_shard_not_a_processing_input(definition: dict[str, Any]) -> None:
    """An images input would copy every image to every instance; preprocess.py fetches its shard's images."""
    args = steps_by_name(definition)["Preprocess"]["Arguments"]
    assert sorted(i["InputName"] for i in args["ProcessingInputs"]) == ["annotations", "code"]
    container_args = args["AppSpecification"]["ContainerArguments"]
    assert "--images" not in container_args
    # ImagesS3Uri is used (not a dead parameter): it scopes the downloads.
    scope = container_args[container_args.index("--images-s3-uri") + 1]
    assert scope == {"Get": "Parameters.ImagesS3Uri"}
    assert container_args[container_args.index("--shard-by") + 1] == "task"
    # The parameter occurs nowhere else in the definition.
    uses = json.dumps(definition["Steps"]).count('"Parameters.ImagesS3Uri"')
    assert uses == 1


def test_outputs_are_execution_scoped(definition: dict[str, Any]) -> None:
    steps = steps_by_name(definition)
    run_root = f"s3://{PLACEHOLDERS['bucket']}/{PLACEHOLDERS['runs_prefix']}"
    folders = {}
    for name in ("Preprocess", "MergeStats"):
        for output in steps[name]["Arguments"]["ProcessingOutputConfig"]["Outputs"]:
            values = output["S3Output"]["S3Uri"]["Std:Join"]["Values"]
            assert values[:2] == [run_root, EXECUTION_ID], output["OutputName"]
            folders[output["OutputName"]] = values[2]
    assert set(folders) == {c[0] for c in layout.CHANNELS} | {"stats", "merged_stats"}
    # S3Prefix channels match key prefixes: no run folder may be a prefix of another.
    for a in folders.values():
        for b in folders.values():
            assert a == b or not b.startswith(a), (a, b)
    output_path = steps["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"]
    assert output_path == {
        "Std:Join": {
            "On": "",
            "Values": [f"s3://{PLACEHOLDERS['bucket']}/{PLACEHOLDERS['models_prefix']}", EXECUTION_ID],
        }
    }


def test_training_channels(definition: dict[str, Any]) -> None:
    train = steps_by_name(definition)["Train"]["Arguments"]
    channels = {c["ChannelName"]: c for c in train["InputDataConfig"]}
    expected_types = {
        "train": "image/jpeg",
        "validation": "image/jpeg",
        "train_annotation": "image/png",
        "validation_annotation": "image/png",
    }
    assert {name: c["ContentType"] for name, c in channels.items()} == expected_types
    for name, channel in channels.items():
        source = channel["DataSource"]["S3DataSource"]
        assert source["S3DataType"] == "S3Prefix"
        assert channel["InputMode"] == "File"
        assert source["S3Uri"] == {
            "Get": f"Steps.Preprocess.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        }
    resources = train["ResourceConfig"]
    assert resources["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert resources["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    assert train["AlgorithmSpecification"]["TrainingInputMode"] == "File"


def test_gate_and_registration(definition: dict[str, Any]) -> None:
    steps = steps_by_name(definition)
    [condition] = steps["CheckMiou"]["Arguments"]["Conditions"]
    assert condition == {
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": {"Get": "Steps.Train.FinalMetricDataList['validation:mIOU'].Value"},
        "RightValue": {"Get": "Parameters.MiouThreshold"},
    }
    register = steps["RegisterModel-RegisterModel"]
    assert register["Type"] == "RegisterModel"
    args = register["Arguments"]
    assert args["ModelPackageGroupName"] == PLACEHOLDERS["model_package_group"]
    assert args["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    spec = args["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == ["image/jpeg"]
    assert "image/png" in spec["SupportedResponseMIMETypes"]
    assert spec["Containers"][0]["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert spec["SupportedRealtimeInferenceInstanceTypes"]
    assert spec["SupportedTransformInstanceTypes"]
    metadata = args["CustomerMetadataProperties"]
    assert metadata["LabelStudioProjectId"] == {"Get": "Parameters.LabelStudioProjectId"}


def test_cleanup_cli(definition: dict[str, Any]) -> None:
    args = steps_by_name(definition)["Cleanup"]["Arguments"]
    assert args["AppSpecification"]["ContainerArguments"] == [
        "--bucket", PLACEHOLDERS["bucket"],
        "--scratch-root", PLACEHOLDERS["runs_prefix"],
        "--execution-id", EXECUTION_ID,
    ]  # fmt: skip
    [code] = args["ProcessingInputs"]
    assert (
        code["S3Input"]["S3Uri"]
        == f"s3://{PLACEHOLDERS['bucket']}/{PLACEHOLDERS['scripts_prefix']}cleanup.py"
    )
    assert args["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1


def test_placeholders_substitute_cleanly(rendered: dict[str, tuple[str, list[str]]]) -> None:
    """Terraform's replace() chain (contract order) leaves no token behind and valid JSON."""
    text = rendered["us-east-1"][0]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", PLACEHOLDERS["role_arn"])
    for key, token in PLACEHOLDERS.items():
        assert token in text, f"placeholder {key} does not occur in the definition"
        for other_key, other in PLACEHOLDERS.items():
            if key != other_key and token in other:
                # Only the account id sits inside another token, and it is replaced after that one.
                assert (key, other_key) == ("account_id", "role_arn")
    values = {
        "bucket": "my-bucket",
        "role_arn": "arn:aws:iam::123456789012:role/my-sagemaker",
        "account_id": "123456789012",
        "scripts_prefix": "s/",
        "runs_prefix": "r/",
        "models_prefix": "m/",
        "model_package_group": "my-models",
    }
    assert list(values) == list(PLACEHOLDERS)
    for key, token in PLACEHOLDERS.items():
        text = text.replace(token, values[key])
    assert "lsr-placeholder" not in text and "000000000000" not in text
    steps = steps_by_name(json.loads(text))
    assert steps["Preprocess"]["Arguments"]["RoleArn"] == values["role_arn"]
    assert steps["Cleanup"]["Arguments"]["AppSpecification"]["ContainerArguments"][:4] == [
        "--bucket", "my-bucket", "--scratch-root", "r/",
    ]  # fmt: skip


def test_definition_holds_no_local_paths(rendered: dict[str, tuple[str, list[str]]]) -> None:
    text = rendered["us-east-1"][0]
    for fragment in (str(REPO_ROOT), str(Path.home()), "/tmp/"):
        assert fragment not in text
