"""`make bench`: the operator at scale against the ARM simulator with ARM's real token buckets,
beside the seeds' way (the SDK's `begin_create_or_update(...).result()`, one endpoint after another).

Scenarios, all in one run on one simulator and one Kubernetes stand-in:

- sequential: the seeds' script at the smallest scale;
- throughput: N ServerlessEndpoints (8 models per workspace, the 5 partner ones with their
  ModelSubscription) applied at once: wall time until all Ready, ARM requests per endpoint by kind
  of call, 429s, the write-bucket efficiency, operator CPU seconds and peak RSS;
- start-up and steady state: the operator restarted on the largest scale with a short drift
  interval: start -> first ARM request, then ARM reads and writes per object per interval;
- latency: with those objects present, apply one endpoint at a time, apply -> first ARM write;
- memory: peak RSS of every run; the whole operator at 10 000 objects over 1 000 workspaces (spread
  over 20 Azure subscriptions, each with its own buckets); and `benchmarks.memory`'s tracemalloc
  breakdown of the client layer.

Writes `benchmarks/results.json`, `benchmarks/ready_over_time.png` and the table in
`benchmarks/README.md` (between the RESULTS markers). The numbers of a shared, noisy machine are
only indicative; the README says how to reproduce them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.config import DEFAULT_SUBSCRIPTION
from azureml_standins.simulator.process import SimulatorProcess

HERE = Path(__file__).parent
ROOT = HERE.parent
G, V = "azureml.dev", "v1alpha1"
RG = "rg-bench"
# Every catalog model a serverless endpoint may serve in eastus2; the first five need a subscription.
PARTNER = [
    "azureml-meta/Meta-Llama-3-8B-Instruct",
    "azureml-meta/Meta-Llama-3.1-8B-Instruct",
    "azureml-meta/Meta-Llama-3.1-405B-Instruct",
    "azureml-mistral/Mistral-large-2407",
    "azureml-cohere/Cohere-command-r-08-2024",
]
MICROSOFT = ["azureml/Phi-4-mini-instruct", "azureml/Phi-3-mini-4k-instruct", "azureml/Phi-3.5-mini-instruct"]
MODELS = PARTNER + MICROSOFT
WRITE_BUCKET = (200.0, 10.0)  # ARM's: capacity, refill per second


def model_id(model: str) -> str:
    registry, name = model.split("/")
    return f"azureml://registries/{registry}/models/{name}"


def short(model: str) -> str:
    return model.split("/")[1].lower().replace(".", "")[:20].strip("-")


def workspaces_for(endpoints: int) -> int:
    return -(-endpoints // len(MODELS))


# -- what runs where ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """Which endpoints (workspace, model) a scenario makes, in workspaces named with `prefix`."""

    prefix: str
    endpoints: int

    def pairs(self) -> Iterator[tuple[str, str]]:
        for i in range(self.endpoints):
            yield f"{self.prefix}{i // len(MODELS):04d}", MODELS[i % len(MODELS)]

    @property
    def workspaces(self) -> list[str]:
        return sorted({ws for ws, _ in self.pairs()})


def seeds(plans: list[Plan]) -> list[str]:
    return [f"--workspace={DEFAULT_SUBSCRIPTION}/{RG}/{ws}@eastus2" for p in plans for ws in p.workspaces]


def workspace_obj(ws: str, subscription: str = DEFAULT_SUBSCRIPTION) -> dict[str, Any]:
    return obj("Workspace", ws, {"subscriptionId": subscription, "resourceGroup": RG, "workspaceName": ws})


def endpoint_objs(ws: str, model: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(its ModelSubscription, if the model is a partner's; the ServerlessEndpoint) of one model."""
    name = f"{ws}-{short(model)}"
    spec: dict[str, Any] = {"modelId": model_id(model), "workspaceRef": {"name": ws}}
    if model not in PARTNER:
        return [], obj("ServerlessEndpoint", name, spec)
    sub = obj("ModelSubscription", f"{name}-sub", {"modelId": model_id(model), "workspaceRef": {"name": ws}})
    return [sub], obj("ServerlessEndpoint", name, {**spec, "subscriptionRef": {"name": f"{name}-sub"}})


def manifests(plan: Plan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Workspaces and ModelSubscriptions, ServerlessEndpoints): everything applied at once."""
    first: list[dict[str, Any]] = [workspace_obj(ws) for ws in plan.workspaces]
    endpoints: list[dict[str, Any]] = []
    for ws, model in plan.pairs():
        subs, endpoint = endpoint_objs(ws, model)
        first += subs
        endpoints.append(endpoint)
    return first, endpoints


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": kind, "metadata": {"name": name}, "spec": spec}


PLURAL = {
    "Workspace": "workspaces",
    "ModelSubscription": "modelsubscriptions",
    "ServerlessEndpoint": "serverlessendpoints",
}


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def apply(self, ns: str, objs: list[dict[str, Any]], threads: int = 8) -> None:
        def one(o: dict[str, Any]) -> None:
            self.custom.create_namespaced_custom_object(G, V, ns, PLURAL[o["kind"]], o)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, objs))

    def ready_count(self, ns: str, kind: str = "ServerlessEndpoint") -> int:
        items = self.custom.list_namespaced_custom_object(G, V, ns, PLURAL[kind])["items"]
        return sum(1 for o in items if is_ready(o))


def is_ready(o: dict[str, Any]) -> bool:
    for c in (o.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


# -- the operator from outside: /proc ----------------------------------------------------------------


def proc_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, user + system; peak RSS in MB) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, memory_mb(pid, "VmHWM")


def memory_mb(pid: int, field: str) -> float:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM), in MB; 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def operator(
    kube: KubeProcess, sim: SimulatorProcess, ns: str, drift: float, **kw: Any
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(
        kubeconfig=kube.kubeconfig,
        arm_endpoint=sim.base_url,
        ca=sim.ca,
        namespaces=[ns],
        drift_interval=drift,
        # The operator's own default (OperatorProcess reads keys at every drift check, for tests).
        keys_check_interval=3600.0,
        default_workspace=None,
        startup_timeout=300,  # a loaded machine; start-up is measured separately
        **kw,
    )
    try:
        yield op.start()
    finally:
        op.close()


def stats(sim: SimulatorProcess) -> dict[str, Any]:
    result: dict[str, Any] = sim.admin("GET", "stats")
    return result


def reads(s: dict[str, Any]) -> int:
    return sum(v for k, v in s["requests"].items() if k.startswith(("GET ", "HEAD ")))


def writes(s: dict[str, Any]) -> int:
    return sum(v for k, v in s["requests"].items() if not k.startswith(("GET ", "HEAD ", "DELETE ")))


@dataclass
class Sampler:
    """Polls Ready counts and the simulator's write counter while a scenario runs."""

    sample: Callable[[], tuple[int, int]]
    period: float = 0.5
    series: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self, t0: float) -> None:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    ready, w = self.sample()
                    self.series.append((time.monotonic() - t0, ready, w))
                except Exception:  # a poll that failed is a missing sample, not a failed run
                    pass
                self._stop.wait(self.period)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- scenarios ----------------------------------------------------------------------------------------


def sequential(sim: SimulatorProcess, plan: Plan) -> dict[str, Any]:
    """The seeds' way: the SDK, one subscription and endpoint after another, waiting for each."""
    from azure.ai.ml.entities import MarketplaceSubscription, ServerlessEndpoint

    sim.admin("POST", "reset")
    clients: dict[str, Any] = {}
    series: list[tuple[float, int]] = [(0.0, 0)]
    t0 = time.monotonic()
    for i, (ws, model) in enumerate(plan.pairs()):
        ml = clients.get(ws) or clients.setdefault(ws, sim.ml_client(DEFAULT_SUBSCRIPTION, RG, ws))
        name = f"{ws}-{short(model)}"
        if model in PARTNER:
            sub = MarketplaceSubscription(name=f"{name}-sub", model_id=model_id(model))
            ml.marketplace_subscriptions.begin_create_or_update(sub).result()
        ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name=name, model_id=model_id(model))
        ).result()
        ml.serverless_endpoints.get_keys(name)
        series.append((time.monotonic() - t0, i + 1))
    wall = time.monotonic() - t0
    s = stats(sim)
    return {
        "endpoints": plan.endpoints,
        "wallSeconds": round(wall, 2),
        "throttled": s["throttled"],
        "requests": s["requests"],
        "series": series,
    }


def throughput(
    kube: KubeProcess, k: Kube, sim: SimulatorProcess, plan: Plan, timeout: float
) -> tuple[dict[str, Any], str]:
    sim.admin("POST", "reset")
    ns = k.namespace(f"bench-{plan.endpoints}")
    first, endpoints = manifests(plan)
    with operator(kube, sim, ns, drift=3600) as op:
        assert op.proc is not None
        sampler = Sampler(lambda: (k.ready_count(ns), writes(stats(sim))))
        t0 = time.monotonic()
        sampler.start(t0)
        k.apply(ns, first + endpoints)
        applied = time.monotonic() - t0
        deadline = t0 + timeout
        while k.ready_count(ns) < plan.endpoints and time.monotonic() < deadline:
            time.sleep(0.5)
        wall = time.monotonic() - t0
        ready = k.ready_count(ns)
        cpu, rss = proc_usage(op.proc.pid)
        sampler.stop()
        s = stats(sim)
    total_writes = writes(s)
    last_write = next((t for t, _, w in reversed(sampler.series) if w < total_writes), wall)
    last_write = min(wall, last_write + sampler.period)
    cap, rate = WRITE_BUCKET
    per_endpoint = {k_: round(v / plan.endpoints, 2) for k_, v in s["requests"].items()}
    return {
        "endpoints": plan.endpoints,
        "workspaces": len(plan.workspaces),
        "subscriptions": len(first) - len(plan.workspaces),
        "ready": ready,
        "applySeconds": round(applied, 2),
        "wallSeconds": round(wall, 2),
        "writes": total_writes,
        "reads": reads(s),
        "throttled": s["throttled"],
        "writePhaseSeconds": round(last_write, 2),
        # Writes ARM accepted over what its bucket allows in the same time, first write to the last.
        "writeBucketUse": round(total_writes / (cap + rate * last_write), 3),
        "writeBucketUseOverWall": round(total_writes / (cap + rate * wall), 3),
        "requestsPerEndpoint": per_endpoint,
        "operatorCpuSeconds": round(cpu, 2),
        "operatorPeakRssMB": round(rss, 1),
        "series": [(round(t, 2), r) for t, r, _ in sampler.series],
    }, ns


def steady(
    kube: KubeProcess, k: Kube, sim: SimulatorProcess, ns: str, objects: int, drift: float, intervals: int
) -> dict[str, Any]:
    """Restart the operator on Ready objects: start-up time, then reads and writes per interval."""
    before = stats(sim)
    t0 = time.monotonic()
    with operator(kube, sim, ns, drift=drift) as op:
        assert op.proc is not None
        started = time.monotonic() - t0
        while stats(sim)["totalRequests"] == before["totalRequests"] and time.monotonic() - t0 < 120:
            time.sleep(0.05)
        first_request = time.monotonic() - t0
        # The start-up pass reads every object once; the drift timers then spread over the interval.
        time.sleep(drift)
        s0, m0 = stats(sim), time.monotonic()
        windows = []
        for _ in range(intervals):
            time.sleep(drift)
            s1 = stats(sim)
            windows.append(
                {"reads": reads(s1) - reads(s0), "writes": s1["writeRequests"] - s0["writeRequests"]}
            )
            s0 = s1
        measured = time.monotonic() - m0
        cpu, rss = proc_usage(op.proc.pid)
        lat = latency(k, sim, ns)
    return {
        "objects": objects,
        "driftIntervalSeconds": drift,
        "intervals": windows,
        "measuredSeconds": round(measured, 1),
        # Per drift interval of the time measured: each window is a drift interval plus the time
        # the simulator's stats call took, which grows with the objects it holds.
        "readsPerObjectPerInterval": reads_per_interval(windows, objects, measured, drift),
        "writes": sum(w["writes"] for w in windows),
        "throttled": stats(sim)["throttled"] - before["throttled"],
        "startupToKopfReadySeconds": round(started, 2),
        "startupToFirstArmRequestSeconds": round(first_request, 2),
        "operatorCpuSeconds": round(cpu, 2),
        "operatorPeakRssMB": round(rss, 1),
        "latency": lat,
    }


def reads_per_interval(windows: list[dict[str, int]], objects: int, measured: float, drift: float) -> float:
    """ARM reads per object per drift interval of the time measured: each window is a drift interval
    plus the time the simulator's stats call took, which grows with what it holds (about 1 s at
    1 750 objects), so dividing by the number of windows would count that time as reads."""
    return round(sum(w["reads"] for w in windows) / objects / (measured / drift), 3)


LATENCY_SAMPLES = 20  # --latency-samples


def latency_workspaces() -> list[str]:
    return [f"lat-{i:04d}" for i in range(LATENCY_SAMPLES)]


def latency(k: Kube, sim: SimulatorProcess, ns: str) -> dict[str, Any]:
    """With everything else present, one new (subscription-free) endpoint at a time, each in a
    workspace of its own: apply -> the simulator's first PUT of a serverless endpoint."""
    spare = latency_workspaces()
    k.apply(
        ns,
        [
            obj(
                "Workspace",
                ws,
                {"subscriptionId": DEFAULT_SUBSCRIPTION, "resourceGroup": RG, "workspaceName": ws},
            )
            for ws in spare
        ],
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = k.custom.list_namespaced_custom_object(G, V, ns, "workspaces")["items"]
        if sum(1 for o in items if o["metadata"]["name"] in spare and is_ready(o)) == len(spare):
            break
        time.sleep(0.2)
    seen: list[float] = []
    for ws in spare:
        w0 = stats(sim)["requests"].get("PUT serverlessEndpoints", 0)
        t0 = time.monotonic()
        k.apply(
            ns,
            [
                obj(
                    "ServerlessEndpoint",
                    f"{ws}-phi",
                    {"modelId": model_id(MICROSOFT[0]), "workspaceRef": {"name": ws}},
                )
            ],
        )
        while time.monotonic() - t0 < 60:
            if stats(sim)["requests"].get("PUT serverlessEndpoints", 0) > w0:
                seen.append(time.monotonic() - t0)
                break
            time.sleep(0.01)
    seen.sort()
    return {
        "samples": len(seen),
        "applyToFirstWriteMedianSeconds": round(statistics.median(seen), 3) if seen else None,
        "applyToFirstWriteP99Seconds": round(seen[min(len(seen) - 1, int(0.99 * len(seen)))], 3)
        if seen
        else None,
        "applyToFirstWriteSeconds": [round(x, 3) for x in seen],
    }


# -- memory at scale: the whole operator ------------------------------------------------------------

SCALE_PARTNER, SCALE_MICROSOFT = PARTNER[:3], MICROSOFT  # per workspace: 3 + 3 endpoints, 3 subscriptions
PER_WORKSPACE = 1 + 2 * len(SCALE_PARTNER) + len(SCALE_MICROSOFT)  # 10 objects


def scale_subscription(i: int) -> str:
    return f"00000000-0000-0000-0000-{i + 1:012d}"


def scale_plan(objects: int, subscriptions: int) -> list[tuple[str, str]]:
    """(Azure subscription, workspace) for objects / PER_WORKSPACE workspaces."""
    return [(scale_subscription(i % subscriptions), f"mem{i:05d}") for i in range(objects // PER_WORKSPACE)]


def scale_manifests(plan: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for sub, ws in plan:
        out.append(workspace_obj(ws, sub))
        for model in SCALE_PARTNER + SCALE_MICROSOFT:
            subs, endpoint = endpoint_objs(ws, model)
            out += [*subs, endpoint]
    return out


def at_scale(kube: KubeProcess, k: Kube, args: argparse.Namespace) -> dict[str, Any]:
    """The operator's whole footprint: N objects over N/10 workspaces spread over several Azure
    subscriptions (each with ARM's own buckets, as a large organisation's are), applied at once and
    reconciled to Ready, the operator's RSS sampled from outside all along."""
    plan = scale_plan(args.scale_objects, args.scale_subscriptions)
    seeds = [f"--workspace={sub}/{RG}/{ws}@eastus2" for sub, ws in plan]
    docs = scale_manifests(plan)
    endpoints = sum(1 for d in docs if d["kind"] == "ServerlessEndpoint")
    with SimulatorProcess(latency_scale=args.latency_scale, extra_args=seeds, startup_timeout=300) as sim:
        ns = k.namespace(f"scale-{len(docs)}")
        with operator(kube, sim, ns, drift=3600) as op:
            assert op.proc is not None
            pid = op.proc.pid
            t0 = time.monotonic()
            # RSS only: listing thousands of objects often would load the machine the operator runs on.
            sampler = Sampler(lambda: (0, round(memory_mb(pid, "VmRSS"))), period=2.0)
            sampler.start(t0)
            k.apply(ns, docs)
            applied = time.monotonic() - t0
            deadline = t0 + args.timeout
            while time.monotonic() < deadline and k.ready_count(ns) < endpoints:
                time.sleep(10.0)
            wall = time.monotonic() - t0
            ready = k.ready_count(ns)
            cpu, peak = proc_usage(pid)
            end_rss = memory_mb(pid, "VmRSS")
            sampler.stop()
            rss = [(t, m) for t, _, m in sampler.series]
            s = stats(sim)
    return {
        "objects": len(docs),
        "workspaces": len(plan),
        "azureSubscriptions": args.scale_subscriptions,
        "endpoints": endpoints,
        "ready": ready,
        "applySeconds": round(applied, 1),
        "wallSeconds": round(wall, 1),
        "throttled": s["throttled"],
        "armRequests": s["totalRequests"],
        "operatorCpuSeconds": round(cpu, 1),
        "operatorPeakRssMB": round(peak, 1),
        "operatorEndRssMB": round(end_rss, 1),
        "rssSeries": rss,
    }


def breakdown(args: argparse.Namespace) -> dict[str, Any]:
    """`benchmarks.memory`: what the client layer costs per workspace and per object body (tracemalloc)."""
    out = HERE / ".memory.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--workspaces",
        str(max(1, args.scale_objects // PER_WORKSPACE)),
    ]
    cmd += ["--objects", str(args.scale_objects), "--output", str(out)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, timeout=1800)
        return dict(json.loads(out.read_text()))
    except Exception as err:  # the breakdown failing must not lose the run's numbers
        return {"error": repr(err)[:500]}
    finally:
        out.unlink(missing_ok=True)


def memory(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of every operator run, the whole operator at scale, and the client layer's breakdown."""
    return {
        "byScale": {
            str(r["endpoints"]): {
                "objects": r["endpoints"] + r["subscriptions"] + r["workspaces"],
                "workspaces": r["workspaces"],
                "peakRssMB": r["operatorPeakRssMB"],
            }
            for r in results["throughput"]
        },
        "atScale": results.get("atScale"),
        "breakdown": breakdown(args) if args.scale_objects else None,
    }


# -- output ------------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results["throughput"]:
        xs, ys = zip(*r["series"], strict=True) if r["series"] else ((), ())
        ax.plot(xs, ys, label=f"operator, {r['endpoints']} endpoints")
    seq = results["sequential"]
    xs, ys = zip(*seq["series"], strict=True)
    ax.plot(xs, ys, label=f"sequential SDK script, {seq['endpoints']} endpoints", linestyle="--")
    cap, rate = WRITE_BUCKET
    ax.set_xlabel("seconds since apply")
    ax.set_ylabel("ServerlessEndpoints Ready")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_title(
        f"Ready over time (ARM write bucket {cap:.0f} + {rate:.0f}/s, latency x{results['latencyScale']})"
    )
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def goal(ok: bool, text: str) -> str:
    return f"{'met' if ok else 'missed'}: {text}"


def table(results: dict[str, Any]) -> str:
    seq = results["sequential"]
    rows = [
        "| scenario | endpoints | workspaces | wall s | writes | reads | 429s | write-bucket use | CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["throughput"]:
        rows.append(
            f"| operator, applied at once | {r['endpoints']} | {r['workspaces']} | {r['wallSeconds']} | {r['writes']} | "
            f"{r['reads']} | {r['throttled']} | {r['writeBucketUse']:.1%} (over wall {r['writeBucketUseOverWall']:.1%}) | "
            f"{r['operatorCpuSeconds']} | {r['operatorPeakRssMB']} |"
        )
    seq_w = sum(v for k, v in seq["requests"].items() if not k.startswith(("GET", "DELETE")))
    seq_r = sum(v for k, v in seq["requests"].items() if k.startswith("GET"))
    rows.append(
        f"| sequential SDK script | {seq['endpoints']} | {workspaces_for(seq['endpoints'])} | {seq['wallSeconds']} | {seq_w} | {seq_r} | {seq['throttled']} | - | - | - |"
    )
    st = results["steady"]
    lat = st["latency"]
    out = ["\n".join(rows), ""]
    # The script is strictly sequential: its time per endpoint times N is its time for N.
    same = min(results["throughput"], key=lambda r: abs(r["endpoints"] - 100))
    seq_for_same = seq["wallSeconds"] / seq["endpoints"] * same["endpoints"]
    speedup = seq_for_same / same["wallSeconds"] if same["wallSeconds"] else 0.0
    big = results["throughput"][-1]
    out.append("ARM requests per endpoint, largest run (subscriptions' and workspaces' calls included):\n")
    out.append("| call | per endpoint |\n|---|---|")
    out += [f"| `{k}` | {v} |" for k, v in big["requestsPerEndpoint"].items()]
    out.append("")
    out.append(
        f"Steady state: {st['objects']} Ready objects, drift interval {st['driftIntervalSeconds']} s, "
        f"{len(st['intervals'])} intervals: **{st['readsPerObjectPerInterval']} ARM reads per object per "
        f"interval**, **{st['writes']} writes**, {st['throttled']} 429s ({st['intervals']}).\n"
    )
    out.append(
        f"Start-up: kopf watching after {st['startupToKopfReadySeconds']} s, first ARM request "
        f"{st['startupToFirstArmRequestSeconds']} s after the process started. Apply -> first Azure write "
        f"with {st['objects']} objects present ({lat['samples']} samples): median "
        f"{lat['applyToFirstWriteMedianSeconds']} s, p99 {lat['applyToFirstWriteP99Seconds']} s.\n"
    )
    out += memory_text(results["memory"])
    throttled = sum(r["throttled"] for r in results["throughput"]) + st["throttled"]
    out.append("Goals (issue 11):\n")
    out.append(
        f"- {goal(big['writeBucketUse'] >= 0.95, f'>= 95 % of the write bucket at {big["endpoints"]} endpoints: {big["writeBucketUse"]:.1%} over the write phase, {big["writeBucketUseOverWall"]:.1%} over the wall time to all Ready (meaningful only when the writes far exceed the 200 of the bucket)')}"
    )
    out.append(f"- {goal(throttled == 0, f'zero 429s received: {throttled}')}")
    out.append(
        f"- {goal(speedup >= 20, f'>= 20x the sequential script at {same["endpoints"]} endpoints: {speedup:.1f}x ({same["wallSeconds"]} s against {seq_for_same:.0f} s: the script measured at {seq["endpoints"]} endpoints, scaled)')}"
    )
    out.append(
        f"- {goal(st['readsPerObjectPerInterval'] <= 1 and st['writes'] == 0, f'<= 1 read per object per drift interval and 0 writes in steady state: {st["readsPerObjectPerInterval"]} and {st["writes"]}')}"
    )
    scale = results["memory"].get("atScale")
    if scale:
        ok = (
            scale["operatorPeakRssMB"] <= 250
            and scale["objects"] >= 10_000
            and scale["ready"] == scale["endpoints"]
        )
        out.append(
            f"- {goal(ok, f'<= 250 MB peak RSS at 10 000 objects over 1 000 workspaces: {scale["operatorPeakRssMB"]} MB at {scale["objects"]} objects over {scale["workspaces"]} workspaces ({scale["ready"]}/{scale["endpoints"]} endpoints Ready)')}"
        )
    return "\n".join(out)


def memory_text(mem: dict[str, Any]) -> list[str]:
    by_scale = ", ".join(
        f"{n} endpoints ({v['objects']} objects) {v['peakRssMB']} MB" for n, v in mem["byScale"].items()
    )
    out = [f"Memory, operator peak RSS of the throughput runs: {by_scale}.\n"]
    scale = mem.get("atScale")
    if scale:
        out.append(
            f"Whole operator at scale: {scale['objects']} objects ({scale['endpoints']} ServerlessEndpoints, "
            f"their ModelSubscriptions, {scale['workspaces']} Workspaces over {scale['azureSubscriptions']} Azure "
            f"subscriptions) applied at once: **peak RSS {scale['operatorPeakRssMB']} MB**, "
            f"{scale['operatorEndRssMB']} MB at the end; {scale['ready']}/{scale['endpoints']} endpoints Ready in "
            f"{scale['wallSeconds']} s, {scale['armRequests']} ARM requests, {scale['throttled']} 429s, "
            f"{scale['operatorCpuSeconds']} CPU s.\n"
        )
    b = mem.get("breakdown") or {}
    if "rss" in b:
        groups = (b.get("tracemalloc") or {}).get("per_workspace_bytes_by_group") or {}
        top = ", ".join(f"{g} {v} B" for g, v in sorted(groups.items(), key=lambda kv: -kv[1])[:4])
        objs = b.get("objects") or {}
        out.append(
            f"What costs what (`benchmarks.memory`, tracemalloc, the client layer alone): {b['workspaces']} "
            f"workspace connections cost {b['rss']['per_workspace_kb']} KB of RSS each "
            f"({(b.get('tracemalloc') or {}).get('per_workspace_bytes', '?')} B traced: {top}); a kopf-like "
            f"object body {objs.get('rss_per_object_kb', '?')} KB of RSS ({objs.get('traced_bytes_per_object', '?')} B "
            f"traced); after warm-up {b['rss']['after_warm_up_mb']} MB, peak {b['rss']['peak_mb']} MB.\n"
        )
    elif b:
        out.append(f"`benchmarks.memory` failed: {b.get('error')}\n")
    return out


def write_readme(text: str) -> None:
    readme = HERE / "README.md"
    start, end = "<!-- RESULTS:START -->", "<!-- RESULTS:END -->"
    body = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{start}\n{end}\n"
    head, _, rest = body.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small scales: a couple of minutes")
    p.add_argument(
        "--endpoints", type=lambda s: [int(x) for x in s.split(",")], help="throughput scales (100,1000)"
    )
    p.add_argument("--sequential", type=int, help="endpoints for the sequential script (100)")
    p.add_argument("--latency-scale", type=float, default=0.01, help="simulator provisioning-time multiplier")
    p.add_argument(
        "--drift-interval",
        type=float,
        help="steady state's drift interval, s (default: 120, quick 6, at least objects/10)",
    )
    p.add_argument("--intervals", type=int, default=3, help="steady-state intervals measured")
    p.add_argument("--timeout", type=float, default=1200, help="give up on a scenario after this, s")
    p.add_argument("--output", type=Path, default=HERE / "results.json")
    p.add_argument("--latency-samples", type=int, help="apply -> first write samples (20; quick 5)")
    p.add_argument(
        "--scale-objects",
        type=int,
        help="objects of the whole-operator memory run (10 000; quick 1 000; 0: skip)",
    )
    p.add_argument("--scale-subscriptions", type=int, default=20, help="Azure subscriptions they spread over")
    p.add_argument("--report-only", action="store_true", help="redo the plot and README table from --output")
    args = p.parse_args(argv)
    if args.report_only:
        report(json.loads(args.output.read_text()))
        return 0
    global LATENCY_SAMPLES
    LATENCY_SAMPLES = args.latency_samples or (5 if args.quick else 20)
    scales = args.endpoints or ([24, 96] if args.quick else [100, 1000])
    seq_n = args.sequential or (24 if args.quick else 100)
    if args.scale_objects is None:
        args.scale_objects = 1000 if args.quick else 10_000

    plans = [Plan("seq-", seq_n)] + [Plan(f"op{n}-", n) for n in scales]
    results: dict[str, Any] = {
        "quick": args.quick,
        "latencyScale": args.latency_scale,
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "throughput": [],
    }
    extra = seeds(plans) + [
        f"--workspace={DEFAULT_SUBSCRIPTION}/{RG}/{ws}@eastus2" for ws in latency_workspaces()
    ]
    with (
        KubeProcess(crds=[ROOT / "crds"]) as kube,
        SimulatorProcess(latency_scale=args.latency_scale, extra_args=extra) as sim,
    ):
        k = Kube(kube.client())
        print(f"sequential SDK script, {seq_n} endpoints ...", flush=True)
        results["sequential"] = sequential(sim, plans[0])
        args.output.write_text(json.dumps(results, indent=1) + "\n")
        print(f"  {results['sequential']['wallSeconds']} s", flush=True)
        ns = ""
        for plan in plans[1:]:
            print(f"operator, {plan.endpoints} endpoints applied at once ...", flush=True)
            r, ns = throughput(kube, k, sim, plan, args.timeout)
            results["throughput"].append(r)
            args.output.write_text(json.dumps(results, indent=1) + "\n")  # a later failure keeps this
            print(
                f"  {r['ready']}/{r['endpoints']} Ready in {r['wallSeconds']} s, {r['throttled']} 429s",
                flush=True,
            )
        big = results["throughput"][-1]
        objects = big["endpoints"] + big["subscriptions"] + big["workspaces"]
        # One read per object per interval must fit in ARM's read refill (25/s) with room to spare.
        drift = args.drift_interval or max(6.0 if args.quick else 120.0, objects / 10)
        print(f"steady state: {objects} objects, drift {drift} s x {args.intervals} ...", flush=True)
        results["steady"] = steady(kube, k, sim, ns, objects, drift, args.intervals)
        print(f"  {results['steady']['readsPerObjectPerInterval']} reads/object/interval", flush=True)
        args.output.write_text(json.dumps(results, indent=1) + "\n")
        if args.scale_objects:
            print(f"whole operator at {args.scale_objects} objects ...", flush=True)
            results["atScale"] = at_scale(kube, k, args)
            print(f"  peak RSS {results['atScale']['operatorPeakRssMB']} MB", flush=True)
    results["memory"] = memory(results, args)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    report(results)
    return 0


def report(results: dict[str, Any]) -> None:
    st = results["steady"]
    st["readsPerObjectPerInterval"] = reads_per_interval(
        st["intervals"], st["objects"], st["measuredSeconds"], st["driftIntervalSeconds"]
    )
    plot(results, HERE / "ready_over_time.png")
    text = table(results)
    kind = "quick" if results["quick"] else "full"
    write_readme(
        f"Run of {results['started']} ({kind}, {results['cpus']} CPUs, load from nothing else).\n\n"
        f"{text}\n\n![Ready over time](ready_over_time.png)"
    )
    print(text)


if __name__ == "__main__":
    sys.exit(main())
