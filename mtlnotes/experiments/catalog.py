"""What each chapter's command line offers, in plain text, without importing the chapter (standard library only).

``python -m mtlnotes.experiments.<chapter> --help`` is answered from this table before torch is imported
(see :mod:`mtlnotes.experiments`), so it is instant. ``tests/test_cli.py`` checks that every chapter listed
here names exactly the profiles its module passes to ``run_cli``. A chapter not listed here still gets a
working ``--help``, also instant when its source names its profiles literally (:func:`from_source`): the first
paragraph of its module docstring, its profile names, and the lines ``* name — text`` of its docstring.
"""

from __future__ import annotations

import re
import ast
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ChapterInfo", "CHAPTERS", "from_source", "last_wall_time", "last_units_compute", "plain_text"]


@dataclass(frozen=True)
class ChapterInfo:
    """One chapter's command line: what it reproduces, its profiles (name -> one line), its extra options."""

    title: str
    description: str
    profiles: dict[str, str]
    extra_options: dict[str, str] = field(default_factory=dict)


CHAPTERS: dict[str, ChapterInfo] = {
    "basics": ChapterInfo(
        "Chapter 0: hard parameter sharing vs single-task networks (MultiMNIST)",
        "Hard parameter sharing (Caruana, 1997): one trunk shared by the tasks 'left digit' and 'right digit' of "
        "MultiMNIST (Sener & Koltun, 2018, built from real MNIST), one head per task, trained on the sum of the "
        "task losses, against one complete network per task. Models are selected by validation accuracy, never "
        "by test accuracy.",
        {"quick": "MultiMNIST 12,000 train / 2,000 validation / 10,000 test, 8 epochs, 3 seeds (CPU).",
         "full": "All of MultiMNIST, 50,000 / 10,000 / 10,000 images, 20 epochs, 3 seeds; about an hour on one "
                 "CPU thread, checkpointed every epoch (--checkpoint-dir).",
         "paper": "50,000 / 10,000 / 10,000 images, 50 epochs, 3 seeds (a GPU helps)."},
    ),
    "routing": ChapterInfo(
        "Chapter 1: Routing Networks (Rosenbaum, Klinger & Riemer, ICLR 2018)",
        "Routed SimpleConvNets (router agents: WPL, tabular and approximate Q-learning, REINFORCE; single agent, "
        "dispatched, recursive) and the static and soft baselines (task-specific, cross-stitch, soft mixture), "
        "trained jointly with SGD as in Algorithm 2 on MNIST-MTL. Records test accuracy per epoch (Table 2, "
        "Figures 4, 5, 8) and on the first n tasks (Figure 15), the WPL policies over time, the routing map and the "
        "cost of a step as tasks grow.",
        {"quick": "MNIST-MTL with 40 positives per task, 3 epochs, Adam, 1 seed (CPU).",
         "full": "The paper's MNIST-MTL (10,000 training samples per task), SGD 1e-2, the five architectures of "
                 "Table 2, 3 seeds, the first 8 of the paper's 100 epochs; routing-all-fc's WPL step size and rho "
                 "chosen on validation data (a 7-point sweep, 3 seeds, on held-out training images); about 5 "
                 "CPU-hours, and about 1 more for Figure 15's units on the first 2, 3 and 5 tasks (checkpointed; "
                 "add a --worker process to use a second core).",
         "paper": "The paper's MNIST-MTL schedule (SGD 1e-2, /10 every 20 epochs, 100 epochs, 3 seeds) for the 11 "
                  "architectures; routing's WPL step size from the full profile's validation sweep; about 2 "
                  "CPU-hours per architecture and seed (~70 in all, and ~14 for Figure 15's routing and cross-stitch "
                  "units on the first 2, 3 and 5 tasks; checkpointed every epoch, --worker processes share the "
                  "units, --architectures runs a subset).",
         "paper-cifar": "CIFAR-MTL (needs the CIFAR-100 files; GPU).",
         "paper-min": "mini-ImageNet MTL (needs the mini-ImageNet files; GPU)."},
        {"--time-budget SECONDS": "stop each architecture after that much training time (epochs run are recorded)",
         "--architectures A,B,...": "train only these architectures",
         "--first-n-tasks N,N,...": "Figure 15's task counts (default: the profile's); none trains no first-n units"},
    ),
    "task_selection": ChapterInfo(
        "Chapter 2: task selection policies for multi-task learning (Glover & Hokamp, 2019)",
        "Three experiments: the MTL bandit of Section 4.1 at full scale (Exp3.S against the counterfactual policy "
        "π^C fitted by CMA-ES), an offline suite of eight real image tasks standing in for GLUE with four "
        "policies (uniform, task size, Exp3.S, π^C), and GLUE with BERT-base (Table 1).",
        {"quick": "The bandit at the paper's scale and the offline suite with few steps (CPU).",
         "full": "The offline suite with more steps and 5 seeds (CPU, longer).",
         "paper": "GLUE with BERT-base (needs the GLUE zips and BERT weights; GPU)."},
    ),
    "rl_aux": ChapterInfo(
        "Chapter 3: auxiliary tasks generated by RL (RL-AUX) and by meta-learning (MAXL)",
        "One two-headed main network trained with a primary task and a generated auxiliary task: primary only, "
        "human labels, MAXL's label network (second-order meta update), RL-AUX's PPO labelling agent, and their "
        "weight-aware variants (Eq. 7). Test accuracy at the best validation epoch.",
        {"quick": "Fashion-MNIST coarse/fine labels, small CNN, minutes on a CPU.",
         "extended": "The same task with more data, epochs and seeds, plus the lambda ablation on RL-AUX "
                     "(about 45 CPU min on one thread).",
         "full": "All of Fashion-MNIST (50,000 / 10,000 / 10,000 images), 10 epochs, 3 seeds, every method "
                 "(about 9 CPU-hours, mostly the PPO units; resumable, spread over sessions).",
         "paper": "CIFAR-100 (20 superclasses), VGG16, Appendix B's settings (needs the data; GPU).",
         "paper-cifar10": "CIFAR-10, 80 epochs (needs the data; GPU).",
         "paper-svhn": "SVHN, 125 epochs (needs the data; GPU)."},
    ),
    "nash_mtl": ChapterInfo(
        "Chapter 4: Nash-MTL and gradient aggregation (Navon et al., 2022)",
        "Gradient aggregators (LS, UW, DWA, MGDA, PCGrad, CAGrad, IMTL-G, Nash-MTL...) on the paper's "
        "two-objective toy (Section 6.1, Fig. 1), on MultiMNIST with a MultiLeNet trunk (delta-m% and mean rank), "
        "and in the paper profile on QM9 (Table 2) and NYUv2 (Table 3).",
        {"quick": "The toy at the paper's 35,000 Adam steps from five starts (batched, under a minute) and "
                   "MultiMNIST, small, 3 seeds (CPU).",
         "full": "The toy as in quick and all of MultiMNIST, 50 epochs, 3 seeds (about 9 CPU-hours; resumable, "
                  "GPU helps).",
         "paper": "Toy, MultiMNIST, QM9 and NYUv2 at the paper's settings (needs QM9 and NYUv2; GPU)."},
    ),
    "mmf": ChapterInfo(
        "Chapter 5: MMF, hierarchical classification with multiple label structures (Li et al., ICANN 2021)",
        "A flat classifier and MMF models that attach superclass heads for a semantic structure H_S and an "
        "affinity structure H_A (Eqs. 1-2 and spectral clustering) to a shared backbone (Tables 2-3), with the "
        "stage, lambda and cluster-count ablations.",
        {"quick": "Fashion-MNIST, a small five-stage CNN, 3 seeds (CPU).",
         "full": "All of Fashion-MNIST, 8 epochs, 3 seeds; ablations on one seed (about 1.1 CPU-hours).",
         "paper": "CIFAR-100 (20 semantic, 30 affinity superclasses), VGG16 and ResNet50 (needs the data; GPU).",
         "paper-cars": "Cars196 with Type and Make structures, 224 px images (needs the data; GPU)."},
    ),
    "fairness": ChapterInfo(
        "Chapter 6: fairer machine learning through multi-objective evolutionary learning (Zhang et al., 2021)",
        "Populations of 50 one-hidden-layer networks evolved with NSGA-II on error (MSE) and two unfairness "
        "measures (f_I within groups, f_G between groups), in four variants (F_EIG, F_EI, F_EG, F_E), on German "
        "credit, COMPAS and Adult. The runs of a dataset are trained together as one program; every (dataset, "
        "variant, trial) is one resumable unit.",
        {"quick": "German credit, 40 generations, 4 seeds (about a minute on a CPU).",
         "paper": "German, COMPAS and Adult, 500 generations, 15 trials (hours on a CPU).",
         "paper-epochs2": "As paper, with two epochs of partial training instead of one (how the verdicts "
                          "depend on that choice, which Section 4.1 leaves open)."},
        {"--dataset NAME": "run one dataset (german, compas or adult) into chapter fairness_<NAME>"},
    ),
}

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")


def _role_text(match: re.Match) -> str:
    tilde, target = match.groups()
    return target.rsplit(".", 1)[-1] if tilde else target


def plain_text(doc: str | None) -> str:
    """The first paragraph of a docstring without Sphinx roles or reST literals (``:mod:`x``` -> ``x``)."""
    if not doc:
        return ""
    first = doc.strip().split("\n\n")[0]
    first = _ROLE.sub(_role_text, first).replace("``", "")
    return " ".join(first.split())


def _results_head(chapter: str, profile: str) -> str:
    """The first 16 KiB of ``results/<chapter>-<profile>.json`` of this checkout ("" if none): enough for the
    fields before the results, read without parsing a file that may hold megabytes (help must be instant)."""
    path = Path(__file__).resolve().parents[2] / "results" / f"{chapter}-{profile}.json"
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(16384)
    except OSError:
        return ""


def last_wall_time(chapter: str, profile: str) -> float | None:
    """Wall time in seconds of the stored ``results/<chapter>-<profile>.json`` of this checkout, if any."""
    match = re.search(r'"wall_time_s":\s*([0-9.]+)', _results_head(chapter, profile))
    return float(match.group(1)) if match else None


def last_units_compute(chapter: str, profile: str) -> tuple[float, int, int] | None:
    """(recorded compute seconds, units, units with a record) of the checkpointed units that the stored
    results file of ``chapter`` / ``profile`` was assembled from (see :mod:`mtlnotes.checkpoint`), if it has them."""
    match = re.search(r'"units":\s*\{\s*"compute_s":\s*([0-9.]+),\s*"n_units":\s*(\d+),\s*"n_recorded":\s*(\d+)',
                      _results_head(chapter, profile))
    return (float(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


_PROFILE_LINE = re.compile(r"^\s*[*-]\s+(?:``)?([\w-]+)(?:``)?\s+(?:—|--|-|:)\s+(.+?)\s*$")


def _profile_names(tree: ast.Module) -> list[str] | None:
    """Keys of the dict literal passed to ``run_cli(...)`` or assigned to ``PROFILES``, if literal."""
    for node in ast.walk(tree):
        candidate = None
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "run_cli":
            candidate = node.args[1] if len(node.args) > 1 else None
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PROFILES" for t in node.targets):
            candidate = node.value
        if isinstance(candidate, ast.Dict) and all(isinstance(k, ast.Constant) for k in candidate.keys):
            return [k.value for k in candidate.keys]
    return None


def from_source(module: str, path: Path | None = None) -> ChapterInfo | None:
    """A chapter's help read from its source without importing it, or None when its profiles are not literal."""
    path = path or Path(__file__).resolve().parent / f"{module}.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    names = _profile_names(tree)
    if not names:
        return None
    doc = ast.get_docstring(tree) or ""
    lines: dict[str, str] = {}
    current = None
    for raw in doc.splitlines():
        match = _PROFILE_LINE.match(raw)
        if match and match.group(1) in names:
            current = match.group(1)
            lines[current] = match.group(2)
        elif current and raw.startswith("  ") and raw.strip() and not raw.lstrip().startswith(("*", "-")):
            lines[current] += " " + raw.strip()  # the bullet goes on
        else:
            current = None
    lines = {name: plain_text(text) for name, text in lines.items()}
    return ChapterInfo("", plain_text(doc) or f"Chapter {module}.", {n: lines.get(n, "") for n in names})
