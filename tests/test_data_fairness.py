"""German / COMPAS / Adult loaders (Friedler et al., 2019 preprocessing) — real data when present, fixtures else."""

from __future__ import annotations

import shutil

import pytest
import torch

from mtlnotes.data import ChecksumError, DataMissingError, cache_dir
from mtlnotes.data.fairness_data import (load_adult, load_compas, load_fairness_dataset, load_german, split_622)


@pytest.fixture(scope="module")
def fair_root():
    root = cache_dir()
    need = ["german/german.data", "compas/compas-scores-two-years.csv", "adult/adult.data", "adult/adult.test"]
    if not all((root / n).exists() for n in need):
        pytest.skip(f"German/COMPAS/Adult not found under {root}; set MTLNOTES_DATA")
    return root


def test_german(fair_root):
    d = load_german(fair_root, download=False)
    assert d.x.shape == (1000, 60) and len(d.group_names) == 4
    assert d.y.mean().item() == pytest.approx(0.7)  # 700 good / 300 bad credit risks (german.doc)
    assert torch.bincount(d.groups).sum() == 1000


def test_compas(fair_root):
    d = load_compas(fair_root, download=False)
    assert len(d) == 6167  # ProPublica's filter as in Friedler et al.'s benchmark
    assert len(d.group_names) == 12  # 6 races x 2 sexes


def test_adult(fair_root):
    d = load_adult(fair_root, download=False)
    assert len(d) == 45222  # adult.data + adult.test without rows holding '?'
    assert sorted({n.split("|")[0] for n in d.group_names}) == ["race=Black", "race=Other", "race=White"]
    assert d.y.mean().item() == pytest.approx(11208 / 45222)


def test_split_622(fair_root):
    sp = split_622(load_german(fair_root, download=False), seed=0)
    assert (len(sp.train), len(sp.validation), len(sp.test)) == (600, 200, 200)
    num = sp.train.numeric
    assert torch.allclose(sp.train.x[:, num].mean(0), torch.zeros(int(num.sum())), atol=1e-5)
    again = split_622(load_german(fair_root, download=False), seed=0)
    assert torch.equal(sp.test.x, again.test.x)


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(DataMissingError, match="german/german.data"):
        load_german(tmp_path, download=False)
    (tmp_path / "german").mkdir()
    (tmp_path / "german" / "german.data").write_text("A11 6 A34\n")
    with pytest.raises(ChecksumError, match="6b94c2e35480e671545e52a808a8a549"):
        load_german(tmp_path, download=False)
    with pytest.raises(ValueError, match="unknown fairness dataset"):
        load_fairness_dataset("cifar", tmp_path)
