# IAM: no wildcard resources beyond the commented exceptions (actions without resource-level
# permissions), no wildcard actions, and S3 access limited to this bucket's prefixes.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/test"
      user_id    = "AIDATEST"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mocked"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::mocked-bucket"
    }
  }
  mock_resource "aws_sagemaker_pipeline" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mocked"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:mocked"
    }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      execution_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123"
    }
  }
  mock_resource "aws_apigatewayv2_stage" {
    defaults = {
      invoke_url = "https://abc123.execute-api.us-east-1.amazonaws.com/"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:us-east-1:123456789012:function:mocked"
      invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:mocked/invocations"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:mocked-dlq"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/mocked-dlq"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mocked-AbCdEf"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:us-east-1:123456789012:table/mocked"
    }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:us-east-1:123456789012:rule/mocked"
    }
  }
  mock_resource "aws_sagemaker_model_package_group" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/mocked"
    }
  }
}

run "iam_policies" {
  command = apply

  variables {
    lambda_tracing_mode = "Active"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.sagemaker.policy).Statement :
      alltrue([for a in s.Action : contains(["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"], a)])
      if contains(s.Resource, "*")
    ])
    error_message = "SageMaker role: \"Resource\": \"*\" only for ecr:GetAuthorizationToken and cloudwatch:PutMetricData."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement :
      alltrue([for a in s.Action : contains(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], a)])
      if contains(s.Resource, "*")
    ])
    error_message = "Lambda role: \"Resource\": \"*\" only for X-Ray trace ingestion."
  }
  assert {
    condition = alltrue(flatten([
      for p in [aws_iam_role_policy.sagemaker.policy, aws_iam_role_policy.lambda.policy] : [
        for s in jsondecode(p).Statement : [for a in s.Action : !endswith(a, "*")]
      ]
    ]))
    error_message = "No wildcard actions."
  }
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.sagemaker.policy).Statement : [
        for r in s.Resource : startswith(r, "arn:aws:s3:::mocked-bucket")
      ] if anytrue([for a in s.Action : startswith(a, "s3:")])
    ]))
    error_message = "S3 permissions must be limited to this bucket."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.sagemaker.policy).Statement :
      alltrue([for r in s.Resource : startswith(r, "arn:aws:s3:::mocked-bucket/runs/") || startswith(r, "arn:aws:s3:::mocked-bucket/models/")])
      if contains(s.Action, "s3:PutObject") || contains(s.Action, "s3:DeleteObject")
    ])
    error_message = "The SageMaker role may write only under runs_prefix and models_prefix."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.sagemaker.policy).Statement :
      s.Resource == ["arn:aws:iam::123456789012:role/mocked"] && s.Condition.StringEquals["iam:PassedToService"] == "sagemaker.amazonaws.com"
      if contains(s.Action, "iam:PassRole")
    ])
    error_message = "iam:PassRole only of the role itself, only to SageMaker."
  }
  assert {
    condition     = aws_sagemaker_pipeline.this.role_arn == aws_iam_role.sagemaker.arn
    error_message = "The pipeline must run as the SageMaker execution role."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement :
      alltrue([for r in s.Resource : startswith(r, "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mocked")])
      if anytrue([for a in s.Action : startswith(a, "sagemaker:")])
    ])
    error_message = "The Lambda may act only on this pipeline and its executions."
  }
  assert {
    condition     = jsondecode(aws_iam_role.sagemaker.assume_role_policy).Statement[0].Principal.Service == "sagemaker.amazonaws.com" && jsondecode(aws_iam_role.lambda.assume_role_policy).Statement[0].Principal.Service == "lambda.amazonaws.com"
    error_message = "Trust policies must name only the owning service."
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.this[0].policy).Statement[0].Effect == "Deny" && jsondecode(aws_s3_bucket_policy.this[0].policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "The bucket policy must deny non-TLS access."
  }
}

run "no_xray_without_tracing" {
  command = apply

  variables {
    lambda_tracing_mode = "PassThrough"
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : !contains(s.Resource, "*")])
    error_message = "Without active tracing the Lambda role has no wildcard resource at all."
  }
}
