"""tools/tfcli.py: the offline provider mirror is found at run time, and what is missing is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tools import tfcli


def make_mirror(root: Path) -> Path:
    (root / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64").mkdir(parents=True)
    return root


@pytest.fixture
def cli_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write configs into a temp folder, never over the repo's own .terraform-cli/."""
    monkeypatch.setattr(tfcli, "CLI_DIR", tmp_path / "cli")
    monkeypatch.delenv("TF_PROVIDER_MIRROR", raising=False)
    return tmp_path / "cli"


def test_explicit_mirror_is_used(cli_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = make_mirror(tmp_path / "mirror")
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(mirror / "registry.terraform.io"))
    config = tfcli.write_cli_config().read_text()
    assert f'path    = "{mirror}"' in config
    assert "filesystem_mirror" in config


def test_mirror_is_found_by_searching(cli_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = make_mirror(tmp_path / "opt" / "plugins")
    monkeypatch.setattr(tfcli, "SEARCH_ROOTS", (str(tmp_path / "opt"),))
    assert tfcli.find_provider_mirror() == mirror


def test_no_mirror_names_what_is_missing(
    cli_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tfcli, "SEARCH_ROOTS", (str(tmp_path / "empty"),))
    with pytest.raises(tfcli.TerraformToolError, match="no offline Terraform provider mirror found"):
        tfcli.write_cli_config()


def test_a_wrong_explicit_mirror_is_refused(
    cli_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(tmp_path))
    with pytest.raises(
        tfcli.TerraformToolError, match=r"does not contain registry\.terraform\.io/hashicorp/aws"
    ):
        tfcli.find_provider_mirror()


def test_registry_mode_writes_no_mirror(cli_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_PROVIDER_MIRROR", "registry")
    assert "filesystem_mirror" not in tfcli.write_cli_config().read_text()


def test_cli_names_a_missing_terraform_binary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TERRAFORM_BIN"}
    env["PATH"] = str(tmp_path)  # no terraform here
    result = subprocess.run(
        [sys.executable, "-m", "tools.tfcli", "config"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "terraform binary not found on PATH" in result.stderr
    assert result.stdout == ""


def test_wrapper_names_a_missing_terraform_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import terraform

    monkeypatch.delenv("TERRAFORM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tfcli.TerraformToolError, match="terraform binary not found"):
        terraform.validate(tmp_path)
