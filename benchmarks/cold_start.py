"""Cold start of the function app: `import function_app` in a fresh interpreter.

Prints one line per run, then as its last line one JSON object:
{"import_s": <median seconds>, "rss_mb": <median MB>, "genesys_sdk_imported": <bool>,
 "baseline": {same figures for an eager import of every vendor SDK}}.
Targets: import_s < 0.5, rss_mb < 100, genesys_sdk_imported false.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import resource, sys, time
t = time.perf_counter()
{imports}
elapsed = time.perf_counter() - t
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(elapsed, rss_mb, 'PureCloudPlatformClientV2' in sys.modules)
"""

APP = "import function_app"
EAGER = """import function_app
import PureCloudPlatformClientV2, twilio.rest, azure.mgmt.network, azure.keyvault.secrets
import azure.storage.queue, azure.data.tables, azure.storage.blob, azure.identity"""


def measure(imports: str, runs: int) -> dict[str, object]:
    times, rss, genesys = [], [], False
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        rss.append(float(out[1]))
        genesys = genesys or out[2] == "True"
    return {"import_s": round(statistics.median(times), 3),
            "rss_mb": round(statistics.median(rss), 1), "genesys_sdk_imported": genesys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-c", EAGER], cwd=ROOT, check=True)  # warm the .pyc cache
    app = measure(APP, args.runs)
    print(f"function_app: {app}")
    baseline = measure(EAGER, max(3, args.runs // 2))
    print(f"eager import of every vendor SDK (baseline): {baseline}")
    print(json.dumps({**app, "baseline": baseline}))


if __name__ == "__main__":
    main()
