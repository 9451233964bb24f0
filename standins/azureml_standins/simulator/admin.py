"""`/_sim/*`: the admin API for tests and benchmarks (no authentication, never counted or throttled).

GET  /_sim/stats      request counts by method and resource type, 429s sent, faults fired,
                      per-deployment routed and mirrored counts, resources by type
POST /_sim/reset      back to the seeded workspaces; faults and counters cleared
GET  /_sim/faults     the active fault rules
POST /_sim/faults     add rules: one rule object, or {"faults": [rule, ...]}
DELETE /_sim/faults   remove all rules
POST /_sim/clock      {"advanceSeconds": N}: move simulated time forward (operations finish early)
POST /_sim/latency  {"scale": X}: provisioning-time multiplier for operations started from now on
                      (reset restores the command-line value)
POST /_sim/tokens     {"lifetimeSeconds": N}: lifetime of endpoint tokens issued from now on (refresh
                      time at its half; reset restores the command-line value)
POST /_sim/throttle   {"enabled": bool, "reads"|"writes"|"deletes": {"capacity": N, "refillPerSecond": R}}
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from azureml_standins.simulator.config import Bucket
from azureml_standins.simulator.errors import ArmError
from azureml_standins.simulator.messages import Reply, Request

if TYPE_CHECKING:
    from azureml_standins.simulator.core import Simulator


def _bad(message: str) -> ArmError:
    return ArmError(400, "InvalidAdminRequest", message)


def _number(d: dict[str, Any], key: str) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad(f"'{key}' must be a non-negative number.")
    return float(value)


def handle(sim: Simulator, req: Request) -> Reply:
    try:
        return _handle(sim, req)
    except ArmError as e:
        return Reply(e.status, e.body())


def _handle(sim: Simulator, req: Request) -> Reply:
    route = req.path.removeprefix("/_sim/").strip("/")
    body = req.body if req.body is not None else {}
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    match (req.method, route):
        case ("GET", "stats"):
            sim.settle()
            return Reply(200, sim.stats())
        case ("POST", "reset"):
            sim.reset()
            return Reply(200, {"reset": True})
        case ("GET", "faults"):
            return Reply(200, {"faults": [r.to_json() for r in sim.faults.rules]})
        case ("POST", "faults"):
            raw = body.get("faults", body) if "faults" in body else body
            rules = raw if isinstance(raw, list) else [raw]
            if not rules:
                raise _bad("No fault rules given.")
            added = [r.to_json() for r in sim.faults.add_all(rules)]
            return Reply(201, {"faults": added})
        case ("DELETE", "faults"):
            sim.faults.clear()
            return Reply(200, {"faults": []})
        case ("POST", "clock"):
            sim.advance(_number(body, "advanceSeconds"))
            return Reply(200, {"now": sim.now()})
        case ("POST", "latency"):
            scale = _number(body, "scale")
            if scale <= 0:
                raise _bad("'scale' must be greater than 0.")
            sim.set_latency_scale(scale)
            return Reply(200, {"scale": scale})
        case ("POST", "tokens"):
            lifetime = _number(body, "lifetimeSeconds")
            if lifetime < 2:
                raise _bad("'lifetimeSeconds' must be at least 2.")
            sim.set_token_lifetime(lifetime)
            return Reply(200, {"lifetimeSeconds": lifetime})
        case ("POST", "throttle"):
            config = sim.throttle.config
            if "enabled" in body:
                if not isinstance(body["enabled"], bool):
                    raise _bad("'enabled' must be a boolean.")
                config = dataclasses.replace(config, enabled=body["enabled"])
            for kind in ("reads", "writes", "deletes"):
                if kind in body:
                    spec = body[kind]
                    if not isinstance(spec, dict):
                        raise _bad(f"'{kind}' must be an object with capacity and refillPerSecond.")
                    config = dataclasses.replace(
                        config, **{kind: Bucket(_number(spec, "capacity"), _number(spec, "refillPerSecond"))}
                    )
            sim.throttle.reconfigure(config)
            return Reply(
                200,
                {
                    "enabled": config.enabled,
                    **{k: dataclasses.asdict(getattr(config, k)) for k in ("reads", "writes", "deletes")},
                },
            )
    raise ArmError(404, "NotFound", f"No admin route '{req.method} /_sim/{route}'. See the simulator docs.")
