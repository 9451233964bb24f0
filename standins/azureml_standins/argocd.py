"""Argo CD, as far as the operator meets it: the health check argocd-cm carries for every kind, and
that check run the way Argo CD runs it.

`python -m azureml_standins.argocd` renders charts/azureml-operator/argocd/argocd-cm.yaml (an
`argocd-cm` ConfigMap to patch in) and argo-cd-values.yaml (the same entries as values of the argo-cd
Helm chart) from health/health.lua, one `resource.customizations.health.azureml.dev_<Kind>` entry
per kind the operator serves; `--check` only says whether they are stale (a unit test does too).

`Health` evaluates the script in a Lua 5.1 (lupa) fenced like Argo CD's gopher-lua: only the base
and table libraries, no string library (and so no string methods), no os, io, package or debug.

The chart folder is found from this source file, so both work from a checkout (an editable install),
which is where the scripts are edited.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azureml_operator.api import GROUP, KINDS

ROOT = Path(__file__).resolve().parents[2]
ARGOCD_DIR = ROOT / "charts" / "azureml-operator" / "argocd"
SOURCE = "charts/azureml-operator/argocd/health/health.lua"  # as the entries name it
SCRIPT = ROOT / SOURCE
CONFIGMAP = ARGOCD_DIR / "argocd-cm.yaml"
HELM_VALUES = ARGOCD_DIR / "argo-cd-values.yaml"
REGENERATE = "python -m azureml_standins.argocd"
STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})

# What gopher-lua's base library offers that a health check may use; Argo CD opens it, the table
# library, `package` and an os reduced to its clock functions (the last two are left out here: a
# health check has no use for them, and leaving them out proves it).
BASE = (
    "assert",
    "error",
    "getmetatable",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "rawequal",
    "rawget",
    "rawset",
    "select",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
)


def config_key(kind: str) -> str:
    return f"resource.customizations.health.{GROUP}_{kind}"


def kinds() -> list[str]:
    return [info.kind for info in KINDS]


def _block(text: str, indent: str) -> list[str]:
    """A YAML literal block's lines: `text` indented, empty lines left empty (no trailing blanks)."""
    if any(line != line.rstrip() for line in text.splitlines()):
        raise ValueError("the script has trailing whitespace: YAML would not keep it literally")
    if "\t" in text:
        raise ValueError("the script has tabs: indent it with spaces")
    return [f"{indent}{line}" if line else "" for line in text.splitlines()]


def deployed(script: str, kind: str) -> str:
    """The entry argocd-cm carries for `kind`: the script without its file header (which is about
    the repository), under one line saying what it is and where it comes from."""
    lines = script.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("--"):
        start += 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    first = f"-- azureml-operator: Argo CD health check for {GROUP}/{kind} ({SOURCE})\n"
    return first + "".join(lines[start:])


def _entries(script: str, names: Iterable[str], indent: str) -> list[str]:
    lines: list[str] = []
    for kind in names:
        lines.append(f"{indent}{config_key(kind)}: |")
        lines += _block(deployed(script, kind), indent + "  ")
    return lines


HEADER = (
    "# Generated from health/health.lua by `{command}`: edit the script, then regenerate",
    "# (a unit test fails while this file is stale). One entry per kind: Argo CD looks a health",
    "# check up by group and kind. How to install it: README.md beside this file.",
)


def render_configmap(script: str, names: Iterable[str]) -> str:
    lines = [h.format(command=REGENERATE) for h in HEADER]
    lines += [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: argocd-cm",
        "  namespace: argocd",
        "  labels:",
        "    app.kubernetes.io/name: argocd-cm",
        "    app.kubernetes.io/part-of: argocd",
        "data:",
        *_entries(script, names, "  "),
    ]
    return "\n".join(lines) + "\n"


def render_helm_values(script: str, names: Iterable[str]) -> str:
    lines = [h.format(command=REGENERATE) for h in HEADER]
    lines += [
        "# Values for the argo-cd Helm chart: `helm upgrade argocd argo/argo-cd -f argo-cd-values.yaml`",
        "# (with your own values files too; Helm merges the configs.cm maps).",
        "configs:",
        "  cm:",
        *_entries(script, names, "    "),
    ]
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    script = SCRIPT.read_text()
    names = kinds()
    return {CONFIGMAP: render_configmap(script, names), HELM_VALUES: render_helm_values(script, names)}


def stale() -> list[Path]:
    return [path for path, text in rendered().items() if not path.exists() or path.read_text() != text]


@dataclass(frozen=True)
class Assessment:
    status: str
    message: str


class Health:
    """The health script, loaded once into a fenced Lua 5.1 and run per object, as Argo CD does
    (Argo CD starts a new state per run; here each run gets fresh globals of its own)."""

    def __init__(self, script: str | None = None) -> None:
        from lupa import lua51

        self.script = SCRIPT.read_text() if script is None else script
        self.lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
        # Strings lose their methods, as in a gopher-lua state whose string library was not opened.
        self.lua.execute('getmetatable("").__index = nil')
        self._compile = self.lua.eval(
            "function(source) local chunk, error = loadstring(source, '=health.lua') return chunk, error end"
        )
        self._fence = self.lua.eval(
            """
            function(chunk, names, allowed, object)
              local env = { table = table }
              for _, name in ipairs(names) do env[name] = allowed[name] end
              env._G = env
              env.obj = object
              setfenv(chunk, env)
              local hs = chunk()
              return hs, env
            end
            """
        )
        self._allowed = self.lua.globals()
        self._names = self.lua.table_from(list(BASE))
        self._chunk, error = self._compile(self.script)
        if self._chunk is None:
            raise SyntaxError(f"health.lua does not compile: {error}")

    def _run(self, obj: Mapping[str, Any]) -> tuple[Any, Any]:
        """The script's result and its globals, run once on `obj` with globals of its own."""
        result: tuple[Any, Any] = self._fence(self._chunk, self._names, self._allowed, self.to_lua(obj))
        return result

    def to_lua(self, value: Any) -> Any:
        """A JSON value as Argo CD hands it to Lua: maps and lists become tables (lists from 1),
        null becomes nil (a map key is absent; in a list it is skipped, as gopher-lua's Append
        does), numbers stay numbers."""
        if isinstance(value, Mapping):
            table = self.lua.table()
            for key, item in value.items():
                if item is not None:
                    table[str(key)] = self.to_lua(item)
            return table
        if isinstance(value, list | tuple):
            table = self.lua.table()
            for i, item in enumerate((v for v in value if v is not None), start=1):
                table[i] = self.to_lua(item)
            return table
        return value

    def assess(self, obj: Mapping[str, Any]) -> Assessment:
        hs, _ = self._run(obj)
        if hs is None or self.lua.eval("type")(hs) != "table":
            raise TypeError(f"health.lua returned {hs!r}, not a table")
        status, message = hs["status"], hs["message"]
        if status not in STATUSES:
            raise ValueError(f"health.lua returned status {status!r}")
        if not isinstance(message, str):
            raise TypeError(f"health.lua returned message {message!r}")
        return Assessment(status, message)

    def reasons(self) -> dict[str, str]:
        """The script's REASONS table: each Ready reason it decides, and how."""
        _, env = self._run({})
        table = env["REASONS"]
        return {str(k): str(v) for k, v in table.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azureml_standins.argocd", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        for path in stale():
            print(f"{path} is stale: run `{REGENERATE}`")
        return 1 if stale() else 0
    for path, text in rendered().items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
