"""Chapter: a multi-task MRC framework for emotion cause and experiencer extraction (Qian, Li and Tang, ICANN 2021).

``python -m mtlnotes.experiments.bert_mrc_mtl --profile offline --checkpoint-dir ckpt/bert_mrc_mtl --out
results/bert_mrc_mtl-offline.json``: every method on the 10 random 90/10 splits of CEAC with a character BiLSTM
encoder trained from scratch (pretrained Chinese BERT cannot be downloaded here). ``--profile paper`` runs the
same with ``bert-base-chinese`` (needs its weights in the Hugging Face cache, and a GPU for sensible run times).
Each (method, split) and (λ, split) is one checkpointed unit, and each unit saves its state every epoch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.ceac import Passage, ceac_splits, ceac_statistics, load_ceac
from mtlnotes.extraction.encoders import BertEncoder, BiLSTMEncoder, CharTransformerEncoder
from mtlnotes.extraction.tokenize import QUERIES, CharVocab
from mtlnotes.extraction.train import ELEMENTS, METHODS, TrainSettings, train_and_evaluate
from mtlnotes.repro import set_threads
from mtlnotes.results import Claim
from mtlnotes.stats import compare, mean_interval, verdict_word
from mtlnotes.training import progress

__all__ = ["Config", "QUICK", "OFFLINE", "PAPER", "PAPER_TABLE1_CEAC", "PAPER_TABLE2_CEAC", "run", "run_unit",
           "summary_rows", "claims", "main"]

CHAPTER = "bert_mrc_mtl"

#: Table 1, CEAC column.
PAPER_TABLE1_CEAC = {"instances": 2915, "multiple_causes": 515, "multiple_experiencers": 6,
                     "avg_text_length": 88.08, "avg_cause_length": 10.48, "avg_experiencer_length": 2.79}
#: Table 2, CEAC columns: method -> (cause, experiencer, all) F1 in %. Our ``tagger`` is the BERT-Tagger row.
PAPER_TABLE2_CEAC = {"lstm_crf": (46.21, 65.13, 54.82), "tagger": (61.94, 82.35, 70.79),
                     "mrc_tag": (62.62, 84.29, 72.09), "mrc_bdy": (67.06, 86.61, 75.83),
                     "mtl_parallel": (69.33, 87.03, 77.32), "mtl_hierarchy": (70.13, 86.95, 77.76)}


@dataclass(frozen=True)
class Config:
    """Every knob of Qian, Li and Tang (2021); section of the paper in the comments."""

    profile: str
    seeds: tuple[int, ...]  # indices of the random 90/10 splits; 10 repeats (§4.1)
    methods: tuple[str, ...] = tuple(METHODS)  # Table 2 rows built here (CAN-NER is not)
    encoder: str = "bert"  # "bert" (§4.3, bert-base-chinese); "transformer" or "bilstm" (ours, from scratch)
    bert_name: str = "bert-base-chinese"  # §4.3; a local folder works too
    dim: int = 768  # encoder width: BERT-base 768 (§4.3); from-scratch encoders: their output width
    layers: int = 1  # "transformer": layers (ours)
    heads: int = 4  # "transformer": attention heads (ours)
    ff: int = 64  # "transformer": feed-forward width (ours)
    head_layer: str = "bilstm"  # the heads' BiLSTM_tag / BiLSTM_bdy (§3.2); "conv" = ours, cheaper on CPU
    emb: int = 300  # character embedding size of the non-BERT models (§4.3)
    lstm_crf_dim: int = 300  # BiLSTM size of the LSTM-CRF baseline (§4.3: 300)
    lstm_crf_encoder: str = "bilstm"  # "bilstm" (§4.2) or "shared": the same from-scratch encoder as the others
    max_len: int = 160  # max sequence length for CEAC (§4.3)
    lam: float = 0.5  # λ of Eq. 18 (§3.2)
    epochs: int = 3  # not stated in the paper
    batch_size: int = 16  # not stated in the paper
    lr: float = 1e-4  # heads (§4.3: layer-wise 1e-4)
    encoder_lr: float | None = 1e-5  # BERT (§4.3: 1e-5)
    single_rate: tuple[str, ...] = ("tagger", "mrc_tag")  # §4.3: trained with 1e-5 for all parameters
    lstm_crf_lr: float = 1e-3  # non-BERT models: Adam, 1e-3 (§4.3)
    lambda_grid: tuple[float, ...] = (0.25, 0.75)  # λ ablation of MRC-MTL(Hierarchy) (ours; the paper fixes 0.5)
    lambda_seeds: tuple[int, ...] = (0, 1, 2)  # splits used by the λ ablation (ours)
    min_count: int = 2  # characters seen fewer times in training become [UNK] ("bilstm" only; ours)
    train_limit: int | None = None  # use only the first N training passages of a split (quick profile only)
    split_seed: int = 0  # seed of the split generator (ours)

    def settings(self, method: str, lam: float | None = None) -> TrainSettings:
        """Optimiser settings of ``method`` (§4.3)."""
        lam = self.lam if lam is None else lam
        common = dict(epochs=self.epochs, batch_size=self.batch_size, max_len=self.max_len, lam=lam,
                      head_layer=self.head_layer)
        if self.encoder != "bert" or (method == "lstm_crf" and self.lstm_crf_encoder == "bilstm"):
            lr = self.lstm_crf_lr if method == "lstm_crf" else self.lr
            return TrainSettings(lr=lr, optimizer="adam", **common)
        if method in self.single_rate:
            return TrainSettings(lr=self.encoder_lr, optimizer="adamw", **common)
        return TrainSettings(lr=self.lr, encoder_lr=self.encoder_lr, optimizer="adamw", **common)


#: Offline: a 1-layer character Transformer (width 32, 4 heads, feed-forward 64) trained from scratch, shared by
#: every row (LSTM-CRF included), convolutional heads, all training passages, 4 epochs: about one CPU-hour on one
#: thread of an idle machine (10 splits x 6 models + the λ ablation).
OFFLINE = Config(profile="offline", seeds=tuple(range(10)), encoder="transformer", dim=32, layers=1, heads=4, ff=64,
                 head_layer="conv", lstm_crf_encoder="shared", epochs=4, batch_size=32, lr=5e-3, encoder_lr=None,
                 lstm_crf_lr=5e-3, lambda_grid=(0.25, 0.75), lambda_seeds=(0, 1, 2))
#: Quick (the notebook): one split, 400 training passages, 6 epochs of batch 8; no λ ablation.
QUICK = dataclasses.replace(OFFLINE, profile="quick", seeds=(0,), train_limit=400, epochs=6, batch_size=8,
                            lambda_grid=(), lambda_seeds=())
PAPER = Config(profile="paper", seeds=tuple(range(10)))


def _texts_spans(passages: list[Passage], index) -> tuple[list[str], dict]:
    sel = [passages[i] for i in index]
    return [p.text for p in sel], {"cause": [list(p.causes) for p in sel],
                                   "experiencer": [list(p.experiencers) for p in sel]}


def _encoder_factory(config: Config, method: str, vocab: CharVocab):
    if method == "lstm_crf" and config.lstm_crf_encoder == "bilstm":  # non-BERT baseline: own BiLSTM (§4.2)
        return lambda: BiLSTMEncoder(len(vocab), config.emb, config.lstm_crf_dim // 2)
    if config.encoder == "transformer":
        return lambda: CharTransformerEncoder(len(vocab), config.dim, config.layers, config.heads, config.ff,
                                              config.max_len)
    if config.encoder == "bilstm":
        return lambda: BiLSTMEncoder(len(vocab), config.emb, config.dim // 2)
    if config.encoder == "bert":
        return lambda: BertEncoder.pretrained(config.bert_name)
    raise ValueError(f"encoder must be 'bert', 'transformer' or 'bilstm', got {config.encoder!r}")


def _vocab(config: Config, train_texts: list[str], method: str) -> CharVocab:
    if config.encoder == "bert" and not (method == "lstm_crf" and config.lstm_crf_encoder == "bilstm"):
        from transformers import BertTokenizerFast

        return CharVocab.from_bert_vocab(BertTokenizerFast.from_pretrained(config.bert_name).vocab)
    return CharVocab.build(train_texts + list(QUERIES.values()), min_count=config.min_count)


def run_unit(config: Config, passages: list[Passage], train_idx, test_idx, method: str, seed: int,
             lam: float | None = None, store: CheckpointStore | None = None, key: str = "fit", device=None) -> dict:
    """Train ``method`` on ``train_idx`` and score it on ``test_idx`` (spans per element; F1 etc. in [0, 1])."""
    if config.train_limit is not None:
        train_idx = train_idx[:config.train_limit]
    train = _texts_spans(passages, train_idx)
    vocab = _vocab(config, train[0], method)
    return train_and_evaluate(method, _encoder_factory(config, method, vocab), vocab, train,
                              _texts_spans(passages, test_idx), config.settings(method, lam), seed=seed,
                              checkpoint=store, key=key, device=device)


def _fingerprint(config: Config) -> dict:
    d = dataclasses.asdict(config)
    for k in ("seeds", "profile", "methods", "lambda_grid", "lambda_seeds"):
        d.pop(k)
    return d


def run(config: Config, *, device=None, checkpoint_dir=None, passages: list[Passage] | None = None) -> dict:
    """Every method on every split of ``config.seeds``, then the λ ablation (plain data).

    Returns ``{"statistics", "n_train", "n_test", "scores": {method: [per split {element: {precision, recall,
    f1}}]}, "train_seconds": {method: [...]}, "lambda": {λ: [per split scores]}}``.
    """
    # one thread unless --threads/MTLNOTES_THREADS says otherwise: with another process busy on this project's
    # 2-core machine, a quick-profile epoch of these small character models took 3.7 s on one thread and 9.5 s
    # on two (the two threads spin-wait for each other); one thread never pays that price
    set_threads(default=1)
    passages = passages if passages is not None else load_ceac()
    store = CheckpointStore(checkpoint_dir, fingerprint=_fingerprint(config))
    n_splits = max(list(config.seeds) + list(config.lambda_seeds) + [0]) + 1
    splits = ceac_splits(len(passages), n_splits, seed=config.split_seed)
    scores: dict[str, list] = {m: [] for m in config.methods}
    seconds: dict[str, list] = {m: [] for m in config.methods}
    units = [(s, m) for s in config.seeds for m in config.methods]  # split-major: balanced if cut short
    for s, m in progress(units, desc="units"):
        key = f"{m}-split{s}"
        out = store.get_or_compute(key, lambda s=s, m=m, key=key: run_unit(
            config, passages, *splits[s], m, seed=s, store=store, key=key + "-state", device=device))
        scores[m].append(out["scores"])
        seconds[m].append(out["train_seconds"])
    lam_scores: dict[str, list] = {}
    for lam in config.lambda_grid:
        lam_scores[str(lam)] = []
        for s in config.lambda_seeds:
            key = f"lambda{lam}-split{s}"
            out = store.get_or_compute(key, lambda s=s, lam=lam, key=key: run_unit(
                config, passages, *splits[s], "mtl_hierarchy", seed=s, lam=lam, store=store, key=key + "-state",
                device=device))
            lam_scores[str(lam)].append(out["scores"])
    n_train = len(splits[0][0]) if config.train_limit is None else min(config.train_limit, len(splits[0][0]))
    return {"statistics": ceac_statistics(passages), "n_train": n_train, "n_test": len(splits[0][1]),
            "scores": scores, "train_seconds": seconds, "lambda": lam_scores}


def _f1s(per_split: list[dict], element: str = "all") -> list[float]:
    return [100 * r[element]["f1"] for r in per_split]


def summary_rows(results: dict) -> list[dict]:
    """Per method: mean ± std F1 (%) over splits for cause, experiencer, all, beside the paper's CEAC row."""
    rows = []
    for m, per_split in results["scores"].items():
        row = {"method": METHODS[m], "splits": len(per_split)}
        for e, paper in zip((*ELEMENTS, "all"), PAPER_TABLE2_CEAC[m]):
            v = _f1s(per_split, e)
            row[f"{e} F1"] = f"{np.mean(v):.2f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.2f}"
            row[f"{e} (paper)"] = paper
        rows.append(row)
    return rows


def claims(results: dict, config: Config) -> list[Claim]:
    """§5.1–5.2's claims on CEAC (F1 "All", Table 2), judged over paired splits (:mod:`mtlnotes.stats`)."""
    scores, out = results["scores"], []
    enc = ("BERT-base-Chinese" if config.encoder == "bert"
           else f"a character {config.encoder} ({config.dim} wide) trained from scratch, not BERT")
    base = dict(chapter=CHAPTER, profile=config.profile, source="Table 2 (CEAC), §5.1–5.2")
    n = len(config.seeds)

    def ordering(claim: str, a: str, b: str) -> None:
        if a not in scores or b not in scores:
            return
        fa, fb = _f1s(scores[a]), _f1s(scores[b])
        c = compare(fa, fb)
        holds = c.verdict("greater")
        paper = f"{PAPER_TABLE2_CEAC[a][2]} vs {PAPER_TABLE2_CEAC[b][2]}"
        ours = f"{np.mean(fa):.2f} vs {np.mean(fb):.2f} (diff {c})"
        out.append(Claim(claim=claim, paper=paper, ours=ours, holds=holds, **base,
                         note=f"All F1 (%), mean over {n} split(s), paired 95% t-interval of the difference: "
                              f"{verdict_word(holds)}; encoder: {enc}", inconclusive=holds is None))

    ordering("MRC-MTL(Hierarchy) beats MRC-MTL(Parallel)", "mtl_hierarchy", "mtl_parallel")
    ordering("MRC-MTL(Parallel) beats MRC(Bdy) (better than any single-task model)", "mtl_parallel", "mrc_bdy")
    ordering("MRC-MTL(Parallel) beats MRC(Tag)", "mtl_parallel", "mrc_tag")
    ordering("MRC(Bdy) beats MRC(Tag) (the boundary strategy is the better one)", "mrc_bdy", "mrc_tag")
    ordering("MRC(Bdy) beats the Tagger (no query)", "mrc_bdy", "tagger")
    ordering("MRC(Tag) beats the Tagger (no query)", "mrc_tag", "tagger")
    if "mtl_hierarchy" in scores:
        f = _f1s(scores["mtl_hierarchy"])
        judged = config.encoder == "bert"
        out.append(Claim(claim="MRC-MTL(Hierarchy) reaches F1 (All) 77.76 on CEAC", paper=77.76,
                         ours=str(mean_interval(f)), holds=None, **base,
                         note="not judged: " + ("compare the number directly" if judged else
                                                f"the absolute level needs pretrained BERT; ours uses {enc}")))
    if "lstm_crf" in scores and config.encoder != "bert":
        out.append(Claim(claim="BERT-based models outperform non-BERT models (LSTM-CRF)", paper="77.76 vs 54.82",
                         ours=f"{np.mean(_f1s(scores['mtl_hierarchy'])):.2f} vs {np.mean(_f1s(scores['lstm_crf'])):.2f}"
                         if "mtl_hierarchy" in scores else None, holds=None, **base,
                         note="cannot be judged without BERT: here no model has a pretrained encoder"
                              + (" (LSTM-CRF shares the others' encoder)" if config.lstm_crf_encoder == "shared" else "")))
    return out


def main() -> None:
    from mtlnotes.experiments.cli import run_cli

    run_cli(CHAPTER, {"quick": QUICK, "offline": OFFLINE, "paper": PAPER}, run, claims)


if __name__ == "__main__":
    main()
