# HTTP API: one POST route that Label Studio's webhook calls.

locals {
  webhook_method = "POST"
  webhook_path   = "/webhook"
}

resource "aws_apigatewayv2_api" "webhook" {
  name          = "${var.name}-webhook"
  description   = "Label Studio webhook endpoint of ${local.pipeline_name}."
  protocol_type = "HTTP"
  tags          = local.tags
}

resource "aws_apigatewayv2_integration" "lambda" {
  api_id                 = aws_apigatewayv2_api.webhook.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.webhook.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = min(30000, var.lambda_timeout * 1000 + 1000)
}

resource "aws_apigatewayv2_route" "webhook" {
  #checkov:skip=CKV_AWS_309:Label Studio webhooks can only send static headers (no SigV4/JWT); the Lambda checks the shared token header (Secrets Manager) in constant time.
  api_id    = aws_apigatewayv2_api.webhook.id
  route_key = "${local.webhook_method} ${local.webhook_path}"
  target    = "integrations/${aws_apigatewayv2_integration.lambda.id}"
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Encrypted with the CloudWatch Logs service key by default; set var.kms_key_arn for a customer managed key.
  name              = "/aws/apigateway/${var.name}-webhook"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.webhook.id
  name        = "$default"
  auto_deploy = true
  tags        = local.tags

  default_route_settings {
    throttling_burst_limit = var.api_throttling_burst_limit
    throttling_rate_limit  = var.api_throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      sourceIp         = "$context.identity.sourceIp"
      requestTime      = "$context.requestTime"
      httpMethod       = "$context.httpMethod"
      routeKey         = "$context.routeKey"
      status           = "$context.status"
      protocol         = "$context.protocol"
      responseLength   = "$context.responseLength"
      integrationError = "$context.integrationErrorMessage"
    })
  }
}
