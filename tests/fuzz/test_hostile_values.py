"""Hostile values, one by one, in every field of every kind: 1 MiB strings, unicode names (right-to-
left overrides, combining marks, NUL, emoji), injected JSON, odd annotation values, and objects over
the API server's size limits. Each is refused as a real API server refuses it, or the operator
reconciles it to a clear condition and sends Azure nothing it rejects as malformed."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from fuzz_admission import Cluster, spec_schema
from fuzz_azure import malformed
from fuzz_harness import FuzzHarness, dependencies, with_identity
from fuzz_strategies import BASES, HOSTILE, KINDS, ROTATE_ANNOTATION, schema_paths
from runtime_fakes import NAMESPACE
from test_fuzz_specs import check_verdict, written

from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import ADOPT_ANNOTATION, POLICY_ANNOTATION
from azureml_standins.kube.validation import ANNOTATIONS_MAX_BYTES

CLUSTER = Cluster(NAMESPACE)
MIB = 1024 * 1024
# One of each family (empty, bidi, combining, NUL and controls, emoji, BOM, zero-width, JSON, long
# unicode): the stand-in's CEL evaluation costs ~20 ms a rule, and FineTuneJob has many rules.
SWEEP = tuple(HOSTILE[i] for i in (0, 2, 4, 5, 7, 8, 9, 10, 11, -1))


def base(kind: str) -> dict[str, Any]:
    obj = BASES[kind]()
    return {
        "apiVersion": obj["apiVersion"],
        "kind": kind,
        "metadata": {"name": obj["metadata"]["name"]},
        "spec": obj["spec"],
    }


def with_value(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node = out["spec"]
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return out


def outcome(candidate: dict[str, Any]) -> str:
    """'refused' or the Ready reason of the second pass; fails on a crash, an unclear verdict, a
    status the API server refuses or a malformed Azure request."""
    admitted, refusal = CLUSTER.admit(candidate, NAMESPACE)
    if admitted is None:
        assert refusal is not None and refusal.code in (400, 413, 422), refusal
        return "refused"
    obj = with_identity(admitted, NAMESPACE)

    async def passes() -> tuple[FuzzHarness, str]:
        h = FuzzHarness()
        h.add(*dependencies(obj))
        current, reason = obj, ""
        for _ in range(2):
            verdict = await h.reconcile(current)
            check_verdict(verdict)
            current, reason = {**current, "status": written(current, verdict)}, str(verdict.reason)
        return h, reason

    h, reason = asyncio.run(passes())
    refused = malformed(h.writes())
    assert not refused, "Azure rejects as malformed:\n" + "\n".join(map(str, refused))
    return reason


def string_paths(kind: str) -> list[tuple[str, ...]]:
    return [p for p, s in schema_paths(spec_schema(kind)) if s.get("type") == "string"]


def map_paths(kind: str) -> list[tuple[str, ...]]:
    return [p for p, s in schema_paths(spec_schema(kind)) if isinstance(s.get("additionalProperties"), dict)]


# -- strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_mebibyte_string_in_any_field_is_refused(kind: str) -> None:
    huge = "a" * MIB
    for path in string_paths(kind):
        assert outcome(with_value(base(kind), path, huge)) == "refused", path


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_strings_in_every_free_text_field_and_map(kind: str) -> None:
    """Fields with a pattern or an enum refuse these by construction (the fuzz tests cover them);
    free text and map keys and values are where a hostile string can get through."""
    free_text = [
        p
        for p, s in schema_paths(spec_schema(kind))
        if s.get("type") == "string" and not {"pattern", "enum"} & set(s)
    ]
    reasons = set()
    for path in free_text:
        for value in SWEEP:
            reasons.add(outcome(with_value(base(kind), path, value)))
    for path in map_paths(kind):
        for value in SWEEP:
            reasons.add(outcome(with_value(base(kind), path, {"k": value})))
            reasons.add(outcome(with_value(base(kind), path, {value or "empty": "v"})))
    if free_text or map_paths(kind):
        assert reasons - {"refused"}, "no hostile value was admitted: the test would prove nothing"


@pytest.mark.parametrize("kind", KINDS)
def test_a_mebibyte_map_key_is_refused_or_harmless(kind: str) -> None:
    for path in map_paths(kind):
        outcome(with_value(base(kind), path, {"k" * MIB: "v"}))


@pytest.mark.parametrize(
    "name",
    ["\u202eevil", "caf\u00e9", "e\u0301", "nul\x00", "\U0001f600", '"}', "A" * 64, "a" * 254, "-a", "a."],
)
def test_unicode_and_odd_object_names_are_refused_as_kubernetes_refuses_them(name: str) -> None:
    obj = base("ServerlessEndpoint")
    obj["metadata"]["name"] = name
    admitted, refusal = CLUSTER.admit(obj, NAMESPACE)
    assert admitted is None and refusal is not None and refusal.code == 422
    assert "metadata.name" in refusal.message


# -- patterns are Go regular expressions ------------------------------------------------------


@pytest.mark.parametrize("value", ["rg-a\n", "rg-\u00e9", "rg-\u0663"])
def test_patterns_match_as_the_api_servers_re2_does(value: str) -> None:
    """Python's `$` matches before a final newline and its `\\w` is Unicode; Go's RE2 does neither,
    so a real API server refuses these resource groups (pattern `^[-\\w._()]*[-\\w_()]$`)."""
    obj = with_value(base("Workspace"), ("resourceGroup",), value)
    admitted, refusal = CLUSTER.admit(obj, NAMESPACE)
    assert admitted is None and refusal is not None and "spec.resourceGroup" in refusal.message
    assert CLUSTER.admit(with_value(base("Workspace"), ("resourceGroup",), "rg-a"), NAMESPACE)[0]


# -- annotations --------------------------------------------------------------------------------


ODD = [*HOSTILE, "true ", "TRUE", "skip\n", '{"skip": true}', "x" * 100_000]


@pytest.mark.parametrize("key", [POLICY_ANNOTATION, ADOPT_ANNOTATION, ROTATE_ANNOTATION])
def test_odd_annotation_values_give_clear_conditions(key: str) -> None:
    for value in ODD:
        obj = base("ServerlessEndpoint")
        obj["metadata"]["annotations"] = {key: value}
        reason = outcome(obj)
        if key == POLICY_ANNOTATION and value.strip().lower() not in ("manage", "skip", "detach"):
            assert reason == Reason.INVALID_SPEC, repr(value[:40])


def test_a_policy_annotation_is_quoted_in_the_condition_not_executed() -> None:
    obj = with_identity(base("ServerlessEndpoint"), NAMESPACE)
    obj["metadata"]["annotations"] = {POLICY_ANNOTATION: '"}, "status": {"phase": "x"}'}
    verdict = asyncio.run(FuzzHarness().reconcile(obj))
    assert verdict.reason is Reason.INVALID_SPEC
    status = written(obj, verdict)
    assert set(status) == {"conditions", "observedGeneration"}


def test_annotations_over_256_kib_in_total_are_refused() -> None:
    obj = base("OnlineEndpoint")
    half = ANNOTATIONS_MAX_BYTES // 2
    obj["metadata"]["annotations"] = {"a.example/one": "x" * half, "a.example/two": "x" * half}
    admitted, refusal = CLUSTER.admit(obj, NAMESPACE)
    assert admitted is None and refusal is not None and refusal.code == 422
    assert (
        f"metadata.annotations: Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes" in refusal.message
    )
    # Exactly at the limit (keys count too) is still admitted.
    key = "a.example/one"
    obj["metadata"]["annotations"] = {key: "x" * (ANNOTATIONS_MAX_BYTES - len(key))}
    assert CLUSTER.admit(obj, NAMESPACE)[0] is not None


@pytest.mark.parametrize("key", ["", "/x", "a/", "bad key", "UPPER.example/x", "x" * 64, "-x", "a/b/c", "é"])
def test_annotation_keys_must_be_qualified_names(key: str) -> None:
    obj = base("OnlineEndpoint")
    obj["metadata"]["annotations"] = {key: "v"}
    admitted, refusal = CLUSTER.admit(obj, NAMESPACE)
    if key == "UPPER.example/x":  # annotation keys are checked lowercased
        assert admitted is not None
        return
    assert admitted is None and refusal is not None and refusal.code == 422
    assert "metadata.annotations" in refusal.message


@pytest.mark.parametrize(
    ("key", "value"), [("ok", "x" * 64), ("ok", "bad value"), ("bad key", "v"), ("ok", "-v")]
)
def test_labels_must_be_valid(key: str, value: str) -> None:
    obj = base("OnlineEndpoint")
    obj["metadata"]["labels"] = {key: value}
    admitted, refusal = CLUSTER.admit(obj, NAMESPACE)
    assert admitted is None and refusal is not None and "metadata.labels" in refusal.message


# -- ARM tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        {f"t{i}": "v" for i in range(49)},  # 49 + the operator's 2 owner tags > ARM's 50
        {"a/b": "v"},
        {"why?": "v"},
        {"back\\slash": "v"},
        {"nul\x00": "v"},
        {"": "v"},
        {"k" * 513: "v"},
    ],
)
def test_online_endpoint_tags_azure_refuses_are_refused_at_admission(tags: dict[str, str]) -> None:
    admitted, refusal = CLUSTER.admit(with_value(base("OnlineEndpoint"), ("tags",), tags), NAMESPACE)
    assert admitted is None and refusal is not None and "spec.tags" in refusal.message


def test_the_simulator_refuses_tags_arm_refuses() -> None:
    from fuzz_azure import _send
    from runtime_fakes import DEFAULT_TARGET

    from azureml_standins.simulator.config import SimulatorConfig, ThrottleConfig, WorkspaceSeed
    from azureml_standins.simulator.core import Simulator

    t = DEFAULT_TARGET
    seed = WorkspaceSeed(t.subscription_id, t.resource_group, t.workspace_name, "eastus2")
    sim = Simulator(SimulatorConfig(workspaces=(seed,), throttle=ThrottleConfig(enabled=False)))
    path = t.child_id("onlineEndpoints", "chat")

    def put(tags: dict[str, str]) -> int:
        body = {"location": "eastus2", "tags": tags, "properties": {"authMode": "Key"}}
        return _send(sim, "PUT", path, "2022-02-01-preview", body).status

    assert put({f"t{i}": "v" for i in range(51)}) == 400
    assert put({"a<b": "v"}) == 400
    assert put({"k" * 513: "v"}) == 400
    assert put({"k": "v" * 257}) == 400
    assert put({f"t{i}": "v" for i in range(50)} | {"k" * 512: "v"}) == 400
    assert put({f"t{i}": "v" * 256 for i in range(49)} | {"k" * 512: "\u00e9"}) == 201


def test_an_object_etcd_cannot_hold_is_refused_when_stored_not_at_dry_run() -> None:
    """Under the 3 MiB body limit, over etcd's 1.5 MiB: 400 variables of 4 KiB are admitted by the
    schema (no bound on their number) and refused when written."""
    env = {f"V{i}": "x" * 4096 for i in range(400)}
    obj = with_value(base("OnlineDeployment"), ("environmentVariables",), env)
    assert CLUSTER.admit(obj, NAMESPACE)[0] is not None
    refusal = CLUSTER.write_status(obj, NAMESPACE, {})
    assert (
        refusal is not None and refusal.code == 500 and refusal.message == "etcdserver: request is too large"
    )


def test_a_rule_that_fails_to_evaluate_refuses_the_object_as_an_api_server_does() -> None:
    """Found by the fuzz tests: `6000000000m` matches keyRotation.every's pattern, and duration()
    overflows in the CEL rule; a real server answers 422 (failed rule), the stand-in answered 500."""
    obj = with_value(base("ServerlessEndpoint"), ("keyRotation",), {"every": "6000000000m"})
    admitted, refusal = CLUSTER.admit(obj, NAMESPACE)
    assert admitted is None and refusal is not None and refusal.code == 422
    assert 'spec.keyRotation: Invalid value: "object": failed rule: ' in refusal.message
    assert CLUSTER.admit(
        with_value(base("ServerlessEndpoint"), ("keyRotation",), {"every": "720h"}), NAMESPACE
    )[0]
