"""Port to the SIP OPTIONS prober the health check sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from byoc.adapters.sip import ProbeResult, ProbeTarget


class SipProber(Protocol):
    """One SIP OPTIONS transaction; never raises for network conditions (`byoc.adapters.sip.probe`)."""

    async def __call__(
        self,
        target: ProbeTarget,
        *,
        timeout_s: float,
        timer_scale: float = 1.0,
        ca_bundle: str | None = None,
    ) -> ProbeResult: ...
