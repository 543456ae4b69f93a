"""The `funrl` command: `bfcl score` (verdicts per line, messages naming lines, official agreement), info, decode;
Unsloth imported before trl/transformers/peft by every command that trains."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from funrl_lib.bfcl.data import load_category
from funrl_lib.bfcl.mutations import mutations

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_parity"


def funrl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "funrl_lib", *args], capture_output=True, text=True, cwd=cwd)


def test_console_script_and_version():
    exe = shutil.which("funrl") or str(Path(sys.executable).parent / "funrl")
    assert os.path.exists(exe), "the `funrl` console script is not installed (pip install -e .)"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("funrl ")


def test_score_writes_one_verdict_per_line_and_names_bad_lines(tmp_path):
    entries = list(load_category("simple_python").values())
    gold = dict(mutations(entries[0]))["gold"]
    fenced = dict(mutations(entries[1]))["code_fence_python"]
    lines = [json.dumps({"id": entries[0].id, "result": gold}),
             json.dumps({"id": entries[1].id, "result": fenced}),
             '{"id": "simple_python_2", "result": ',                      # line 3: not JSON
             json.dumps({"id": "simple_python_9999", "result": gold}),    # line 4: unknown id
             "",                                                           # blank: skipped
             json.dumps({"id": entries[0].id, "result": "[]"}),            # line 6: duplicate
             json.dumps({"result": gold}),                                 # line 7: no id
             json.dumps({"id": entries[2].id, "result": "[wrong_function(x=1)]"})]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(lines) + "\n")
    out = funrl("bfcl", "score", "--category", "simple_python", "--results", str(results), "--out",
                str(tmp_path / "v.jsonl"))
    assert out.returncode == 1, out.stderr
    verdicts = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [v["id"] for v in verdicts] == [entries[0].id, entries[1].id, None, "simple_python_9999", entries[0].id,
                                           None, entries[2].id]
    assert [v["valid"] for v in verdicts] == [True] + [False] * 6
    assert [v["error_type"] for v in verdicts] == [
        None, "ast_decoder:decoder_failed", "funrl:malformed_line", "funrl:unknown_id", "funrl:duplicate_id",
        "funrl:malformed_line", "simple_function_checker:wrong_func_name"]
    for lineno in (3, 4, 6, 7):
        assert f"{results}:{lineno}: " in out.stderr
    assert "already scored at line 1" in out.stderr
    assert "simple_python: 1/3 correct, accuracy 0.3333 (3 of 400 entries scored; 397 entries have no result " \
           "line)" in out.stdout


def test_score_agrees_with_official_verdicts_on_a_full_category(tmp_path):
    """A full result file (a different mutation per entry) scored by the CLI: each verdict equals the official one
    recorded in the parity fixture, and so does the accuracy."""
    with gzip.open(FIXTURES / "live_multiple.jsonl.gz", "rt") as f:
        header = json.loads(f.readline())
        rows = [json.loads(line) for line in f]
    entries = load_category("live_multiple")
    table = [None] + header["error_types"]
    expected, lines = [], []
    for i, row in enumerate(rows):
        items = mutations(entries[row["id"]])
        k = (7 * i) % len(items)
        lines.append(json.dumps({"id": row["id"], "result": items[k][1]}))
        expected.append({"id": row["id"], "valid": row["v"][k] == 0, "error_type": table[row["v"][k]]})
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    out = funrl("bfcl", "score", "--category", "live_multiple", "--results", str(tmp_path / "r.jsonl"), "--out",
                str(tmp_path / "v.jsonl"))
    assert out.returncode == 0, out.stderr
    got = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [{k: v[k] for k in ("id", "valid", "error_type")} for v in got] == expected
    correct = sum(e["valid"] for e in expected)
    assert f"live_multiple: {correct}/1053 correct, accuracy {correct / 1053:.4f}" in out.stdout
    assert 0 < correct < 1053


def test_score_strip_think_and_errors(tmp_path):
    entry = next(iter(load_category("multiple").values()))
    gold = dict(mutations(entry))["gold"]
    (tmp_path / "r.jsonl").write_text(json.dumps({"id": entry.id, "result": f"<think>hm</think>\n{gold}"}) + "\n")
    raw = funrl("bfcl", "score", "--category", "multiple", "--results", str(tmp_path / "r.jsonl"))
    stripped = funrl("bfcl", "score", "--category", "multiple", "--results", str(tmp_path / "r.jsonl"),
                     "--strip-think")
    assert "0/1 correct" in raw.stdout and "1/1 correct" in stripped.stdout
    missing = funrl("bfcl", "score", "--category", "multiple", "--results", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "nope.jsonl: file not found" in missing.stderr
    bad_dir = funrl("bfcl", "score", "--category", "multiple", "--results", str(tmp_path / "r.jsonl"), "--data-dir",
                    str(tmp_path))
    assert bad_dir.returncode == 2 and "--data-dir" in bad_dir.stderr
    other = funrl("bfcl", "score", "--category", "format_sensitivity", "--results", str(tmp_path / "r.jsonl"))
    assert other.returncode == 2 and "is not a single-turn category" in other.stderr
    multi = funrl("bfcl", "score", "--category", "multi_turn_base", "--results", str(tmp_path / "r.jsonl"))
    assert multi.returncode == 1 and "r.jsonl:1:" in multi.stderr and "multi_turn_base: 0/0" in multi.stdout


def test_info_and_decode():
    info = funrl("bfcl", "info")
    assert info.returncode == 0 and "live_multiple" in info.stdout and "1053 entries" in info.stdout
    out = funrl("decode", "[Market Trends API(country='us')]", "--known-name", "Market Trends API")
    assert json.loads(out.stdout) == [{"name": "Market Trends API", "arguments": {"country": "us"}}]
    bad = funrl("decode", "Sure: [f(a=1)]")
    assert bad.returncode == 1 and "cannot decode" in bad.stderr


# ---------------------------------------------------------------------------------------------------------------
# model.backend unsloth: every entry point that trains imports Unsloth before trl / transformers / peft
# ---------------------------------------------------------------------------------------------------------------

UNSLOTH_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "qwen2.5-coder-7b-unsloth.yaml"

# A stand-in `unsloth` package: it records which of the packages Unsloth patches were already imported, then ends
# the process with a code of its own, so nothing loads or trains.
STANDIN = """
import json, os, sys
patched = ("trl", "transformers", "peft")
early = sorted({n.partition(".")[0] for n in list(sys.modules) if n.partition(".")[0] in patched})
with open(os.environ["FUNRL_UNSLOTH_RECORD"], "w") as f:
    json.dump({"early": early}, f)
sys.stdout.flush()
sys.stderr.flush()
os._exit(97)
"""


def _with_standin_unsloth(tmp_path, argv):
    fake = tmp_path / "fake-site"
    (fake / "unsloth").mkdir(parents=True)
    (fake / "unsloth" / "__init__.py").write_text(STANDIN)
    record = tmp_path / "unsloth-record.json"
    env = {**os.environ, "FUNRL_UNSLOTH_RECORD": str(record),
           "PYTHONPATH": os.pathsep.join(p for p in (str(fake), os.environ.get("PYTHONPATH")) if p)}
    r = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 97 and record.exists(), f"unsloth was never imported (exit {r.returncode}):\n{r.stderr}"
    return json.loads(record.read_text())["early"]


@pytest.mark.parametrize("command", [
    ["sft", "--output-dir", "{tmp}/run"],
    ["train", "--output-dir", "{tmp}/run"],
    ["train", "--mode", "grpo", "--output-dir", "{tmp}/run"],
    ["demo", "--out", "{tmp}/demo"],
    ["study", "--seeds", "0", "--out", "{tmp}/study"],
])
def test_unsloth_is_imported_before_trl_transformers_and_peft(tmp_path, command):
    argv = ["-m", "funrl_lib", *(a.format(tmp=tmp_path) for a in command), "--config", str(UNSLOTH_CONFIG),
            "--set", "report_to=[none]"]
    assert _with_standin_unsloth(tmp_path, argv) == []


def test_the_standin_sees_a_late_unsloth_import(tmp_path):
    """The check above can fail: transformers imported first is what the stand-in records."""
    code = ("import sys, transformers\nfrom funrl_lib.cli import main\n"
            f"sys.exit(main(['sft', '--config', {str(UNSLOTH_CONFIG)!r}, '--output-dir', {str(tmp_path / 'run')!r}, "
            "'--set', 'report_to=[none]']))")
    assert _with_standin_unsloth(tmp_path, ["-c", code]) == ["transformers"]


def test_unsloth_backend_without_unsloth_is_a_clear_error(tmp_path):
    import importlib.util
    if importlib.util.find_spec("unsloth") is not None:
        pytest.skip("unsloth is installed here")
    for command in (["sft", "--output-dir", str(tmp_path / "run")], ["demo", "--out", str(tmp_path / "demo")]):
        r = funrl(*command, "--config", str(UNSLOTH_CONFIG), "--set", "report_to=[none]")
        assert r.returncode == 2 and "needs Unsloth" in r.stderr and "requirements-gpu.txt" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
