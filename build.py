#!/usr/bin/env python3
"""Write build/: the SageMaker pipeline definition and the webhook Lambda zip Terraform deploys.

    python build.py --region eu-west-1          # render (or confirm) build/ for one region
    python build.py --region eu-west-1 --check  # CI: exit 1 if build/ is stale, write nothing

Terraform hashes these files, so both must be byte-identical run to run and machine to machine (otherwise
every `terraform plan` after a rebuild shows a change): the definition is canonical JSON, the zip has one
entry with a fixed timestamp, permissions and no compression. Files whose bytes did not change are not
rewritten, so their mtimes stay.

A no-op rebuild does not import the SageMaker SDK (~5 s): build_info.json records a hash of everything the
output depends on (build.py, sagemaker_pipeline/*.py, lambda/handler.py, SDK version, region), and when that
matches and the artifacts on disk still match their recorded sha256, there is nothing to render.

Exit codes: 0 ok / up to date, 1 stale (--check), 2 error.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
DEFINITION_FILE = "pipeline_definition.json"
LAMBDA_ZIP_FILE = "webhook_lambda.zip"
BUILD_INFO_FILE = "build_info.json"
LAMBDA_SOURCE = "lambda/handler.py"
LAMBDA_ENTRY = "handler.py"
PIPELINE_PACKAGE = "sagemaker_pipeline"
# The SDK version renders the JSON; 3.x renders integer hyperparameters unquoted. Other 2.x releases may
# render differently, which would make build/ differ between machines: require the pinned release line.
SUPPORTED_SDK_PREFIX = "2.257."
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can store
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
FILE_MODE = 0o644
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class BuildError(Exception):
    """A problem the user must fix (missing region, source, SDK, unwritable output); exit code 2."""


@dataclass(frozen=True)
class Artifact:
    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --------------------------------------------------------------------------------------------------- inputs


def resolve_region(cli_region: str | None) -> str:
    """--region, else AWS_REGION, else AWS_DEFAULT_REGION; the image URIs in the definition are regional."""
    region = cli_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise BuildError(
            "no region: pass --region (e.g. --region eu-west-1) or set AWS_REGION / AWS_DEFAULT_REGION. "
            "The definition embeds regional image URIs, so it must be rendered for the region Terraform "
            "deploys to."
        )
    if not REGION_PATTERN.match(region):
        raise BuildError(f"{region!r} does not look like an AWS region name (e.g. eu-west-1)")
    return region


def sdk_version() -> str:
    """The installed SageMaker SDK version, read from package metadata (no import)."""
    try:
        version = metadata.version("sagemaker")
    except metadata.PackageNotFoundError:
        raise BuildError(
            "the SageMaker Python SDK is not installed: run `make venv` and use .venv/bin/python"
        ) from None
    if not version.startswith(SUPPORTED_SDK_PREFIX):
        raise BuildError(
            f"sagemaker {version} is installed but build.py renders with sagemaker=={SUPPORTED_SDK_PREFIX}* "
            "(pinned in requirements/dev.txt) so that build/ is identical on every machine"
        )
    return version


def read_source(root: Path, relative: str) -> bytes:
    """A source file with line endings normalised, so a CRLF checkout hashes and zips the same."""
    path = root / relative
    try:
        return path.read_bytes().replace(b"\r\n", b"\n")
    except FileNotFoundError:
        raise BuildError(f"{relative} not found under {root}") from None


def source_files(root: Path) -> list[str]:
    """Every file the artifacts depend on, relative to the repository root, sorted."""
    package = sorted(p.relative_to(root).as_posix() for p in (root / PIPELINE_PACKAGE).glob("*.py"))
    return ["build.py", *package, LAMBDA_SOURCE]


def source_hash(root: Path, region: str, sdk: str) -> str:
    """Cache key of build/: sha256 over the sources' names and bytes, the SDK version and the region."""
    digest = hashlib.sha256()
    for field in (f"region={region}", f"sagemaker={sdk}"):
        digest.update(field.encode() + b"\0")
    for relative in source_files(root):
        data = read_source(root, relative)
        digest.update(f"{relative}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


# -------------------------------------------------------------------------------------------------- outputs


def lambda_zip(handler: bytes) -> bytes:
    """handler.py as the only entry: fixed timestamp, mode 0644, Unix, stored.

    Stored, not deflated: deflate output depends on the zlib build (zlib vs zlib-ng differ), which would make
    the zip differ between machines; the handler is a few KiB.
    """
    info = zipfile.ZipInfo(LAMBDA_ENTRY, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, so external_attr carries the mode
    info.external_attr = ZIP_FILE_MODE << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, handler)
    return buffer.getvalue()


def render_definition(root: Path, region: str) -> bytes:
    """Import the pipeline package from ``root`` (and with it the SDK) and render for ``region``."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from sagemaker_pipeline import render_definition as render

    try:
        return render(region).encode()
    except ValueError as err:  # e.g. an image URI the SDK does not know for this region
        raise BuildError(f"cannot render the pipeline for {region}: {err}") from err


def placeholders(root: Path) -> dict[str, str]:
    """The placeholder tokens (stdlib-only module: no SDK import)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from sagemaker_pipeline.placeholders import PLACEHOLDERS

    return dict(PLACEHOLDERS)


def build_info(
    region: str, sdk: str, key: str, tokens: dict[str, str], artifacts: list[Artifact]
) -> Artifact:
    # stdlib-only at import time; placeholders() has put root on sys.path
    from sagemaker_pipeline.pipeline import canonical_json

    info = {
        "region": region,
        "sagemaker_sdk_version": sdk,
        "placeholders": tokens,
        "artifacts": {artifact.name: artifact.sha256 for artifact in artifacts},
        "source_hash": key,
    }
    return Artifact(BUILD_INFO_FILE, canonical_json(info).encode())


def render_all(root: Path, region: str, sdk: str, key: str) -> list[Artifact]:
    """All three artifacts, in memory. The handler is read first so a missing one fails before the slow part."""
    handler = read_source(root, LAMBDA_SOURCE)
    artifacts = [
        Artifact(DEFINITION_FILE, render_definition(root, region)),
        Artifact(LAMBDA_ZIP_FILE, lambda_zip(handler)),
    ]
    return [*artifacts, build_info(region, sdk, key, placeholders(root), artifacts)]


def cached_artifacts(root: Path, out: Path, region: str, sdk: str, key: str) -> list[Artifact] | None:
    """What a build would write, taken from disk, if build_info.json names this cache key and both artifacts
    still match their recorded sha256; None otherwise (then only a render can tell). build_info.json itself
    is regenerated (cheap, stdlib) so a hand-edited one gets rewritten."""
    try:
        info = json.loads((out / BUILD_INFO_FILE).read_bytes())
        if info.get("source_hash") != key:
            return None
        found = [Artifact(name, (out / name).read_bytes()) for name in (DEFINITION_FILE, LAMBDA_ZIP_FILE)]
    except (OSError, ValueError, AttributeError):
        return None
    if info.get("artifacts") != {artifact.name: artifact.sha256 for artifact in found}:
        return None
    return [*found, build_info(region, sdk, key, placeholders(root), found)]


# ------------------------------------------------------------------------------------------------ file I/O


def prepare_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BuildError(f"cannot create output directory {out}: {err.strerror or err}") from None
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise BuildError(f"output directory {out} is not writable")


def write_if_changed(out: Path, artifact: Artifact) -> bool:
    """Atomically replace out/<name> unless it already holds these bytes; True when written."""
    target = out / artifact.name
    try:
        if target.read_bytes() == artifact.data:
            return False
    except OSError:
        pass
    try:
        fd, temporary = tempfile.mkstemp(dir=out, prefix=f".{artifact.name}.")
    except OSError as err:
        raise BuildError(f"cannot write to {out}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(artifact.data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise BuildError(f"cannot write {target}: {err.strerror or err}") from None
    return True


# ---------------------------------------------------------------------------------------------------- CLI


def display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter, no machine-specific prefix)."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except ValueError:
        return str(path)


def summary(out: Path, region: str, sdk: str, artifacts: list[Artifact], written: set[str]) -> str:
    lines = [f"{display(out)}/ for {region} (sagemaker {sdk}):"]
    width = max(len(artifact.name) for artifact in artifacts)
    for artifact in artifacts:
        state = "written" if artifact.name in written else "unchanged"
        lines.append(
            f"  {artifact.name:<{width}}  {len(artifact.data):>9,} B  sha256 {artifact.sha256}  {state}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Render build/ (pipeline definition, Lambda zip, build info) for one AWS region."
    )
    parser.add_argument(
        "--region", help="AWS region to render for (default: $AWS_REGION, $AWS_DEFAULT_REGION)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "build", help="output directory (default: build/ in the repo)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if build/ is stale; write nothing")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, root: Path = REPO_ROOT) -> int:
    region = resolve_region(args.region)
    sdk = sdk_version()
    key = source_hash(root, region, sdk)  # also fails early when lambda/handler.py is missing
    if args.check:
        return check(root, args.out, region, sdk, key, quiet=args.quiet)
    return build(root, args.out, region, sdk, key, quiet=args.quiet)


def check(root: Path, out: Path, region: str, sdk: str, key: str, quiet: bool) -> int:
    """0 when ``out`` holds what a build would write, else 1 with the reason on stderr. No writes, no render.

    The cache key covers every input, so comparing it (and the artifacts' recorded hashes) is exact: a
    different key means build_info.json, at least, would change.
    """
    reason = stale_reason(out, region, sdk, key)
    if reason is None:
        cached = cached_artifacts(root, out, region, sdk, key)
        if cached is None or (out / BUILD_INFO_FILE).read_bytes() != cached[-1].data:
            reason = f"{BUILD_INFO_FILE} is not what build.py writes"
    if reason:
        print(f"{display(out)}/ is stale: {reason}; run `python build.py --region {region}`", file=sys.stderr)
        return 1
    if not quiet:
        print(f"{display(out)}/ is up to date for {region} (sagemaker {sdk})")
    return 0


def stale_reason(out: Path, region: str, sdk: str, key: str) -> str | None:
    """Why ``out`` does not match the sources (None when it does)."""
    try:
        info = json.loads((out / BUILD_INFO_FILE).read_bytes())
        recorded = (info["region"], info["sagemaker_sdk_version"], info["source_hash"], info["artifacts"])
    except FileNotFoundError:
        return f"{BUILD_INFO_FILE} is missing"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{BUILD_INFO_FILE} is unreadable"
    built_region, built_sdk, built_key, hashes = recorded
    if (built_region, built_sdk) != (region, sdk):
        return f"rendered for {built_region} with sagemaker {built_sdk}, not {region} with sagemaker {sdk}"
    if built_key != key:
        return "sources changed since it was rendered (source_hash differs)"
    for name in (DEFINITION_FILE, LAMBDA_ZIP_FILE):
        try:
            if hashlib.sha256((out / name).read_bytes()).hexdigest() != hashes.get(name):
                return f"{name} does not match the sha256 in {BUILD_INFO_FILE}"
        except OSError:
            return f"{name} is missing"
    return None


def build(root: Path, out: Path, region: str, sdk: str, key: str, quiet: bool) -> int:
    """Write the artifacts that changed; render only when the cache key or an artifact does not match."""
    prepare_output(out)
    artifacts = cached_artifacts(root, out, region, sdk, key) or render_all(root, region, sdk, key)
    written = {artifact.name for artifact in artifacts if write_if_changed(out, artifact)}
    if not quiet:
        print(summary(out, region, sdk, artifacts, written))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except BuildError as err:
        print(f"build.py: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
