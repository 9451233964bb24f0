"""`workspaces/{ws}/jobs` with `jobType: FineTuning`: fine-tune a catalog model on JSONL data.

Training and validation data are datastore or https URIs, or registered data assets (the ARM id the
SDK makes of `azureml:<name>:<version>`), which must exist in the job's workspace at submission.

A job walks NotStarted -> Queued -> Running -> Completed on a clock (or Failed, or Canceled after a
cancel); on completion its output model is registered in the workspace and reported in
`outputs.registered_model` the way the SDK reads it. PUT is synchronous (no LRO); cancel is a
202 + Location operation. Task types compare case-insensitively: the SDK sends `chatCompletion`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlsplit

from azureml_standins.simulator import catalog, validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.kinds import Kind
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.resources.data import referenced_data_asset
from azureml_standins.simulator.state import Resource, Workspace

TASK_TYPES = (
    "ChatCompletion",
    "TextCompletion",
    "TextClassification",
    "QuestionAnswering",
    "TextSummarization",
    "TokenClassification",
    "TextTranslation",
    "ImageClassification",
    "ImageInstanceSegmentation",
    "ImageObjectDetection",
    "VideoMultiObjectTracking",
)
# The catalog's fine-tunable models are chat models.
SUPPORTED_TASKS = frozenset({"ChatCompletion", "TextCompletion"})
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
ASSET_NAME = r"[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}"

# Ranges from the Foundry fine-tuning wizard's task-parameter table (azure-ml-service-rules.md §12).
_INT_PARAMS = {
    "num_train_epochs": (1, 10),
    "per_device_train_batch_size": (1, 32),
    "batch_size": (1, 32),
    "per_device_eval_batch_size": (1, 32),
    "gradient_accumulation_steps": (1, 64),
}
# (low, high, low excluded): a learning rate of 0 trains nothing.
_FLOAT_PARAMS = {
    "learning_rate": (0.0, 1.0, True),
    "learning_rate_multiplier": (0.0, 10.0, False),
    "weight_decay": (0.0, 1.0, False),
    "warmup_ratio": (0.0, 1.0, False),
}


def _check_hyperparameters(params: dict[str, str]) -> int:
    """Validate known hyperparameters (strings, as the Custom provider takes them); return the epochs."""
    for key, (lo, hi) in _INT_PARAMS.items():
        if key in params:
            raw = params[key]
            if not re.fullmatch(r"\d+", raw.strip()) or not lo <= int(raw) <= hi:
                raise user_error(
                    f"Hyperparameter '{key}' must be an integer between {lo} and {hi}; got '{raw}'.",
                    target=f"properties.fineTuningDetails.hyperParameters.{key}",
                )
    for key, (flo, fhi, exclusive) in _FLOAT_PARAMS.items():
        if key in params:
            raw = params[key]
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")  # fails every comparison below
            if not ((flo < value) if exclusive else (flo <= value)) or not value <= fhi:
                bounds = f"in ({flo}, {fhi}]" if exclusive else f"between {flo} and {fhi}"
                raise user_error(
                    f"Hyperparameter '{key}' must be a number {bounds}; got '{raw}'.",
                    target=f"properties.fineTuningDetails.hyperParameters.{key}",
                )
    return int(params.get("num_train_epochs", "1"))


def _data_input(details: dict[str, Any], key: str, *, required: bool) -> dict[str, Any] | None:
    parent = "properties.fineTuningDetails"
    data = validate.obj(details, key, parent, required=required)
    if data is None:
        return None
    validate.enum(
        data, "jobInputType", ("uri_file", "uri_folder", "mltable"), f"{parent}.{key}", required=True
    )
    validate.string(data, "uri", f"{parent}.{key}", required=True)
    return data


def _not_jsonl(data: dict[str, Any]) -> bool:
    """A uri_file whose path visibly is not JSONL (data assets and folders cannot be judged by name)."""
    if data["jobInputType"].lower() != "uri_file":
        return False
    path = urlsplit(data["uri"]).path
    last = path.rsplit("/", 1)[-1]
    if "/data/" in data["uri"].lower() and "/versions/" in data["uri"].lower():
        return False
    return "." in last and not last.lower().endswith(".jsonl")


class Jobs(Kind):
    type_name = "jobs"
    arm_type = "Microsoft.MachineLearningServices/workspaces/jobs"
    display = "job"
    case_sensitive = True
    actions = frozenset({"cancel"})

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        assert ctx.name is not None
        validate.name(ctx.name, validate.GENERIC_NAME, self.display, validate.GENERIC_RULE)
        props = validate.obj(ctx.body, "properties", required=True) or {}
        job_type = validate.string(props, "jobType", "properties", required=True)
        if (job_type or "").lower() != "finetuning":
            raise user_error(
                f"The simulator implements jobType 'FineTuning' only; got '{job_type}'.",
                target="properties.jobType",
            )
        details = validate.obj(props, "fineTuningDetails", "properties", required=True) or {}
        parent = "properties.fineTuningDetails"
        provider = validate.enum(details, "modelProvider", ("Custom", "AzureOpenAI"), parent, required=True)
        task = validate.enum(details, "taskType", TASK_TYPES, parent, required=True)
        model_input = validate.obj(details, "model", parent, required=True) or {}
        validate.enum(
            model_input, "jobInputType", ("mlflow_model", "custom_model"), f"{parent}.model", required=True
        )
        model_uri = validate.string(model_input, "uri", f"{parent}.model", required=True) or ""
        ref = catalog.lookup(model_uri, target=f"{parent}.model.uri", versioned=None)
        if not ref.model.fine_tunable:
            raise user_error(
                f"Model '{ref.model.name}' does not support fine-tuning.", target=f"{parent}.model.uri"
            )
        if provider == "AzureOpenAI":
            raise user_error(
                f"Model '{ref.model.name}' is not an Azure OpenAI model; use modelProvider 'Custom'.",
                target=f"{parent}.modelProvider",
            )
        if task not in SUPPORTED_TASKS:
            raise user_error(
                f"Task type '{task}' is not supported for model '{ref.model.name}'; supported: "
                f"{', '.join(sorted(SUPPORTED_TASKS))}.",
                target=f"{parent}.taskType",
            )
        training = _data_input(details, "trainingData", required=True)
        validation = _data_input(details, "validationData", required=False)
        for key, data in (("trainingData", training), ("validationData", validation)):
            # A workspace data asset must exist when the job is submitted; datastore and https URIs
            # are only read once the job runs.
            if data is not None:
                referenced_data_asset(self.sim, ctx, data["uri"], target=f"{parent}.{key}.uri")
        hyper = validate.str_map(details, "hyperParameters", parent)
        epochs = _check_hyperparameters(hyper)
        outputs = validate.obj(props, "outputs", "properties") or {}
        registered = validate.obj(outputs, "registered_model", "properties.outputs") or {
            "jobOutputType": "mlflow_model"
        }
        asset_name = (
            validate.string(
                registered, "assetName", "properties.outputs.registered_model", default=f"{ref.model.name}-ft"
            )
            or ""
        )
        if not re.fullmatch(ASSET_NAME, asset_name):
            raise user_error(
                f"The output model name '{asset_name}' is invalid.",
                target="properties.outputs.registered_model.assetName",
            )
        resources = validate.obj(props, "resources", "properties") or {}
        types = resources.get("instanceTypes", [])
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise user_error(
                "'properties.resources.instanceTypes' must be a list of strings.",
                target="properties.resources.instanceTypes",
            )
        queue = validate.obj(props, "queueSettings", "properties")
        if queue is not None:
            validate.enum(
                queue, "jobTier", ("Null", "Spot", "Basic", "Standard", "Premium"), "properties.queueSettings"
            )

        stored_details = dict(details)
        envelope = {
            "displayName": validate.string(props, "displayName", "properties", default=ctx.name),
            "description": validate.string(props, "description", "properties"),
            "tags": validate.str_map(props, "tags", "properties"),
            "experimentName": validate.string(props, "experimentName", "properties", default="Default"),
            "isArchived": validate.boolean(props, "isArchived", "properties", default=False),
        }
        if res is not None:
            if res.properties["fineTuningDetails"] != stored_details or res.extra["outputName"] != asset_name:
                # UNVERIFIED: Azure ML jobs are immutable once submitted except for their metadata.
                raise user_error(
                    f"Job '{res.name}' already exists; only displayName, description, tags and "
                    "isArchived can change after submission.",
                    target="properties",
                )
            res.properties.update(envelope)
            res.modified_at = ctx.now
            return Reply(200, self.render(ctx, res))

        body_props: dict[str, Any] = {
            **{k: v for k, v in props.items() if k not in ("status", "services")},
            **envelope,
            "jobType": "FineTuning",
            "fineTuningDetails": stored_details,
            "outputs": {"registered_model": {**registered, "assetName": asset_name}},
            "properties": validate.str_map(props, "properties", "properties"),
        }
        res = self.new_resource(ctx, {"properties": body_props})
        res.extra["outputName"] = asset_name
        d = self.sim.config.duration
        queued = ctx.now + d("job_queue")
        running = queued + d("job_start")
        end = running + d("job_epoch") * epochs
        error: dict[str, str] | None = None
        bad = (
            training
            if training and _not_jsonl(training)
            else (validation if validation and _not_jsonl(validation) else None)
        )
        if bad is not None:
            error = {
                "code": "UserError",
                "message": f"Data '{bad['uri']}' is not a JSONL file: fine-tuning data must be UTF-8 JSONL with "
                'one {"messages": [...]} example per line.',
            }
            end = running + min(d("job_epoch") * 0.05, 60)
        rule = ctx.firing.fail_operation
        if rule is not None:
            error = {
                "code": rule.code or "SimulatedFailure",
                "message": rule.message or f"Simulated failure of fine-tuning job (rule {rule.id}).",
            }
        res.extra["phases"] = [
            ["NotStarted", ctx.now],
            ["Queued", queued],
            ["Running", running],
            ["Failed" if error else "Completed", end],
        ]
        res.extra["error"] = error
        res.extra["status"] = "NotStarted"
        return Reply(201, self.render(ctx, res))

    def status_at(self, res: Resource, now: float) -> str:
        status = "NotStarted"
        for name, at in res.extra["phases"]:
            if at <= now:
                status = name
        return status

    def settle(self, res: Resource, now: float) -> bool:
        status = self.status_at(res, now)
        if status == res.extra["status"]:
            return False
        res.extra["status"] = status
        if status == "Completed" and "outputVersion" not in res.extra:
            res.extra["outputVersion"] = self.sim.kinds["models/versions"].register_from_job(res)
        return True

    def act(self, ctx: Ctx, res: Resource, action: str) -> Reply:
        status = res.extra["status"]
        if status == "Canceled":
            return Reply(200)
        if status in ("Completed", "Failed"):
            # UNVERIFIED: the service's exact answer to cancelling a finished job.
            raise user_error(
                f"Job '{res.name}' is already in terminal state '{status}' and cannot be canceled."
            )
        op = self.sim.operation_in_flight(res)
        if op is None:
            canceled = ctx.now + self.sim.config.duration("job_cancel")
            res.extra["phases"] = [p for p in res.extra["phases"] if p[1] <= ctx.now]
            res.extra["phases"] += [["CancelRequested", ctx.now], ["Canceled", canceled]]
            res.extra["status"] = "CancelRequested"
            op = self.sim.start_operation(ctx, res, "cancel", canceled - ctx.now)
        return Reply(202, None, self.sim.location_headers(ctx, op))

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        return self.accepted_delete(ctx, res, "job_delete")

    def list_items(self, ctx: Ctx) -> list[Resource]:
        view = ctx.req.query.get("listViewType", "ActiveOnly").lower()
        if view not in ("activeonly", "archivedonly", "all"):
            raise user_error(
                f"The listViewType '{ctx.req.query['listViewType']}' is invalid; allowed: ActiveOnly, "
                "ArchivedOnly, All.",
                target="listViewType",
            )
        job_type = ctx.req.query.get("jobType")
        items = []
        for r in super().list_items(ctx):
            archived = bool(r.properties.get("isArchived"))
            if (view == "activeonly" and archived) or (view == "archivedonly" and not archived):
                continue
            if job_type and job_type.lower() != "finetuning":
                continue
            items.append(r)
        return items

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = self.envelope(res)
        props = dict(res.properties)
        status = res.extra["status"]
        props["status"] = status
        # Never null: the SDK's job parser dereferences it (contract §6 row 7).
        props["properties"] = dict(props.get("properties") or {})
        if status == "Failed" and res.extra.get("error"):
            # ARM job resources carry no error field (the portal reads RunHistory, which is not
            # simulated); the failure is surfaced here so that ARM-only clients can show it.
            props["properties"]["azureml.failureReason"] = (
                f"{res.extra['error']['code']}: {res.extra['error']['message']}"
            )
        props["services"] = {
            "Studio": {
                "jobServiceType": "Studio",
                "endpoint": f"https://ml.azure.com/runs/{res.name}?wsid={self.sim.workspace_of(res).id}",
            },
        }
        outputs = {k: dict(v) for k, v in props.get("outputs", {}).items()}
        if "outputVersion" in res.extra:
            outputs["registered_model"].update(
                {
                    "assetVersion": str(res.extra["outputVersion"]),
                    "uri": f"azureml://jobs/{res.name}/outputs/registered_model",
                }
            )
        props["outputs"] = outputs
        doc["properties"] = props
        return doc


class _ReadOnly(Kind):
    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        raise ArmError(
            405,
            "MethodNotAllowed",
            "Registering models is not simulated: fine-tuning jobs register their output models.",
        )

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        self.sim.delete_resource(res)
        return Reply(200)


class ModelVersions(_ReadOnly):
    """`models/{name}/versions/{v}`: workspace models, as fine-tuning jobs register them."""

    type_name = "models/versions"
    arm_type = "Microsoft.MachineLearningServices/workspaces/models/versions"
    display = "model version"

    def registered(self, ws: Workspace, name: str, version: str) -> Resource | None:
        """The version `version` of workspace model `name`, if registered (names compare case-insensitively)."""
        found = self.sim.state.resources.get(f"{ws.id}/models/{name}/versions/{version}".lower())
        return found if found is not None and found.kind == self.type_name else None

    def register_from_job(self, job: Resource) -> int:
        ws = self.sim.workspace_of(job)
        name = job.extra["outputName"]
        counter_key = f"{ws.key}/models/{name.lower()}"
        version = self.sim.state.model_versions.get(counter_key, 0) + 1
        self.sim.state.model_versions[counter_key] = version
        arm_id = f"{ws.id}/models/{name}/versions/{version}"
        base = job.properties["fineTuningDetails"]["model"]["uri"]
        res = Resource(
            key=arm_id.lower(),
            id=arm_id,
            kind=self.type_name,
            workspace=ws.key,
            name=str(version),
            body={
                "properties": {
                    "modelType": "mlflow_model",
                    "modelUri": f"azureml://jobs/{job.name}/outputs/registered_model",
                    "jobName": job.name,
                    "description": f"Fine-tuned from {base} by job {job.name}.",
                    "tags": {},
                    "properties": {"baseModel": base},
                    "flavors": {},
                    "isArchived": False,
                }
            },
            created_at=job.extra["phases"][-1][1],
            modified_at=job.extra["phases"][-1][1],
        )
        self.sim.state.resources[res.key] = res
        return version

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = self.envelope(res)
        doc["properties"] = dict(res.properties)
        return doc


class Models(_ReadOnly):
    """`models/{name}`: the container, derived from its versions."""

    type_name = "models"
    arm_type = "Microsoft.MachineLearningServices/workspaces/models"
    display = "model"

    def versions(self, ws_id: str, name: str) -> list[Resource]:
        return self.sim.state.children(f"{ws_id}/models/{name}".lower(), ModelVersions.type_name)

    def find(self, ctx: Ctx) -> Resource | None:
        versions = self.versions(ctx.ws.id, ctx.name or "")
        if not versions:
            return None
        latest = max(versions, key=lambda r: int(r.name))
        return Resource(
            key=self.key(self.arm_id(ctx)),
            id=self.arm_id(ctx),
            kind=self.type_name,
            workspace=ctx.ws.key,
            name=ctx.name or "",
            body={
                "properties": {
                    "latestVersion": latest.name,
                    "isArchived": False,
                    "description": None,
                    "tags": {},
                    "properties": {},
                }
            },
            created_at=min(r.created_at for r in versions),
            modified_at=latest.modified_at,
        )

    def list_items(self, ctx: Ctx) -> list[Resource]:
        names = {
            r.id.split("/models/")[1].split("/")[0]
            for r in self.sim.state.resources.values()
            if r.kind == ModelVersions.type_name and r.workspace == ctx.ws.key
        }
        out = []
        for n in sorted(names):
            sub = dataclasses.replace(ctx, path=dataclasses.replace(ctx.path, names=(n,)))
            found = self.find(sub)
            if found is not None:
                out.append(found)
        return out

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        for v in self.versions(ctx.ws.id, ctx.name or ""):
            self.sim.delete_resource(v)
        return Reply(200)

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = self.envelope(res)
        doc["properties"] = dict(res.properties)
        return doc
