# Pipeline execution status changes -> the Lambda (releases the per-project run lock).

resource "aws_cloudwatch_event_rule" "pipeline_status" {
  name        = "${var.name}-pipeline-status"
  description = "Status changes of ${local.pipeline_name} executions."
  tags        = local.tags

  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Model Building Pipeline Execution Status Change"]
    detail = {
      pipelineArn = [aws_sagemaker_pipeline.this.arn]
      # The Lambda acts only on terminal statuses (releases the run lock); Executing etc. would be no-ops.
      currentPipelineExecutionStatus = ["Succeeded", "Failed", "Stopped"]
    }
  })
}

resource "aws_cloudwatch_event_target" "lambda" {
  rule      = aws_cloudwatch_event_rule.pipeline_status.name
  target_id = "webhook-lambda"
  arn       = aws_lambda_function.webhook.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }
}
