output "webhook_url" {
  description = "Full URL (including the route path) Label Studio's webhook must POST to."
  value       = "${trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")}${local.webhook_path}"
}

output "webhook_headers" {
  description = "Headers Label Studio must send with the webhook: { <webhook_header_name> = <token> }."
  value       = tomap({ (var.webhook_header_name) = local.webhook_token })
  sensitive   = true
}

output "webhook_header_name" {
  description = "Name of the header that carries the webhook token."
  value       = var.webhook_header_name
}

output "webhook_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the webhook token."
  value       = aws_secretsmanager_secret.webhook.arn
}

output "bucket_name" {
  description = "S3 bucket holding images, annotations, scripts, run scratch data and models."
  value       = local.bucket_id
}

output "bucket_arn" {
  description = "ARN of the S3 bucket."
  value       = local.bucket_arn
}

output "images_prefix" {
  description = "S3 prefix of the source images (Label Studio source storage)."
  value       = var.images_prefix
}

output "annotations_prefix" {
  description = "S3 prefix of the exported annotations (Label Studio target storage)."
  value       = var.annotations_prefix
}

output "scripts_prefix" {
  description = "S3 prefix of the uploaded preprocessing scripts."
  value       = var.scripts_prefix
}

output "runs_prefix" {
  description = "S3 prefix of per-run scratch data."
  value       = var.runs_prefix
}

output "models_prefix" {
  description = "S3 prefix of model artifacts."
  value       = var.models_prefix
}

output "models_s3_uri" {
  description = "s3:// URI under which each run writes its model artifacts (<execution-id>/...)."
  value       = "s3://${local.bucket_id}/${var.models_prefix}"
}

output "script_keys" {
  description = "S3 keys of the uploaded preprocessing scripts."
  value       = sort([for o in aws_s3_object.scripts : o.key])
}

output "labels" {
  description = "Segmentation class names (background = class 0 is implicit)."
  value       = var.labels
}

output "region" {
  description = "AWS region the stack was deployed to (from the provider)."
  value       = local.region
}

output "pipeline_name" {
  description = "Name of the SageMaker pipeline."
  value       = aws_sagemaker_pipeline.this.pipeline_name
}

output "pipeline_arn" {
  description = "ARN of the SageMaker pipeline."
  value       = aws_sagemaker_pipeline.this.arn
}

output "lambda_function_name" {
  description = "Name of the webhook Lambda function."
  value       = aws_lambda_function.webhook.function_name
}

output "lambda_function_arn" {
  description = "ARN of the webhook Lambda function."
  value       = aws_lambda_function.webhook.arn
}

output "lambda_dlq_url" {
  description = "URL of the SQS dead-letter queue of the Lambda's asynchronous (EventBridge) invocations."
  value       = aws_sqs_queue.lambda_dlq.url
}

output "state_table_name" {
  description = "DynamoDB table with the per-project trigger state (partition key pk)."
  value       = aws_dynamodb_table.state.name
}

output "model_package_group_name" {
  description = "SageMaker model package group models are registered in."
  value       = aws_sagemaker_model_package_group.this.model_package_group_name
}

output "sagemaker_role_arn" {
  description = "ARN of the SageMaker execution role used by the pipeline and its jobs."
  value       = aws_iam_role.sagemaker.arn
}

output "lambda_role_arn" {
  description = "ARN of the webhook Lambda's role."
  value       = aws_iam_role.lambda.arn
}

output "annotation_threshold" {
  description = "New annotations per project that start a run."
  value       = var.annotation_threshold
}

output "label_studio_storage_policy_json" {
  description = "Least-privilege IAM policy (JSON) for the principal Label Studio's S3 storages use: list and read images_prefix, read/write/delete annotations_prefix (plus the KMS key when kms_key_arn is set). Attach it to a dedicated IAM user or role and give bootstrap.py/Label Studio those credentials, never the deploy credentials. The module creates no user or access key (the secret would land in the state)."
  value       = local.label_studio_storage_policy_json
}
