# A complete deployment of the module with sensible defaults.
#   python build.py --region us-east-1   # writes ../../../build (from the repository root)
#   terraform init && terraform apply

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region to deploy to (build/ must be rendered for the same region)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "ls-retrain-demo"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens."
  }
}

variable "label_studio_origin" {
  description = "Browser origin of Label Studio (CORS)."
  type        = string
  default     = "http://localhost:8080"

  validation {
    condition     = can(regex("^https?://", var.label_studio_origin))
    error_message = "label_studio_origin must start with http:// or https://."
  }
}

module "retrain" {
  source = "../.."

  name                = var.name
  label_studio_origin = var.label_studio_origin
  labels              = ["Beak", "Head", "Wing", "Body"]

  # build/ and preprocessing/ of this repository (the module defaults, spelled out).
  build_dir   = "${path.root}/../../../build"
  scripts_dir = "${path.root}/../../../preprocessing"

  # An example is meant to be torn down: let destroy empty the bucket and drop the secret at once.
  force_destroy               = true
  secret_recovery_window_days = 0

  tags = {
    project = "label-studio-sagemaker-retrain"
    example = "complete"
  }
}
