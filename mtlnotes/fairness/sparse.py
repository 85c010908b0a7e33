"""One-hot inputs as indices: the first layer of a network as a gather-and-sum instead of a dense product.

Zhang et al. (ICANN 2021, §4.1) feed one-hot encoded tabular data to dense one-hidden-layer networks. Most
columns of a row are zero (COMPAS: 10 of 407 non-zero, Adult: 13 of 101, German: 20 of 60), so the dense
product ``x @ W1`` spends almost all of its work multiplying zeros. Splitting the columns into 0/1 columns
and the others gives the same function exactly:

    x @ W1 = Σ_{j active in x} W1[j]  +  x_num @ W1[num]        (every 0/1 column holds 0 or 1)

The first term is :func:`torch.nn.functional.embedding_bag` (sum mode), whose backward scatters the upstream
gradient into the active rows only — the dense gradient's other rows are zero anyway, so Adam sees the same
gradient. Columns are chosen by *value* (all entries in {0, 1}), not by name, so any 0/1 feature takes the
gather path and every other column the dense one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["OneHotInputs"]


@dataclass(frozen=True)
class OneHotInputs:
    """Rows of a (n, d) matrix as active 0/1-column indices plus the remaining numeric columns.

    ``index``: (n, k) int64 positions *within* ``binary_columns`` of each row's ones, padded with 0;
    ``weight``: (n, k) float, 1 for a real entry and 0 for padding, or None when every row has exactly ``k`` ones;
    ``numeric``: (n, m) the values of ``numeric_columns``; ``binary_columns`` (d1,), ``numeric_columns`` (m,)
    index the original columns; ``n_features`` = d.
    """

    index: torch.Tensor
    weight: torch.Tensor | None
    numeric: torch.Tensor
    binary_columns: torch.Tensor
    numeric_columns: torch.Tensor
    n_features: int

    @classmethod
    def from_dense(cls, x: torch.Tensor, binary_columns: torch.Tensor | None = None) -> "OneHotInputs":
        """Split ``x`` (n, d) into its 0/1 columns (as indices) and its other columns.

        ``binary_columns`` fixes the split (e.g. the one found on all data parts together); by default it is
        every column whose entries are all 0 or 1."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor, got {type(x).__module__}.{type(x).__name__}")
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty (n, d) matrix, got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf")
        values_01 = ((x == 0) | (x == 1)).all(0)
        if binary_columns is None:
            is_binary = values_01
        else:
            is_binary = torch.zeros(x.shape[1], dtype=torch.bool)
            is_binary[binary_columns] = True
            if bool((is_binary & ~values_01).any()):
                bad = torch.nonzero(is_binary & ~values_01).flatten().tolist()
                raise ValueError(f"columns {bad[:5]} are given as 0/1 columns but hold other values")
        binary_columns = torch.nonzero(is_binary).flatten()
        numeric_columns = torch.nonzero(~is_binary).flatten()
        ones = x[:, binary_columns] == 1
        counts = ones.sum(1)
        k = int(counts.max()) if len(binary_columns) else 0
        # positions of the ones, row by row, left-aligned; padding points at column 0 with weight 0
        order = torch.argsort((~ones).to(torch.int8), dim=1, stable=True)[:, :k]
        valid = torch.arange(k).expand(len(x), k) < counts[:, None]
        index = torch.where(valid, order, torch.zeros_like(order))
        weight = None if bool((counts == k).all()) else valid.to(x.dtype)
        return cls(index.contiguous(), weight, x[:, numeric_columns].contiguous(), binary_columns, numeric_columns,
                   int(x.shape[1]))

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def rows(self, idx: torch.Tensor) -> "OneHotInputs":
        """The rows ``idx`` (any shape of row indices; the result's leading shape is ``idx.shape``)."""
        return OneHotInputs(self.index[idx], None if self.weight is None else self.weight[idx], self.numeric[idx],
                            self.binary_columns, self.numeric_columns, self.n_features)

    def to(self, device) -> "OneHotInputs":
        w = None if self.weight is None else self.weight.to(device)
        return OneHotInputs(self.index.to(device), w, self.numeric.to(device), self.binary_columns,
                            self.numeric_columns, self.n_features)

    def to_dense(self) -> torch.Tensor:
        """The (n, d) matrix back (for tests and checks)."""
        n = len(self)
        out = torch.zeros(n, self.n_features, dtype=self.numeric.dtype)
        if len(self.binary_columns):
            w = torch.ones(self.index.shape, dtype=out.dtype) if self.weight is None else self.weight
            binary = torch.zeros(n, len(self.binary_columns), dtype=out.dtype)
            binary.scatter_add_(1, self.index, w)
            out[:, self.binary_columns] = binary
        out[:, self.numeric_columns] = self.numeric
        return out
