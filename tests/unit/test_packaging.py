"""Packaging: what byoc imports is declared, and the deployed function app needs no CLI package."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
CLI_PACKAGE = "byoc.entrypoints.cli"
CLI_MODULES = {"byoc.entrypoints.cli_output", "byoc.entrypoints.reports", "byoc.entrypoints.demo",
               "byoc.entrypoints.devhost", "byoc.entrypoints.console"}
CLI_ONLY_PACKAGES = ("typer", "rich", "croniter", "click", "sandbox")


def _declared(name: str) -> set[str]:
    return {Requirement(line).name.lower().replace("_", "-") for line in _requirements(name)}


def _requirements(name: str) -> list[str]:
    """The requirement lines of a pip requirements file (continuations joined, options dropped)."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    lines = [line.split(" --hash=", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _is_cli(module: str) -> bool:
    return module in CLI_MODULES or module == CLI_PACKAGE or module.startswith(CLI_PACKAGE + ".")


def _third_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "byoc"}


@functools.cache
def _packages() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(top_level: str) -> set[str]:
    dists = _packages().get(top_level, [])
    return {dist.lower().replace("_", "-") for dist in dists}


@pytest.mark.parametrize("module_set", ["runtime", "cli"])
def test_every_package_byoc_imports_is_declared(module_set: str) -> None:
    runtime = _declared("requirements.in")
    allowed = runtime if module_set == "runtime" else runtime | _declared("requirements-cli.txt")
    missing: dict[str, str] = {}
    for path in [*sorted((ROOT / "byoc").rglob("*.py")), ROOT / "function_app.py"]:
        if _is_cli(_module_name(path)) != (module_set == "cli"):
            continue
        for name in _third_party_imports(path):
            if name == "sandbox":
                assert module_set == "cli", f"{path} imports the sandbox, which is not shipped"
                continue
            if not _distributions(name) & allowed:
                missing[name] = str(path.relative_to(ROOT))
    assert not missing, f"imported but not declared in requirements*.txt: {missing}"


def test_the_function_app_loads_no_cli_package() -> None:
    """Importing function_app and every runtime module must not need typer, rich or croniter."""
    runtime = sorted(_module_name(p) for p in (ROOT / "byoc").rglob("*.py")
                     if not _is_cli(_module_name(p)))
    script = (
        "import importlib, json, sys\n"
        "import function_app\n"
        f"for name in {runtime!r}: importlib.import_module(name)\n"
        f"loaded = {{m.split('.')[0] for m in sys.modules}} | set(sys.modules)\n"
        f"cli = {{m for m in loaded if m == {CLI_PACKAGE!r} or m.startswith({CLI_PACKAGE + '.'!r})}}\n"
        f"print(json.dumps(sorted(loaded & set({(*CLI_ONLY_PACKAGES, *CLI_MODULES)!r}) | cli)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_cli_packages_are_not_deployed() -> None:
    assert not _declared("requirements.txt") & _declared("requirements-cli.txt")


def test_the_deployed_lock_pins_every_runtime_requirement_with_hashes() -> None:
    """requirements.txt (what Azure Functions installs) is requirements.in's lock: pip-compile
    --generate-hashes output, so every package, transitive ones included, is pinned and hashed."""
    locked = {Requirement(line).name.lower().replace("_", "-"): Requirement(line)
              for line in _requirements("requirements.txt")}
    for line in _requirements("requirements.in"):
        wanted = Requirement(line)
        name = wanted.name.lower().replace("_", "-")
        assert name in locked, f"{name} is in requirements.in but not in the lock; run pip-compile"
        assert locked[name].specifier == wanted.specifier, f"{name}: lock and requirements.in differ"
    joined = (ROOT / "requirements.txt").read_text().replace("\\\n", " ").splitlines()
    pins = [line for line in joined if "==" in line and not line.startswith("#")]
    assert pins and all("--hash=sha256:" in line for line in pins)
    assert all("==" in str(r.specifier) for r in locked.values())


def test_funcignore_leaves_out_the_cli_and_the_development_tree() -> None:
    ignored = {line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()}
    cli_files = {name.replace(".", "/") + ".py" for name in CLI_MODULES}
    cli_files.add(CLI_PACKAGE.replace(".", "/") + "/")
    development = {"tests/", "sandbox/", "benchmarks/", "docs/", ".venv/", "node_modules/", "infra/"}
    assert cli_files | development <= ignored
    assert not {"function_app.py", "host.json", "requirements.txt", "byoc/"} & ignored
