"""Azure credentials chosen by settings: managed identity in Azure, a static token locally."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

    from byoc.settings import Settings


class StaticTokenCredential:
    """A `TokenCredential` that hands out one configured bearer token (local runs only)."""

    def __init__(self, token: str, lifetime_s: int = 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    def close(self) -> None:
        """Nothing to release."""


def build_credential(settings: Settings) -> TokenCredential:
    """The credential every Azure SDK client of byoc uses."""
    if settings.azure_credential == "static-token":
        assert settings.azure_static_token is not None  # checked by Settings
        return StaticTokenCredential(settings.azure_static_token.get_secret_value())
    if settings.azure_credential == "managed-identity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.azure_client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
