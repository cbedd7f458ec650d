"""build_pipeline(region, ...) -> Pipeline, and its canonical JSON rendering.

Step graph (Cleanup depends on the gate itself, so it runs whichever branch was taken)::

    Preprocess -> MergeStats -> Train -> CheckMiou -(mIOU >= MiouThreshold)-> RegisterModel
                                                  `-> Cleanup
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .defaults import PipelineDefaults
from .offline import offline_sdk, offline_session
from .placeholders import PLACEHOLDER_DEPLOYMENT, Deployment

if TYPE_CHECKING:
    from sagemaker.workflow.pipeline import Pipeline

PIPELINE_NAME = "lsr-retrain"  # not part of the definition; Terraform names the real pipeline
DEFAULT_DEFAULTS = PipelineDefaults()


def build_pipeline(
    region: str,
    deployment: Deployment = PLACEHOLDER_DEPLOYMENT,
    defaults: PipelineDefaults = DEFAULT_DEFAULTS,
) -> Pipeline:
    """The retraining pipeline for ``region`` (image URIs are regional), built without any AWS call.

    ``deployment`` defaults to the placeholder tokens Terraform substitutes; ``defaults`` are the rendered
    parameter defaults Terraform overwrites. Render with :func:`render_definition` (or call
    ``.definition()`` inside ``offline.offline_sdk()``).
    """
    if not region:
        raise ValueError("region is required: image URIs are regional")
    with offline_sdk():
        from sagemaker import image_uris
        from sagemaker.workflow.pipeline import Pipeline

        from . import steps

        ctx = steps.Context(
            region=region,
            deployment=deployment,
            session=offline_session(region, deployment.bucket),
            params=steps.make_parameters(defaults),
        )
        algorithm_image = image_uris.retrieve("semantic-segmentation", region)
        preprocess = steps.preprocess_step(ctx)
        merge, stats = steps.merge_stats_step(ctx, preprocess)
        train = steps.training_step(ctx, preprocess, merge, stats, algorithm_image)
        register = steps.register_step(ctx, train, algorithm_image)
        gate = steps.gate_step(ctx, train, register)
        cleanup = steps.cleanup_step(ctx, after=[gate])
        return Pipeline(
            name=PIPELINE_NAME,
            parameters=list(ctx.params.values()),
            steps=[preprocess, merge, train, gate, cleanup],
            sagemaker_session=ctx.session,
            # No SageMaker Experiments entities: the role is not allowed to create them, and a trial per
            # run would outlive `terraform destroy`.
            pipeline_experiment_config=None,
        )


def canonical_json(value: object) -> str:
    """The byte-stable text form build/ uses (definition and build_info): sorted keys, 2-space indent, newline."""
    return json.dumps(value, sort_keys=True, indent=2) + "\n"


def render_definition(
    region: str,
    deployment: Deployment = PLACEHOLDER_DEPLOYMENT,
    defaults: PipelineDefaults = DEFAULT_DEFAULTS,
) -> str:
    """The pipeline definition for ``region`` as canonical JSON text (what build/ stores)."""
    pipeline = build_pipeline(region, deployment, defaults)
    with offline_sdk():
        return canonical_json(json.loads(pipeline.definition()))
