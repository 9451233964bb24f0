"""Prometheus metrics. Labels are kinds, reasons, HTTP methods, ARM operations (resource types,
never names), status codes, outcomes and subscription ids only: never an object's name
(unbounded), never anything from a Secret. Every series is documented in docs/metrics.md; series
with a known, small label set are created at zero so that they exist (and alerts on them work)
before anything happened."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# A `_created` series beside every counter doubles the series count and says nothing a rate() needs.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "azureml_operator_reconciles",
    "Reconcile passes, by kind, trigger and the Ready reason they ended with",
    ["kind", "trigger", "reason"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "azureml_operator_reconcile_duration_seconds",
    "Time one reconcile pass took, Azure calls included",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
AZURE_REQUESTS = Counter(
    "azureml_operator_azure_requests",
    "Calls to Azure, by HTTP method and outcome",
    ["method", "outcome"],
    registry=REGISTRY,
)
DRIFT_REPAIRS = Counter(
    "azureml_operator_drift_repairs",
    "Writes that put back what changed in Azure outside Kubernetes, by kind and how (update, recreate)",
    ["kind", "action"],
    registry=REGISTRY,
)
AZURE_HTTP_REQUESTS = Counter(
    "azureml_operator_azure_http_requests",
    "HTTP requests Azure answered, by method, ARM operation (resource types, no names) and status code",
    ["method", "operation", "code"],
    registry=REGISTRY,
)
AZURE_HTTP_SECONDS = Histogram(
    "azureml_operator_azure_http_request_duration_seconds",
    "Time from sending a request to Azure to its answer, by method and ARM operation",
    ["method", "operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
ARM_THROTTLED = Counter(
    "azureml_operator_arm_throttled_requests",
    "Requests ARM refused with 429 Too Many Requests",
    registry=REGISTRY,
)
ARM_REMAINING = Gauge(
    "azureml_operator_arm_ratelimit_remaining",
    "Requests left in the subscription's ARM budget, as ARM's last answer said "
    "(x-ms-ratelimit-remaining-subscription-reads|writes|deletes)",
    ["subscription", "budget"],
    registry=REGISTRY,
)
TIME_TO_READY = Histogram(
    "azureml_operator_time_to_ready_seconds",
    "Seconds from an object's creation to the first Ready this operator saw it reach",
    ["kind"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "azureml_operator_arm_rate_limit_wait_seconds",
    "Seconds calls waited for the client-side ARM rate limiter (including after 429s)",
    registry=REGISTRY,
)


class ReadinessCollector(Collector):
    """`azureml_operator_resources{kind, ready, reason}`: how many objects are in each state now."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[str, str, str]] = {}

    def observe(self, uid: str, kind: str, ready: str, reason: str) -> None:
        self._state[uid] = (kind, ready, reason)

    def forget(self, uid: str) -> None:
        self._state.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "azureml_operator_resources",
            "Objects by kind and Ready condition",
            labels=["kind", "ready", "reason"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for labels in list(self._state.values()):
            counts[labels] = counts.get(labels, 0) + 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        yield family


RESOURCES = ReadinessCollector()
REGISTRY.register(RESOURCES)


DRIFT_ACTIONS = ("update", "recreate")


def initialise(kinds: list[str]) -> None:
    """Create the per-kind series at zero, so a dashboard or an alert sees every kind from the start."""
    for kind in kinds:
        RECONCILE_SECONDS.labels(kind)
        TIME_TO_READY.labels(kind)
        for action in DRIFT_ACTIONS:
            DRIFT_REPAIRS.labels(kind, action)


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on a background thread (prometheus-client's own server)."""
    start_http_server(port, addr=addr, registry=REGISTRY)
