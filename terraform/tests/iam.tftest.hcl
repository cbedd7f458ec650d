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

run "lambda_actions_are_exactly_what_the_handler_calls" {
  command = apply

  variables {
    lambda_tracing_mode = "Active"
  }

  # lambda/handler.py: dynamodb GetItem/PutItem/UpdateItem, secretsmanager GetSecretValue,
  # sagemaker StartPipelineExecution/DescribePipelineExecution; plus logs, DLQ and X-Ray.
  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s.Action])) == toset([
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "secretsmanager:GetSecretValue",
      "sagemaker:StartPipelineExecution",
      "sagemaker:DescribePipelineExecution",
      "sqs:SendMessage",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
    ])
    error_message = "The Lambda role must grant exactly the actions lambda/handler.py uses (plus logs, DLQ, X-Ray)."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement :
      s.Resource == ["arn:aws:sagemaker:us-east-1:123456789012:pipeline/mocked/execution/*"]
      if contains(s.Action, "sagemaker:DescribePipelineExecution")
      ]) && alltrue([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement :
      s.Resource == ["arn:aws:sagemaker:us-east-1:123456789012:pipeline/mocked"]
      if contains(s.Action, "sagemaker:StartPipelineExecution")
    ])
    error_message = "StartPipelineExecution on the pipeline, DescribePipelineExecution on its executions only."
  }
}

run "lambda_actions_with_customer_managed_key" {
  command = apply

  variables {
    lambda_tracing_mode = "PassThrough"
    kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s.Action])) == toset([
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "secretsmanager:GetSecretValue",
      "sagemaker:StartPipelineExecution",
      "sagemaker:DescribePipelineExecution",
      "sqs:SendMessage",
      "kms:Decrypt",
      "kms:GenerateDataKey",
      "kms:DescribeKey",
    ])
    error_message = "Without tracing and with a CMK: the handler's actions plus logs, DLQ and the key, no X-Ray."
  }
  assert {
    condition = [
      for s in jsondecode(output.label_studio_storage_policy_json).Statement : s.Resource
      if s.Sid == "UseCustomerManagedKey"
    ] == [["arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"]]
    error_message = "The Label Studio policy must include the customer managed key when kms_key_arn is set."
  }
  assert {
    condition     = toset(flatten([for s in jsondecode(output.label_studio_storage_policy_json).Statement : s.Action if startswith(s.Action[0], "kms:")])) == toset(["kms:Decrypt", "kms:GenerateDataKey"])
    error_message = "Label Studio needs only kms:Decrypt and kms:GenerateDataKey on the key."
  }
}

run "label_studio_storage_policy" {
  command = apply

  variables {
    images_prefix      = "data/img/"
    annotations_prefix = "data/ann/"
  }

  assert {
    condition = jsondecode(output.label_studio_storage_policy_json) == {
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "ListStoragePrefixes"
          Effect    = "Allow"
          Action    = ["s3:ListBucket"]
          Resource  = ["arn:aws:s3:::mocked-bucket"]
          Condition = { StringLike = { "s3:prefix" = ["data/img", "data/img/*", "data/ann", "data/ann/*"] } }
        },
        {
          Sid      = "ReadImages"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = ["arn:aws:s3:::mocked-bucket/data/img/*"]
        },
        {
          Sid      = "WriteAnnotations"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = ["arn:aws:s3:::mocked-bucket/data/ann/*"]
        },
      ]
    }
    error_message = "label_studio_storage_policy_json must be list (limited to the two prefixes), read images, read/write/delete annotations; no KMS statement without kms_key_arn."
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
