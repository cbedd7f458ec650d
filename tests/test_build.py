"""build.py end to end, in subprocesses on copies of the sources (the real repo and build/ are never touched).

A ``sitecustomize`` on PYTHONPATH lets a test (a) log-and-refuse every socket use and botocore API call and
(b) make ``import sagemaker`` fail, proving that a no-op rebuild never imports the SDK.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sagemaker_pipeline import PLACEHOLDERS

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ("pipeline_definition.json", "webhook_lambda.zip", "build_info.json")
STUB_HANDLER = b'"""Stand-in for lambda/handler.py in build tests."""\n\n\ndef lambda_handler(event, context):\n    return {}\n'

SITECUSTOMIZE = """
import os
import sys

if os.environ.get("LSR_NETWORK_LOG"):
    import socket

    def _refuse(what):
        def refuse(*args, **kwargs):
            with open(os.environ["LSR_NETWORK_LOG"], "a") as log:
                log.write(f"{what} {args[1:3]!r}\\n")
            raise OSError(f"network disabled by test: {what}")
        return refuse

    socket.socket.connect = _refuse("socket.connect")
    socket.socket.connect_ex = _refuse("socket.connect_ex")
    socket.create_connection = _refuse("socket.create_connection")
    socket.getaddrinfo = _refuse("socket.getaddrinfo")
    import botocore.client
    botocore.client.BaseClient._make_api_call = _refuse("botocore._make_api_call")

if os.environ.get("LSR_BLOCK_SAGEMAKER"):
    class _BlockSageMaker:
        def find_spec(self, name, path=None, target=None):
            if name == "sagemaker" or name.startswith("sagemaker."):
                raise ImportError("import sagemaker blocked by the test: a no-op build must not import it")
            return None

    sys.meta_path.insert(0, _BlockSageMaker())
"""

HOSTILE_SDK_CONFIG = """SchemaVersion: '1.0'
SageMaker:
  TrainingJob:
    EnableNetworkIsolation: true
    Tags:
      - Key: leaked
        Value: from-user-config
  ProcessingJob:
    Tags:
      - Key: leaked
        Value: from-user-config
"""


def copy_sources(dest: Path, with_handler: bool = True) -> Path:
    """The files build.py reads, copied to ``dest`` (a stub handler if the repo has none yet)."""
    (dest / "sagemaker_pipeline").mkdir(parents=True)
    (dest / "lambda").mkdir()
    shutil.copy2(REPO_ROOT / "build.py", dest / "build.py")
    for source in (REPO_ROOT / "sagemaker_pipeline").glob("*.py"):
        shutil.copy2(source, dest / "sagemaker_pipeline" / source.name)
    if with_handler:
        handler = REPO_ROOT / "lambda" / "handler.py"
        data = handler.read_bytes() if handler.is_file() else STUB_HANDLER
        (dest / "lambda" / "handler.py").write_bytes(data)
    return dest


def clean_env(guard_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_", "PYTHON"))}
    env.update(PYTHONPATH=str(guard_dir), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def start_build(root: Path, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(root / "build.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_build(
    root: Path, args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    process = start_build(root, args, cwd, env)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """{name: (bytes, mtime_ns)} of everything in ``out``."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guard")
    (path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return path


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory, guard_dir: Path) -> dict[str, dict]:
    """Two cold builds in parallel: different copies, cwd, --out form, hash seed, region source and HOME.

    B also runs with a hostile user setup (an SDK config file that would inject tags and network isolation,
    a missing AWS profile): none of it may reach the output.
    """
    base = tmp_path_factory.mktemp("builds")
    root_a = copy_sources(base / "a" / "repo")
    root_b = copy_sources(base / "b" / "deeper" / "repo")
    home = base / "home"
    (home / ".config" / "sagemaker").mkdir(parents=True)
    (home / ".config" / "sagemaker" / "config.yaml").write_text(HOSTILE_SDK_CONFIG)
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text("[profile other]\nregion = ap-south-1\n")
    env_a = clean_env(guard_dir, PYTHONHASHSEED="1", LSR_NETWORK_LOG=str(base / "network-a.log"))
    env_b = clean_env(
        guard_dir,
        PYTHONHASHSEED="2",
        LSR_NETWORK_LOG=str(base / "network-b.log"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PROFILE="does-not-exist",
        HOME=str(home),
        SAGEMAKER_USER_CONFIG_OVERRIDE=str(home / ".config" / "sagemaker" / "config.yaml"),
    )
    process_a = start_build(root_a, ["--region", "us-east-1", "--out", "out"], base / "a", env_a)
    process_b = start_build(root_b, ["--out", str(base / "out-b")], base / "b", env_b)
    results = {}
    for name, process, root, out, log in (
        ("a", process_a, root_a, base / "a" / "out", base / "network-a.log"),
        ("b", process_b, root_b, base / "out-b", base / "network-b.log"),
    ):
        stdout, stderr = process.communicate(timeout=180)
        results[name] = {
            "returncode": process.returncode,
            "stdout": stdout,
            "stderr": stderr,
            "root": root,
            "out": out,
            "network": log.read_text() if log.exists() else "",
        }
    return results


def test_cold_builds_succeed_offline(two_builds: dict[str, dict]) -> None:
    for name in ("a", "b"):
        build = two_builds[name]
        assert build["returncode"] == 0, build["stderr"]
        assert build["network"] == "", f"build {name} tried the network:\n{build['network']}"
        assert sorted(p.name for p in build["out"].iterdir()) == sorted(ARTIFACTS)


def test_builds_are_byte_identical(two_builds: dict[str, dict]) -> None:
    for name in ARTIFACTS:
        a = (two_builds["a"]["out"] / name).read_bytes()
        b = (two_builds["b"]["out"] / name).read_bytes()
        assert a == b, f"{name} differs between builds"


def test_stdout_is_only_the_summary(two_builds: dict[str, dict]) -> None:
    build = two_builds["a"]
    lines = build["stdout"].splitlines()
    assert lines[0].startswith("out/ for us-east-1 (sagemaker 2.257.")
    assert len(lines) == 1 + len(ARTIFACTS)
    for name, line in zip(ARTIFACTS, lines[1:], strict=True):
        data = (build["out"] / name).read_bytes()
        assert line.split()[0] == name
        assert hashlib.sha256(data).hexdigest() in line
        assert f"{len(data):,} B" in line
        assert line.endswith("written")
    assert build["stderr"] == ""


def test_build_info(two_builds: dict[str, dict]) -> None:
    out = two_builds["a"]["out"]
    info = json.loads((out / "build_info.json").read_text())
    assert set(info) == {"region", "sagemaker_sdk_version", "placeholders", "artifacts", "source_hash"}
    assert info["region"] == "us-east-1"
    assert info["sagemaker_sdk_version"].startswith("2.257.")
    assert info["placeholders"] == PLACEHOLDERS
    assert info["artifacts"] == {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest()
        for name in ("pipeline_definition.json", "webhook_lambda.zip")
    }
    definition = (out / "pipeline_definition.json").read_text()
    assert definition == json.dumps(json.loads(definition), sort_keys=True, indent=2) + "\n"
    assert str(two_builds["a"]["root"]) not in definition


def test_lambda_zip_is_normalised(two_builds: dict[str, dict]) -> None:
    build = two_builds["a"]
    with zipfile.ZipFile(build["out"] / "webhook_lambda.zip") as archive:
        [entry] = archive.infolist()
        assert entry.filename == "handler.py"
        assert entry.date_time == (1980, 1, 1, 0, 0, 0)
        assert entry.external_attr >> 16 == 0o100644
        assert entry.compress_type == zipfile.ZIP_STORED
        assert archive.read(entry) == (build["root"] / "lambda" / "handler.py").read_bytes()
    for name in ARTIFACTS:
        assert (build["out"] / name).stat().st_mode & 0o777 == 0o644


def test_noop_rebuild_skips_the_sdk_and_keeps_mtimes(two_builds: dict[str, dict], guard_dir: Path) -> None:
    build = two_builds["a"]
    before = snapshot(build["out"])
    env = clean_env(guard_dir, LSR_BLOCK_SAGEMAKER="1")
    # LSR_BLOCK_SAGEMAKER makes `import sagemaker` fail: passing proves the SDK was not imported.
    # (How fast that makes a no-op rebuild is a benchmark: bench/bench_build.py, not a timed test.)
    result = run_build(
        build["root"], ["--region", "us-east-1", "--out", str(build["out"])], build["root"], env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("unchanged") == len(ARTIFACTS)
    assert snapshot(build["out"]) == before
    quiet = run_build(
        build["root"], ["--region", "us-east-1", "--out", str(build["out"]), "--quiet"], build["root"], env
    )
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_check_passes_when_fresh_and_ignores_mtime_only_touches(
    two_builds: dict[str, dict], guard_dir: Path
) -> None:
    build = two_builds["a"]
    before = snapshot(build["out"])
    os.utime(build["root"] / "sagemaker_pipeline" / "steps.py")  # content unchanged: output unchanged
    env = clean_env(guard_dir, LSR_BLOCK_SAGEMAKER="1")
    result = run_build(
        build["root"], ["--check", "--region", "us-east-1", "--out", str(build["out"])], build["root"], env
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert snapshot(build["out"]) == before


def test_check_detects_changed_source_then_rebuild_rewrites_only_what_changed(
    two_builds: dict[str, dict], guard_dir: Path
) -> None:
    build = two_builds["b"]
    out = build["out"]
    before = snapshot(out)
    with open(build["root"] / "sagemaker_pipeline" / "layout.py", "a") as source:
        source.write("# a comment: the rendered definition is unchanged, build_info's source hash is not\n")
    blocked = clean_env(guard_dir, AWS_REGION="us-east-1", LSR_BLOCK_SAGEMAKER="1")  # --check never renders
    check = run_build(build["root"], ["--check", "--out", str(out)], build["root"], blocked)
    assert check.returncode == 1
    assert "stale" in check.stderr and "sources changed" in check.stderr
    assert snapshot(out) == before, "--check must not write"
    env = clean_env(guard_dir, AWS_REGION="us-east-1")
    rebuild = run_build(build["root"], ["--out", str(out)], build["root"], env)
    assert rebuild.returncode == 0, rebuild.stderr
    after = snapshot(out)
    assert after["pipeline_definition.json"] == before["pipeline_definition.json"]  # bytes and mtime
    assert after["webhook_lambda.zip"] == before["webhook_lambda.zip"]
    assert after["build_info.json"][0] != before["build_info.json"][0]
    recheck = run_build(build["root"], ["--check", "--out", str(out)], build["root"], blocked)
    assert recheck.returncode == 0, recheck.stderr


def test_check_detects_an_edited_artifact(
    two_builds: dict[str, dict], guard_dir: Path, tmp_path: Path
) -> None:
    build = two_builds["a"]
    out = tmp_path / "out"
    shutil.copytree(build["out"], out)
    with open(out / "pipeline_definition.json", "a") as definition:
        definition.write(" ")
    env = clean_env(guard_dir, LSR_BLOCK_SAGEMAKER="1")
    result = run_build(
        build["root"], ["--check", "--region", "us-east-1", "--out", str(out)], build["root"], env
    )
    assert result.returncode == 1
    assert "pipeline_definition.json does not match" in result.stderr


def test_check_detects_a_build_for_another_region(two_builds: dict[str, dict], guard_dir: Path) -> None:
    build = two_builds["a"]
    before = snapshot(build["out"])
    env = clean_env(guard_dir, LSR_BLOCK_SAGEMAKER="1")  # answered from build_info.json, no render
    result = run_build(
        build["root"], ["--check", "--region", "eu-west-1", "--out", str(build["out"])], build["root"], env
    )
    assert result.returncode == 1
    assert "rendered for us-east-1" in result.stderr and "eu-west-1" in result.stderr
    assert snapshot(build["out"]) == before


def test_missing_region_is_a_clear_error(tmp_path: Path, guard_dir: Path) -> None:
    root = copy_sources(tmp_path / "repo")
    result = run_build(root, ["--out", str(tmp_path / "out")], tmp_path, clean_env(guard_dir))
    assert result.returncode == 2
    assert "--region" in result.stderr and "AWS_REGION" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_missing_handler_fails_and_writes_nothing(tmp_path: Path, guard_dir: Path) -> None:
    root = copy_sources(tmp_path / "repo", with_handler=False)
    result = run_build(
        root, ["--region", "us-east-1", "--out", str(tmp_path / "out")], tmp_path, clean_env(guard_dir)
    )
    assert result.returncode == 2
    assert "lambda/handler.py not found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unusable_output_is_a_clear_error(tmp_path: Path, guard_dir: Path) -> None:
    root = copy_sources(tmp_path / "repo")
    (tmp_path / "taken").write_text("a file, not a directory")
    result = run_build(
        root, ["--region", "us-east-1", "--out", str(tmp_path / "taken")], tmp_path, clean_env(guard_dir)
    )
    assert result.returncode == 2
    assert "not a directory" in result.stderr


def test_invalid_region_is_rejected_before_rendering(tmp_path: Path, guard_dir: Path) -> None:
    root = copy_sources(tmp_path / "repo")
    env = clean_env(guard_dir, LSR_BLOCK_SAGEMAKER="1")
    result = run_build(root, ["--region", "Europe", "--out", str(tmp_path / "out")], tmp_path, env)
    assert result.returncode == 2
    assert "does not look like an AWS region" in result.stderr
