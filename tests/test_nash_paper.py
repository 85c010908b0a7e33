"""The paper profile of the Nash-MTL chapter: QM9's MPNN and NYUv2's SegNet-MTAN, their losses and metrics, the
generic training step, and both training loops end to end on tiny fixtures in the official on-disk formats."""

import dataclasses
import io
import math
import tarfile

import numpy as np
import pytest
import torch
from torch import nn

from mtlnotes.data.nyuv2 import NYUv2
from mtlnotes.data.qm9 import read_qm9_archive
from mtlnotes.experiments import nash_mtl
from mtlnotes.experiments.cli import run_cli
from mtlnotes.gradients import shared_trunk_gradients
from mtlnotes.models import HardSharingNet
from mtlnotes.models.mpnn import MPNNEncoder, NNConv, Set2Set, collate_graphs, molecule_graph
from mtlnotes.models.segnet_mtan import SegNetMTAN
from mtlnotes.weighting import make_method
from mtlnotes.weighting.trainer import shared_parameter_step

WATER = (torch.tensor([8, 1, 1]), torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]))


# ----------------------------------------------------------------------------- graphs and the MPNN
def test_molecule_graph_water_known_answer():
    x, ei, ea = molecule_graph(*WATER)
    assert x.tolist() == [[0, 0, 0, 1, 0, 8, 2], [1, 0, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, 1, 0]]
    assert ei.shape == (2, 6) and ea.shape == (6, 2)
    edges = {(int(s), int(d)): (float(b), float(r)) for (s, d), (b, r) in zip(ei.T, ea)}
    assert edges[(0, 1)] == (1.0, pytest.approx(0.96)) and edges[(1, 0)][0] == 1.0
    assert edges[(1, 2)][0] == 0.0 and edges[(1, 2)][1] == pytest.approx(math.hypot(1.2, 0.93), rel=1e-6)
    with pytest.raises(ValueError, match="not QM9 elements"):
        molecule_graph(torch.tensor([8, 17]), torch.zeros(2, 3))


def test_collate_offsets_edges_and_batch_vector():
    g = collate_graphs([molecule_graph(*WATER), molecule_graph(*WATER)])
    assert g.n_graphs == 2 and g.batch.tolist() == [0, 0, 0, 1, 1, 1]
    assert g.edge_index[:, 6:].min() == 3 and g.edge_index[:, :6].max() == 2


class _Eye(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, e):
        return torch.eye(self.d).reshape(1, -1).expand(e.shape[0], -1)


def test_nnconv_mean_of_neighbours_with_identity_edge_network():
    conv = NNConv(2, 2, _Eye(2))
    nn.init.zeros_(conv.root.weight)
    nn.init.zeros_(conv.root.bias)
    h = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    edge_index = torch.tensor([[0, 1, 2], [2, 2, 0]])  # 0->2, 1->2, 2->0
    out = conv(h, edge_index, torch.zeros(3, 1))
    assert torch.allclose(out, torch.tensor([[4.0, 4.0], [0.0, 0.0], [0.5, 1.0]]))


def test_set2set_permutation_invariant_and_graphs_independent():
    torch.manual_seed(0)
    s2s = Set2Set(4, steps=3)
    h = torch.randn(5, 4)
    batch = torch.tensor([0, 0, 0, 1, 1])
    out = s2s(h, batch, 2)
    perm = torch.tensor([2, 0, 1, 4, 3])
    assert torch.allclose(s2s(h[perm], batch, 2), out, atol=1e-6)
    alone = s2s(h[3:], torch.zeros(2, dtype=torch.long), 1)
    assert torch.allclose(alone, out[1:], atol=1e-6) and out.shape == (2, 8)


def test_mpnn_trunk_gradients_fast_path_agrees_with_reference():
    torch.manual_seed(0)
    g = collate_graphs([molecule_graph(*WATER), molecule_graph(torch.tensor([6, 1, 1, 1, 1]), torch.randn(5, 3))])
    model = HardSharingNet(MPNNEncoder(dim=8), [nn.Linear(8, 1) for _ in range(3)]).double()
    g.x, g.edge_attr = g.x.double(), g.edge_attr.double()
    y = torch.randn(2, 3, dtype=torch.float64)

    def losses(z):
        return torch.stack([nn.functional.mse_loss(h(z).squeeze(-1), y[:, k]) for k, h in enumerate(model.heads)])

    ref = shared_trunk_gradients(model.trunk, g, losses, "reference").grads
    fast = shared_trunk_gradients(model.trunk, g, losses, "vmap").grads
    assert ref.shape[0] == 3 and torch.allclose(fast, ref, atol=1e-10, rtol=1e-8)


# ----------------------------------------------------------------------------- SegNet-MTAN, losses, metrics
def test_segnet_mtan_shapes_outputs_and_parameter_split():
    torch.manual_seed(0)
    m = SegNetMTAN(filters=(4, 4, 8, 8, 8)).eval()
    seg, depth, normal = m(torch.rand(2, 3, 32, 64))
    assert seg.shape == (2, 13, 32, 64) and depth.shape == (2, 1, 32, 64) and normal.shape == (2, 3, 32, 64)
    assert torch.allclose(seg.exp().sum(1), torch.ones(2, 32, 64), atol=1e-5)
    assert torch.allclose(normal.norm(dim=1), torch.ones(2, 32, 64), atol=1e-5)
    ids = [id(p) for p in m.shared_parameters()] + [id(p) for p in m.task_parameters()]
    assert sorted(ids) == sorted(id(p) for p in m.parameters()) and len(set(ids)) == len(ids)
    with pytest.raises(ValueError, match="multiples of 32"):
        m(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="tasks"):
        SegNetMTAN(("segmentation", "edges"))
    assert len(SegNetMTAN(("depth",), filters=(2, 2, 2, 2, 2))(torch.rand(1, 3, 32, 32))) == 1


def test_segnet_mtan_full_size_has_mtans_parameter_count():
    # MTAN (Liu et al., 2019, Table 1): 44.2M parameters for SegNet-MTAN on NYUv2's three tasks
    assert round(sum(p.numel() for p in SegNetMTAN().parameters()) / 1e6, 1) == 44.2


def test_nyuv2_losses_zero_at_truth_and_masked():
    label = torch.tensor([[[0, 1], [-1, 2]]])
    seg = torch.log(nn.functional.one_hot(label.clamp(min=0), 13).permute(0, 3, 1, 2).double().clamp(min=1e-300))
    depth = torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]], dtype=torch.float64)
    normal = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    normal[:, 2] = 1.0
    normal[0, :, 0, 1] = 0.0  # one pixel without a normal
    losses = nash_mtl.nyuv2_losses([seg, depth, normal], label, depth, normal)
    assert torch.allclose(losses, torch.zeros(3, dtype=torch.float64), atol=1e-12)
    wrong_depth = depth + torch.tensor([[[[1.0, 5.0], [1.0, 1.0]]]], dtype=torch.float64)  # +5 where depth is 0
    assert nash_mtl.nyuv2_losses([wrong_depth], label, depth, normal, ("depth",)).item() == pytest.approx(1.0)


def test_nyuv2_meter_known_answers():
    meter = nash_mtl.NYUv2Meter(n_classes=3)
    label = torch.tensor([[0, 0, 1, -1]])
    logp = torch.log(torch.tensor([[[0.9, 0.2, 0.1, 0.3], [0.05, 0.7, 0.8, 0.3], [0.05, 0.1, 0.1, 0.4]]]))
    depth = torch.tensor([[[1.0, 2.0, 0.0, 4.0]]])
    normal = torch.zeros(1, 3, 4)
    normal[0, 1, :3] = 1.0  # three pixels with a normal (0, 1, 0)
    npred = torch.zeros(1, 3, 4)
    npred[0, 1, 0] = npred[0, 0, 1] = npred[0, 1, 2] = npred[0, 1, 3] = 1.0  # 0°, 90°, 0°
    meter.update(logp[:, :, None], label[:, None], depth[:, None] * 2, depth[:, None], npred[:, :, None], normal[:, :, None])
    r = meter.result()
    assert r["mIoU"] == pytest.approx(0.5) and r["pix_acc"] == pytest.approx(2 / 3)
    assert r["abs_err"] == pytest.approx((1 + 2 + 4) / 3) and r["rel_err"] == pytest.approx(1.0)
    assert r["mean_angle"] == pytest.approx(30.0) and r["median_angle"] == pytest.approx(0.0, abs=1e-5)
    assert r["within_11.25"] == pytest.approx(2 / 3) and r["within_30"] == pytest.approx(2 / 3)


def test_random_scale_crop_identity_at_scale_one_and_depth_scaling():
    g = torch.Generator().manual_seed(0)
    img, lab, dep, nor = torch.rand(2, 3, 8, 8), torch.randint(-1, 13, (2, 8, 8)), torch.rand(2, 1, 8, 8), torch.rand(2, 3, 8, 8)
    out = nash_mtl.random_scale_crop(img, lab, dep, nor, g, scales=(1.0,))
    for a, b in zip(out, (img, lab, dep, nor)):
        assert torch.equal(a, b)
    out = nash_mtl.random_scale_crop(img, lab, torch.ones(2, 1, 8, 8), nor, g, scales=(2.0,))
    assert out[0].shape == img.shape and out[1].dtype == torch.long and torch.allclose(out[2], torch.full_like(out[2], 0.5))


# ----------------------------------------------------------------------------- the generic step
def _tiny_problem():
    torch.manual_seed(0)
    shared = nn.Linear(3, 4)
    heads = [nn.Linear(4, 1) for _ in range(2)]
    x, y = torch.randn(6, 3), torch.randn(6, 2)

    def losses():
        z = torch.tanh(shared(x))
        return torch.stack([((h(z).squeeze(-1) - y[:, k]) ** 2).mean() for k, h in enumerate(heads)])
    return shared, heads, losses


def test_shared_parameter_step_ls_is_plain_backward_and_aggregator_gets_direction():
    shared, heads, losses = _tiny_problem()
    params = list(shared.parameters()) + [p for h in heads for p in h.parameters()]
    opt = torch.optim.SGD(params, lr=0.0)  # lr 0: inspect the gradients the step leaves
    shared_parameter_step(losses, list(shared.parameters()), [list(h.parameters()) for h in heads],
                          make_method("LS", 2), opt)
    step_grads = [p.grad.clone() for p in params]
    expected = torch.autograd.grad(losses().sum(), params)
    assert all(torch.allclose(a, b) for a, b in zip(step_grads, expected))

    mgda = make_method("MGDA", 2)
    shared_parameter_step(losses, list(shared.parameters()), [list(h.parameters()) for h in heads], mgda, opt)
    l = losses()
    g = torch.stack([torch.cat([t.reshape(-1) for t in torch.autograd.grad(l[k], list(shared.parameters()),
                                                                         retain_graph=True)]) for k in range(2)])
    agg = make_method("MGDA", 2).aggregate(g, l.detach())
    got = torch.cat([p.grad.reshape(-1) for p in shared.parameters()])
    assert torch.allclose(got, agg.direction, atol=1e-6)
    w = torch.ones(2) if agg.weights is None else agg.weights
    head0 = torch.autograd.grad(w[0] * l[0], list(heads[0].parameters()), retain_graph=True)
    assert all(torch.allclose(p.grad, e, atol=1e-6) for p, e in zip(heads[0].parameters(), head0))
    with pytest.raises(ValueError, match="groups of task parameters"):
        shared_parameter_step(losses, list(shared.parameters()), [[]], mgda, opt)


# ----------------------------------------------------------------------------- the loops on tiny fixtures
def _xyz(index, rng):
    n_h = int(rng.integers(1, 4))
    atoms = ["C\t0.0\t0.0\t0.0\t-0.3"] + [
        f"H\t{c[0]:.6f}\t{c[1]:.6f}\t{c[2]:.6f}\t0.1" for c in 1.09 * np.eye(3)[:n_h] + rng.normal(0, 0.02, (n_h, 3))]
    props = "\t".join(f"{v:.6f}" for v in rng.normal(size=15) + np.arange(15))
    return f"{n_h + 1}\ngdb {index}\t{props}\n" + "\n".join(atoms) + "\n1.0\t2.0\nC\tC\nInChI=1S/CH4\tInChI=1S/CH4\n"


@pytest.fixture
def qm9_archive(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "dsgdb9nsd.xyz.tar.bz2"
    with tarfile.open(path, "w:bz2") as tar:
        for i in range(1, 15):
            data = _xyz(i, rng).encode("ascii")
            info = tarfile.TarInfo(f"dsgdb9nsd_{i:06d}.xyz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_run_qm9_end_to_end_on_fixture(qm9_archive):
    data = read_qm9_archive(qm9_archive)
    cfg = dataclasses.replace(nash_mtl.QUICK, seeds=(0,), qm9_methods=("LS", "MGDA", "Nash-MTL"), qm9_epochs=2,
                              qm9_batch=4, qm9_dim=8, qm9_val=3, qm9_test=3)
    res = nash_mtl.run_qm9(cfg, data=data)
    assert res["sizes"] == {"test": 3, "val": 3, "train": 8} and len(res["task_names"]) == 11
    assert set(res["delta_m"]) == {"LS", "MGDA", "Nash-MTL"} and len(res["stl_test_mae"]) == 11
    assert all(math.isfinite(v) for v in res["delta_m"].values())
    assert sorted(res["mean_rank"].values()) and len(res["runs"]["Nash-MTL"][0]["curve"]) == 2
    again = nash_mtl.run_qm9(cfg, data=data)
    assert again["delta_m"] == res["delta_m"]  # same seed, same numbers


def _nyu(root, split, n, seed):
    rng = np.random.default_rng(seed)
    for m in ("image", "label", "depth", "normal"):
        (root / "nyuv2" / split / m).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.save(root / "nyuv2" / split / "image" / f"{i}.npy", rng.uniform(size=(32, 32, 3)))
        np.save(root / "nyuv2" / split / "label" / f"{i}.npy", rng.integers(-1, 13, size=(32, 32)).astype(np.float64))
        np.save(root / "nyuv2" / split / "depth" / f"{i}.npy", rng.uniform(0.5, 10, size=(32, 32, 1)))
        nrm = rng.normal(size=(32, 32, 3))
        np.save(root / "nyuv2" / split / "normal" / f"{i}.npy", nrm / np.linalg.norm(nrm, axis=-1, keepdims=True))


def test_run_nyuv2_end_to_end_on_fixture(tmp_path):
    _nyu(tmp_path, "train", 5, 0)
    _nyu(tmp_path, "val", 2, 1)
    data = (NYUv2("train", tmp_path, expected=5, shape=(32, 32)), NYUv2("val", tmp_path, expected=2, shape=(32, 32)))
    cfg = dataclasses.replace(nash_mtl.QUICK, seeds=(0,), methods=("LS", "Nash-MTL"), nyu_epochs=1, nyu_val=1,
                              nyu_filters=(2, 2, 2, 2, 2))
    res = nash_mtl.run_nyuv2(cfg, data=data)
    assert res["sizes"] == {"train": 4, "val": 1, "test": 2}
    assert res["metric_names"] == [n for n, _ in nash_mtl.NYUV2_METRICS] and len(res["stl_test"]) == 9
    assert set(res["runs"]) == {"LS", "Nash-MTL", "STL-segmentation", "STL-depth", "STL-normal"}
    assert all(math.isfinite(v) for v in res["delta_m"].values())
    assert 0 <= res["mean_test"]["Nash-MTL"][0] <= 1  # mIoU


def test_paper_profile_cli_names_what_to_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        run_cli("nash_mtl", {"paper": nash_mtl.PAPER}, nash_mtl.run, nash_mtl.claims,
                ["--profile", "paper", "--out", str(tmp_path / "out.json")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "dsgdb9nsd.xyz.tar.bz2" in err and "figshare" in err
    assert not (tmp_path / "out.json").exists()
