# IAM roles: the SageMaker execution role (pipeline + its jobs) and the webhook Lambda role.
# Policies are jsonencode()d documents so that `terraform test` (mock provider) can inspect
# them. "Resource": "*" appears only for actions without resource-level permissions, each
# commented; terraform/tests/iam.tftest.hcl enforces that list.

locals {
  sagemaker_arn_prefix = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}"
  logs_arn_prefix      = "arn:${local.partition}:logs:${local.region}:${local.account_id}"
  kms_statements = var.kms_key_arn == null ? [] : [{
    Sid      = "UseCustomerManagedKey"
    Effect   = "Allow"
    Action   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    Resource = [var.kms_key_arn]
  }]
}

# --------------------------------------------------------------------------- SageMaker execution role

resource "aws_iam_role" "sagemaker" {
  name                 = local.sagemaker_role_name
  description          = "Execution role of the ${local.pipeline_name} SageMaker pipeline and its jobs."
  max_session_duration = 43200
  tags                 = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "sagemaker.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "sagemaker" {
  name = "pipeline"
  role = aws_iam_role.sagemaker.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "ListDataBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [local.bucket_arn]
      },
      {
        Sid      = "ReadPipelineData"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [for p in values(local.prefixes) : "${local.bucket_arn}/${p}*"]
      },
      {
        Sid      = "WriteRunAndModelData"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.bucket_arn}/${var.runs_prefix}*", "${local.bucket_arn}/${var.models_prefix}*"]
      },
      {
        # SageMaker Pipelines names the jobs it starts "pipelines-<execution id>-<step>-<suffix>".
        Sid    = "RunPipelineJobs"
        Effect = "Allow"
        Action = [
          "sagemaker:CreateProcessingJob",
          "sagemaker:DescribeProcessingJob",
          "sagemaker:StopProcessingJob",
          "sagemaker:CreateTrainingJob",
          "sagemaker:DescribeTrainingJob",
          "sagemaker:StopTrainingJob",
          "sagemaker:AddTags",
          "sagemaker:ListTags",
        ]
        Resource = [
          "${local.sagemaker_arn_prefix}:processing-job/pipelines-*",
          "${local.sagemaker_arn_prefix}:training-job/pipelines-*",
        ]
      },
      {
        Sid    = "RegisterModels"
        Effect = "Allow"
        Action = [
          "sagemaker:CreateModelPackage",
          "sagemaker:DescribeModelPackage",
          "sagemaker:UpdateModelPackage",
          "sagemaker:DescribeModelPackageGroup",
          "sagemaker:ListModelPackages",
          "sagemaker:AddTags",
          "sagemaker:ListTags",
        ]
        Resource = [
          "${local.sagemaker_arn_prefix}:model-package-group/${local.model_package_group_name}",
          "${local.sagemaker_arn_prefix}:model-package/${local.model_package_group_name}/*",
        ]
      },
      {
        # ecr:GetAuthorizationToken has no resource-level permissions: AWS requires "*".
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = ["*"]
      },
      {
        # The AWS algorithm / framework images live in AWS-owned accounts that differ per region.
        Sid      = "PullAlgorithmImages"
        Effect   = "Allow"
        Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        Resource = ["arn:${local.partition}:ecr:${local.region}:*:repository/*"]
      },
      {
        Sid    = "JobLogs"
        Effect = "Allow"
        Action = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = [
          "${local.logs_arn_prefix}:log-group:/aws/sagemaker/*",
          "${local.logs_arn_prefix}:log-group:/aws/sagemaker/*:log-stream:*",
        ]
      },
      {
        # cloudwatch:PutMetricData has no resource-level permissions: AWS requires "*";
        # the namespace condition limits it to SageMaker's metric namespaces.
        Sid       = "JobMetrics"
        Effect    = "Allow"
        Action    = ["cloudwatch:PutMetricData"]
        Resource  = ["*"]
        Condition = { StringLike = { "cloudwatch:namespace" = ["/aws/sagemaker/*", "aws/sagemaker/*"] } }
      },
      {
        Sid       = "PassSelfToSageMaker"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = [aws_iam_role.sagemaker.arn]
        Condition = { StringEquals = { "iam:PassedToService" = "sagemaker.amazonaws.com" } }
      },
    ], local.kms_statements)
  })
}

# --------------------------------------------------------------------------- webhook Lambda role

resource "aws_iam_role" "lambda" {
  name        = local.lambda_role_name
  description = "Role of the ${local.function_name} Lambda (Label Studio webhook and pipeline status events)."
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "lambda" {
  name = "webhook"
  role = aws_iam_role.lambda.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "OwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
      },
      {
        Sid    = "ProjectState"
        Effect = "Allow"
        # Exactly the calls lambda/handler.py makes (terraform/tests/iam.tftest.hcl pins the set).
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        Resource = [aws_dynamodb_table.state.arn]
      },
      {
        Sid      = "WebhookToken"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [aws_secretsmanager_secret.webhook.arn]
      },
      {
        Sid      = "StartPipeline"
        Effect   = "Allow"
        Action   = ["sagemaker:StartPipelineExecution"]
        Resource = [aws_sagemaker_pipeline.this.arn]
      },
      {
        # Stale-run check of the execution recorded in the run lock.
        Sid      = "FollowExecutions"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribePipelineExecution"]
        Resource = ["${aws_sagemaker_pipeline.this.arn}/execution/*"]
      },
      {
        Sid      = "DeadLetterQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.lambda_dlq.arn]
      },
      ], var.lambda_tracing_mode == "Active" ? [{
        # X-Ray trace ingestion has no resource-level permissions: AWS requires "*".
        Sid      = "XRayTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
        Resource = ["*"]
    }] : [], local.kms_statements)
  })
}

# --------------------------------------------------------------------------- Label Studio storages (output only)

# A policy document for whatever principal Label Studio's S3 storages use (output
# label_studio_storage_policy_json). No IAM user or access key is created here: the secret
# access key would land in the Terraform state.
locals {
  # bootstrap.py gives Label Studio the prefixes without their trailing "/" (Label Studio joins
  # prefix and key with "/" itself), so ListObjectsV2 is called with Prefix="images" as well.
  label_studio_list_prefixes = flatten([
    for p in [var.images_prefix, var.annotations_prefix] : [trimsuffix(p, "/"), "${p}*"]
  ])
  label_studio_storage_policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "ListStoragePrefixes"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.bucket_arn]
        Condition = { StringLike = { "s3:prefix" = local.label_studio_list_prefixes } }
      },
      {
        # Source storage: sync and presigned GET URLs for the browser.
        Sid      = "ReadImages"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${local.bucket_arn}/${var.images_prefix}*"]
      },
      {
        # Target storage: one object per annotation, removed when the annotation is deleted.
        Sid      = "WriteAnnotations"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${local.bucket_arn}/${var.annotations_prefix}*"]
      },
      ], var.kms_key_arn == null ? [] : [{
        Sid      = "UseCustomerManagedKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
    }])
  })
}
