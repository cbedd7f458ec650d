"""Stage ``terraform/examples/complete`` in a temp folder wired to a moto server.

Why: the example must apply against the AWS stand-in "as written", with no
``-var`` other than the emulator plumbing.  The plumbing is a provider
override file (Terraform merges ``*_override.tf`` into the root module), so the
example and the module stay exactly what users get.  Used by the integration
test, the end-to-end test and ``make demo``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = Path("terraform/examples/complete")

# Every service the module talks to (provider endpoint keys).
ENDPOINT_SERVICES = (
    "apigateway",
    "apigatewayv2",
    "cloudwatch",
    "dynamodb",
    "ecr",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sagemaker",
    "secretsmanager",
    "sqs",
    "sts",
    "xray",
)


def override_tf(endpoint: str, region: str = "us-east-1") -> str:
    """Provider settings that point the example's ``aws`` provider at moto.

    ``max_retries`` is low because moto answers 500 for what it lacks and the
    provider would otherwise retry for minutes; ``skip_requesting_account_id``
    stays false so ARNs carry moto's account id.
    """
    endpoints = "\n".join(f'    {svc:<14} = "{endpoint}"' for svc in ENDPOINT_SERVICES)
    return f"""# Written by tools/moto_stack.py: the local AWS stand-in, not part of the example.
provider "aws" {{
  region                      = "{region}"
  access_key                  = "testing"
  secret_key                  = "testing"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  max_retries                 = 2

  endpoints {{
{endpoints}
  }}
}}
"""


def stage_example(
    dest: Path, endpoint: str, build_dir: Path | None = None, region: str = "us-east-1"
) -> Path:
    """Copy the module, the example, ``preprocessing/`` and ``build/`` under *dest*.

    Relative paths between them are kept, so the example's ``source = "../.."``
    and the module's default ``build_dir`` resolve as in the repo.  Returns
    the example folder to run Terraform in.
    """
    ignore = shutil.ignore_patterns(
        ".terraform", "*.tfstate*", ".terraform.lock.hcl", "__pycache__", "*_override.tf"
    )
    shutil.copytree(REPO_ROOT / "terraform", dest / "terraform", ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(REPO_ROOT / "preprocessing", dest / "preprocessing", ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(build_dir or REPO_ROOT / "build", dest / "build", dirs_exist_ok=True)
    root = dest / EXAMPLE
    (root / "moto_override.tf").write_text(override_tf(endpoint, region))
    return root
