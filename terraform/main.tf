# Shared lookups, names and the build/ artifacts the module consumes.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  # Resource names: every name starts with var.name.
  pipeline_name            = "${var.name}-retrain"
  model_package_group_name = "${var.name}-models"
  function_name            = "${var.name}-webhook"
  state_table_name         = "${var.name}-state"
  secret_name              = "${var.name}-webhook-token"
  sagemaker_role_name      = "${var.name}-sagemaker"
  lambda_role_name         = "${var.name}-webhook-lambda"

  tags = merge(var.tags, { "lsr:module" = "label-studio-sagemaker-retrain", "lsr:name" = var.name })

  # build/ (python build.py) and the preprocessing scripts. Variable defaults cannot use
  # path.module, hence null defaults resolved here.
  build_dir              = var.build_dir != null ? var.build_dir : "${path.module}/../build"
  scripts_dir            = var.scripts_dir != null ? var.scripts_dir : "${path.module}/../preprocessing"
  lambda_zip_path        = "${local.build_dir}/webhook_lambda.zip"
  definition_path        = "${local.build_dir}/pipeline_definition.json"
  build_info_path        = "${local.build_dir}/build_info.json"
  build_files_exist      = fileexists(local.lambda_zip_path) && fileexists(local.definition_path) && fileexists(local.build_info_path)
  build_missing_message  = "build/ artifacts not found in ${local.build_dir} (need webhook_lambda.zip, pipeline_definition.json, build_info.json): run `python build.py --region ${local.region}` from the repository root, or set var.build_dir."
  build_info             = jsondecode(local.build_files_exist ? file(local.build_info_path) : "{\"region\": \"\", \"placeholders\": {}}")
  build_region           = try(tostring(local.build_info.region), "")
  build_region_message   = "build/ was rendered for region \"${local.build_region}\" but the AWS provider targets \"${local.region}\": run `python build.py --region ${local.region}` and plan again."
  lambda_source_code_sha = local.build_files_exist ? filebase64sha256(local.lambda_zip_path) : null
}
