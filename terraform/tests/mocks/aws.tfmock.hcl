# Mocked AWS values shared by every terraform test file (loaded with mock_provider "aws" { source = ... }).
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
