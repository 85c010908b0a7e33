"""The task-selection chapter's experiment module: the bandit claims and the lambda grid."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys

import numpy as np
import pytest

from mtlnotes.experiments import task_selection as chapter
from mtlnotes.results import find_results
from mtlnotes.scheduling.bandit_study import BanditStudyConfig
from mtlnotes.scheduling.glue_runner import GlueConfig
from mtlnotes.scheduling.suite import SuiteConfig


@pytest.mark.parametrize("protocol", [BanditStudyConfig, SuiteConfig, GlueConfig])
def test_the_chapter_config_has_every_setting_the_scheduling_runners_read(protocol):
    """Each runner's protocol (with the properties it inherits) lists every ``config.x`` its module reads, and the
    chapter's Config has them all."""
    wanted = {name for cls in protocol.__mro__ for name, value in vars(cls).items() if isinstance(value, property)}
    read = set(re.findall(r"(?<![.\w])config\.(\w+)", inspect.getsource(sys.modules[protocol.__module__])))
    assert read and read <= wanted <= {f.name for f in dataclasses.fields(chapter.Config)}


def _bandit(oracle: list[float], cf: list[float]) -> dict:
    final = {"oracle": oracle, "counterfactual": cf, "uniform": [0.5] * len(cf), "exp3s": [0.5] * len(cf)}
    return {"bandit": {"final": final, "final_median": {m: float(np.median(v)) for m, v in final.items()},
                       "lambda": 0.25}}


def _close_claim(res):
    return [c for c in chapter.claims(res, chapter.QUICK) if "comes close" in c.claim][0]


def test_pi_c_above_the_oracle_does_not_count_as_coming_close_from_below():
    above = _close_claim(_bandit([0.60, 0.61, 0.62], [0.64, 0.65, 0.645]))
    assert above.holds is False and "above the oracle" in above.note and "beatable" in above.note
    close = _close_claim(_bandit([0.64, 0.65, 0.645], [0.62, 0.63, 0.63]))          # 2.7% below
    assert close.holds is True
    far = _close_claim(_bandit([0.70, 0.71, 0.705], [0.60, 0.61, 0.605]))           # 14% below
    assert far.holds is False
    spread = _close_claim(_bandit([0.60, 0.66, 0.63], [0.62, 0.63, 0.64]))          # inside the seed spread
    assert spread.holds is None and spread.verdict == "inconclusive" and "inside the seed spread" in spread.note


def test_bandit_lambda_grid_brackets_the_chosen_lambda():
    """The entropy weight chosen on the tuning seeds must not sit on the edge of the grid searched."""
    grid = chapter.QUICK.bandit_lambdas
    assert grid[:4] == (0.1, 0.15, 0.2, 0.25)                # the paper's grid is part of ours
    stored = find_results("task_selection", "quick")
    if stored is None:
        pytest.skip("results/task_selection-quick.json not written yet")
    tuning = stored["results"]["bandit"]["lambda_tuning"]
    lam = stored["results"]["bandit"]["lambda"]
    assert sorted(float(k) for k in tuning) == sorted(grid)
    assert min(grid) < lam < max(grid)


def test_suite_best_policy_claim_is_inconclusive_inside_the_seed_spread():
    def suite(cf):
        avg = {"uniform": [0.880, 0.885, 0.890], "task_size": [0.870, 0.875, 0.880], "exp3s": [0.893, 0.890, 0.896],
               "counterfactual": cf}
        return {"suite": {"average": avg}}

    def claim(res):
        return [c for c in chapter.claims(res, chapter.QUICK) if c.claim.startswith("π^C reaches")][0]
    tie = claim(suite([0.895, 0.889, 0.896]))                     # 0.1 points above Exp3.S, within the spread
    assert tie.holds is None and tie.verdict == "inconclusive" and "inside the seed spread" in tie.note
    assert claim(suite([0.93, 0.935, 0.94])).holds is True
    assert claim(suite([0.85, 0.86, 0.855])).holds is False


def _suite_claim(avg: dict, start: str):
    return [c for c in chapter.claims({"suite": {"average": avg}}, chapter.QUICK) if c.claim.startswith(start)][0]


def test_task_size_much_worse_needs_the_one_point_margin_beyond_the_seed_spread():
    base = {"uniform": [0.880, 0.885, 0.890], "exp3s": [0.881, 0.886, 0.889], "counterfactual": [0.882, 0.884, 0.891]}
    far = _suite_claim({**base, "task_size": [0.850, 0.855, 0.860]}, "Task size")      # 3 points below, tight
    near = _suite_claim({**base, "task_size": [0.878, 0.884, 0.889]}, "Task size")     # 0.1 points below
    spread = _suite_claim({**base, "task_size": [0.860, 0.885, 0.866]}, "Task size")   # 1.5 points, wide spread
    assert (far.holds, near.holds, spread.holds) == (True, False, None)
    assert spread.verdict == "inconclusive"


def test_uniform_and_exp3s_similarity_is_an_equivalence_over_paired_seeds():
    base = {"task_size": [0.85, 0.85, 0.85], "counterfactual": [0.9, 0.9, 0.9], "uniform": [0.880, 0.885, 0.890]}
    same = _suite_claim({**base, "exp3s": [0.881, 0.886, 0.890]}, "Uniform and Exp3.S")
    apart = _suite_claim({**base, "exp3s": [0.910, 0.915, 0.921]}, "Uniform and Exp3.S")
    unsure = _suite_claim({**base, "exp3s": [0.880, 0.905, 0.889]}, "Uniform and Exp3.S")
    assert (same.holds, apart.holds, unsure.holds) == (True, False, None)


def test_bandit_similarity_and_margin_claims_use_paired_seed_intervals():
    res = _bandit([0.60, 0.61, 0.62], [0.58, 0.59, 0.60])
    res["bandit"]["final"]["uniform"] = [0.50, 0.51, 0.52]
    res["bandit"]["final"]["exp3s"] = [0.501, 0.509, 0.521]
    claims = chapter.claims(res, chapter.QUICK)
    similar = next(c for c in claims if "Bandit" in c.claim and "perform similarly" in c.claim)
    worse = next(c for c in claims if "noticeably worse" in c.claim)
    assert similar.holds is True and worse.holds is True
    res["bandit"]["final"]["exp3s"] = [0.57, 0.50, 0.60]           # one seed close to π^C: margin unsure
    worse = next(c for c in chapter.claims(res, chapter.QUICK) if "noticeably worse" in c.claim)
    assert worse.holds is None and worse.verdict == "inconclusive"


def test_suite_average_rows_put_profiles_side_by_side_with_intervals():
    table = chapter.suite_average_rows({"quick": {"average": {"uniform": [0.5, 0.6, 0.7]}},
                                        "full": {"average": {"uniform": [0.6]}}}, {"uniform": "U"})
    assert table["U"][("quick", "mean (%)")] == 60.0 and table["U"][("quick", "seeds")] == 3
    low, high = (float(x) for x in table["U"][("quick", "95% interval")].strip("[]").split(","))
    assert low < 60.0 < high and round(high - 60.0, 2) == round(60.0 - low, 2)
    assert table["U"][("full", "95% interval")] == "[nan, nan]"  # one seed: no interval
