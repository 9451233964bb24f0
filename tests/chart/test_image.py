"""The container image, without a Docker engine: the Dockerfile agrees with the chart (user) and the
package (entry point, subcommand), installs offline from its own wheels, and the wheel its build
stage makes from the files it copies holds everything the operator needs at run time."""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from chart_helpers import CHART, ROOT

from azureml_operator import cli

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(dockerfile: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        word, _, rest = (pending + stripped).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def only(stage: list[tuple[str, str]], word: str) -> str:
    [args] = [a for w, a in stage if w == word]
    return args


def test_two_stages_on_the_same_slim_python() -> None:
    build, final = stages()
    assert only(build, "FROM") == "python:3.12-slim AS build"
    assert only(final, "FROM") == "python:3.12-slim"
    assert PYPROJECT["project"]["requires-python"] == ">=3.12"


def test_the_image_runs_as_the_charts_user() -> None:
    final = stages()[-1]
    values = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert only(final, "USER") == f"{values['runAsUser']}:{values['runAsGroup']}" == "65532:65532"
    assert values["runAsNonRoot"] is True  # which needs the numeric USER above to be checkable
    # HOME is in the chart's writable emptyDir (the root filesystem is read-only).
    assert "HOME=/tmp" in only(final, "ENV").split()


def test_the_entry_point_is_the_console_script(capsys: pytest.CaptureFixture[str]) -> None:
    final = stages()[-1]
    entrypoint = json.loads(only(final, "ENTRYPOINT"))
    command = json.loads(only(final, "CMD"))
    assert entrypoint == ["azureml-operator"]
    assert PYPROJECT["project"]["scripts"] == {"azureml-operator": "azureml_operator.cli:main"}
    # The default command is one the CLI takes (--help stops before anything runs).
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    assert "--all-namespaces" in capsys.readouterr().out


def test_the_final_stage_installs_only_the_build_stages_wheels() -> None:
    build, final = stages()
    wheels = only(build, "RUN")
    assert wheels.startswith("pip wheel ") and "--wheel-dir /wheels ." in wheels and "--no-deps" not in wheels
    [install, _user] = [a for w, a in final if w == "RUN"]
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in install
    assert "pip install --no-cache-dir --no-index --find-links /wheels azureml-operator" in install
    assert "python -m compileall" in install
    # Bytecode is compiled at build time, never written at run time (a read-only root).
    assert "PYTHONDONTWRITEBYTECODE=1" in only(final, "ENV").split()
    assert not [w for w, _ in final if w in ("ADD", "COPY")]  # nothing but the wheels reaches it


def build_context() -> list[str]:
    """What the build stage copies from the context."""
    sources = []
    for word, args in stages()[0]:
        if word == "COPY":
            *srcs, _dest = args.split()
            sources += srcs
    return sources


def ignored(path: str) -> bool:
    """.dockerignore's verdict on a context path: the last pattern that matches wins."""
    verdict = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, pattern.removeprefix("**/")) for c in candidates
        ):
            verdict = not negate
    return verdict


def test_the_build_context_is_what_the_build_copies() -> None:
    assert build_context() == ["pyproject.toml", "README.md", "operator"]
    for source in build_context():
        assert (ROOT / source).exists(), source
        assert not ignored(source), source
    assert not ignored("operator/azureml_operator/cli.py")
    for kept_out in (
        "standins/pyproject.toml",
        "tests/conftest.py",
        "charts/azureml-operator/Chart.yaml",
        ".venv",
    ):
        assert ignored(kept_out), kept_out
    assert ignored("operator/azureml_operator/__pycache__/cli.cpython-312.pyc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's wheel, built as the Dockerfile's build stage builds it: from a directory
    holding only what that stage copies (offline: no build isolation, no index)."""
    context = tmp_path_factory.mktemp("context")
    for source in build_context():
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(src, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, context / source)
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            ".",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
        ],
        cwd=context,
        check=True,
        capture_output=True,
    )
    [built] = out.glob("azureml_operator-*.whl")
    return built


def test_the_wheel_holds_the_package_and_its_data(wheel: Path) -> None:
    assert wheel.name == f"azureml_operator-{PYPROJECT['project']['version']}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "operator"
    modules = {str(p.relative_to(package)) for p in (package / "azureml_operator").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    # The only data file: py.typed (the operator reads no other file from its package at run time).
    data = {n for n in names if n.startswith("azureml_operator/") and not n.endswith(".py")}
    assert data == {"azureml_operator/py.typed"}
    assert not [n for n in names if n.startswith(("azureml_standins", "tests", "charts"))]


def test_the_wheel_declares_the_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [entry_points] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parsed = configparser.ConfigParser()
        parsed.read_string(archive.read(entry_points).decode())
        metadata = archive.read(entry_points.replace("entry_points.txt", "METADATA")).decode()
    assert dict(parsed["console_scripts"]) == {"azureml-operator": "azureml_operator.cli:main"}
    assert "Requires-Python: >=3.12" in metadata
    # Every runtime dependency is declared (and no test-only one), so the build stage's
    # `pip wheel .` makes a wheel of each and the final stage needs nothing else.
    declared = {
        re.split(r"[<>=!~\[; ]", line.removeprefix("Requires-Dist: "))[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    }
    assert declared == {re.split(r"[<>=!~\[; ]", r)[0].lower() for r in PYPROJECT["project"]["dependencies"]}
