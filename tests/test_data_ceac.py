"""CEAC reader (mtlnotes.data.ceac): tag parsing, the paper's filtering, Table 1 statistics, splits."""

from __future__ import annotations

import numpy as np
import pytest

from mtlnotes.data.cache import ChecksumError, DataMissingError
from mtlnotes.data.ceac import (CEAC_FILE, CEACFormatError, ceac_splits, ceac_statistics, load_ceac, parse_line,
                                read_ceac)

LINE = "短短24小时，<cause id=1 type=v>发生事故</cause>，<cause id=2 type=n>生命</cause>令<experiencer>人</experiencer><keyword>悲痛</keyword>，"


def test_parse_line_offsets_and_text():
    p = parse_line(LINE, 7)
    assert p.text == "短短24小时，发生事故，生命令人悲痛，"
    assert p.causes == ((7, 10), (12, 13))
    assert p.phrases("causes") == ["发生事故", "生命"]
    assert p.phrases("experiencers") == ["人"] and p.phrases("keywords") == ["悲痛"]
    assert p.cause_ids == (1, 2) and p.line == 7


def test_overlapping_tags_of_different_kinds():
    # as on line 61 of 3000s.txt: <keyword> opens inside <experiencer> and closes after it
    p = parse_line("<cause id=1 type=v>噩耗</cause>，<experiencer>人民<keyword></experiencer>悲痛</keyword>万分")
    assert p.text == "噩耗，人民悲痛万分"
    assert p.phrases("experiencers") == ["人民"] and p.phrases("keywords") == ["悲痛"]


def test_misspelt_keyword_tag_and_actions():
    p = parse_line("<experiencer>他</experiencer><keyord>哭</keyord>，<action id=1>走了</action>")
    assert p.phrases("keywords") == ["哭"] and p.phrases("actions") == ["走了"]


@pytest.mark.parametrize("line, expected", [
    ("<cause id=1 type=v>abc", "never closed"),
    ("abc</cause>", "not open"),
    ("<cause type=v>x</cause>", "expected <cause id=N"),
    ("<reason>x</reason>", "unknown tag"),
    ("<experiencer><experiencer>x</experiencer></experiencer>", "while another"),
    ("<experiencer></experiencer>", "empty"),
])
def test_malformed_lines_name_line_and_expectation(line, expected):
    with pytest.raises(CEACFormatError, match=expected) as info:
        parse_line(line, 12)
    assert "line 12" in str(info.value)


def test_read_filters_like_the_paper_and_reports_line_numbers(tmp_path):
    f = tmp_path / "3000s.txt"
    f.write_bytes((LINE + "\r\n" + "没有原因的<experiencer>我</experiencer>\r\n" + LINE + "\r\n").encode("utf-8"))
    assert len(read_ceac(f)) == 2
    assert len(read_ceac(f, require_cause_and_experiencer=False)) == 3
    assert [p.line for p in read_ceac(f)] == [1, 3]
    f.write_bytes((LINE + "\r\n<cause id=1 type=v>x\r\n").encode("utf-8"))
    with pytest.raises(CEACFormatError, match="line 2"):
        read_ceac(f)


def test_statistics_by_hand():
    ps = [parse_line(LINE), parse_line("<experiencer>我们</experiencer>因<cause id=1 type=n>他</cause>哭")]
    st = ceac_statistics(ps)
    assert st["instances"] == 2 and st["multiple_causes"] == 1 and st["multiple_experiencers"] == 0
    assert st["avg_cause_length"] == pytest.approx((4 + 2 + 1) / 3)
    assert st["avg_experiencer_length"] == pytest.approx(1.5)
    assert st["avg_text_length"] == pytest.approx((len(ps[0].text) + 5) / 2)


def test_splits_are_deterministic_disjoint_and_ninety_ten():
    splits = ceac_splits(2929, 10)
    assert len(splits) == 10
    for train, test in splits:
        assert len(test) == 293 and len(train) == 2636
        assert not set(train) & set(test) and len(set(train) | set(test)) == 2929
    again = ceac_splits(2929, 3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))
    assert not np.array_equal(splits[0][1], splits[1][1])
    with pytest.raises(ValueError, match="test_fraction"):
        ceac_splits(10, test_fraction=1.5)


def test_missing_or_corrupt_file_errors(tmp_path):
    with pytest.raises(DataMissingError, match="3000s.txt"):
        load_ceac(tmp_path)
    bad = tmp_path / CEAC_FILE.dataset / CEAC_FILE.filename
    bad.parent.mkdir(parents=True)
    bad.write_text(LINE, encoding="utf-8")
    with pytest.raises(ChecksumError, match="sha256"):
        load_ceac(tmp_path)


def test_real_corpus_matches_table1():
    from mtlnotes.data.cache import cache_dir

    if not (cache_dir() / CEAC_FILE.dataset / CEAC_FILE.filename).exists():
        pytest.skip("CEAC 3000s.txt not in MTLNOTES_DATA")
    ps = load_ceac()
    st = ceac_statistics(ps)
    # paper (Table 1): 2915 / 515 / 6 / 88.08; the file gives these with the paper's stated filter
    assert (st["instances"], st["multiple_causes"], st["multiple_experiencers"]) == (2929, 516, 6)
    assert st["avg_text_length"] == pytest.approx(88.07, abs=0.01)
    assert len(load_ceac(require_cause_and_experiencer=False)) == 3000
