"""Where the routing policy YAML lives: a file path, or a blob URL read with the app's identity."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class PolicyUnavailable(Exception):
    """The policy could not be read; nothing is applied."""


def read_policy_text(
    location: str, *, credential: TokenCredential | None = None, ca_bundle: str | None = None
) -> tuple[str, str]:
    """(text, version) of the policy; the version changes when the content may have changed."""
    if location.startswith("https://"):
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobClient

        kwargs: dict[str, Any] = {"connection_verify": ca_bundle} if ca_bundle else {}
        try:
            blob = BlobClient.from_blob_url(location, credential=credential, **kwargs)
            download = blob.download_blob()
            etag = str(download.properties.etag)
            return download.readall().decode("utf-8"), etag
        except (AzureError, UnicodeDecodeError) as exc:
            raise PolicyUnavailable(f"cannot read the policy blob {location}: {exc}") from None
    path = Path(location)
    try:
        stat = path.stat()
        return path.read_text(encoding="utf-8"), f"{stat.st_mtime_ns}:{stat.st_size}"
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyUnavailable(
            f"cannot read the policy file {os.fspath(path.resolve())}: {exc}"
        ) from None
