"""`workspaces/{ws}/serverlessEndpoints`: pay-as-you-go endpoints for catalog models ("models as a service")
and for models fine-tuned from them.

Rules (azure-ml-service-rules.md §9): name `^[a-zA-Z][a-zA-Z0-9-]{0,51}$`, unique per region (it is
part of the inference URL); one endpoint per model per workspace; the model cannot change; partner
models need an active Marketplace subscription in the same workspace; `authMode` is `Key`. The SDK
sends neither `authMode` nor `contentSafety`, so both default here. The inference URI points back at
the simulator, since no other host is reachable.

The model id is either an unversioned registry id, `azureml://registries/{r}/models/{m}`, offered in
the workspace's region, or (as the Foundry fine-tune-serverless article deploys a fine-tuned model)
a versioned model of this workspace, `azureml://locations/{loc}/workspaces/{workspace GUID}/models/{m}/versions/{v}`.
Such a model must exist here, and the rules of its base model (`properties.baseModel`, recorded by the
fine-tuning job that registered it) apply: region availability and, for a partner model, the
subscription to the base model's offer.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from azureml_standins.simulator import catalog, validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.kinds import Kind
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.resources.jobs import ModelVersions
from azureml_standins.simulator.resources.marketplace import active_subscription_for
from azureml_standins.simulator.state import Operation, Resource

NAME = r"[a-zA-Z][a-zA-Z0-9-]{0,51}"
NAME_RULE = "it must start with a letter and contain only letters, digits and '-' (at most 52 characters)."
_ALPHABET = string.ascii_letters + string.digits
MODEL_TARGET = "properties.modelSettings.modelId"


@dataclass(frozen=True)
class Deployable:
    """What a model id deploys, and the catalog model whose serverless rules apply to it."""

    catalog_model: catalog.CatalogModel  # for a fine-tuned model: its base model
    described: str  # how messages name it: "Model 'Phi-4-mini-instruct'"
    subscription_model_id: str  # the registry id a Marketplace subscription for it names
    fine_tuned: dict[str, str] | None = None  # name, version, baseModel, provider of a workspace model


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
            "tags": validate.arm_tags(body),
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
                    target=MODEL_TARGET,
                )
            if new_body == res.body:
                return Reply(200, self.render(ctx, res))
            res.body = new_body
            res.modified_at = ctx.now
            op = self.sim.start_operation(ctx, res, "update", "serverless_update")
            return self.accepted_put(ctx, res, op, created=False)

        deployable = self.resolve_model(ctx, model_id)
        model = deployable.catalog_model
        if ctx.ws.location not in model.serverless_regions:
            raise user_error(
                f"{deployable.described} is not available for serverless deployment in region '{ctx.ws.location}'. "
                f"Available regions: {', '.join(sorted(model.serverless_regions))}.",
                target=MODEL_TARGET,
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
                # A workspace model id names one version: each version counts as a model of its own.
                raise user_error(
                    f"Workspace '{ctx.ws.name}' already has serverless endpoint '{other.name}' for model "
                    f"'{model_id}'. Only one serverless endpoint per model is allowed in a workspace.",
                    target=MODEL_TARGET,
                )
        subscription = None
        if model.needs_subscription:
            assert model.offer is not None
            subscription = active_subscription_for(self.sim, ctx.ws.key, deployable.subscription_model_id)
            if subscription is None:
                # The exact wording is UNVERIFIED; it names what is missing and how to fix it. That a
                # model fine-tuned from a partner model needs a subscription to the base model's offer
                # is UNVERIFIED too (assumed: its use is billed under that offer).
                via = (
                    f"Fine-tuned model '{deployable.fine_tuned['name']}' is billed through the offer of its "
                    "base model. "
                    if deployable.fine_tuned
                    else ""
                )
                raise user_error(
                    f"Marketplace subscription for model '{deployable.subscription_model_id}' (offer "
                    f"'{model.offer.offer_id}' of publisher '{model.offer.publisher_id}') is missing in "
                    f"workspace '{ctx.ws.name}'. {via}"
                    "Create a marketplace subscription for this model before deploying it.",
                    target=MODEL_TARGET,
                    modelId=deployable.subscription_model_id,
                    workspaceName=ctx.ws.name,
                )
        res = self.new_resource(ctx, new_body)
        res.secrets = new_keys()
        if subscription is not None:
            res.extra["marketplaceSubscriptionId"] = subscription.id
        if deployable.fine_tuned is not None:
            res.extra["fineTuned"] = deployable.fine_tuned
        op = self.sim.start_operation(ctx, res, "create", "serverless_create")
        return self.accepted_put(ctx, res, op, created=True)

    def resolve_model(self, ctx: Ctx, model_id: str) -> Deployable:
        """The model a new endpoint's `modelId` names, or the UserError saying why it cannot be deployed."""
        ws_model = catalog.parse_workspace_model_id(model_id)
        if ws_model is not None:
            return self._workspace_model(ctx, model_id, ws_model)
        if not catalog.is_registry_model_id(model_id):
            raise user_error(
                f"Model id '{model_id}' cannot be deployed as a serverless endpoint: use a registry model id, "
                f"{catalog.REGISTRY_FORM}, or a model version registered in this workspace, "
                f"{catalog.WORKSPACE_FORM}.",
                target=MODEL_TARGET,
            )
        ref = catalog.lookup(model_id, target=MODEL_TARGET, versioned=False)
        return Deployable(ref.model, f"Model '{ref.model.name}'", model_id)

    def _workspace_model(self, ctx: Ctx, model_id: str, ws_model: catalog.WorkspaceModelId) -> Deployable:
        # The wording and status of each refusal below are UNVERIFIED: 400 UserError for an id that
        # names another workspace or region, 404 UserError for a model version that does not exist
        # (as for a missing registry model or a job's missing data asset).
        if ws_model.workspace_id.lower() != ctx.ws.workspace_id.lower():
            raise user_error(
                f"Model id '{model_id}' names workspace '{ws_model.workspace_id}', but this is workspace "
                f"'{ctx.ws.name}' (workspace id '{ctx.ws.workspace_id}'). A serverless endpoint can deploy "
                "only a model registered in its own workspace.",
                target=MODEL_TARGET,
            )
        if ws_model.location.lower() != ctx.ws.location:
            raise user_error(
                f"Model id '{model_id}' names location '{ws_model.location}', but workspace '{ctx.ws.name}' "
                f"is in location '{ctx.ws.location}'.",
                target=MODEL_TARGET,
            )
        versions = self.sim.kinds[ModelVersions.type_name]
        assert isinstance(versions, ModelVersions)
        found = versions.registered(ctx.ws, ws_model.name, ws_model.version)
        if found is None:
            raise user_error(
                f"Model '{ws_model.name}' version '{ws_model.version}' referenced by '{MODEL_TARGET}' was not "
                f"found in workspace '{ctx.ws.name}'. A fine-tuning job registers its output model when it "
                "completes.",
                target=MODEL_TARGET,
                status=404,
            )
        name = found.id.split("/models/", 1)[1].split("/", 1)[0]  # as registered
        base_id = str(found.properties.get("properties", {}).get("baseModel") or "")
        if not catalog.is_registry_model_id(base_id):
            # Only fine-tuning jobs register models here, and they always record the base model;
            # UNVERIFIED what the service says of a workspace model that is not a catalog derivative.
            raise user_error(
                f"Model '{name}' version '{found.name}' was not fine-tuned from a catalog model; only models "
                "fine-tuned from a catalog model can be deployed as serverless endpoints.",
                target=MODEL_TARGET,
            )
        base = catalog.lookup(base_id, target=MODEL_TARGET, versioned=None).model
        return Deployable(
            base,
            f"Model '{name}' version '{found.name}' (fine-tuned from '{base.name}')",
            base.model_id,
            {"name": name, "version": found.name, "baseModel": base.model_id, "provider": base.registry},
        )

    def served_model(self, res: Resource) -> tuple[str, str]:
        """The model name and provider that the endpoint's inference replies report.

        A fine-tuned model answers under its own name; as provider it reports its base model's, as a
        registry model does (UNVERIFIED what the service reports for a fine-tuned model)."""
        fine_tuned = res.extra.get("fineTuned")
        if fine_tuned is not None:
            return fine_tuned["name"], fine_tuned["provider"]
        model_id = res.properties["modelSettings"]["modelId"]
        return model_id.rsplit("/", 1)[-1], model_id.split("/")[3]

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
        fine_tuned = res.extra.get("fineTuned")
        model_id = fine_tuned["baseModel"] if fine_tuned else res.properties["modelSettings"]["modelId"]
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
