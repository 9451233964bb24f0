"""OnlineEndpoint: a managed online endpoint, and how its live traffic is split between its
deployments and mirrored to one of them (shadow testing).

Maps to `workspaces/{ws}/onlineEndpoints/{endpointName}`. Admission refuses every map Azure would
refuse (azure-ml-service-rules.md §10.1): live shares summing to neither 0 nor 100, a mirror above
50 %, more than one mirror target, a deployment with both live and mirrored traffic. The keys (or,
with AMLToken auth, a token and its expiry) go to a Secret.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from azureml_operator.api.common import (
    DNS_SUBDOMAIN,
    ApiModel,
    CommonStatus,
    DeletionPolicy,
    LocalObjectReference,
    cel,
    validations,
)
from azureml_operator.api.key_rotation import DateTime, KeyRotation, KeyRotationStatus
from azureml_operator.api.kinds import (
    AGE,
    READY,
    KindInfo,
    azure_name_rules,
    column,
    owner_tag_fits,
    workspace_ref_immutable,
)

# Online endpoint and deployment names (the SDK's validator and the quota docs, §3): 3-32 characters,
# a letter first, a letter or digit last, letters, digits and '-' between. No look-ahead: CEL's RE2
# has none, and the root rules reuse it.
ONLINE_NAME = r"^[a-zA-Z][-a-zA-Z0-9]{1,30}[a-zA-Z0-9]$"
# An endpoint holds at most 20 deployments (§13); it also bounds the maps' CEL cost.
MAX_DEPLOYMENTS = 20


# Only Key endpoints have keys to rotate (azure-ml-service-rules.md: regenerateKeys is refused for
# the other auth modes).
KEYLESS = (
    "keyRotation needs authMode Key: an AMLToken endpoint's tokens expire and the operator renews "
    "them by itself, and an AADToken endpoint has no keys (clients use Entra ID)"
)


# ARM takes 50 tags on a resource, names of 1-512 characters without < > % & \ ? / or control
# characters; the operator adds its two owner tags.
MAX_USER_TAGS = 48
_TAG_NAMES = cel(
    "self.all(k, size(k) >= 1 && size(k) <= 512 && !k.matches('[<>%&\\\\\\\\?/[:cntrl:]]'))",
    "spec.tags names must have 1 to 512 characters, none of < > % & \\ ? / or control characters (Azure's rule)",
)

Share = Annotated[int, Field(description="A deployment's share, in percent.")]


class AuthMode(StrEnum):
    """How clients authenticate: keys that do not expire, Azure ML tokens that do, or Entra ID."""

    KEY = "Key"
    AML_TOKEN = "AMLToken"
    AAD_TOKEN = "AADToken"


class NetworkAccess(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


def _shares(maximum: int, what: str) -> object:
    return Field(
        max_length=MAX_DEPLOYMENTS,
        json_schema_extra=validations(
            cel(
                f"self.all(k, k.matches('{ONLINE_NAME}'))",
                f"{what} keys must be deployment names ({ONLINE_NAME})",
            ),
            cel(
                f"self.all(k, self[k] >= 0 && self[k] <= {maximum})",
                f"{what} shares are percentages from 0 to {maximum}",
            ),
        ),
    )


class OnlineEndpointSpec(ApiModel):
    """The endpoint, and where its traffic goes."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.traffic) || self.traffic.map(k, self.traffic[k]).sum() in [0, 100]",
                "the live traffic shares must add up to 100 (or to 0: no live traffic)",
                field_path=".traffic",
            ),
            cel(
                "!has(self.mirrorTraffic) || self.mirrorTraffic.map(k, self.mirrorTraffic[k]).sum() <= 50",
                "at most 50 % of the traffic can be mirrored",
                field_path=".mirrorTraffic",
            ),
            cel(
                "!has(self.mirrorTraffic) || self.mirrorTraffic.filter(k, self.mirrorTraffic[k] > 0).size() <= 1",
                "traffic can be mirrored to one deployment only",
                field_path=".mirrorTraffic",
            ),
            cel(
                "!has(self.mirrorTraffic) || !has(self.traffic) || "
                "!self.mirrorTraffic.exists(k, self.mirrorTraffic[k] > 0 && k in self.traffic && self.traffic[k] > 0)",
                "a deployment receives live or mirrored traffic, not both",
                field_path=".mirrorTraffic",
            ),
            cel(
                "!has(self.keyRotation) || !has(self.authMode) || self.authMode == 'Key'",
                KEYLESS,
                field_path=".keyRotation",
            ),
        )
    }

    workspace_ref: LocalObjectReference | None = None
    """Workspace in this namespace; omitted: the operator's default workspace."""
    endpoint_name: Annotated[str, Field(min_length=3, max_length=32, pattern=ONLINE_NAME)] | None = None
    """Name in Azure, unique in its region (it is part of the scoring URI); defaults to metadata.name."""
    auth_mode: AuthMode = AuthMode.KEY
    """Key (keys do not expire), AMLToken (tokens expire; the operator keeps a fresh one in the
    Secret) or AADToken (Entra ID)."""
    public_network_access: NetworkAccess = NetworkAccess.ENABLED
    """Whether the scoring URI is reachable from the internet."""
    description: Annotated[str, Field(max_length=1024)] | None = None
    """Description of the endpoint in Azure."""
    tags: (
        Annotated[
            dict[str, Annotated[str, Field(max_length=256, description="A tag value.")]],
            Field(max_length=MAX_USER_TAGS, json_schema_extra=validations(_TAG_NAMES)),
        ]
        | None
    ) = None
    """Tags of the endpoint in Azure (the operator adds its owner tags)."""
    traffic: Annotated[dict[str, Share], _shares(100, "spec.traffic")] = {}
    """Live traffic by deployment name, in percent: 0 or 100 in total. Applied once every deployment
    it names exists in Azure and has succeeded; until then Azure keeps the previous split."""
    mirror_traffic: Annotated[dict[str, Share], _shares(50, "spec.mirrorTraffic")] = {}
    """Traffic copied to one deployment for shadow testing (its answers never reach clients), in
    percent: at most 50, to a deployment without live traffic."""
    keys_secret_name: Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN)] | None = None
    """Secret for scoringUri and the keys (or the token and its expiry); defaults to <metadata.name>-keys."""
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    """Delete: deleting this object deletes the endpoint, and with it its deployments, in Azure."""
    key_rotation: KeyRotation | None = None
    """Key auth only: rotate the keys on a schedule; the annotation azureml.dev/rotate-keys: <token>
    rotates them whenever its value changes, with or without this."""

    @model_validator(mode="after")
    def _maps_azure_accepts(self) -> OnlineEndpointSpec:
        # The CEL rules' twin, for a spec admitted without them (an older CRD).
        if sum(self.traffic.values()) not in (0, 100):
            raise ValueError("the live traffic shares must add up to 100 (or to 0: no live traffic)")
        mirrored = [k for k, v in self.mirror_traffic.items() if v > 0]
        if sum(self.mirror_traffic.values()) > 50 or len(mirrored) > 1:
            raise ValueError("traffic can be mirrored to one deployment only, at most 50 %")
        if any(self.traffic.get(k, 0) > 0 for k in mirrored):
            raise ValueError("a deployment receives live or mirrored traffic, not both")
        if self.key_rotation is not None and self.auth_mode is not AuthMode.KEY:
            raise ValueError(KEYLESS)
        return self


class OnlineEndpointStatus(CommonStatus):
    """What the operator last observed of the endpoint in Azure."""

    scoring_uri: str | None = None
    """Where clients send requests."""
    open_api_uri: str | None = None
    """The endpoint's OpenAPI (swagger) document."""
    provisioning_state: str | None = None
    """Azure's provisioningState of the endpoint."""
    traffic: dict[str, Share] | None = None
    """The live split in effect in Azure."""
    mirror_traffic: dict[str, Share] | None = None
    """The mirror in effect in Azure."""
    waiting_for: list[str] | None = None
    """Deployments the spec's maps name that are not Ready yet (the maps wait for them)."""
    azure_resource_id: str | None = None
    """ARM id of the endpoint."""
    keys_secret_name: str | None = None
    """The Secret holding the keys or token."""
    key_rotation: KeyRotationStatus | None = None
    """The last (or current) key rotation (Key auth)."""
    keys_rotated_at: DateTime | None = None
    """When a rotation last completed (both keys regenerated and published)."""
    keys_checked_at: DateTime | None = None
    """When the keys were last read from Azure (listKeys, which ARM counts against the write
    budget): once the endpoint is Ready, at most every --keys-check-interval, and at once when the
    Secret lacks them or a rotation step is due."""


class OnlineEndpoint(ApiModel):
    """A managed online endpoint with blue/green traffic and mirroring."""

    spec: OnlineEndpointSpec
    status: OnlineEndpointStatus | None = None


KIND = KindInfo(
    "OnlineEndpoint",
    "onlineendpoints",
    ("amloe",),
    OnlineEndpoint,
    (
        READY,
        column("Auth", ".spec.authMode"),
        column("URI", ".status.scoringUri"),
        column("Traffic", ".status.traffic", priority=1),
        AGE,
    ),
    (
        workspace_ref_immutable(),
        *azure_name_rules("endpointName", ONLINE_NAME, "online endpoint"),
        owner_tag_fits(),
    ),
)
