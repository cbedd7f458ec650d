# The data bucket: images, annotations, scripts, per-run scratch data and models.
# With create_bucket = false the module only looks the bucket up and uploads its scripts;
# versioning, encryption, policy, CORS and lifecycle of an existing bucket stay with its owner.

locals {
  # "" (not null) when create_bucket = false lacks bucket_name: the data source's precondition reports it.
  bucket_name = var.create_bucket ? coalesce(var.bucket_name, "${var.name}-${local.account_id}-${local.region}") : (var.bucket_name == null ? "" : var.bucket_name)
  bucket_arn  = var.create_bucket ? aws_s3_bucket.this[0].arn : data.aws_s3_bucket.existing[0].arn
  # The bucket id, taken from the resource so that dependants wait for its creation.
  bucket_id = var.create_bucket ? aws_s3_bucket.this[0].id : data.aws_s3_bucket.existing[0].id

  prefixes = {
    images      = var.images_prefix
    annotations = var.annotations_prefix
    scripts     = var.scripts_prefix
    runs        = var.runs_prefix
    models      = var.models_prefix
  }
  # No prefix may equal or contain another (runs/ expiry must never touch models/ etc.).
  prefixes_disjoint = alltrue([
    for a in values(local.prefixes) : length([for b in values(local.prefixes) : b if startswith(b, a)]) == 1
  ])

  scripts = toset([
    for f in fileset(local.scripts_dir, "*.py") : f
    if !startswith(f, "test_") && !startswith(f, "_")
  ])
}

data "aws_s3_bucket" "existing" {
  count  = var.create_bucket ? 0 : 1
  bucket = local.bucket_name

  lifecycle {
    precondition {
      condition     = var.bucket_name != null
      error_message = "bucket_name is required when create_bucket = false."
    }
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second (log) bucket per deployment; CloudTrail data events are the account-level audit trail.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the account owner; training data is reproducible from Label Studio.
  #checkov:skip=CKV2_AWS_62:No consumer for S3 event notifications: runs are started by the Label Studio webhook, not by object events.
  count = var.create_bucket ? 1 : 0

  bucket        = local.bucket_name
  force_destroy = var.force_destroy
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = local.prefixes_disjoint
      error_message = "images_prefix, annotations_prefix, scripts_prefix, runs_prefix and models_prefix must be distinct and none may be a prefix of another."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id

  rule {
    apply_server_side_encryption_by_default {
      # SSE-KMS with the AWS managed key aws/s3 unless a customer managed key is given.
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_cors_configuration" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id

  # Label Studio loads presigned image URLs from the browser.
  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = [var.label_studio_origin]
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Content-Length", "Content-Type"]
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id

  rule {
    id     = "expire-run-scratch"
    status = "Enabled"

    filter {
      prefix = var.runs_prefix
    }

    expiration {
      days = var.scratch_expiration_days
    }

    # The bucket is versioned: cleanup.py's DeleteObjects and the expiry above only add delete
    # markers. Scratch copies that became noncurrent are removed a day later, not after
    # noncurrent_version_expiration_days (the whole-bucket rule below, for the other prefixes).
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    # ExpiredObjectDeleteMarker may not share an expiration block with days/date (S3 API).
    id     = "remove-run-scratch-delete-markers"
    status = "Enabled"

    filter {
      prefix = var.runs_prefix
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {
      prefix = ""
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Rules apply to a versioned bucket.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.this[0].arn, "${aws_s3_bucket.this[0].arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_object" "scripts" {
  for_each = local.scripts

  bucket       = local.bucket_id
  key          = "${var.scripts_prefix}${each.value}"
  source       = "${local.scripts_dir}/${each.value}"
  content_type = "text/x-python"
  # source_hash (not etag): S3 ETags of SSE-KMS objects are not the MD5 of the content.
  source_hash = filemd5("${local.scripts_dir}/${each.value}")
  tags        = local.tags

  depends_on = [
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_policy.this,
  ]
}
