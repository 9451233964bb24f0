"""The simulator: ARM request admission (auth, api-version, throttling, faults), routing to the
resource kinds, long-running operations, and the lazily advanced clock.

Time never advances in the background: every request first settles the operations whose due
time has passed. That keeps the simulator deterministic, restartable from its state file, and
free of timers. `advance()` moves the clock forward for tests.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from azureml_standins.simulator import paths, state
from azureml_standins.simulator.config import SimulatorConfig
from azureml_standins.simulator.errors import ArmError
from azureml_standins.simulator.faults import Faults, Firing
from azureml_standins.simulator.kinds import Kind, iso
from azureml_standins.simulator.messages import Ctx, Reply, Request
from azureml_standins.simulator.state import Operation, Resource, State, Workspace

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


class Admission:
    """An ARM request that passed auth and throttling, with the faults it triggers."""

    def __init__(self, path: paths.ArmPath, firing: Firing, headers: dict[str, str]) -> None:
        self.path = path
        self.firing = firing
        self.headers = headers


class Simulator:
    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from azureml_standins.simulator import kinds_registry
        from azureml_standins.simulator.throttling import Throttle

        self.config = config or SimulatorConfig()
        self._initial_config = self.config
        self.state_file = state_file
        self._clock = clock
        loaded = state.load(state_file) if state_file else None
        self.state = loaded or State.seeded(self.config.workspaces)
        self.throttle = Throttle(self.config.throttle)
        self.faults = Faults(self.config.seed)
        self.kinds: dict[str, Kind] = kinds_registry.build(self)
        self._timed = frozenset(
            name for name, kind in self.kinds.items() if type(kind).settle is not Kind.settle
        )
        self.requests: Counter[str] = Counter()
        self.api_versions: Counter[str] = Counter()
        self.throttled = 0
        self.inference: dict[str, Counter[str]] = {}
        self.routers: dict[str, Any] = {}  # the data plane's per-endpoint routing state

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self.state.clock_offset

    def advance(self, seconds: float) -> None:
        self.state.clock_offset += seconds
        self.settle()
        self.persist()

    def settle(self) -> bool:
        """Finish every operation whose time has come; returns whether anything changed."""
        now = self.now()
        changed = False
        # Every request settles first: at 10 000 resources, sorting every operation and asking every
        # resource's kind made the simulator the benchmark's bottleneck. Only what is due is sorted,
        # and only kinds that change with time (jobs) are asked.
        due = [op for op in self.state.operations.values() if op.status == "InProgress" and op.due <= now]
        for op in sorted(due, key=lambda o: o.due):
            self._finish(op)
            changed = True
        if self._timed:
            for res in [r for r in self.state.resources.values() if r.kind in self._timed]:
                changed |= self.kinds[res.kind].settle(res, now)
        return changed

    def _finish(self, op: Operation) -> None:
        op.ended = op.due
        res = self.state.resources.get(op.resource_key)
        if op.error is not None:
            op.status = "Failed"
            if res is not None:
                res.state = "Failed"
                res.op = None
                self.kinds[res.kind].on_failed(res, op)
            return
        op.status = "Succeeded"
        if res is None:
            return
        res.op = None
        if op.kind == "delete":
            self.delete_resource(res)
        else:
            res.state = "Succeeded"
            self.kinds[res.kind].on_complete(res, op)

    def delete_resource(self, res: Resource) -> None:
        for child in [r for r in self.state.resources.values() if r.key.startswith(res.key + "/")]:
            self.state.resources.pop(child.key, None)
        self.state.resources.pop(res.key, None)
        self.kinds[res.kind].on_deleted(res)

    # -- operations ---------------------------------------------------------------------------

    def start_operation(
        self,
        ctx: Ctx,
        res: Resource,
        kind: str,
        duration: str | float,
        *,
        result_status: int = 200,
        result_body: Any = None,
    ) -> Operation:
        seconds = self.config.duration(duration) if isinstance(duration, str) else duration
        op = Operation(
            id=str(uuid.uuid4()),
            resource_key=res.key,
            kind=kind,
            subscription=ctx.ws.subscription,
            location=ctx.ws.location,
            started=ctx.now,
            due=ctx.now + seconds,
            result_status=result_status,
            result_body=result_body,
        )
        rule = ctx.firing.fail_operation
        if rule is not None:
            op.error = {
                "code": rule.code or "SimulatedFailure",
                "message": rule.message or f"Simulated failure of the {kind} operation (rule {rule.id}).",
            }
        else:
            op.error = self.kinds[res.kind].predict_failure(res, kind, ctx)
        self.state.operations[op.id] = op
        res.op = op.id
        self._prune_operations(ctx.now)
        return op

    def _prune_operations(self, now: float) -> None:
        # Finished operations stay pollable for a day, as ARM keeps them; older ones are dropped.
        for op_id in [
            o.id for o in self.state.operations.values() if o.ended is not None and now - o.ended > 86400
        ]:
            del self.state.operations[op_id]

    def operation_in_flight(self, res: Resource) -> Operation | None:
        op = self.state.operations.get(res.op) if res.op else None
        return op if op is not None and op.status == "InProgress" else None

    def provisioning_state(self, res: Resource) -> str:
        op = self.operation_in_flight(res)
        if op is not None:
            return state.PROGRESS_STATES.get(op.kind, "Updating")
        return res.state

    def _op_url(self, ctx: Ctx, op: Operation, kind: str) -> str:
        return (
            f"{ctx.req.base_url}/subscriptions/{op.subscription}/providers/Microsoft.MachineLearningServices"
            f"/locations/{op.location}/{kind}/{op.id}?api-version={ctx.req.api_version}"
        )

    def async_headers(self, ctx: Ctx, op: Operation, *, location: bool = False) -> dict[str, str]:
        headers = {
            "Azure-AsyncOperation": self._op_url(ctx, op, "mfeOperationsStatus"),
            "Retry-After": str(self.config.retry_after),
        }
        if location:
            headers["Location"] = self._op_url(ctx, op, "mfeOperationResults")
        return headers

    def location_headers(self, ctx: Ctx, op: Operation) -> dict[str, str]:
        return {
            "Location": self._op_url(ctx, op, "mfeOperationResults"),
            "Retry-After": str(self.config.retry_after),
        }

    def _operation_reply(self, req: Request, path: paths.ArmPath) -> Reply:
        assert path.operation is not None
        which, _location, op_id = path.operation
        op = self.state.operations.get(op_id)
        if op is None or op.subscription.lower() != path.subscription.lower():
            raise ArmError(404, "NotFound", f"Operation '{op_id}' was not found.")
        if which == "status":
            doc: dict[str, Any] = {
                "id": req.path,
                "name": op.id,
                "status": op.status,
                "startTime": iso(op.started),
            }
            if op.ended is not None:
                doc["endTime"] = iso(op.ended)
                doc["percentComplete"] = 100.0
            if op.error is not None and op.status == "Failed":
                doc["error"] = dict(op.error)
            headers = {"Retry-After": str(self.config.retry_after)} if op.status == "InProgress" else {}
            return Reply(200, doc, headers)
        if op.status == "InProgress":
            return Reply(
                202,
                None,
                {
                    "Location": f"{req.base_url}{req.path}?{urlencode(dict(req.query))}",
                    "Retry-After": str(self.config.retry_after),
                },
            )
        if op.status == "Failed" and op.error is not None:
            # 4xx, not 5xx: a 5xx here would make the SDK retry the poll ten times before failing.
            raise ArmError(400, op.error["code"], op.error["message"])
        if op.result_body is None:
            return Reply(204 if op.result_status == 204 else op.result_status)
        return Reply(op.result_status, op.result_body)

    # -- admission ----------------------------------------------------------------------------

    def admit(self, req: Request) -> Admission | Reply:
        """Parse, authenticate, throttle and match faults; a Reply means the request ends here."""
        try:
            path = paths.parse(req.path, req.api_version)
        except ArmError as e:
            self.requests[f"{req.method} unknown"] += 1
            return Reply(e.status, e.body(), e.headers)
        label = path.resource_type + (f"/{path.action}" if path.action else "")
        self.requests[f"{req.method} {label}"] += 1
        auth = req.headers.get("Authorization", "")
        if not auth:
            return self._unauthorized(
                "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._unauthorized(
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            )
        if not req.api_version:
            return _error_reply(
                ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            )
        if not _API_VERSION.match(req.api_version):
            return _error_reply(
                ArmError(
                    400,
                    "InvalidApiVersionParameter",
                    f"The api-version '{req.api_version}' is invalid. The supported format is "
                    "'yyyy-mm-dd' or 'yyyy-mm-dd-preview'.",
                )
            )
        self.api_versions[f"{label}@{req.api_version}"] += 1
        allowed, kind, remaining, retry_after = self.throttle.take(path.subscription, req.method, self.now())
        rl_header = {f"x-ms-ratelimit-remaining-subscription-{kind}": str(remaining)}
        if not allowed:
            self.throttled += 1
            err = ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{kind[:-1]}' requests for subscription '{path.subscription}' exceeded. Please try again "
                f"after '{retry_after}' seconds after additional tokens are available. "
                "Refer to https://aka.ms/arm-throttling for additional information.",
                headers={"Retry-After": str(retry_after), **rl_header},
            )
            return _error_reply(err)
        name = next((n for n in reversed(path.names) if n), path.workspace or "")
        firing = self.faults.fire(req.method, path.resource_type, path.action or "", name)
        return Admission(path, firing, rl_header)

    @staticmethod
    def _unauthorized(code: str, message: str) -> Reply:
        err = ArmError(
            401,
            code,
            message,
            headers={
                "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                'error="invalid_token", error_description="' + message + '"'
            },
        )
        return _error_reply(err)

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, req: Request, admission: Admission) -> Reply:
        try:
            if admission.firing.error is not None:
                raise admission.firing.error
            self.settle()
            reply = self._route(req, admission)
        except ArmError as e:
            reply = _error_reply(e)
        reply.headers.update(admission.headers)
        if req.method != "GET" and reply.status < 400:
            self.persist()
        return reply

    def _route(self, req: Request, admission: Admission) -> Reply:
        path = admission.path
        if path.operation is not None:
            if req.method != "GET":
                raise _method_not_allowed(req.method)
            return self._operation_reply(req, path)
        ws = self._resolve_workspace(path)
        if isinstance(ws, list):
            if req.method != "GET":
                raise _method_not_allowed(req.method)
            return Reply(200, {"value": [self.render_workspace(req, w) for w in ws]})
        ctx = Ctx(req, path, ws, self.now(), admission.firing)
        if not path.types:
            if req.method == "GET":
                return Reply(200, self.render_workspace(req, ws))
            raise ArmError(
                405,
                "MethodNotAllowed",
                "The simulator's workspaces are fixed at start-up (--workspace); they cannot be "
                "created, changed or deleted through ARM.",
            )
        kind = self.kinds[path.resource_type]
        return kind.handle(ctx)

    def _resolve_workspace(self, path: paths.ArmPath) -> Workspace | list[Workspace]:
        sub = path.subscription.lower()
        in_sub = [w for w in self.state.workspaces.values() if w.subscription.lower() == sub]
        if not in_sub:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{path.subscription}' could not be found."
            )
        assert path.resource_group is not None
        in_rg = [w for w in in_sub if w.resource_group.lower() == path.resource_group.lower()]
        if not in_rg:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{path.resource_group}' could not be found."
            )
        if path.workspace is None:
            return in_rg
        ws = self.state.workspaces.get(path.workspace_id.lower())
        if ws is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.MachineLearningServices/workspaces/{path.workspace}' under resource group "
                f"'{path.resource_group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return ws

    def render_workspace(self, req: Request, ws: Workspace) -> dict[str, Any]:
        return {
            "id": ws.id,
            "name": ws.name,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": ws.location,
            "kind": "Default",
            "identity": {"type": "SystemAssigned"},
            "sku": {"name": "Basic", "tier": "Basic"},
            "tags": {},
            "properties": {
                "friendlyName": ws.name,
                "workspaceId": ws.workspace_id,
                "provisioningState": "Succeeded",
                "discoveryUrl": f"{req.base_url}/discovery",
                "publicNetworkAccess": "Enabled",
                "hbiWorkspace": False,
                "v1LegacyMode": False,
            },
        }

    def workspace_of(self, res: Resource) -> Workspace:
        return self.state.workspaces[res.workspace]

    # -- persistence and admin ----------------------------------------------------------------

    def persist(self) -> None:
        if self.state_file is not None:
            state.save(self.state, self.state_file)

    def set_latency_scale(self, scale: float) -> None:
        """Change how long operations started from now on take (tests hold operations in flight with it)."""
        self.config = dataclasses.replace(self.config, latency_scale=scale)

    def set_token_lifetime(self, seconds: float) -> None:
        """For tokens issued from now on; the ones out there keep their expiry."""
        self.config = dataclasses.replace(self.config, token_lifetime=seconds)

    def reset(self) -> None:
        self.config = self._initial_config
        self.state = State.seeded(self.config.workspaces)
        self.faults.clear()
        self.throttle.reconfigure(self.config.throttle)
        self.requests.clear()
        self.api_versions.clear()
        self.throttled = 0
        self.faults.fired = 0
        self.inference.clear()
        self.routers.clear()
        self.persist()

    def stats(self) -> dict[str, Any]:
        writes = Counter({k: v for k, v in self.requests.items() if not k.startswith("GET ")})
        return {
            "requests": dict(sorted(self.requests.items())),
            "totalRequests": sum(self.requests.values()),
            "writeRequests": sum(writes.values()),
            "throttled": self.throttled,
            "faultsFired": self.faults.fired,
            "apiVersions": dict(sorted(self.api_versions.items())),
            "deployments": {k: dict(v) for k, v in sorted(self.inference.items()) if "/" in k},
            "endpoints": {k: dict(v) for k, v in sorted(self.inference.items()) if "/" not in k},
            "resources": dict(sorted(Counter(r.kind for r in self.state.resources.values()).items())),
        }


def _error_reply(e: ArmError) -> Reply:
    return Reply(e.status, e.body(), dict(e.headers))


def _method_not_allowed(method: str) -> ArmError:
    return ArmError(
        405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported for this resource."
    )
