"""German credit, COMPAS and Adult for the fairness chapter, preprocessed as Friedler et al. (2019).

Zhang et al. (ICANN 2021, §4.1) state that "the pre-processing on each dataset is the same as in [8]"
(Friedler et al., "A comparative study of fairness-enhancing interventions in machine learning", FAT* 2019).
We follow that benchmark's choices, written here from its description:

* **German** (UCI ``german.data``): label ``credit`` (1 = good credit, the favourable outcome, y = 1;
  2 = bad, y = 0). Sensitive attributes ``sex`` (from ``personal_status``: A91/A93/A94 male, A92/A95
  female) and ``age`` (``adult`` when age >= 25, else ``youth``).
* **COMPAS** (ProPublica ``compas-scores-two-years.csv``): ProPublica's filter
  (``-30 <= days_b_screening_arrest <= 30``, ``is_recid != -1``, ``c_charge_degree != 'O'``,
  ``score_text != 'N/A'``); features ``sex, age, age_cat, race, juv_fel_count, juv_misd_count,
  juv_other_count, priors_count, c_charge_degree, c_charge_desc``; label ``two_year_recid`` (positive class
  1, as in [8]). Sensitive attributes ``race`` (six categories) and ``sex``.
* **Adult** (UCI ``adult.data`` + ``adult.test``, rows with ``?`` dropped, ``fnlwgt`` dropped as in [8]):
  label ``income > 50K``. Sensitive attributes ``race`` and ``sex``; the paper says race has three
  categories, so race is grouped as White / Black / Other.

Categorical features are one-hot encoded (sensitive attributes included as features, as in [8]'s
"numerical" version); numerical columns are standardised with the *training* split's statistics
(:func:`standardize`). Fairness groups are the intersections of the sensitive attributes
(e.g. German: 2 sexes x 2 age groups = 4 groups).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mtlnotes.data.cache import RemoteFile, fetch

__all__ = ["FairnessDataset", "FairnessSplit", "FAIRNESS_FILES", "load_german", "load_compas", "load_adult",
           "load_fairness_dataset", "split_622", "standardize", "FAIRNESS_DATASETS"]

_UCI_GERMAN = "https://archive.ics.uci.edu/ml/machine-learning-databases/statlog/german/"
_UCI_ADULT = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
_PROPUBLICA = "https://raw.githubusercontent.com/propublica/compas-analysis/master/"

FAIRNESS_FILES: dict[str, RemoteFile] = {
    "german.data": RemoteFile(
        "german", "german.data", (_UCI_GERMAN + "german.data",),
        md5="6b94c2e35480e671545e52a808a8a549",
        sha256="b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871", size=79793,
        how_to_get="Statlog (German Credit Data), UCI ML Repository, CC BY 4.0, doi:10.24432/C5NC77."),
    "compas-scores-two-years.csv": RemoteFile(
        "compas", "compas-scores-two-years.csv", (_PROPUBLICA + "compas-scores-two-years.csv",),
        md5="9165d40c400bba93a8cffece2b74622b",
        sha256="c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d", size=2546489,
        how_to_get="ProPublica, github.com/propublica/compas-analysis (Larson et al., 2016)."),
    "adult.data": RemoteFile(
        "adult", "adult.data", (_UCI_ADULT + "adult.data",),
        md5="5d7c39d7b8804f071cdd1f2a7c460872",
        sha256="5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d", size=3974305,
        how_to_get="Adult, UCI ML Repository, CC BY 4.0, doi:10.24432/C5XW20."),
    "adult.test": RemoteFile(
        "adult", "adult.test", (_UCI_ADULT + "adult.test",),
        md5="35238206dfdf7f1fe215bbb874adecdc",
        sha256="a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05", size=2003153,
        how_to_get="Adult, UCI ML Repository, CC BY 4.0, doi:10.24432/C5XW20."),
}

FAIRNESS_DATASETS = ("german", "compas", "adult")


@dataclass(frozen=True)
class FairnessDataset:
    """A preprocessed tabular dataset with fairness groups.

    ``x``: (n, d) float32 features (one-hot + raw numerical columns); ``y``: (n,) float32 labels in {0, 1};
    ``groups``: (n,) int64 ids in ``range(len(group_names))`` (intersection of the sensitive attributes);
    ``numeric``: (d,) bool, which columns are numerical (standardised by :func:`standardize`).
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor
    feature_names: tuple[str, ...]
    group_names: tuple[str, ...]
    numeric: torch.Tensor

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.y.shape != (n,) or self.groups.shape != (n,):
            raise ValueError(f"{self.name}: x has {n} rows but y is {tuple(self.y.shape)} and groups "
                             f"{tuple(self.groups.shape)}")
        if self.x.shape[1] != len(self.feature_names) or self.numeric.shape != (self.x.shape[1],):
            raise ValueError(f"{self.name}: {self.x.shape[1]} columns but {len(self.feature_names)} feature names")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, idx: torch.Tensor) -> "FairnessDataset":
        """Rows ``idx`` (a 1-D index tensor) as a new dataset."""
        return FairnessDataset(self.name, self.x[idx], self.y[idx], self.groups[idx], self.feature_names,
                               self.group_names, self.numeric)


@dataclass(frozen=True)
class FairnessSplit:
    """Train / validation / test parts of one dataset (6:2:2 in Zhang et al., §4.1)."""

    train: FairnessDataset
    validation: FairnessDataset
    test: FairnessDataset


def _encode(df: pd.DataFrame, label: np.ndarray, sensitive: list[str], categorical: list[str],
            numerical: list[str], name: str) -> FairnessDataset:
    cols, names, numeric = [], [], []
    for c in numerical:
        cols.append(df[c].to_numpy(dtype=np.float64)[:, None])
        names.append(c)
        numeric.append(True)
    for c in categorical + sensitive:
        values = sorted(df[c].astype(str).unique())
        onehot = (df[c].astype(str).to_numpy()[:, None] == np.array(values)[None, :]).astype(np.float64)
        cols.append(onehot)
        names.extend(f"{c}={v}" for v in values)
        numeric.extend([False] * len(values))
    x = np.concatenate(cols, axis=1)
    # intersectional groups, named "attr1=v1|attr2=v2", ids in sorted name order
    keys = df[sensitive].astype(str).agg("|".join, axis=1).to_numpy()
    group_names = sorted(set(keys))
    lookup = {g: i for i, g in enumerate(group_names)}
    groups = np.array([lookup[k] for k in keys], dtype=np.int64)
    pretty = tuple("|".join(f"{a}={v}" for a, v in zip(sensitive, g.split("|"))) for g in group_names)
    return FairnessDataset(name, torch.tensor(x, dtype=torch.float32), torch.tensor(label, dtype=torch.float32),
                           torch.from_numpy(groups), tuple(names), pretty, torch.tensor(numeric))


_GERMAN_COLUMNS = ["status", "month", "credit_history", "purpose", "credit_amount", "savings", "employment",
                   "investment_as_income_percentage", "personal_status", "other_debtors", "residence_since",
                   "property", "age", "installment_plans", "housing", "number_of_credits", "skill_level",
                   "people_liable_for", "telephone", "foreign_worker", "credit"]


def load_german(root: str | os.PathLike | None = None, download: bool = True) -> FairnessDataset:
    """German credit (UCI ``german.data``), preprocessed as Friedler et al. (2019); 1000 rows, 4 groups."""
    path = fetch(FAIRNESS_FILES["german.data"], root, download)
    df = pd.read_csv(path, sep=r"\s+", header=None, names=_GERMAN_COLUMNS)
    if df.shape[1] != 21 or not set(df["credit"].unique()) <= {1, 2}:
        raise ValueError(f"{path}: expected 21 space-separated fields with class in {{1, 2}}")
    sex = {"A91": "male", "A93": "male", "A94": "male", "A92": "female", "A95": "female"}
    df["sex"] = df["personal_status"].map(sex)
    if df["sex"].isna().any():
        raise ValueError(f"{path}: unknown personal_status codes {sorted(set(df['personal_status']) - set(sex))}")
    df["age_group"] = np.where(df["age"] >= 25, "adult", "youth")
    label = (df["credit"] == 1).to_numpy(dtype=np.float32)
    categorical = ["status", "credit_history", "purpose", "savings", "employment", "other_debtors", "property",
                   "installment_plans", "housing", "skill_level", "telephone", "foreign_worker"]
    numerical = ["month", "credit_amount", "investment_as_income_percentage", "residence_since",
                 "number_of_credits", "people_liable_for"]
    return _encode(df, label, ["sex", "age_group"], categorical, numerical, "german")


def load_compas(root: str | os.PathLike | None = None, download: bool = True) -> FairnessDataset:
    """COMPAS two-year recidivism (ProPublica), filtered and encoded as Friedler et al. (2019); 12 groups."""
    path = fetch(FAIRNESS_FILES["compas-scores-two-years.csv"], root, download)
    df = pd.read_csv(path)
    needed = ["sex", "age", "age_cat", "race", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count",
              "c_charge_degree", "c_charge_desc", "two_year_recid", "days_b_screening_arrest", "is_recid",
              "score_text"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    df = df[needed]
    df = df[(df.days_b_screening_arrest <= 30) & (df.days_b_screening_arrest >= -30) & (df.is_recid != -1)
            & (df.c_charge_degree != "O") & (df.score_text != "N/A")]
    df = df.drop(columns=["days_b_screening_arrest", "is_recid", "score_text"]).dropna().reset_index(drop=True)
    label = df["two_year_recid"].to_numpy(dtype=np.float32)
    numerical = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
    return _encode(df, label, ["race", "sex"], ["age_cat", "c_charge_degree", "c_charge_desc"], numerical,
                   "compas")


_ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                  "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                  "income-per-year"]


def _read_adult(path) -> pd.DataFrame:
    df = pd.read_csv(path, header=None, names=_ADULT_COLUMNS, skipinitialspace=True, comment="|",
                     skip_blank_lines=True)
    df["income-per-year"] = df["income-per-year"].astype(str).str.rstrip(".")
    return df


def load_adult(root: str | os.PathLike | None = None, download: bool = True) -> FairnessDataset:
    """Adult census income (UCI ``adult.data`` + ``adult.test``), as Friedler et al. (2019); 6 groups.

    Rows with a missing value (``?``) are dropped (45,222 rows remain); race is grouped White/Black/Other.
    """
    parts = [_read_adult(fetch(FAIRNESS_FILES[f], root, download)) for f in ("adult.data", "adult.test")]
    df = pd.concat(parts, ignore_index=True)
    df = df[~(df == "?").any(axis=1)].dropna().reset_index(drop=True)
    bad = set(df["income-per-year"]) - {">50K", "<=50K"}
    if bad:
        raise ValueError(f"adult: unexpected income labels {sorted(bad)}")
    df["race"] = df["race"].where(df["race"].isin(["White", "Black"]), "Other")
    label = (df["income-per-year"] == ">50K").to_numpy(dtype=np.float32)
    categorical = ["workclass", "education", "marital-status", "occupation", "relationship", "native-country"]
    numerical = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    return _encode(df, label, ["race", "sex"], categorical, numerical, "adult")


def load_fairness_dataset(name: str, root: str | os.PathLike | None = None, download: bool = True) -> FairnessDataset:
    """``load_german`` / ``load_compas`` / ``load_adult`` by name."""
    loaders = {"german": load_german, "compas": load_compas, "adult": load_adult}
    if name not in loaders:
        raise ValueError(f"unknown fairness dataset {name!r}; choose one of {sorted(loaders)}")
    return loaders[name](root, download)


def standardize(train: FairnessDataset, *others: FairnessDataset) -> list[FairnessDataset]:
    """Standardise the numerical columns of every part with the training part's mean and std."""
    num = train.numeric
    mean = train.x[:, num].mean(0)
    std = train.x[:, num].std(0).clamp_min(1e-8)
    out = []
    for part in (train, *others):
        x = part.x.clone()
        x[:, num] = (x[:, num] - mean) / std
        out.append(FairnessDataset(part.name, x, part.y, part.groups, part.feature_names, part.group_names,
                                   part.numeric))
    return out


def split_622(data: FairnessDataset, seed: int) -> FairnessSplit:
    """Random 6:2:2 train/validation/test split (Zhang et al., 2021, §4.1), numerical columns standardised."""
    if len(data) < 5:
        raise ValueError(f"{data.name}: {len(data)} rows are too few for a 6:2:2 split")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data), generator=gen)
    n_train = int(round(0.6 * len(data)))
    n_val = int(round(0.2 * len(data)))
    parts = [data.subset(perm[:n_train]), data.subset(perm[n_train:n_train + n_val]),
             data.subset(perm[n_train + n_val:])]
    return FairnessSplit(*standardize(*parts))
