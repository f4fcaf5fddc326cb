"""AudioCodes Classification source-address patterns: the fewest patterns (digits, dots, `x` for
one digit, `*` for a whole octet) that match exactly an IPv4 network (`sbc_config` writes them)."""

from __future__ import annotations

import ipaddress


def address_patterns(cidr: str) -> tuple[str, ...]:
    """The fewest Classification source-address patterns matching exactly the IPv4 `cidr`; empty
    for IPv6 (the pattern is IPv4 dotted decimal).

    The manuals allow digits, dots and two wildcards only: `x` stands for one digit of an octet
    written without leading zeros (`10.8.8.xx` = .10 to .99) and `*` for a whole octet (0-255).
    An octet boundary is one pattern; any other prefix length becomes several rows, one per
    decimal block of the partial octet (`192.0.2.16/28`: 16, 17, 18, 19, 2x, 30, 31).
    """
    network = ipaddress.ip_network(cidr, strict=False)
    if not isinstance(network, ipaddress.IPv4Network):
        return ()
    octets = str(network.network_address).split(".")
    whole, rest = divmod(network.prefixlen, 8)
    if whole == 4:
        return (str(network.network_address),)
    low = int(octets[whole])
    high = low + (1 << (8 - rest)) - 1
    head = octets[:whole]
    tail = ["*"] * (3 - whole)
    return tuple(".".join([*head, part, *tail]) for part in octet_patterns(low, high))


def octet_patterns(low: int, high: int) -> list[str]:
    """The fewest octet patterns (digits, trailing `x`, or `*`) whose union is low..high."""
    candidates = _OCTET_PATTERNS
    patterns: list[str] = []
    covered = low - 1
    while covered < high:
        start = covered + 1
        best = max(
            ((b, text) for text, a, b in candidates if a <= start <= b and a >= low and b <= high),
            key=lambda item: item[0],
        )
        patterns.append(best[1])
        covered = best[0]
    return patterns


def _octet_candidates() -> list[tuple[str, int, int]]:
    """(pattern, first, last) of every octet pattern that matches a contiguous range."""
    found = [("*", 0, 255)]
    for length in (1, 2, 3):
        for wild in range(length + 1):
            fixed = length - wild
            starts = range(10 ** (fixed - 1) if fixed > 1 or (fixed == 1 and length > 1) else 0,
                           10 ** fixed) if fixed else range(1)
            for value in starts:
                digits = str(value) if fixed else ""
                if fixed and len(digits) != fixed:
                    continue
                text = digits + "x" * wild
                first = int(digits or "0") * 10 ** wild
                last = first + 10 ** wild - 1
                if not fixed:  # all wildcards: the numbers of that many digits
                    first, last = (0 if length == 1 else 10 ** (length - 1)), 10 ** length - 1
                last = min(last, 255)
                if first <= last:
                    found.append((text, first, last))
    return found


_OCTET_PATTERNS = _octet_candidates()
