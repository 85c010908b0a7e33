"""Train a small CNN for a few SGD steps, run some NumPy/SciPy numerics, print a digest of it all.

Run by tests/test_numerics.py; prints torch's CPU capability and one SHA-256.

Run as a script in a fresh interpreter, so that ``import mtlnotes`` comes before torch's first op.
"""

import hashlib
import sys

import mtlnotes  # noqa: F401  (pins portable numerics unless MTLNOTES_NATIVE_NUMERICS=1)
import numpy as np
import scipy.linalg
import torch
from torch import nn

from mtlnotes.repro import set_threads

set_threads(2)
torch.manual_seed(0)
net = nn.Sequential(
    nn.Conv2d(1, 10, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(10, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10),
)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
gen = torch.Generator().manual_seed(1)
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
    x = torch.randn(64, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (64,), generator=gen)
    loss = nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
rng = np.random.default_rng(0)
a = rng.standard_normal((300, 257))
numpy_parts = [a @ a.T, np.exp(np.linspace(-20, 20, 10001)), np.tanh(a).sum(axis=0), scipy.linalg.svdvals(a)]
digest = hashlib.sha256(b"".join([p.detach().numpy().tobytes() for p in net.parameters()]
                                 + [x.tobytes() for x in numpy_parts])).hexdigest()
print(torch.backends.cpu.get_cpu_capability(), digest)
