"""Pure domain logic: no I/O, no vendor SDKs."""
