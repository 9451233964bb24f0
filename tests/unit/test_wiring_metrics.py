"""A pass in the metrics (wiring.count): its result, a drift repair, and the first Ready timed from
the object's creation, once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from runtime_fakes import online_endpoint

from azureml_operator import metrics, wiring
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.reconcilers.objects import Obj


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def created_ago(seconds: float) -> Obj:
    body = online_endpoint("timed")
    stamp = datetime.fromtimestamp(time.time() - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["metadata"]["creationTimestamp"] = stamp
    return Obj.from_body("OnlineEndpoint", "onlineendpoints", body)


def test_the_first_ready_is_timed_from_creation_and_only_once() -> None:
    obj, schedule = created_ago(90), wiring.Schedule("OnlineEndpoint", ready_before=False)
    count = "azureml_operator_time_to_ready_seconds_count"
    before, total = (
        sample(count, kind="OnlineEndpoint"),
        sample(count.replace("count", "sum"), kind="OnlineEndpoint"),
    )
    wiring.count(
        "OnlineEndpoint", obj, Verdict.not_ready(Reason.CREATING, "creating"), schedule, "start", 0.1
    )
    assert sample(count, kind="OnlineEndpoint") == before
    ready = Verdict.ready(Reason.SUCCEEDED, "ok")
    wiring.count("OnlineEndpoint", obj, ready, schedule, "retry", 0.1)
    wiring.count("OnlineEndpoint", obj, ready, schedule, "drift", 0.1)
    assert sample(count, kind="OnlineEndpoint") == before + 1
    took = sample(count.replace("count", "sum"), kind="OnlineEndpoint") - total
    assert 89 <= took <= 100


def test_an_object_ready_when_first_seen_is_not_timed_and_a_repair_is_counted() -> None:
    schedule = wiring.Schedule("OnlineEndpoint", ready_before=True)
    count = "azureml_operator_time_to_ready_seconds_count"
    before = sample(count, kind="OnlineEndpoint")
    repaired = sample("azureml_operator_drift_repairs_total", kind="OnlineEndpoint", action="update")
    verdict = Verdict.ready(Reason.SUCCEEDED, "ok")
    verdict.drift_repaired = "update"
    wiring.count("OnlineEndpoint", created_ago(5000), verdict, schedule, "drift", 0.1)
    assert sample(count, kind="OnlineEndpoint") == before
    assert (
        sample("azureml_operator_drift_repairs_total", kind="OnlineEndpoint", action="update") == repaired + 1
    )
