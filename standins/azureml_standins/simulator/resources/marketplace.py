"""`workspaces/{ws}/marketplaceSubscriptions`: a workspace's subscription to a partner model's offer.

Rules: the model id is an unversioned registry id of a Marketplace model; one subscription per
offer per workspace; the model id cannot change; DELETE answers 202 or 204 only (the SDK rejects 200).
"""

from __future__ import annotations

from typing import Any

from azureml_standins.simulator import catalog, validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.kinds import Kind
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.state import Resource


class MarketplaceSubscriptions(Kind):
    type_name = "marketplaceSubscriptions"
    arm_type = "Microsoft.MachineLearningServices/workspaces/marketplaceSubscriptions"
    display = "marketplace subscription"

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        assert ctx.name is not None
        validate.name(ctx.name, validate.GENERIC_NAME, self.display, validate.GENERIC_RULE)
        props = validate.obj(ctx.body, "properties", required=True) or {}
        model_id = validate.string(props, "modelId", "properties", required=True) or ""
        ref = catalog.lookup(model_id, target="properties.modelId", versioned=False)
        if ref.model.offer is None:
            # UNVERIFIED: the error Azure gives for a subscription to a Microsoft model is not
            # documented; a UserError saying none is needed is the plausible answer.
            raise user_error(
                f"Model '{ref.model.name}' is offered by Microsoft and is not sold through Azure Marketplace; "
                "no marketplace subscription is needed to deploy it.",
                target="properties.modelId",
            )
        if res is not None:
            if res.properties["modelId"].lower() != model_id.lower():
                raise user_error(
                    f"The modelId of marketplace subscription '{res.name}' cannot be changed "
                    f"(it is '{res.properties['modelId']}').",
                    target="properties.modelId",
                )
            # Nothing else is writable: the PUT is a no-op that answers 200 with the resource.
            return Reply(200, self.render(ctx, res))
        for other in self.sim.state.in_workspace(ctx.ws.key, self.type_name):
            if other.properties["modelId"].lower() == model_id.lower():
                raise ArmError(
                    409,
                    "Conflict",
                    f"Workspace '{ctx.ws.name}' already has marketplace subscription '{other.name}' for model "
                    f"'{model_id}'; there can be one subscription per offer per workspace.",
                )
        res = self.new_resource(ctx, {"properties": {"modelId": model_id}})
        res.extra["offer"] = ref.model.offer.plan()
        op = self.sim.start_operation(ctx, res, "create", "marketplace_create")
        return self.accepted_put(ctx, res, op, created=True)

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        return self.accepted_delete(ctx, res, "marketplace_delete")

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = super().render(ctx, res)
        props = doc["properties"]
        # The SDK's parser needs marketplacePlan on every reply (azure-ml-arm-contract.md §6 row 9).
        props["marketplacePlan"] = dict(res.extra.get("offer", {}))
        if props["provisioningState"] in ("Succeeded", "Deleting"):
            props["marketplaceSubscriptionStatus"] = res.extra.get("status", "Subscribed")
        return doc


def active_subscription_for(sim: Any, ws_key: str, model_id: str) -> Resource | None:
    """The workspace's usable subscription to `model_id`'s offer, if any."""
    for sub in sim.state.in_workspace(ws_key, MarketplaceSubscriptions.type_name):
        if (
            sub.properties["modelId"].lower() == model_id.lower()
            and sim.provisioning_state(sub) == "Succeeded"
            and sub.extra.get("status", "Subscribed") == "Subscribed"
        ):
            return sub
    return None
