# Plan/apply against a mock AWS provider: wiring of outputs, pipeline parameter defaults,
# Lambda environment. Needs the real build/ (`python build.py`, region us-east-1).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "defaults" {
  command = apply

  assert {
    condition     = output.webhook_url == "https://abc123.execute-api.us-east-1.amazonaws.com/webhook"
    error_message = "webhook_url must be the stage URL plus the route path."
  }
  assert {
    condition     = keys(output.webhook_headers) == tolist(["X-Webhook-Token"])
    error_message = "webhook_headers must be keyed by the default header name."
  }
  assert {
    condition     = length(values(output.webhook_headers)[0]) > 0
    error_message = "webhook_headers must carry the generated token."
  }
  assert {
    condition     = length(aws_secretsmanager_secret_version.generated) == 1 && length(aws_secretsmanager_secret_version.given) == 0
    error_message = "Without webhook_secret the token must be generated."
  }
  assert {
    condition     = aws_s3_bucket.this[0].bucket == "ls-retrain-123456789012-us-east-1"
    error_message = "Default bucket name must be <name>-<account>-<region>."
  }
  assert {
    condition     = output.labels == tolist(["Beak", "Head", "Wing", "Body"]) && output.region == "us-east-1"
    error_message = "labels/region outputs are wrong."
  }
  assert {
    condition     = output.pipeline_name == "ls-retrain-retrain" && output.state_table_name == "ls-retrain-state" && output.model_package_group_name == "ls-retrain-models"
    error_message = "Resource names must start with var.name."
  }
  assert {
    condition     = contains(output.script_keys, "scripts/preprocess.py") && contains(output.script_keys, "scripts/cleanup.py")
    error_message = "preprocess.py and cleanup.py must be uploaded to scripts_prefix."
  }

  # Pipeline parameter defaults, with their JSON types (numbers stay numbers).
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":\"Beak,Head,Wing,Body\",\"Name\":\"Labels\",\"Type\":\"String\"}")
    error_message = "Labels default must be the joined labels."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":5,\"Name\":\"NumClasses\",\"Type\":\"Integer\"}")
    error_message = "NumClasses default must be the number length(labels) + 1."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":0.001,\"Name\":\"LearningRate\",\"Type\":\"Float\"}")
    error_message = "LearningRate default must be a number."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":\"s3://ls-retrain-123456789012-us-east-1/images/\",\"Name\":\"ImagesS3Uri\",\"Type\":\"String\"}")
    error_message = "ImagesS3Uri default must point at the images prefix."
  }
  assert {
    condition     = !strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "lsr-placeholder") && !strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "000000000000")
    error_message = "No placeholder token may remain in the definition."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "arn:aws:iam::123456789012:role/mocked")
    error_message = "The role ARN placeholder must be replaced with the SageMaker role."
  }

  # Lambda environment per docs/contracts.md, without the token.
  assert {
    condition = aws_lambda_function.webhook.environment[0].variables == tomap({
      PIPELINE_NAME        = "ls-retrain-retrain"
      STATE_TABLE          = "ls-retrain-state"
      ANNOTATION_THRESHOLD = "16"
      WEBHOOK_SECRET_ARN   = aws_secretsmanager_secret.webhook.arn
      WEBHOOK_HEADER_NAME  = "X-Webhook-Token"
      ALLOWED_PROJECT_IDS  = ""
    })
    error_message = "Lambda environment must match docs/contracts.md."
  }
  assert {
    condition     = aws_lambda_function.webhook.runtime == "python3.12" && aws_lambda_function.webhook.handler == "handler.lambda_handler"
    error_message = "Lambda runtime/handler must follow the contract."
  }
  assert {
    condition     = aws_dynamodb_table.state.hash_key == "pk" && aws_dynamodb_table.state.billing_mode == "PAY_PER_REQUEST"
    error_message = "State table must have partition key pk, on demand."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.pipeline_status.event_pattern).detail.pipelineArn == ["arn:aws:sagemaker:us-east-1:123456789012:pipeline/mocked"]
    error_message = "EventBridge rule must match this pipeline's ARN."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.pipeline_status.event_pattern).detail.currentPipelineExecutionStatus == ["Succeeded", "Failed", "Stopped"]
    error_message = "EventBridge rule must match only the terminal statuses the Lambda acts on."
  }
  assert {
    condition     = aws_dynamodb_table.state.ttl[0].attribute_name == "expires_at" && aws_dynamodb_table.state.ttl[0].enabled
    error_message = "The state table must expire items by their expires_at attribute (written by the Lambda)."
  }

  # Versioned bucket: scratch data under runs/ must really go (noncurrent copies and delete markers).
  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : [r.expiration[0].days, r.noncurrent_version_expiration[0].noncurrent_days]
      if r.id == "expire-run-scratch" && r.filter[0].prefix == "runs/"
    ] == [[7, 1]]
    error_message = "runs/: current objects expire after scratch_expiration_days, noncurrent copies after 1 day."
  }
  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : [r.filter[0].prefix, r.expiration[0].expired_object_delete_marker]
      if r.id == "remove-run-scratch-delete-markers"
    ] == [["runs/", true]]
    error_message = "runs/: a separate rule must remove expired object delete markers (not allowed together with days)."
  }
  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : r.noncurrent_version_expiration[0].noncurrent_days
      if r.id == "expire-noncurrent-versions" && r.filter[0].prefix == ""
    ] == [30]
    error_message = "The whole-bucket noncurrent version rule must stay (noncurrent_version_expiration_days)."
  }
  assert {
    condition     = aws_apigatewayv2_route.webhook.route_key == "POST /webhook" && aws_apigatewayv2_integration.lambda.payload_format_version == "2.0"
    error_message = "One POST /webhook route with payload format 2.0."
  }
  assert {
    condition     = aws_apigatewayv2_stage.default.default_route_settings[0].throttling_burst_limit == 20 && aws_apigatewayv2_stage.default.default_route_settings[0].throttling_rate_limit == 10
    error_message = "Stage throttling must come from the variables."
  }
}

run "custom_values" {
  command = apply

  variables {
    name                     = "birds"
    labels                   = ["Cat", "Dog"]
    epochs                   = 3
    learning_rate            = 0.05
    model_approval_status    = "Approved"
    webhook_header_name      = "X-LS-Token"
    webhook_secret           = "a-given-token-0123456789"
    label_studio_project_ids = [3, 14]
    annotation_threshold     = 4
    images_prefix            = "data/img/"
  }

  assert {
    condition     = output.webhook_headers == tomap({ "X-LS-Token" = "a-given-token-0123456789" })
    error_message = "webhook_headers must map the custom header to the given token."
  }
  assert {
    condition     = length(aws_secretsmanager_secret_version.given) == 1 && length(aws_secretsmanager_secret_version.generated) == 0
    error_message = "A given webhook_secret must be stored as is (no generated version)."
  }
  assert {
    condition     = !strcontains(jsonencode(aws_lambda_function.webhook.environment[0].variables), "a-given-token-0123456789")
    error_message = "The token must never be in the Lambda environment."
  }
  assert {
    condition     = aws_lambda_function.webhook.environment[0].variables.ALLOWED_PROJECT_IDS == "3,14" && aws_lambda_function.webhook.environment[0].variables.ANNOTATION_THRESHOLD == "4" && aws_lambda_function.webhook.environment[0].variables.WEBHOOK_HEADER_NAME == "X-LS-Token"
    error_message = "Lambda environment must follow the variables."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":\"Cat,Dog\",\"Name\":\"Labels\",\"Type\":\"String\"}") && strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":3,\"Name\":\"NumClasses\",\"Type\":\"Integer\"}")
    error_message = "Labels/NumClasses defaults must follow var.labels."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":3,\"Name\":\"Epochs\",\"Type\":\"Integer\"}") && strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":0.05,\"Name\":\"LearningRate\",\"Type\":\"Float\"}")
    error_message = "Hyperparameter defaults must follow the variables."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":\"Approved\",\"Name\":\"ModelApprovalStatus\",\"Type\":\"String\"}")
    error_message = "ModelApprovalStatus default must follow the variable."
  }
  assert {
    condition     = strcontains(aws_sagemaker_pipeline.this.pipeline_definition, "{\"DefaultValue\":\"s3://birds-123456789012-us-east-1/data/img/\",\"Name\":\"ImagesS3Uri\",\"Type\":\"String\"}")
    error_message = "ImagesS3Uri must follow bucket and images_prefix."
  }
  assert {
    condition     = aws_iam_role.sagemaker.name == "birds-sagemaker" && aws_lambda_function.webhook.function_name == "birds-webhook"
    error_message = "Every name must start with var.name."
  }
}

run "existing_bucket" {
  command = plan

  variables {
    create_bucket = false
    bucket_name   = "someone-elses-bucket"
  }

  override_data {
    target = data.aws_s3_bucket.existing[0]
    values = {
      id  = "someone-elses-bucket"
      arn = "arn:aws:s3:::someone-elses-bucket"
    }
  }

  assert {
    condition     = length(aws_s3_bucket.this) == 0 && length(aws_s3_bucket_policy.this) == 0 && length(aws_s3_bucket_cors_configuration.this) == 0 && length(aws_s3_bucket_lifecycle_configuration.this) == 0
    error_message = "An existing bucket's configuration must not be managed."
  }
  assert {
    condition     = output.bucket_name == "someone-elses-bucket"
    error_message = "bucket_name output must be the existing bucket."
  }
  assert {
    condition     = alltrue([for o in aws_s3_object.scripts : o.bucket == "someone-elses-bucket"])
    error_message = "Scripts must still be uploaded to the existing bucket."
  }
}
