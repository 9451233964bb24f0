"""What each HTTP exchange with Azure tells the metrics: which ARM operation, its status code, how
long it took, and how much of the subscription's ARM budget is left (ARM says so in the
`x-ms-ratelimit-remaining-subscription-*` headers of every answer). Hooked into the SDK's and the
plain ARM client's pipelines (azure-core's raw request/response hooks), so every call is seen,
whichever client makes it. The remaining budget also goes to the rate limiter (`ratelimit.observe`),
which paces from it: the header is the only count that includes every other caller of the subscription.

Labels stay bounded: an operation is the method and the ARM resource types of the path, never a
name ("PUT workspaces/onlineEndpoints/deployments"); a subscription id is configuration, not data.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from azureml_operator import metrics
from azureml_operator.azure import ratelimit

_PROVIDER = "/providers/microsoft.machinelearningservices/"
_SUBSCRIPTION = re.compile(r"^/subscriptions/([0-9A-Fa-f-]{36})(?:/|$)")
_TYPE = re.compile(r"^[A-Za-z]{1,64}$")
_STARTED = "azureml_operator_started"
_FLIGHT = "azureml_operator_in_flight"
BUDGETS = ("reads", "writes", "deletes")


def operation(url: str) -> str:
    """The ARM resource types a URL addresses, without names: "workspaces/onlineEndpoints", with a
    trailing action ("workspaces/serverlessEndpoints/listKeys"); "other" for anything else."""
    path = urlsplit(url).path
    at = path.lower().find(_PROVIDER)
    if at < 0:
        return "other"
    segments = [s for s in path[at + len(_PROVIDER) :].split("/") if s]
    # type, name, type, name, ... and, when the count is odd, an action at the end
    types = segments[0::2]
    if not types or not all(_TYPE.match(t) for t in types):
        return "other"
    return "/".join(types)


def subscription_of(url: str) -> str | None:
    found = _SUBSCRIPTION.match(urlsplit(url).path)
    return found.group(1).lower() if found else None


def on_request(request: Any) -> None:
    request.context[_STARTED] = time.monotonic()
    http_request = request.http_request
    subscription = subscription_of(http_request.url)
    if subscription is not None:
        request.context[_FLIGHT] = ratelimit.sending(subscription, ratelimit.kind_of(http_request.method))


def on_response(response: Any) -> None:
    """Count one answered request (a raw response hook: a PipelineResponse)."""
    http_request, http_response = response.http_request, response.http_response
    method, url, code = http_request.method, http_request.url, http_response.status_code
    op = operation(url)
    metrics.AZURE_HTTP_REQUESTS.labels(method, op, str(code)).inc()
    started = response.context.get(_STARTED)
    if started is not None:
        metrics.AZURE_HTTP_SECONDS.labels(method, op).observe(time.monotonic() - started)
    if code == 429:
        metrics.ARM_THROTTLED.inc()
    subscription = subscription_of(url)
    if subscription is None:
        return
    headers = http_response.headers
    kind = ratelimit.kind_of(method)
    mine: int | None = None
    for budget in BUDGETS:
        left = headers.get(f"x-ms-ratelimit-remaining-subscription-{budget}")
        if left is not None and left.strip().isdigit():
            metrics.ARM_REMAINING.labels(subscription, budget).set(int(left))
            if budget == kind:
                mine = int(left)
            else:
                ratelimit.observe(subscription, budget, int(left))
    ratelimit.answered(subscription, kind, mine, response.context.get(_FLIGHT))
