"""The sandbox's SIP estate: one address map (`SipDirectory`) shared by the emulators, the Genesys
org's SIP listener, and the names the configuration uses mapped to the loopback listeners
(sandbox/README-sip.md, "Addresses").
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.audiocodes_tls import SipTlsListener
from sandbox.sip_genesys import GenesysSip
from sandbox.sip_wire import SipDirectory

if TYPE_CHECKING:
    from sandbox.audiocodes import AudioCodesEmulator
    from sandbox.genesys import GenesysEmulator
    from sandbox.twilio import TwilioEmulator

SIP_SETTINGS: dict[str, Any] = {
    # Which carrier address each loopback source stands for: Twilio's Ashburn and Umatilla edges
    # (one address of each signaling /30 in byoc/data/carrier_ranges.yaml's source, Twilio's IP
    # address page). 127.0.0.1 (the SBCs, byoc's probes) stands for itself.
    "public_by_loopback": {"127.0.0.2": "54.172.60.1", "127.0.0.3": "54.244.51.1"},
    # The Genesys org's region domain and each BYOC trunk base's Inbound SIP Termination
    # Identifier: the SBC reaches `<identifier>.byoc.<region>` (Genesys Resource Center, "Create
    # a BYOC Cloud trunk", Inbound tab).
    "genesys": {"region_domain": "mypurecloud.com",
                "inbound_identifiers": {"Twilio-BYOC": "byoc-sandbox"}},
}


def start_sip(twilio: TwilioEmulator, genesys: GenesysEmulator,
              sbcs: list[AudioCodesEmulator], settings: dict[str, Any] | None = None,
              ) -> tuple[SipDirectory, SipTlsListener]:
    """Wire the emulators' SIP sides together; returns the directory and the Genesys listener
    (the caller stops it)."""
    chosen = settings or SIP_SETTINGS
    directory = SipDirectory(public_by_loopback=dict(chosen["public_by_loopback"]))
    options = chosen["genesys"]
    sip = GenesysSip(genesys, region_domain=options["region_domain"],
                     identifiers=dict(options["inbound_identifiers"]))
    listener = SipTlsListener(lambda: sip.identity, lambda: "Genesys Cloud",
                              Path(tempfile.mkdtemp(prefix="byoc-genesys-sip-")), router=sip.serve)
    address = listener.start()
    genesys.sip = sip
    for identifier in sip.identifiers.values():
        directory.hosts[sip.host_for(identifier)] = (
            lambda transport, port: address if transport == "TLS" and port == 5061 else None)
    for sbc in sbcs:
        sbc.calls.directory = directory
        directory.hosts[sbc.fqdn.lower()] = sbc.calls.resolve
    twilio.calls.directory = directory
    return directory, listener
