"""Trials grouped into configurations: a TPE duplicate is one configuration, replicates are its runs, the
recommended configuration is the best mean over confirmed runs, and per-user ranks stored in a real
SQLite database make the test count users as well as seeds."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import sqlalchemy
from optuna.distributions import CategoricalDistribution, FloatDistribution

from tuner import records
from tuner.per_user import ensure_table, per_user_values, save_ranks
from tuner.report import read_jobs
from tuner.report.configurations import UNCONFIRMED, rank_configurations
from tuner.report.confidence import SEEDS_AND_USERS, SEEDS_ONLY, seed_interval
from tuner.report.synthetic import simulated_ranks

DISTS = {"learning_rate": FloatDistribution(1e-5, 1.0), "embedding_size": CategoricalDistribution([32, 64])}


def run(number, lr, valid, *, seed=None, role=None, test=None, state="COMPLETE", **attrs):
    """A trial as the service records it; ``seed=None`` leaves the seed unrecorded (an old job)."""
    params = {"learning_rate": lr, "embedding_size": 64}
    ua = {records.VALID_METRICS: {"ndcg@10": valid}, records.TEST_METRICS: {"ndcg@10": valid * 0.9 if test is None else test}}
    if seed is not None:
        ua.update({records.SEED: seed, records.ROLE: role or records.SEARCH, records.CONFIG_ID: records.config_id(params)})
    ua.update(attrs)
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState[state], value=valid if state == "COMPLETE" else None, params=params,
        distributions=DISTS, user_attrs=ua)
    trial.number = number
    trial._trial_id = number
    return trial


def test_a_tpe_duplicate_is_one_configuration():
    trials = [run(0, 0.001, 0.060), run(1, 0.002, 0.055),
              run(2, 0.001, 0.060, **{records.COPY_OF: 0}),  # an old job's reused copy: COMPLETE, same seed
              run(3, 0.001, 0.0, seed=2020, state="FAIL", **{records.COPY_OF: 0})]  # today's: FAIL, no value
    ranking = rank_configurations(trials, "ndcg@10")
    assert [(c.params["learning_rate"], c.n_runs, [r.number for r in c.runs]) for c in ranking.configurations] == [
        (0.001, 1, [0]), (0.002, 1, [1])]
    assert ranking.recommended.runs[0].seed == 2020  # the spec's (RecBole's) seed for a job that recorded none


def test_recommended_is_the_best_mean_over_confirmed_runs_not_the_best_single_run():
    trials = [run(0, 0.001, 0.070, seed=2020), run(1, 0.002, 0.066, seed=2020), run(2, 0.003, 0.069, seed=2020),
              run(3, 0.001, 0.060, seed=1, role="replicate"), run(4, 0.001, 0.062, seed=2, role="replicate"),
              run(5, 0.002, 0.065, seed=1, role="replicate"), run(6, 0.002, 0.067, seed=2, role="replicate"),
              run(7, 0.002, 0.064, seed=2, role="replicate")]  # seed 2 again: the same run, the first is kept
    ranking = rank_configurations(trials, "ndcg@10")
    best = ranking.recommended
    assert best.params["learning_rate"] == 0.002 and [r.number for r in best.runs] == [1, 5, 6]
    assert best.valid.mean == pytest.approx(0.066) and best.valid.ci95 == seed_interval([0.066, 0.065, 0.067]).ci95
    assert best.test.mean == pytest.approx(0.066 * 0.9)
    # the confirmed runner-up, then the single run (higher than both means, but one seed)
    assert [(c.params["learning_rate"], c.n_runs) for c in ranking.configurations] == [(0.002, 3), (0.001, 3), (0.003, 1)]
    runner_up = ranking.configurations[1]
    assert runner_up.versus_leader.method == SEEDS_ONLY and runner_up.tied  # 0.064 +- 0.005 against 0.066 +- 0.001
    assert ranking.configurations[2].versus_leader is None and ranking.tied == (runner_up,)
    assert ranking.confirmed and ranking.method == SEEDS_ONLY and "seeds only" in ranking.note
    rec = ranking.recommended_json()
    assert {k: rec[k] for k in ("n_runs", "valid_ci95", "test_ci95")} == {
        "n_runs": 3, "valid_ci95": best.valid.ci95, "test_ci95": best.test.ci95}
    assert rec["params"] == {"learning_rate": 0.002, "embedding_size": 64}
    assert rec["tied"] == [{"config_id": runner_up.config_id, "params": runner_up.params,
                            "p_value": runner_up.versus_leader.p_value}]


def test_without_replicates_the_best_single_run_is_unconfirmed():
    ranking = rank_configurations([run(0, 0.001, 0.05), run(1, 0.002, 0.06)], "ndcg@10")
    assert ranking.recommended.runs[0].number == 1 and not ranking.confirmed
    assert ranking.note.startswith(UNCONFIRMED) and ranking.tied == () and ranking.method is None
    rec = ranking.recommended_json()
    assert (rec["n_runs"], rec["valid_ci95"], rec["test_ci95"], rec["tied"]) == (1, None, None, [])
    assert rank_configurations([], "ndcg@10").recommended_json() is None


def _job_with_user_ranks(url: str, offsets: dict[float, float], seeds: int = 4, users: int = 600) -> None:
    """A job whose configurations (learning rate -> how good) each ran ``seeds`` times, with per-user ranks."""
    study = optuna.create_study(study_name="j", storage=url, direction="maximize")
    study.set_user_attr(records.OBJECTIVE, "ndcg@10")
    rng = np.random.default_rng(3)
    logits = rng.normal(-2.3, 1.0, users)
    engine = sqlalchemy.create_engine(url)
    ensure_table(engine)
    for lr, offset in offsets.items():
        ranks = simulated_ranks(rng, logits, seeds, offset=offset)
        for s in range(seeds):
            value = float(per_user_values(ranks[s], "ndcg@10").mean())
            study.add_trial(run(0, lr, value, seed=2020 + s, role="search" if s == 0 else "replicate"))
            trial_id = study.get_trials(deepcopy=False)[-1]._trial_id
            save_ranks(engine, trial_id, {"valid": ranks[s], "test": ranks[s]})
    engine.dispose()


def test_per_user_ranks_make_the_test_count_users(sqlite_url):
    _job_with_user_ranks(sqlite_url, {0.001: 0.0, 0.002: 0.0, 0.003: -0.8})
    (job,) = read_jobs(sqlite_url, ["j"])
    ranking = job.ranking
    assert ranking.method == SEEDS_AND_USERS and ranking.note is None
    by_lr = {c.params["learning_rate"]: c for c in ranking.configurations}
    assert by_lr[0.003] is ranking.configurations[-1] and not by_lr[0.003].tied  # clearly worse: told apart
    assert by_lr[0.003].versus_leader.p_value < 0.01
    twin = by_lr[0.002] if ranking.recommended is by_lr[0.001] else by_lr[0.001]
    assert twin.tied and twin.versus_leader.method == SEEDS_AND_USERS  # the same model under another label


def test_a_run_without_ranks_falls_back_to_seeds_only(make_trial):
    trials = [run(i, 0.001 * (1 + i // 2), 0.05 + 0.001 * i, seed=i % 2) for i in range(4)]
    ranks = {t._trial_id: {"valid": np.array([1, 0, 3]), "test": np.array([1, 0, 3])} for t in trials[:3]}
    ranking = rank_configurations(trials, "ndcg@10", per_user=ranks)
    assert ranking.method == SEEDS_ONLY and "not stored for every run" in ranking.note
