"""From a verdict to a status patch with only what changed, and an Event whenever Ready changes."""

from __future__ import annotations

from typing import Any

import pytest

from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Event, ExtraCondition, Finality, Verdict
from azureml_operator.reconcilers.status import merged, next_status, undo

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"
T2 = "2026-01-01T00:10:00Z"


def apply(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of the status (RFC 7386: maps merge, None deletes), as the API server
    applies it."""
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply(out[key], value)
        else:
            out[key] = value
    return out


def test_a_key_gone_from_a_map_is_deleted_not_left_behind() -> None:
    """A traffic map that no longer names a deployment: merged into the stored map as is, the key
    would stay."""
    old = {
        "traffic": {"blue": 90, "green": 10},
        "mirrorTraffic": {"green": 10},
        "registeredModel": {"name": "m"},
    }
    verdict = Verdict.ready(
        Reason.SUCCEEDED, "ok", traffic={"blue": 100}, mirrorTraffic={}, registeredModel={"name": "m"}
    )
    patch, _ = next_status(old, verdict, generation=1, now=T0)
    assert patch["traffic"] == {"blue": 100, "green": None} and patch["mirrorTraffic"] == {"green": None}
    assert "registeredModel" not in patch
    stored = apply(old, patch)
    assert (stored["traffic"], stored["mirrorTraffic"]) == ({"blue": 100}, {})


def test_first_verdict_sets_the_ready_condition_with_observed_generation() -> None:
    verdict = Verdict.ready(Reason.SUCCEEDED, "serverless endpoint ep is Online", endpointState="Online")
    patch, events = next_status(None, verdict, generation=3, now=T0)
    assert patch == {
        "endpointState": "Online",
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "serverless endpoint ep is Online",
                "lastTransitionTime": T0,
                "observedGeneration": 3,
            }
        ],
    }
    assert events == [Event("Normal", "Succeeded", "serverless endpoint ep is Online")]


def test_the_same_verdict_again_writes_nothing_and_posts_nothing() -> None:
    verdict = Verdict.not_ready(Reason.CREATING, "creating", requeue_after=2.0, provisioningState="Creating")
    first, _ = next_status({}, verdict, generation=1, now=T0)
    again = Verdict.not_ready(Reason.CREATING, "creating", requeue_after=4.0, provisioningState="Creating")
    patch, events = next_status(apply({}, first), again, generation=1, now=T1)
    assert patch == {}
    assert events == []


def test_only_changed_fields_are_patched() -> None:
    old = apply(
        {},
        next_status(
            {},
            Verdict.ready(Reason.SUCCEEDED, "ok", inferenceUri="https://a", endpointState="Online"),
            generation=1,
            now=T0,
        )[0],
    )
    patch, events = next_status(
        old,
        Verdict.ready(Reason.SUCCEEDED, "ok", inferenceUri="https://b", endpointState="Online"),
        generation=1,
        now=T1,
    )
    assert patch == {"inferenceUri": "https://b"}
    assert events == []


def test_transition_time_is_kept_while_the_status_stays_the_same() -> None:
    old = apply({}, next_status({}, Verdict.not_ready(Reason.CREATING, "creating"), 1, now=T0)[0])
    patch, events = next_status(old, Verdict.not_ready(Reason.UPDATING, "updating"), 2, now=T1)
    (ready,) = patch["conditions"]
    assert ready["lastTransitionTime"] == T0
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == ("Updating", "updating", 2)
    assert patch["observedGeneration"] == 2
    assert events == [Event("Normal", "Updating", "updating")]


def test_transition_time_moves_when_the_status_flips() -> None:
    old = apply({}, next_status({}, Verdict.not_ready(Reason.CREATING, "creating"), 1, now=T0)[0])
    patch, _ = next_status(old, Verdict.ready(Reason.SUCCEEDED, "ok"), 1, now=T2)
    assert patch["conditions"][0]["lastTransitionTime"] == T2
    assert "observedGeneration" not in patch  # unchanged


def test_a_new_message_alone_rewrites_the_condition_but_posts_no_event() -> None:
    old = apply({}, next_status({}, Verdict.not_ready(Reason.CREATING, "creating (1)"), 1, now=T0)[0])
    patch, events = next_status(old, Verdict.not_ready(Reason.CREATING, "creating (2)"), 1, now=T1)
    assert list(patch) == ["conditions"]
    assert patch["conditions"][0]["message"] == "creating (2)"
    assert patch["conditions"][0]["lastTransitionTime"] == T0
    assert events == []


def test_other_conditions_survive_the_patch() -> None:
    synced = {"type": "Synced", "status": "True", "reason": "x", "message": "", "lastTransitionTime": T0}
    patch, _ = next_status({"conditions": [synced]}, Verdict.ready(Reason.SUCCEEDED, "ok"), 1, now=T1)
    assert [c["type"] for c in patch["conditions"]] == ["Ready", "Synced"]
    assert patch["conditions"][1] == synced


@pytest.mark.parametrize(
    "verdict",
    [
        Verdict.ready(Reason.SUCCEEDED, "ok"),
        Verdict.ready(Reason.NOT_REQUIRED, "Microsoft model"),
        Verdict.not_ready(Reason.CREATING, "creating"),
        Verdict.not_ready(Reason.UPDATING, "updating"),
        Verdict.not_ready(Reason.DELETING, "deleting"),
        Verdict.not_ready(Reason.WAITING_FOR_SUBSCRIPTION, "waiting"),
        Verdict.not_ready(Reason.WAITING_FOR_WORKSPACE, "waiting"),
        Verdict.not_ready(Reason.THROTTLED, "429"),
        Verdict.not_ready(Reason.AZURE_UNAVAILABLE, "503"),
        Verdict.unknown(Reason.RECONCILE_SKIPPED, "skip"),
    ],
    ids=lambda v: str(v.reason),
)
def test_transitions_to_ready_or_transient_states_are_normal_events(verdict: Verdict) -> None:
    _, events = next_status({}, verdict, 1, now=T0)
    assert events == [Event("Normal", str(verdict.reason), verdict.message)]


@pytest.mark.parametrize(
    "reason",
    [
        Reason.NAME_TAKEN,
        Reason.CREDENTIAL_REJECTED,
        Reason.CONFLICT,
        Reason.INVALID_SPEC,
        Reason.WORKSPACE_NOT_FOUND,
        Reason.MODEL_NOT_FOUND,
        Reason.SUBSCRIPTION_MISSING,
        Reason.SUBSCRIPTION_INACTIVE,
        Reason.QUOTA_EXCEEDED,
        Reason.PROVISIONING_FAILED,
        Reason.AZURE_REJECTED,
    ],
)
def test_transitions_that_need_a_person_are_warning_events(reason: Reason) -> None:
    old = apply({}, next_status({}, Verdict.not_ready(Reason.CREATING, "creating"), 1, now=T0)[0])
    _, events = next_status(old, Verdict.not_ready(reason, "fix the spec"), 1, now=T1)
    assert events == [Event("Warning", str(reason), "fix the spec")]


def test_a_repeated_warning_is_not_posted_again() -> None:
    verdict = Verdict.not_ready(Reason.CREDENTIAL_REJECTED, "the secret is wrong")
    old = apply({}, next_status({}, verdict, 1, now=T0)[0])
    _, events = next_status(old, Verdict.not_ready(Reason.CREDENTIAL_REJECTED, "still wrong"), 1, now=T1)
    assert events == []


def test_the_verdicts_own_event_with_the_same_reason_is_not_duplicated() -> None:
    own = Event("Normal", "Creating", "creating serverless endpoint ep for llama")
    verdict = Verdict.not_ready(Reason.CREATING, "creating serverless endpoint ep for llama")
    verdict.events.append(own)
    _, events = next_status({}, verdict, 1, now=T0)
    assert events == [own]


def test_an_event_about_another_object_does_not_stand_in_for_the_transition_event() -> None:
    elsewhere = Event("Warning", "Creating", "about the endpoint", regarding={"kind": "ServerlessEndpoint"})
    verdict = Verdict.not_ready(Reason.CREATING, "creating")
    verdict.events.append(elsewhere)
    _, events = next_status({}, verdict, 1, now=T0)
    assert events == [elsewhere, Event("Normal", "Creating", "creating")]


def test_the_verdicts_other_events_are_posted_even_without_a_transition() -> None:
    verdict = Verdict.ready(Reason.SUCCEEDED, "ok")
    old = apply({}, next_status({}, verdict, 1, now=T0)[0])
    again = Verdict.ready(Reason.SUCCEEDED, "ok")
    published = Event("Normal", "KeysPublished", "URI and keys updated in Secret ep-keys")
    again.events.append(published)
    patch, events = next_status(old, again, 1, now=T1)
    assert patch == {}
    assert events == [published]


def test_fields_set_to_none_that_were_absent_are_not_written() -> None:
    verdict = Verdict.not_ready(
        Reason.CREATING, "creating", inferenceUri=None, endpointState=None, provisioningState="Creating"
    )
    patch, _ = next_status({}, verdict, 1, now=T0)
    assert "inferenceUri" not in patch and "endpointState" not in patch
    assert patch["provisioningState"] == "Creating"


def test_fields_set_to_none_that_were_present_are_cleared() -> None:
    old = {"inferenceUri": "https://a", "endpointState": None, "provisioningState": "Succeeded"}
    verdict = Verdict.not_ready(
        Reason.CREATING, "creating", inferenceUri=None, endpointState=None, provisioningState=None
    )
    patch, _ = next_status(old, verdict, 1, now=T0)
    assert patch["inferenceUri"] is None and patch["provisioningState"] is None
    assert "endpointState" not in patch  # already None


def test_fields_the_verdict_does_not_name_are_left_alone() -> None:
    old = {"azureResourceId": "/subscriptions/s/x", "keysSecretName": "ep-keys"}
    patch, _ = next_status(old, Verdict.not_ready(Reason.CONFLICT, "taken"), 1, now=T0)
    assert "azureResourceId" not in patch and "keysSecretName" not in patch


def test_a_new_generation_is_recorded_even_when_nothing_else_changed() -> None:
    verdict = Verdict.ready(Reason.SUCCEEDED, "ok")
    old = apply({}, next_status({}, verdict, 1, now=T0)[0])
    patch, events = next_status(old, Verdict.ready(Reason.SUCCEEDED, "ok"), 2, now=T1)
    assert patch["observedGeneration"] == 2
    assert patch["conditions"][0]["observedGeneration"] == 2
    assert patch["conditions"][0]["lastTransitionTime"] == T0
    assert events == []


def test_a_kind_may_report_conditions_beside_ready_with_their_own_transitions() -> None:
    verdict = Verdict.not_ready(Reason.CREATING, "endpoint provisioned; traffic pending", requeue_after=2.0)
    verdict.conditions.append(ExtraCondition("Provisioned", "True", "Succeeded", "endpoint is up"))
    patch, _ = next_status({}, verdict, 3, now="2026-01-01T00:00:00Z")
    by_type = {c["type"]: c for c in patch["conditions"]}
    assert patch["conditions"][0]["type"] == "Ready"  # Ready stays first: the summary
    assert by_type["Provisioned"]["status"] == "True" and by_type["Provisioned"]["observedGeneration"] == 3
    again, _ = next_status(
        {"conditions": patch["conditions"], "observedGeneration": 3}, verdict, 3, now="2026-02-02T00:00:00Z"
    )
    assert "conditions" not in again  # nothing changed, nothing written


def test_keep_status_writes_nothing_but_still_posts_the_verdicts_events() -> None:
    verdict = Verdict.not_ready(Reason.AZURE_UNAVAILABLE, "503", requeue_after=5.0)
    verdict.keep_status = True
    verdict.events.append(Event("Normal", "X", "x"))
    patch, events = next_status({"conditions": []}, verdict, 1)
    assert patch == {} and [e.reason for e in events] == ["X"]


def test_a_requeue_without_a_delay_is_refused() -> None:
    with pytest.raises(ValueError):
        Verdict("False", Reason.CREATING, "x", finality=Finality.REQUEUE)


def test_a_failure_retried_by_itself_keeps_the_observed_generation() -> None:
    """A pass that failed before acting on generation 2 does not claim to have observed it."""
    old, _ = next_status(None, Verdict.ready(Reason.SUCCEEDED, "ok"), generation=1, now=T0)
    failed = Verdict.not_ready(Reason.AZURE_UNAVAILABLE, "503; retrying in 5 s", requeue_after=5.0)
    failed.observed = False
    patch, _ = next_status(old, failed, generation=2, now=T1)
    assert "observedGeneration" not in patch
    assert patch["conditions"][0]["reason"] == "AzureUnavailable"
    assert patch["conditions"][0]["observedGeneration"] == 1
    acted, _ = next_status(apply(old, patch), Verdict.ready(Reason.SUCCEEDED, "ok"), generation=2, now=T2)
    assert acted["observedGeneration"] == 2


def test_a_merge_patch_applies_and_is_taken_back_exactly() -> None:
    before = {"traffic": {"blue": 100}, "observedGeneration": 1}
    patch = {"traffic": {"blue": None, "green": 100}, "azureResourceId": "/x", "observedGeneration": 2}
    after = merged(before, patch)
    assert after == {"traffic": {"green": 100}, "azureResourceId": "/x", "observedGeneration": 2}
    assert merged(after, undo(before, after, patch)) == before
