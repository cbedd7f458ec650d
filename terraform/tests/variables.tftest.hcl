# Variable validation: bad input is rejected at plan time (mock AWS provider).
mock_provider "aws" {
  source = "./tests/mocks"
}

run "empty_labels" {
  command = plan

  variables {
    labels = []
  }

  expect_failures = [var.labels]
}

run "duplicate_labels" {
  command = plan

  variables {
    labels = ["Beak", "Beak"]
  }

  expect_failures = [var.labels]
}

run "comma_in_label" {
  command = plan

  variables {
    labels = ["Beak,Head"]
  }

  expect_failures = [var.labels]
}

run "threshold_below_one" {
  command = plan

  variables {
    annotation_threshold = 0
  }

  expect_failures = [var.annotation_threshold]
}

run "bad_approval_status" {
  command = plan

  variables {
    model_approval_status = "Maybe"
  }

  expect_failures = [var.model_approval_status]
}

run "prefix_leading_slash" {
  command = plan

  variables {
    images_prefix = "/images/"
  }

  expect_failures = [var.images_prefix]
}

run "prefix_without_trailing_slash" {
  command = plan

  variables {
    runs_prefix = "runs"
  }

  expect_failures = [var.runs_prefix]
}

# Prefixes: every segment like preprocessing/cleanup.py's _SEGMENT (^[A-Za-z0-9][A-Za-z0-9._=-]*$),
# so no "."/".." segment (preprocess.py's parse_images_scope refuses those) and no empty one.
run "prefix_segment_starts_with_underscore" {
  command = plan

  variables {
    runs_prefix = "_runs/"
  }

  expect_failures = [var.runs_prefix]
}

run "prefix_with_punctuation" {
  command = plan

  variables {
    runs_prefix = "runs!/"
  }

  expect_failures = [var.runs_prefix]
}

run "prefix_dot_segments" {
  command = plan

  variables {
    images_prefix      = "images/../"
    annotations_prefix = "./annotations/"
    scripts_prefix     = "../"
    models_prefix      = "models/./"
  }

  expect_failures = [var.images_prefix, var.annotations_prefix, var.scripts_prefix, var.models_prefix]
}

run "prefix_empty_segment" {
  command = plan

  variables {
    images_prefix = "images//"
  }

  expect_failures = [var.images_prefix]
}

run "prefix_unsafe_characters" {
  command = plan

  variables {
    annotations_prefix = "ann(1)/"
    scripts_prefix     = "scripts*/"
    models_prefix      = "mod els/"
  }

  expect_failures = [var.annotations_prefix, var.scripts_prefix, var.models_prefix]
}

run "prefix_nested_segments_accepted" {
  command = plan

  variables {
    images_prefix      = "team-a/images.v2/"
    annotations_prefix = "team-a/annotations_v2/"
    scripts_prefix     = "team-a/scripts/"
    runs_prefix        = "team-a/runs/date=2026/"
    models_prefix      = "team-a/models/"
  }

  assert {
    condition     = output.runs_prefix == "team-a/runs/date=2026/"
    error_message = "Nested prefixes of safe segments must be accepted."
  }
}

run "origin_with_path" {
  command = plan

  variables {
    label_studio_origin = "http://localhost:8080/projects"
  }

  expect_failures = [var.label_studio_origin]
}

run "origin_without_scheme" {
  command = plan

  variables {
    label_studio_origin = "localhost:8080"
  }

  expect_failures = [var.label_studio_origin]
}

run "bad_name" {
  command = plan

  variables {
    name = "Bad_Name"
  }

  expect_failures = [var.name]
}

run "validation_ratio_one" {
  command = plan

  variables {
    validation_ratio = 1
  }

  expect_failures = [var.validation_ratio]
}

run "miou_above_one" {
  command = plan

  variables {
    miou_threshold = 1.5
  }

  expect_failures = [var.miou_threshold]
}

run "log_retention_not_allowed" {
  command = plan

  variables {
    log_retention_days = 10
  }

  expect_failures = [var.log_retention_days]
}

run "bad_header_name" {
  command = plan

  variables {
    webhook_header_name = "X Token"
  }

  expect_failures = [var.webhook_header_name]
}

run "short_webhook_secret" {
  command = plan

  variables {
    webhook_secret = "short"
  }

  expect_failures = [var.webhook_secret]
}

run "cpu_training_instance" {
  command = plan

  variables {
    training_instance_type = "ml.m5.xlarge"
  }

  expect_failures = [var.training_instance_type]
}

run "negative_project_id" {
  command = plan

  variables {
    label_studio_project_ids = [0]
  }

  expect_failures = [var.label_studio_project_ids]
}

# Cross-variable rules are preconditions (Terraform >= 1.5 cannot cross-reference variables in validation).
run "overlapping_prefixes" {
  command = plan

  variables {
    models_prefix = "runs/models/"
  }

  expect_failures = [aws_s3_bucket.this[0]]
}

run "existing_bucket_needs_name" {
  command = plan

  variables {
    create_bucket = false
  }

  expect_failures = [data.aws_s3_bucket.existing[0]]
}
