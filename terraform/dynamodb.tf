# Per-project trigger state (annotation counters, running execution) for the Lambda.

resource "aws_dynamodb_table" "state" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key aws/dynamodb by default; set var.kms_key_arn for a customer managed key.
  name         = local.state_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  tags         = local.tags

  attribute {
    name = "pk"
    type = "S"
  }

  # The Lambda writes expires_at (epoch seconds) on its index items; DynamoDB deletes them after that.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
