"""Managed online deployments through the SDK: lifecycle, scaling, logs, the entity it parses, and
each service rule (azure-ml-service-rules.md §10.2, §11, §13) violated once."""

from __future__ import annotations

import pytest
import requests
from azure.ai.ml.entities import (
    DefaultScaleSettings,
    KubernetesOnlineDeployment,
    ManagedOnlineDeployment,
)
from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from online_setup import (
    INSTANCE_TYPE,
    MODEL,
    WS,
    arm,
    deployment_body,
    finish,
    put_deployment,
    put_endpoint,
    ready_endpoint,
    requests_sent,
)
from sdk_errors import expect_arm_error


def _deployment(name: str = "blue", endpoint: str = "od-ep", **kwargs) -> ManagedOnlineDeployment:  # type: ignore[no-untyped-def]
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("instance_type", INSTANCE_TYPE)
    return ManagedOnlineDeployment(name=name, endpoint_name=endpoint, **kwargs)


def _create(ml, sim, deployment: ManagedOnlineDeployment):  # type: ignore[no-untyped-def]
    """Create through the SDK; the clock jump spares the poller its second poll (a deployment takes
    longer than the first re-poll even at the contract tests' latency scale)."""
    poller = ml.online_deployments.begin_create_or_update(deployment)
    finish(sim)
    return poller.result()


# -- lifecycle -----------------------------------------------------------------------------------


def test_create_get_list_logs_delete(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    created = _create(ml, sim, _deployment(instance_count=2, environment_variables={"K": "V"}))
    assert isinstance(created, ManagedOnlineDeployment)
    assert created.name == "blue"
    assert created.endpoint_name == "od-ep"
    assert created.provisioning_state == "Succeeded"
    assert created.instance_count == 2
    assert created.instance_type == INSTANCE_TYPE
    assert created.model == MODEL
    assert created.environment_variables == {"K": "V"}
    assert isinstance(created.scale_settings, DefaultScaleSettings)
    assert created.id == f"{WS}/onlineEndpoints/od-ep/deployments/blue"
    # The instance count travels as sku.capacity.
    assert arm(sim, "GET", "onlineEndpoints/od-ep/deployments/blue").json()["sku"]["capacity"] == 2

    fetched = ml.online_deployments.get("blue", "od-ep")
    assert (fetched.name, fetched.instance_count, fetched.provisioning_state) == ("blue", 2, "Succeeded")
    put_deployment(sim, "od-ep", "green")
    finish(sim)
    assert [d.name for d in ml.online_deployments.list("od-ep")] == ["blue", "green"]
    # A new deployment takes no traffic until the endpoint's traffic says so.
    assert ml.online_endpoints.get("od-ep").traffic == {"blue": 0, "green": 0}

    logs = ml.online_deployments.get_logs("blue", "od-ep", lines=2)
    assert logs.splitlines()[-1].endswith("readiness probe succeeded")
    assert len(logs.splitlines()) == 2
    init = ml.online_deployments.get_logs("blue", "od-ep", lines=50, container_type="storage-initializer")
    assert f"downloading model {MODEL}" in init

    ml.online_deployments.begin_delete("blue", "od-ep").result()
    err = expect_arm_error(
        lambda: ml.online_deployments.get("blue", "od-ep"),
        404,
        "UserError",
        "Deployment blue not found in endpoint od-ep, workspace ws-sim",
    )
    assert isinstance(err, ResourceNotFoundError)
    assert [d.name for d in ml.online_deployments.list("od-ep")] == ["green"]


def test_deleting_a_missing_deployment_is_a_no_op(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    ml.online_deployments.begin_delete("never-existed", "od-ep").result()


def test_instance_count_update_scales(ml, sim) -> None:
    ready_endpoint(sim, "od-ep", ("blue",), traffic={"blue": 100})
    scaled = _create(ml, sim, _deployment(instance_count=3))
    assert scaled.instance_count == 3
    assert scaled.provisioning_state == "Succeeded"
    assert ml.online_deployments.get("blue", "od-ep").instance_count == 3
    assert requests_sent(sim, "PUT onlineEndpoints/deployments") == 2

    # A change of the instance count alone is a scale operation: provisioningState Scaling meanwhile.
    sim.admin("POST", "latency", {"scale": 1})
    r = arm(sim, "PUT", "onlineEndpoints/od-ep/deployments/blue", deployment_body(instance_count=4))
    assert r.status_code == 200, r.text
    during = ml.online_deployments.get("blue", "od-ep")
    assert (during.provisioning_state, during.instance_count) == ("Scaling", 4)
    finish(sim)
    assert ml.online_deployments.get("blue", "od-ep").provisioning_state == "Succeeded"


# -- rules ---------------------------------------------------------------------------------------


def test_instance_type_cannot_change(ml, sim) -> None:
    ready_endpoint(sim, "od-ep", ("blue",))
    err = expect_arm_error(
        lambda: _create(ml, sim, _deployment(instance_type="Standard_DS4_v2")),
        400,
        "UserError",
        "instance type of deployment 'blue' cannot be changed",
    )
    assert err.error.target == "properties.instanceType"
    assert ml.online_deployments.get("blue", "od-ep").instance_type == INSTANCE_TYPE


def test_unknown_instance_type(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    expect_arm_error(
        lambda: _create(ml, sim, _deployment(instance_type="Standard_Nope_v9")),
        400,
        "UserError",
        "Instance type 'Standard_Nope_v9' is not supported",
    )


def test_instance_count_is_at_most_50(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    expect_arm_error(
        lambda: _create(ml, sim, _deployment(instance_count=51)),
        400,
        "UserError",
        "'sku.capacity' must be between 1 and 50; got 51",
    )


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "azureml://registries/azureml/models/No-Such-Model/versions/1",
            "Model 'No-Such-Model' was not found",
        ),
        (
            "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/7",
            "Version '7' of model 'Phi-4-mini-instruct' was not found",
        ),
    ],
    ids=["unknown-model", "unknown-version"],
)
def test_unknown_registry_model(ml, sim, model: str, message: str) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    err = expect_arm_error(lambda: _create(ml, sim, _deployment(model=model)), 404, "UserError", message)
    assert err.error.target == "properties.model"


def test_deployment_under_a_missing_endpoint(ml, sim) -> None:
    # The SDK checks that the endpoint exists and sends no PUT when it does not ...
    with pytest.raises(ResourceNotFoundError):
        ml.online_deployments.begin_create_or_update(_deployment(endpoint="no-such-ep"))
    assert requests_sent(sim, "PUT onlineEndpoints/deployments") == 0
    # ... and the service refuses such a PUT with its own 404.
    r = arm(sim, "PUT", "onlineEndpoints/no-such-ep/deployments/blue", deployment_body())
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "UserError"
    assert r.json()["error"]["message"] == "Endpoint no-such-ep not found in workspace ws-sim."
    expect_arm_error(
        lambda: ml.online_deployments.list("no-such-ep").next(), 404, "UserError", "Endpoint no-such"
    )


def test_kubernetes_deployment_on_a_managed_endpoint_is_refused(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    expect_arm_error(
        lambda: _create(
            ml,
            sim,
            KubernetesOnlineDeployment(
                name="kube", endpoint_name="od-ep", model=MODEL, instance_type=INSTANCE_TYPE
            ),
        ),
        400,
        "UserError",
        "takes only deployments with endpointComputeType 'Managed', not 'Kubernetes'",
    )


@pytest.mark.parametrize("name", ["ab", "a" * 33, "9lives", "blue-"])
def test_deployment_name_rule(ml, sim, name: str) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    with pytest.raises(MlException):
        ml.online_deployments.begin_create_or_update(_deployment(name=name))
    assert requests_sent(sim, "PUT onlineEndpoints/deployments") == 0
    r = arm(sim, "PUT", f"onlineEndpoints/od-ep/deployments/{name}", deployment_body())
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "UserError"
    assert "is invalid: it must be 3-32 characters" in r.json()["error"]["message"]


def test_at_most_20_deployments_per_endpoint(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    for i in range(20):
        put_deployment(sim, "od-ep", f"dep-{i:02d}")
    expect_arm_error(
        lambda: _create(ml, sim, _deployment(name="dep-20")),
        400,
        "UserError",
        "already has 20 deployments, the most an endpoint can have",
    )


def test_operation_in_flight_conflicts(ml, sim) -> None:
    put_endpoint(sim, "od-ep")
    finish(sim)
    sim.admin("POST", "latency", {"scale": 1})  # hold the creation in flight
    put_deployment(sim, "od-ep", "blue")
    assert ml.online_deployments.get("blue", "od-ep").provisioning_state == "Creating"
    expect_arm_error(
        lambda: ml.online_deployments.begin_create_or_update(_deployment(instance_count=2)),
        409,
        "Conflict",
        "Cannot update online deployment 'blue': an operation is in progress",
    )
    expect_arm_error(
        lambda: ml.online_deployments.begin_delete("blue", "od-ep"),
        409,
        "Conflict",
        "Cannot delete online deployment 'blue': an operation is in progress",
    )
    finish(sim)
    assert ml.online_deployments.get("blue", "od-ep").instance_count == 1


def test_deployment_waits_for_the_endpoint_creation(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})
    put_endpoint(sim, "od-ep")
    expect_arm_error(
        lambda: ml.online_deployments.begin_create_or_update(_deployment()),
        409,
        "Conflict",
        "Endpoint 'od-ep' is creating",
    )


def test_out_of_quota_fails_asynchronously(ml, sim) -> None:
    # The session's simulator has an instance quota of 120; with the 20 % upgrade reserve a deployment
    # of 50 instances needs 60, so a region holds two of them.
    put_endpoint(sim, "od-ep")
    finish(sim)
    put_deployment(sim, "od-ep", "first", instance_count=50)
    put_deployment(sim, "od-ep", "second", instance_count=50)
    finish(sim)
    # The PUT is accepted; the operation fails later, as the service's provisioning does.
    poller = ml.online_deployments.begin_create_or_update(_deployment(name="third", instance_count=50))
    assert requests_sent(sim, "PUT onlineEndpoints/deployments") == 3
    finish(sim)
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error is not None and info.value.error.code == "OutOfQuota"
    assert "Current usage/limit: 120/120. Additional needed: 60" in info.value.error.message
    failed = ml.online_deployments.get("third", "od-ep")
    assert failed.provisioning_state == "Failed"
    assert ml.online_deployments.get("second", "od-ep").provisioning_state == "Succeeded"
    assert "container failed to start" in ml.online_deployments.get_logs("third", "od-ep", lines=10)


def test_deployment_with_live_traffic_cannot_be_deleted(ml, sim) -> None:
    ready_endpoint(sim, "od-ep", ("blue", "green"), traffic={"blue": 100})
    err = expect_arm_error(
        lambda: ml.online_deployments.begin_delete("blue", "od-ep"),
        400,
        "UserError",
        "Deployment blue of endpoint od-ep has 100% live traffic and cannot be deleted",
    )
    assert requests_sent(sim, "DELETE onlineEndpoints/deployments") == 1
    assert err.error.message.endswith("Set its traffic to 0 first.")
    # Once its traffic has moved elsewhere it can go.
    put_endpoint(sim, "od-ep", traffic={"green": 100})
    finish(sim)
    ml.online_deployments.begin_delete("blue", "od-ep").result()
    assert [d.name for d in ml.online_deployments.list("od-ep")] == ["green"]


def test_deployment_with_mirror_traffic_cannot_be_deleted(ml, sim) -> None:
    ready_endpoint(sim, "od-ep", ("blue", "green"), traffic={"blue": 100}, mirror={"green": 20})
    expect_arm_error(
        lambda: ml.online_deployments.begin_delete("green", "od-ep"),
        400,
        "UserError",
        "Deployment green of endpoint od-ep has 20% mirrored traffic and cannot be deleted",
    )
    assert ml.online_deployments.get("green", "od-ep").provisioning_state == "Succeeded"


def test_a_deployment_names_its_last_operation_where_a_client_reads_why_it_failed(ml, sim) -> None:
    # The service's PUT reply carries the operation's status URL in the deployment's property bag
    # (azure-ml-service-rules.md §5, the official REST sample); that later GETs carry it too is
    # UNVERIFIED. The ARM resource has no error field: the status document is where the reason is.
    put_endpoint(sim, "od-ep")
    finish(sim)
    sim.admin(
        "POST",
        "faults",
        {
            "resourceType": "onlineEndpoints/deployments",
            "method": "PUT",
            "failOperation": True,
            "code": "ResourceNotReady",
            "message": "User container has crashed or terminated.",
            "count": 1,
        },
    )
    poller = ml.online_deployments.begin_create_or_update(_deployment())
    finish(sim)
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error is not None and info.value.error.code == "ResourceNotReady"
    failed = ml.online_deployments.get("blue", "od-ep")
    assert failed.provisioning_state == "Failed"
    uri = failed.properties["AzureAsyncOperationUri"]
    assert uri.startswith(f"{sim.base_url}/subscriptions/") and "/mfeOperationsStatus/" in uri
    status = requests.get(uri, headers={"Authorization": "Bearer x"}, verify=str(sim.ca), timeout=30).json()
    assert status["status"] == "Failed"
    assert status["error"] == {
        "code": "ResourceNotReady",
        "message": "User container has crashed or terminated.",
    }

    # What was read goes back (the service's entry included) with a change: a new operation, named
    # by the entry from then on. The entry is not taken for a user property, which could never be
    # removed again: a later PUT without it (the operator's) is accepted.
    failed.instance_count = 2
    retried = _create(ml, sim, failed)
    assert retried.provisioning_state == "Succeeded"
    again = retried.properties["AzureAsyncOperationUri"]
    assert again != uri and "/mfeOperationsStatus/" in again
    ok = requests.get(again, headers={"Authorization": "Bearer x"}, verify=str(sim.ca), timeout=30).json()
    assert ok["status"] == "Succeeded" and "error" not in ok
    assert ml.online_deployments.get("blue", "od-ep").properties == {"AzureAsyncOperationUri": again}
    put_deployment(sim, "od-ep", "blue", instance_count=3)
    finish(sim)
    assert ml.online_deployments.get("blue", "od-ep").instance_count == 3
