"""What every request passes before it is served, in a real API server's order: authentication
(401 for a bad token), impersonation (403 unless allowed), then RBAC authorization of what it asks
(`attributes.py`), a 403 with the real server's wording when nothing allows it. Watches are
authorized once, when they start. Refusals are counted in `denials`.

The gate also owns the rest of the access machinery a store needs: the RBAC index fed by the
store's writes, the aggregation of ClusterRoles, the bootstrap policy and the escalation checks
on writes to RBAC objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azureml_standins.kube import attributes, bootstrap, escalation, impersonation
from azureml_standins.kube.aggregation import Aggregator
from azureml_standins.kube.attributes import Attributes
from azureml_standins.kube.auth import ADMIN_TOKEN, Authenticator, Lookup, UserInfo
from azureml_standins.kube.denials import Denials
from azureml_standins.kube.errors import ApiError
from azureml_standins.kube.rbac import GROUP, Authorizer, Index, forbidden
from azureml_standins.kube.store import Event, Guard, Obj, Store


class Gate:
    def __init__(self, store: Store, *, admin_token: str = ADMIN_TOKEN) -> None:
        self.store = store
        self.index = Index()
        self.authorizer = Authorizer(self.index)
        self.denials = Denials()
        self.authenticator = Authenticator(
            self._uid_lookup("serviceaccounts"), self._uid_lookup("secrets"), admin_token=admin_token
        )
        for key, obj in store.listen(self._index_event):
            self.index.apply(key, "ADDED", obj)
        store.listen(Aggregator(store).on_event)
        self._bootstrap()

    def _index_event(self, event: Event) -> None:
        self.index.apply(event.key, event.type, event.obj)

    def _uid_lookup(self, plural: str) -> Lookup:
        info = self.store.registry.get("", "v1", plural)
        assert info is not None

        def uid(namespace: str, name: str) -> str | None:
            try:
                return str(self.store.get(info, namespace, name)["metadata"]["uid"])
            except ApiError:
                return None

        return uid

    def _bootstrap(self) -> None:
        for plural, objects in (
            ("clusterroles", bootstrap.CLUSTER_ROLES),
            ("clusterrolebindings", bootstrap.CLUSTER_ROLE_BINDINGS),
        ):
            info = self.store.registry.get(GROUP, "v1", plural)
            assert info is not None
            for obj in objects:
                try:
                    self.store.create(info, None, obj)
                except ApiError as e:
                    if e.code != 409:
                        raise

    # -- requests ------------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> UserInfo:
        try:
            return self.authenticator.authenticate(headers.get("Authorization"))
        except ApiError:
            self.denials.unauthenticated()
            raise

    def admit(
        self, method: str, path: str, query: Mapping[str, str], headers: Any, user: UserInfo
    ) -> Attributes:
        """The request's attributes, as the user it acts as, once it is allowed; raises 403."""
        if impersonation.requested(headers):
            values: dict[str, list[str]] = {}
            for key, value in headers.items():
                values.setdefault(key.lower(), []).append(value)
            user, checks = impersonation.from_headers(user, values)
            for check in checks:
                self._authorize(check)
        attrs = attributes.from_request(method, path, query, user)
        self._authorize(attrs)
        return attrs

    def authorize(self, attrs: Attributes) -> None:
        """A further check a request needs once routed (a PUT that creates is also a `create`)."""
        self._authorize(attrs)

    def _authorize(self, attrs: Attributes) -> None:
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            error = forbidden(attrs, decision.reason)
            self.denials.forbidden(attrs, error.message)
            raise error

    def guard(self, attrs: Attributes) -> Guard | None:
        """The escalation check for a write to an RBAC object (None for anything else)."""
        check = escalation.guard(self.authorizer, attrs)
        if check is None:
            return None

        def recorded(old: Obj | None, new: Obj) -> None:
            try:
                check(old, new)
            except ApiError as e:
                if e.code == 403:
                    self.denials.forbidden(attrs, e.message)
                raise

        return recorded
