# IAM: no wildcard resources beyond the commented exceptions (actions without resource-level
# permissions), no wildcard actions, and S3 access limited to this bucket's prefixes.
mock_provider "aws" {
  source = "./tests/mocks"
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
