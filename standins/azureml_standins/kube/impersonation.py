"""Impersonation: `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
`Impersonate-Extra-*` headers (`kubectl --as=... --as-group=...`) make a request act as someone
else, when its real user may `impersonate` each of them: `users`, `groups`, `serviceaccounts` (in
their namespace, for a `system:serviceaccount:NS:NAME` username), `uids` and `userextras/KEY` in
authentication.k8s.io. As on a real server, an impersonated ServiceAccount without groups gets its
ServiceAccount groups, every impersonated user but `system:anonymous` gets `system:authenticated`
(unless `system:authenticated` or `system:unauthenticated` was asked for), and groups without a
user are an error.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from azureml_standins.kube.attributes import Attributes
from azureml_standins.kube.auth import (
    ANONYMOUS_NAME,
    AUTHENTICATED,
    UNAUTHENTICATED,
    UserInfo,
    service_account_groups,
    split_service_account,
)

USER, GROUP, UID, EXTRA = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid", "Impersonate-Extra-"


class WithoutUser(Exception):
    """Groups, a uid or extras to impersonate, but no user: a real server answers 500 for it."""


def requested(headers: Mapping[str, str]) -> bool:
    return any(key.lower().startswith("impersonate-") for key in headers)


def impersonate(
    requester: UserInfo, username: str | None, groups: list[str], uid: str | None, extra: dict[str, list[str]]
) -> tuple[UserInfo, list[Attributes]]:
    """The user a request acts as, and the `impersonate` checks its requester has to pass."""
    if username is None:
        raise WithoutUser(
            f"requested impersonation of {groups or extra or [uid]} without impersonating a user"
        )
    checks: list[Attributes] = []

    def check(
        resource: str, name: str, *, group: str = "", namespace: str = "", subresource: str = ""
    ) -> None:
        checks.append(
            Attributes(
                requester,
                "impersonate",
                True,
                api_group=group,
                resource=resource,
                subresource=subresource,
                namespace=namespace,
                name=name,
            )
        )

    account = split_service_account(username)
    if account is not None:
        check("serviceaccounts", account[1], namespace=account[0])
    else:
        check("users", username)
    for group_name in groups:
        check("groups", group_name)
    for key, values in extra.items():
        for value in values:
            check("userextras", value, group="authentication.k8s.io", subresource=key)
    if uid is not None:
        check("uids", uid, group="authentication.k8s.io")
    result_groups = list(groups)
    if account is not None and not groups:
        result_groups = list(service_account_groups(account[0]))
    if username != ANONYMOUS_NAME:
        if not {AUTHENTICATED, UNAUTHENTICATED} & set(result_groups):
            result_groups.append(AUTHENTICATED)
    elif UNAUTHENTICATED not in result_groups:
        result_groups.append(UNAUTHENTICATED)
    user = UserInfo(username, tuple(result_groups), uid or "", {k: tuple(v) for k, v in extra.items()})
    return user, checks


def from_headers(
    requester: UserInfo, all_values: Mapping[str, list[str]]
) -> tuple[UserInfo, list[Attributes]]:
    """`all_values` maps each lowercased header name to all its values (groups may repeat)."""
    users = all_values.get(USER.lower(), [])
    uids = all_values.get(UID.lower(), [])
    extra: dict[str, list[str]] = {}
    for key, values in all_values.items():
        if key.startswith(EXTRA.lower()):
            extra[urllib.parse.unquote(key[len(EXTRA) :]).lower()] = values
    return impersonate(
        requester,
        users[0] if users else None,
        all_values.get(GROUP.lower(), []),
        uids[0] if uids else None,
        extra,
    )
