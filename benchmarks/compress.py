"""Benchmark: AudioCodes prefix compression of 100,000 numbers in 1,000 blocks.

Blocks of 100 numbers start at random (unaligned) offsets in +1415 555…; one gap in ten is zero, so
some blocks join their neighbour, and many blocks cross an exchange boundary. Prints figures, then
as its last line one JSON object: {"numbers", "compress_s" (median of 5 runs), "prefixes"}.

Run: python benchmarks/compress.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from byoc.domain.dialplan import expand_prefix
from byoc.domain.numbers import NumberSet
from byoc.domain.prefix_compression import compress_to_prefixes

BLOCKS = 1_000
BLOCK_SIZE = 100
RUNS = 5
BASE = 14155550000  # +1 415 555 0000


def build_numbers(seed: int = 20240601) -> list[str]:
    rng = random.Random(seed)
    numbers: list[str] = []
    offset = 0
    for _ in range(BLOCKS):
        offset += 0 if rng.random() < 0.1 else rng.randint(1, 700)
        numbers.extend(f"+{BASE + offset + i}" for i in range(BLOCK_SIZE))
        offset += BLOCK_SIZE
    return numbers


def main() -> None:
    numbers = build_numbers()

    started = time.perf_counter()
    number_set = NumberSet.from_e164(numbers)
    from_e164_s = time.perf_counter() - started

    started = time.perf_counter()
    runs = number_set.contiguous_runs()
    runs_s = time.perf_counter() - started

    timings: list[float] = []
    prefixes: list[str] = []
    for _ in range(RUNS):
        fresh = NumberSet.from_e164(numbers)  # no cached sort or runs from an earlier round
        started = time.perf_counter()
        prefixes = compress_to_prefixes(fresh)
        timings.append(time.perf_counter() - started)

    covered: set[str] = set()
    for prefix in prefixes:
        covered |= expand_prefix(prefix)
    exact = covered == set(numbers)

    print(f"numbers: {len(number_set)} in {BLOCKS} blocks of {BLOCK_SIZE}")
    print(f"from_e164: {from_e164_s:.3f} s; contiguous_runs: {runs_s:.3f} s -> {len(runs)} runs")
    print(f"compress runs (s): {', '.join(f'{t:.3f}' for t in timings)}")
    print(f"longest prefix: {max(map(len, prefixes))} chars; examples: {prefixes[:3]}")
    print(f"expanded prefixes equal the set: {exact}")
    if not exact:
        raise SystemExit("compression is not exact")
    print(
        json.dumps(
            {
                "numbers": len(number_set),
                "compress_s": round(statistics.median(timings), 4),
                "prefixes": len(prefixes),
            }
        )
    )


if __name__ == "__main__":
    main()
