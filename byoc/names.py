"""Names byoc shares with the Functions host and the infrastructure (kept free of imports)."""

QUEUE_NAME = "byoc-jobs"
POISON_QUEUE_NAME = "byoc-jobs-poison"
STORAGE_CONNECTION = "AzureWebJobsStorage"
