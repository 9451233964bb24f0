"""Publishing what makes an endpoint usable into its Secret, the same way for every endpoint kind:
owned by the object, exactly the given keys, an Event only when something was written, and a
Conflict (nothing written) when a Secret of that name belongs to someone else."""

from __future__ import annotations

from typing import Any

from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Event, Verdict
from azureml_operator.reconcilers.context import Context, SecretNotOwned
from azureml_operator.reconcilers.objects import Obj


def keys_secret_name(obj: Obj, spec: Any) -> str:
    """`spec.keysSecretName`, else `<metadata.name>-keys`."""
    named = getattr(spec, "keys_secret_name", None)
    return named if isinstance(named, str) and named else f"{obj.name}-keys"


async def publish_secret(
    ctx: Context, obj: Obj, secret: str, data: dict[str, str], verdict: Verdict, *, what: str
) -> Verdict:
    """Write `data` (`what` it holds, for the Event) into the object's Secret `secret`."""
    try:
        change = await ctx.kube.apply_owned_secret(obj.namespace, secret, obj.owner_reference, data)
    except SecretNotOwned as err:
        return Verdict.not_ready(Reason.CONFLICT, str(err), **verdict.fields)
    verdict.fields["keysSecretName"] = secret
    if change != "unchanged":
        verdict.events.append(Event("Normal", "KeysPublished", f"{what} {change} in Secret {secret}"))
    return verdict
