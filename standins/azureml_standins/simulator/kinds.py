"""What every simulated resource type shares: routing of GET/PUT/DELETE/POST, lookup by ARM id,
paged lists, 409 while an operation is in flight, and the ARM envelope with systemData.

Each resource type subclasses `Kind` in its own module and supplies only its rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from azureml_standins.simulator import validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.state import Operation, Resource, resource_key

if TYPE_CHECKING:
    from azureml_standins.simulator.core import Simulator

ENVELOPE_FIELDS = ("location", "tags", "sku", "identity", "kind")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Kind:
    type_name = ""  # as in ArmPath.resource_type
    arm_type = ""
    display = ""  # for messages: "serverless endpoint"
    case_sensitive = False
    actions: frozenset[str] = frozenset()
    # Marketplace subscriptions and serverless endpoints answer a DELETE of nothing with 204, as all
    # ML resources do; the SDK accepts 204 for every DELETE.

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # -- routing ------------------------------------------------------------------------------

    def handle(self, ctx: Ctx) -> Reply:
        method = ctx.req.method
        if ctx.path.is_collection:
            if method != "GET":
                raise _not_allowed(method)
            self.check_parent(ctx)
            return self.list(ctx)
        res = self.find(ctx)
        if ctx.path.action:
            if method != "POST":
                raise _not_allowed(method)
            self.check_parent(ctx)
            if res is None:
                raise self.not_found(ctx)
            return self.act(ctx, res, ctx.path.action)
        if method == "GET":
            self.check_parent(ctx)
            if res is None:
                raise self.not_found(ctx)
            return Reply(200, self.render(ctx, res))
        if method == "PUT":
            if not isinstance(ctx.req.body, dict):
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: a JSON object is required.",
                )
            self.check_parent(ctx)
            if res is not None:
                self.refuse_if_busy(res, "update")
            return self.put(ctx, res)
        if method == "DELETE":
            self.check_parent(ctx, for_delete=True)
            if res is None:
                return Reply(204)
            op = self.sim.operation_in_flight(res)
            if op is not None and op.kind == "delete":
                return Reply(202, None, self.sim.async_headers(ctx, op, location=True))
            self.refuse_if_busy(res, "delete")
            return self.delete(ctx, res)
        raise _not_allowed(method)

    def refuse_if_busy(self, res: Resource, what: str) -> None:
        # Documented for Kubernetes online endpoints; assumed for every ML resource (UNVERIFIED for
        # managed ones): a second operation on a resource with one in flight is refused with 409.
        op = self.sim.operation_in_flight(res)
        if op is not None:
            raise ArmError(
                409,
                "Conflict",
                f"Cannot {what} {self.display} '{res.name}': an operation is in progress "
                f"(provisioningState {self.sim.provisioning_state(res)}). Retry after it has finished.",
            )

    def check_parent(self, ctx: Ctx, *, for_delete: bool = False) -> None:
        """Raise when the parent resource (if any) is missing; workspaces are checked by the core."""

    # -- rules several kinds share ---------------------------------------------------------------

    def require_workspace_location(self, ctx: Ctx) -> None:
        """Tracked resources live in their workspace's region; `location` is required and must match."""
        location = validate.string(ctx.body, "location", required=True) or ""
        if location.replace(" ", "").lower() != ctx.ws.location:
            raise user_error(
                f"The location '{location}' does not match the location '{ctx.ws.location}' of workspace "
                f"'{ctx.ws.name}'.",
                target="location",
            )

    def holder_of_name_in_region(self, ctx: Ctx) -> Resource | None:
        """The resource of this kind already using the name in the workspace's region, in any workspace.

        Endpoint names are part of DNS names (`<name>.<region>...`), hence unique per region."""
        name = (ctx.name or "").lower()
        return next(
            (
                r
                for r in self.sim.state.resources.values()
                if r.kind == self.type_name
                and r.name.lower() == name
                and self.sim.workspace_of(r).location == ctx.ws.location
            ),
            None,
        )

    # -- lookup -------------------------------------------------------------------------------

    def arm_id(self, ctx: Ctx, names: tuple[str | None, ...] | None = None) -> str:
        names = names if names is not None else ctx.path.names
        parts = [ctx.ws.id]
        for t, n in zip(ctx.path.types, names, strict=True):
            parts.append(t)
            if n is not None:
                parts.append(n)
        return "/".join(parts)

    def key(self, arm_id: str) -> str:
        return resource_key(arm_id, case_sensitive_last=self.case_sensitive)

    def find(self, ctx: Ctx) -> Resource | None:
        return self.sim.state.resources.get(self.key(self.arm_id(ctx)))

    def not_found(self, ctx: Ctx) -> ArmError:
        return ArmError(
            404,
            "ResourceNotFound",
            f"The {self.display} '{ctx.name}' was not found in workspace '{ctx.ws.name}'.",
            parameters={"workspaceName": ctx.ws.name},
        )

    def new_resource(self, ctx: Ctx, body: dict[str, Any]) -> Resource:
        arm_id = self.arm_id(ctx)
        assert ctx.name is not None
        res = Resource(
            key=self.key(arm_id),
            id=arm_id,
            kind=self.type_name,
            workspace=ctx.ws.key,
            name=ctx.name,
            body=body,
            created_at=ctx.now,
            modified_at=ctx.now,
        )
        self.sim.state.resources[res.key] = res
        return res

    # -- listing and rendering ----------------------------------------------------------------

    def list_items(self, ctx: Ctx) -> list[Resource]:
        parent = self.arm_id(ctx).rsplit("/", 1)[0].lower()  # the collection's parent
        return sorted(self.sim.state.children(parent, self.type_name), key=lambda r: r.created_at)

    def list(self, ctx: Ctx) -> Reply:
        items = [self.render(ctx, r) for r in self.list_items(ctx)]
        return self.page(ctx, items)

    def page(self, ctx: Ctx, items: list[dict[str, Any]]) -> Reply:
        size = self.sim.config.limits.page_size
        token = ctx.req.query.get("$skipToken", "0")
        if not token.isdigit():
            raise user_error(f"The $skipToken '{token}' is invalid.", target="$skipToken")
        start = int(token)
        body: dict[str, Any] = {"value": items[start : start + size]}
        if start + size < len(items):
            query = {k: v for k, v in ctx.req.query.items() if k != "$skipToken"}
            query["$skipToken"] = str(start + size)
            body["nextLink"] = f"{ctx.req.base_url}{ctx.req.path}?{urlencode(query)}"
        return Reply(200, body)

    def envelope(self, res: Resource) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": res.id, "name": res.name, "type": self.arm_type}
        for f in ENVELOPE_FIELDS:
            if f in res.body:
                doc[f] = res.body[f]
        doc["systemData"] = {
            "createdAt": iso(res.created_at),
            "createdBy": "sim-user@contoso.com",
            "createdByType": "User",
            "lastModifiedAt": iso(res.modified_at),
            "lastModifiedBy": "sim-user@contoso.com",
            "lastModifiedByType": "User",
        }
        return doc

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = self.envelope(res)
        doc["properties"] = {**res.properties, "provisioningState": self.sim.provisioning_state(res)}
        return doc

    # -- behaviour hooks ----------------------------------------------------------------------

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        raise _not_allowed("PUT")

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        raise _not_allowed("DELETE")

    def act(self, ctx: Ctx, res: Resource, action: str) -> Reply:
        raise _not_allowed("POST")

    def settle(self, res: Resource, now: float) -> bool:
        return False

    def on_complete(self, res: Resource, op: Operation) -> None:
        """Effects of a successful create/update/action (deletion is handled by the core)."""

    def on_deleted(self, res: Resource) -> None:
        """Effects on other resources once this one is gone."""

    def on_failed(self, res: Resource, op: Operation) -> None:
        """Effects of a failed operation beyond provisioningState Failed."""

    def predict_failure(self, res: Resource, kind: str, ctx: Ctx) -> dict[str, str] | None:
        """An error the operation will end with (e.g. OutOfQuota), decided when it starts."""
        return None

    # -- shared replies -----------------------------------------------------------------------

    def accepted_put(self, ctx: Ctx, res: Resource, op: Operation, created: bool) -> Reply:
        return Reply(201 if created else 200, self.render(ctx, res), self.sim.async_headers(ctx, op))

    def accepted_delete(self, ctx: Ctx, res: Resource, duration: str) -> Reply:
        op = self.sim.start_operation(ctx, res, "delete", duration)
        return Reply(202, None, self.sim.async_headers(ctx, op, location=True))


def _not_allowed(method: str) -> ArmError:
    return ArmError(
        405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported for this resource."
    )
