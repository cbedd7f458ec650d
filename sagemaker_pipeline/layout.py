"""Names and paths the steps share: container paths of the scripts' CLIs and the per-run S3 layout.

Stdlib only. Everything a run writes lives under ``s3://<bucket>/<runs_prefix><execution-id>/`` (scratch,
removed by the cleanup step) or ``s3://<bucket>/<models_prefix><execution-id>/`` (kept).
"""

from __future__ import annotations

# Step names appear in the definition (and in property references such as Steps.Train.FinalMetricDataList).
PREPROCESS_STEP = "Preprocess"
MERGE_STATS_STEP = "MergeStats"
TRAIN_STEP = "Train"
GATE_STEP = "CheckMiou"
REGISTER_STEP = "RegisterModel"  # the SDK renders the ModelStep as "RegisterModel-RegisterModel"
CLEANUP_STEP = "Cleanup"

# Scripts Terraform uploads to s3://<bucket>/<scripts_prefix> (preprocessing/). merge-stats is a mode of
# preprocess.py (`--merge-stats DIR --output DIR`), so no third script.
PREPROCESS_SCRIPT = "preprocess.py"
CLEANUP_SCRIPT = "cleanup.py"

# Processing container paths.
PROCESSING_ROOT = "/opt/ml/processing"
ANNOTATIONS_DIR = f"{PROCESSING_ROOT}/annotations"
OUTPUT_DIR = f"{PROCESSING_ROOT}/output"
SHARD_STATS_DIR = f"{PROCESSING_ROOT}/stats"  # merge step input: every shard's stats-<host>.json
MERGED_STATS_DIR = f"{PROCESSING_ROOT}/merged"  # merge step output: stats.json with the totals

# The built-in algorithm's four channels: (channel / processing output name, subfolder of --output,
# S3 folder under the run prefix, content type). The S3 folders are chosen so that no one is a prefix of
# another: an S3Prefix channel "…/train" would otherwise also pick up "…/train_annotation/*".
CHANNELS: tuple[tuple[str, str, str, str], ...] = (
    ("train", "train", "train-images", "image/jpeg"),
    ("validation", "validation", "validation-images", "image/jpeg"),
    ("train_annotation", "train_annotation", "train-annotations", "image/png"),
    ("validation_annotation", "validation_annotation", "validation-annotations", "image/png"),
)
# Per-shard stats: preprocess.py writes OUTPUT/stats/stats-<host>.json on every instance (one or many), so
# the merge step sees the same layout for any ProcessingInstanceCount. (The manifests are not kept: a single
# instance writes OUTPUT/manifest.jsonl, several write OUTPUT/manifest/…, and training does not read them.)
SHARD_STATS_OUTPUT = "stats"
SHARD_STATS_SUBFOLDER = "stats"
SHARD_STATS_S3_FOLDER = "shard-stats"
MERGED_STATS_OUTPUT = "merged_stats"
MERGED_STATS_S3_FOLDER = "stats"
STATS_FILE = "stats.json"  # written by the merge step; read by the pipeline through a PropertyFile
STATS_PROPERTY_FILE = "PreprocessStats"
NUM_TRAINING_SAMPLES_PATH = "num_training_samples"  # JSON path in stats.json

MIOU_METRIC = "validation:mIOU"  # emitted by the built-in algorithm, lands in FinalMetricDataList
