"""Wall time per epoch of each auxiliary-learning method (RL-AUX's cost argument: RL vs bi-level optimisation).

For each architecture ("small": the quick profile's CNN on 28×28 images; "vgg16": the paper's network on 32×32
RGB images) and each method, trains ``--epochs`` epochs on ``--n`` random images (timing does not depend on the
pixel values) and reports the mean seconds per epoch; for RL methods one epoch is one train-agent epoch plus one
train-main epoch (Appendix B). Writes ``results/rl_aux-benchmark.json`` with provenance.

    python benchmarks/rl_aux_epoch_time.py --arch small --n 1000 --epochs 2
    python benchmarks/rl_aux_epoch_time.py --arch vgg16 --n 500 --epochs 1 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from mtlnotes.experiments.rl_aux import METHODS, QUICK, TaskSplit, train_method
from mtlnotes.repro import choose_device
from mtlnotes.results import results_dir, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", nargs="+", default=["small"], choices=["small", "vgg16"])
    parser.add_argument("--n", type=int, default=1000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default=str(results_dir() / "rl_aux-benchmark.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    table = []
    start = time.perf_counter()
    for arch in args.arch:
        shape, n_primary, psi, hidden = ((1, 28, 28), 5, 2, QUICK.hidden) if arch == "small" else ((3, 32, 32), 20, 5, 512)
        gen = torch.Generator().manual_seed(0)

        def split(n: int) -> TaskSplit:
            y = torch.randint(0, n_primary, (n,), generator=gen)
            return TaskSplit(torch.rand(n, *shape, generator=gen), y, psi * y + torch.randint(0, psi, (n,), generator=gen),
                             n_primary, psi)

        cfg = dataclasses.replace(QUICK, arch=arch, psi=psi, hidden=hidden, epochs=args.epochs, ppo_n_steps=args.n,
                                  threads=args.threads)
        train, val = split(args.n), split(200)
        for method in args.methods:
            r = train_method(method, train, val, val, cfg, seed=0, device=device)
            row = {"arch": arch, "method": method, "n_train": args.n, "epoch_seconds": r["epoch_seconds"],
                   "mean_epoch_seconds": sum(r["epoch_seconds"]) / len(r["epoch_seconds"])}
            if "agent_seconds" in r:
                row["mean_agent_seconds"] = sum(r["agent_seconds"]) / len(r["agent_seconds"])
                row["mean_main_seconds"] = sum(r["main_seconds"]) / len(r["main_seconds"])
            table.append(row)
            print(f"{arch:6s} {method:8s} {row['mean_epoch_seconds']:.2f} s per epoch", flush=True)
    config = {"arch": args.arch, "n": args.n, "epochs": args.epochs, "methods": args.methods, "threads": args.threads}
    path = write_results(args.out, chapter="rl_aux", profile="benchmark", config=config, seeds=[0],
                         results={"epoch_times": table}, claims=[], wall_time_s=time.perf_counter() - start,
                         device=device)
    print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
