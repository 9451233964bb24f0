"""Crash storm (issue 11): the operator is SIGKILLed at random points of a storm of creates,
updates and deletes across every kind, and restarted, several times (sometimes after a change made
while it was down). In the end everything has converged: every wanted object Ready, every deleted
one gone, Azure holding exactly what the live objects own, once each, and every keys Secret the
keys Azure holds now (storm_helpers). The order of the changes and the kill points come from one
seed, printed with every failure; `STORM_SEED=N` replays an order."""

from __future__ import annotations

import os
import random
import time

from e2e_helpers import Cluster, Operators, arm
from storm_helpers import DATA_API, Storm, azure_problems

from azureml_standins.simulator.process import SimulatorProcess

SEED = int(os.environ.get("STORM_SEED", random.SystemRandom().randrange(1_000_000)))
KILLS = 3


def test_sigkilled_at_random_points_of_a_storm_everything_converges(
    restartable: Cluster, operators: Operators, sim: SimulatorProcess
) -> None:
    storm = Storm(restartable, sim, SEED)
    storm.standard()
    storm.apply_base()
    timing = random.Random(SEED + 1)

    for kill in range(KILLS):
        storm.play(timing.randint(1, 3))
        time.sleep(timing.uniform(0.5, 4.0))  # somewhere in the passes those changes started
        operators.started[-1].kill()
        if timing.random() < 0.5:
            storm.play(1)  # a change nobody watches until the next operator lists
        storm.played.append(f"<kill {kill + 1}>")
        operators.start()

    storm.play_rest(timeout=60)
    storm.wait_converged(timeout=90)

    # The check has teeth: a resource nobody in Kubernetes owns is an orphan.
    stray = {
        "properties": {"dataType": "uri_file", "dataUri": "https://example.org/x.jsonl", "isArchived": False}
    }
    arm(sim, "PUT", "data/stray/versions/1", stray, api_version=DATA_API)
    problems = azure_problems(restartable, sim)
    assert [p for p in problems if "/data/stray/versions/1" in p and "orphan" in p], problems
