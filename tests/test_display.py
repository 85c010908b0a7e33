"""mtlnotes.display: claims and configs as tables, with "—" for missing values and no truncation."""

import math
from dataclasses import dataclass

import pandas as pd
import pytest

from mtlnotes.display import MISSING, claims_frame, config_frame, missing_as_dash, setup_notebook
from mtlnotes.results import Claim


def _claim(**kw):
    base = dict(chapter="c", claim="A beats B", paper=0.5, ours=0.7, holds=True, profile="quick", source="Table 1")
    return Claim(**{**base, **kw})


def test_claims_frame_has_one_row_per_claim_with_the_verdict_in_words():
    frame = claims_frame([_claim(), _claim(holds=False), _claim(holds=None)])
    assert list(frame.columns) == ["claim", "paper", "ours", "verdict", "profile", "source"]
    assert list(frame["verdict"]) == ["holds", "does not hold", "not judged"]


def test_claims_frame_shows_missing_paper_and_ours_as_a_dash_not_none_or_nan():
    frame = claims_frame([_claim(paper=None, ours=math.nan)])
    assert frame.loc[0, "paper"] == MISSING and frame.loc[0, "ours"] == MISSING
    assert "None" not in frame.to_html() and "NaN" not in frame.to_html()


def test_claims_frame_reads_the_dicts_stored_in_results_files():
    stored = _claim(note="3 seeds").to_dict()
    frame = claims_frame([stored], columns=("claim", "verdict", "note"))
    assert frame.to_dict("records") == [{"claim": "A beats B", "verdict": "holds", "note": "3 seeds"}]


def test_claims_frame_rejects_an_unknown_column_by_name():
    with pytest.raises(ValueError, match="unknown claims column 'colour'"):
        claims_frame([_claim()], columns=("claim", "colour"))


def test_missing_as_dash_keeps_other_values_and_leaves_the_input_alone():
    frame = pd.DataFrame({"a": [1.5, math.nan], "b": ["x", None]})
    shown = missing_as_dash(frame)
    assert shown.to_dict("list") == {"a": [1.5, MISSING], "b": ["x", MISSING]}
    assert math.isnan(frame.loc[1, "a"])


def test_setup_notebook_turns_off_cell_truncation():
    with pd.option_context("display.max_colwidth", 50):
        setup_notebook()
        long = "x" * 200
        assert long in pd.DataFrame({"claim": [long]}).to_html()
    pd.reset_option("display.max_colwidth")
    pd.reset_option("display.width")


def test_config_frame_lists_every_field_as_a_row():
    @dataclass(frozen=True)
    class Config:
        profile: str
        epochs: int
        lr: float | None = None

    frame = config_frame(Config("quick", 3))
    assert list(frame.index) == ["profile", "epochs", "lr"]
    assert list(frame["value"]) == ["quick", 3, MISSING]
    with pytest.raises(TypeError, match="expected a dataclass instance"):
        config_frame({"epochs": 3})
