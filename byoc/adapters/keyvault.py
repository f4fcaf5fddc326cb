"""Key Vault secrets (and certificates, which Key Vault also exposes as secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient


@dataclass(frozen=True)
class Secret:
    """A secret's value and what kind of content it holds."""

    value: str
    content_type: str | None
    version: str


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret, without its value."""

    version: str
    enabled: bool
    created_on: Any


class KeyVaultSecrets:
    """Reads secrets with `azure-keyvault-secrets`."""

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential,
        *,
        verify_challenge_resource: bool = True,
        ca_bundle: str | None = None,
    ) -> None:
        self._vault_url = vault_url
        self._credential = credential
        self._verify_challenge_resource = verify_challenge_resource
        self._ca_bundle = ca_bundle
        self._client: SecretClient | None = None

    def _get_client(self) -> SecretClient:
        if self._client is None:
            from azure.keyvault.secrets import SecretClient

            kwargs: dict[str, Any] = {
                "verify_challenge_resource": self._verify_challenge_resource,
            }
            if self._ca_bundle:
                kwargs["connection_verify"] = self._ca_bundle
            self._client = SecretClient(self._vault_url, self._credential, **kwargs)
        return self._client

    def get_secret(self, name: str, version: str | None = None) -> Secret:
        secret = self._get_client().get_secret(name, version)
        return Secret(
            value=secret.value or "",
            content_type=secret.properties.content_type,
            version=secret.properties.version or "",
        )

    def list_versions(self, name: str) -> list[SecretVersion]:
        """Every version, oldest first."""
        versions = [
            SecretVersion(version=p.version or "", enabled=bool(p.enabled), created_on=p.created_on)
            for p in self._get_client().list_properties_of_secret_versions(name)
        ]
        return sorted(versions, key=lambda v: (v.created_on is None, v.created_on or 0))
