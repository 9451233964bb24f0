"""OnlineDeployment: one deployment (a model on managed compute) behind an OnlineEndpoint.

Maps to `workspaces/{ws}/onlineEndpoints/{endpoint}/deployments/{deploymentName}`; the endpoint is
an OnlineEndpoint of the same namespace, and the workspace is the endpoint's. Its share of the
endpoint's traffic is set on the endpoint, not here. What Azure changes in place (model,
environment, code, instance count, settings) is updated; what it cannot (the instance type, §11) is
immutable at admission: a different one is a new deployment, and traffic moves to it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from azureml_operator.api.common import (
    ApiModel,
    CommonStatus,
    DeletionPolicy,
    LocalObjectReference,
    cel,
    immutable,
    validations,
)
from azureml_operator.api.kinds import AGE, READY, KindInfo, azure_name_rules, column
from azureml_operator.api.online_endpoint import ONLINE_NAME, NetworkAccess

# A model version: a registry's, a workspace's (the Foundry documentation's form), or the SDK's
# short `azureml:<name>:<version>`.
VERSIONED_MODEL = (
    r"^(azureml://registries/[a-zA-Z0-9][a-zA-Z0-9._-]*/models/[a-zA-Z0-9][a-zA-Z0-9._-]*/versions/[a-zA-Z0-9._-]+"
    r"|azureml://locations/[a-z0-9]+/workspaces/[0-9a-fA-F-]+/models/[a-zA-Z0-9][a-zA-Z0-9._-]*/versions/[a-zA-Z0-9._-]+"
    r"|azureml:[a-zA-Z0-9][a-zA-Z0-9._-]*:[a-zA-Z0-9._-]+)$"
)
ENVIRONMENT = (
    r"^(azureml://registries/\S+/environments/\S+|azureml:[a-zA-Z0-9][a-zA-Z0-9._-]*(:|@)[a-zA-Z0-9._-]+)$"
)
DURATION = r"^PT([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?$"  # ISO 8601, as Azure takes timeouts
INSTANCE_TYPE = r"^Standard_[A-Za-z0-9_]+$"
# A managed deployment has at most 50 instances (§13).
MAX_INSTANCES = 50


class CodeConfiguration(ApiModel):
    """The scoring code: a registered code asset and the script in it."""

    code_id: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """The code asset (azureml:<name>:<version> or its ARM id)."""
    scoring_script: Annotated[str, Field(min_length=1, max_length=512)]
    """The script that serves requests, relative to the code's root (e.g. score.py)."""


class RequestSettings(ApiModel):
    max_concurrent_requests_per_instance: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Requests one instance serves at once (Azure's default: 1)."""
    request_timeout: Annotated[str, Field(pattern=DURATION)] | None = None
    """How long a request may take, ISO 8601 (Azure's default PT5S; at most PT180S on managed compute)."""


class Probe(ApiModel):
    """A liveness or readiness probe (Azure's defaults where omitted)."""

    failure_threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Failures in a row before the instance counts as failed (default 30)."""
    success_threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Successes in a row before it counts as healthy (default 1)."""
    timeout: Annotated[str, Field(pattern=DURATION)] | None = None
    """Per probe (default PT2S)."""
    period: Annotated[str, Field(pattern=DURATION)] | None = None
    """Between probes (default PT10S)."""
    initial_delay: Annotated[str, Field(pattern=DURATION)] | None = None
    """Before the first probe."""


class OnlineDeploymentSpec(ApiModel):
    """The model to serve behind an endpoint, and on what."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.model) || has(self.environment)", "set model, environment or both")
        )
    }

    endpoint_ref: Annotated[
        LocalObjectReference, Field(json_schema_extra=validations(immutable("endpointRef")))
    ]
    """The OnlineEndpoint, in this namespace, this deployment belongs to."""
    deployment_name: Annotated[str, Field(min_length=3, max_length=32, pattern=ONLINE_NAME)] | None = None
    """Name in Azure, unique in its endpoint; defaults to metadata.name."""
    model: Annotated[str, Field(max_length=1024, pattern=VERSIONED_MODEL)] | None = None
    """The model version to serve (a registry's, or one registered in the workspace)."""
    environment: Annotated[str, Field(max_length=1024, pattern=ENVIRONMENT)] | None = None
    """The environment (image) to serve it in; omitted: the model's own (MLflow and curated models)."""
    code_configuration: CodeConfiguration | None = None
    """Scoring code, for models that need it."""
    instance_type: Annotated[
        str,
        Field(
            max_length=64,
            pattern=INSTANCE_TYPE,
            json_schema_extra=validations(
                cel(
                    "self == oldSelf",
                    "instanceType cannot change in place: create a new deployment and move the traffic to it",
                    reason="FieldValueForbidden",
                )
            ),
        ),
    ] = "Standard_F4s_v2"
    """VM size of the instances (Azure's default Standard_F4s_v2); fixed once created."""
    instance_count: Annotated[int, Field(ge=1, le=MAX_INSTANCES)] = 1
    """Number of instances (quota for 20 % more is held during updates)."""
    request_settings: RequestSettings | None = None
    """Concurrency and timeout per request."""
    liveness_probe: Probe | None = None
    """When an instance is restarted."""
    readiness_probe: Probe | None = None
    """When an instance receives traffic."""
    environment_variables: (
        dict[str, Annotated[str, Field(max_length=4096, description="A value.")]] | None
    ) = None
    """Environment variables of the scoring container."""
    app_insights_enabled: bool = False
    """Send the deployment's logs and metrics to the workspace's Application Insights."""
    egress_public_network_access: Annotated[
        NetworkAccess,
        Field(
            json_schema_extra=validations(
                # UNVERIFIED (not in the references): Azure documents this as set at creation.
                cel(
                    "self == oldSelf",
                    "egressPublicNetworkAccess cannot change in place: create a new deployment and move "
                    "the traffic to it",
                    reason="FieldValueForbidden",
                )
            )
        ),
    ] = NetworkAccess.ENABLED
    """Whether the deployment may reach the internet."""
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    """Delete: deleting this object deletes the deployment in Azure (once no live traffic goes to it)."""


class OnlineDeploymentStatus(CommonStatus):
    """What the operator last observed of the deployment in Azure."""

    provisioning_state: str | None = None
    """Azure's provisioningState: Creating, Updating, Scaling, Succeeded, Failed, ..."""
    instance_count: int | None = None
    """Instances in effect."""
    traffic: int | None = None
    """Its share of the endpoint's live traffic now, in percent."""
    mirror_traffic: int | None = None
    """Its share of mirrored traffic now, in percent."""
    azure_resource_id: str | None = None
    """ARM id of the deployment."""


class OnlineDeployment(ApiModel):
    """A deployment of a model behind an OnlineEndpoint."""

    spec: OnlineDeploymentSpec
    status: OnlineDeploymentStatus | None = None


KIND = KindInfo(
    "OnlineDeployment",
    "onlinedeployments",
    ("amlod",),
    OnlineDeployment,
    (
        READY,
        column("Endpoint", ".spec.endpointRef.name"),
        column("Model", ".spec.model"),
        column("Instances", ".status.instanceCount", type_="integer"),
        column("Traffic %", ".status.traffic", type_="integer"),
        column("Mirror %", ".status.mirrorTraffic", type_="integer"),
        AGE,
    ),
    (*azure_name_rules("deploymentName", ONLINE_NAME, "online deployment"),),
)
