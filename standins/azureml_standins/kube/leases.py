"""coordination.k8s.io/v1 Leases as kube-apiserver 1.32 admits them (pkg/registry/coordination/lease
and pkg/apis/coordination/validation): what leader election relies on.

- The spec's fields decode into Go types: `leaseDurationSeconds` and `leaseTransitions` are int32,
  `holderIdentity`, `strategy` and `preferredHolder` strings, `acquireTime` and `renewTime`
  metav1.MicroTime, parsed with layout RFC3339Micro (exactly six fraction digits); anything else is
  a 400 decoding error.
- `leaseDurationSeconds` must be greater than 0 and `leaseTransitions` at least 0 (422).
- `strategy` and `preferredHolder` belong to CoordinatedLeaderElection, an alpha feature gate that
  is off by default in 1.32: they are dropped, unless the stored Lease already had them.
- Updates must name a resourceVersion (AllowUnconditionalUpdate is false), which is what makes two
  candidates' writes of the same Lease conflict (409) instead of both succeeding.
- A PUT of a Lease that does not exist creates it (AllowCreateOnUpdate is true), authorized as a
  `create` as well as an `update`.
"""

from __future__ import annotations

import re
from typing import Any

from azureml_standins.kube.errors import bad_request, invalid

GROUP = "coordination.k8s.io"
PLURAL = "leases"
KEY = (GROUP, PLURAL)
_INT32 = (-(2**31), 2**31 - 1)
# Go's time.Parse with "2006-01-02T15:04:05.000000Z07:00": six fraction digits, then Z or an offset.
_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
_ALPHA_FIELDS = ("strategy", "preferredHolder")


def _decode_error(field: str, value: Any, go_type: str) -> str:
    # UNVERIFIED: the exact wording of the API server's decoding error; the status (400) is right.
    kind = type(value).__name__
    return f"json: cannot unmarshal {kind} into Go struct field LeaseSpec.spec.{field} of type {go_type}"


def admit(obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    name = obj.get("metadata", {}).get("name", "")
    spec = obj.get("spec")
    if spec is None:
        return obj
    if not isinstance(spec, dict):
        kind = type(spec).__name__
        raise bad_request(
            f"json: cannot unmarshal {kind} into Go struct field Lease.spec of type v1.LeaseSpec"
        )
    for field in ("holderIdentity", *_ALPHA_FIELDS):
        value = spec.get(field)
        if value is not None and not isinstance(value, str):
            raise bad_request(_decode_error(field, value, "string"))
    for field in ("leaseDurationSeconds", "leaseTransitions"):
        value = spec.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise bad_request(_decode_error(field, value, "int32"))
        if not _INT32[0] <= value <= _INT32[1]:
            raise bad_request(_decode_error(field, value, "int32"))
        spec[field] = int(value)
    for field in ("acquireTime", "renewTime"):
        value = spec.get(field)
        if value is not None and not (isinstance(value, str) and _MICRO_TIME.match(value)):
            raise bad_request(f'parsing time "{value}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse')
    old_spec = (old or {}).get("spec") or {}
    for field in _ALPHA_FIELDS:
        if field not in old_spec:
            spec.pop(field, None)
    errors = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errors.append(f"spec.leaseDurationSeconds: Invalid value: {duration}: must be greater than 0")
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        errors.append(
            f"spec.leaseTransitions: Invalid value: {transitions}: must be greater than or equal to 0"
        )
    if errors:
        raise invalid("Lease", GROUP, name, errors)
    # A null field is absent once stored (omitempty), as the API server returns it.
    for field in [k for k, v in spec.items() if v is None]:
        del spec[field]
    return obj
