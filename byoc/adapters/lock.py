"""Single-flight per target: one blob lease per target, renewed while a sync runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from byoc.ports.storage import LockBusy as LockBusy
from byoc.ports.storage import LockLost as LockLost

if TYPE_CHECKING:
    from azure.storage.blob import BlobLeaseClient, ContainerClient

    from byoc.adapters.storage import StorageAccess


class TargetLease:
    """A held lease; `check()` raises LockLost once renewal has failed, or once the last renewal
    is so old that the lease may have run out (a stalled process, a renewal that hangs)."""

    def __init__(
        self,
        lease: BlobLeaseClient,
        target: str,
        renew_every_s: float,
        lease_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lease = lease
        self.target = target
        self._clock = clock
        # Trusted for the lease time less one renewal period (the renewal may be late that much).
        self._trusted_s = (lease_s if lease_s is not None else renew_every_s * 3) - renew_every_s
        self._renewed_at = clock()
        self._lost: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_loop, args=(renew_every_s,), daemon=True, name=f"lease-{target}"
        )
        self._thread.start()

    def _renew_loop(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            asked_at = self._clock()
            try:
                self._lease.renew()
            except Exception as exc:  # any failure means the lease is not ours
                self._lost = exc
                return
            self._renewed_at = asked_at

    def check(self) -> None:
        """Raise LockLost if the lease is no longer held, or may have expired."""
        if self._lost is not None:
            raise LockLost(f"lost the lease on {self.target}: {self._lost}")
        age = self._clock() - self._renewed_at
        if age > self._trusted_s:
            raise LockLost(
                f"the lease on {self.target} was last renewed {age:.0f} s ago and may have "
                "expired; stopping before the next write"
            )

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._lost is None:
            with suppress(Exception):  # it expires on its own within the lease time
                self._lease.release()


class BlobLeaseLocks:
    """Blob leases in a container, one blob per target."""

    def __init__(self, access: StorageAccess, container: str, lease_s: int = 30) -> None:
        self._access = access
        self._container_name = container
        self._lease_s = lease_s
        self._container: ContainerClient | None = None

    def _get_container(self) -> ContainerClient:
        if self._container is not None:
            return self._container
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient, ContainerClient

        kwargs = self._access.client_kwargs()
        if self._access.connection_string:
            container = ContainerClient.from_connection_string(
                self._access.connection_string, self._container_name, **kwargs
            )
        else:
            assert self._access.blob_uri is not None
            service = BlobServiceClient(
                self._access.blob_uri, credential=self._access.credential, **kwargs
            )
            container = service.get_container_client(self._container_name)
        with suppress(ResourceExistsError):
            container.create_container()
        self._container = container
        return container

    @contextmanager
    def hold(self, target: str) -> Iterator[TargetLease]:
        """Hold the target's lease for the block; LockBusy if another worker has it."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        blob = self._get_container().get_blob_client(target.replace(":", "-"))
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 412:  # a leased blob refuses the upload: it exists
                raise
        try:
            lease = blob.acquire_lease(lease_duration=self._lease_s)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                raise LockBusy(f"{target} is being synced by another worker") from None
            raise
        held = TargetLease(lease, target, renew_every_s=self._lease_s / 3, lease_s=self._lease_s)
        try:
            yield held
        finally:
            held.release()
