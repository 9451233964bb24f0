"""`workspaces/{ws}/onlineEndpoints` and `.../onlineEndpoints/{e}/deployments`: managed online endpoints.

Rules (azure-ml-service-rules.md §10-§11, §13): names 3-32 characters, endpoint names unique per
region; traffic sums to 0 or 100 and names only existing deployments; mirror traffic sums to at most
50, targets one deployment, never one with live traffic; a deployment with live (or mirrored) traffic
cannot be deleted; deleting an endpoint deletes its deployments; limits per subscription and region.
Traffic takes effect for scoring when the endpoint update finishes, not when it is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from typing import Any

from azureml_standins.simulator import catalog, validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.kinds import Kind, iso
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.resources.serverless import new_keys, regenerate
from azureml_standins.simulator.state import Operation, Resource

AUTH_MODES = ("Key", "AMLToken", "AADToken")
# A deployment's property bag entry naming the status URL of its last operation (see render).
OPERATION_URI_PROPERTY = "AzureAsyncOperationUri"

# Managed online endpoint SKUs (a representative subset of the documented list).
INSTANCE_TYPES = frozenset(
    {
        "Standard_DS1_v2",
        "Standard_DS2_v2",
        "Standard_DS3_v2",
        "Standard_DS4_v2",
        "Standard_DS5_v2",
        "Standard_F2s_v2",
        "Standard_F4s_v2",
        "Standard_F8s_v2",
        "Standard_F16s_v2",
        "Standard_F32s_v2",
        "Standard_E2s_v3",
        "Standard_E4s_v3",
        "Standard_E8s_v3",
        "Standard_E16s_v3",
        "Standard_E32s_v3",
        "Standard_NC6s_v3",
        "Standard_NC12s_v3",
        "Standard_NC24s_v3",
        "Standard_NC24ads_A100_v4",
        "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4",
        "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4",
    }
)
_INSTANCE_TYPES_LOWER = {t.lower(): t for t in INSTANCE_TYPES}
UPGRADE_RESERVE = 1.2  # "+20 % extra quota is reserved for upgrades"


def _model_ref_ok(model: str, ctx: Ctx) -> None:
    if model.startswith("azureml://registries/"):
        catalog.lookup(model, target="properties.model", versioned=True)
        return
    low = model.lower()
    if low.startswith("/subscriptions/") and "/workspaces/" in low and "/models/" in low:
        # Workspace models are not simulated beyond those fine-tuning registers; any well-formed
        # ARM id is accepted so that deployments of users' own models can be exercised.
        return
    raise user_error(
        f"The model reference '{model}' is not valid: use an ARM id of a workspace model version or "
        "azureml://registries/<registry>/models/<model>/versions/<version>.",
        target="properties.model",
    )


class OnlineEndpoints(Kind):
    type_name = "onlineEndpoints"
    arm_type = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    display = "online endpoint"
    actions = frozenset({"listKeys", "regenerateKeys", "token"})

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        assert ctx.name is not None
        body = ctx.body
        if res is None:
            validate.name(ctx.name, validate.ENDPOINT_NAME, self.display, validate.ENDPOINT_RULE)
        self.require_workspace_location(ctx)
        props = validate.obj(body, "properties", required=True) or {}
        auth_mode = validate.enum(props, "authMode", AUTH_MODES, "properties", required=True)
        if props.get("compute"):
            raise user_error(
                "'properties.compute' applies to Kubernetes online endpoints only; managed online "
                "endpoints take no compute.",
                target="properties.compute",
            )
        traffic = validate.int_map(props, "traffic", "properties")
        mirror = validate.int_map(props, "mirrorTraffic", "properties")
        user_props = validate.str_map(props, "properties", "properties")
        new_props: dict[str, Any] = {
            "authMode": auth_mode,
            "description": validate.string(props, "description", "properties"),
            "properties": user_props,
            "traffic": traffic,
            "mirrorTraffic": mirror,
            "publicNetworkAccess": validate.enum(
                props, "publicNetworkAccess", ("Enabled", "Disabled"), "properties", default="Enabled"
            ),
        }
        new_body: dict[str, Any] = {
            "location": ctx.ws.location,
            "tags": validate.arm_tags(body),
            "identity": validate.obj(body, "identity") or {"type": "SystemAssigned"},
            "properties": new_props,
        }
        if "kind" in body:
            new_body["kind"] = validate.string(body, "kind")
        self.check_traffic(ctx, res, traffic, mirror)

        if res is not None:
            old_props = res.properties.get("properties", {})
            for k, v in old_props.items():
                if user_props.get(k) != v:
                    raise user_error(
                        f"Endpoint property '{k}' can be added but not removed or altered.",
                        target="properties.properties",
                    )
            if new_body == res.body:
                return Reply(200, self.render(ctx, res))
            res.body = new_body
            res.modified_at = ctx.now
            op = self.sim.start_operation(ctx, res, "update", "online_endpoint_update")
            return self.accepted_put(ctx, res, op, created=False)

        if self.holder_of_name_in_region(ctx) is not None:
            raise ArmError(
                409,
                "Conflict",
                f"An online endpoint named '{ctx.name}' already exists in region '{ctx.ws.location}'. "
                "Endpoint names must be unique within a region.",
            )
        in_region = [
            r
            for r in self.sim.state.resources.values()
            if r.kind == self.type_name
            and self._sub_region(r) == (ctx.ws.subscription.lower(), ctx.ws.location)
        ]
        if len(in_region) >= self.sim.config.limits.online_endpoints:
            # The count limit is documented; whether it is enforced synchronously, and how, is UNVERIFIED.
            raise user_error(
                f"Subscription '{ctx.ws.subscription}' has reached its limit of "
                f"{self.sim.config.limits.online_endpoints} online endpoints in region '{ctx.ws.location}'."
            )
        keys = validate.obj(props, "keys", "properties")  # create-only secret, never echoed
        res = self.new_resource(ctx, new_body)
        res.secrets = new_keys()
        if keys:
            for k in ("primaryKey", "secondaryKey"):
                value = validate.string(keys, k, "properties.keys")
                if value:
                    res.secrets[k] = value
        op = self.sim.start_operation(ctx, res, "create", "online_endpoint_create")
        return self.accepted_put(ctx, res, op, created=True)

    def _sub_region(self, res: Resource) -> tuple[str, str]:
        ws = self.sim.workspace_of(res)
        return ws.subscription.lower(), ws.location

    def deployments(self, res: Resource) -> dict[str, Resource]:
        return {d.name.lower(): d for d in self.sim.state.children(res.key, OnlineDeployments.type_name)}

    def check_traffic(
        self, ctx: Ctx, res: Resource | None, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        deps = self.deployments(res) if res is not None else {}
        for field, weights in (("traffic", traffic), ("mirrorTraffic", mirror)):
            for dep in weights:
                d = deps.get(dep.lower())
                if d is None or self.sim.provisioning_state(d) == "Deleting":
                    raise user_error(
                        f"Deployment {dep} not found in endpoint {ctx.name}, workspace {ctx.ws.name}. Traffic can "
                        "only be routed to existing deployments.",
                        target=f"properties.{field}",
                        deploymentName=dep,
                        endpointName=ctx.name or "",
                        workspaceName=ctx.ws.name,
                    )
        total = sum(traffic.values())
        if total not in (0, 100):
            raise user_error(
                f"Traffic values need to sum to 100 (or 0 to disable traffic); they sum to {total}.",
                target="properties.traffic",
            )
        if sum(mirror.values()) > 50:
            raise user_error(
                f"Mirror traffic values need to sum to at most 50; they sum to {sum(mirror.values())}.",
                target="properties.mirrorTraffic",
            )
        targets = [d for d, w in mirror.items() if w > 0]
        if len(targets) > 1:
            raise user_error(
                f"Mirror traffic can target only one deployment; got {', '.join(targets)}.",
                target="properties.mirrorTraffic",
            )
        live = {d.lower() for d, w in traffic.items() if w > 0}
        for t in targets:
            if t.lower() in live:
                raise user_error(
                    f"Deployment {t} cannot receive both live and mirrored traffic.",
                    target="properties.mirrorTraffic",
                )

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        return self.accepted_delete(ctx, res, "online_endpoint_delete")

    def act(self, ctx: Ctx, res: Resource, action: str) -> Reply:
        auth_mode = res.properties["authMode"]
        if action == "token":
            if auth_mode != "AMLToken":
                raise user_error(
                    f"Endpoint '{res.name}' uses auth mode '{auth_mode}'; tokens are issued only for "
                    "auth mode 'AMLToken'."
                )
            lifetime = int(self.sim.config.token_lifetime)
            expiry = int(ctx.now) + lifetime
            return Reply(
                200,
                {
                    "accessToken": self.sim_token(res, expiry),
                    "tokenType": "Bearer",
                    "expiryTimeUtc": expiry,
                    "refreshAfterTimeUtc": expiry - lifetime // 2,
                },
            )
        if auth_mode != "Key":
            raise user_error(
                f"Endpoint '{res.name}' uses auth mode '{auth_mode}'; keys exist only for auth mode 'Key'."
            )
        if action == "listKeys":
            return Reply(200, dict(res.secrets))
        self.refuse_if_busy(res, "regenerate the keys of")
        body = dict(ctx.body)
        # azure-ai-ml sends the *current* key as keyValue (contract §3.4), yet its
        # begin_regenerate_keys (and `az ml online-endpoint regenerate-keys`) rotates the key: a
        # keyValue equal to the current key therefore asks for a new one; only another value sets it.
        key_type = str(body.get("keyType", "")).lower()
        if body.get("keyValue") and body.get("keyValue") == res.secrets.get(f"{key_type}Key"):
            del body["keyValue"]
        res.extra["pendingKeys"] = regenerate(res.secrets, body)
        op = self.sim.start_operation(ctx, res, "regenerateKeys", "key_regeneration", result_status=204)
        return Reply(202, None, self.sim.location_headers(ctx, op))

    def sim_token(self, res: Resource, expiry: int) -> str:
        payload = base64.urlsafe_b64encode(f"{res.key}|{expiry}".encode()).decode().rstrip("=")
        sig = hmac.new(self.sim.state.token_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{sig}"

    def token_valid(self, res: Resource, token: str, now: float) -> bool:
        payload, _, sig = token.partition(".")
        expected = hmac.new(
            self.sim.state.token_secret.encode(), payload.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(sig, expected):
            return False
        try:
            key, _, expiry = (
                base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().rpartition("|")
            )
            return key == res.key and int(expiry) > now
        except (ValueError, UnicodeDecodeError):
            return False

    def on_complete(self, res: Resource, op: Operation) -> None:
        if op.kind == "regenerateKeys":
            res.secrets = res.extra.pop("pendingKeys", res.secrets)
            return
        res.extra["effective"] = {
            "traffic": dict(res.properties["traffic"]),
            "mirrorTraffic": dict(res.properties["mirrorTraffic"]),
        }

    def on_failed(self, res: Resource, op: Operation) -> None:
        res.extra.pop("pendingKeys", None)

    def scoring_base(self, base_url: str, res: Resource) -> str:
        return f"{base_url}/online/{self.sim.workspace_of(res).location}/{res.name}"

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = super().render(ctx, res)
        props = doc["properties"]
        props["keys"] = None  # create-only secret, always returned as null
        props["scoringUri"] = f"{self.scoring_base(ctx.req.base_url, res)}/score"
        props["swaggerUri"] = f"{self.scoring_base(ctx.req.base_url, res)}/swagger.json"
        return doc


class OnlineDeployments(Kind):
    type_name = "onlineEndpoints/deployments"
    arm_type = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
    display = "online deployment"
    actions = frozenset({"getLogs"})

    def endpoint(self, ctx: Ctx) -> Resource | None:
        ep_id = f"{ctx.ws.id}/onlineEndpoints/{ctx.path.names[0]}"
        return self.sim.state.resources.get(ep_id.lower())

    def check_parent(self, ctx: Ctx, *, for_delete: bool = False) -> None:
        if self.endpoint(ctx) is None:
            raise ArmError(
                404,
                "UserError",
                f"Endpoint {ctx.path.names[0]} not found in workspace {ctx.ws.name}.",
                parameters={"endpointName": ctx.path.names[0] or "", "workspaceName": ctx.ws.name},
            )

    def not_found(self, ctx: Ctx) -> ArmError:
        return ArmError(
            404,
            "UserError",
            f"Deployment {ctx.name} not found in endpoint {ctx.path.names[0]}, workspace {ctx.ws.name}.",
            parameters={
                "deploymentName": ctx.name or "",
                "endpointName": ctx.path.names[0] or "",
                "workspaceName": ctx.ws.name,
            },
        )

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        assert ctx.name is not None
        ep = self.endpoint(ctx)
        assert ep is not None
        ep_op = self.sim.operation_in_flight(ep)
        if ep_op is not None and ep_op.kind in ("create", "delete"):
            raise ArmError(
                409,
                "Conflict",
                f"Endpoint '{ep.name}' is {self.sim.provisioning_state(ep).lower()}; "
                "deployments can be changed once that operation has finished.",
            )
        if ep.state == "Failed" and ep_op is None and ep.extra.get("effective") is None:
            raise user_error(
                f"Endpoint '{ep.name}' failed to provision; delete and recreate it before deploying."
            )
        body = ctx.body
        if res is None:
            validate.name(ctx.name, validate.ENDPOINT_NAME, self.display, validate.ENDPOINT_RULE)
        self.require_workspace_location(ctx)
        limits = self.sim.config.limits
        sku = validate.obj(body, "sku") or {}
        capacity = validate.integer(
            sku, "capacity", "sku", lo=1, hi=limits.instances_per_deployment, default=1
        )
        props = validate.obj(body, "properties", required=True) or {}
        compute_type = validate.enum(
            props,
            "endpointComputeType",
            ("Managed", "Kubernetes", "AzureMLCompute"),
            "properties",
            required=True,
        )
        if compute_type != "Managed":
            raise user_error(
                f"Endpoint '{ep.name}' is a managed online endpoint; it takes only deployments with "
                f"endpointComputeType 'Managed', not '{compute_type}'.",
                target="properties.endpointComputeType",
            )
        model = validate.string(props, "model", "properties")
        environment = validate.string(props, "environmentId", "properties")
        if not model and not environment:
            raise user_error(
                "A deployment needs a model or an environment (properties.model or "
                "properties.environmentId).",
                target="properties.model",
            )
        if model:
            _model_ref_ok(model, ctx)
        raw_type = validate.string(props, "instanceType", "properties", default="Standard_F4s_v2") or ""
        instance_type = _INSTANCE_TYPES_LOWER.get(raw_type.lower())
        if instance_type is None:
            raise user_error(
                f"Instance type '{raw_type}' is not supported for managed online deployments. "
                f"Supported: {', '.join(sorted(INSTANCE_TYPES))}.",
                target="properties.instanceType",
            )
        code = validate.obj(props, "codeConfiguration", "properties")
        if code is not None:
            validate.string(code, "scoringScript", "properties.codeConfiguration", required=True)
        scale = validate.obj(props, "scaleSettings", "properties") or {"scaleType": "Default"}
        if (
            validate.enum(
                scale,
                "scaleType",
                ("Default", "TargetUtilization"),
                "properties.scaleSettings",
                required=True,
            )
            != "Default"
        ):
            raise user_error(
                "Managed online deployments scale with scaleType 'Default' (autoscale goes through "
                "Azure Monitor); 'TargetUtilization' is for Kubernetes.",
                target="properties.scaleSettings",
            )
        request = validate.obj(props, "requestSettings", "properties")
        if request is not None:
            validate.integer(
                request, "maxConcurrentRequestsPerInstance", "properties.requestSettings", lo=1, hi=1000
            )
            validate.string(request, "requestTimeout", "properties.requestSettings")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            validate.obj(props, probe, "properties")
        user_props = validate.str_map(props, "properties", "properties")
        # The service's own entry (see `render`) is not the caller's: a client that PUTs back what
        # it read (the SDK's get, then create_or_update) must not find it frozen as a user property.
        user_props.pop(OPERATION_URI_PROPERTY, None)
        new_props: dict[str, Any] = {
            **{k: v for k, v in props.items() if k not in ("provisioningState",)},
            "endpointComputeType": "Managed",
            "instanceType": instance_type,
            "scaleSettings": scale,
            "environmentVariables": validate.str_map(props, "environmentVariables", "properties"),
            "properties": user_props,
            "appInsightsEnabled": validate.boolean(props, "appInsightsEnabled", "properties", default=False),
            "egressPublicNetworkAccess": validate.enum(
                props, "egressPublicNetworkAccess", ("Enabled", "Disabled"), "properties", default="Enabled"
            ),
        }
        new_body: dict[str, Any] = {
            "location": ctx.ws.location,
            "tags": validate.arm_tags(body),
            "sku": {**sku, "name": sku.get("name") or "Default", "capacity": capacity},
            "properties": new_props,
        }
        for extra in ("identity", "kind"):
            if extra in body:
                new_body[extra] = body[extra]

        if res is not None:
            if res.properties["instanceType"] != instance_type:
                raise user_error(
                    f"The instance type of deployment '{res.name}' cannot be changed (it is "
                    f"'{res.properties['instanceType']}'); create a new deployment instead.",
                    target="properties.instanceType",
                )
            for k, v in res.properties.get("properties", {}).items():
                if user_props.get(k) != v:
                    raise user_error(
                        f"Deployment property '{k}' can be added but not removed or altered.",
                        target="properties.properties",
                    )
            if new_body == res.body:
                return Reply(200, self.render(ctx, res))
            only_scale = {**res.body, "sku": new_body["sku"]} == new_body
            res.body = new_body
            res.modified_at = ctx.now
            op = self.sim.start_operation(
                ctx,
                res,
                "scale" if only_scale else "update",
                "deployment_scale" if only_scale else "deployment_update",
            )
            return self.accepted_put(ctx, res, op, created=False)

        if len(self.sim.state.children(ep.key, self.type_name)) >= limits.deployments_per_endpoint:
            raise user_error(
                f"Endpoint '{ep.name}' already has {limits.deployments_per_endpoint} deployments, "
                "the most an endpoint can have."
            )
        region = self._sub_region(ctx.ws.subscription, ctx.ws.location)
        if len(region) >= limits.online_deployments:
            raise user_error(
                f"Subscription '{ctx.ws.subscription}' has reached its limit of "
                f"{limits.online_deployments} online deployments in region '{ctx.ws.location}'."
            )
        res = self.new_resource(ctx, new_body)
        op = self.sim.start_operation(ctx, res, "create", "deployment_create")
        return self.accepted_put(ctx, res, op, created=True)

    def _sub_region(self, subscription: str, location: str) -> list[Resource]:
        out = []
        for r in self.sim.state.resources.values():
            if r.kind != self.type_name:
                continue
            ws = self.sim.workspace_of(r)
            if ws.subscription.lower() == subscription.lower() and ws.location == location:
                out.append(r)
        return out

    def predict_failure(self, res: Resource, kind: str, ctx: Ctx) -> dict[str, str] | None:
        if kind not in ("create", "update", "scale"):
            return None
        limit = self.sim.config.limits.instance_quota
        used = sum(
            math.ceil(r.body["sku"]["capacity"] * UPGRADE_RESERVE)
            for r in self._sub_region(ctx.ws.subscription, ctx.ws.location)
            if r.key != res.key and r.state != "Failed"
        )
        needed = math.ceil(res.body["sku"]["capacity"] * UPGRADE_RESERVE)
        if used + needed <= limit:
            return None
        return {
            "code": "OutOfQuota",
            "message": f"Not enough quota available for {res.properties['instanceType']} in SubscriptionId "
            f"{ctx.ws.subscription}. Current usage/limit: {used}/{limit}. Additional needed: {needed}. "
            "Please see troubleshooting guide, available here: https://aka.ms/oe-tsg#error-outofquota",
        }

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        ep = self.endpoint(ctx)
        assert ep is not None
        for field, what in (("traffic", "live"), ("mirrorTraffic", "mirrored")):
            weight = next(
                (w for d, w in ep.properties.get(field, {}).items() if d.lower() == res.name.lower()), 0
            )
            # The API's error for this is UNVERIFIED (the documented rule is studio guidance); for
            # mirrored traffic the rule itself is UNVERIFIED and assumed to match live traffic.
            if weight > 0:
                raise user_error(
                    f"Deployment {res.name} of endpoint {ep.name} has {weight}% {what} traffic and "
                    f"cannot be deleted. Set its {field} to 0 first.",
                    deploymentName=res.name,
                    endpointName=ep.name,
                    workspaceName=ctx.ws.name,
                )
        return self.accepted_delete(ctx, res, "deployment_delete")

    def act(self, ctx: Ctx, res: Resource, action: str) -> Reply:
        container = validate.enum(
            ctx.body, "containerType", ("InferenceServer", "StorageInitializer"), default="InferenceServer"
        )
        tail = validate.integer(ctx.body, "tail", lo=0, hi=10000, default=200)
        lines = self.log_lines(res, container or "InferenceServer")
        return Reply(200, {"content": "\n".join(lines[-tail:] if tail else [])})

    def log_lines(self, res: Resource, container: str) -> list[str]:
        start = iso(res.created_at)
        if container == "StorageInitializer":
            return [
                f"{start} storage-initializer: downloading model {res.properties.get('model', '(none)')}",
                f"{start} storage-initializer: model download complete",
            ]
        state = self.sim.provisioning_state(res)
        lines = [f"{start} inference-server: starting {res.name} on {res.properties['instanceType']}"]
        if state == "Succeeded":
            lines += [
                f"{start} inference-server: model loaded",
                f"{start} inference-server: listening on port 5001",
                f"{start} inference-server: readiness probe succeeded",
            ]
        elif state == "Failed":
            lines.append(f"{start} inference-server: container failed to start")
        return lines

    def on_complete(self, res: Resource, op: Operation) -> None:
        res.extra.pop("failedOperation", None)

    def on_deleted(self, res: Resource) -> None:
        # A deleted deployment's zero-weight entries leave the endpoint's traffic maps with it.
        ep = self.sim.state.resources.get(res.key.rsplit("/deployments/", 1)[0])
        if ep is None:
            return
        for maps in (ep.properties, ep.extra.get("effective", {})):
            for field in ("traffic", "mirrorTraffic"):
                if field in maps:
                    maps[field] = {d: w for d, w in maps[field].items() if d.lower() != res.name.lower()}

    def on_failed(self, res: Resource, op: Operation) -> None:
        res.extra["failedOperation"] = op.kind

    def accepted_put(self, ctx: Ctx, res: Resource, op: Operation, created: bool) -> Reply:
        res.extra["lastOperation"] = op.id
        return super().accepted_put(ctx, res, op, created)

    def accepted_delete(self, ctx: Ctx, res: Resource, duration: str) -> Reply:
        reply = super().accepted_delete(ctx, res, duration)
        res.extra["lastOperation"] = res.op
        return reply

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = super().render(ctx, res)
        props = doc["properties"]
        # The SDK's parser breaks on a deployment without scaleSettings (contract §6 row 8).
        props.setdefault("scaleSettings", {"scaleType": "Default"})
        # The status URL of the deployment's last operation in its property bag, as the service's
        # PUT reply carries it (azure-ml-service-rules.md §5, the official REST sample): where a
        # client that did not keep the Azure-AsyncOperation header reads why provisioning failed
        # (the ARM resource has no error field). Carried on every GET as well: UNVERIFIED.
        op = self.sim.state.operations.get(res.extra.get("lastOperation") or "")
        if op is not None:
            uri = self.sim.async_headers(ctx, op)["Azure-AsyncOperation"]
            props["properties"] = {**props.get("properties", {}), OPERATION_URI_PROPERTY: uri}
        return doc
