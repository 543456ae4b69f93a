"""Kill a synthesis command for real (SIGKILL, mid-run) and re-run it: the output must be byte-identical to an
uninterrupted run, with no sample lost or duplicated. The stage tests also cut files by hand at every position;
this test checks the same promise through the real commands, process death included."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses SIGKILL")


def funrl(*args, cwd):
    return [sys.executable, "-m", "funrl_lib", *args]


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def run_and_kill(cmd, out: Path, cwd: Path, at_lines: int) -> None:
    """Start ``cmd``, SIGKILL it once ``out`` holds ``at_lines`` lines; fail if it finished first."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while lines(out) < at_lines:
        if proc.poll() is not None:
            pytest.fail(f"{cmd[3]} finished before it could be killed; raise n")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{cmd[3]} wrote fewer than {at_lines} lines in 120 s")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def ids(path: Path) -> list:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_killed_commands_resume_to_identical_files(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir()
    cut.mkdir()
    n_apis, n_dialogs = "4000", "3000"

    # the API pool
    pool_cmd = ["pool", "--n", n_apis, "--seed", "3", "--out", "pool.jsonl"]
    subprocess.run(funrl(*pool_cmd, cwd=full), cwd=full, check=True, capture_output=True)
    run_and_kill(funrl(*pool_cmd, cwd=cut), cut / "pool.jsonl", cut, at_lines=500)
    assert 500 <= lines(cut / "pool.jsonl") < int(n_apis)
    subprocess.run(funrl(*pool_cmd, cwd=cut), cwd=cut, check=True, capture_output=True)
    assert (cut / "pool.jsonl").read_bytes() == (full / "pool.jsonl").read_bytes()

    # dialogs from it
    dlg_cmd = ["dialogs", "--pool", "pool.jsonl", "--n", n_dialogs, "--seed", "3", "--out", "dialogs.jsonl"]
    subprocess.run(funrl(*dlg_cmd, cwd=full), cwd=full, check=True, capture_output=True)
    run_and_kill(funrl(*dlg_cmd, cwd=cut), cut / "dialogs.jsonl", cut, at_lines=300)
    subprocess.run(funrl(*dlg_cmd, cwd=cut), cwd=cut, check=True, capture_output=True)
    assert (cut / "dialogs.jsonl").read_bytes() == (full / "dialogs.jsonl").read_bytes()
    got = ids(cut / "dialogs.jsonl")
    assert len(got) == len(set(got)) == int(n_dialogs)

    # verification of the dialogs
    ver_cmd = ["verify", "--in", "dialogs.jsonl", "--pool", "pool.jsonl", "--out", "kept.jsonl",
               "--rejected", "rejected.jsonl", "--report", "report.json"]
    subprocess.run(funrl(*ver_cmd, cwd=full), cwd=full, check=True, capture_output=True)
    run_and_kill(funrl(*ver_cmd, cwd=cut), cut / "kept.jsonl", cut, at_lines=300)
    subprocess.run(funrl(*ver_cmd, cwd=cut), cwd=cut, check=True, capture_output=True)
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (cut / name).read_bytes() == (full / name).read_bytes(), name
    decided = ids(cut / "kept.jsonl") + ids(cut / "rejected.jsonl")
    assert sorted(decided) == sorted(got)  # every dialog decided exactly once
    report_cut = json.loads((cut / "report.json").read_text())
    report_full = json.loads((full / "report.json").read_text())
    assert report_cut["totals"] == report_full["totals"] and report_cut["rules"] == report_full["rules"]
