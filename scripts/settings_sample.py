"""Write local.settings.sample.json from `byoc.settings.Settings` (run: python scripts/settings_sample.py).

Each value is the field's example, else its default ("" when it has none); secrets stay empty.
`--check` exits 1 when the committed file differs from what Settings describes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from byoc.settings import SECRET_FIELDS  # noqa: E402
from byoc.settings_reference import settings_reference  # noqa: E402

SAMPLE = ROOT / "local.settings.sample.json"
COMMAND = "python scripts/settings_sample.py"
_SECRET_ENVS = {f"BYOC_{name.upper()}" for name in SECRET_FIELDS}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def render() -> str:
    """The sample file's text, as Settings describes it today."""
    values: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for row in settings_reference():
        env = row["env"]
        secret = env in _SECRET_ENVS
        values[env] = "" if secret else _text(row["example"] if row["example"] is not None
                                              else row["default"])
        prefix = "REQUIRED. " if row["required"] else ""
        if secret:
            prefix = "SECRET: leave empty, use the _SECRET_NAME setting. "
        descriptions[env] = (prefix + row["description"]).strip()
    values["FUNCTIONS_WORKER_RUNTIME"] = "python"
    descriptions["FUNCTIONS_WORKER_RUNTIME"] = "Azure Functions worker runtime (python)."
    sample = {
        "IsEncrypted": False,
        "Values": values,
        "Host": {"LocalHttpPort": 7071},
        "Descriptions": descriptions,
    }
    return json.dumps(sample, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the sample, or with `--check` say whether the committed one is current."""
    text = render()
    if "--check" in argv:
        if SAMPLE.read_text() != text:
            print(f"error: {SAMPLE.name} is out of date with byoc/settings.py; run `{COMMAND}`")
            return 1
        return 0
    SAMPLE.write_text(text)
    print(f"wrote {SAMPLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
