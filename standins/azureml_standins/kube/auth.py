"""Authentication: who a request's bearer token says it is, as a real API server decides it.

* The admin token (the one the stand-in writes into its kubeconfig) is user `admin` in the group
  `system:masters`, which a real server lets do anything without asking RBAC.
* ServiceAccount tokens come from the TokenRequest subresource (`issue`). They are random and
  opaque (only a digest is kept), expire, name an audience, and stop working when their
  ServiceAccount (same name and uid) or the Secret they are bound to is gone.
* No `Authorization: Bearer` header at all is the anonymous user (as with the API server's default
  `--anonymous-auth=true`); a bearer token that is not valid is a 401, never anonymous.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from azureml_standins.kube.errors import ApiError

ADMIN_TOKEN = "azureml-kube-dummy-token"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS_NAME = "system:anonymous"
SA_PREFIX = "system:serviceaccount:"
# What the API server accepts tokens for (`--api-audiences`, kubeadm's default); also the default
# audience of a TokenRequest that names none.
API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def privileged(self) -> bool:
        """`system:masters`: allowed everything before any authorizer is asked."""
        return MASTERS in self.groups

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ADMIN = UserInfo("admin", (MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo(ANONYMOUS_NAME, (UNAUTHENTICATED,))


def service_account_username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a ServiceAccount username, else None."""
    if not username.startswith(SA_PREFIX):
        return None
    namespace, sep, name = username[len(SA_PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


@dataclass(frozen=True)
class Issued:
    namespace: str
    name: str
    sa_uid: str
    expires: float  # epoch seconds
    audiences: tuple[str, ...]
    credential_id: str
    bound_secret: tuple[str, str] | None = None  # (name, uid)


# (namespace, name) -> uid of the current ServiceAccount (or Secret), None when there is none.
Lookup = Callable[[str, str], str | None]


class Authenticator:
    def __init__(
        self,
        service_account_uid: Lookup,
        secret_uid: Lookup,
        *,
        admin_token: str = ADMIN_TOKEN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sa_uid = service_account_uid
        self._secret_uid = secret_uid
        self._admin_token = admin_token.encode()
        self._clock = clock
        self._key = secrets.token_bytes(32)  # digests of tokens, not the tokens, are kept
        self._issued: dict[bytes, Issued] = {}

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode(), hashlib.sha256).digest()

    def issue(
        self,
        namespace: str,
        name: str,
        sa_uid: str,
        expiration_seconds: int,
        audiences: tuple[str, ...],
        bound_secret: tuple[str, str] | None = None,
    ) -> tuple[str, float]:
        """A new token for the ServiceAccount, and when it expires (epoch seconds)."""
        now = self._clock()
        self._issued = {d: t for d, t in self._issued.items() if t.expires > now}
        token = secrets.token_urlsafe(48)
        expires = now + expiration_seconds
        self._issued[self._digest(token)] = Issued(
            namespace, name, sa_uid, expires, audiences, str(uuid.uuid4()), bound_secret
        )
        return token, expires

    def authenticate_token(self, token: str) -> UserInfo | None:
        if hmac.compare_digest(token.encode(), self._admin_token):
            return ADMIN
        issued = self._issued.get(self._digest(token))
        if issued is None or issued.expires <= self._clock():
            return None
        if not set(issued.audiences) & set(API_AUDIENCES):
            return None
        if self._sa_uid(issued.namespace, issued.name) != issued.sa_uid:
            return None  # the ServiceAccount was deleted (or deleted and created again)
        if issued.bound_secret is not None:
            secret_name, secret_uid = issued.bound_secret
            if self._secret_uid(issued.namespace, secret_name) != secret_uid:
                return None
        return UserInfo(
            service_account_username(issued.namespace, issued.name),
            (*service_account_groups(issued.namespace), AUTHENTICATED),
            issued.sa_uid,
            {CREDENTIAL_ID: (f"JTI={issued.credential_id}",)},
        )

    def authenticate(self, authorization: str | None) -> UserInfo:
        """The user an `Authorization` header names; raises a 401 for a bearer token that is not valid."""
        header = (authorization or "").strip()
        scheme, _, rest = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            return ANONYMOUS  # no credentials this server understands (Basic auth is gone since 1.19)
        token = rest.split(" ", 1)[0] if not rest.startswith(" ") else ""
        if not token:
            return ANONYMOUS  # "Bearer" with nothing after it is no credential either
        user = self.authenticate_token(token)
        if user is None:
            raise unauthorized()
        return user
