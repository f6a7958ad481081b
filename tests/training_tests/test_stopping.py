"""RecBole's early-stopping rule, step by step."""

from __future__ import annotations

from tuner.training.stopping import EarlyStopping


def run(scores, stopping_step):
    stopper = EarlyStopping(stopping_step)
    events = []
    for score in scores:
        improved, stop = stopper.update(score)
        events.append((improved, stop))
        if stop:
            break
    return events


def test_stops_at_the_validation_after_stopping_step_misses():
    # best at the first validation, then misses: with stopping_step=2 the 3rd miss stops (cur_step > 2)
    events = run([0.5, 0.4, 0.4, 0.3, 0.2], stopping_step=2)
    assert events == [(True, False), (False, False), (False, False), (False, True)]


def test_a_tie_with_the_best_counts_as_improvement_and_resets_the_count():
    events = run([0.5, 0.4, 0.5, 0.4, 0.4], stopping_step=1)
    assert events == [(True, False), (False, False), (True, False), (False, False), (False, True)]


def test_scores_are_compared_rounded_to_four_places():
    stopper = EarlyStopping(0)
    assert stopper.update(0.12341) == (True, False)
    assert stopper.update(0.12339) == (True, False)  # both round to 0.1234: a tie, so an improvement
    assert stopper.update(0.12334) == (False, True)


def test_stopping_step_zero_stops_at_the_first_miss():
    assert run([0.1, 0.2, 0.1], stopping_step=0) == [(True, False), (True, False), (False, True)]
