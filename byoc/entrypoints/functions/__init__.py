"""byoc entrypoints/functions."""
