"""Genesys Cloud through its Python SDK (`PureCloudPlatformClientV2`), as `GenesysPort`.

The SDK is imported inside the functions that need it (it costs over a second and ~200 MB), so
importing this module, or `function_app`, stays light.

What the SDK does not do, this adapter does (docs/vendors/genesys.md):

- **Tokens.** The SDK keeps a client-credentials token forever and drops `expires_in`. byoc fetches
  the token itself (same request, same host rule), caches it, renews it before it expires, and
  renews it once more and retries when a call meets a 401.
- **Retries below byoc.** The SDK gives its urllib3 pool `Retry()` with every method allowed:
  10 replays of any call, POSTs included, and of 429/503 answers carrying `Retry-After`. byoc
  replaces it (`sdk_retry`): urllib3 only retries a connection that never opened; a read timeout,
  a dropped connection or an answer comes straight back here. A call that got no answer is sent
  once more when it is safe to repeat (never a create), so a call waits at most two read timeouts.
- **Rate limits.** A 429 (with or without `Retry-After`) is retried here with backoff. Calls are
  paced to `BYOC_GENESYS_REQUESTS_PER_MINUTE` and pause when the `inin-ratelimit-*` headers say
  the window is spent.
- **Lost answers to creates.** A DID pool create that fails (its answer may have been lost after
  it landed) is followed by a read of the pools by their range (the natural key) before anything
  is created again.
- **Versions and settling.** IVR PUTs and user PATCHes carry the current `version`; a conflict is
  re-read and re-applied. A number of a pool created moments ago may be refused with "Field
  'didPoolId' is required" until the pool settles; that write is retried a bounded number of times.
- **Paging.** Every list is read page by page (page size 100; the real maximum is unverified).
"""

from __future__ import annotations

from byoc.adapters.genesys_architect import Ivrs
from byoc.adapters.genesys_client import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, GenesysClient
from byoc.adapters.genesys_edges import Edges
from byoc.adapters.genesys_errors import (
    DidPoolOverlap,
    GenesysAuthError,
    GenesysNotFound,
    GenesysPermissionDenied,
    GenesysPoolNotSettled,
    GenesysRateLimited,
    GenesysRequestTooLarge,
    GenesysUnavailable,
    GenesysVersionConflict,
    error_from_response,
)
from byoc.adapters.genesys_pools import DidPools
from byoc.adapters.genesys_session import (
    RATE_LIMIT_RETRIES,
    RATE_LIMIT_WAIT_S,
    SDK_CONNECT_RETRIES,
    CallSession,
    RequestPacer,
    TokenCache,
    sdk_retry,
)
from byoc.adapters.genesys_users import Users

__all__ = [
    "CONNECT_TIMEOUT_S",
    "RATE_LIMIT_RETRIES",
    "RATE_LIMIT_WAIT_S",
    "READ_TIMEOUT_S",
    "SDK_CONNECT_RETRIES",
    "CallSession",
    "DidPoolOverlap",
    "GenesysAdapter",
    "GenesysAuthError",
    "GenesysClient",
    "GenesysNotFound",
    "GenesysPermissionDenied",
    "GenesysPoolNotSettled",
    "GenesysRateLimited",
    "GenesysRequestTooLarge",
    "GenesysUnavailable",
    "GenesysVersionConflict",
    "RequestPacer",
    "TokenCache",
    "error_from_response",
    "sdk_retry",
]


class GenesysAdapter(DidPools, Ivrs, Users, Edges):
    """`GenesysPort` over the Genesys Cloud Python SDK, for one org and one OAuth client."""
