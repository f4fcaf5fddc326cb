"""IP network arithmetic the carrier ranges and the NSG evaluation share: reading a network from
rule or settings text, containment across IP versions, and cutting networks out of others."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8192)
def parse_network(text: str) -> Network | None:
    """`text` as an IP network (host bits allowed), or None for a tag, `*` or anything else."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def network_within(inner: Network, outer: Network) -> bool:
    """Whether every address of `inner` is in `outer` (False across IP versions)."""
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def inside_any(network: Network, blocks: Iterable[Network]) -> bool:
    """Whether `network` lies wholly inside one of `blocks`."""
    return any(network_within(network, block) for block in blocks)


def subtract(pieces: Iterable[Network], cuts: Iterable[Network]) -> list[Network]:
    """`pieces` without any address in `cuts`."""
    result = list(pieces)
    for cut in cuts:
        next_pieces: list[Network] = []
        for piece in result:
            if piece.version != cut.version or not piece.overlaps(cut):
                next_pieces.append(piece)
            elif network_within(piece, cut):
                continue
            else:
                next_pieces.extend(_exclude(piece, cut))
        result = next_pieces
    return result


def _exclude(piece: Network, cut: Network) -> list[Network]:
    if isinstance(piece, ipaddress.IPv4Network) and isinstance(cut, ipaddress.IPv4Network):
        return list(piece.address_exclude(cut))
    if isinstance(piece, ipaddress.IPv6Network) and isinstance(cut, ipaddress.IPv6Network):
        return list(piece.address_exclude(cut))
    return [piece]


def collapsed(networks: Iterable[Network]) -> list[Network]:
    """The fewest networks covering exactly `networks` (IPv4 first)."""
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
