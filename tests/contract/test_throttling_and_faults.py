"""ARM throttling (azure-ml-service-rules.md §7) and injected faults (`/_sim/faults`), as the SDK and
raw ARM clients see them: 429 + Retry-After + remaining-quota headers, per-kind token buckets, SDK
retries (azure-ml-arm-contract.md §2.2), and faults that fail requests or long-running operations.

Bucket refills are driven with `POST /_sim/clock` where possible; only the SDK-retry tests wait for
a real Retry-After (1 s).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from azure.ai.ml.entities import ManagedOnlineEndpoint, ServerlessEndpoint
from azure.core.exceptions import HttpResponseError
from sdk_errors import expect_arm_error

SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
API = "2024-10-01-preview"
BEARER = {"Authorization": "Bearer contract-test"}
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
PHI3 = "azureml://registries/azureml/models/Phi-3-mini-4k-instruct"
READS = "x-ms-ratelimit-remaining-subscription-reads"
WRITES = "x-ms-ratelimit-remaining-subscription-writes"
DELETES = "x-ms-ratelimit-remaining-subscription-deletes"


def ws_url(sim: Any, sub: str = SUB) -> str:
    return (
        f"{sim.base_url}/subscriptions/{sub}/resourceGroups/rg-sim/providers/"
        "Microsoft.MachineLearningServices/workspaces/ws-sim"
    )


def call(sim: Any, method: str, url: str, json: Any = None) -> requests.Response:
    return requests.request(
        method, url, params={"api-version": API}, json=json, headers=BEARER, verify=str(sim.ca), timeout=60
    )


def job_body() -> dict[str, Any]:
    return {
        "properties": {
            "jobType": "FineTuning",
            "experimentName": "throttle",
            "properties": {},
            "fineTuningDetails": {
                "modelProvider": "Custom",
                "taskType": "ChatCompletion",
                "model": {"jobInputType": "mlflow_model", "uri": f"{PHI}/versions/1"},
                "trainingData": {
                    "jobInputType": "uri_file",
                    "uri": "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl",
                },
            },
        }
    }


def admin_raw(sim: Any, method: str, route: str, body: Any = None) -> requests.Response:
    """The admin API without SimulatorProcess.admin's raise-on-error, to see its 4xx replies."""
    return requests.request(method, f"{sim.base_url}/_sim/{route}", json=body, verify=str(sim.ca), timeout=30)


def throttle(sim: Any, **buckets: tuple[float, float]) -> None:
    sim.admin(
        "POST",
        "throttle",
        {k: {"capacity": cap, "refillPerSecond": rate} for k, (cap, rate) in buckets.items()},
    )


def fast_operations(sim: Any) -> None:
    """Operations started from now on finish before the SDK's first (immediate) status poll."""
    sim.admin("POST", "latency", {"scale": 0.00001})


# -- throttling --------------------------------------------------------------------------------


def test_reads_beyond_the_bucket_get_429_with_retry_after(sim) -> None:
    throttle(sim, reads=(3, 0.5))
    ok = [call(sim, "GET", ws_url(sim)) for _ in range(3)]
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [int(r.headers[READS]) for r in ok] == [2, 1, 0]

    refused = call(sim, "GET", ws_url(sim))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "SubscriptionRequestsThrottled"
    assert "'read' requests" in error["message"] and SUB in error["message"]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 2  # one token at 0.5 per second
    assert refused.headers[READS] == "0"
    assert refused.headers["x-ms-request-id"]

    # A request sent before the period is over is refused again; the simulated clock refills it.
    assert call(sim, "GET", ws_url(sim)).status_code == 429
    sim.admin("POST", "clock", {"advanceSeconds": retry_after})
    assert call(sim, "GET", ws_url(sim)).status_code == 200

    stats = sim.admin("GET", "stats")
    assert stats["throttled"] == 2
    assert stats["requests"]["GET workspaces"] == 6  # throttled requests are counted as received


def test_bucket_refills_up_to_its_capacity_only(sim) -> None:
    throttle(sim, reads=(2, 0.01))
    assert [call(sim, "GET", ws_url(sim)).status_code for _ in range(3)] == [200, 200, 429]
    sim.admin("POST", "clock", {"advanceSeconds": 3600})
    codes = [call(sim, "GET", ws_url(sim)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_throttled_write_is_not_processed(sim, ml) -> None:
    throttle(sim, writes=(1, 0.01))
    assert call(sim, "PUT", f"{ws_url(sim)}/jobs/first", job_body()).status_code == 201
    refused = call(sim, "PUT", f"{ws_url(sim)}/jobs/second", job_body())
    assert refused.status_code == 429
    assert "'write' requests" in refused.json()["error"]["message"]
    assert 95 <= int(refused.headers["Retry-After"]) <= 100  # one token at 0.01 per second
    assert refused.headers[WRITES] == "0"
    assert [j.name for j in ml.jobs.list()] == ["first"]


def test_reads_writes_and_deletes_have_their_own_buckets(sim) -> None:
    throttle(sim, reads=(1, 0.01), writes=(1, 0.01), deletes=(1, 0.01))
    jobs = f"{ws_url(sim)}/jobs"

    put = call(sim, "PUT", f"{jobs}/j1", job_body())
    assert put.status_code == 201 and put.headers[WRITES] == "0" and READS not in put.headers
    assert call(sim, "PUT", f"{jobs}/j2", job_body()).status_code == 429  # writes exhausted

    get = call(sim, "GET", f"{jobs}/j1")  # reads unaffected by the writes
    assert get.status_code == 200 and get.headers[READS] == "0" and WRITES not in get.headers
    assert call(sim, "GET", f"{jobs}/j1").status_code == 429

    delete = call(sim, "DELETE", f"{jobs}/j1")  # deletes unaffected by both
    assert delete.status_code == 202 and delete.headers[DELETES] == "0"
    refused = call(sim, "DELETE", f"{jobs}/j1")
    assert refused.status_code == 429
    assert "'delete' requests" in refused.json()["error"]["message"]
    # A POST action is a write.
    assert call(sim, "POST", f"{jobs}/j1/cancel").status_code == 429
    assert sim.admin("GET", "stats")["throttled"] == 4


def test_buckets_are_per_subscription(sim) -> None:
    throttle(sim, reads=(1, 0.01))
    assert call(sim, "GET", ws_url(sim)).status_code == 200
    assert call(sim, "GET", ws_url(sim)).status_code == 429
    # Another subscription has its own bucket (and is unknown here, hence 404, not 429).
    other = call(sim, "GET", ws_url(sim, OTHER_SUB))
    assert other.status_code == 404 and other.json()["error"]["code"] == "SubscriptionNotFound"


def test_reset_restores_the_command_line_throttle_configuration(sim) -> None:
    throttle(sim, reads=(3, 0.5))
    sim.admin("POST", "reset")
    # The session simulator runs with the default buckets (reads 250 @ 25/s).
    assert call(sim, "GET", ws_url(sim)).headers[READS] == "249"


def test_disabled_throttling_never_refuses(sim) -> None:
    sim.admin("POST", "throttle", {"enabled": False, "reads": {"capacity": 1, "refillPerSecond": 0.01}})
    replies = [call(sim, "GET", ws_url(sim)) for _ in range(5)]
    assert {r.status_code for r in replies} == {200}
    assert sim.admin("GET", "stats")["throttled"] == 0


def test_sdk_without_retries_raises_the_429(sim, ml) -> None:
    throttle(sim, reads=(1, 0.01))
    call(sim, "GET", ws_url(sim))
    err = expect_arm_error(
        lambda: ml.workspaces.get("ws-sim"), 429, "SubscriptionRequestsThrottled", "exceeded"
    )
    assert 95 <= int(err.response.headers["Retry-After"]) <= 100


def test_sdk_with_retries_recovers_after_retry_after(sim) -> None:
    ml = sim.ml_client(retry_total=3)
    throttle(sim, reads=(2, 1))
    for _ in range(2):
        call(sim, "GET", ws_url(sim))
    ws = ml.workspaces.get("ws-sim")  # 429 with Retry-After: 1, then a retry that finds a token
    assert ws.name == "ws-sim"
    stats = sim.admin("GET", "stats")
    assert stats["throttled"] >= 1
    assert stats["requests"]["GET workspaces"] == 2 + stats["throttled"] + 1


def test_sdk_lro_polls_count_as_reads(sim) -> None:
    # Status polls spend read tokens like any GET (azure-ml-service-rules.md §7). A bucket that
    # practically does not refill makes the count exact.
    throttle(sim, reads=(100, 0.0001))
    ml = sim.ml_client(retry_total=0)
    fast_operations(sim)
    ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="phi-reads", model_id=PHI)
    ).result()
    remaining = int(call(sim, "GET", ws_url(sim)).headers[READS])
    requests_seen = sim.admin("GET", "stats")["requests"]
    assert requests_seen["GET operations"] >= 1
    reads = sum(v for k, v in requests_seen.items() if k.startswith("GET "))
    assert remaining == 100 - reads
    assert requests_seen["PUT serverlessEndpoints"] == 1  # writes do not spend read tokens


# -- faults: errors and retries ----------------------------------------------------------------


def test_503_fault_is_retried_by_the_sdk(sim) -> None:
    sim.admin("POST", "faults", {"method": "GET", "resourceType": "workspaces", "status": 503, "count": 2})
    ml = sim.ml_client(retry_total=3)
    assert ml.workspaces.get("ws-sim").name == "ws-sim"
    stats = sim.admin("GET", "stats")
    assert stats["faultsFired"] == 2
    assert stats["requests"]["GET workspaces"] == 3
    assert sim.admin("GET", "faults")["faults"] == []  # the rule is used up


def test_500_fault_without_retries_raises(sim, ml) -> None:
    sim.admin("POST", "faults", {"resourceType": "workspaces", "status": 500})
    expect_arm_error(lambda: ml.workspaces.get("ws-sim"), 500, "InternalServerError", "Simulated fault")
    expect_arm_error(lambda: ml.workspaces.get("ws-sim"), 500, "InternalServerError")
    assert sim.admin("GET", "stats")["faultsFired"] == 2
    sim.admin("DELETE", "faults")
    assert ml.workspaces.get("ws-sim").name == "ws-sim"


def test_fault_with_its_own_code_message_and_retry_after(sim) -> None:
    sim.admin(
        "POST",
        "faults",
        {"status": 429, "code": "TooManyRequests", "message": "slow down", "retryAfter": 7, "count": 1},
    )
    resp = call(sim, "GET", ws_url(sim))
    assert resp.status_code == 429
    assert resp.json()["error"] == {
        "code": "TooManyRequests",
        "message": "slow down",
        "target": None,
        "details": [],
        "additionalInfo": [],
    }
    assert resp.headers["Retry-After"] == "7"
    assert call(sim, "GET", ws_url(sim)).status_code == 200


def test_fault_prevents_the_request_from_being_processed(sim, ml) -> None:
    sim.admin("POST", "faults", {"method": "PUT", "resourceType": "jobs", "status": 503, "count": 1})
    assert call(sim, "PUT", f"{ws_url(sim)}/jobs/faulted", job_body()).status_code == 503
    assert list(ml.jobs.list()) == []
    assert call(sim, "PUT", f"{ws_url(sim)}/jobs/faulted", job_body()).status_code == 201


def test_fault_matches_method_type_action_and_name(sim, ml) -> None:
    fast_operations(sim)
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="victim-1", model_id=PHI)).result()
    ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="bystander", model_id=PHI3)
    ).result()
    sim.admin(
        "POST",
        "faults",
        {
            "method": "POST",
            "resourceType": "serverlessEndpoints",
            "action": "listKeys",
            "name": "victim-*",
            "status": 500,
        },
    )
    expect_arm_error(lambda: ml.serverless_endpoints.get_keys("victim-1"), 500, "InternalServerError")
    assert ml.serverless_endpoints.get_keys("bystander").primary_key
    assert ml.serverless_endpoints.get("victim-1").name == "victim-1"  # GET, no action: not matched
    assert sim.admin("GET", "stats")["faultsFired"] == 1


def test_action_empty_string_matches_only_requests_without_action(sim) -> None:
    sim.admin("POST", "faults", {"resourceType": "jobs", "action": "", "status": 500})
    assert call(sim, "POST", f"{ws_url(sim)}/jobs/x/cancel").status_code == 404  # an action: passes
    assert call(sim, "GET", f"{ws_url(sim)}/jobs/x").status_code == 500


def test_latency_fault_delays_the_reply(sim, ml) -> None:
    sim.admin("POST", "faults", {"resourceType": "workspaces", "latencyMs": 400, "count": 1})
    started = time.monotonic()
    assert ml.workspaces.get("ws-sim").name == "ws-sim"
    assert time.monotonic() - started >= 0.4
    assert sim.admin("GET", "stats")["faultsFired"] == 1


def test_rate_zero_never_fires(sim, ml) -> None:
    sim.admin("POST", "faults", {"resourceType": "workspaces", "status": 500, "rate": 0})
    for _ in range(20):
        assert call(sim, "GET", ws_url(sim)).status_code == 200
    assert sim.admin("GET", "stats")["faultsFired"] == 0
    assert len(sim.admin("GET", "faults")["faults"]) == 1


def test_fractional_rate_fires_sometimes(sim) -> None:
    sim.admin("POST", "faults", {"resourceType": "workspaces", "status": 500, "rate": 0.5})
    codes = [call(sim, "GET", ws_url(sim)).status_code for _ in range(40)]
    assert 0 < codes.count(500) < 40
    assert sim.admin("GET", "stats")["faultsFired"] == codes.count(500)


def test_rate_pattern_is_repeatable_after_reset(sim) -> None:
    def pattern() -> list[int]:
        sim.admin("POST", "reset")
        sim.admin("POST", "faults", {"resourceType": "workspaces", "status": 500, "rate": 0.5})
        return [call(sim, "GET", ws_url(sim)).status_code for _ in range(16)]

    first = pattern()
    assert 200 in first and 500 in first
    assert pattern() == first


def test_fault_rules_are_listed_and_cleared(sim) -> None:
    added = sim.admin(
        "POST",
        "faults",
        {"faults": [{"status": 503, "resourceType": "jobs"}, {"latencyMs": 10, "name": "x*"}]},
    )["faults"]
    assert [r["status"] for r in added] == [503, None]
    assert added[0]["id"] != added[1]["id"]
    listed = sim.admin("GET", "faults")["faults"]
    assert [r["id"] for r in listed] == [r["id"] for r in added]
    assert listed[1]["name"] == "x*" and listed[1]["latencyMs"] == 10
    assert sim.admin("DELETE", "faults") == {"faults": []}
    assert sim.admin("GET", "faults")["faults"] == []


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ({"status": 500, "colour": "red"}, "Unknown fault rule field 'colour'"),
        ({"status": "500"}, "'status' has the wrong type"),
        ({"status": 500, "rate": "half"}, "'rate' has the wrong type"),
        ({"failOperation": 1}, "'failOperation' has the wrong type"),
        ({"status": 200}, "400-599"),
        ({"status": 500, "rate": 1.5}, "between 0 and 1"),
        ({"status": 500, "rate": -0.1}, "between 0 and 1"),
        ({"status": 500, "count": 0}, "at least 1"),
        ({"latencyMs": -5}, "latencyMs"),
        ({"latencyMs": 600_001}, "latencyMs"),
        ({"resourceType": "jobs"}, "needs 'status', 'latencyMs' or 'failOperation'"),
        ({"status": 500, "failOperation": True}, "not both"),
        ({"faults": []}, "No fault rules"),
        ({"faults": ["oops"]}, "JSON object"),
    ],
)
def test_invalid_fault_rules_are_refused(sim, rule: Any, match: str) -> None:
    resp = admin_raw(sim, "POST", "faults", rule)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] in ("InvalidFaultRule", "InvalidAdminRequest")
    assert match in error["message"]
    assert sim.admin("GET", "faults")["faults"] == []


def test_a_batch_with_an_invalid_rule_adds_none_of_them(sim) -> None:
    resp = admin_raw(sim, "POST", "faults", {"faults": [{"status": 500}, {"status": 200}]})
    assert resp.status_code == 400
    assert sim.admin("GET", "faults")["faults"] == []


def test_admin_api_refuses_bad_requests(sim) -> None:
    assert admin_raw(sim, "POST", "faults", [1]).status_code == 400  # body must be an object
    assert admin_raw(sim, "POST", "clock", {"advanceSeconds": -1}).status_code == 400
    assert admin_raw(sim, "POST", "latency", {"scale": 0}).status_code == 400
    assert admin_raw(sim, "POST", "throttle", {"reads": {"capacity": "lots"}}).status_code == 400
    assert admin_raw(sim, "POST", "throttle", {"enabled": "yes"}).status_code == 400
    missing = admin_raw(sim, "GET", "nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"


# -- faults: failed long-running operations -----------------------------------------------------


def test_fail_operation_on_serverless_create(sim, ml) -> None:
    fast_operations(sim)
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "serverlessEndpoints",
            "failOperation": True,
            "code": "ServerlessCapacityUnavailable",
            "message": "No capacity for phi-broken.",
        },
    )
    poller = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="phi-broken", model_id=PHI)
    )
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert "No capacity for phi-broken." in str(info.value)
    assert info.value.error.code == "ServerlessCapacityUnavailable"
    assert poller.status().lower() == "failed"

    endpoint = ml.serverless_endpoints.get("phi-broken")
    assert endpoint.provisioning_state == "failed"
    raw = call(sim, "GET", f"{ws_url(sim)}/serverlessEndpoints/phi-broken").json()
    assert raw["properties"]["endpointState"] == "CreationFailed"
    assert sim.admin("GET", "stats")["faultsFired"] == 1


def test_fail_operation_default_message_names_the_rule(sim, ml) -> None:
    fast_operations(sim)
    rule = sim.admin(
        "POST", "faults", {"resourceType": "serverlessEndpoints", "failOperation": True, "count": 1}
    )
    rule_id = rule["faults"][0]["id"]
    with pytest.raises(HttpResponseError) as info:
        ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="phi-dflt", model_id=PHI)
        ).result()
    assert info.value.error.code == "SimulatedFailure"
    assert f"rule {rule_id}" in info.value.error.message
    # The rule is used up: the next endpoint (another model: one per model per workspace) succeeds.
    ok = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="phi-ok", model_id=PHI3)
    ).result()
    assert ok.provisioning_state == "succeeded"


def test_fail_operation_on_online_endpoint_create(sim, ml) -> None:
    fast_operations(sim)
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "onlineEndpoints",
            "failOperation": True,
            "code": "OutOfQuota",
            "message": "Not enough quota for endpoint oe-broken.",
        },
    )
    with pytest.raises(HttpResponseError) as info:
        ml.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="oe-broken", auth_mode="key")
        ).result()
    assert info.value.error.code == "OutOfQuota"
    assert "Not enough quota for endpoint oe-broken." in str(info.value)
    assert ml.online_endpoints.get("oe-broken").provisioning_state == "Failed"


def test_fail_operation_on_delete_leaves_the_resource_failed(sim, ml) -> None:
    fast_operations(sim)
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="phi-keep", model_id=PHI)).result()
    sim.admin("POST", "faults", {"method": "DELETE", "failOperation": True, "message": "delete refused"})
    with pytest.raises(HttpResponseError) as info:
        ml.serverless_endpoints.begin_delete("phi-keep").result()
    assert "delete refused" in str(info.value)
    endpoint = ml.serverless_endpoints.get("phi-keep")
    assert endpoint.provisioning_state == "failed"
