"""`azureml-standins demo` (the README's `make demo`): the seeds' story, end to end, on this machine.

Starts the Azure ML simulator and, unless KUBECONFIG reaches a cluster, the Kubernetes stand-in;
installs the CRDs; runs the operator; applies the examples; waits for Ready; prints what it made; and
makes one chat completion with the key read from the endpoint's Secret. On a real cluster it applies
(an object left by an interrupted run is updated, or waited for while it is being deleted) and at the
end deletes what it applied, waiting with the operator still running until the operator has deleted
it all in Azure (its Azure is the simulator, which goes away with the demo), so a second run on the
same cluster starts clean.

The examples are the repository's examples/ manifests, shipped in this package as demo_manifests/
so that the demo runs from an installed wheel (a unit test keeps the copies equal to examples/);
`--examples DIR` applies another directory instead. A directory's steps/ files (the online
endpoint's blue/green walk) are applied one at a time after the rest is Ready (see stories.py),
each followed by a table of the deployments' shares and scoring calls that count who answered.
"""

from __future__ import annotations

import argparse
import base64
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from azureml_operator import crdgen
from azureml_operator.api import GROUP, KINDS, VERSION
from azureml_standins import stories

DEMO_MANIFESTS = Path(__file__).resolve().with_name("demo_manifests")
NAMESPACE = "azureml-demo"

PLURALS = {info.kind: info.plural for info in KINDS}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole story locally: simulator, cluster, operator, examples")
    p.add_argument(
        "--examples",
        type=Path,
        default=DEMO_MANIFESTS,
        help="directory of manifests to apply (default: the packaged copies of examples/)",
    )
    p.add_argument("--namespace", default=NAMESPACE, help=f"namespace to use (default {NAMESPACE})")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for Ready")
    p.add_argument(
        "--stand-in",
        action="store_true",
        help="use the Kubernetes stand-in even if KUBECONFIG reaches a cluster",
    )
    p.set_defaults(func=main)


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def reachable_cluster() -> Any | None:
    """An ApiClient for the cluster KUBECONFIG names, if it answers; else None."""
    from kubernetes import client, config

    try:
        config.load_kube_config()
        api = client.ApiClient()
        client.VersionApi(api).get_code(_request_timeout=3)
        return api
    except Exception:
        return None


def install_crds(api: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ext = client.ApiextensionsV1Api(api)
    for text in crdgen.render_all().values():
        crd = yaml.safe_load(text)
        try:
            ext.create_custom_resource_definition(crd)
        except ApiException as err:
            if err.status != 409:
                raise
            current = ext.read_custom_resource_definition(crd["metadata"]["name"])
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(crd["metadata"]["name"], crd)


def manifests(directory: Path) -> list[dict[str, Any]]:
    """What the demo applies at the start: every manifest outside a steps/ folder."""
    docs = stories.starting_manifests(directory)
    if not docs:
        raise SystemExit(f"no azureml.dev manifests under {directory}")
    return docs


def condition(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(stories.ready_condition(obj))


def main(args: argparse.Namespace) -> int:
    from kubernetes import client

    from azureml_standins.kube.process import KubeProcess
    from azureml_standins.operator import OperatorProcess
    from azureml_standins.simulator.process import SimulatorProcess

    docs = manifests(args.examples)
    walk = stories.steps(args.examples)
    with ExitStack() as stack:
        say("starting the Azure ML simulator")
        sim = stack.enter_context(SimulatorProcess(latency_scale=0.005))
        api = None if args.stand_in else reachable_cluster()
        real_cluster = api is not None
        if api is None:
            say("no cluster reachable through KUBECONFIG: starting the Kubernetes stand-in")
            kube = stack.enter_context(KubeProcess())
            kube.activate()
            api, kubeconfig = kube.client(), kube.kubeconfig
        else:
            import os

            from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

            kubeconfig = Path(
                os.path.expanduser(os.environ.get("KUBECONFIG") or KUBE_CONFIG_DEFAULT_LOCATION)
            )
            say(f"using the cluster in {kubeconfig}")
        say("installing the CRDs")
        install_crds(api)
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        if not any(ns.metadata.name == args.namespace for ns in core.list_namespace().items):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=args.namespace)))
        # Said before the operator starts: it may finish them at once.
        for left in leftovers_being_deleted(custom, args.namespace, docs):
            say(f"{left} from an earlier run is being deleted: the operator will finish it first")
        say("starting the operator")
        op = stack.enter_context(
            OperatorProcess(
                kubeconfig=kubeconfig, arm_endpoint=sim.base_url, ca=sim.ca, namespaces=[args.namespace]
            )
        )
        say(f"applying {len(docs)} manifests from {args.examples}")
        for doc in docs:
            apply(custom, args.namespace, doc, args.timeout)
        ok = wait_ready(custom, args.namespace, docs, args.timeout)
        print_table(custom, args.namespace, docs)
        if not ok:
            print(
                f"not everything became Ready in {args.timeout:.0f} s; operator log:\n{op.log_text()[-4000:]}"
            )
            return 1
        first = next(d for d in docs if d["kind"] == "ServerlessEndpoint")
        chat(core, custom, args.namespace, first["metadata"]["name"])
        made = []
        for doc in (d for d in docs if d["kind"] == "FineTuneJob"):
            ok, child = fine_tune_story(core, custom, args.namespace, doc, args.timeout)
            if not ok:
                print(f"operator log:\n{op.log_text()[-4000:]}")
                return 1
            made += [child] if child else []
        endpoints = [d["metadata"]["name"] for d in docs if d["kind"] == "OnlineEndpoint"]
        for name in endpoints:
            score_online(core, custom, sim, args.namespace, name)
        for step in walk:
            if not take_step(custom, args.namespace, step, args.timeout):
                print(f"operator log:\n{op.log_text()[-4000:]}")
                return 1
            print_deployments(custom, args.namespace)
            for name in endpoints:
                score_online(core, custom, sim, args.namespace, name)
            gone = {(d["kind"], d["metadata"]["name"]) for d in step.docs} if step.deletes else set()
            made = [d for d in made if (d["kind"], d["metadata"]["name"]) not in gone]
            docs = [d for d in docs if (d["kind"], d["metadata"]["name"]) not in gone]
            if not step.deletes:
                made += [d for d in step.docs if not any(same(d, k) for k in docs + made)]
        if real_cluster and not cleanup(custom, args.namespace, docs + made, args.timeout):
            print(f"operator log:\n{op.log_text()[-4000:]}")
            return 1
    return 0


def wait_ready(custom: Any, namespace: str, docs: list[dict[str, Any]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pending = {(d["kind"], d["metadata"]["name"]) for d in docs}
    while pending and time.monotonic() < deadline:
        for kind, name in sorted(pending):
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
            if condition(obj).get("status") == "True":
                say(f"{kind} {name} is Ready ({condition(obj).get('reason')})")
                pending.discard((kind, name))
        time.sleep(0.3)
    return not pending


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["kind"] == b["kind"] and a["metadata"]["name"] == b["metadata"]["name"])


def take_step(custom: Any, namespace: str, step: stories.Step, timeout: float) -> bool:
    """Apply (or delete) one step's manifests and wait until its objects converged (or are gone)."""
    names = ", ".join(f"{d['kind']} {d['metadata']['name']}" for d in step.docs)
    say(f"step {step.title}: {'deleting' if step.deletes else 'applying'} {names}")
    started = time.monotonic()
    if step.deletes:
        for doc in step.docs:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[doc["kind"]], doc["metadata"]["name"]
            )
        if wait_gone(custom, namespace, list(step.docs), timeout):
            say(f"step {step.title}: done in {time.monotonic() - started:.1f} s")
            return True
        print(f"step {step.title}: still there after {timeout:.0f} s")
        return False
    for doc in step.docs:
        apply(custom, namespace, doc, timeout, quiet=True)
    deadline = started + timeout
    while time.monotonic() < deadline:
        # Converged first, shares after: an endpoint's shares only move forward, so shares read
        # after it converged are its final ones. Read before, they could be its previous ones
        # (no mirror yet) while the deployments still agreed with those.
        if all(stories.converged(_get(custom, namespace, d)) for d in step.docs):
            online = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS["OnlineEndpoint"]
            )
            deployments = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS["OnlineDeployment"]
            )
            if stories.shares_agree(online["items"], deployments["items"]):
                say(f"step {step.title}: converged in {time.monotonic() - started:.1f} s")
                return True
        time.sleep(0.3)
    stuck = [
        f"{d['kind']} {d['metadata']['name']}: {condition(_get(custom, namespace, d) or {})}"
        for d in step.docs
    ]
    print(f"step {step.title} has not converged in {timeout:.0f} s: {stuck}")
    return False


def print_deployments(custom: Any, namespace: str) -> None:
    """The online deployments and the shares of their endpoints' traffic they receive now."""
    found = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS["OnlineDeployment"])
    rows = [("DEPLOYMENT", "ENDPOINT", "MODEL", "INSTANCES", "LIVE %", "MIRROR %", "READY")]
    for obj in sorted(
        found["items"], key=lambda o: (o["spec"]["endpointRef"]["name"], o["metadata"]["name"])
    ):
        status = obj.get("status") or {}
        rows.append(
            (
                obj["metadata"]["name"],
                obj["spec"]["endpointRef"]["name"],
                obj["spec"]["model"].split("/models/")[-1].replace("/versions/", ":"),
                f"{status.get('instanceCount', '-')} x {obj['spec']['instanceType']}",
                str(status.get("traffic", 0)),
                str(status.get("mirrorTraffic", 0)),
                condition(obj).get("reason", "-"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()


def score_online(core: Any, custom: Any, sim: Any, namespace: str, name: str, calls: int = 100) -> None:
    """`calls` scoring requests with the key from the endpoint's Secret; who answered (Azure names
    the deployment in a response header) and, from the simulator's counters, who got mirrored copies."""
    import requests

    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS["OnlineEndpoint"], name)
    secret = core.read_namespaced_secret(obj["status"]["keysSecretName"], namespace)
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    azure_name = obj["spec"].get("endpointName") or name
    before = mirrored_counts(sim, azure_name)
    answered: dict[str, int] = {}
    with requests.Session() as session:
        for _ in range(calls):
            reply = session.post(
                data["scoringUri"],
                json={"input_data": {"input_string": ["What is a blue/green deployment?"]}},
                headers={"Authorization": f"Bearer {data['primaryKey']}"},
                timeout=30,
            )
            reply.raise_for_status()
            who = reply.headers.get("azureml-model-deployment", "?")
            answered[who] = answered.get(who, 0) + 1
    after = mirrored_counts(sim, azure_name)
    shadow = {d: n - before.get(d, 0) for d, n in after.items() if n - before.get(d, 0)}
    live = ", ".join(f"{d} {n}" for d, n in sorted(answered.items()))
    copies = ", ".join(f"{d} {n}" for d, n in sorted(shadow.items())) or "none"
    say(
        f"{calls} calls to {name} (key from Secret {secret.metadata.name}): answered by {live}; mirrored to {copies}"
    )


def mirrored_counts(sim: Any, endpoint: str) -> dict[str, int]:
    counts = sim.admin("GET", "stats")["deployments"]
    return {
        k.split("/", 1)[1]: v.get("mirrored", 0) for k, v in counts.items() if k.split("/", 1)[0] == endpoint
    }


def print_table(custom: Any, namespace: str, docs: list[dict[str, Any]]) -> None:
    rows = [("KIND", "NAME", "READY", "REASON", "DETAIL")]
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
        status = obj.get("status") or {}
        detail = (
            status.get("inferenceUri")
            or (
                status.get("subscriptionStatus")
                and f"{status['subscriptionStatus']} to {obj['spec']['modelId']}"
            )
            or (status.get("location") and f"{obj['spec']['workspaceName']} in {status['location']}")
            or status.get("assetId")
            or ((status.get("registeredModel") or {}).get("modelId"))
            or online_detail(obj)
            or condition(obj).get("message", "")
        )
        rows.append(
            (kind, name, condition(obj).get("status", "-"), condition(obj).get("reason", "-"), detail)
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + str(row[4]))
    print()


def online_detail(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    if obj["kind"] == "OnlineEndpoint" and status.get("scoringUri"):
        return f"{status['scoringUri']} live {status.get('traffic') or {}} mirror {status.get('mirrorTraffic') or {}}"
    if obj["kind"] == "OnlineDeployment" and "traffic" in status:
        return f"of {obj['spec']['endpointRef']['name']}: live {status['traffic']} %, mirror {status.get('mirrorTraffic', 0)} %"
    return ""


def fine_tune_story(
    core: Any, custom: Any, namespace: str, doc: dict[str, Any], timeout: float
) -> tuple[bool, dict[str, Any] | None]:
    """What the job went through (its Events), the model it registered, and a chat with the
    ServerlessEndpoint it made for it. Whether that all worked out in time, and the endpoint (which
    the cleanup waits for too)."""
    name = doc["metadata"]["name"]
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS["FineTuneJob"], name)
    say(f"FineTuneJob {name}: fine-tuning {obj['spec']['model']}")
    events = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.uid={obj['metadata']['uid']}"
    )
    for event in sorted(events.items, key=lambda e: str(e.event_time or e.first_timestamp or "")):
        if event.reason != "Logging":
            print(f"    {event.reason:<16} {event.message}")
    model = (obj.get("status") or {}).get("registeredModel") or {}
    say(f"registered model {model.get('name')}:{model.get('version')} ({model.get('modelId')})")
    deploy = ((doc["spec"].get("deploy") or {}).get("serverlessEndpoint") or {}).get("name")
    if not deploy:
        return True, None
    child = {"kind": "ServerlessEndpoint", "metadata": {"name": deploy}}
    say(f"the operator made ServerlessEndpoint {deploy} for it: waiting for it to be Ready")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _get(custom, namespace, child)
        if found and condition(found).get("status") == "True":
            say(f"ServerlessEndpoint {deploy} is Ready: {found['status'].get('inferenceUri')}")
            chat(core, custom, namespace, deploy)
            return True, child
        time.sleep(0.3)
    print(f"ServerlessEndpoint {deploy} is not Ready after {timeout:.0f} s")
    return False, child


def chat(core: Any, custom: Any, namespace: str, name: str) -> None:
    import requests

    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "serverlessendpoints", name)
    secret = core.read_namespaced_secret(obj["status"]["keysSecretName"], namespace)
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    question = "What is Azure Machine Learning?"
    say(f"asking {name} (key from Secret {secret.metadata.name}): {question}")
    reply = requests.post(
        f"{data['endpoint']}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": question}], "max_tokens": 64},
        headers={"Authorization": f"Bearer {data['primaryKey']}"},
        timeout=30,
    )
    reply.raise_for_status()
    print(reply.json()["choices"][0]["message"]["content"])


def _get(custom: Any, namespace: str, doc: dict[str, Any]) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[doc["kind"]], doc["metadata"]["name"]
        )
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return found


def leftovers_being_deleted(custom: Any, namespace: str, docs: list[dict[str, Any]]) -> list[str]:
    found = (_get(custom, namespace, d) for d in docs)
    return [
        f"{o['kind']} {o['metadata']['name']}" for o in found if o and o["metadata"].get("deletionTimestamp")
    ]


def apply(custom: Any, namespace: str, doc: dict[str, Any], timeout: float, *, quiet: bool = False) -> None:
    """Create, or bring an existing object (a step's, or one a previous run left) to the manifest:
    one being deleted is waited for (the operator finalizes it), one that exists gets the manifest's
    spec and annotations."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    current = _get(custom, namespace, doc)
    if current is not None and current["metadata"].get("deletionTimestamp"):
        say(f"{kind} {name} from an earlier run is being deleted: waiting for it to go")
        if not wait_gone(custom, namespace, [doc], timeout):
            raise SystemExit(f"{kind} {name} is still being deleted after {timeout:.0f} s")
        current = None
    if current is None:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], doc)
        return
    if not quiet:
        say(f"{kind} {name} exists from an earlier run: updating it to the manifest")
    replace_spec(custom, namespace, doc, current)


def replace_spec(custom: Any, namespace: str, doc: dict[str, Any], current: dict[str, Any]) -> None:
    """The manifest's spec in place of the object's, whole (as `kubectl apply` leaves it: a map
    entry the manifest drops is dropped, which a merge patch would keep), with its annotations
    added; retried when the operator's status write changed the resourceVersion meanwhile."""
    from kubernetes.client.exceptions import ApiException

    kind, name = doc["kind"], doc["metadata"]["name"]
    for _ in range(10):
        body = {**current, "spec": doc["spec"]}
        annotations = {
            **(current["metadata"].get("annotations") or {}),
            **(doc["metadata"].get("annotations") or {}),
        }
        body["metadata"] = {**current["metadata"], "annotations": annotations}
        try:
            custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name, body)
            return
        except ApiException as err:
            if err.status != 409:
                raise
        current = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
    raise SystemExit(f"{kind} {name} kept changing: could not update it to the manifest")


def wait_gone(custom: Any, namespace: str, docs: list[dict[str, Any]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_get(custom, namespace, d) is None for d in docs):
            return True
        time.sleep(0.5)
    return False


def cleanup(custom: Any, namespace: str, docs: list[dict[str, Any]], timeout: float) -> bool:
    from kubernetes.client.exceptions import ApiException

    say("deleting what the demo applied (the simulator behind it is about to go)")
    for doc in reversed(docs):
        try:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[doc["kind"]], doc["metadata"]["name"]
            )
        except ApiException as err:
            if err.status != 404:
                raise
    say(f"waiting for the operator to delete them in Azure and release {len(docs)} objects")
    if wait_gone(custom, namespace, docs, timeout):
        say("all gone")
        return True
    stuck = [f"{d['kind']} {d['metadata']['name']}" for d in docs if _get(custom, namespace, d) is not None]
    print(f"still there after {timeout:.0f} s: {', '.join(stuck)}")
    return False
