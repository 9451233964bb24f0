"""The simulator's knobs: seeded workspaces, provisioning durations, limits and throttling.

Durations are the real service's, in seconds, before `latency_scale` shrinks them. Where the
references have no figure (marked UNVERIFIED there) the value here is our best guess at Azure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class WorkspaceSeed:
    subscription: str
    resource_group: str
    name: str
    location: str

    _SPEC = re.compile(r"^(?P<sub>[^/@]+)/(?P<rg>[^/@]+)/(?P<name>[^/@]+)@(?P<loc>[A-Za-z0-9]+)$")

    @classmethod
    def parse(cls, text: str) -> WorkspaceSeed:
        """`SUB/RG/NAME@LOCATION`, as given to `--workspace`."""
        m = cls._SPEC.match(text.strip())
        if not m:
            raise ValueError(f"workspace must look like SUB/RG/NAME@LOCATION, got {text!r}")
        return cls(m["sub"], m["rg"], m["name"], m["loc"].lower())


DEFAULT_WORKSPACE = WorkspaceSeed(DEFAULT_SUBSCRIPTION, "rg-sim", "ws-sim", "eastus2")


@dataclass(frozen=True)
class Durations:
    """Real-world seconds for each asynchronous step."""

    # No figure is published (UNVERIFIED); Marketplace purchases are a SaaS call, so half a minute.
    marketplace_create: float = 30
    marketplace_delete: float = 20
    # "Can take a few minutes" (verified wording); two minutes chosen.
    serverless_create: float = 120
    serverless_update: float = 30
    serverless_delete: float = 60
    # UNVERIFIED, ~1-2 minutes assumed by the references.
    online_endpoint_create: float = 90
    online_endpoint_update: float = 30
    online_endpoint_delete: float = 120
    # "Up to 15 minutes" for a first image build; later ones are faster.
    deployment_create: float = 600
    deployment_update: float = 180
    deployment_scale: float = 120
    deployment_delete: float = 90
    key_regeneration: float = 10
    # Fine-tuning: no published figures (UNVERIFIED). Queue, start-up, then per-epoch training.
    job_queue: float = 20
    job_start: float = 120
    job_epoch: float = 600
    job_cancel: float = 15
    job_delete: float = 10


@dataclass(frozen=True)
class Limits:
    """Per subscription and region unless noted (azure-ml-service-rules.md §13)."""

    online_endpoints: int = 100
    online_deployments: int = 500
    deployments_per_endpoint: int = 20
    instances_per_deployment: int = 50
    # A stand-in for the VM-core quota: instances (times 1.2, the upgrade reserve) a region may hold.
    instance_quota: int = 120
    page_size: int = 100


@dataclass(frozen=True)
class Bucket:
    capacity: float
    refill_per_second: float


@dataclass(frozen=True)
class ThrottleConfig:
    """ARM's per-subscription token buckets (azure-ml-service-rules.md §7)."""

    enabled: bool = True
    reads: Bucket = Bucket(250, 25)
    writes: Bucket = Bucket(200, 10)
    deletes: Bucket = Bucket(200, 10)


@dataclass(frozen=True)
class SimulatorConfig:
    workspaces: tuple[WorkspaceSeed, ...] = (DEFAULT_WORKSPACE,)
    latency_scale: float = 1.0
    durations: Durations = field(default_factory=Durations)
    limits: Limits = field(default_factory=Limits)
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    seed: int = 0
    # Lifetime of an AMLToken endpoint's token, never scaled (tests shorten it through the admin API).
    # The references show a refresh time an hour before expiry but no lifetime (UNVERIFIED): one hour
    # is assumed, with the refresh time at its half.
    token_lifetime: float = 3600

    def duration(self, name: str) -> float:
        return float(getattr(self.durations, name)) * self.latency_scale

    @property
    def retry_after(self) -> int:
        """Seconds to advertise in Retry-After while an operation runs.

        The spec's minimum is 10 s; scaled down for tests, but never 0, which the SDK reads as 30 s.
        """
        return max(1, math.ceil(10 * self.latency_scale))
