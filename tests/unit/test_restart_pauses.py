"""How long the supervisor of `serve --workers` waits before starting a dead worker again."""

from chatservice.entrypoints.workers import LONGEST_PAUSE_SECONDS, STEADY_SECONDS, RestartPauses


def test_a_worker_that_dies_once_is_replaced_at_once() -> None:
    assert RestartPauses().after(ran_seconds=0.5) == 0


def test_a_worker_that_keeps_dying_at_start_up_waits_longer_each_time_up_to_a_limit() -> None:
    pauses = RestartPauses()
    waits = [pauses.after(ran_seconds=0.5) for _ in range(9)]
    assert waits == [0, 1, 2, 4, 8, 16, LONGEST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS, 30]


def test_a_worker_that_ran_steadily_starts_the_count_again() -> None:
    pauses = RestartPauses()
    for _ in range(5):
        pauses.after(ran_seconds=0.5)
    assert pauses.after(ran_seconds=STEADY_SECONDS) == 0
    assert pauses.after(ran_seconds=0.5) == 0
    assert pauses.after(ran_seconds=0.5) == 1
