"""PATCH bodies by content type: RFC 7386 merge patches (kopf's annotations and status), RFC 6902
JSON patches (kopf's finalizer add/remove, guarded by a `test` of `metadata.resourceVersion`, whose
failure must be a 422 so that kopf retries), and strategic merge patches for built-ins only."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from azureml_standins.kube.errors import ApiError, bad_request

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(patch: Any) -> Any:
    """Strategic-merge directives (`$patch`, `$setElementOrder/...`, `$retainKeys`) are dropped:
    the stand-in merges built-ins like a merge patch (lists replaced, not merged by key)."""
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    return patch


def apply_patch(target: dict[str, Any], content_type: str, patch: Any, *, custom: bool) -> dict[str, Any]:
    """The patched copy of `target`; `target` itself is not modified."""
    media = content_type.split(";")[0].strip().lower()
    if media == MERGE or (media == STRATEGIC and not custom):
        if not isinstance(patch, dict):
            raise bad_request("the patch must be a JSON object")
        if media == STRATEGIC:
            patch = _strip_directives(patch)
        # A deep copy first: the result must share nothing with the stored (and historic) object.
        return merge_patch(copy.deepcopy(target), patch)
    if media == JSON:
        if not isinstance(patch, list) or not all(isinstance(op, dict) and "op" in op for op in patch):
            raise bad_request("the JSON patch must be a list of operations with an 'op' each")
        try:
            patched = jsonpatch.JsonPatch(patch).apply(copy.deepcopy(target))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, TypeError) as e:
            # A failed `test` op included: kopf reads 422 as "changed meanwhile, retry on the next event".
            raise ApiError(
                422, f"the server rejected our request due to an error in our request: {e}"
            ) from None
        if not isinstance(patched, dict):
            raise ApiError(422, "the JSON patch replaced the object with a non-object")
        return patched
    # Server-side apply (application/apply-patch+yaml) needs managedFields and field ownership,
    # which the stand-in does not keep: it answers 415 as a server without SSA would. Custom
    # resources have no strategic-merge metadata, so a real server refuses that with 415 too.
    accepted = [JSON, MERGE] + ([] if custom else [STRATEGIC])
    raise ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )
