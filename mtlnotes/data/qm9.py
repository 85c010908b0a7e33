"""QM9 (Ramakrishnan et al., 2014) from its official release: ``dsgdb9nsd.xyz.tar.bz2`` on figshare.

The archive holds 133,885 files ``dsgdb9nsd_NNNNNN.xyz`` in an extended XYZ format:

* line 1: number of atoms n;
* line 2: ``gdb <id>`` and 15 properties — rotational constants A, B, C (GHz), dipole moment μ (Debye),
  isotropic polarisability α (Bohr³), HOMO, LUMO and gap (Hartree), electronic spatial extent ⟨R²⟩ (Bohr²),
  zero-point vibrational energy ZPVE, internal energies U0 (0 K) and U (298 K), enthalpy H, free energy G
  (Hartree), heat capacity Cv (cal/mol K);
* n lines ``element x y z mulliken_charge`` (Å, e);
* harmonic frequencies, SMILES (GDB-17 and relaxed), InChI.

Numbers may be written in Mathematica style (``1.2*^-6``). The 3,054 molecules listed in
``uncharacterized.txt`` failed a consistency check and are usually dropped (as the Nash-MTL experiments,
through PyTorch Geometric, do).

The 11 regression tasks of Navon et al. (2022, §6.2) are μ, α, HOMO, LUMO, ⟨R²⟩, ZPVE, U0, U, H, G, Cv.
(They use the *atomisation* versions of U0, U, H, G, which differ from the totals here by per-atom constants.)
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import RemoteFile, fetch
from mtlnotes.repro import torch_generator

__all__ = ["QM9_ARCHIVE", "QM9_UNCHARACTERIZED", "PROPERTY_NAMES", "TASKS", "ELEMENTS", "Molecule", "QM9Data",
           "parse_xyz", "read_qm9_archive", "read_uncharacterized", "qm9_path", "load_qm9", "qm9_splits"]

# Checksums and sizes as reported by figshare's API for the official files (collection 978904).
QM9_ARCHIVE = RemoteFile(
    "qm9", "dsgdb9nsd.xyz.tar.bz2", ("https://ndownloader.figshare.com/files/3195389",),
    md5="ad1ebd51ee7f5b3a6e32e974e5d54012", size=86_144_227,
    how_to_get="QM9, Ramakrishnan et al. (2014): https://doi.org/10.6084/m9.figshare.c.978904 "
               "(file dsgdb9nsd.xyz.tar.bz2)")
QM9_UNCHARACTERIZED = RemoteFile(
    "qm9", "uncharacterized.txt", ("https://ndownloader.figshare.com/files/3195404",),
    md5="a361887bacb427b8a0ce7903d92a53b4", size=486_752,
    how_to_get="QM9's list of molecules that failed the consistency check (same figshare collection)")

PROPERTY_NAMES = ("A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv")
#: The 11 tasks of Navon et al. (2022, §6.2), as indices into PROPERTY_NAMES.
TASKS = ("mu", "alpha", "homo", "lumo", "r2", "zpve", "U0", "U", "H", "G", "Cv")
ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}


@dataclass(frozen=True)
class Molecule:
    """One molecule: ``index`` (the gdb id), atomic numbers ``z`` (n,), positions ``pos`` (n, 3) in Å,
    Mulliken charges (n,), the 15 ``properties`` (in file units, see the module docstring), SMILES."""

    index: int
    z: torch.Tensor
    pos: torch.Tensor
    charges: torch.Tensor
    properties: torch.Tensor
    smiles: str


def _num(s: str) -> float:
    return float(s.replace("*^", "e"))


def parse_xyz(text: str, source: str = "<xyz>") -> Molecule:
    """Parse one QM9 ``.xyz`` file's text (format in the module docstring); errors name ``source`` and line."""
    lines = text.strip("\n").split("\n")
    try:
        n = int(lines[0].strip())
    except (ValueError, IndexError):
        raise ValueError(f"{source}: line 1 must be the number of atoms, got {lines[0][:40]!r}") from None
    if len(lines) < n + 5:
        raise ValueError(f"{source}: expected {n + 5} lines for {n} atoms, got {len(lines)}")
    head = lines[1].split()
    if len(head) != 17 or head[0] != "gdb":
        raise ValueError(f"{source}: line 2 must be 'gdb <id>' and 15 properties, got {len(head)} fields")
    props = [_num(v) for v in head[2:]]
    z, pos, charges = [], [], []
    for i, line in enumerate(lines[2:2 + n], start=3):
        parts = line.split()
        if len(parts) != 5 or parts[0] not in ELEMENTS:
            raise ValueError(f"{source}: line {i} must be 'element x y z charge' with element in H/C/N/O/F")
        z.append(ELEMENTS[parts[0]])
        pos.append([_num(v) for v in parts[1:4]])
        charges.append(_num(parts[4]))
    smiles = lines[n + 3].split()[-1] if lines[n + 3].split() else ""
    return Molecule(int(head[1]), torch.tensor(z, dtype=torch.int64), torch.tensor(pos, dtype=torch.float64),
                    torch.tensor(charges, dtype=torch.float64), torch.tensor(props, dtype=torch.float64), smiles)


@dataclass(frozen=True)
class QM9Data:
    """Molecules (sorted by gdb id) and their task targets ``y`` (N, 11) in :data:`TASKS` order (float64)."""

    molecules: tuple[Molecule, ...]
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.molecules)


def read_uncharacterized(path: str | os.PathLike) -> set[int]:
    """The gdb ids listed in ``uncharacterized.txt``: the first column of every data row (rows that start with
    an integer; the header and footer lines do not)."""
    ids = set()
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            ids.add(int(parts[0]))
    if not ids:
        raise ValueError(f"{path}: no molecule ids found; not QM9's uncharacterized.txt")
    return ids


def read_qm9_archive(archive: str | os.PathLike, exclude: set[int] | frozenset[int] = frozenset(),
                     limit: int | None = None) -> QM9Data:
    """Read molecules from the official ``.tar.bz2`` (streaming; nothing is extracted), skipping ``exclude``
    ids; ``limit`` stops after that many molecules (for quick looks)."""
    archive = Path(archive)
    mols = []
    with tarfile.open(archive, "r:bz2") as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".xyz")):
                continue
            mol = parse_xyz(tar.extractfile(member).read().decode("ascii"), f"{archive.name}:{member.name}")
            if mol.index in exclude:
                continue
            mols.append(mol)
            if limit is not None and len(mols) >= limit:
                break
    if not mols:
        raise ValueError(f"{archive}: no .xyz members; not the official QM9 archive")
    mols.sort(key=lambda m: m.index)
    cols = [PROPERTY_NAMES.index(t) for t in TASKS]
    y = torch.stack([m.properties[cols] for m in mols])
    return QM9Data(tuple(mols), y)


def qm9_path(root: str | os.PathLike | None = None, download: bool = False) -> Path:
    """The verified archive path (raises DataMissingError naming the file, checksum and source when absent)."""
    return fetch(QM9_ARCHIVE, root, download)


def load_qm9(root: str | os.PathLike | None = None, download: bool = False, drop_uncharacterized: bool = True,
             limit: int | None = None) -> QM9Data:
    """QM9 from the verified official files in the data cache (see :func:`read_qm9_archive`)."""
    exclude: set[int] = set()
    if drop_uncharacterized:
        exclude = read_uncharacterized(fetch(QM9_UNCHARACTERIZED, root, download))
    return read_qm9_archive(qm9_path(root, download), exclude, limit)


def qm9_splits(n: int, n_val: int, n_test: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random test / validation / training indices of ``n`` molecules (the official code shuffles, then takes
    the first ``n_test`` for test, the next ``n_val`` for validation, the rest for training)."""
    if n_val < 1 or n_test < 1 or n_val + n_test >= n:
        raise ValueError(f"cannot split {n} molecules into {n_test} test, {n_val} validation and >= 1 training")
    perm = torch.randperm(n, generator=torch_generator(seed))
    return {"test": perm[:n_test], "val": perm[n_test:n_test + n_val], "train": perm[n_test + n_val:]}
