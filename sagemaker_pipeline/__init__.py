"""The SageMaker retraining pipeline: parameters, steps and its offline, deterministic rendering.

``from sagemaker_pipeline import build_pipeline, render_definition`` imports the SageMaker SDK lazily (only
when called), so ``PLACEHOLDERS``, ``PARAMETER_TYPES`` and ``PipelineDefaults`` stay cheap stdlib imports for
build.py's no-op path.
"""

from __future__ import annotations

from .defaults import PARAMETER_TYPES, PARAMETERS, PipelineDefaults
from .pipeline import build_pipeline, canonical_json, render_definition
from .placeholders import PLACEHOLDER_DEPLOYMENT, PLACEHOLDERS, Deployment

__all__ = [
    "PARAMETERS",
    "PARAMETER_TYPES",
    "PLACEHOLDERS",
    "PLACEHOLDER_DEPLOYMENT",
    "Deployment",
    "PipelineDefaults",
    "build_pipeline",
    "canonical_json",
    "render_definition",
]
