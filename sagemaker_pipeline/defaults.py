"""Pipeline parameter names, types and rendered defaults (docs/contracts.md, "Pipeline parameters").

Terraform overwrites every ``DefaultValue`` from its variables at apply time, so the values here only matter
for a definition used without the module; they mirror terraform/variables.tf. Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Contract order: (parameter name, pipeline parameter type, PipelineDefaults field).
PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("ProcessingInstanceType", "String", "processing_instance_type"),
    ("ProcessingInstanceCount", "Integer", "processing_instance_count"),
    ("TrainingInstanceType", "String", "training_instance_type"),
    ("TrainingInstanceCount", "Integer", "training_instance_count"),
    ("Epochs", "Integer", "epochs"),
    ("LearningRate", "Float", "learning_rate"),
    ("MiniBatchSize", "Integer", "mini_batch_size"),
    ("ValidationRatio", "Float", "validation_ratio"),
    ("MiouThreshold", "Float", "miou_threshold"),
    ("ModelApprovalStatus", "String", "model_approval_status"),
    ("ImagesS3Uri", "String", "images_s3_uri"),
    ("AnnotationsS3Uri", "String", "annotations_s3_uri"),
    ("Labels", "String", "labels"),
    ("NumClasses", "Integer", "num_classes"),
    ("LabelStudioProjectId", "String", "label_studio_project_id"),
    ("AnnotationCount", "Integer", "annotation_count"),
)
PARAMETER_TYPES: dict[str, str] = {name: kind for name, kind, _ in PARAMETERS}


@dataclass(frozen=True)
class PipelineDefaults:
    """Rendered parameter defaults, one field per contract parameter (same names, snake_case)."""

    processing_instance_type: str = "ml.m5.xlarge"
    processing_instance_count: int = 1
    # The built-in semantic segmentation algorithm trains on GPU instances only, on a single machine
    # (P2/P3/G4dn/G5 families, see README.md); G5 (A10G, 24 GiB) is the current general-purpose one.
    training_instance_type: str = "ml.g5.2xlarge"
    training_instance_count: int = 1
    epochs: int = 10
    learning_rate: float = 0.001
    mini_batch_size: int = 8
    validation_ratio: float = 0.2
    miou_threshold: float = 0.5
    model_approval_status: str = "PendingManualApproval"
    # Terraform sets both to s3://<bucket>/<images_prefix> and s3://<bucket>/<annotations_prefix>.
    images_s3_uri: str = "s3://lsr-placeholder-bucket/images/"
    annotations_s3_uri: str = "s3://lsr-placeholder-bucket/annotations/"
    # Terraform's: join(",", labels) and length(labels) + 1 (background is class 0). build.py knows no labels.
    labels: str = ""
    num_classes: int = 2
    label_studio_project_id: str = "manual"
    annotation_count: int = 0

    def by_parameter_name(self) -> dict[str, str | int | float]:
        """{"ProcessingInstanceType": "ml.m5.xlarge", ...} in contract order."""
        return {name: getattr(self, field) for name, _, field in PARAMETERS}
