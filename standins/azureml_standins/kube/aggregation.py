"""Aggregated ClusterRoles: a ClusterRole with an `aggregationRule` gets, as its `rules`, the union
of the rules of every other ClusterRole whose labels match one of its `clusterRoleSelectors`.

A real cluster runs a controller for it (the clusterrole-aggregation controller in the
controller-manager): it watches ClusterRoles and overwrites the aggregated role's `rules`, in name
order of the matched roles and without duplicates, whenever they would change. Here the same
happens synchronously after every ClusterRole write, through the store (so a GET, a watch and the
authorizer all see the new rules, with a new resourceVersion), until nothing changes any more:
`edit` is aggregated into `admin` and `view` into `edit`, so one write can ripple.
"""

from __future__ import annotations

from typing import Any

from azureml_standins.kube.rbac import CLUSTER_ROLES, GROUP
from azureml_standins.kube.store import Event, Store

Obj = dict[str, Any]


def _selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector; an empty one selects everything, a malformed one nothing."""
    if not isinstance(selector, dict):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def aggregated_rules(role: Obj, roles: list[Obj]) -> list[Any]:
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    name = role["metadata"]["name"]
    matched = sorted(
        (
            other
            for other in roles
            if other["metadata"]["name"] != name
            and any(_selector_matches(s, other["metadata"].get("labels") or {}) for s in selectors)
        ),
        key=lambda other: other["metadata"]["name"],
    )
    rules: list[Any] = []
    for other in matched:
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules


class Aggregator:
    def __init__(self, store: Store) -> None:
        self.store = store
        info = store.registry.get(GROUP, "v1", "clusterroles")
        assert info is not None
        self.info = info
        self._dirty = False
        self._running = False

    def on_event(self, event: Event) -> None:
        if event.key != CLUSTER_ROLES:
            return
        self._dirty = True
        if self._running:
            return  # the write came from this loop: it runs again
        self._running = True
        try:
            while self._dirty:
                self._dirty = False
                self.sync()
        finally:
            self._running = False

    def sync(self) -> None:
        roles, _ = self.store.list(self.info, None, lambda _: True, lambda _: True)
        for role in roles:
            if role.get("aggregationRule") is None or role["metadata"].get("deletionTimestamp"):
                continue
            rules = aggregated_rules(role, roles)
            if rules != (role.get("rules") or []):
                self.store.patch(
                    self.info,
                    None,
                    role["metadata"]["name"],
                    "application/merge-patch+json",
                    {"rules": rules},
                )
                return  # the patch's own event runs the loop again, over the new state
