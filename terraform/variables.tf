# --------------------------------------------------------------------------- naming

variable "name" {
  description = "Name prefix for every resource (lowercase letters, digits and hyphens, 3-32 characters, starts with a letter). Also used in the default bucket name."
  type        = string
  default     = "ls-retrain"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name)) && !startswith(var.name, "xn--") && !strcontains(var.name, "--")
    error_message = "name must be 3-32 characters of lowercase letters, digits and single hyphens, start with a letter and end with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "tag keys must be 1-128 characters and not start with \"aws:\"; values at most 256 characters."
  }
}

# --------------------------------------------------------------------------- labels and trigger

variable "labels" {
  description = "Segmentation class names in Label Studio order (background is class 0 and is added by the pipeline, so NumClasses = length(labels) + 1)."
  type        = list(string)
  default     = ["Beak", "Head", "Wing", "Body"]

  validation {
    condition     = length(var.labels) >= 1 && length(var.labels) <= 254
    error_message = "labels must hold between 1 and 254 class names."
  }
  validation {
    condition     = length(distinct(var.labels)) == length(var.labels)
    error_message = "labels must be unique."
  }
  validation {
    condition     = alltrue([for l in var.labels : length(trimspace(l)) > 0 && !strcontains(l, ",")])
    error_message = "labels must be non-blank and must not contain commas (they are passed joined with \",\")."
  }
}

variable "annotation_threshold" {
  description = "Number of new, non-skipped Label Studio annotations (per project) that starts a retraining run."
  type        = number
  default     = 16

  validation {
    condition     = var.annotation_threshold >= 1 && floor(var.annotation_threshold) == var.annotation_threshold
    error_message = "annotation_threshold must be a whole number >= 1."
  }
}

variable "label_studio_origin" {
  description = "Browser origin of Label Studio (scheme://host[:port], no path). Allowed by the bucket CORS rule so Label Studio can load presigned images."
  type        = string
  default     = "http://localhost:8080"

  validation {
    condition     = can(regex("^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$", var.label_studio_origin))
    error_message = "label_studio_origin must be an origin like https://labelstudio.example.com or http://localhost:8080 (no path, no trailing slash)."
  }
}

variable "label_studio_project_ids" {
  description = "Label Studio project ids whose webhooks may start runs; empty list = any project."
  type        = list(number)
  default     = []

  validation {
    condition     = alltrue([for id in var.label_studio_project_ids : id >= 1 && floor(id) == id])
    error_message = "label_studio_project_ids must be positive whole numbers."
  }
}

# --------------------------------------------------------------------------- S3

variable "create_bucket" {
  description = "Create and configure the S3 bucket. When false, bucket_name must name an existing bucket; the module then manages only the objects it uploads (not versioning, encryption, policy, CORS or lifecycle: configure those yourself)."
  type        = bool
  default     = true

  validation {
    condition     = var.create_bucket != null
    error_message = "create_bucket must be true or false."
  }
}

variable "bucket_name" {
  description = "Bucket name. Required when create_bucket = false; when creating and null, \"<name>-<account id>-<region>\" is used."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || (can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(coalesce(var.bucket_name, "-"), ".."))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete the created bucket even if it still holds objects (all versions are lost)."
  type        = bool
  default     = false

  validation {
    condition     = var.force_destroy != null
    error_message = "force_destroy must be true or false."
  }
}

variable "images_prefix" {
  description = "S3 prefix of the source images (ends with \"/\")."
  type        = string
  default     = "images/"

  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9._=-]*/)+$", var.images_prefix))
    error_message = "images_prefix must be one or more segments each followed by \"/\" (e.g. \"images/\"); every segment starts with a letter or digit and holds only letters, digits, \".\", \"_\", \"=\" and \"-\" (the rule preprocessing/cleanup.py enforces; no \"/\" at the start, no empty, \".\" or \"..\" segment)."
  }
}

variable "annotations_prefix" {
  description = "S3 prefix of the Label Studio target storage (exported annotations; ends with \"/\")."
  type        = string
  default     = "annotations/"

  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9._=-]*/)+$", var.annotations_prefix))
    error_message = "annotations_prefix must be one or more segments each followed by \"/\" (e.g. \"annotations/\"); every segment starts with a letter or digit and holds only letters, digits, \".\", \"_\", \"=\" and \"-\" (the rule preprocessing/cleanup.py enforces; no \"/\" at the start, no empty, \".\" or \"..\" segment)."
  }
}

variable "scripts_prefix" {
  description = "S3 prefix the preprocessing scripts are uploaded to (ends with \"/\")."
  type        = string
  default     = "scripts/"

  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9._=-]*/)+$", var.scripts_prefix))
    error_message = "scripts_prefix must be one or more segments each followed by \"/\" (e.g. \"scripts/\"); every segment starts with a letter or digit and holds only letters, digits, \".\", \"_\", \"=\" and \"-\" (the rule preprocessing/cleanup.py enforces; no \"/\" at the start, no empty, \".\" or \"..\" segment)."
  }
}

variable "runs_prefix" {
  description = "S3 prefix of per-run scratch data (runs/<execution-id>/; removed by the cleanup step, expired by lifecycle as a backstop; ends with \"/\")."
  type        = string
  default     = "runs/"

  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9._=-]*/)+$", var.runs_prefix))
    error_message = "runs_prefix must be one or more segments each followed by \"/\" (e.g. \"runs/\"); every segment starts with a letter or digit and holds only letters, digits, \".\", \"_\", \"=\" and \"-\" (the rule preprocessing/cleanup.py enforces; no \"/\" at the start, no empty, \".\" or \"..\" segment)."
  }
}

variable "models_prefix" {
  description = "S3 prefix of model artifacts (models/<execution-id>/; ends with \"/\")."
  type        = string
  default     = "models/"

  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9._=-]*/)+$", var.models_prefix))
    error_message = "models_prefix must be one or more segments each followed by \"/\" (e.g. \"models/\"); every segment starts with a letter or digit and holds only letters, digits, \".\", \"_\", \"=\" and \"-\" (the rule preprocessing/cleanup.py enforces; no \"/\" at the start, no empty, \".\" or \"..\" segment)."
  }
}

variable "scratch_expiration_days" {
  description = "Days after which objects under runs_prefix expire (backstop for runs whose cleanup step did not run)."
  type        = number
  default     = 7

  validation {
    condition     = var.scratch_expiration_days >= 1 && var.scratch_expiration_days <= 3650 && floor(var.scratch_expiration_days) == var.scratch_expiration_days
    error_message = "scratch_expiration_days must be a whole number between 1 and 3650."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number between 1 and 3650."
  }
}

variable "kms_key_arn" {
  description = "Optional customer managed KMS key (ARN) for the bucket, state table, secret, log groups, Lambda environment and DLQ. null = AWS managed/owned keys. The key policy must allow CloudWatch Logs (logs.<region>.amazonaws.com) to use it."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", coalesce(var.kms_key_arn, "-")))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "scripts_dir" {
  description = "Folder whose *.py files (preprocess.py, cleanup.py, ...) are uploaded to scripts_prefix. null = \"<module>/../preprocessing\" (this repository's layout)."
  type        = string
  default     = null

  validation {
    condition     = var.scripts_dir == null || length(coalesce(var.scripts_dir, "-")) > 0
    error_message = "scripts_dir must be a non-empty path or null."
  }
}

# --------------------------------------------------------------------------- build artifacts

variable "build_dir" {
  description = "Folder written by `python build.py --region <region>` (webhook_lambda.zip, pipeline_definition.json, build_info.json). null = \"<module>/../build\" (this repository's layout)."
  type        = string
  default     = null

  validation {
    condition     = var.build_dir == null || length(coalesce(var.build_dir, "-")) > 0
    error_message = "build_dir must be a non-empty path or null."
  }
}

# --------------------------------------------------------------------------- pipeline parameter defaults

variable "processing_instance_type" {
  description = "Default of the ProcessingInstanceType pipeline parameter (preprocess and cleanup steps)."
  type        = string
  default     = "ml.m5.xlarge"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", var.processing_instance_type))
    error_message = "processing_instance_type must be a SageMaker instance type such as ml.m5.xlarge."
  }
}

variable "processing_instance_count" {
  description = "Default of the ProcessingInstanceCount pipeline parameter."
  type        = number
  default     = 1

  validation {
    condition     = var.processing_instance_count >= 1 && var.processing_instance_count <= 100 && floor(var.processing_instance_count) == var.processing_instance_count
    error_message = "processing_instance_count must be a whole number between 1 and 100."
  }
}

variable "training_instance_type" {
  description = "Default of the TrainingInstanceType pipeline parameter. The built-in semantic segmentation algorithm trains on GPU instances only (P2/P3/G4dn/G5 families)."
  type        = string
  default     = "ml.g5.2xlarge"

  validation {
    condition     = can(regex("^ml\\.(p2|p3|p3dn|p4d|g4dn|g5)\\.[0-9]*x?large$", var.training_instance_type))
    error_message = "training_instance_type must be a GPU instance type the semantic segmentation algorithm supports (ml.p2/p3/p3dn/p4d/g4dn/g5.*), e.g. ml.g5.2xlarge."
  }
}

variable "training_instance_count" {
  description = "Default of the TrainingInstanceCount pipeline parameter (the semantic segmentation algorithm supports a single instance)."
  type        = number
  default     = 1

  validation {
    condition     = var.training_instance_count == 1
    error_message = "training_instance_count must be 1: the built-in semantic segmentation algorithm trains on a single instance."
  }
}

variable "epochs" {
  description = "Default of the Epochs pipeline parameter (hyperparameter epochs)."
  type        = number
  default     = 10

  validation {
    condition     = var.epochs >= 1 && var.epochs <= 1000 && floor(var.epochs) == var.epochs
    error_message = "epochs must be a whole number between 1 and 1000."
  }
}

variable "learning_rate" {
  description = "Default of the LearningRate pipeline parameter (hyperparameter learning_rate)."
  type        = number
  default     = 0.001

  validation {
    condition     = var.learning_rate > 0 && var.learning_rate < 1
    error_message = "learning_rate must be between 0 and 1 (exclusive)."
  }
}

variable "mini_batch_size" {
  description = "Default of the MiniBatchSize pipeline parameter (hyperparameter mini_batch_size)."
  type        = number
  default     = 8

  validation {
    condition     = var.mini_batch_size >= 1 && var.mini_batch_size <= 1024 && floor(var.mini_batch_size) == var.mini_batch_size
    error_message = "mini_batch_size must be a whole number between 1 and 1024."
  }
}

variable "validation_ratio" {
  description = "Default of the ValidationRatio pipeline parameter: share of annotated images held out for validation."
  type        = number
  default     = 0.2

  validation {
    condition     = var.validation_ratio > 0 && var.validation_ratio < 1
    error_message = "validation_ratio must be strictly between 0 and 1."
  }
}

variable "miou_threshold" {
  description = "Default of the MiouThreshold pipeline parameter: minimum validation mIOU for the model to be registered."
  type        = number
  default     = 0.5

  validation {
    condition     = var.miou_threshold >= 0 && var.miou_threshold <= 1
    error_message = "miou_threshold must be between 0 and 1."
  }
}

variable "model_approval_status" {
  description = "Default of the ModelApprovalStatus pipeline parameter for registered model packages."
  type        = string
  default     = "PendingManualApproval"

  validation {
    condition     = contains(["Approved", "Rejected", "PendingManualApproval"], var.model_approval_status)
    error_message = "model_approval_status must be Approved, Rejected or PendingManualApproval."
  }
}

# --------------------------------------------------------------------------- webhook

variable "webhook_secret" {
  description = "Token Label Studio sends in webhook_header_name. null = generate one (Secrets Manager GetRandomPassword, kept stable across plans). Stored only in Secrets Manager, never in the Lambda environment."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.webhook_secret == null || can(regex("^[\\x21-\\x7e]{16,256}$", coalesce(var.webhook_secret, "-")))
    error_message = "webhook_secret must be 16-256 printable ASCII characters without spaces, or null to generate one."
  }
}

variable "webhook_header_name" {
  description = "HTTP header that carries the webhook token."
  type        = string
  default     = "X-Webhook-Token"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,62}[A-Za-z0-9]$", var.webhook_header_name)) && !contains(["authorization", "host", "content-type", "content-length", "cookie"], lower(var.webhook_header_name))
    error_message = "webhook_header_name must be an HTTP header name (letters, digits, hyphens; 2-64 characters) other than a standard header such as Authorization or Host."
  }
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the webhook secret on destroy (0 = delete immediately, else 7-30)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "api_throttling_burst_limit" {
  description = "Burst limit (requests) of the webhook API stage."
  type        = number
  default     = 20

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && var.api_throttling_burst_limit <= 5000 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number between 1 and 5000."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state rate limit (requests per second) of the webhook API stage."
  type        = number
  default     = 10

  validation {
    condition     = var.api_throttling_rate_limit > 0 && var.api_throttling_rate_limit <= 10000
    error_message = "api_throttling_rate_limit must be greater than 0 and at most 10000."
  }
}

# --------------------------------------------------------------------------- Lambda and logs

variable "lambda_timeout" {
  description = "Timeout of the webhook Lambda in seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.lambda_timeout >= 3 && var.lambda_timeout <= 900 && floor(var.lambda_timeout) == var.lambda_timeout
    error_message = "lambda_timeout must be a whole number of seconds between 3 and 900."
  }
}

variable "lambda_memory_size" {
  description = "Memory of the webhook Lambda in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "lambda_memory_size must be a whole number between 128 and 10240."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the webhook Lambda (caps webhook floods). -1 = no reservation (needed on accounts whose total concurrency limit is 10, where AWS refuses any reservation)."
  type        = number
  default     = 5

  validation {
    condition     = var.lambda_reserved_concurrency == -1 || (var.lambda_reserved_concurrency >= 1 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency)
    error_message = "lambda_reserved_concurrency must be -1 (unreserved) or a whole number >= 1."
  }
}

variable "lambda_tracing_mode" {
  description = "X-Ray tracing mode of the webhook Lambda: Active (sampled traces, adds X-Ray write permissions) or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.lambda_tracing_mode)
    error_message = "lambda_tracing_mode must be Active or PassThrough."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda and API access log groups, in days (a value CloudWatch Logs accepts; 0 = never expire)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}
