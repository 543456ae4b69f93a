"""Locating and loading BFCL v4 data: the installed wheel (without importing it), a gorilla checkout, clear errors."""

import shutil
import subprocess
import sys

import pytest

from funrl_lib.bfcl.data import (AST_CATEGORIES, BFCLDataError, SUPPORTED_CATEGORIES, bfcl_data_version,
                                 find_data_dir, load_category)

# Entry counts of BFCL v4 (gorilla repo, ``berkeley-function-call-leaderboard/bfcl_eval/data/BFCL_v4_*.json``).
COUNTS = {"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "live_simple": 258,
          "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24, "irrelevance": 240,
          "live_irrelevance": 884, "live_relevance": 16}


def test_category_sizes_and_answers():
    for category in SUPPORTED_CATEGORIES:
        entries = load_category(category)
        assert len(entries) == COUNTS[category], category
        first = next(iter(entries.values()))
        assert first.functions and first.question
        assert (first.possible_answer is not None) == (category in AST_CATEGORIES)


def test_installed_wheel_is_found_without_importing_it():
    code = ("import sys; from funrl_lib.bfcl.data import find_data_dir, load_category; print(find_data_dir()); "
            "load_category('multiple'); assert 'bfcl_eval' not in sys.modules, 'bfcl_eval was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("bfcl_eval/data")
    assert bfcl_data_version() == "bfcl-eval==2026.3.23"


@pytest.fixture
def gorilla(tmp_path):
    """A gorilla checkout layout holding copies of two data files."""
    data = tmp_path / "gorilla" / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"
    data.mkdir(parents=True)
    for name in ("BFCL_v4_simple_python.json", "BFCL_v4_live_relevance.json"):
        shutil.copy(find_data_dir() / name, data / name)
    return tmp_path / "gorilla"


def test_data_dir_accepts_a_checkout_at_three_levels(gorilla, monkeypatch):
    data = gorilla / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"
    for given in (gorilla, gorilla / "berkeley-function-call-leaderboard", data):
        assert find_data_dir(given) == data
    monkeypatch.setenv("FUNRL_BFCL_DATA", str(gorilla))
    assert find_data_dir() == data
    assert bfcl_data_version(data) == f"data folder {data}"
    assert len(load_category("live_relevance", gorilla)) == 16


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(BFCLDataError, match=f"--data-dir={tmp_path}: no BFCL_v4_simple_python.json"):
        find_data_dir(tmp_path)
    monkeypatch.setenv("FUNRL_BFCL_DATA", str(tmp_path))
    with pytest.raises(BFCLDataError, match="FUNRL_BFCL_DATA="):
        find_data_dir()
    with pytest.raises(BFCLDataError, match="is not a single-turn category"):
        load_category("memory_kv")
    with pytest.raises(BFCLDataError, match="is multi-turn: load it with funrl_lib.bfcl.multi_turn.load_multi_turn"):
        load_category("multi_turn_base")
    with pytest.raises(BFCLDataError, match="unknown BFCL category 'simple'"):
        load_category("simple")


def test_missing_package_message():
    code = ("import importlib.util, sys; importlib.util.find_spec = lambda name, *a: None; "
            "from funrl_lib.bfcl.data import find_data_dir, BFCLDataError\n"
            "try:\n    find_data_dir()\nexcept BFCLDataError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert "pip install --no-deps bfcl-eval==2026.3.23" in out.stdout, out.stderr
