"""Marketplace subscriptions of a workspace, with plain ARM requests sent exactly as azure-ai-ml 1.35
sends them (azure-ml-arm-contract.md §3.0, §3.2): same paths, api-version and PUT body. Not through
the SDK only because an SDK client per workspace costs about 1 MB (see `mlclient.py`).

A subscription is an ARM proxy resource: it takes no tags, so ownership rests on the id the
operator records before creating it (see reconcilers.common.ownership).
"""

from __future__ import annotations

from typing import Any

from azureml_operator.azure.client import Connection, ObservedSubscription, WorkspaceTarget, pascal

COLLECTION = "marketplaceSubscriptions"
API_VERSION = "2024-01-01-preview"  # the one azure-ai-ml 1.35 uses for Marketplace subscriptions


class MarketplaceSubscriptions:
    tags_supported = False

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _path(self, name: str) -> str:
        return self._conn.target.child_id(COLLECTION, name)

    async def get(self, name: str) -> ObservedSubscription | None:
        body = await self._conn.get_or_none(self._conn.rest.request, "GET", self._path(name), API_VERSION)
        return None if body is None else from_arm(body, name, self._conn.target)

    async def begin_create(self, name: str, model_id: str) -> None:
        body = {"properties": {"modelId": model_id}}
        await self._conn.call("PUT", self._conn.rest.request, "PUT", self._path(name), API_VERSION, body)

    async def begin_delete(self, name: str) -> None:
        await self._conn.call("DELETE", self._conn.rest.request, "DELETE", self._path(name), API_VERSION)


def from_arm(body: dict[str, Any], name: str, target: WorkspaceTarget) -> ObservedSubscription:
    """What the SDK's entity exposes, in Azure's own casing (`pascal` keeps it so)."""
    props = body.get("properties") or {}
    plan = props.get("marketplacePlan") or {}
    return ObservedSubscription(
        id=body.get("id") or target.child_id(COLLECTION, name),
        name=body.get("name") or name,
        model_id=props.get("modelId", ""),
        provisioning_state=pascal(props.get("provisioningState")),
        subscription_status=pascal(props.get("marketplaceSubscriptionStatus")),
        marketplace_plan={
            "publisherId": plan.get("publisherId"),
            "offerId": plan.get("offerId"),
            "planId": plan.get("planId"),
        },
    )
