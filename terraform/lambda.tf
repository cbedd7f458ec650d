# The webhook / pipeline-status Lambda, packaged by build.py (build/webhook_lambda.zip).

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:Encrypted with the CloudWatch Logs service key by default; set var.kms_key_arn for a customer managed key.
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_sqs_queue" "lambda_dlq" {
  name                              = "${local.function_name}-dlq"
  message_retention_seconds         = 1209600
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 300
  tags                              = local.tags
}

resource "aws_lambda_function" "webhook" {
  #checkov:skip=CKV_AWS_117:The function calls only public AWS APIs and receives traffic from API Gateway; a VPC would add NAT/endpoints without reducing exposure.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the zip is built reproducibly by build.py and its hash pinned via source_code_hash.
  #checkov:skip=CKV_AWS_173:Environment holds only names and ARNs (no secrets); encrypted with the Lambda service key by default, var.kms_key_arn for a customer managed key.
  function_name = local.function_name
  description   = "Label Studio webhook -> ${local.pipeline_name} (and its status events)."
  role          = aws_iam_role.lambda.arn
  runtime       = "python3.12"
  handler       = "handler.lambda_handler"
  filename      = local.lambda_zip_path
  # null when build/ is missing: the precondition below reports it instead of a file error.
  source_code_hash               = local.lambda_source_code_sha
  timeout                        = var.lambda_timeout
  memory_size                    = var.lambda_memory_size
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = var.kms_key_arn
  tags                           = local.tags

  environment {
    # The token itself stays in Secrets Manager: only its ARN is passed.
    variables = {
      PIPELINE_NAME        = aws_sagemaker_pipeline.this.pipeline_name
      STATE_TABLE          = aws_dynamodb_table.state.name
      ANNOTATION_THRESHOLD = tostring(var.annotation_threshold)
      WEBHOOK_SECRET_ARN   = aws_secretsmanager_secret.webhook.arn
      WEBHOOK_HEADER_NAME  = var.webhook_header_name
      ALLOWED_PROJECT_IDS  = join(",", [for id in var.label_studio_project_ids : tostring(id)])
    }
  }

  tracing_config {
    mode = var.lambda_tracing_mode
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_dlq.arn
  }

  lifecycle {
    precondition {
      condition     = local.build_files_exist
      error_message = local.build_missing_message
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
  ]
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowWebhookApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.webhook.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.webhook.execution_arn}/*/${local.webhook_method}${local.webhook_path}"
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowPipelineStatusEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.webhook.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.pipeline_status.arn
}
