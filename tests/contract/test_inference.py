"""The inference data plane: online endpoints set up by the SDK route scoring requests by their
traffic, mirror traffic and the `azureml-model-deployment` header (azure-ml-service-rules.md §10,
§13); serverless endpoints answer chat completions (§9). Counts are exact: the simulator's router is
a deterministic smooth weighted round-robin."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import requests
from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, ServerlessEndpoint
from online_setup import (
    INSTANCE_TYPE,
    MODEL,
    finish,
    keys,
    put_deployment,
    put_endpoint,
    ready_endpoint,
    routed,
    score,
    scoring_uri,
)

from azureml_standins.simulator.process import SimulatorProcess

CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]}


def _served_by(url: str, sim: SimulatorProcess, key: str, n: int, **headers: str) -> Counter[str]:
    """Send n scoring requests; count the deployment that answered each."""
    seen: Counter[str] = Counter()
    for _ in range(n):
        r = score(url, sim, key, **headers)
        assert r.status_code == 200, r.text
        assert r.headers["azureml-model-deployment"] == r.json()["deployment"]
        seen[r.json()["deployment"]] += 1
    return seen


def _set_traffic(ml, name: str, traffic: dict[str, int], mirror: dict[str, int]) -> ManagedOnlineEndpoint:  # type: ignore[no-untyped-def]
    return ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=name, auth_mode="key", traffic=traffic, mirror_traffic=mirror)
    ).result()


# -- online endpoints: routing -------------------------------------------------------------------


def test_blue_green_rollout_with_mirroring(ml, sim) -> None:
    """The issue's story: blue takes all traffic while 10 % is mirrored to green, then blue 90 / green 10."""
    ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="rollout", auth_mode="key")
    ).result()
    for name in ("blue", "green"):
        poller = ml.online_deployments.begin_create_or_update(
            ManagedOnlineDeployment(
                name=name, endpoint_name="rollout", model=MODEL, instance_type=INSTANCE_TYPE
            )
        )
        finish(sim)  # spares the poller its second poll
        assert poller.result().provisioning_state == "Succeeded"
    key = ml.online_endpoints.get_keys("rollout").primary_key

    endpoint = _set_traffic(ml, "rollout", {"blue": 100}, {"green": 10})
    assert endpoint.traffic == {"blue": 100}
    assert endpoint.mirror_traffic == {"green": 10}
    assert _served_by(endpoint.scoring_uri, sim, key, 100) == {"blue": 100}
    # Mirrored copies are scored by green but their answers are discarded.
    assert routed(sim) == {"rollout/blue": {"routed": 100}, "rollout/green": {"mirrored": 10}}

    endpoint = _set_traffic(ml, "rollout", {"blue": 90, "green": 10}, {})
    fetched = ml.online_endpoints.get("rollout")
    assert fetched.traffic == {"blue": 90, "green": 10}
    assert fetched.mirror_traffic == {}
    assert _served_by(endpoint.scoring_uri, sim, key, 100) == {"blue": 90, "green": 10}
    assert routed(sim) == {"rollout/blue": {"routed": 190}, "rollout/green": {"routed": 10, "mirrored": 10}}


def test_deployment_header_bypasses_traffic_and_is_never_mirrored(ml, sim, tmp_path: Path) -> None:
    ready_endpoint(sim, "hdr-ep", ("blue", "green", "red"), traffic={"blue": 100}, mirror={"green": 50})
    key = keys(sim, "hdr-ep")["primaryKey"]
    url = scoring_uri(sim, "hdr-ep")
    # The header reaches the mirror target and a deployment with 0 % traffic alike; nothing is mirrored.
    assert _served_by(url, sim, key, 10, azureml_model_deployment="green") == {"green": 10}
    assert _served_by(url, sim, key, 10, azureml_model_deployment="RED") == {"red": 10}
    assert routed(sim) == {"hdr-ep/green": {"routed": 10}, "hdr-ep/red": {"routed": 10}}
    # Requests routed by traffic are mirrored (50 %: every second one).
    assert _served_by(url, sim, key, 10) == {"blue": 10}
    assert routed(sim)["hdr-ep/green"] == {"routed": 10, "mirrored": 5}

    # The SDK's own invoke sends the same header.
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps({"data": [1]}))
    reply = ml.online_endpoints.invoke("hdr-ep", request_file=str(request_file), deployment_name="red")
    assert json.loads(reply)["deployment"] == "red"
    assert routed(sim)["hdr-ep/red"] == {"routed": 11}
    assert routed(sim)["hdr-ep/green"] == {"routed": 10, "mirrored": 5}

    r = score(url, sim, key, azureml_model_deployment="purple")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "DeploymentNotFound"


def test_traffic_takes_effect_when_the_update_finishes(ml, sim) -> None:
    ready_endpoint(sim, "swap-ep", ("blue", "green"), traffic={"blue": 100})
    key = keys(sim, "swap-ep")["primaryKey"]
    url = scoring_uri(sim, "swap-ep")
    sim.admin("POST", "latency", {"scale": 1})  # hold the update in flight
    put_endpoint(sim, "swap-ep", traffic={"green": 100})
    during = ml.online_endpoints.get("swap-ep")
    assert during.provisioning_state == "Updating"
    assert during.traffic == {"green": 100, "blue": 0}  # reads show the requested traffic ...
    assert _served_by(url, sim, key, 10) == {"blue": 10}  # ... scoring still follows the old one
    finish(sim)
    assert ml.online_endpoints.get("swap-ep").provisioning_state == "Succeeded"
    assert _served_by(url, sim, key, 10) == {"green": 10}


def test_deployments_still_being_created_take_no_traffic(ml, sim) -> None:
    ready_endpoint(sim, "new-ep", ("blue",), traffic={"blue": 100})
    sim.admin("POST", "latency", {"scale": 1})  # hold green's creation in flight
    put_deployment(sim, "new-ep", "green")
    key = keys(sim, "new-ep")["primaryKey"]
    r = score(scoring_uri(sim, "new-ep"), sim, key, azureml_model_deployment="green")
    assert r.status_code == 404 and r.json()["error"]["code"] == "DeploymentNotFound"
    assert _served_by(scoring_uri(sim, "new-ep"), sim, key, 3) == {"blue": 3}
    finish(sim)
    assert _served_by(scoring_uri(sim, "new-ep"), sim, key, 3, azureml_model_deployment="green") == {
        "green": 3
    }


# -- online endpoints: errors --------------------------------------------------------------------


def test_wrong_or_missing_key_is_unauthorized(ml, sim) -> None:
    ready_endpoint(sim, "auth-ep", ("blue",), traffic={"blue": 100})
    url = ml.online_endpoints.get("auth-ep").scoring_uri
    k = ml.online_endpoints.get_keys("auth-ep")
    for key in (None, "", "not-the-key", k.primary_key[:-1]):
        r = score(url, sim, key)
        assert r.status_code == 401, key
        assert r.json()["error"]["code"] == "Unauthorized"
    assert score(url, sim, k.primary_key).status_code == 200
    assert score(url, sim, None, api_key=k.secondary_key).status_code == 200
    assert score(url, sim, None, api_key="not-the-key").status_code == 401
    assert "auth-ep/blue" in routed(sim) and routed(sim)["auth-ep/blue"] == {"routed": 2}


def test_no_deployment_with_positive_weight_is_not_found(ml, sim) -> None:
    ready_endpoint(sim, "idle-ep", ("blue",))
    key = ml.online_endpoints.get_keys("idle-ep").primary_key
    r = score(scoring_uri(sim, "idle-ep"), sim, key)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NoValidDeployments"
    # Naming the deployment still works without traffic.
    assert score(scoring_uri(sim, "idle-ep"), sim, key, azureml_model_deployment="blue").status_code == 200


def test_online_chat_completions(ml, sim) -> None:
    ready_endpoint(sim, "chat-ep", ("blue",), traffic={"blue": 100})
    key = keys(sim, "chat-ep")["primaryKey"]
    base = ml.online_endpoints.get("chat-ep").scoring_uri.removesuffix("/score")
    r = _post(f"{base}/v1/chat/completions", sim, key, CHAT)
    assert r.status_code == 200, r.text
    assert r.headers["azureml-model-deployment"] == "blue"
    _check_chat_completion(r.json(), "Phi-4-mini-instruct")
    assert routed(sim) == {"chat-ep/blue": {"routed": 1}}


def test_bad_chat_body_is_a_bad_request(sim) -> None:
    ready_endpoint(sim, "chat-ep", ("blue",), traffic={"blue": 100})
    key = keys(sim, "chat-ep")["primaryKey"]
    url = scoring_uri(sim, "chat-ep").removesuffix("/score") + "/chat/completions"
    bad = [
        ({}, "'messages' is required"),
        ({"messages": []}, "'messages' is required"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages\\[0\\].role must be one of"),
        ({"messages": [{"role": "user", "content": 7}]}, "messages\\[0\\].content must be"),
        ({**CHAT, "temperature": 3}, "'temperature' must be a number between 0 and 2"),
        ({**CHAT, "max_tokens": 0}, "'max_tokens' must be a positive integer"),
    ]
    for body, message in bad:
        r = _post(url, sim, key, body)
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == "BadRequest"
        assert re.search(message, r.json()["error"]["message"]), r.text


# -- serverless ----------------------------------------------------------------------------------


def test_serverless_chat_completions(ml, sim) -> None:
    endpoint = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(
            name="phi-chat", model_id="azureml://registries/azureml/models/Phi-4-mini-instruct"
        )
    ).result()
    assert endpoint.scoring_uri == f"{sim.base_url}/serverless/eastus2/phi-chat"
    k = ml.serverless_endpoints.get_keys("phi-chat")
    url = f"{endpoint.scoring_uri}/v1/chat/completions"

    r = _post(url, sim, k.primary_key, {**CHAT, "max_tokens": 64})
    assert r.status_code == 200, r.text
    _check_chat_completion(r.json(), "Phi-4-mini-instruct")
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    # Azure OpenAI style `api-key` is accepted too, and the reply is deterministic.
    again = requests.post(
        url, json={**CHAT, "max_tokens": 64}, headers={"api-key": k.secondary_key}, verify=str(sim.ca)
    )
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    short = _post(url, sim, k.primary_key, {**CHAT, "max_tokens": 2})
    assert short.json()["choices"][0]["finish_reason"] == "length"
    assert short.json()["usage"]["completion_tokens"] == 2

    assert _post(url, sim, "not-the-key", CHAT).status_code == 401
    bad = _post(url, sim, k.primary_key, {"messages": "hi"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"
    assert sim.admin("GET", "stats")["endpoints"]["phi-chat"]["requests"] == 4


# -- helpers -------------------------------------------------------------------------------------


def _post(url: str, sim: SimulatorProcess, key: str, body: object) -> requests.Response:
    return requests.post(
        url, json=body, headers={"Authorization": f"Bearer {key}"}, verify=str(sim.ca), timeout=30
    )


def _check_chat_completion(doc: dict, model: str) -> None:
    assert doc["id"].startswith("chatcmpl-")
    assert doc["object"] == "chat.completion"
    assert isinstance(doc["created"], int)
    assert doc["model"] == model
    choice = doc["choices"][0]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = doc["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] > 0
