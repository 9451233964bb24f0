"""`azureml-operator run`'s configuration: flags, each with an environment variable of the same
meaning (flags win), parsed into one frozen `Settings` value that the rest of the operator is given.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from azureml_operator.azure.client import WorkspaceTarget
from azureml_operator.azure.cloud import PUBLIC_ARM, normalise_base
from azureml_operator.azure.credentials import is_loopback
from azureml_operator.election import Timings, own_namespace
from azureml_operator.logs import FORMATS, LEVELS

ENV_PREFIX = "AZUREML_OPERATOR_"


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    default_workspace: WorkspaceTarget | None = None
    arm_endpoint: str = PUBLIC_ARM
    ca_bundle: str | None = None
    metrics_port: int = 8080
    health_port: int = 8081
    drift_interval: float = 600.0
    # listKeys is a POST, which ARM counts as a write: a Ready endpoint's keys are read this often,
    # not at every drift check (a Secret missing its keys, or a rotation, reads them at once).
    keys_check_interval: float = 3600.0
    azure_concurrency: int = 8
    dev_credential: bool = False  # the operator's own identity is a static token (simulator only)
    log_level: str = "INFO"
    log_format: str = "text"
    cluster_wide_claims: bool = False
    # One active replica among several: run only while holding this Lease (leader.py).
    leader_election: bool = False
    lease_name: str = "azureml-operator"
    lease_namespace: str | None = None
    lease_timings: Timings = field(default_factory=Timings)

    @property
    def operator_credential_kind(self) -> str:
        return "static" if self.dev_credential else "operator"

    @property
    def lists_cluster(self) -> bool:
        """May the operator list its kinds in every namespace? Watching them all, yes; scoped to its
        namespaces, only when told it is allowed to: it then never reads outside them otherwise."""
        return self.all_namespaces or self.cluster_wide_claims


class SettingsError(ValueError):
    pass


def parse_workspace(text: str) -> WorkspaceTarget:
    """`SUBSCRIPTION/RESOURCE_GROUP/WORKSPACE`, or a workspace ARM id."""
    parts = [p for p in text.strip().split("/") if p]
    shape = [
        "subscriptions",
        None,
        "resourcegroups",
        None,
        "providers",
        "microsoft.machinelearningservices",
        "workspaces",
        None,
    ]
    if len(parts) == 8 and all(
        want is None or part.lower() == want for part, want in zip(parts, shape, strict=True)
    ):
        return WorkspaceTarget(parts[1], parts[3], parts[7])
    if len(parts) == 3:
        return WorkspaceTarget(*parts)
    raise SettingsError(
        f"default workspace {text!r} is not SUBSCRIPTION/RESOURCE_GROUP/WORKSPACE or an ARM id"
    )


def add_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env

    def default(name: str, fallback: str | None = None) -> str | None:
        return env.get(ENV_PREFIX + name, fallback)

    def enabled(name: str) -> bool:
        return (default(name) or "").lower() in ("1", "true", "yes")

    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        help=f"watch this namespace (repeatable; env {ENV_PREFIX}NAMESPACES, comma-separated)",
    )
    scope.add_argument(
        "--all-namespaces",
        "-A",
        action="store_true",
        default=None,
        help=f"watch every namespace (env {ENV_PREFIX}ALL_NAMESPACES=true)",
    )
    parser.add_argument(
        "--cluster-wide-claims",
        action="store_true",
        default=enabled("CLUSTER_WIDE_CLAIMS"),
        help="with --namespace: list this operator's kinds (never Secrets) in every namespace, to "
        "prove that no other namespace's object manages what an adoption or a read by id would "
        f"touch (env {ENV_PREFIX}CLUSTER_WIDE_CLAIMS=true); without it both are refused",
    )
    parser.add_argument(
        "--default-workspace",
        default=default("DEFAULT_WORKSPACE"),
        help="SUB/RG/WORKSPACE used by objects without spec.workspaceRef, with the operator's own identity",
    )
    parser.add_argument(
        "--arm-endpoint", default=default("ARM_ENDPOINT", PUBLIC_ARM), help="Azure Resource Manager base URL"
    )
    parser.add_argument(
        "--ca-bundle",
        default=default("CA_BUNDLE"),
        help="extra PEM CA bundle to trust for ARM (added to certifi's)",
    )
    # Defaults stay strings: argparse converts them with `type` too, so a bad environment value is
    # reported against its flag instead of crashing.
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=default("METRICS_PORT", "8080"),
        help="Prometheus /metrics; 0: off",
    )
    parser.add_argument(
        "--health-port", type=int, default=default("HEALTH_PORT", "8081"), help="liveness /healthz; 0: off"
    )
    parser.add_argument(
        "--drift-interval",
        type=float,
        default=default("DRIFT_INTERVAL", "600"),
        help="seconds at least between drift checks of each object (spread over up to 20 %% more)",
    )
    parser.add_argument(
        "--keys-check-interval",
        type=float,
        default=default("KEYS_CHECK_INTERVAL", "3600"),
        help="seconds between reads of a Ready endpoint's keys from Azure (listKeys counts against "
        "ARM's write budget); keys regenerated outside Kubernetes reach the Secret within this",
    )
    parser.add_argument(
        "--azure-concurrency",
        type=int,
        default=default("AZURE_CONCURRENCY", "8"),
        help="Azure calls in flight at once",
    )
    parser.add_argument(
        "--dev-credential",
        action="store_true",
        default=enabled("DEV_CREDENTIAL"),
        help="use a static development token as the operator's identity (loopback ARM endpoints only)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=default("LOG_LEVEL", "INFO"),
        help="DEBUG, INFO (default), WARNING or ERROR",
    )
    parser.add_argument(
        "--log-format",
        type=str.lower,
        choices=FORMATS,
        default=default("LOG_FORMAT", "text"),
        help="text (default) or json: one object per line, naming the object it is about",
    )
    election = parser.add_argument_group(
        "leader election", "several replicas, one active: it runs while it holds a coordination.k8s.io Lease"
    )
    election.add_argument(
        "--leader-election",
        action="store_true",
        default=enabled("LEADER_ELECTION"),
        help="wait to hold the Lease before reconciling anything; exit when it cannot be renewed",
    )
    election.add_argument(
        "--lease-name", default=default("LEASE_NAME", "azureml-operator"), help="the Lease's name"
    )
    election.add_argument(
        "--lease-namespace",
        default=default("LEASE_NAMESPACE") or env.get("POD_NAMESPACE"),
        help="the Lease's namespace (default: POD_NAMESPACE, else the pod's ServiceAccount namespace)",
    )
    timings = Timings()
    election.add_argument(
        "--lease-duration",
        type=float,
        default=default("LEASE_DURATION", str(timings.lease_duration)),
        help="seconds a standby waits, after the Lease last changed, before taking it",
    )
    election.add_argument(
        "--lease-renew-deadline",
        type=float,
        default=default("LEASE_RENEW_DEADLINE", str(timings.renew_deadline)),
        help="seconds the leader keeps trying to renew before it exits (less than the duration)",
    )
    election.add_argument(
        "--lease-retry-period",
        type=float,
        default=default("LEASE_RETRY_PERIOD", str(timings.retry_period)),
        help="seconds between attempts to take or renew the Lease",
    )
    parser.set_defaults(
        _env_namespaces=default("NAMESPACES"),
        _env_all_namespaces=enabled("ALL_NAMESPACES"),
    )


def from_arguments(args: argparse.Namespace) -> Settings:
    # Flags win over the environment, and either scope flag overrides both environment scopes.
    namespaces = tuple(args.namespaces or ())
    all_namespaces = bool(args.all_namespaces)
    if not namespaces and not all_namespaces:
        if args._env_namespaces:
            namespaces = tuple(n.strip() for n in args._env_namespaces.split(",") if n.strip())
        all_namespaces = not namespaces and args._env_all_namespaces
    if namespaces and all_namespaces:
        raise SettingsError(f"{ENV_PREFIX}NAMESPACES and {ENV_PREFIX}ALL_NAMESPACES exclude each other")
    if not namespaces and not all_namespaces:
        raise SettingsError(
            "say which namespaces to watch: --namespace NAME (repeatable) or --all-namespaces"
        )
    try:
        arm = normalise_base(args.arm_endpoint)
    except ValueError as err:
        raise SettingsError(str(err)) from None
    if args.dev_credential and not is_loopback(arm):
        raise SettingsError(
            f"--dev-credential sends a static token and is only allowed with a loopback ARM endpoint, not {arm}"
        )
    if args.ca_bundle and not os.path.isfile(args.ca_bundle):
        raise SettingsError(f"--ca-bundle {args.ca_bundle}: no such file")
    for flag, port in (("--metrics-port", args.metrics_port), ("--health-port", args.health_port)):
        if not 0 <= port <= 65535:
            raise SettingsError(f"{flag} {port} is not a port number")
    for flag, seconds in (
        ("--keys-check-interval", args.keys_check_interval),
        ("--drift-interval", args.drift_interval),
    ):
        if not (math.isfinite(seconds) and seconds > 0):
            raise SettingsError(f"{flag} must be positive (seconds)")
    if args.azure_concurrency < 1:
        raise SettingsError("--azure-concurrency must be at least 1")
    timings = Timings(args.lease_duration, args.lease_renew_deadline, args.lease_retry_period)
    lease_namespace = args.lease_namespace or (own_namespace() if args.leader_election else None)
    if args.leader_election:
        if not all(
            math.isfinite(t) for t in (timings.lease_duration, timings.renew_deadline, timings.retry_period)
        ):
            raise SettingsError("the lease timings must be finite numbers of seconds")
        if problem := timings.problem():
            raise SettingsError(f"leader election: {problem}")
        if not lease_namespace:
            raise SettingsError(
                "--leader-election needs the Lease's namespace: --lease-namespace, or POD_NAMESPACE (downward API)"
            )
    return Settings(
        namespaces=namespaces,
        all_namespaces=all_namespaces,
        default_workspace=parse_workspace(args.default_workspace) if args.default_workspace else None,
        arm_endpoint=arm,
        ca_bundle=args.ca_bundle,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        drift_interval=args.drift_interval,
        keys_check_interval=args.keys_check_interval,
        azure_concurrency=args.azure_concurrency,
        dev_credential=bool(args.dev_credential),
        log_level="DEBUG"
        if getattr(args, "verbose", False)
        else _one_of("log level", args.log_level, LEVELS),
        log_format=_one_of("log format", args.log_format, FORMATS),
        cluster_wide_claims=bool(args.cluster_wide_claims),
        leader_election=bool(args.leader_election),
        lease_name=args.lease_name,
        lease_namespace=lease_namespace,
        lease_timings=timings,
    )


def _one_of(what: str, value: str, allowed: tuple[str, ...]) -> str:
    """argparse checks `choices` on flags, not on defaults taken from the environment."""
    if value not in allowed:
        raise SettingsError(f"{what} {value!r} is not one of: {', '.join(allowed)}")
    return value


def parse(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="azureml-operator run")
    add_arguments(parser, env)
    return from_arguments(parser.parse_args(list(argv)))
