"""The inference data plane: serverless and online endpoints answer chat and text completions.

URIs point back at the simulator (`{base}/serverless/{region}/{name}`, `{base}/online/{region}/{name}`)
because no other host is reachable here; names are unique per region, as in Azure's DNS names.
Replies are deterministic (a digest of the request) in the Azure AI Model Inference response schema.
Online traffic follows the endpoint's *effective* weights (those of its last finished update) with a
smooth weighted round-robin, mirrors the configured share to the mirror deployment, and honours the
`azureml-model-deployment` header, which bypasses traffic rules and is never mirrored.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azureml_standins.simulator.messages import Reply, Request
from azureml_standins.simulator.state import Resource

if TYPE_CHECKING:
    from azureml_standins.simulator.core import Simulator

CHAT_ROUTES = {"v1/chat/completions", "chat/completions", "models/chat/completions"}
COMPLETION_ROUTES = {"v1/completions", "completions"}
ROLES = {"system", "user", "assistant", "tool", "developer"}
SERVABLE = {"Succeeded", "Updating", "Scaling"}


class DataPlaneError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.reply = Reply(status, {"error": {"code": code, "message": message, "status": status}})


def _bad(message: str) -> DataPlaneError:
    return DataPlaneError(400, "BadRequest", message)


@dataclass
class Router:
    """Smooth weighted round-robin plus a mirror accumulator, per online endpoint."""

    current: Counter[str] = field(default_factory=Counter)
    mirror_acc: int = 0

    def pick(self, weights: dict[str, int]) -> str:
        total = sum(weights.values())
        for d, w in weights.items():
            self.current[d] += w
        best = max(sorted(weights), key=lambda d: self.current[d])
        self.current[best] -= total
        return best

    def mirror(self, percent: int) -> bool:
        self.mirror_acc += percent
        if self.mirror_acc >= 100:
            self.mirror_acc -= 100
            return True
        return False


class DataPlane:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handle(self, req: Request) -> Reply:
        try:
            return self._handle(req)
        except DataPlaneError as e:
            return e.reply

    def _handle(self, req: Request) -> Reply:
        segs = [s for s in req.path.split("/") if s]
        if len(segs) < 4:
            raise DataPlaneError(404, "NotFound", f"No endpoint serves '{req.path}'.")
        plane, region, name, route = segs[0], segs[1].lower(), segs[2], "/".join(segs[3:])
        self.sim.settle()
        kind = "serverlessEndpoints" if plane == "serverless" else "onlineEndpoints"
        res = next(
            (
                r
                for r in self.sim.state.resources.values()
                if r.kind == kind
                and r.name.lower() == name.lower()
                and self.sim.workspace_of(r).location == region
            ),
            None,
        )
        if res is None:
            raise DataPlaneError(404, "NotFound", f"Endpoint '{name}' does not exist in region '{region}'.")
        firing = self.sim.faults.fire(req.method, "inference", route, res.name)
        if firing.error is not None:
            return Reply(firing.error.status, firing.error.body(), dict(firing.error.headers))
        if plane == "serverless":
            return self._serverless(req, res, route)
        return self._online(req, res, route)

    # -- authentication -----------------------------------------------------------------------

    @staticmethod
    def _credential(req: Request) -> str:
        auth = req.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return req.headers.get("api-key", "").strip()

    def _unauthorized(self) -> DataPlaneError:
        return DataPlaneError(
            401,
            "Unauthorized",
            "Access denied due to a missing or invalid key or token. Provide "
            "the endpoint's key as 'Authorization: Bearer <key>' or 'api-key: <key>'.",
        )

    def _check_key(self, req: Request, res: Resource) -> None:
        given = self._credential(req)
        if not given or given not in (res.secrets.get("primaryKey"), res.secrets.get("secondaryKey")):
            raise self._unauthorized()

    # -- serverless ---------------------------------------------------------------------------

    def _serverless(self, req: Request, res: Resource, route: str) -> Reply:
        self._check_key(req, res)
        kind = self.sim.kinds["serverlessEndpoints"]
        state = kind.endpoint_state(res)  # type: ignore[attr-defined]
        if state == "Suspended":
            raise DataPlaneError(
                403,
                "Forbidden",
                f"Endpoint '{res.name}' is unusable: its Azure Marketplace subscription is no longer active.",
            )
        if state != "Online":
            raise DataPlaneError(404, "NotFound", f"Endpoint '{res.name}' is not ready (state {state}).")
        # A registry model answers under its name, a fine-tuned workspace model under its own name
        # (not its version, the last segment of its id).
        model, provider = kind.served_model(res)  # type: ignore[attr-defined]
        self.sim.inference.setdefault(res.name, Counter())["requests"] += 1
        if route == "info" and req.method == "GET":
            return Reply(
                200, {"model_name": model, "model_type": "chat-completion", "model_provider_name": provider}
            )
        return self._complete(req, route, model, {})

    # -- online -------------------------------------------------------------------------------

    def _servable(self, dep: Resource | None) -> bool:
        return dep is not None and self.sim.provisioning_state(dep) in SERVABLE

    def _online(self, req: Request, res: Resource, route: str) -> Reply:
        endpoints = self.sim.kinds["onlineEndpoints"]
        mode = res.properties["authMode"]
        given = self._credential(req)
        if mode == "Key":
            self._check_key(req, res)
        elif mode == "AMLToken":
            if not endpoints.token_valid(res, given, self.sim.now()):  # type: ignore[attr-defined]
                raise self._unauthorized()
        elif not given:  # AADToken: Entra tokens cannot be validated offline; any bearer is accepted.
            raise self._unauthorized()
        if route == "swagger.json" and req.method == "GET":
            return Reply(
                200,
                {"swagger": "2.0", "info": {"title": res.name, "version": "1.0"}, "paths": {"/score": {}}},
            )
        deployments = {
            d.name.lower(): d for d in self.sim.state.children(res.key, "onlineEndpoints/deployments")
        }
        effective = res.extra.get("effective", {"traffic": {}, "mirrorTraffic": {}})
        named = req.headers.get("azureml-model-deployment", "").strip()
        # Keyed by creation time too: a deleted and recreated endpoint starts a fresh rotation.
        router = self.sim.routers.setdefault(f"{res.key}@{res.created_at}", Router())
        if named:
            dep = deployments.get(named.lower())
            if not self._servable(dep):
                raise DataPlaneError(
                    404,
                    "DeploymentNotFound",
                    f"Deployment '{named}' does not exist or is not ready in endpoint '{res.name}'.",
                )
            assert dep is not None
            mirrored = None
        else:
            weights = {
                d: w
                for d, w in effective["traffic"].items()
                if w > 0 and self._servable(deployments.get(d.lower()))
            }
            if not weights:
                raise DataPlaneError(
                    404,
                    "NoValidDeployments",
                    "No valid deployments to route to. Please check that the endpoint has at least one "
                    "deployment with positive weight values or use a deployment specific header to route.",
                )
            dep = deployments[router.pick(weights).lower()]
            mirrored = next(((d, w) for d, w in effective["mirrorTraffic"].items() if w > 0), None)
        reply = self._score(req, route, dep)
        self.sim.inference.setdefault(f"{res.name}/{dep.name}", Counter())["routed"] += 1
        if mirrored is not None and router.mirror(mirrored[1]):
            target = deployments.get(mirrored[0].lower())
            if self._servable(target):
                assert target is not None
                # The mirrored copy is scored and its answer discarded, as the service does.
                self._score(req, route, target)
                self.sim.inference.setdefault(f"{res.name}/{target.name}", Counter())["mirrored"] += 1
        return reply

    def _score(self, req: Request, route: str, dep: Resource) -> Reply:
        model = str(dep.properties.get("model") or "custom-model")
        parts = model.split("/")
        model_name = parts[parts.index("models") + 1] if "models" in parts else parts[-1]
        headers = {"azureml-model-deployment": dep.name}
        if route == "score":
            if req.method != "POST":
                raise DataPlaneError(405, "MethodNotAllowed", "Scoring takes POST.")
            if req.body is None:
                raise _bad("The request body must be JSON.")
            digest = _digest(model_name, req.body)
            return Reply(
                200,
                {"deployment": dep.name, "model": model_name, "output": f"simulated score {digest}"},
                headers,
            )
        return self._complete(req, route, model_name, headers)

    # -- completions --------------------------------------------------------------------------

    def _complete(self, req: Request, route: str, model: str, headers: dict[str, str]) -> Reply:
        if route not in CHAT_ROUTES | COMPLETION_ROUTES:
            raise DataPlaneError(
                404,
                "NotFound",
                f"Route '/{route}' is not served; use /v1/chat/completions, "
                "/chat/completions or /v1/completions.",
            )
        if req.method != "POST":
            raise DataPlaneError(405, "MethodNotAllowed", f"/{route} takes POST.")
        body = req.body
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise _bad("'max_tokens' must be a positive integer.")
        temperature = body.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not 0 <= temperature <= 2
        ):
            raise _bad("'temperature' must be a number between 0 and 2.")
        if route in CHAT_ROUTES:
            prompt_text = self._chat_prompt(body)
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
                prompt_text = "\n".join(prompt)
            elif isinstance(prompt, str) and prompt:
                prompt_text = prompt
            else:
                raise _bad("'prompt' is required: a non-empty string or list of strings.")
        digest = _digest(model, body.get("messages", body.get("prompt")))
        words = f"Simulated reply {digest} from {model} to: {prompt_text[:200]}".split()
        finish = "stop"
        if max_tokens is not None and len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        text = " ".join(words)
        usage = {
            "prompt_tokens": len(prompt_text.split()),
            "completion_tokens": len(words),
            "total_tokens": len(prompt_text.split()) + len(words),
        }
        created = int(self.sim.now())
        if route in CHAT_ROUTES:
            if body.get("stream") is True:
                return self._stream(digest, model, created, words, finish, headers)
            doc: dict[str, Any] = {
                "id": f"chatcmpl-{digest}",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "tool_calls": None},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        else:
            doc = {
                "id": f"cmpl-{digest}",
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
        return Reply(200, doc, headers)

    @staticmethod
    def _chat_prompt(body: dict[str, Any]) -> str:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad("'messages' is required: a non-empty list of {role, content} objects.")
        last_user = ""
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise _bad(f"messages[{i}] must be an object.")
            if m.get("role") not in ROLES:
                raise _bad(f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}.")
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                raise _bad(f"messages[{i}].content must be a string or a list of content parts.")
            if m["role"] == "user":
                last_user = content
        return last_user or str(messages[-1].get("content", ""))

    @staticmethod
    def _stream(
        digest: str, model: str, created: int, words: list[str], finish: str, headers: dict[str, str]
    ) -> Reply:
        chunks = []
        for i, w in enumerate(words):
            delta = {"role": "assistant", "content": w} if i == 0 else {"content": " " + w}
            chunks.append(
                {
                    "id": f"chatcmpl-{digest}",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
            )
        chunks.append(
            {
                "id": f"chatcmpl-{digest}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
            }
        )
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return Reply(200, text, {**headers, "Content-Type": "text/event-stream"})


def _digest(model: str, payload: Any) -> str:
    return hashlib.sha256(json.dumps([model, payload], sort_keys=True, default=str).encode()).hexdigest()[:12]
