"""The Argo CD health check (charts/azureml-operator/argocd/): the entries argocd-cm carries are the
script, one per kind; run in a Lua 5.1 fenced like Argo CD's, they give the health each fixture of
tests/unit/argocd/health_test.yaml expects, decide every reason conditions.py has, and survive any
shape of object."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from azureml_operator.api import GROUP, KINDS, VERSION
from azureml_operator.conditions import TRANSIENT, Reason
from azureml_standins import argocd

FIXTURES = Path(__file__).parent / "argocd"
TESTS = yaml.safe_load((FIXTURES / "health_test.yaml").read_text())["tests"]
KIND_NAMES = [info.kind for info in KINDS]

# The decisions the script must make; everything else conditions.py lists is terminal unless
# TRANSIENT names it.
READY_REASONS = {Reason.SUCCEEDED, Reason.NOT_REQUIRED}
PAUSED_REASONS = {Reason.RECONCILE_SKIPPED}
# Reasons the script decides before any kind reports them (a rollout kind that pauses).
RESERVED = {"RolloutPaused": "paused"}


@cache
def entries() -> dict[str, str]:
    """The committed argocd-cm.yaml's health check for each kind."""
    data = yaml.safe_load(argocd.CONFIGMAP.read_text())["data"]
    prefix = f"resource.customizations.health.{GROUP}_"
    return {key.removeprefix(prefix): script for key, script in data.items() if key.startswith(prefix)}


@cache
def health(kind: str) -> argocd.Health:
    return argocd.Health(entries()[kind])


@cache
def source() -> argocd.Health:
    return argocd.Health()


def condition(
    status: str, reason: str, message: str = "said so", generation: int | None = 1
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-10T09:00:00Z",
    }
    if generation is not None:
        c["observedGeneration"] = generation
    return c


def obj(
    kind: str = "ServerlessEndpoint",
    *,
    generation: int | None = 1,
    status: Any = None,
    annotations: dict[str, str] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "ml"}
    if generation is not None:
        meta["generation"] = generation
    if annotations is not None:
        meta["annotations"] = annotations
    if deleting:
        meta["deletionTimestamp"] = "2025-01-10T11:00:00Z"
        meta["finalizers"] = ["azureml.dev/finalizer"]
    o: dict[str, Any] = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": meta, "spec": {}}
    if status is not None:
        o["status"] = status
    return o


def with_ready(c: dict[str, Any], kind: str = "ServerlessEndpoint", observed: int = 1) -> dict[str, Any]:
    return obj(kind, status={"observedGeneration": observed, "conditions": [c]})


def assess(o: Any, kind: str | None = None) -> tuple[str, str]:
    kind = kind or (o or {}).get("kind", "ServerlessEndpoint")
    a = health(kind).assess(o)
    return a.status, a.message


# -- what is shipped is the script, for every kind ---------------------------------------------


def test_generated_files_are_fresh() -> None:
    assert argocd.stale() == [], f"regenerate: {argocd.REGENERATE}"


def test_argocd_cm_has_one_entry_per_kind_each_the_script() -> None:
    script = argocd.SCRIPT.read_text()
    cm = yaml.safe_load(argocd.CONFIGMAP.read_text())
    assert (cm["apiVersion"], cm["kind"], cm["metadata"]["name"]) == ("v1", "ConfigMap", "argocd-cm")
    assert sorted(entries()) == sorted(KIND_NAMES)
    assert len(cm["data"]) == len(KIND_NAMES), "only health checks: no other Argo CD setting is changed"
    for kind, entry in entries().items():
        assert entry == argocd.deployed(script, kind)
        assert entry.splitlines()[0] == (
            f"-- azureml-operator: Argo CD health check for azureml.dev/{kind} "
            "(charts/azureml-operator/argocd/health/health.lua)"
        )
        # The body is the script's, from its first statement on: nothing of it is lost.
        assert script.endswith(entry.split("\n", 1)[1])
    values = yaml.safe_load(argocd.HELM_VALUES.read_text())
    assert values == {"configs": {"cm": cm["data"]}}


def test_a_change_to_the_script_makes_the_files_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = tmp_path / "health.lua"
    changed.write_text(argocd.SCRIPT.read_text().replace('"Pending deletion"', '"Deleting"'))
    monkeypatch.setattr(argocd, "SCRIPT", changed)
    assert sorted(argocd.stale()) == sorted([argocd.CONFIGMAP, argocd.HELM_VALUES])


# -- the fixtures, in Argo CD's health_test.yaml format ---------------------------------------


@pytest.mark.parametrize("test", TESTS, ids=[t["inputPath"] for t in TESTS])
def test_fixture(test: dict[str, Any]) -> None:
    o = yaml.safe_load((FIXTURES / test["inputPath"]).read_text())
    assert o["kind"] in KIND_NAMES
    assert assess(o) == (test["healthStatus"]["status"], test["healthStatus"]["message"])


def test_fixtures_cover_every_kind_and_every_health_and_none_is_unused() -> None:
    used = {t["inputPath"] for t in TESTS}
    on_disk = {p.relative_to(FIXTURES).as_posix() for p in (FIXTURES / "testdata").glob("*.yaml")}
    assert used == on_disk
    kinds = {yaml.safe_load((FIXTURES / p).read_text())["kind"] for p in used}
    assert kinds == set(KIND_NAMES)
    statuses = {t["healthStatus"]["status"] for t in TESTS}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}


# -- every reason conditions.py has is decided ------------------------------------------------


def expected_class(reason: Reason) -> str:
    if reason in READY_REASONS:
        return "ready"
    if reason in PAUSED_REASONS:
        return "paused"
    return "transient" if reason in TRANSIENT else "terminal"


def test_the_script_decides_every_reason_and_no_other() -> None:
    decided = source().reasons()
    missing = sorted(r.value for r in Reason if r.value not in decided)
    assert not missing, f"conditions.py has reasons health.lua does not decide: {missing}"
    unknown = sorted(set(decided) - {r.value for r in Reason} - set(RESERVED))
    assert not unknown, f"health.lua decides reasons conditions.py does not have: {unknown}"
    assert {r.value: decided[r.value] for r in Reason} == {r.value: expected_class(r) for r in Reason}
    assert {k: decided[k] for k in RESERVED} == RESERVED


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_ready_false_with_each_reason(reason: Reason) -> None:
    expected = {"paused": "Suspended", "transient": "Progressing"}.get(expected_class(reason), "Degraded")
    assert assess(with_ready(condition("False", reason.value, "why"))) == (expected, f"{reason.value}: why")


@pytest.mark.parametrize("reason", sorted(READY_REASONS), ids=str)
def test_ready_true_is_healthy(reason: Reason) -> None:
    assert assess(with_ready(condition("True", reason.value, "done"))) == ("Healthy", f"{reason.value}: done")


def test_a_reason_the_script_does_not_know_follows_the_operators_rule() -> None:
    # Not listed as transient, so it needs a person: as the operator's Warning Event says.
    assert assess(with_ready(condition("False", "SomethingNew", "x"))) == ("Degraded", "SomethingNew: x")
    assert assess(with_ready(condition("True", "SomethingNew", "x"))) == ("Healthy", "SomethingNew: x")
    assert assess(with_ready(condition("Unknown", "SomethingNew", "x"))) == ("Progressing", "SomethingNew: x")


def test_ready_unknown_is_progressing_unless_skipped() -> None:
    assert assess(with_ready(condition("Unknown", "Deleting", "gone"))) == ("Progressing", "Deleting: gone")
    skipped = condition("Unknown", "ReconcileSkipped", "skip")
    assert assess(with_ready(skipped)) == ("Suspended", "ReconcileSkipped: skip")


# -- every kind, every branch --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_kind_goes_from_nothing_to_healthy_and_back_on_an_edit(kind: str) -> None:
    assert assess(obj(kind)) == ("Progressing", "Waiting for the operator to report a status")
    assert assess(obj(kind, status={})) == ("Progressing", "Waiting for the operator to report a status")
    no_ready = ("Progressing", "Waiting for the operator to report a Ready condition")
    assert assess(obj(kind, status={"observedGeneration": 1})) == no_ready
    assert assess(obj(kind, status={"observedGeneration": 1, "conditions": []})) == no_ready
    other = {**condition("True", "Succeeded"), "type": "Synced"}
    assert assess(obj(kind, status={"observedGeneration": 1, "conditions": [other]})) == no_ready

    ready = condition("True", "Succeeded", "ok")
    healthy = obj(kind, status={"observedGeneration": 1, "conditions": [other, ready]})
    assert assess(healthy) == ("Healthy", "Succeeded: ok")

    edited = copy.deepcopy(healthy)
    edited["metadata"]["generation"] = 2
    assert assess(edited) == (
        "Progressing",
        "Waiting for the operator to observe generation 2 (status is of generation 1)",
    )
    edited["status"]["observedGeneration"] = 2
    assert assess(edited) == (
        "Progressing",
        "Waiting for the operator to observe generation 2 (Ready is of generation 1)",
    )
    edited["status"]["conditions"][1]["observedGeneration"] = 2
    assert assess(edited) == ("Healthy", "Succeeded: ok")


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_kind_is_suspended_by_skip_and_progressing_while_deleted(kind: str) -> None:
    ready = {"observedGeneration": 1, "conditions": [condition("False", "Conflict", "not ours")]}
    skip = {"azureml.dev/reconcile-policy": "skip"}
    assert assess(obj(kind, annotations=skip)) == (
        "Suspended",
        "azureml.dev/reconcile-policy is skip: the operator does not touch Azure for this object",
    )
    assert assess(obj(kind, annotations=skip, status=ready))[0] == "Suspended"
    # A stale generation does not matter: the operator will not act on it.
    assert assess(obj(kind, annotations=skip, generation=7, status=ready))[0] == "Suspended"
    assert assess(obj(kind, annotations={"azureml.dev/reconcile-policy": "detach"}, status=ready)) == (
        "Degraded",
        "Conflict: not ours",
    )
    assert assess(obj(kind, deleting=True)) == ("Progressing", "Pending deletion")
    assert assess(obj(kind, deleting=True, annotations=skip, status=ready)) == (
        "Progressing",
        "Pending deletion",
    )
    blocked = {"observedGeneration": 2, "conditions": [condition("False", "DeletionBlocked", "fix it", 2)]}
    assert assess(obj(kind, deleting=True, generation=2, status=blocked)) == (
        "Degraded",
        "DeletionBlocked: fix it",
    )


def test_skip_is_recognised_only_as_written_until_the_operator_reports_it() -> None:
    # No string library in Argo CD's Lua: " Skip " cannot be normalised; the operator does, and its
    # ReconcileSkipped then makes it Suspended.
    loose = obj(annotations={"azureml.dev/reconcile-policy": " Skip "}, status={"observedGeneration": 1})
    assert assess(loose)[0] == "Progressing"
    loose["status"]["conditions"] = [condition("Unknown", "ReconcileSkipped", "skip")]
    assert assess(loose) == ("Suspended", "ReconcileSkipped: skip")


def test_a_deletion_reports_the_operators_deletion_reasons_only() -> None:
    deleting = obj(deleting=True, generation=2, status={"observedGeneration": 2, "conditions": []})
    deleting["status"]["conditions"] = [condition("False", "Deleting", "in Azure", 2)]
    assert assess(deleting) == ("Progressing", "Pending deletion: Deleting: in Azure")
    deleting["status"]["conditions"] = [condition("True", "Succeeded", "from before", 1)]
    assert assess(deleting) == ("Progressing", "Pending deletion")


# -- whatever the object looks like ----------------------------------------------------------


ODD = [
    (None, ("Unknown", "No object to assess")),
    ({}, ("Progressing", "Waiting for the operator to report a status")),
    (
        {"kind": "Workspace", "status": "weird"},
        ("Progressing", "Waiting for the operator to report a status"),
    ),
    (
        {"metadata": "weird", "status": {"conditions": "weird"}},
        ("Progressing", "Waiting for the operator to report a Ready condition"),
    ),
    (
        {"status": {"conditions": [None, "Ready", 3, {"type": "Ready"}]}},
        ("Progressing", "Waiting for metadata.generation, to compare status.observedGeneration with"),
    ),
    (
        {"metadata": {"generation": 1}, "status": {"conditions": {"type": "Ready"}}},
        ("Progressing", "Waiting for the operator to report a Ready condition"),
    ),
    (with_ready({"type": "Ready", "status": "True"}), ("Healthy", "Ready is True")),
    (
        with_ready({"type": "Ready", "status": "False", "reason": "", "message": ""}),
        ("Degraded", "Ready is False"),
    ),
    (with_ready({"type": "Ready", "status": "False", "reason": 42}), ("Degraded", "Ready is False")),
    (with_ready({"type": "Ready", "reason": "Creating"}), ("Progressing", "Creating")),
    (with_ready(condition("Maybe", "Creating", "")), ("Progressing", "Creating")),
    (with_ready(condition("True", "Succeeded", "ok", generation=None)), ("Healthy", "Succeeded: ok")),
    (
        obj(status={"conditions": [condition("True", "Succeeded")]}),
        ("Progressing", "Waiting for the operator to observe generation 1"),
    ),
    (
        {**with_ready(condition("True", "Succeeded", "ok")), "metadata": {"generation": "1"}},
        ("Healthy", "Succeeded: ok"),
    ),
    (
        obj(annotations={}, status={"observedGeneration": 1, "conditions": [condition("True", "Succeeded")]}),
        ("Healthy", "Succeeded: said so"),
    ),
    (
        obj(
            generation=None, status={"observedGeneration": 1, "conditions": [condition("True", "Succeeded")]}
        ),
        ("Progressing", "Waiting for metadata.generation, to compare status.observedGeneration with"),
    ),
]


@pytest.mark.parametrize("o, expected", ODD, ids=[str(i) for i in range(len(ODD))])
def test_any_shape_of_object_gets_an_answer(o: Any, expected: tuple[str, str]) -> None:
    assert assess(o, kind="Workspace") == expected


# -- Argo CD's sandbox ---------------------------------------------------------------------------


def test_the_fence_is_argo_cds_base_and_table_libraries_only() -> None:
    """The harness must refuse what Argo CD refuses, or the tests above prove nothing."""
    probe = argocd.Health(
        "local seen = {}\n"
        "for _, name in ipairs({'string', 'os', 'io', 'math', 'debug', 'package', 'require', 'load',\n"
        "    'loadstring', 'dofile', 'loadfile', 'print', 'coroutine', 'module'}) do\n"
        "  if _G[name] ~= nil then table.insert(seen, name) end\n"
        "end\n"
        "return { status = 'Healthy', message = table.concat(seen, ',') }\n"
    )
    assert probe.assess({}).message == ""
    assert probe.lua.lua_version == (5, 1)
    for body in (
        '("x"):lower()',
        "string.lower('x')",
        "os.getenv('HOME')",
        "io.open('/etc/passwd')",
        "math.floor(1.5)",
    ):
        fenced = argocd.Health(f"local v = {body}\nreturn {{ status = 'Healthy', message = '' }}\n")
        with pytest.raises(LuaError, match=r"attempt to (index|call)"):
            fenced.assess({})


def test_the_script_needs_nothing_beyond_the_fence() -> None:
    code = "\n".join(line.split("--", 1)[0] for line in argocd.SCRIPT.read_text().splitlines())
    for forbidden in (
        r"\bstring\.",
        r"\bos\.",
        r"\bio\.",
        r"\bmath\.",
        r"\brequire\b",
        r"\bload",
        r"\bdofile\b",
        r"\bgoto\b",
        r"//",
        r":\w+\(",
    ):
        assert not re.search(forbidden, code), forbidden
    # And it runs fenced: every fixture above went through it; one more on the source itself.
    assert source().assess(with_ready(condition("True", "Succeeded", "ok"))).status == "Healthy"


def test_a_run_leaves_nothing_for_the_next() -> None:
    h = health("Workspace")
    assert h.assess(with_ready(condition("False", "Conflict", "x"))).status == "Degraded"
    assert h.assess(obj()).status == "Progressing"
    assert h.assess(with_ready(condition("True", "Succeeded", "x"))).status == "Healthy"
