"""Key rotation (reconcilers/rotation.py): every step of the state machine as a pure function, the
I/O around it with small fakes (what is asked of Azure, when status is written), the spec's
durations, and the Secret's content hash."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from azureml_operator.api.key_rotation import KeyRotation, RotationPhase, seconds
from azureml_operator.api.online_endpoint import OnlineEndpointSpec
from azureml_operator.azure.client import EndpointKeys
from azureml_operator.errors import Recoverable, Terminal, Throttled
from azureml_operator.kubeapi import keys_hash
from azureml_operator.reconcilers import rotation
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.rotation import (
    REGENERATE_TIMEOUT,
    Facts,
    KeyType,
    Record,
    Renewed,
    next_step,
)
from azureml_operator.settings import Settings

NOW = 1_800_000_000.0
GRACE = 300.0
NOTHING_NEW = Renewed(primary=False, secondary=False)
NEVER = Record()


def facts(record: Record = NEVER, **kw: Any) -> Facts:
    base = Facts(record=record, requested=None, every=None, grace=GRACE, created=NOW - 10, now=NOW)
    return replace(base, **kw)


# -- starting -------------------------------------------------------------------------------------


def test_a_new_token_regenerates_the_secondary_key_and_records_the_token() -> None:
    step = next_step(facts(requested="2026-12-01"))
    assert step.regenerate is KeyType.SECONDARY
    assert step.record.phase is RotationPhase.REGENERATING_SECONDARY
    assert (step.record.token, step.record.started_at, step.record.phase_since) == ("2026-12-01", NOW, NOW)
    assert [e.reason for e in step.events] == ["KeyRotationStarted"]


def test_the_same_token_never_rotates_twice() -> None:
    done = Record(phase=RotationPhase.COMPLETED, token="t1", rotated_at=NOW - 3600)
    step = next_step(facts(done, requested="t1"))
    assert step.regenerate is None and step.record == done and step.events == ()


def test_no_token_and_no_schedule_does_nothing_and_asks_for_no_early_look() -> None:
    step = next_step(facts(requested="  "))
    assert step.regenerate is None and step.record == Record() and step.wake is None


def test_the_schedule_rotates_once_every_has_passed_since_the_last_rotation() -> None:
    last = Record(phase=RotationPhase.COMPLETED, token="t1", rotated_at=NOW - 7200)
    assert next_step(facts(last, requested="t1", every=7200.0)).regenerate is KeyType.SECONDARY
    early = next_step(facts(last, requested="t1", every=7300.0))
    assert early.regenerate is None and early.wake == pytest.approx(100.0)
    # Started by the schedule, the rotation keeps the token last handled.
    assert next_step(facts(last, requested="t1", every=7200.0)).record.token == "t1"


def test_never_rotated_the_schedule_counts_from_the_objects_creation() -> None:
    assert next_step(facts(every=3600.0, created=NOW - 3600)).regenerate is KeyType.SECONDARY
    assert next_step(facts(every=3600.0, created=NOW - 60)).regenerate is None


def test_a_new_rotation_waits_a_grace_period_after_the_last_one_for_consumers_to_move_back() -> None:
    just_done = Record(phase=RotationPhase.COMPLETED, token="t1", rotated_at=NOW - 60)
    step = next_step(facts(just_done, requested="t2"))
    assert step.regenerate is None and step.wake == pytest.approx(GRACE - 60)
    assert next_step(facts(just_done, requested="t2", now=NOW - 60 + GRACE)).regenerate is KeyType.SECONDARY


# -- the phases -----------------------------------------------------------------------------------


def regenerating_secondary() -> Record:
    return Record(RotationPhase.REGENERATING_SECONDARY, "t1", NOW - 5, NOW - 5)


def test_the_new_secondary_key_in_azure_starts_the_grace_period() -> None:
    step = next_step(facts(regenerating_secondary(), renewed=Renewed(primary=False, secondary=True)))
    assert step.regenerate is None
    assert (step.record.phase, step.record.grace_until) == (RotationPhase.GRACE_PERIOD, NOW + GRACE)
    assert step.wake == GRACE and [e.reason for e in step.events] == ["KeysRotating"]


def test_while_azure_has_not_made_the_new_key_it_waits_and_looks_again_soon() -> None:
    step = next_step(facts(regenerating_secondary(), renewed=NOTHING_NEW))
    assert step.regenerate is None and step.record == regenerating_secondary()
    assert step.wake is not None and step.wake < 60


def test_a_regeneration_azure_never_carried_out_is_asked_for_again() -> None:
    late = replace(regenerating_secondary(), phase_since=NOW - REGENERATE_TIMEOUT)
    step = next_step(facts(late, renewed=NOTHING_NEW))
    assert step.regenerate is KeyType.SECONDARY and step.record.phase_since == NOW


def test_the_grace_period_not_elapsed_waits_until_its_end() -> None:
    grace = Record(RotationPhase.GRACE_PERIOD, "t1", NOW - 100, NOW - 100, grace_until=NOW + 200)
    step = next_step(facts(grace))
    assert step.regenerate is None and step.wake == pytest.approx(200)


def test_the_grace_period_elapsed_regenerates_the_primary_key() -> None:
    grace = Record(RotationPhase.GRACE_PERIOD, "t1", NOW - 300, NOW - 300, grace_until=NOW)
    step = next_step(facts(grace))
    assert step.regenerate is KeyType.PRIMARY
    assert (step.record.phase, step.record.grace_until) == (RotationPhase.REGENERATING_PRIMARY, None)


def test_the_new_primary_key_in_azure_completes_the_rotation() -> None:
    primary = Record(RotationPhase.REGENERATING_PRIMARY, "t1", NOW - 400, NOW - 5)
    step = next_step(facts(primary, renewed=Renewed(primary=True, secondary=False)))
    assert (step.record.phase, step.record.rotated_at) == (RotationPhase.COMPLETED, NOW)
    assert [e.reason for e in step.events] == ["KeysRotated"] and step.regenerate is None


def test_a_token_changed_mid_rotation_lets_the_rotation_finish_first() -> None:
    grace = Record(RotationPhase.GRACE_PERIOD, "t1", NOW - 100, NOW - 100, grace_until=NOW + 200)
    step = next_step(facts(grace, requested="t2"))
    assert step.regenerate is None and step.record.token == "t1"
    # Regenerating the secondary key again would cut off the consumers that switched to it.
    secondary = next_step(facts(regenerating_secondary(), requested="t2", renewed=NOTHING_NEW))
    assert secondary.regenerate is None
    done = Record(RotationPhase.COMPLETED, "t1", rotated_at=NOW - GRACE)
    assert next_step(facts(done, requested="t2")).record.token == "t2"


# -- endpoints without keys -----------------------------------------------------------------------


def test_an_endpoint_without_keys_refuses_once_per_token_with_a_warning() -> None:
    why = "authMode is AMLToken: no keys"
    step = next_step(facts(requested="t1", refusal=why))
    assert step.regenerate is None and step.record.phase is RotationPhase.REFUSED
    assert step.record.token == "t1" and why in (step.record.message or "")
    assert [(e.type, e.reason) for e in step.events] == [("Warning", "KeyRotationRefused")]
    again = next_step(facts(step.record, requested="t1", refusal=why))
    assert again.events == () and again.regenerate is None
    assert next_step(facts(step.record, requested="t2", refusal=why)).events != ()


def test_a_token_too_long_for_status_is_refused_and_not_recorded() -> None:
    step = next_step(facts(requested="x" * 300))
    assert step.regenerate is None and step.record.phase is RotationPhase.REFUSED
    assert step.record.token is None and len(step.record.message or "") < 1024
    assert next_step(facts(step.record, requested="x" * 300)).events == ()
    huge = next_step(facts(requested="y" * 200_000))
    assert huge.record.message is not None and len(huge.record.message) < 1024


def test_key_rotation_is_refused_at_admission_for_an_aml_token_endpoint() -> None:
    with pytest.raises(ValueError, match="keyRotation needs authMode Key"):
        OnlineEndpointSpec.model_validate({"authMode": "AMLToken", "keyRotation": {"every": "720h"}})
    OnlineEndpointSpec.model_validate({"authMode": "Key", "keyRotation": {"every": "720h"}})


# -- status ---------------------------------------------------------------------------------------


def test_the_record_round_trips_through_status_and_never_holds_a_key() -> None:
    record = Record(RotationPhase.GRACE_PERIOD, "t1", NOW - 100, NOW - 100, NOW + 200, "msg", NOW - 9000)
    fields = record.fields()
    assert fields["keyRotation"]["graceUntil"].endswith("Z")
    assert Record.from_status(fields) == record
    assert "graceUntil" in record.merge_patch()["keyRotation"]
    cleared = replace(record, phase=RotationPhase.REGENERATING_PRIMARY, grace_until=None)
    assert "graceUntil" not in cleared.fields()["keyRotation"]
    assert cleared.merge_patch()["keyRotation"]["graceUntil"] is None
    assert Record.from_status({"keyRotation": {"phase": "SomethingNew"}}).phase is None


# -- durations ------------------------------------------------------------------------------------


def test_durations_are_kubernetes_duration_strings() -> None:
    assert seconds("720h") == 720 * 3600
    assert seconds("1h30m") == 5400 and seconds("1.5h") == 5400 and seconds("250ms") == 0.25
    for bad in ("", "5", "PT5M", "1d", "-5m"):
        with pytest.raises(ValueError):
            seconds(bad)


def test_a_schedule_shorter_than_an_hour_or_than_two_grace_periods_is_refused() -> None:
    KeyRotation.model_validate({"every": "1h", "gracePeriod": "30m"})
    with pytest.raises(ValueError, match="at least 1h"):
        KeyRotation.model_validate({"every": "59m"})
    with pytest.raises(ValueError, match="twice"):
        KeyRotation.model_validate({"every": "1h", "gracePeriod": "31m"})
    with pytest.raises(ValueError, match="at most 168h"):
        KeyRotation.model_validate({"gracePeriod": "169h"})


def test_the_secret_hash_changes_exactly_when_the_data_does() -> None:
    data = {"primaryKey": "a" * 32, "secondaryKey": "b" * 32, "endpoint": "https://x"}
    assert keys_hash(data) == keys_hash(dict(reversed(list(data.items()))))
    assert keys_hash(data) != keys_hash({**data, "secondaryKey": "c" * 32})
    assert keys_hash({"ab": "c"}) != keys_hash({"a": "bc"})
    assert keys_hash(data).startswith("sha256:") and "a" * 32 not in keys_hash(data)


# -- the I/O around the state machine ---------------------------------------------------------------


class Api:
    """Azure's keys; `sync` regenerates at once (serverless), else only when `finish` is called
    (an online endpoint's long-running operation)."""

    def __init__(self, *, sync: bool) -> None:
        self.sync = sync
        self.primary, self.secondary = "p-0", "s-0"
        self.pending: list[str] = []
        self.calls: list[str] = []
        self.reads = 0  # listKeys: a POST, which ARM counts as a write
        self.failure: Exception | None = None

    async def keys(self, name: str) -> EndpointKeys:
        self.reads += 1
        return EndpointKeys(primary=self.primary, secondary=self.secondary)

    async def regenerate_keys(self, name: str, key_type: str) -> None:
        self.calls.append(key_type)
        if self.failure is not None:
            raise self.failure
        self.pending.append(key_type)
        if self.sync:
            self.finish()

    def finish(self) -> None:
        for key_type in self.pending:
            if key_type == "Primary":
                self.primary += "'"
            else:
                self.secondary += "'"
        self.pending.clear()


class Kube:
    def __init__(self) -> None:
        self.secret: dict[str, str] | None = None
        self.patches: list[dict[str, Any]] = []

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secret

    async def patch_status(
        self, plural: str, namespace: str, name: str, fields: dict[str, Any], uid: str | None = None
    ) -> str | None:
        self.patches.append(fields)
        return None


class Ctx:
    def __init__(self) -> None:
        self.kube = Kube()
        self.settings = Settings()


def endpoint(status: dict[str, Any], token: str | None = "t1") -> Obj:
    annotations = {"azureml.dev/rotate-keys": token} if token else {}
    return Obj(
        "azureml.dev/v1alpha1",
        "ServerlessEndpoint",
        "serverlessendpoints",
        "ns",
        "phi",
        "uid-1",
        1,
        annotations,
        {},
        status,
        created="2026-12-01T00:00:00Z",
    )


def run_pass(ctx: Ctx, api: Api, status: dict[str, Any], grace: str = "5m", **kw: Any) -> rotation.Rotated:
    settings = KeyRotation.model_validate({"gracePeriod": grace})
    rotated = asyncio.run(
        rotation.rotate(ctx, api, endpoint(status, **kw), "phi", "phi-keys", settings, attempt=0)  # type: ignore[arg-type]
    )
    assert rotated.keys is not None
    ctx.kube.secret = {"primaryKey": rotated.keys.primary, "secondaryKey": rotated.keys.secondary}
    # When the keys were read is the keys-check tests' business (below): here, the rotation's.
    rotated.fields.pop("keysCheckedAt", None)
    return rotated


def test_a_ready_endpoints_keys_are_read_again_only_when_the_check_is_due() -> None:
    ctx, api = Ctx(), Api(sync=True)
    ctx.kube.secret = {"primaryKey": "p-0", "secondaryKey": "s-0"}
    now = time.time()
    obj = endpoint({"keysCheckedAt": rotation._rfc3339(now - 60)}, token=None)

    def once(o: Obj, *, fresh: bool = False) -> rotation.Rotated:
        return asyncio.run(rotation.rotate(ctx, api, o, "phi", "phi-keys", None, attempt=0, fresh=fresh))  # type: ignore[arg-type]

    held = once(obj)
    assert api.reads == 0 and held.keys == EndpointKeys("p-0", "s-0") and "keysCheckedAt" not in held.fields
    assert "keysCheckedAt" in once(obj, fresh=True).fields and api.reads == 1
    stale = endpoint({"keysCheckedAt": rotation._rfc3339(now - 3600)}, token=None)
    assert "keysCheckedAt" in once(stale).fields and api.reads == 2
    ctx.kube.secret = {"primaryKey": "p-0"}  # a Secret without both keys: read them at once
    assert once(obj).keys == EndpointKeys("p-0", "s-0") and api.reads == 3


def test_a_synchronous_regeneration_publishes_the_new_secondary_key_in_the_same_pass() -> None:
    ctx, api = Ctx(), Api(sync=True)
    ctx.kube.secret = {"primaryKey": "p-0", "secondaryKey": "s-0"}
    rotated = run_pass(ctx, api, {})
    assert api.calls == ["Secondary"]
    assert rotated.keys == EndpointKeys(primary="p-0", secondary="s-0'")
    assert rotated.fields["keyRotation"]["phase"] == "GracePeriod"
    # The phase was in status right after the Azure call, before anything else could fail.
    assert [p["keyRotation"]["phase"] for p in ctx.kube.patches] == ["RegeneratingSecondary"]
    assert "s-0'" not in str(rotated.fields) + str(ctx.kube.patches) + str(rotated.events)

    # A restart within the grace period: nothing is written to Azure.
    again = run_pass(ctx, api, rotated.fields)
    assert api.calls == ["Secondary"] and again.fields == rotated.fields


def test_a_long_running_regeneration_is_published_on_a_later_pass_once_azure_has_the_key() -> None:
    ctx, api = Ctx(), Api(sync=False)
    ctx.kube.secret = {"primaryKey": "p-0", "secondaryKey": "s-0"}
    first = run_pass(ctx, api, {})
    assert first.fields["keyRotation"]["phase"] == "RegeneratingSecondary"
    assert first.keys == EndpointKeys(primary="p-0", secondary="s-0")  # still what Azure accepts
    assert first.wake is not None and first.wake < 60
    still = run_pass(ctx, api, first.fields)
    assert still.fields == first.fields and api.calls == ["Secondary"]
    api.finish()
    grace = run_pass(ctx, api, first.fields)
    assert grace.fields["keyRotation"]["phase"] == "GracePeriod" and grace.keys is not None
    assert grace.keys.secondary == "s-0'"


def test_a_whole_rotation_with_no_grace_period_ends_in_one_pass() -> None:
    ctx, api = Ctx(), Api(sync=True)
    ctx.kube.secret = {"primaryKey": "p-0", "secondaryKey": "s-0"}
    rotated = run_pass(ctx, api, {}, grace="0s")
    assert api.calls == ["Secondary", "Primary"]
    assert rotated.fields["keyRotation"]["phase"] == "Completed" and rotated.fields["keysRotatedAt"]
    assert [e.reason for e in rotated.events] == ["KeyRotationStarted", "KeysRotating", "KeysRotated"]


@pytest.mark.parametrize(
    "failure",
    [Recoverable("busy", status=409), Terminal("no"), Throttled("slow down", retry_after=17.0)],
)
def test_a_failed_regeneration_keeps_the_rotation_where_it_was_and_retries(failure: Exception) -> None:
    ctx, api = Ctx(), Api(sync=True)
    ctx.kube.secret = {"primaryKey": "p-0", "secondaryKey": "s-0"}
    api.failure = failure
    rotated = run_pass(ctx, api, {})
    assert rotated.fields == {} and ctx.kube.patches == []
    assert rotated.keys == EndpointKeys(primary="p-0", secondary="s-0")
    assert [(e.type, e.reason) for e in rotated.events][-1] == ("Warning", "KeyRotationFailed")
    assert rotated.wake is not None and (rotated.wake == 17.0 or not isinstance(failure, Throttled))
    api.failure = None
    assert run_pass(ctx, api, {}).fields["keyRotation"]["phase"] == "GracePeriod"


def test_nothing_due_reads_no_secret_and_writes_nothing_to_azure() -> None:
    ctx, api = Ctx(), Api(sync=True)
    done = Record(RotationPhase.COMPLETED, "t1", rotated_at=NOW).fields()
    ctx.kube.secret = None
    rotated = run_pass(ctx, api, done)
    assert api.calls == [] and ctx.kube.patches == [] and rotated.fields == done


def test_into_wakes_the_loop_only_when_the_drift_check_would_be_late() -> None:
    verdict = rotation.into(Verdict.ready("Succeeded", "ok"), rotation.Rotated(None, wake=30.0), 600.0)  # type: ignore[arg-type]
    assert verdict.requeue_after == 30.0
    verdict = rotation.into(Verdict.ready("Succeeded", "ok"), rotation.Rotated(None, wake=9000.0), 600.0)  # type: ignore[arg-type]
    assert verdict.requeue_after is None
