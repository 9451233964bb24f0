"""Generated objects of every kind (fuzz_strategies): each is refused at admission, as the
Kubernetes stand-in refuses it (schema and CEL), or reconciled to a clear condition. For an admitted
one, two passes of the runtime with the fakes must end in a verdict (no exception escapes), with a
reason from conditions.Reason and a message; the status the operator would write must pass the
kind's Status model and the CRD's /status validation; and no write the passes made may be a request
Azure rejects as malformed (fuzz_azure)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fuzz_admission import Cluster
from fuzz_azure import malformed
from fuzz_harness import ADAPTERS, FuzzHarness, dependencies, with_identity
from fuzz_strategies import KINDS, objects
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from runtime_fakes import DEFAULT_TARGET, LLAMA, NAMESPACE, Call

from azureml_operator.azure.client import DesiredServerless, WorkspaceTarget
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.reconcilers.status import next_status

CLUSTER = Cluster(NAMESPACE)
# Seven kinds x 100: about 35 s on one core for all of them (generation and the stand-in's CEL
# evaluation cost most; a pass with the fakes takes about a millisecond).
EXAMPLES = 100
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def check_verdict(verdict: Verdict) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.status in ("True", "False", "Unknown")
    assert isinstance(verdict.reason, Reason)
    assert verdict.message.strip(), f"{verdict.reason} has no message"


def written(obj: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The status the operator writes for the verdict; it must pass the Status model and /status."""
    patch, _ = next_status(obj.get("status"), verdict, 1, model=ADAPTERS[obj["kind"]].info.status_model)
    status = {**(obj.get("status") or {}), **patch}
    refusal = CLUSTER.write_status(obj, NAMESPACE, status)
    assert refusal is None, f"the API server refuses the status the operator writes: {refusal}"
    return status


async def two_passes(obj: dict[str, Any], with_dependencies: bool) -> FuzzHarness:
    h = FuzzHarness()
    if with_dependencies:
        h.add(*dependencies(obj))
    current = obj
    for _ in range(2):
        verdict = await h.reconcile(current)
        check_verdict(verdict)
        event(f"{obj['kind']}: {verdict.reason}")
        current = {**current, "status": written(current, verdict)}
    return h


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_every_generated_object_is_refused_or_reconciled_to_a_clear_condition(
    kind: str, data: st.DataObject
) -> None:
    candidate = data.draw(objects(kind), label="object")
    admitted, refusal = CLUSTER.admit(candidate, NAMESPACE)
    if admitted is None:
        assert refusal is not None and refusal.code in (400, 422), refusal
        event(f"{kind}: refused ({refusal.code})")
        return
    obj = with_identity(admitted, NAMESPACE)
    h = asyncio.run(two_passes(obj, data.draw(st.booleans(), label="dependencies present")))
    refused = malformed(h.writes())
    assert not refused, "Azure rejects as malformed:\n" + "\n".join(map(str, refused))


def test_the_azure_check_tells_a_malformed_write_from_a_refused_one() -> None:
    def put(name: str, auth_mode: str, model_id: str = LLAMA) -> tuple[WorkspaceTarget, Call]:
        desired = DesiredServerless(model_id=model_id, auth_mode=auth_mode, content_safety=None, tags={})
        return DEFAULT_TARGET, Call("serverlessEndpoints", "begin_put", (name, desired))

    assert [r.call for r in malformed([put("9-lives", "Key")])] == [put("9-lives", "Key")[1]]
    assert malformed([put("llama", "AMLToken")])
    # Azure refuses these for what exists (no subscription; no such model), not for their form.
    assert not malformed([put("llama", "Key")])
    assert not malformed([put("other", "Key", "azureml://registries/azureml/models/Nope")])
