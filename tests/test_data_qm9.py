"""QM9 loader on tiny fixtures written in the official format (extended XYZ files in a .tar.bz2)."""

import io
import tarfile

import pytest
import torch

from mtlnotes.data import DataMissingError
from mtlnotes.data.qm9 import (PROPERTY_NAMES, QM9_ARCHIVE, TASKS, load_qm9, parse_xyz, qm9_splits,
                              read_qm9_archive)
from mtlnotes.repro import torch_generator

# Methane (gdb 1) as it appears in the official release (properties line and atoms copied by format, values ours).
METHANE = """5
gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t
C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689
H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921
H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922
H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923
H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923
1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078
C\tC\t
InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4
"""


def _molecule(index, n_h, value):
    atoms = "\n".join(["O\t0.0\t0.0\t0.0\t-0.4"] + [f"H\t{0.9 + i}*^0\t0.1\t-0.2\t0.2" for i in range(n_h)])
    props = "\t".join(str(value + i) for i in range(14)) + "\t2.5*^-3"
    return f"{n_h + 1}\ngdb {index}\t{props}\n{atoms}\n1.0\t2.0\nO\tO\nInChI=1S/H2O\tInChI=1S/H2O\n"


def _write_archive(path, members):
    with tarfile.open(path, "w:bz2") as tar:
        for name, text in members:
            data = text.encode("ascii")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_parse_methane_known_values():
    mol = parse_xyz(METHANE)
    assert mol.index == 1 and mol.smiles == "C"
    assert mol.z.tolist() == [6, 1, 1, 1, 1]
    assert mol.pos.shape == (5, 3) and mol.pos[0, 1].item() == pytest.approx(1.0858041578)
    props = dict(zip(PROPERTY_NAMES, mol.properties.tolist()))
    assert props["mu"] == 0.0 and props["alpha"] == 13.21 and props["homo"] == -0.3877
    assert props["U0"] == -40.47893 and props["Cv"] == 6.469


def test_mathematica_exponents():
    mol = parse_xyz(_molecule(7, 2, 1.0))
    assert mol.properties[-1].item() == pytest.approx(2.5e-3)
    assert mol.pos[2, 0].item() == pytest.approx(1.9)


def test_archive_reading_order_exclusion_and_tasks(tmp_path):
    path = tmp_path / "dsgdb9nsd.xyz.tar.bz2"
    _write_archive(path, [("dsgdb9nsd_000003.xyz", _molecule(3, 2, 30.0)), ("dsgdb9nsd_000001.xyz", METHANE),
                          ("dsgdb9nsd_000002.xyz", _molecule(2, 1, 20.0))])
    data = read_qm9_archive(path)
    assert [m.index for m in data.molecules] == [1, 2, 3]
    assert data.y.shape == (3, 11)
    assert data.y[0, TASKS.index("alpha")].item() == 13.21
    # molecule 2: property i (0-based, after A, B, C) = 20 + i; task "mu" is property 3
    assert data.y[1, TASKS.index("mu")].item() == 23.0
    assert len(read_qm9_archive(path, exclude={2})) == 2
    assert len(read_qm9_archive(path, limit=1)) == 1


def test_malformed_input_errors(tmp_path):
    with pytest.raises(ValueError, match="number of atoms"):
        parse_xyz("five\n")
    with pytest.raises(ValueError, match="expected 10 lines"):
        parse_xyz("5\ngdb 1\n")
    bad = METHANE.replace("C\t-0.0126981359", "Xx\t-0.0126981359")
    with pytest.raises(ValueError, match="line 3"):
        parse_xyz(bad)
    empty = tmp_path / "empty.tar.bz2"
    _write_archive(empty, [("readme.txt", "hello")])
    with pytest.raises(ValueError, match="no .xyz members"):
        read_qm9_archive(empty)


def test_missing_data_names_file_checksum_and_source(tmp_path):
    with pytest.raises(DataMissingError) as err:
        load_qm9(root=tmp_path, download=False)
    msg = str(err.value)
    assert "uncharacterized.txt" in msg or "dsgdb9nsd.xyz.tar.bz2" in msg
    assert "md5" in msg and "figshare" in msg
    with pytest.raises(DataMissingError, match=QM9_ARCHIVE.md5):
        load_qm9(root=tmp_path, download=False, drop_uncharacterized=False)


def test_qm9_splits_partition_the_molecules_test_first_then_validation():
    split = qm9_splits(50, n_val=5, n_test=10, seed=3)
    assert {k: len(v) for k, v in split.items()} == {"test": 10, "val": 5, "train": 35}
    assert sorted(torch.cat([split["test"], split["val"], split["train"]]).tolist()) == list(range(50))
    perm = torch.randperm(50, generator=torch_generator(3))  # the official order: shuffle, test, validation, rest
    assert torch.equal(split["test"], perm[:10]) and torch.equal(split["val"], perm[10:15])
    assert all(torch.equal(a, b) for a, b in zip(split.values(), qm9_splits(50, 5, 10, seed=3).values()))
    assert not torch.equal(qm9_splits(50, 5, 10, seed=4)["test"], split["test"])


@pytest.mark.parametrize("n_val, n_test", [(0, 10), (10, 0), (20, 30)])
def test_qm9_splits_reject_impossible_sizes(n_val, n_test):
    with pytest.raises(ValueError, match="cannot split 50 molecules"):
        qm9_splits(50, n_val, n_test)
