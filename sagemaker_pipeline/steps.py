"""The pipeline's parameters and steps, one small function each.

Imports the SageMaker SDK at module level: import this module only inside ``offline.offline_sdk()``
(``pipeline.build_pipeline`` does).
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import Parameter, ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, Step, TrainingStep

from . import layout
from .defaults import PARAMETERS, PipelineDefaults
from .placeholders import Deployment

# scikit-learn processing container: Python 3.9 with numpy, Pillow and boto3, which is all the
# preprocessing scripts need. Resolved for a CPU instance explicitly so the SDK does not have to guess
# from the (runtime) ProcessingInstanceType parameter.
SKLEARN_FRAMEWORK_VERSION = "1.2-1"
SKLEARN_IMAGE_INSTANCE_TYPE = "ml.m5.xlarge"
# Built-in semantic segmentation hyperparameters that are not pipeline parameters.
BACKBONE = "resnet-50"
ALGORITHM = "fcn"
TRAINING_VOLUME_GB = 50  # the File-mode channels are copied to this volume
TRAINING_MAX_RUNTIME_S = 24 * 3600
# Model package: the endpoint takes JPEG and answers a PNG mask or per-class probabilities.
INFERENCE_CONTENT_TYPES = ["image/jpeg"]
INFERENCE_RESPONSE_TYPES = ["image/png", "application/x-recordio-protobuf"]
REALTIME_INSTANCE_TYPES = ["ml.g4dn.xlarge", "ml.g5.xlarge", "ml.c5.2xlarge", "ml.m5.xlarge"]
TRANSFORM_INSTANCE_TYPES = ["ml.g4dn.xlarge", "ml.c5.2xlarge", "ml.m5.xlarge"]

_PARAMETER_CLASSES: dict[str, type[Parameter]] = {
    "String": ParameterString,
    "Integer": ParameterInteger,
    "Float": ParameterFloat,
}


@dataclass(frozen=True)
class Context:
    """What every step builder needs: region, where things live, the session and the parameters."""

    region: str
    deployment: Deployment
    session: PipelineSession
    params: dict[str, Parameter]

    def run_uri(self, folder: str) -> Join:
        """s3://<bucket>/<runs_prefix><execution-id>/<folder>: per-run scratch, removed by Cleanup."""
        return Join(
            on="",
            values=[
                self.deployment.s3_uri(self.deployment.runs_prefix),
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                f"/{folder}",
            ],
        )

    def script_uri(self, script: str) -> str:
        return self.deployment.s3_uri(f"{self.deployment.scripts_prefix}{script}")

    def processor(self, instance_count: Parameter | int, job_prefix: str) -> ScriptProcessor:
        """A scikit-learn container processor running ``python3 <script>``."""
        return ScriptProcessor(
            image_uri=image_uris.retrieve(
                "sklearn",
                self.region,
                version=SKLEARN_FRAMEWORK_VERSION,
                instance_type=SKLEARN_IMAGE_INSTANCE_TYPE,
            ),
            command=["python3"],
            role=self.deployment.role_arn,
            instance_type=self.params["ProcessingInstanceType"],
            instance_count=instance_count,
            base_job_name=job_prefix,
            sagemaker_session=self.session,
        )


def make_parameters(defaults: PipelineDefaults) -> dict[str, Parameter]:
    """The contract's parameters, in contract order, with ``defaults`` rendered as DefaultValue."""
    values = defaults.by_parameter_name()
    return {
        name: _PARAMETER_CLASSES[kind](name=name, default_value=values[name]) for name, kind, _ in PARAMETERS
    }


def preprocess_step(ctx: Context) -> ProcessingStep:
    """Label Studio annotations -> the four channels, plus per-shard stats and manifests.

    Sharding is by task, not by S3 key: Label Studio stores one object per *annotation*, so ShardedByS3Key
    could hand two annotations of one task to two instances, which would both render the task (double count,
    possibly the wrong annotation winning). So every instance reads all annotation JSON (FullyReplicated,
    small) and ``--shard-by task`` renders only the tasks hashed to it (README.md, "Preprocessing"). Every
    instance writes its own ``stats/stats-<host>.json`` (a single one too), so shard outputs never collide in
    S3 and the next step sums them.

    Images are not a processing input (that would copy every image to every instance): preprocess.py
    downloads each rendered task's image itself, with bounded parallelism, so an instance fetches only its own
    shard's images. ``--images-s3-uri`` (ImagesS3Uri) confines those downloads: a task whose image lies
    outside it is skipped and reported, so annotations cannot point the job at other objects the role can read.
    """
    p = ctx.params
    channel_outputs = [
        ProcessingOutput(
            output_name=name,
            source=f"{layout.OUTPUT_DIR}/{subfolder}",
            destination=ctx.run_uri(s3_folder),
        )
        for name, subfolder, s3_folder, _ in layout.CHANNELS
    ]
    stats_output = ProcessingOutput(
        output_name=layout.SHARD_STATS_OUTPUT,
        source=f"{layout.OUTPUT_DIR}/{layout.SHARD_STATS_SUBFOLDER}",
        destination=ctx.run_uri(layout.SHARD_STATS_S3_FOLDER),
    )
    step_args = ctx.processor(p["ProcessingInstanceCount"], "lsr-preprocess").run(
        code=ctx.script_uri(layout.PREPROCESS_SCRIPT),
        inputs=[
            ProcessingInput(
                input_name="annotations",
                source=p["AnnotationsS3Uri"],
                destination=layout.ANNOTATIONS_DIR,
            ),
        ],
        outputs=[*channel_outputs, stats_output],
        arguments=[
            "--annotations",
            layout.ANNOTATIONS_DIR,
            "--images-s3-uri",
            p["ImagesS3Uri"],
            "--output",
            layout.OUTPUT_DIR,
            "--labels",
            p["Labels"],
            "--validation-ratio",
            p["ValidationRatio"].to_string(),
            "--shard-by",
            "task",
        ],
    )
    return ProcessingStep(name=layout.PREPROCESS_STEP, step_args=step_args)


def merge_stats_step(ctx: Context, preprocess: ProcessingStep) -> tuple[ProcessingStep, PropertyFile]:
    """Sum the shards' stats into one stats.json the pipeline can read (PropertyFile).

    A separate step because a PropertyFile reads one file of one step's output, while the training sample
    count must be the total over all preprocessing instances.
    """
    stats = PropertyFile(
        name=layout.STATS_PROPERTY_FILE,
        output_name=layout.MERGED_STATS_OUTPUT,
        path=layout.STATS_FILE,
    )
    step_args = ctx.processor(1, "lsr-merge-stats").run(
        code=ctx.script_uri(layout.PREPROCESS_SCRIPT),
        inputs=[
            ProcessingInput(
                input_name="stats",
                source=preprocess.properties.ProcessingOutputConfig.Outputs[
                    layout.SHARD_STATS_OUTPUT
                ].S3Output.S3Uri,
                destination=layout.SHARD_STATS_DIR,
            )
        ],
        outputs=[
            ProcessingOutput(
                output_name=layout.MERGED_STATS_OUTPUT,
                source=layout.MERGED_STATS_DIR,
                destination=ctx.run_uri(layout.MERGED_STATS_S3_FOLDER),
            )
        ],
        arguments=["--merge-stats", layout.SHARD_STATS_DIR, "--output", layout.MERGED_STATS_DIR],
    )
    step = ProcessingStep(name=layout.MERGE_STATS_STEP, step_args=step_args, property_files=[stats])
    return step, stats


def training_step(
    ctx: Context, preprocess: ProcessingStep, merge: ProcessingStep, stats: PropertyFile, image_uri: str
) -> TrainingStep:
    """Built-in semantic segmentation (FCN, ResNet-50) on the four channels, File mode.

    Model artifacts land in s3://<bucket>/<models_prefix><execution-id>/<training-job-name>/output/.
    """
    p = ctx.params
    estimator = Estimator(
        image_uri=image_uri,
        role=ctx.deployment.role_arn,
        instance_count=p["TrainingInstanceCount"],
        instance_type=p["TrainingInstanceType"],
        volume_size=TRAINING_VOLUME_GB,
        max_run=TRAINING_MAX_RUNTIME_S,
        input_mode="File",
        output_path=Join(
            on="",
            values=[
                ctx.deployment.s3_uri(ctx.deployment.models_prefix),
                ExecutionVariables.PIPELINE_EXECUTION_ID,
            ],
        ),
        base_job_name="lsr-train",
        sagemaker_session=ctx.session,
        disable_profiler=True,  # not supported by built-in algorithms; keeps the request minimal
        debugger_hook_config=False,
        # The SDK renders every value as a string (pipeline variables via Std:Join), as the API requires.
        hyperparameters={
            "backbone": BACKBONE,
            "algorithm": ALGORITHM,
            "use_pretrained_model": "True",
            "num_classes": p["NumClasses"],
            "num_training_samples": JsonGet(
                step_name=merge.name, property_file=stats, json_path=layout.NUM_TRAINING_SAMPLES_PATH
            ),
            "epochs": p["Epochs"],
            "learning_rate": p["LearningRate"],
            "mini_batch_size": p["MiniBatchSize"],
        },
    )
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    channels = {
        name: TrainingInput(
            s3_data=outputs[name].S3Output.S3Uri,
            content_type=content_type,
            s3_data_type="S3Prefix",
            input_mode="File",
        )
        for name, _, _, content_type in layout.CHANNELS
    }
    return TrainingStep(name=layout.TRAIN_STEP, step_args=estimator.fit(inputs=channels))


def register_step(ctx: Context, train: TrainingStep, image_uri: str) -> ModelStep:
    """Register the trained model in the model package group, approval status from the parameter."""
    p = ctx.params
    model = Model(
        image_uri=image_uri,
        model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
        role=ctx.deployment.role_arn,
        sagemaker_session=ctx.session,
    )
    step_args = model.register(
        content_types=INFERENCE_CONTENT_TYPES,
        response_types=INFERENCE_RESPONSE_TYPES,
        inference_instances=REALTIME_INSTANCE_TYPES,
        transform_instances=TRANSFORM_INSTANCE_TYPES,
        model_package_group_name=ctx.deployment.model_package_group,
        approval_status=p["ModelApprovalStatus"],
        description="Label Studio annotations -> built-in semantic segmentation (FCN, ResNet-50)",
        # Trace which annotations produced the model. Not the labels: metadata values are capped at 256
        # characters and 253 labels would not fit.
        customer_metadata_properties={
            "NumClasses": p["NumClasses"].to_string(),
            "LabelStudioProjectId": p["LabelStudioProjectId"],
            "AnnotationCount": p["AnnotationCount"].to_string(),
        },
    )
    return ModelStep(name=layout.REGISTER_STEP, step_args=step_args)


def gate_step(ctx: Context, train: TrainingStep, register: ModelStep) -> ConditionStep:
    """Register only when validation:mIOU >= MiouThreshold; otherwise do nothing (the run still succeeds)."""
    miou = train.properties.FinalMetricDataList[layout.MIOU_METRIC].Value
    return ConditionStep(
        name=layout.GATE_STEP,
        conditions=[ConditionGreaterThanOrEqualTo(left=miou, right=ctx.params["MiouThreshold"])],
        if_steps=[register],
        else_steps=[],
    )


def cleanup_step(ctx: Context, after: list[Step]) -> ProcessingStep:
    """Delete s3://<bucket>/<runs_prefix><execution-id>/ once the gate has been evaluated.

    Depending on the ConditionStep (not on a branch) makes it run whether the gate passed or not; it does not
    touch the model artifacts the register step references. If an earlier step fails the pipeline stops
    before this step and the bucket's lifecycle expiry on runs_prefix removes the scratch data.
    """
    step_args = ctx.processor(1, "lsr-cleanup").run(
        code=ctx.script_uri(layout.CLEANUP_SCRIPT),
        arguments=[
            "--bucket",
            ctx.deployment.bucket,
            "--scratch-root",
            ctx.deployment.runs_prefix,
            "--execution-id",
            ExecutionVariables.PIPELINE_EXECUTION_ID,
        ],
    )
    return ProcessingStep(name=layout.CLEANUP_STEP, step_args=step_args, depends_on=after)
