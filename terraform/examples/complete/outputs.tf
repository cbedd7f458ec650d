output "webhook_url" {
  description = "Full URL Label Studio's webhook must POST to."
  value       = module.retrain.webhook_url
}

output "webhook_headers" {
  description = "Headers Label Studio must send with the webhook (sensitive)."
  value       = module.retrain.webhook_headers
  sensitive   = true
}

output "webhook_header_name" {
  description = "Name of the header that carries the webhook token."
  value       = module.retrain.webhook_header_name
}

output "webhook_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the webhook token."
  value       = module.retrain.webhook_secret_arn
}

output "bucket_name" {
  description = "S3 bucket of the stack."
  value       = module.retrain.bucket_name
}

output "bucket_arn" {
  description = "ARN of the S3 bucket."
  value       = module.retrain.bucket_arn
}

output "images_prefix" {
  description = "S3 prefix of the source images."
  value       = module.retrain.images_prefix
}

output "annotations_prefix" {
  description = "S3 prefix of the exported annotations."
  value       = module.retrain.annotations_prefix
}

output "scripts_prefix" {
  description = "S3 prefix of the preprocessing scripts."
  value       = module.retrain.scripts_prefix
}

output "runs_prefix" {
  description = "S3 prefix of per-run scratch data."
  value       = module.retrain.runs_prefix
}

output "models_prefix" {
  description = "S3 prefix of model artifacts."
  value       = module.retrain.models_prefix
}

output "models_s3_uri" {
  description = "s3:// URI of the model artifacts."
  value       = module.retrain.models_s3_uri
}

output "script_keys" {
  description = "S3 keys of the uploaded preprocessing scripts."
  value       = module.retrain.script_keys
}

output "labels" {
  description = "Segmentation class names."
  value       = module.retrain.labels
}

output "region" {
  description = "AWS region of the stack."
  value       = module.retrain.region
}

output "pipeline_name" {
  description = "Name of the SageMaker pipeline."
  value       = module.retrain.pipeline_name
}

output "pipeline_arn" {
  description = "ARN of the SageMaker pipeline."
  value       = module.retrain.pipeline_arn
}

output "lambda_function_name" {
  description = "Name of the webhook Lambda."
  value       = module.retrain.lambda_function_name
}

output "lambda_function_arn" {
  description = "ARN of the webhook Lambda."
  value       = module.retrain.lambda_function_arn
}

output "lambda_dlq_url" {
  description = "URL of the Lambda's dead-letter queue."
  value       = module.retrain.lambda_dlq_url
}

output "state_table_name" {
  description = "DynamoDB state table."
  value       = module.retrain.state_table_name
}

output "model_package_group_name" {
  description = "SageMaker model package group."
  value       = module.retrain.model_package_group_name
}

output "sagemaker_role_arn" {
  description = "SageMaker execution role ARN."
  value       = module.retrain.sagemaker_role_arn
}

output "lambda_role_arn" {
  description = "Webhook Lambda role ARN."
  value       = module.retrain.lambda_role_arn
}

output "annotation_threshold" {
  description = "New annotations per project that start a run."
  value       = module.retrain.annotation_threshold
}

output "label_studio_storage_policy_json" {
  description = "Least-privilege IAM policy (JSON) for the principal Label Studio's S3 storages use; attach it to a dedicated user/role, never use the deploy credentials."
  value       = module.retrain.label_studio_storage_policy_json
}
