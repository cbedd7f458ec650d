"""Find the Terraform binary and an offline provider mirror, and write a repo-local CLI config.

Why: this machine (and CI) cannot reach the Terraform registry, but has the AWS
provider unpacked in a filesystem mirror.  We never touch ``~/.terraformrc``;
instead we write ``.terraform-cli/terraformrc`` inside the repo and point
``TF_CLI_CONFIG_FILE`` at it.  Users with network access set
``TF_PROVIDER_MIRROR=registry`` (or simply run terraform themselves) and init
from the public registry as usual.

Usage: ``python -m tools.tfcli config`` prints the path of the CLI config file.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI_DIR = REPO_ROOT / ".terraform-cli"
PROVIDER_SUBDIR = Path("registry.terraform.io/hashicorp/aws")
SEARCH_ROOTS = ("/opt", "/usr/local/share", "/usr/share", "/root", "/srv", "/")


class TerraformToolError(RuntimeError):
    """A tool or file that Terraform needs is missing; the message says which."""


def terraform_binary() -> str:
    """Return the path of ``terraform`` or raise with a message naming what is missing."""
    found = os.environ.get("TERRAFORM_BIN") or shutil.which("terraform")
    if not found:
        raise TerraformToolError(
            "terraform binary not found on PATH (install Terraform >= 1.5 or set TERRAFORM_BIN)"
        )
    return found


def _is_mirror(path: Path) -> bool:
    return (path / PROVIDER_SUBDIR).is_dir()


def find_provider_mirror() -> Path | None:
    """Locate a folder that holds ``registry.terraform.io/hashicorp/aws/<version>/``.

    ``TF_PROVIDER_MIRROR`` wins when set; otherwise a shallow search (depth 3,
    like ``find / -maxdepth 3 -name registry.terraform.io``) of the usual roots.
    """
    explicit = os.environ.get("TF_PROVIDER_MIRROR")
    if explicit:
        path = Path(explicit)
        if path.name == "registry.terraform.io":
            path = path.parent
        if not _is_mirror(path):
            raise TerraformToolError(
                f"TF_PROVIDER_MIRROR={explicit} does not contain {PROVIDER_SUBDIR}/<version>/"
            )
        return path
    for root in SEARCH_ROOTS:
        base = Path(root)
        if not base.is_dir():
            continue
        # depth 0..2 below root: root/registry.terraform.io, root/x/registry..., root/x/y/registry...
        candidates = [base]
        for _ in range(2):
            nxt = []
            for c in candidates:
                if _is_mirror(c):
                    return c
                try:
                    nxt.extend(
                        p
                        for p in c.iterdir()
                        if p.is_dir()
                        and not p.is_symlink()
                        and p.name not in {"proc", "sys", "dev", "tmp", "work"}
                    )
                except OSError:
                    continue
            candidates = nxt
        for c in candidates:
            if _is_mirror(c):
                return c
    return None


def write_cli_config() -> Path:
    """Write the repo-local CLI config and return its path.

    ``TF_PROVIDER_MIRROR=registry`` writes a config that uses the public
    registry (for machines with network); otherwise a mirror is required.
    """
    CLI_DIR.mkdir(exist_ok=True)
    cache = CLI_DIR / "plugin-cache"
    cache.mkdir(exist_ok=True)
    config = CLI_DIR / "terraformrc"
    if os.environ.get("TF_PROVIDER_MIRROR") == "registry":
        body = f'plugin_cache_dir = "{cache}"\n'
    else:
        mirror = find_provider_mirror()
        if mirror is None:
            raise TerraformToolError(
                "no offline Terraform provider mirror found: expected a folder holding "
                f"{PROVIDER_SUBDIR}/<version>/<os_arch>/ (set TF_PROVIDER_MIRROR=<folder>, "
                "or TF_PROVIDER_MIRROR=registry to use the public registry)"
            )
        body = (
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f'    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n'
            "  }\n"
            "}\n"
        )
    if not config.exists() or config.read_text() != body:
        config.write_text(body)
    return config


def main(argv: list[str]) -> int:
    if argv[1:] != ["config"]:
        print("usage: python -m tools.tfcli config", file=sys.stderr)
        return 2
    try:
        terraform_binary()
        print(write_cli_config())
    except TerraformToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
