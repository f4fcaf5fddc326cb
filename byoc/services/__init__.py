"""byoc services."""
