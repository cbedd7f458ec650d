"""Placeholder tokens Terraform substitutes in the rendered definition (docs/contracts.md).

build.py renders once per region, long before Terraform knows the bucket, role or account, so every
deployment-specific string is a recognisable token. Terraform runs ``replace()`` over the JSON text in the
order of :data:`PLACEHOLDERS` (``role_arn`` before ``account_id``: the account token is part of the role
token). Stdlib only: build.py reads these without importing the SageMaker SDK.
"""

from __future__ import annotations

from dataclasses import dataclass

# Insertion order is the substitution order; build_info.json carries this mapping for Terraform.
PLACEHOLDERS: dict[str, str] = {
    "bucket": "lsr-placeholder-bucket",
    "role_arn": "arn:aws:iam::000000000000:role/lsr-placeholder-sagemaker-role",
    "account_id": "000000000000",
    "scripts_prefix": "lsr-placeholder-scripts/",
    "runs_prefix": "lsr-placeholder-runs/",
    "models_prefix": "lsr-placeholder-models/",
    "model_package_group": "lsr-placeholder-model-group",
}


@dataclass(frozen=True)
class Deployment:
    """Where a pipeline runs: bucket, role, S3 prefixes (each ending with "/") and model package group.

    The defaults are the placeholder tokens; tests or a hand-run can pass real values instead.
    """

    bucket: str = PLACEHOLDERS["bucket"]
    role_arn: str = PLACEHOLDERS["role_arn"]
    scripts_prefix: str = PLACEHOLDERS["scripts_prefix"]
    runs_prefix: str = PLACEHOLDERS["runs_prefix"]
    models_prefix: str = PLACEHOLDERS["models_prefix"]
    model_package_group: str = PLACEHOLDERS["model_package_group"]

    def __post_init__(self) -> None:
        for name in ("scripts_prefix", "runs_prefix", "models_prefix"):
            value = getattr(self, name)
            if not value.endswith("/") or value.startswith("/"):
                raise ValueError(f"{name} must be relative and end with '/': {value!r}")

    def s3_uri(self, key: str) -> str:
        """s3://<bucket>/<key>."""
        return f"s3://{self.bucket}/{key}"


PLACEHOLDER_DEPLOYMENT = Deployment()
