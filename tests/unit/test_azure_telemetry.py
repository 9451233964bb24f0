"""What an HTTP exchange with Azure adds to the metrics: bounded operation labels (resource types,
never names), status codes, latency, 429s and ARM's remaining budget from its headers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest

from azureml_operator import metrics
from azureml_operator.azure import telemetry
from azureml_operator.azure.ratelimit import ArmRateLimiter, BucketSpec

SUB = "00000000-0000-0000-0000-0000000000aa"
WS = f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{WS}?api-version=2024-01-01-preview", "workspaces"),
        (f"{WS}/onlineEndpoints/chat/deployments/blue", "workspaces/onlineEndpoints/deployments"),
        (f"{WS}/onlineEndpoints", "workspaces/onlineEndpoints"),
        (f"{WS}/serverlessEndpoints/llama/listKeys", "workspaces/serverlessEndpoints/listKeys"),
        (
            f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/"
            "locations/eastus2/mfeOperationResults/abc-123",
            "locations/mfeOperationResults",
        ),
        (f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg", "other"),
        ("https://eastus.api.azureml.ms/discovery", "other"),
        (f"{WS}/onlineEndpoints/chat/deployments/blue/../../x-y", "other"),
    ],
)
def test_an_operation_is_the_resource_types_of_the_path(url: str, expected: str) -> None:
    assert telemetry.operation(url) == expected


def exchange(method: str, url: str, code: int, headers: dict[str, str]) -> Any:
    request = SimpleNamespace(method=method, url=url)
    response = SimpleNamespace(status_code=code, headers=headers)
    pipeline_request = SimpleNamespace(http_request=request, context={})
    telemetry.on_request(pipeline_request)
    return SimpleNamespace(http_request=request, http_response=response, context=pipeline_request.context)


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_answer_counts_by_operation_and_code_and_reads_the_remaining_budget() -> None:
    url = f"{WS}/onlineEndpoints/chat-x1/deployments/blue"
    labels = {"method": "PUT", "operation": "workspaces/onlineEndpoints/deployments"}
    before = sample("azureml_operator_azure_http_requests_total", **labels, code="201")
    timed = sample("azureml_operator_azure_http_request_duration_seconds_count", **labels)
    telemetry.on_response(exchange("PUT", url, 201, {"x-ms-ratelimit-remaining-subscription-writes": "187"}))
    assert sample("azureml_operator_azure_http_requests_total", **labels, code="201") == before + 1
    assert sample("azureml_operator_azure_http_request_duration_seconds_count", **labels) == timed + 1
    assert sample("azureml_operator_arm_ratelimit_remaining", subscription=SUB, budget="writes") == 187
    exposed = generate_latest(metrics.REGISTRY).decode()
    assert "chat-x1" not in exposed and "blue" not in exposed  # names never become labels


def test_a_429_is_counted_as_throttled() -> None:
    before = sample("azureml_operator_arm_throttled_requests_total")
    telemetry.on_response(exchange("GET", WS, 429, {"Retry-After": "3"}))
    assert sample("azureml_operator_arm_throttled_requests_total") == before + 1
    telemetry.on_response(exchange("GET", WS, 200, {"x-ms-ratelimit-remaining-subscription-reads": "n/a"}))
    assert sample("azureml_operator_arm_throttled_requests_total") == before + 1


def test_the_remaining_budget_reaches_the_rate_limiter_less_the_requests_still_in_flight() -> None:
    sub = "00000000-0000-0000-0000-0000000000bb"  # a subscription of this test's own
    url = WS.replace(SUB, sub) + "/serverlessEndpoints/ep"
    limiter = ArmRateLimiter(buckets={k: BucketSpec(100, 10) for k in ("reads", "writes", "deletes")})
    answered = exchange("PUT", url, 200, {"x-ms-ratelimit-remaining-subscription-writes": "20"})
    exchange("PUT", url, 200, {})  # sent, not answered yet
    telemetry.on_response(answered)
    taken = 0
    while limiter.try_acquire(sub, "PUT") == 0.0:
        taken += 1
    assert taken == 5  # 20 - 1 in flight = 19, down to the low-water mark of 15 at once
    assert limiter.try_acquire(sub, "GET") == 0.0  # reads untouched
