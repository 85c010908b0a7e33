"""The MMF chapter module: semantic structure, claims logic and the CLI's clear error when data is missing."""

from __future__ import annotations

import pytest

import mtlnotes.data.cache as cache
from mtlnotes.data import FASHION_MNIST_CLASSES
from mtlnotes.experiments import mmf


def test_fashion_semantic_structure():
    h = mmf.fashion_semantic_structure()
    assert h.n_classes == 10 and h.n_super == 4
    names = [[FASHION_MNIST_CLASSES[c] for c in g] for g in h.groups()]
    assert names[2] == ["Sandal", "Sneaker", "Ankle boot"] and names[3] == ["Bag"]


def test_method_names():
    assert mmf.method_name(()) == "w/o H"
    assert mmf.method_name(("H_S",)) == "H_S"
    assert mmf.method_name(("H_A", "H_S")) == "H_A&S"
    assert mmf.method_name(("H_A", "H_T", "H_M")) == "H_A&T&M"


def _fake(acc: dict[str, float], tie: dict[str, float], jitter: tuple[float, ...] = (0.0, 0.0, 0.0)) -> dict:
    """Results with one entry per value of ``jitter`` (a seed), added to every method's accuracy alike, so paired
    differences are exact."""
    def summ(a, t):
        seeds = [{"acc": a + j, "f_ha": 1 - t / 6, "tie_a": t, "lca_a": t / 2} for j in jitter]
        m = {k: sum(r[k] for r in seeds) / len(seeds) for k in seeds[0]}
        return {"per_seed": seeds, "mean": m, "std": {k: 0.0 for k in m}}
    return {"backbones": {"vgg16": {
        "main": {k: summ(acc[k], tie[k]) for k in acc},
        "ablation_stage": {str(s): summ(a, 1.0) for s, a in zip(range(1, 6), [0.74, 0.73, 0.72, 0.71, 0.70])},
        "ablation_lambda": {str(lam): summ(a, 1.0) for lam, a in [(0.1, 0.73), (0.4, 0.72), (0.8, 0.70)]},
        "ablation_lambda_structure": "H_S"}}}


def test_claims_with_the_papers_own_numbers_all_hold():
    """Fed the paper's Table 2 (VGG16, CIFAR-100) on three seeds, every claim must come out as holding."""
    t = mmf.PAPER_TABLES["vgg16"]
    res = _fake({k: v[0] / 100 for k, v in t.items()}, {k: v[2] for k, v in t.items()}, jitter=(0.0, 0.01, -0.01))
    cl = mmf.claims(res, mmf.PAPER)
    assert len(cl) == 7
    assert all(c.holds for c in cl), [(c.claim, c.ours) for c in cl if not c.holds]
    gap = next(c for c in cl if "top-down" in c.claim)
    assert gap.ours == pytest.approx(73.25 - 70.49) and gap.paper == pytest.approx(2.76)


def test_claims_detect_a_failure():
    acc = {"w/o H": 0.80, "H_S": 0.79, "H_A": 0.81, "H_A&S": 0.805, "Greedy (H_S)": 0.78, "NBPath (H_S)": 0.785}
    res = _fake(acc, {k: 0.5 for k in acc})
    verdicts = {c.claim: c.holds for c in mmf.claims(res, mmf.QUICK)}
    assert verdicts["MMF with the single structure H_S is more accurate than w/o H (Acc, %)"] is False
    assert verdicts["MMF with the single structure H_A is more accurate than w/o H (Acc, %)"] is True
    assert verdicts["MMF with multiple structures (H_A&S) beats every single structure (Acc, %)"] is False


def test_a_difference_inside_the_seed_spread_is_inconclusive():
    """H_A is ahead of w/o H on average but behind it on one seed: the paired interval contains 0."""
    res = _fake({"w/o H": 0.80, "H_A": 0.80, "H_S": 0.80}, {"w/o H": 0.5, "H_A": 0.5, "H_S": 0.5})
    main = res["backbones"]["vgg16"]["main"]
    for r, a in zip(main["H_A"]["per_seed"], (0.82, 0.79, 0.81)):
        r["acc"] = a
    main["H_A"]["mean"]["acc"] = (0.82 + 0.79 + 0.81) / 3
    c = next(c for c in mmf.claims(res, mmf.QUICK) if "H_A is more accurate" in c.claim)
    assert c.holds is None and c.inconclusive and "inconclusive" in c.note


def test_one_seed_is_not_judged():
    """Fewer than three seeds (the ablations run on one): every verdict is inconclusive, whatever the means."""
    acc = {"w/o H": 0.80, "H_S": 0.79, "H_A": 0.81, "H_A&S": 0.805, "Greedy (H_S)": 0.78, "NBPath (H_S)": 0.785}
    cl = mmf.claims(_fake(acc, {k: 0.5 for k in acc}, jitter=(0.0,)), mmf.QUICK)
    assert len(cl) == 7 and all(c.holds is None and c.inconclusive for c in cl)


def test_the_ablation_claims_compare_early_with_late_and_small_with_large_lambda():
    cl = {c.source: c for c in mmf.claims(_fake({"w/o H": 0.8}, {"w/o H": 0.5}), mmf.QUICK)}
    assert cl["Fig. 4a, §4.2"].holds is True and cl["Fig. 4a, §4.2"].ours == "73.50 vs 70.50"
    lam = cl["Fig. 4b, Table 2"]
    assert lam.holds is True and lam.ours == pytest.approx(73.0 - 71.0) and "best λ 0.1" in lam.note


def test_the_full_profile_is_all_of_fashion_mnist_with_three_seeds():
    assert mmf.PROFILES["full"] is mmf.FULL
    assert mmf.FULL.n_train is None and mmf.FULL.n_test is None and len(mmf.FULL.seeds) >= 3
    assert mmf.FULL.train.epochs > mmf.QUICK.train.epochs


@pytest.mark.parametrize("profile,missing", [("paper", "cifar100/cifar-100-python.tar.gz"),
                                             ("paper-cars", "stanford_cars/car_devkit.tgz")])
def test_cli_reports_missing_data(tmp_path, monkeypatch, capsys, profile, missing):
    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))

    def offline(url, dest):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(cache, "_download", offline)
    with pytest.raises(SystemExit) as exit_info:
        mmf.run_cli("mmf", {"paper": mmf.PAPER, "paper-cars": mmf.PAPER_CARS}, mmf.run, mmf.claims,
                    ["--profile", profile, "--out", str(tmp_path / "out.json"), "--device", "cpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert missing in err and "md5" in err
    assert not (tmp_path / "out.json").exists()


def test_car196_paper_constants():
    """Tables 2-3's Car196 rows: the columns identified by F_Ha = 1 − TIE_a/6 (and LCA_a = TIE_a/2 where
    printed), the H_A row agreeing with Table 1 (15 superclasses), and the claims of the paper-cars profile
    reading them."""
    for bb, rows in mmf.PAPER_TABLES_CARS.items():
        assert set(rows) == {"w/o H", "H_A", "H_T", "H_M", "H_A&T", "H_A&M", "H_T&M", "H_A&T&M", "Greedy (H_T)",
                             "Greedy (H_M)", "NBPath (H_T)", "NBPath (H_M)"}
        for method, (acc, f_ha, tie, lca) in rows.items():
            if (bb, method) != ("vgg16", "H_T"):     # printed as 91.34 / 0.5344: the paper's own inconsistency
                assert f_ha / 100 == pytest.approx(1 - tie / 6, abs=6e-5) and 0 < acc < 100
            assert lca is None or lca == pytest.approx(tie / 2, abs=6e-5)
        assert mmf.paper_table("cars196", bb) is rows
    assert mmf.PAPER_TABLES_CARS["vgg16"]["H_A"] == (82.67, 91.70, 0.4979, 0.2490)       # Table 1, VGG16
    assert mmf.PAPER_TABLES_CARS["resnet50"]["H_A"] == (90.19, 95.44, 0.2738, 0.1369)    # Table 1, ResNet50
    assert mmf.PAPER_TABLES_CARS["resnet50"]["H_A&T&M"][0] == 90.29
    t = mmf.PAPER_TABLES_CARS["vgg16"]
    res = _fake({k: v[0] / 100 for k, v in t.items()}, {k: v[2] for k, v in t.items()})
    cl = {c.claim: c for c in mmf.claims(res, mmf.PAPER_CARS)}
    gap = next(c for c in cl.values() if "top-down" in c.claim)
    assert gap.paper == pytest.approx(82.35 - 55.30)                  # H_T vs the best top-down (NBPath H_M)
    assert cl["MMF with the single structure H_T is more accurate than w/o H (Acc, %)"].paper == 82.35


def test_profile_rows_put_the_profiles_side_by_side_with_paired_intervals():
    res = _fake({"w/o H": 0.80, "H_S": 0.82}, {"w/o H": 0.5, "H_S": 0.4}, jitter=(0.0, 0.01, -0.01))
    doc = {"results": {"n_train": 100, **res}, "config": {"train": {"epochs": 2}}}
    rows = mmf.profile_rows({"quick": doc, "full": doc})
    assert [(r["profile"], r["method"]) for r in rows] == [("quick", "w/o H"), ("quick", "H_S"),
                                                           ("full", "w/o H"), ("full", "H_S")]
    h_s = rows[1]
    assert h_s["seeds"] == 3 and h_s["Acc (%)"].startswith("82 ±") and h_s["− w/o H (points)"] == "2 ± 0 (n=3)"
    assert rows[0]["− w/o H (points)"] == "" and h_s["TIE_a"] == 0.4
