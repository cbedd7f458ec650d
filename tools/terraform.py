"""Drive Terraform from Python (tests, bootstrap, demo) through ``python-terraform``.

Why ``python-terraform`` (0.10.1, pinned in requirements/dev.in) and not bare ``subprocess``:
it already turns keyword arguments into Terraform flags, writes ``-var`` maps to
temporary ``.tfvars.json`` files (so lists/maps survive) and parses ``output -json``.
It was written for Terraform 0.x, though, and this module is the one place that
knows its quirks on Terraform 1.x:

* ``destroy`` adds ``-force`` by default, which Terraform 1.x removed: we pass
  ``force=IsNotFlagged`` and ``auto_approve=True``.
* ``apply``/``plan``/``destroy`` take the configuration directory as a positional
  argument, which Terraform 1.x removed: we never pass it and set ``working_dir``
  instead (the same as ``terraform -chdir=DIR``).
* ``plan`` always adds ``-detailed-exitcode``: exit code 2 means "changes", not failure.
* ``output(name)`` indexes ``["value"]`` into the JSON, but Terraform 1.x prints the bare
  value for ``output -json NAME``: ``full_value=True`` skips that indexing and returns it as is.
  ``output -json`` (no name) prints ``{name: {"value", "type", "sensitive"}}``, which we unwrap.
* an empty ``var`` dict still produces a ``-var-file`` of ``{}``: we pass ``var=None``
  and hand our own variables file after the caller's ``var_file`` (later wins).

Every call sets ``TF_CLI_CONFIG_FILE`` (repo-local CLI config with the offline provider
mirror, see ``tools/tfcli.py``), ``TF_IN_AUTOMATION=1`` and ``-input=false``, and fails
with :class:`TerraformError` (stderr included) or
:class:`tools.tfcli.TerraformToolError` naming the missing tool.

API::

    init(dir)                                   # terraform init
    apply(dir, var_file=None, vars=None)        # terraform apply -auto-approve
    plan(dir, ...) -> (has_changes, text)
    destroy(dir, ...)
    outputs(dir) -> {name: value}               # sensitive values included
    validate(*dirs)                             # init -backend=false + validate

CLI: ``python -m tools.terraform validate DIR [DIR...]``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import python_terraform
from python_terraform import IsFlagged, IsNotFlagged, Terraform

from tools.tfcli import TerraformToolError, terraform_binary, write_cli_config

__all__ = [
    "TerraformError",
    "TerraformToolError",
    "apply",
    "destroy",
    "init",
    "outputs",
    "plan",
    "validate",
]

_ENV_LOCK = threading.Lock()
# python-terraform logs every failing command's stderr, through the deprecated Logger.warn
# (a DeprecationWarning per failure); we raise with that stderr instead.
logging.getLogger("python_terraform").propagate = False
python_terraform.log.warn = python_terraform.log.warning  # type: ignore[method-assign]


class TerraformError(RuntimeError):
    """A terraform command failed; the message holds the command, exit code and stderr."""

    def __init__(self, command: str, directory: Path, code: int, out: str, err: str) -> None:
        self.command = command
        self.directory = directory
        self.returncode = code
        self.stdout = out or ""
        self.stderr = err or ""
        detail = (self.stderr.strip() or self.stdout.strip())[-6000:]
        super().__init__(f"terraform {command} failed in {directory} (exit {code}):\n{detail}")


@contextlib.contextmanager
def _environment(extra: Mapping[str, str] | None) -> Iterator[None]:
    """Set the Terraform environment for the duration of one command.

    python-terraform copies ``os.environ`` into the child process and has no ``env``
    argument, so we patch ``os.environ`` (under a lock) and restore it afterwards.
    """
    wanted = {
        "TF_CLI_CONFIG_FILE": str(write_cli_config()),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        **(extra or {}),
    }
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _terraform(directory: str | os.PathLike[str]) -> tuple[Terraform, Path]:
    path = Path(directory).resolve()
    if not path.is_dir():
        raise TerraformError("(setup)", path, 1, "", f"directory {path} does not exist")
    return Terraform(working_dir=str(path), terraform_bin_path=terraform_binary()), path


def _run(
    directory: str | os.PathLike[str],
    command: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    **options: Any,
) -> tuple[int, str, str]:
    tf, path = _terraform(directory)
    with _environment(env):
        if command == "plan":
            code, out, err = tf.plan(**options)
        elif command == "apply":
            code, out, err = tf.apply(**options)
        elif command == "destroy":
            code, out, err = tf.destroy(**options)
        elif command == "init":
            code, out, err = tf.init(**options)
        else:
            code, out, err = tf.cmd(command, *args, **options)
    if code not in ok_codes:
        raise TerraformError(command, path, code, out, err)
    return code, out or "", err or ""


@contextlib.contextmanager
def _var_files(
    var_file: str | os.PathLike[str] | None, variables: Mapping[str, Any] | None
) -> Iterator[list[str]]:
    files: list[str] = []
    if var_file is not None:
        files.append(str(Path(var_file).resolve()))
    temp: str | None = None
    if variables:
        fd, temp = tempfile.mkstemp(suffix=".tfvars.json", prefix="tfvars-")
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(variables), handle)
        files.append(temp)
    try:
        yield files
    finally:
        if temp:
            os.unlink(temp)


def init(
    directory: str | os.PathLike[str], *, backend: bool = True, env: Mapping[str, str] | None = None
) -> str:
    """``terraform init`` (``-backend=false`` when ``backend`` is False). Returns stdout."""
    _, out, _ = _run(
        directory,
        "init",
        env=env,
        backend=backend,
        reconfigure=IsNotFlagged,
        var=None,
        input=False,
        no_color=IsFlagged,
    )
    return out


def apply(
    directory: str | os.PathLike[str],
    var_file: str | os.PathLike[str] | None = None,
    vars: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """``terraform apply -auto-approve``; ``vars`` override ``var_file``. Returns stdout."""
    with _var_files(var_file, vars) as files:
        _, out, _ = _run(
            directory, "apply", env=env, skip_plan=True, var=None, var_file=files, no_color=IsFlagged
        )
    return out


def plan(
    directory: str | os.PathLike[str],
    var_file: str | os.PathLike[str] | None = None,
    vars: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[bool, str]:
    """``terraform plan -detailed-exitcode``: returns ``(has_changes, stdout)``."""
    with _var_files(var_file, vars) as files:
        code, out, _ = _run(
            directory,
            "plan",
            env=env,
            ok_codes=(0, 2),
            detailed_exitcode=IsFlagged,
            var=None,
            var_file=files,
            no_color=IsFlagged,
        )
    return code == 2, out


def destroy(
    directory: str | os.PathLike[str],
    var_file: str | os.PathLike[str] | None = None,
    vars: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """``terraform destroy -auto-approve`` (without the ``-force`` python-terraform adds)."""
    with _var_files(var_file, vars) as files:
        _, out, _ = _run(
            directory,
            "destroy",
            env=env,
            force=IsNotFlagged,
            auto_approve=True,
            var=None,
            var_file=files,
            no_color=IsFlagged,
        )
    return out


def outputs(directory: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """All root outputs as ``{name: value}`` (sensitive values included, unwrapped)."""
    tf, path = _terraform(directory)
    with _environment(env):
        code, out, err = tf.output_cmd(json=IsFlagged, no_color=IsFlagged)
    if code != 0:
        raise TerraformError("output", path, code, out, err)
    raw = json.loads(out or "{}")
    return {name: item["value"] for name, item in raw.items()}


def output(directory: str | os.PathLike[str], name: str, *, env: Mapping[str, str] | None = None) -> Any:
    """One root output's value (``full_value=True``: Terraform 1.x already prints the bare value)."""
    tf, path = _terraform(directory)
    with _environment(env):
        result = tf.output(name, full_value=True, no_color=IsFlagged)
    if result is None:
        raise TerraformError("output", path, 1, "", f"output {name!r} not found (was the config applied?)")
    return result


def validate(*directories: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> None:
    """``init -backend=false`` then ``validate`` in each directory; raises on the first failure."""
    if not directories:
        raise ValueError("validate needs at least one directory")
    for directory in directories:
        init(directory, backend=False, env=env)
        _run(directory, "validate", env=env, no_color=IsFlagged)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "validate":
        print("usage: python -m tools.terraform validate DIR [DIR...]", file=sys.stderr)
        return 2
    try:
        for directory in args[1:]:
            validate(directory)
            print(f"ok: {directory}")
    except (TerraformError, TerraformToolError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
