"""What the operator asks of kopf: bounds that hold at 10 000 objects, and watches that survive
Azure's load balancers."""

from __future__ import annotations

import kopf

from azureml_operator import wiring


def configured() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    wiring.configure(settings)
    return settings


def test_idle_object_workers_are_let_go_quickly() -> None:
    assert configured().queueing.idle_timeout <= 1.0


def test_every_watch_ends_before_an_azure_load_balancer_drops_it() -> None:
    settings = configured()
    # Azure's load balancers drop connections idle for about 4 minutes.
    assert settings.watching.server_timeout is not None and settings.watching.server_timeout < 240
    assert settings.watching.client_timeout is not None and settings.watching.client_timeout <= 240
    assert settings.watching.server_timeout < settings.watching.client_timeout
    # kopf >= 1.44 notices a stream that went silent (bookmarks arrive about every minute).
    assert settings.watching.inactivity_timeout is not None


def test_kopf_keeps_its_progress_out_of_the_operators_own_annotations() -> None:
    storage = configured().persistence.progress_storage
    assert isinstance(storage, kopf.AnnotationsProgressStorage)
    assert storage.prefix != "azureml.dev"
