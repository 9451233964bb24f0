"""What a workspace connection costs in memory, measured the way the operator builds them.

    .venv/bin/python -m benchmarks.memory --workspaces 1000 [--credentials 1] [--objects 10000]
                                          [--output result.json]

Starts the simulator (`SimulatorProcess`, throttling off) seeded with N workspaces, then, in a fresh
child process per measurement, builds one connection per workspace through `ClientPool.get` (the
operator's only way in) and makes the calls a ServerlessEndpoint with its ModelSubscription makes
first: the workspace's location, a Marketplace subscription GET and a serverless endpoint GET.
One warm-up workspace is built and called before the baseline is taken, so the one-off costs
(imports, the first pipeline, certificate loading) are not charged to the N workspaces.

Two measurements, each in its own child, because tracing memory inflates the RSS it would measure:

* `rss`: VmRSS after warm-up, after the N workspaces, and VmHWM (peak), from /proc/self/status.
* `trace`: tracemalloc (30 frames) from the baseline on; each surviving allocation is charged to the
  innermost frame of a third-party package or of ours (a dict grown inside `copy.py` on behalf of
  azure-ai-ml is azure-ai-ml's), grouped: azure.ai.ml, azure.core, azure.mgmt, azure.identity /
  msal, requests/urllib3, azureml_operator, stdlib (nothing else on the stack).

`--objects M` also holds M kopf-like ServerlessEndpoint bodies (parsed from JSON, as kopf receives
them from a watch) and reports what one costs: the other part of the operator's footprint at scale.

Workspace i uses credential i mod K (`--credentials K`, static development tokens told apart by
client id), so the per-credential cost can be separated from the per-workspace one.

`rss.start_mb` is taken once the operator's Azure layer is imported, `after_warm_up_mb` once the
warm-up workspace answered (azure-ai-ml imported or not: `azure_ai_ml_imported`).

Numbers on this machine (2 cores shared with other work, Python 3.12, azure-ai-ml 1.35.2,
1 credential; RSS per workspace is (after - warm-up) / N):

    client layer                          N      RSS warm-up  after N   per ws   traced per ws
    MLClient + ArmRest per workspace      100    124.9 MB     211.0 MB  882 KB   740 KB
                                          1000   124.8 MB     968.5 MB  864 KB   -
    one pipeline per credential           100    49.7 MB      51.8 MB   21 KB    2.7 KB
    (plain ARM, azure-ai-ml not imported) 1000   49.6 MB      52.8 MB   3.2 KB   0.7 KB

Before, nearly all of the 740 KB traced per workspace was the MLClient's: azure-core 507 KB (the retry policy's
status-code sets alone 315 KB: some forty pipelines per client), azure-ai-ml 166 KB, requests and
urllib3 42 KB (a connection pool per client), msrest 19 KB. After, what is left per workspace is
the connection itself and its entry in the pool (~360 B at N = 1000). The warm-up is 75 MB lower
as well: azure-ai-ml is no longer imported. Peak RSS with 1000 workspaces and 10 000 kopf-like
bodies: 1057 MB before, 142 MB after; such a body costs about 9 KB (8.8 KB traced) either way, so at
10 000 objects the bodies, not the workspaces, are most of what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

SUB = "00000000-0000-0000-0000-000000000000"
WARM = ("rg-sim", "ws-sim")  # the simulator's default workspace: the warm-up
FRAMES = 30
GROUPS = (
    ("azure/ai/ml/", "azure.ai.ml"),
    ("azure/core/", "azure.core"),
    ("azure/mgmt/", "azure.mgmt"),
    ("azure/identity/", "azure.identity/msal"),
    ("msal/", "azure.identity/msal"),
    ("msal_extensions/", "azure.identity/msal"),
    ("requests/", "requests/urllib3"),
    ("urllib3/", "requests/urllib3"),
    ("certifi/", "requests/urllib3"),
    ("idna/", "requests/urllib3"),
    ("charset_normalizer/", "requests/urllib3"),
    ("marshmallow/", "marshmallow"),
    ("pydantic/", "pydantic"),
    ("pydantic_core/", "pydantic"),
    ("prometheus_client/", "prometheus_client"),
)


def workspace_name(i: int) -> str:
    return f"ws-bench-{i:05d}"


# -- the child: one measurement ------------------------------------------------------------------


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def group_of(filename: str) -> str | None:
    """The package a source file belongs to; None for the standard library (look further out)."""
    path = filename.replace("\\", "/")
    if "/azureml_operator/" in path:
        return "azureml_operator"
    if "/benchmarks/" in path:
        return "benchmark"
    if "/site-packages/" not in path:
        return None
    rel = path.split("/site-packages/", 1)[1]
    for prefix, group in GROUPS:
        if rel.startswith(prefix):
            return group
    return rel.split("/", 1)[0].removesuffix(".py")


def attributed(diff: list[tracemalloc.StatisticDiff]) -> dict[str, int]:
    by_group: dict[str, int] = defaultdict(int)
    for stat in diff:
        group = "stdlib"
        for frame in reversed(stat.traceback):  # innermost first
            found = group_of(frame.filename)
            if found is not None:
                group = found
                break
        by_group[group] += stat.size_diff
    return dict(sorted(by_group.items(), key=lambda kv: -kv[1]))


def top_sites(diff: list[tracemalloc.StatisticDiff], limit: int = 15) -> list[dict[str, Any]]:
    by_line: dict[tuple[str, int], int] = defaultdict(int)
    for stat in diff:
        frame = stat.traceback[-1]  # innermost: the allocating line
        by_line[(frame.filename, frame.lineno)] += stat.size_diff
    rows = sorted(by_line.items(), key=lambda kv: -kv[1])[:limit]
    out = []
    for (filename, lineno), size in rows:
        short = filename.split("/site-packages/", 1)[-1].split("/operator/", 1)[-1]
        out.append({"site": f"{short}:{lineno}", "bytes": size})
    return out


def kopf_like_body(i: int) -> str:
    """A ServerlessEndpoint as a watch delivers it once the operator has reconciled it."""
    name = f"endpoint-{i:05d}"
    ns = f"team-{i % 50:02d}"
    spec = {
        "modelId": "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct",
        "subscriptionRef": {"name": "meta-llama-3-8b-instruct"},
        "workspaceRef": {"name": f"ws-{i % 1000:04d}"},
        "authMode": "Key",
    }
    applied = {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ServerlessEndpoint",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    body = {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ServerlessEndpoint",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"5f0c{i:08x}-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "resourceVersion": str(100000 + i),
            "generation": 1,
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "finalizers": ["azureml.dev/finalizer"],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied),
                "kopf.zalando.org/last-handled-configuration": json.dumps({"spec": spec}),
            },
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "azureml.dev/v1alpha1",
                    "time": "2026-12-01T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {f"f:{k}": {} for k in spec}},
                },
                {
                    "manager": "kopf",
                    "operation": "Update",
                    "apiVersion": "azureml.dev/v1alpha1",
                    "time": "2026-12-01T10:00:05Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:conditions": {}, "f:endpointState": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": spec,
        "status": {
            "observedGeneration": 1,
            "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
            f"/workspaces/ws-{i % 1000:04d}/serverlessEndpoints/{name}",
            "inferenceUri": f"https://{name}.eastus2.models.ai.azure.com",
            "endpointState": "Online",
            "provisioningState": "Succeeded",
            "keysSecret": f"{name}-keys",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": f"serverless endpoint {name} is Online",
                    "observedGeneration": 1,
                    "lastTransitionTime": "2026-12-01T10:00:05Z",
                }
            ],
        },
    }
    return json.dumps(body)


async def build_and_call(args: argparse.Namespace) -> dict[str, Any]:
    from azureml_operator.azure.client import WorkspaceTarget
    from azureml_operator.azure.credentials import CredentialSpec
    from azureml_operator.azure.pool import ClientPool
    from azureml_operator.azure.ratelimit import ArmRateLimiter, BucketSpec
    from azureml_operator.azure.serverless import ServerlessEndpoints
    from azureml_operator.azure.subscriptions import MarketplaceSubscriptions

    def credential(i: int) -> CredentialSpec:
        return CredentialSpec("static") if args.credentials == 1 else CredentialSpec("static", f"c{i}")

    async def touch(pool: ClientPool, target: WorkspaceTarget, spec: CredentialSpec) -> None:
        conn = await pool.get(target, spec)
        await conn.location()
        assert await MarketplaceSubscriptions(conn).get("bench-missing") is None
        assert await ServerlessEndpoints(conn).get("bench-missing") is None

    result: dict[str, Any] = {"rss_start_kb": status_kb("VmRSS")}
    # The benchmark measures memory, not pacing: buckets ARM's own size would make 1 000
    # workspaces wait a minute for read tokens.
    unlimited = BucketSpec(1e9, 1e9)
    limiter = ArmRateLimiter(buckets={"reads": unlimited, "writes": unlimited, "deletes": unlimited})
    pool = ClientPool(args.base_url, concurrency=args.concurrency, limiter=limiter)
    await touch(pool, WorkspaceTarget(SUB, *WARM), credential(0))
    gc.collect()
    result["rss_warm_kb"] = status_kb("VmRSS")
    result["azure_ai_ml_imported"] = "azure.ai.ml" in sys.modules
    if args.phase == "trace":
        tracemalloc.start(FRAMES)
        before = tracemalloc.take_snapshot()

    started = time.monotonic()
    targets = [WorkspaceTarget(SUB, "rg-bench", workspace_name(i)) for i in range(args.workspaces)]
    batch = args.concurrency * 4
    for at in range(0, len(targets), batch):
        await asyncio.gather(
            *(touch(pool, t, credential(at + j)) for j, t in enumerate(targets[at : at + batch]))
        )
    result["build_and_call_seconds"] = round(time.monotonic() - started, 2)
    result["connections"] = len(pool)
    gc.collect()
    result["rss_after_kb"] = status_kb("VmRSS")

    if args.phase == "trace":
        after = tracemalloc.take_snapshot()
        diff = after.compare_to(before, "traceback")
        result["traced_bytes"] = sum(s.size_diff for s in diff)
        result["by_group_bytes"] = attributed(diff)
        result["top_sites"] = top_sites(diff)
        del diff, before, after

    if args.objects:
        gc.collect()
        rss_before = status_kb("VmRSS")
        traced_before = tracemalloc.get_traced_memory()[0] if args.phase == "trace" else 0
        bodies = {i: json.loads(kopf_like_body(i)) for i in range(args.objects)}
        gc.collect()
        result["objects"] = len(bodies)
        result["objects_rss_kb"] = status_kb("VmRSS") - rss_before
        if args.phase == "trace":
            result["objects_traced_bytes"] = tracemalloc.get_traced_memory()[0] - traced_before

    result["rss_peak_kb"] = status_kb("VmHWM")
    pool.close()
    return result


def child(args: argparse.Namespace) -> None:
    os.environ["REQUESTS_CA_BUNDLE"] = args.ca
    print(json.dumps(asyncio.run(build_and_call(args))))


# -- the parent: simulator, children, summary ------------------------------------------------------


def measure(phase: str, args: argparse.Namespace, base_url: str, ca: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--phase",
        phase,
        "--base-url",
        base_url,
        "--ca",
        ca,
        "--workspaces",
        str(args.workspaces),
        "--credentials",
        str(args.credentials),
        "--objects",
        str(args.objects),
        "--concurrency",
        str(args.concurrency),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def summarise(args: argparse.Namespace, rss: dict[str, Any], trace: dict[str, Any] | None) -> dict[str, Any]:
    n = args.workspaces
    mb = 1024.0
    summary: dict[str, Any] = {
        "workspaces": n,
        "credentials": args.credentials,
        "azure_ai_ml_imported": rss["azure_ai_ml_imported"],
        "rss": {
            "start_mb": round(rss["rss_start_kb"] / mb, 1),
            "after_warm_up_mb": round(rss["rss_warm_kb"] / mb, 1),
            "after_workspaces_mb": round(rss["rss_after_kb"] / mb, 1),
            "peak_mb": round(rss["rss_peak_kb"] / mb, 1),
            "per_workspace_kb": round((rss["rss_after_kb"] - rss["rss_warm_kb"]) / max(n, 1), 1),
        },
        "build_and_call_seconds": rss["build_and_call_seconds"],
    }
    if args.objects:
        summary["objects"] = {
            "count": args.objects,
            "rss_per_object_kb": round(rss["objects_rss_kb"] / args.objects, 2),
        }
    if trace is not None:
        summary["tracemalloc"] = {
            "per_workspace_bytes": round(trace["traced_bytes"] / max(n, 1)),
            "per_workspace_bytes_by_group": {
                g: round(b / max(n, 1)) for g, b in trace["by_group_bytes"].items() if abs(b) >= n
            },
            "total_bytes_by_group": trace["by_group_bytes"],
            "top_sites": trace["top_sites"],
        }
        if args.objects:
            summary["objects"]["traced_bytes_per_object"] = round(
                trace["objects_traced_bytes"] / args.objects
            )
    return summary


def parent(args: argparse.Namespace) -> None:
    from azureml_standins.simulator.process import SimulatorProcess

    seeds: list[str] = ["--no-throttle"]
    for i in range(args.workspaces):
        seeds += ["--workspace", f"{SUB}/rg-bench/{workspace_name(i)}@eastus2"]
    sim = SimulatorProcess(latency_scale=0.001, extra_args=seeds, startup_timeout=120)
    sim.start()
    try:
        rss = measure("rss", args, sim.base_url, str(sim.ca))
        trace = None if args.no_trace else measure("trace", args, sim.base_url, str(sim.ca))
    finally:
        sim.close()
    summary = summarise(args, rss, trace)
    text = json.dumps(summary, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--workspaces", type=int, default=100, help="workspace connections to build (100)")
    p.add_argument("--credentials", type=int, default=1, help="distinct credentials they use (1)")
    p.add_argument("--objects", type=int, default=0, help="also hold this many kopf-like bodies (0)")
    p.add_argument("--concurrency", type=int, default=8, help="the pool's threads, as --azure-concurrency")
    p.add_argument("--no-trace", action="store_true", help="RSS only: skip the tracemalloc run")
    p.add_argument("--output", help="also write the JSON result here")
    p.add_argument("--phase", choices=("rss", "trace"), help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    p.add_argument("--ca", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
