"""GLUE loader (mtlnotes.data.glue) on tiny fixtures written in the official TSV / zip layout under tmp_path."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

import mtlnotes.data.glue as glue
from mtlnotes.data import ChecksumError, DataMissingError, RemoteFile
from mtlnotes.data.glue import GLUE_TASKS, GlueFormatError, glue_score, load_glue, parse_glue_tsv

MNLI_HEAD = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
             "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")

# task -> (archive, member dir, {split file: text})
FIXTURES = {
    "CoLA": ("CoLA.zip", "CoLA", {
        "train": "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n"
                 "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n",
        "dev": "gj04\t0\t*\tHe \"left.\nbc01\t1\t\tThe book was read.\n"}),
    "SST-2": ("SST-2.zip", "SST-2", {
        "train": "sentence\tlabel\nhide new secretions \t0\nthe greatest musicians \t1\n",
        "dev": "sentence\tlabel\nit 's a charming journey . \t1\n"}),
    "RTE": ("RTE.zip", "RTE", {
        "train": "index\tsentence1\tsentence2\tlabel\n0\tNo weapons found.\tWeapons found.\tnot_entailment\n"
                 "1\tA cat sat.\tAn animal sat.\tentailment\n",
        "dev": "index\tsentence1\tsentence2\tlabel\n0\tIt rains.\tIt is wet.\tentailment\n"}),
    "QNLI": ("QNLIv2.zip", "QNLI", {
        "train": "index\tquestion\tsentence\tlabel\n0\tWho?\tHe did.\tentailment\n",
        "dev": "index\tquestion\tsentence\tlabel\n0\tWhen?\tIn blue.\tnot_entailment\n"}),
    "QQP": ("QQP.zip", "QQP", {
        "train": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tHow?\tHow so?\t1\n2\t3\t4\tA?\tB?\t0\n",
        "dev": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n5\t9\t10\tX?\tY?\t0\n"}),
    "STS-B": ("STS-B.zip", "STS-B", {
        "train": "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                 "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane takes off.\tA plane is taking off.\t5.000\n"
                 "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man plays.\tA man sings.\t1.5\n",
        "dev": "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
               "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man.\tA man.\t5.0\n"
               "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA dog.\tA cat runs.\t0.5\n"
               "2\tmain-captions\tMSRvid\t2012test\t0003\tnone\tnone\tTwo men.\tMen.\t3.2\n"}),
    "MNLI": ("MNLI.zip", "MNLI", {
        "train": MNLI_HEAD + "\n0\t1\t1e\tgov\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tConceptually cream.\tProduct.\t"
                 "neutral\tneutral\n1\t2\t2c\tfiction\t( c )\t( d )\t(ROOT c)\t(ROOT d)\tYou know.\tNo.\tcontradiction\t"
                 "contradiction\n",
        "dev_matched": MNLI_HEAD + "\n0\t3\t3e\tgov\t( e )\t( f )\t(ROOT e)\t(ROOT f)\tA.\tA too.\tentailment\t"
                       "entailment\n"}),
}
MRPC_TRAIN = ("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
              "1\t702876\t702977\tAmrozi accused his brother.\tReferring to him, Amrozi accused.\n"
              "0\t2108705\t2108831\tYucaipa owned Dominick's.\tYucaipa bought Dominick's.\n"
              "1\t1330381\t1330521\tThey had published.\tThey published.\n")
MRPC_DEV_IDS = "2108705\t2108831\n"


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def glue_root(tmp_path, monkeypatch):
    """A cache with every GLUE file in the official layout; GLUE_FILES patched to the fixtures' checksums."""
    d = tmp_path / "glue"
    d.mkdir()
    files = {}
    for task, (archive, member, splits) in FIXTURES.items():
        with zipfile.ZipFile(d / archive, "w") as zf:
            for split, text in splits.items():
                zf.writestr(f"{member}/{split}.tsv", text)
        files[archive] = d / archive
    (d / "msr_paraphrase_train.txt").write_text(MRPC_TRAIN, encoding="utf-8")
    (d / "mrpc_dev_ids.tsv").write_text(MRPC_DEV_IDS)
    files["msr_paraphrase_train.txt"] = d / "msr_paraphrase_train.txt"
    files["mrpc_dev_ids.tsv"] = d / "mrpc_dev_ids.tsv"
    patched = {name: RemoteFile("glue", name, (), sha256=_sha(p)) for name, p in files.items()}
    monkeypatch.setattr(glue, "GLUE_FILES", patched)
    return tmp_path


def test_every_task_loads_train_and_dev(glue_root):
    expect_train = {"CoLA": [1, 0, 1], "SST-2": [0, 1], "RTE": [1, 0], "QNLI": [0], "QQP": [1, 0],
                    "MNLI": [2, 0], "MRPC": [1, 1]}
    for task, labels in expect_train.items():
        ex = load_glue(task, "train", glue_root)
        assert ex.labels.tolist() == labels, task
        assert (ex.text_b is None) == (GLUE_TASKS[task].text_b is None)
    sts = load_glue("STS-B", "train", glue_root)
    assert sts.labels.dtype == np.float32 and sts.labels.tolist() == [5.0, 1.5]
    assert sts.text_a[0] == "A plane takes off." and sts.text_b[1] == "A man sings."
    cola_dev = load_glue("CoLA", "dev", glue_root)
    assert cola_dev.text_a == ['He "left.', "The book was read."]   # stray quotes kept verbatim
    assert load_glue("MNLI", "dev", glue_root).labels.tolist() == [1]
    mrpc_dev = load_glue("MRPC", "dev", glue_root)
    assert mrpc_dev.labels.tolist() == [0] and mrpc_dev.text_a == ["Yucaipa owned Dominick's."]
    assert load_glue("MRPC", "train", glue_root).ids == [("702876", "702977"), ("1330381", "1330521")]


def test_missing_and_corrupt_files_give_clear_errors(tmp_path, glue_root):
    with pytest.raises(DataMissingError, match=r"glue/RTE.zip.*sha256 6bf86de1"):
        glue.fetch(glue.RemoteFile("glue", "RTE.zip", (), sha256="6bf86de1" + "0" * 56), tmp_path / "empty", False)
    (glue_root / "glue" / "RTE.zip").write_bytes(b"not a zip")
    with pytest.raises(ChecksumError, match="RTE.zip"):
        load_glue("RTE", "train", glue_root)


def test_real_checksum_table_names_official_files():
    real = glue.GLUE_FILES  # the fixture's monkeypatch is undone after each test
    assert real["CoLA.zip"].sha256 == "f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff"
    assert real["CoLA.zip"].size == 376971 and "gluebenchmark" in real["CoLA.zip"].how_to_get


def test_format_errors():
    with pytest.raises(GlueFormatError, match="column 'label' missing"):
        parse_glue_tsv("RTE", "index\tsentence1\tsentence2\n0\ta\tb\n", "RTE/train.tsv")
    with pytest.raises(GlueFormatError, match=r"line 2: label 'maybe'"):
        parse_glue_tsv("RTE", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(GlueFormatError, match="line 1: 2 fields"):
        parse_glue_tsv("CoLA", "gj04\t1\n")
    with pytest.raises(GlueFormatError, match="not a number"):
        parse_glue_tsv("STS-B", FIXTURES["STS-B"][2]["dev"].replace("5.0", "high"))
    with pytest.raises(ValueError, match="unknown GLUE task 'WNLI2'"):
        parse_glue_tsv("WNLI2", "x")
    with pytest.raises(ValueError, match="split must be"):
        load_glue("RTE", "test")


def test_glue_scores_against_hand_values():
    y = np.array([1, 1, 0, 0])
    p = np.array([1, 0, 0, 0])
    assert glue_score("RTE", p, y) == pytest.approx(75.0)
    # MRPC: acc 0.75, F1 = 2 * 1 * 0.5 / 1.5 = 2/3
    assert glue_score("MRPC", p, y) == pytest.approx(100 * (0.75 + 2 / 3) / 2)
    # CoLA: MCC = (1*2 - 0*1) / sqrt(1 * 3 * 2 * 2)
    assert glue_score("CoLA", p, y) == pytest.approx(100 * 2 / np.sqrt(12))
    s = np.array([0.0, 1.0, 2.0, 4.0])
    assert glue_score("STS-B", s, 2 * s + 1) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="equal non-empty"):
        glue_score("RTE", p, y[:3])


def test_test_files_keep_the_glue_index_and_submissions_use_the_label_strings(tmp_path):
    from mtlnotes.data.glue_test import parse_glue_test_tsv, write_glue_submission
    qqp = parse_glue_test_tsv("QQP", "test", "id\tquestion1\tquestion2\n11\tA?\tB?\n12\tC?\tD?\n", "QQP/test.tsv")
    assert qqp.index == ["11", "12"] and qqp.text_b == ["B?", "D?"]
    mnli = parse_glue_test_tsv("MNLI", "test_mismatched", "index\tsentence1\tsentence2\n5\tA.\tB.\n")
    mrpc = parse_glue_test_tsv("MRPC", "test", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n")
    assert mrpc.index == ["0"]  # the GLUE script numbers MRPC's test rows
    paths = write_glue_submission({("QQP", "test"): np.array([1, 0]), ("MNLI", "test_mismatched"): np.array([2])},
                                  {("QQP", "test"): qqp, ("MNLI", "test_mismatched"): mnli}, tmp_path)
    assert [p.name for p in paths] == ["QQP.tsv", "MNLI-mm.tsv"]
    assert (tmp_path / "QQP.tsv").read_text() == "index\tprediction\n11\t1\n12\t0\n"
    assert (tmp_path / "MNLI-mm.tsv").read_text() == "index\tprediction\n5\tneutral\n"
    with pytest.raises(ValueError, match="2 predictions for 1 test rows"):
        write_glue_submission({("MNLI", "test_mismatched"): np.array([0, 1])}, {("MNLI", "test_mismatched"): mnli},
                              tmp_path)
    with pytest.raises(GlueFormatError, match="column 'question2' missing"):
        parse_glue_test_tsv("QQP", "test", "id\tquestion1\n1\tA?\n")
