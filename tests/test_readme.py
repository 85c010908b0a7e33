"""The README is what a newcomer follows word for word: its set-up and test commands are the ones CI runs, its data
advice holds from every working directory (tests/test_datapath.py), and its first CLI example is fast and leaves
the book's results files alone."""

from __future__ import annotations

import re
from pathlib import Path

import mtlnotes
from mtlnotes.experiments.catalog import CHAPTERS, last_wall_time

ROOT = Path(mtlnotes.__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci/run").read_text(encoding="utf-8")


def _blocks(text: str) -> list[list[str]]:
    return [[line for line in block.splitlines() if line.strip()]
            for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def _ci_block(tag: str) -> str:
    return re.search(rf"^# {tag}\b.*\n(.+)$", CI, flags=re.M).group(1).strip()


def test_two_readme_commands_are_ci_set_up_and_test_commands():
    first = _blocks(README)[0]
    assert first == [_ci_block("setup-command"), _ci_block("test-command")]


def test_setup_pins_torch_into_a_virtual_environment_and_the_readme_says_how_to_get_the_cpu_build():
    setup = _ci_block("setup-command")
    assert "python3 -m venv .venv" in setup and ". .venv/bin/activate" in setup
    # torch pinned first (an unpinned torch pulls CUDA packages); the CPU index is named in prose only, since
    # its host is unreachable from the workspace and CI, where the local wheel folder serves the CPU build
    assert re.search(r"pip install torch==\S+ && pip install -e", setup)
    assert "--index-url https://download.pytorch.org/whl/cpu" in README
    assert "MTLNOTES_DATA" not in setup  # the default finds ../shared/data


def test_first_cli_example_is_fast_and_writes_no_results_file_of_the_book():
    commands = [c for block in _blocks(README) for c in block if "mtlnotes.experiments." in c]
    module, profile = re.search(r"-m mtlnotes\.experiments\.(\w+) --profile (\S+)", commands[0]).groups()
    assert module in CHAPTERS and profile in CHAPTERS[module].profiles
    assert "--out" not in commands[0]
    wall = last_wall_time(module, profile)
    # its last stored run, written on a shared machine under whatever load there was: hold it to the 5 minutes
    # CONTRIBUTING promises for any quick profile (on idle cores it takes about a minute)
    assert wall is not None and wall < 300, wall
