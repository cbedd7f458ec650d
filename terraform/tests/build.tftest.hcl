# build/ checks: a missing build/ or one rendered for another region fails the plan with
# the command to run.
mock_provider "aws" {
  source = "./tests/mocks"
}

run "missing_build_dir" {
  command = plan

  variables {
    build_dir = "./tests/no-such-build"
  }

  # The Lambda's own precondition is not reached: it depends on the pipeline.
  expect_failures = [aws_sagemaker_pipeline.this]
}

run "build_for_other_region" {
  command = plan

  override_data {
    target = data.aws_region.current
    values = {
      name = "eu-west-1"
    }
  }

  expect_failures = [aws_sagemaker_pipeline.this]
}
