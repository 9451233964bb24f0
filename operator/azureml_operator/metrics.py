"""Prometheus metrics. Labels are kinds, reasons, HTTP methods and outcomes only: never an object's
name (unbounded), never anything from a Secret."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on a background thread (prometheus-client's own server)."""
    start_http_server(port, addr=addr, registry=REGISTRY)
