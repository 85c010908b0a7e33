"""How the book's notebooks show tables: one setup call, claims as tables, "—" for what is missing.

Kept in the package (not in each notebook) so that every chapter shows claims the same way and the notebooks
carry no display or test machinery: :func:`setup_notebook` is the one call a chapter makes after its imports.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from mtlnotes.results import Claim

__all__ = ["MISSING", "setup_notebook", "missing_as_dash", "claims_frame", "config_frame"]

#: what a table shows for a value that does not exist (never "None" or "NaN")
MISSING = "—"

#: the columns of a claims table, in the ledger's order
CLAIM_COLUMNS = ("claim", "paper", "ours", "verdict", "profile", "source")


def setup_notebook() -> None:
    """Display settings for a chapter: full-width table cells (no "…" truncation), "—" for missing values,
    and no tqdm warning about absent widgets (progress bars print as text)."""
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 120)
    warnings.filterwarnings("ignore", message="IProgress not found")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def missing_as_dash(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every None or NaN cell shown as :data:`MISSING`; other cells are unchanged."""
    return frame.astype(object).map(lambda v: MISSING if _is_missing(v) else v)


def claims_frame(claims: Iterable[Claim | dict], columns: Sequence[str] = CLAIM_COLUMNS) -> pd.DataFrame:
    """One row per claim with the given ``columns`` (fields of :class:`~mtlnotes.results.Claim`, plus
    ``verdict``: holds / does not hold / not judged); missing values are "—".

    ``claims`` may be Claim objects or their dicts, as stored in a results file."""
    rows = []
    for c in claims:
        claim = c if isinstance(c, Claim) else Claim.from_dict(c)
        row = {}
        for col in columns:
            if col != "verdict" and col not in {f.name for f in dataclasses.fields(Claim)}:
                raise ValueError(f"unknown claims column {col!r}; choose from verdict and the fields of Claim")
            row[col] = getattr(claim, col)
        rows.append(row)
    return missing_as_dash(pd.DataFrame(rows, columns=list(columns)))


def config_frame(config: Any) -> pd.DataFrame:
    """A chapter's dataclass ``Config`` as a two-column table (setting, value) instead of one wide line."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance (a chapter's Config), got {type(config).__name__}")
    rows = [{"setting": f.name, "value": getattr(config, f.name)} for f in dataclasses.fields(config)]
    return missing_as_dash(pd.DataFrame(rows).set_index("setting"))
