"""Drive a local Azure ML simulator with nothing but the public azure-ai-ml SDK.

    azureml-standins simulator --port 8443 --cert-dir .sim --latency-scale 0.01 &
    REQUESTS_CA_BUNDLE=.sim/ca.pem python examples/simulator_walkthrough.py https://127.0.0.1:8443

It subscribes the workspace to Meta-Llama-3-8B-Instruct, deploys it as a serverless endpoint and chats
with it using its key; builds an online endpoint with blue and green deployments, first blue 100 %
with 10 % mirrored to green, then 90/10 without a mirror; and fine-tunes Phi-4-mini-instruct to a
registered model. Nothing here is specific to the simulator except the endpoint URL.
"""

from __future__ import annotations

import sys
import time

import requests
from azure.ai.ml import MLClient
from azure.ai.ml.constants._finetuning import FineTuningTaskType
from azure.ai.ml.entities import (
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    MarketplaceSubscription,
    ServerlessEndpoint,
)
from azure.ai.ml.finetuning import create_finetuning_job
from azure.core.credentials import AccessToken


class AnyToken:
    """The simulator accepts any bearer token."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("walkthrough", int(time.time()) + 3600)


def main(base: str) -> None:
    base = base.rstrip("/") + "/"
    ml = MLClient(
        AnyToken(),
        "00000000-0000-0000-0000-000000000000",
        "rg-sim",
        "ws-sim",
        cloud="AzureMLSimulatorWalkthrough",
        cloud_metadata={
            "resource_manager": base,
            "active_directory": f"{base}login/",
            "aml_resource_id": base,
            "registry_discovery_endpoint": base,
            "azure_portal": "https://portal.azure.com/",
            "storage_endpoint": "core.windows.net",
        },
        show_progress=False,
    )
    llama = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
    sub = ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama-3-8b", model_id=llama)
    ).result()
    print(f"subscription {sub.name}: {sub.status}, plan {sub.marketplace_plan.offer_id}")
    ep = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="llama-3-8b-chat", model_id=llama)
    ).result()
    keys = ml.serverless_endpoints.get_keys(ep.name)
    reply = requests.post(
        f"{ep.scoring_uri}/v1/chat/completions",
        timeout=30,
        headers={"Authorization": f"Bearer {keys.primary_key}"},
        json={"messages": [{"role": "user", "content": "Say hello."}]},
    )
    reply.raise_for_status()
    print(f"serverless {ep.name} at {ep.scoring_uri}: {reply.json()['choices'][0]['message']['content']!r}")

    ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="chat-online", auth_mode="key")
    ).result()
    for name in ("blue", "green"):
        ml.online_deployments.begin_create_or_update(
            ManagedOnlineDeployment(
                name=name,
                endpoint_name="chat-online",
                instance_type="Standard_DS3_v2",
                instance_count=1,
                model="azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
            )
        ).result()
    online = ml.online_endpoints.get("chat-online")
    online.traffic, online.mirror_traffic = {"blue": 100}, {"green": 10}
    online = ml.online_endpoints.begin_create_or_update(online).result()
    print(f"online traffic {online.traffic}, mirror {online.mirror_traffic}")
    online.traffic, online.mirror_traffic = {"blue": 90, "green": 10}, {}
    online = ml.online_endpoints.begin_create_or_update(online).result()
    print(f"online traffic {online.traffic}, mirror {online.mirror_traffic}")
    assert online.traffic == {"blue": 90, "green": 10} and not online.mirror_traffic

    job = ml.jobs.create_or_update(
        create_finetuning_job(
            model="azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
            task=FineTuningTaskType.CHAT_COMPLETION,
            training_data="azureml://datastores/workspaceblobstore/paths/ft/train.jsonl",
            validation_data="azureml://datastores/workspaceblobstore/paths/ft/valid.jsonl",
            hyperparameters={
                "num_train_epochs": "1",
                "learning_rate": "0.00002",
                "per_device_train_batch_size": "1",
            },
            output_model_name_prefix="phi4-mini-ft",
            experiment_name="walkthrough",
        )
    )
    deadline = time.monotonic() + 600
    while job.status not in ("Completed", "Failed", "Canceled") and time.monotonic() < deadline:
        time.sleep(1)
        job = ml.jobs.get(job.name)
    model = job.outputs["registered_model"]
    print(f"fine-tuning {job.name}: {job.status}, registered model {model.name} version {model.version}")
    assert job.status == "Completed" and model.version


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "https://127.0.0.1:8443")
