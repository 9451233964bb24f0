"""A request the operator's own RBAC does not allow is the object's condition (KubernetesForbidden,
naming the verb and resource as the API server did), retried with back-off; never a crash."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException
from runtime_fakes import endpoint

from azureml_operator import wiring
from azureml_operator.conditions import Reason, is_transient
from azureml_operator.kubeapi import KubeRequestFailed, refusal
from azureml_operator.reconcilers.context import KubeForbidden
from azureml_operator.reconcilers.objects import Obj

DENIED = 'secrets is forbidden: User "system:serviceaccount:ops:azureml-operator" cannot create resource "secrets" in API group "" in the namespace "team-a"'


def forbidden_answer() -> ApiException:
    err = ApiException(status=403, reason="Forbidden")
    err.body = json.dumps(
        {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": DENIED}
    )
    return err


def test_a_403_is_a_kube_forbidden_and_other_refusals_are_not() -> None:
    denied = refusal("creating Secret team-a/llama-keys", forbidden_answer())
    assert isinstance(denied, KubeForbidden) and isinstance(denied, ApiException)
    assert str(denied) == f"creating Secret team-a/llama-keys: 403 Forbidden: {DENIED}"
    conflict = refusal("updating Secret team-a/llama-keys", ApiException(status=409, reason="Conflict"))
    assert isinstance(conflict, KubeRequestFailed) and not isinstance(conflict, KubeForbidden)


def test_the_condition_names_what_was_refused_and_the_pass_is_retried() -> None:
    obj = Obj.from_body("ServerlessEndpoint", "serverlessendpoints", endpoint("llama"))
    denied = refusal("creating Secret team-a/llama-keys", forbidden_answer())
    assert isinstance(denied, KubeForbidden)
    verdict = wiring.forbidden(denied, obj, attempt=0)
    assert (verdict.status, verdict.reason) == ("False", Reason.KUBERNETES_FORBIDDEN)
    assert DENIED in verdict.message and "Role or ClusterRole" in verdict.message
    assert verdict.requeue_after is not None and verdict.requeue_after <= 6
    assert not is_transient(Reason.KUBERNETES_FORBIDDEN)  # a person fixes RBAC: a Warning Event


def test_a_pass_cut_short_does_not_claim_the_spec_was_acted_on() -> None:
    """A refused or crashed pass keeps status.observedGeneration where it was: a spec change made
    to retry a failure must still read as not yet acted on once RBAC (or the bug) is fixed."""
    obj = Obj.from_body("ServerlessEndpoint", "serverlessendpoints", endpoint("llama"))
    denied = refusal("creating Secret team-a/llama-keys", forbidden_answer())
    assert isinstance(denied, KubeForbidden)
    assert wiring.forbidden(denied, obj, attempt=0).observed is False
    assert wiring.unexpected(RuntimeError("boom"), obj, "reconcile", attempt=0).observed is False
