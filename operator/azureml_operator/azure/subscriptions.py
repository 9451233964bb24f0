"""Marketplace subscriptions of a workspace, through the SDK (which reads and writes them faithfully).

A subscription is an ARM proxy resource: it takes no tags, so ownership rests on the id the
operator records before creating it (see reconcilers.common.ownership).
"""

from __future__ import annotations

from azureml_operator.azure.client import Connection, ObservedSubscription, pascal

COLLECTION = "marketplaceSubscriptions"


class MarketplaceSubscriptions:
    tags_supported = False

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, name: str) -> ObservedSubscription | None:
        sub = await self._conn.get_or_none(self._conn.ml.marketplace_subscriptions.get, name)
        if sub is None:
            return None
        plan = sub.marketplace_plan
        return ObservedSubscription(
            id=sub.id or self._conn.target.child_id(COLLECTION, name),
            name=sub.name,
            model_id=sub.model_id,
            provisioning_state=pascal(sub.provisioning_state),
            subscription_status=pascal(sub.status),
            marketplace_plan={
                "publisherId": getattr(plan, "publisher_id", None),
                "offerId": getattr(plan, "offer_id", None),
                "planId": getattr(plan, "plan_id", None),
            },
        )

    async def begin_create(self, name: str, model_id: str) -> None:
        from azure.ai.ml.entities import MarketplaceSubscription

        entity = MarketplaceSubscription(name=name, model_id=model_id)
        ops = self._conn.ml.marketplace_subscriptions
        await self._conn.call("PUT", ops.begin_create_or_update, entity, polling=False)

    async def begin_delete(self, name: str) -> None:
        ops = self._conn.ml.marketplace_subscriptions
        await self._conn.call("DELETE", ops.begin_delete, name, polling=False)
