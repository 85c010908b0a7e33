"""Three-level label structures (root → superclasses → subclasses), MMF §3.1 (Li et al., 2021).

A structure ``H_m = {R, C^{S_m}, C}`` is stored as the superclass index of each subclass. Every structure
of a dataset shares the subclass set ``C``; structures differ in how they group it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LabelStructure", "structure_from_groups", "structure_from_labels", "check_labels"]


def check_labels(labels, n_classes: int, what: str = "class") -> np.ndarray:
    """``labels`` as a 1-D int64 array, with a clear error for ids outside ``range(n_classes)``."""
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{what} labels must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = arr[(arr < 0) | (arr >= n_classes)]
    if bad.size:
        raise ValueError(f"{what} id {int(bad[0])} out of range for {n_classes} {what}es")
    return arr


@dataclass(frozen=True)
class LabelStructure:
    """A three-level tree: one root, ``n_super`` superclasses, ``n_classes`` subclasses (leaves).

    ``parent[c]`` is the superclass of subclass ``c``. Every superclass must have at least one subclass.
    Names are optional and only used for display.
    """

    name: str
    parent: tuple[int, ...]
    class_names: tuple[str, ...] | None = None
    super_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        parent = tuple(int(p) for p in self.parent)
        object.__setattr__(self, "parent", parent)
        if not parent:
            raise ValueError(f"structure {self.name!r} has no subclasses")
        if min(parent) < 0:
            raise ValueError(f"structure {self.name!r}: negative superclass id {min(parent)}")
        n_super = max(parent) + 1
        empty = sorted(set(range(n_super)) - set(parent))
        if empty:
            raise ValueError(f"structure {self.name!r}: superclass {empty[0]} has no subclasses "
                             f"(superclass ids must be 0..{n_super - 1} with none unused)")
        if self.class_names is not None and len(self.class_names) != len(parent):
            raise ValueError(f"structure {self.name!r}: {len(self.class_names)} class names for {len(parent)} classes")
        if self.super_names is not None and len(self.super_names) != n_super:
            raise ValueError(f"structure {self.name!r}: {len(self.super_names)} superclass names for {n_super} "
                             f"superclasses")

    @property
    def n_classes(self) -> int:
        return len(self.parent)

    @property
    def n_super(self) -> int:
        return max(self.parent) + 1

    def members(self, s: int) -> list[int]:
        """The subclasses of superclass ``s`` (ascending)."""
        if not 0 <= s < self.n_super:
            raise ValueError(f"superclass id {s} out of range for {self.n_super} superclasses")
        return [c for c, p in enumerate(self.parent) if p == s]

    def groups(self) -> list[list[int]]:
        """Members of every superclass, in superclass order."""
        return [self.members(s) for s in range(self.n_super)]

    def parent_array(self) -> np.ndarray:
        """``parent`` as an int64 array of shape (n_classes,)."""
        return np.asarray(self.parent, dtype=np.int64)

    def super_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Superclass label of each subclass label: (N,) int64 → (N,) int64."""
        arr = check_labels(labels, self.n_classes)
        return torch.from_numpy(self.parent_array()[arr])

    def describe(self) -> str:
        """One line per superclass: ``name: member, member, ...``."""
        lines = []
        for s, members in enumerate(self.groups()):
            sname = self.super_names[s] if self.super_names else f"s{s}"
            names = [self.class_names[c] if self.class_names else str(c) for c in members]
            lines.append(f"{sname}: {', '.join(names)}")
        return "\n".join(lines)


def structure_from_groups(name: str, groups: Sequence[Sequence[int]] | Mapping[str, Sequence[int]],
                          class_names: Sequence[str] | None = None) -> LabelStructure:
    """A structure from its superclasses' member lists (a list, or a dict superclass name → members).

    The groups must partition ``0..n_classes-1`` exactly.
    """
    if isinstance(groups, Mapping):
        super_names: tuple[str, ...] | None = tuple(groups)
        member_lists = [list(v) for v in groups.values()]
    else:
        super_names = None
        member_lists = [list(g) for g in groups]
    flat = [int(c) for g in member_lists for c in g]
    n = len(class_names) if class_names is not None else (max(flat) + 1 if flat else 0)
    if sorted(flat) != list(range(n)):
        dup = sorted({c for c in flat if flat.count(c) > 1})
        missing = sorted(set(range(n)) - set(flat))
        raise ValueError(f"groups of {name!r} must partition classes 0..{n - 1}: "
                         f"duplicated {dup}, missing {missing}, out of range {sorted(set(flat) - set(range(n)))}")
    parent = [0] * n
    for s, g in enumerate(member_lists):
        if not g:
            raise ValueError(f"structure {name!r}: superclass {s} has no subclasses")
        for c in g:
            parent[int(c)] = s
    return LabelStructure(name, tuple(parent), tuple(class_names) if class_names is not None else None, super_names)


def structure_from_labels(name: str, fine: torch.Tensor, coarse: torch.Tensor, n_classes: int | None = None,
                          class_names: Sequence[str] | None = None,
                          super_names: Sequence[str] | None = None) -> LabelStructure:
    """The semantic structure a dataset ships (e.g. CIFAR-100's 20 superclasses) from paired labels.

    Raises if one subclass appears under two superclasses or a subclass never appears.
    """
    f = check_labels(fine, n_classes or (int(np.max(np.asarray(fine))) + 1 if len(fine) else 0))
    c = np.asarray(coarse.cpu() if isinstance(coarse, torch.Tensor) else coarse, dtype=np.int64)
    if f.shape != c.shape:
        raise ValueError(f"{f.shape[0]} fine labels but {c.shape[0]} coarse labels")
    n = n_classes or int(f.max()) + 1
    parent = [-1] * n
    for fi, ci in set(zip(f.tolist(), c.tolist())):
        if parent[fi] not in (-1, ci):
            raise ValueError(f"subclass {fi} appears under superclasses {parent[fi]} and {ci}; not a tree")
        parent[fi] = ci
    missing = [i for i, p in enumerate(parent) if p < 0]
    if missing:
        raise ValueError(f"subclass {missing[0]} never appears in the labels; cannot place it in {name!r}")
    return LabelStructure(name, tuple(parent), tuple(class_names) if class_names is not None else None,
                          tuple(super_names) if super_names is not None else None)
