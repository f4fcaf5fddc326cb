"""byoc entrypoints."""
