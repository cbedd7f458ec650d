# The SageMaker pipeline (definition rendered by build.py) and its model package group.

locals {
  placeholders          = try(local.build_info.placeholders, {})
  placeholder_keys      = ["bucket", "role_arn", "account_id", "scripts_prefix", "runs_prefix", "models_prefix", "model_package_group"]
  placeholders_complete = alltrue([for k in local.placeholder_keys : can(tostring(local.placeholders[k]))])

  definition_raw = local.build_files_exist ? file(local.definition_path) : "{}"

  # Order matters: the role ARN token contains the account id token.
  definition_substituted = !local.placeholders_complete ? local.definition_raw : replace(replace(replace(replace(replace(replace(replace(
    local.definition_raw,
    local.placeholders["bucket"], local.bucket_name),
    local.placeholders["role_arn"], aws_iam_role.sagemaker.arn),
    local.placeholders["account_id"], local.account_id),
    local.placeholders["scripts_prefix"], var.scripts_prefix),
    local.placeholders["runs_prefix"], var.runs_prefix),
    local.placeholders["models_prefix"], var.models_prefix),
  local.placeholders["model_package_group"], local.model_package_group_name)

  # Pipeline parameter defaults (names: docs/contracts.md). Each value is wrapped in an
  # object so numbers stay numbers and strings stay strings after jsonencode.
  parameter_defaults = {
    ProcessingInstanceType  = { DefaultValue = var.processing_instance_type }
    ProcessingInstanceCount = { DefaultValue = var.processing_instance_count }
    TrainingInstanceType    = { DefaultValue = var.training_instance_type }
    TrainingInstanceCount   = { DefaultValue = var.training_instance_count }
    Epochs                  = { DefaultValue = var.epochs }
    LearningRate            = { DefaultValue = var.learning_rate }
    MiniBatchSize           = { DefaultValue = var.mini_batch_size }
    ValidationRatio         = { DefaultValue = var.validation_ratio }
    MiouThreshold           = { DefaultValue = var.miou_threshold }
    ModelApprovalStatus     = { DefaultValue = var.model_approval_status }
    ImagesS3Uri             = { DefaultValue = "s3://${local.bucket_name}/${var.images_prefix}" }
    AnnotationsS3Uri        = { DefaultValue = "s3://${local.bucket_name}/${var.annotations_prefix}" }
    Labels                  = { DefaultValue = join(",", var.labels) }
    NumClasses              = { DefaultValue = length(var.labels) + 1 }
    LabelStudioProjectId    = { DefaultValue = "manual" }
    AnnotationCount         = { DefaultValue = 0 }
  }

  definition_decoded = jsondecode(local.definition_substituted)
  parameter_names    = [for p in try(local.definition_decoded.Parameters, []) : p.Name]
  missing_parameters = setsubtract(keys(local.parameter_defaults), local.parameter_names)

  pipeline_definition = jsonencode(merge(local.definition_decoded, {
    Parameters = [
      for p in try(local.definition_decoded.Parameters, []) :
      merge(p, lookup(local.parameter_defaults, p.Name, {}))
    ]
  }))

  # Any token left over means build/ and this module disagree on the placeholders.
  leftover_tokens = [for k, token in local.placeholders : k if strcontains(local.pipeline_definition, token)]
}

resource "aws_sagemaker_model_package_group" "this" {
  model_package_group_name        = local.model_package_group_name
  model_package_group_description = "Segmentation models registered by ${local.pipeline_name} when validation mIOU >= the gate."
  tags                            = local.tags
}

resource "aws_sagemaker_pipeline" "this" {
  pipeline_name         = local.pipeline_name
  pipeline_display_name = local.pipeline_name
  pipeline_description  = "Label Studio annotations -> preprocess -> train semantic segmentation -> register if mIOU gate -> cleanup."
  role_arn              = aws_iam_role.sagemaker.arn
  pipeline_definition   = local.pipeline_definition
  tags                  = local.tags

  lifecycle {
    precondition {
      condition     = local.build_files_exist
      error_message = local.build_missing_message
    }
    precondition {
      condition     = !local.build_files_exist || local.build_region == local.region
      error_message = local.build_region_message
    }
    precondition {
      condition     = !local.build_files_exist || local.placeholders_complete
      error_message = "build/build_info.json lacks placeholders (need ${join(", ", local.placeholder_keys)}): re-run `python build.py --region ${local.region}`."
    }
    precondition {
      condition     = !local.build_files_exist || length(local.missing_parameters) == 0
      error_message = "build/pipeline_definition.json lacks the pipeline parameters ${join(", ", sort(local.missing_parameters))} (docs/contracts.md): re-run `python build.py --region ${local.region}`."
    }
    precondition {
      condition     = length(local.leftover_tokens) == 0
      error_message = "Placeholder tokens ${join(", ", local.leftover_tokens)} remain in the pipeline definition after substitution."
    }
  }

  depends_on = [
    aws_iam_role_policy.sagemaker,
    aws_sagemaker_model_package_group.this,
    aws_s3_object.scripts,
  ]
}
