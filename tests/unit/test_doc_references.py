"""Every project document the repository cites exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A repository path such as docs/vendors/twilio.md; not a URL or another repository's path
# (`SDK:docs/DID.md`).
CITED = re.compile(r"(?<![\w/.:-])((?:docs|sandbox)/[\w./-]*?\.md)\b")
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".yaml", ".yml", ".json", ".bicep", ".txt", ".toml", ""} \
                and path.is_file():
            files.append(path)
    return files


def test_every_cited_project_document_exists() -> None:
    missing = set()
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        missing.update((cited, path.relative_to(ROOT).as_posix()) for cited in CITED.findall(text)
                       if not (ROOT / cited).is_file())
    assert sorted(missing) == []


def test_every_relative_markdown_link_resolves() -> None:
    missing = set()
    for path in _tracked_text_files():
        if path.suffix != ".md":
            continue
        for target in LINK.findall(path.read_text()):
            if "://" not in target and not (path.parent / target).resolve().is_file():
                missing.add((target, path.relative_to(ROOT).as_posix()))
    assert sorted(missing) == []
