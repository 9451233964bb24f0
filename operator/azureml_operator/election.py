"""The decisions of leader election on a Lease, pure (no Kubernetes client): the timings and their
safety rule, the Lease record, who may take it, and what each write puts in it. `leader.Elector`
does the reading and writing."""

from __future__ import annotations

import datetime
import math
import os
import socket
import uuid
from dataclasses import dataclass, replace
from typing import Any

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True)
class Timings:
    """client-go's defaults (kube-controller-manager's too)."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problem(self) -> str | None:
        """Why these timings are unsafe, if they are: the old leader must have given up before a
        candidate may take over, and it must get several renewal attempts before giving up."""
        if not self.retry_period > 0:
            return "the retry period must be positive"
        if not self.renew_deadline > self.retry_period:
            return "the renew deadline must be longer than the retry period"
        if not self.lease_duration > self.renew_deadline:
            return "the lease duration must be longer than the renew deadline"
        return None


@dataclass(frozen=True)
class Record:
    """The Lease's spec as the elector reads and writes it."""

    holder: str | None = None
    duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> Record:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or None,
            duration_seconds=spec.get("leaseDurationSeconds"),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


def micro_time(now: datetime.datetime | None = None) -> str:
    """metav1.MicroTime's wire format (RFC 3339 with microseconds)."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def may_take(record: Record, identity: str, observed_at: float, now: float, timings: Timings) -> bool:
    """May `identity` write itself into this record? Yes if it is its own, if nobody holds it
    (released), or if its holder has not changed it for a lease duration since it was observed.
    The record's own duration wins when it names one: a releasing leader sets it to 1 s."""
    if record.holder is None or record.holder == identity:
        return True
    duration = record.duration_seconds if record.duration_seconds else timings.lease_duration
    return now >= observed_at + duration


def claimed(record: Record | None, identity: str, timings: Timings, stamp: str) -> Record:
    """The record with `identity` holding it, renewed now (None: there is no Lease yet). As in
    client-go, a new holder counts a transition, the first one does not."""
    duration = math.ceil(timings.lease_duration)
    if record is not None and record.holder == identity:
        return replace(record, renew_time=stamp, duration_seconds=duration)
    return Record(
        holder=identity,
        duration_seconds=duration,
        acquire_time=stamp,
        renew_time=stamp,
        transitions=0 if record is None else record.transitions + 1,
    )


def released(record: Record, stamp: str) -> Record:
    """What a leader leaving on purpose writes: nobody holds it, and whoever reads it may take it
    after a second (client-go's ReleaseOnCancel)."""
    return Record(
        holder=None, duration_seconds=1, acquire_time=stamp, renew_time=stamp, transitions=record.transitions
    )


def identity() -> str:
    """The pod's name (downward API POD_NAME, else the host name, which is the pod's name in a
    cluster) and a random part, so that a restarted container never mistakes its predecessor's
    lease for its own."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def own_namespace() -> str | None:
    """The namespace the pod runs in, from its ServiceAccount's mounted token (None: not in a pod)."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip() or None
    except OSError:
        return None
