"""How byoc reaches its storage account: a connection string (Azurite) or identity-based URIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from byoc.settings import Settings


@dataclass(frozen=True)
class StorageAccess:
    """Connection details shared by the queue, table and blob adapters."""

    connection_string: str | None
    queue_uri: str | None
    table_uri: str | None
    blob_uri: str | None
    credential: TokenCredential | None
    api_version: str | None

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | None) -> StorageAccess:
        conn = settings.storage_connection_string
        return cls(
            connection_string=conn.get_secret_value() if conn else None,
            queue_uri=settings.storage_queue_uri,
            table_uri=settings.storage_table_uri,
            blob_uri=settings.storage_blob_uri,
            credential=None if conn else credential,
            api_version=settings.storage_api_version,
        )

    def client_kwargs(self) -> dict[str, Any]:
        return {"api_version": self.api_version} if self.api_version else {}
