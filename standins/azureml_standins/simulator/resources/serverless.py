"""`workspaces/{ws}/serverlessEndpoints`: pay-as-you-go endpoints for catalog models ("models as a service").

Rules (azure-ml-service-rules.md §9): name `^[a-zA-Z][a-zA-Z0-9-]{0,51}$`, unique per region (it is
part of the inference URL); the model id is unversioned and offered in the workspace's region; one
endpoint per model per workspace; partner models need an active Marketplace subscription in the
same workspace; `authMode` is `Key`. The SDK sends neither `authMode` nor `contentSafety`, so both
default here. The inference URI points back at the simulator, since no other host is reachable.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from azureml_standins.simulator import catalog, validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.kinds import Kind
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.resources.marketplace import active_subscription_for
from azureml_standins.simulator.state import Operation, Resource

NAME = r"[a-zA-Z][a-zA-Z0-9-]{0,51}"
NAME_RULE = "it must start with a letter and contain only letters, digits and '-' (at most 52 characters)."
_ALPHABET = string.ascii_letters + string.digits


def new_key() -> str:
    """Keys are 32-character strings (not a documented contract, but what the service hands out)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def new_keys() -> dict[str, str]:
    return {"primaryKey": new_key(), "secondaryKey": new_key()}


def regenerate(keys: dict[str, str], body: dict[str, Any]) -> dict[str, str]:
    """The keys after a regenerateKeys body `{keyType: Primary|Secondary, keyValue?}`."""
    key_type = validate.enum(body, "keyType", ("Primary", "Secondary"), required=True)
    value = validate.string(body, "keyValue")
    if value is not None and not 16 <= len(value) <= 128:
        raise user_error(
            "The field 'keyValue' must be between 16 and 128 characters long.", target="keyValue"
        )
    return {**keys, f"{str(key_type).lower()}Key": value or new_key()}


class ServerlessEndpoints(Kind):
    type_name = "serverlessEndpoints"
    arm_type = "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints"
    display = "serverless endpoint"
    actions = frozenset({"listKeys", "regenerateKeys"})

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        assert ctx.name is not None
        body = ctx.body
        if res is None:
            validate.name(ctx.name, NAME, self.display, NAME_RULE)
        self.require_workspace_location(ctx)
        sku = validate.obj(body, "sku") or {"name": "Consumption"}
        sku_name = validate.enum(sku, "name", ("Consumption",), "sku", required=True)
        props = validate.obj(body, "properties", required=True) or {}
        settings = validate.obj(props, "modelSettings", "properties", required=True) or {}
        model_id = validate.string(settings, "modelId", "properties.modelSettings", required=True) or ""
        auth_mode = validate.enum(props, "authMode", ("Key",), "properties", default="Key")
        safety = validate.obj(props, "contentSafety", "properties") or {}
        safety_status = validate.enum(
            safety,
            "contentSafetyStatus",
            ("Enabled", "Disabled"),
            "properties.contentSafety",
            default="Enabled",
        )
        new_body: dict[str, Any] = {
            "location": ctx.ws.location,
            "tags": validate.str_map(body, "tags"),
            "sku": {**sku, "name": sku_name},
            "properties": {
                "modelSettings": {"modelId": model_id},
                "authMode": auth_mode,
                "contentSafety": {"contentSafetyStatus": safety_status},
            },
        }
        for extra in ("identity", "kind"):
            if extra in body:
                new_body[extra] = body[extra]

        if res is not None:
            old = res.properties["modelSettings"]["modelId"]
            if old.lower() != model_id.lower():
                raise user_error(
                    f"The model of serverless endpoint '{res.name}' cannot be changed (it is '{old}'); "
                    "create a new endpoint instead.",
                    target="properties.modelSettings.modelId",
                )
            if new_body == res.body:
                return Reply(200, self.render(ctx, res))
            res.body = new_body
            res.modified_at = ctx.now
            op = self.sim.start_operation(ctx, res, "update", "serverless_update")
            return self.accepted_put(ctx, res, op, created=False)

        ref = catalog.lookup(model_id, target="properties.modelSettings.modelId", versioned=False)
        if ctx.ws.location not in ref.model.serverless_regions:
            raise user_error(
                f"Model '{ref.model.name}' is not available for serverless deployment in region '{ctx.ws.location}'. "
                f"Available regions: {', '.join(sorted(ref.model.serverless_regions))}.",
                target="properties.modelSettings.modelId",
            )
        if self.holder_of_name_in_region(ctx) is not None:
            raise ArmError(
                409,
                "UserError",
                f"Serverless endpoint name '{ctx.name}' is not available. Please select a different name.",
            )
        for other in self.sim.state.in_workspace(ctx.ws.key, self.type_name):
            if other.properties["modelSettings"]["modelId"].lower() == model_id.lower():
                # "We currently limit one deployment per model per workspace"; the error is UNVERIFIED.
                raise user_error(
                    f"Workspace '{ctx.ws.name}' already has serverless endpoint '{other.name}' for model "
                    f"'{model_id}'. Only one serverless endpoint per model is allowed in a workspace.",
                    target="properties.modelSettings.modelId",
                )
        subscription = None
        if ref.model.needs_subscription:
            subscription = active_subscription_for(self.sim, ctx.ws.key, model_id)
            if subscription is None:
                # The exact wording is UNVERIFIED; it names what is missing and how to fix it.
                raise user_error(
                    f"Marketplace subscription for model '{model_id}' (offer '{ref.model.offer.offer_id}' of "
                    f"publisher '{ref.model.offer.publisher_id}') is missing in workspace '{ctx.ws.name}'. "
                    "Create a marketplace subscription for this model before deploying it.",
                    target="properties.modelSettings.modelId",
                    modelId=model_id,
                    workspaceName=ctx.ws.name,
                )
        res = self.new_resource(ctx, new_body)
        res.secrets = new_keys()
        if subscription is not None:
            res.extra["marketplaceSubscriptionId"] = subscription.id
        op = self.sim.start_operation(ctx, res, "create", "serverless_create")
        return self.accepted_put(ctx, res, op, created=True)

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        return self.accepted_delete(ctx, res, "serverless_delete")

    def act(self, ctx: Ctx, res: Resource, action: str) -> Reply:
        if action == "regenerateKeys":
            res.secrets = regenerate(res.secrets, ctx.body)
            res.modified_at = ctx.now
        return Reply(200, dict(res.secrets))

    def on_failed(self, res: Resource, op: Operation) -> None:
        res.extra["failedOperation"] = op.kind

    def endpoint_state(self, res: Resource) -> str:
        op = self.sim.operation_in_flight(res)
        if op is not None:
            return {"create": "Creating", "delete": "Deleting"}.get(op.kind, "Online")
        if res.state == "Failed":
            return {"create": "CreationFailed", "delete": "DeletionFailed"}.get(
                res.extra.get("failedOperation", ""), "Online"
            )
        if not self.subscription_active(res):
            # Deleting the subscription makes the endpoint "unhealthy and unusable"; which state
            # the service reports then is UNVERIFIED: Suspended is the enum's closest value.
            return "Suspended"
        return "Online"

    def subscription_active(self, res: Resource) -> bool:
        if "marketplaceSubscriptionId" not in res.extra:
            return True
        model_id = res.properties["modelSettings"]["modelId"]
        return active_subscription_for(self.sim, res.workspace, model_id) is not None

    def inference_uri(self, base_url: str, res: Resource) -> str:
        return f"{base_url}/serverless/{self.sim.workspace_of(res).location}/{res.name}"

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = super().render(ctx, res)
        props = doc["properties"]
        props["endpointState"] = self.endpoint_state(res)
        props["inferenceEndpoint"] = {"uri": self.inference_uri(ctx.req.base_url, res), "headers": {}}
        if "marketplaceSubscriptionId" in res.extra:
            props["marketplaceSubscriptionId"] = res.extra["marketplaceSubscriptionId"]
        return doc
