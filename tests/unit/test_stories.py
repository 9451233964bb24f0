"""How an examples/ directory's steps are read (stories.py), for the demo and the end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azureml_standins import stories

ONLINE = Path(__file__).parents[2] / "examples" / "online"


def test_the_online_example_starts_with_the_endpoint_and_blue_and_walks_four_steps() -> None:
    start = [(d["kind"], d["metadata"]["name"]) for d in stories.starting_manifests(ONLINE)]
    assert start == [("OnlineDeployment", "blue"), ("OnlineEndpoint", "chat-online")]
    walked = stories.steps(ONLINE)
    assert [(s.title, s.deletes) for s in walked] == [
        ("1-green-mirrored", False),
        ("2-live-90-10", False),
        ("3-live-0-100", False),
        ("4-delete-blue", True),
    ]
    assert [d["kind"] for d in walked[0].docs] == ["OnlineDeployment", "OnlineEndpoint"]


def test_a_step_deletes_only_when_its_name_says_delete_as_a_word(tmp_path: Path) -> None:
    assert stories.Step(tmp_path / "5-delete-green.yaml", ()).deletes
    assert stories.Step(tmp_path / "delete-green.yaml", ()).deletes
    assert not stories.Step(tmp_path / "6-undeleted.yaml", ()).deletes


def obj(generation: int, observed: int | None, ready: str = "True", **status: Any) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready}]
    return {
        "metadata": {"name": "blue", "generation": generation},
        "spec": {"endpointRef": {"name": "chat"}},
        "status": {"conditions": conditions, "observedGeneration": observed, **status},
    }


def test_converged_means_ready_for_the_current_generation() -> None:
    assert stories.converged(obj(3, 3))
    assert not stories.converged(obj(3, 2))  # Ready for the spec before the last edit
    assert not stories.converged(obj(3, 3, ready="False"))
    assert not stories.converged(None)


def test_deployments_agree_with_their_endpoint_once_they_report_its_maps() -> None:
    endpoint = {"metadata": {"name": "chat"}, "status": {"traffic": {"blue": 90}, "mirrorTraffic": {}}}
    assert stories.shares_agree([endpoint], [obj(1, 1, traffic=90, mirrorTraffic=0)])
    assert not stories.shares_agree([endpoint], [obj(1, 1, traffic=100, mirrorTraffic=0)])
    assert not stories.shares_agree([endpoint], [obj(1, 1, traffic=90, mirrorTraffic=10)])
