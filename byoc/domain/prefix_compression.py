"""Compressing number sets into AudioCodes dial-plan prefixes (the grammar itself, and what a
prefix matches, are in `byoc.domain.dialplan`).

AudioCodes prefixes (vendor notes, docs/vendors/audiocodes.md section 2, and the Mediant user
manuals' Dial Plan Rule table), and the choices made here:

- A dial-plan prefix matches every number that *starts* with it. Each prefix emitted here therefore
  ends with `#`, which marks the end of the number: `+14155551xxx#` matches the 1,000 numbers
  +14155551000..+14155551999 and nothing longer (without `#` it would also match +141555510001).
  The `#` counts towards the 50-character limit of the Prefix field.
- Emitted shapes: `+<digits>#` (one number), `+<digits>x…x#` (an aligned block),
  `+<digits>[<items>]x…x#` where the items are single numbers or ranges of equal digit count,
  e.g. `+1415555[1000-1234,1300,1400-1499]#` or `+1415555[10,12]xx#`. Items may have leading zeros
  (`[01-99]`): the manuals define ranges by digit count, not by value.
- A "number group" is one item of a bracket list, as in the manual's example
  `[120-125,150,160-164,170,200,210-215]` (six groups). At most 6 per prefix: stricter than counting
  bracket pairs, so both readings of the limit hold.
- `x` after a bracket list (`[10,12]xx#`) relies on the manuals defining `x` as any digit wherever
  it stands; their own examples only show lists after digits and `x` (`23xx[456]`). Verify on a real
  SBC along with the next point.
- `+` is matched as a literal character. The vendor notes list that as unverified: check on a real
  SBC that numbers reach the dial plan with their `+` (otherwise strip it in the SBC adapter).

Compression (`compress_to_prefixes`): numbers are grouped by length and cut into contiguous runs;
runs, in ascending order, are packed into prefixes by dynamic programming over windows of at most
6 consecutive runs, minimising the number of prefixes, then their total length. One contiguous run
is always exactly one prefix; a set of runs gets the fewest prefixes of the shape above among
packings of consecutive runs. Interleaving the runs of two prefixes can occasionally save one
(about 0.7 % of random sets of 2-7 runs of long numbers spread wide); that is not searched. Not
emitted: several bracket lists in one prefix (`+1415[555,556][1000-1099]#`), which could save
prefixes when the same block repeats across exchanges.
"""

from __future__ import annotations

from typing import Final

from byoc.domain.number_ranges import NumberRanges, Ranges
from byoc.domain.numbers import NumberSet

__all__ = [
    "END_OF_NUMBER",
    "MAX_NUMBER_GROUPS",
    "MAX_PREFIX_CHARS",
    "compress_to_prefix_ranges",
    "compress_to_prefixes",
]

MAX_PREFIX_CHARS: Final = 50
MAX_NUMBER_GROUPS: Final = 6
END_OF_NUMBER: Final = "#"


def compress_to_prefixes(
    numbers: NumberSet,
    *,
    max_chars: int = MAX_PREFIX_CHARS,
    max_groups: int = MAX_NUMBER_GROUPS,
) -> list[str]:
    """The fewest AudioCodes dial-plan prefixes matching exactly `numbers` (see module notes).

    Every prefix ends with `#`, has at most `max_chars` characters and at most `max_groups` number
    groups; prefixes are in ascending order of the numbers they match.
    """
    return [prefix for prefix, _ in compress_to_prefix_ranges(
        numbers, max_chars=max_chars, max_groups=max_groups
    )]


def compress_to_prefix_ranges(
    numbers: NumberSet,
    *,
    max_chars: int = MAX_PREFIX_CHARS,
    max_groups: int = MAX_NUMBER_GROUPS,
) -> list[tuple[str, NumberRanges]]:
    """The prefixes of `compress_to_prefixes`, each with the numbers it matches (not expanded)."""
    packed: list[tuple[str, NumberRanges]] = []
    for _, width, runs in numbers.ranges().groups():  # one group per length, in order
        for prefix, start, end in _pack_runs(width, runs, max_chars, max_groups):
            # Maximal runs of one length: already sorted, disjoint and not adjacent.
            packed.append((prefix, NumberRanges.from_groups({("+", width): runs[start:end]})))
    return packed


def _alignment(width: int, lo: int, hi: int) -> int:
    """The largest k <= width with lo and hi + 1 both multiples of 10**k."""
    k = 0
    while k < width and lo % 10 ** (k + 1) == 0 and (hi + 1) % 10 ** (k + 1) == 0:
        k += 1
    return k


def _pack_runs(
    width: int, runs: Ranges, max_chars: int, max_groups: int
) -> list[tuple[str, int, int]]:
    """Pack consecutive runs of `width`-digit numbers into the fewest prefixes (DP over windows).

    Returns each prefix with the slice of `runs` (start, end) it matches.

    A window of runs becomes `+P[items]x…x#`: P is the digits all its numbers share (width - w of
    them), k trailing digits are `x` when every run is aligned to 10**k, and a run that is exactly
    one aligned block of 10**k numbers is a single item, any other a range.
    """
    count = len(runs)
    window_limit = max(1, max_groups)
    powers = [10**i for i in range(width + 2)]
    los = [lo for lo, _ in runs]
    his = [hi for _, hi in runs]
    alignments = [_alignment(width, lo, hi) for lo, hi in runs]
    exact = [hi - lo + 1 == powers[k] for (lo, hi), k in zip(runs, alignments, strict=True)]
    best_count = [0] + [count + 1] * count
    best_chars = [0] * (count + 1)
    choice: list[tuple[int, int, int]] = [(0, 0, 0)] * (count + 1)  # (window start, w, k)
    for end in range(1, count + 1):
        last = his[end - 1]
        varying = 0  # w: trailing digits not shared by every number of the window
        k = width
        singles = 0  # items that are one aligned block of 10**k numbers
        for start in range(end - 1, max(-1, end - 1 - window_limit), -1):
            lo = los[start]
            while lo // powers[varying] != last // powers[varying]:
                varying += 1
            run_k = alignments[start]
            if run_k < k:
                k, singles = run_k, exact[start]
            elif run_k == k:
                singles += exact[start]
            items = end - start
            if items == 1 and singles:
                chars, groups = width + 2, 0  # "+", digits and x…x, "#"
            else:
                item_width = varying - k
                chars = (  # "+", P, "[", items and commas, "]", x…x, "#"
                    width
                    - varying
                    + k
                    + 4
                    + singles * item_width
                    + (items - singles) * (2 * item_width + 1)
                    + items
                    - 1
                )
                groups = items
            if chars > max_chars or groups > max_groups:
                break  # a wider window only needs more characters and groups
            total = best_count[start] + 1
            if total < best_count[end] or (
                total == best_count[end] and best_chars[start] + chars < best_chars[end]
            ):
                best_count[end] = total
                best_chars[end] = best_chars[start] + chars
                choice[end] = (start, varying, k)
        if best_count[end] > count:
            raise ValueError(
                f"numbers +{los[end - 1]:0{width}d}..+{last:0{width}d} cannot be written as one "
                f"dial-plan prefix within {max_chars} characters and {max_groups} number groups"
            )

    prefixes: list[tuple[str, int, int]] = []
    end = count
    while end > 0:
        start, varying, k = choice[end]
        prefixes.append((_render(width, runs[start:end], varying, k), start, end))
        end = start
    prefixes.reverse()
    return prefixes


def _render(width: int, runs: Ranges, varying: int, k: int) -> str:
    item_width = varying - k
    space = 10**varying
    scale = 10**k
    items = [((lo % space) // scale, (hi % space) // scale) for lo, hi in runs]

    def digits(value: int) -> str:
        return f"{value:0{item_width}d}" if item_width else ""

    if len(items) == 1 and items[0][0] == items[0][1]:
        body = digits(items[0][0])
    else:
        listed = (digits(lo) if lo == hi else f"{digits(lo)}-{digits(hi)}" for lo, hi in items)
        body = f"[{','.join(listed)}]"
    shared = f"{runs[0][0]:0{width}d}"[: width - varying]
    return f"+{shared}{body}{'x' * k}{END_OF_NUMBER}"
