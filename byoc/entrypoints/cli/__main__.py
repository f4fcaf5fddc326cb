"""`python -m byoc.entrypoints.cli`."""

from byoc.entrypoints.cli import main

main()
