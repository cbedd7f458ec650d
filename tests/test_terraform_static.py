"""Fast, offline checks of the Terraform module sources and tools/terraform.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import load_processing_script  # noqa: E402
from tools import terraform as tf  # noqa: E402
from tools import tfdocs  # noqa: E402

MODULE = REPO_ROOT / "terraform"


def test_every_variable_has_type_description_and_validation():
    bodies = tfdocs.block_bodies(MODULE / "variables.tf", "variable")
    assert len(bodies) >= 30
    for variable in tfdocs.read_variables(MODULE):
        assert variable.type != "any", variable.name
        assert len(variable.description) > 10, variable.name
        assert re.search(r"^\s*validation\s*\{", bodies[variable.name], re.MULTILINE), variable.name


def test_no_region_variable_and_required_inputs():
    names = {v.name for v in tfdocs.read_variables(MODULE)}
    assert "region" not in names
    for wanted in (
        "labels",
        "annotation_threshold",
        "label_studio_origin",
        "webhook_header_name",
        "build_dir",
    ):
        assert wanted in names


def test_every_output_has_a_description():
    outputs = {o.name: o for o in tfdocs.read_outputs(MODULE)}
    for name in (
        "webhook_url",
        "webhook_headers",
        "bucket_name",
        "images_prefix",
        "annotations_prefix",
        "labels",
        "region",
        "pipeline_name",
        "pipeline_arn",
        "lambda_function_name",
        "state_table_name",
        "model_package_group_name",
        "sagemaker_role_arn",
    ):
        assert name in outputs, name
    assert all(len(o.description) > 5 for o in outputs.values())
    assert outputs["webhook_headers"].sensitive


def test_example_reexports_every_module_output():
    module_outputs = set(tfdocs.block_bodies(MODULE / "outputs.tf", "output"))
    example_outputs = set(tfdocs.block_bodies(MODULE / "examples" / "complete" / "outputs.tf", "output"))
    assert module_outputs <= example_outputs


def test_module_uses_only_the_aws_provider():
    for path in MODULE.glob("*.tf"):
        text = path.read_text()
        for banned in ("hashicorp/random", "hashicorp/archive", "hashicorp/null", "hashicorp/local"):
            assert banned not in text, f"{path.name} uses {banned}"
        assert not re.search(r'^(resource|data)\s+"(random|archive|null|local)_', text, re.MULTILINE), (
            path.name
        )


def _lambda_policy_actions() -> set[str]:
    """Every "service:Action" literal of resource "aws_iam_role_policy" "lambda" in iam.tf."""
    text = (MODULE / "iam.tf").read_text()
    start = text.index('resource "aws_iam_role_policy" "lambda"')
    end = text.index("\n}\n", start)
    return set(re.findall(r'"([a-z0-9-]+:[A-Za-z]+)"', text[start:end]))


def test_lambda_policy_matches_the_handlers_aws_calls():
    """dynamodb/secretsmanager/sagemaker actions == the client("svc").operation( calls in lambda/handler.py."""
    handler = (REPO_ROOT / "lambda" / "handler.py").read_text()
    calls = set(re.findall(r'client\("([a-z]+)"\)\.([a-z_]+)\(', handler))
    assert calls, "no client(...).operation( calls found in lambda/handler.py"
    used = {f"{service}:{''.join(w.title() for w in op.split('_'))}" for service, op in calls}
    granted = {
        a for a in _lambda_policy_actions() if a.split(":")[0] in {"dynamodb", "secretsmanager", "sagemaker"}
    }
    assert granted == used


def test_prefix_validation_is_at_least_as_strict_as_the_scripts():
    """Every prefix Terraform accepts passes cleanup.py's scratch-root check and preprocess's URI check."""
    cleanup = load_processing_script("cleanup")
    bodies = tfdocs.block_bodies(MODULE / "variables.tf", "variable")
    names = [n for n in bodies if n.endswith("_prefix")]
    assert sorted(names) == [
        "annotations_prefix",
        "images_prefix",
        "models_prefix",
        "runs_prefix",
        "scripts_prefix",
    ]
    patterns = set()
    for name in names:
        match = re.search(r'can\(regex\("([^"]+)", var\.' + name + r"\)\)", bodies[name])
        assert match, name
        patterns.add(match.group(1).replace("\\\\", "\\"))
    assert len(patterns) == 1
    pattern = re.compile(patterns.pop())
    candidates = [
        "runs/", "a/b/", "team-a/runs.v2/", "date=2026/x_y/", "_runs/", "runs!/", "./", "../", "a/../",
        "a/./", "a//", "/runs/", "runs", "", "a b/", "ru*ns/", "(x)/", "x'/", ".hidden/", "-x/", "Ä/",
    ]  # fmt: skip
    accepted = [c for c in candidates if pattern.fullmatch(c)]
    assert {"runs/", "a/b/", "team-a/runs.v2/", "date=2026/x_y/"} <= set(accepted)
    for prefix in accepted:
        assert cleanup.check_scratch_root(prefix) == prefix
        assert not {".", ".."} & set(prefix[:-1].split("/")) and "//" not in prefix
    for refused in ("_runs/", "runs!/", "./", "../", "a/../", "a/./", "a//", "/runs/", "runs", "", "Ä/"):
        assert refused not in accepted, refused


def test_tfdocs_tables_render():
    tables = tfdocs.render()
    assert '| <a name="input_labels"></a> [labels](#input_labels)' in tables
    assert "## Outputs" in tables
    doc = f"x\n{tfdocs.BEGIN}\nold\n{tfdocs.END}\ny\n"
    assert tfdocs.inject(doc, tables) == f"x\n{tfdocs.BEGIN}\n{tables}{tfdocs.END}\ny\n"


@pytest.mark.integration
def test_terraform_wrapper_roundtrip(tmp_path: Path):
    """init/apply/plan/outputs/destroy through python-terraform on Terraform 1.x (no provider)."""
    (tmp_path / "main.tf").write_text(
        'variable "items" {\n  type    = list(string)\n  default = []\n}\n'
        'resource "terraform_data" "d" {\n  input = var.items\n}\n'
        'output "items" {\n  value = var.items\n}\n'
        'output "token" {\n  value     = { "X-Token" = "s3cr3t" }\n  sensitive = true\n}\n'
    )
    tf.init(tmp_path)
    tf.apply(tmp_path, vars={"items": ["a", "b"]})
    changes, _ = tf.plan(tmp_path, vars={"items": ["a", "b"]})
    assert not changes
    changes, text = tf.plan(tmp_path, vars={"items": ["c"]})
    assert changes and "terraform_data.d" in text
    assert tf.outputs(tmp_path) == {"items": ["a", "b"], "token": {"X-Token": "s3cr3t"}}
    assert tf.output(tmp_path, "items") == ["a", "b"]
    tf.destroy(tmp_path, vars={"items": ["a", "b"]})
    assert tf.outputs(tmp_path) == {}
    with pytest.raises(tf.TerraformError, match="exit"):
        tf.apply(tmp_path / "missing")
