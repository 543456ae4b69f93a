"""Bad inputs (issue 17): each repro of the issue as a regression test.

Pool records' sizes are bounded at load; every command that reads JSONL turns a bad line (not UTF-8, not JSON, an
integer of 5,000 digits) into a ``FILE:LINE`` error and keeps it in ``<out>.quarantine.jsonl``; no command writes
over a file that is not its own output; empty, wrong-kind and all-failed inputs exit non-zero, and an API key never
reaches stderr or a file. (Tool-definition regexes: test_patterns.py; configs: test_config_checks.py; the backend's
secrets: test_backends.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funrl_lib.bfcl.checker import gold_calls
from funrl_lib.bfcl.data import load_category
from funrl_lib.calls import render_calls
from funrl_lib.cli import main
from funrl_lib.synth.api_pool import ApiRecord, PoolError, build_pool, load_pool
from funrl_lib.synth.io import InputError, JsonlAppender, Quarantine, check_own_output, read_records

from loopback_server import LoopbackServer, ok, status

KEY = "sk-test-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"


def leaks(text: str, secret: str = KEY) -> bool:
    """Whether any 8-character piece of ``secret`` is in ``text``."""
    return any(secret[i:i + 8] in text for i in range(len(secret) - 7))


@pytest.fixture(scope="module")
def pool() -> list[ApiRecord]:
    return build_pool(40, seed=0, progress=False)


@pytest.fixture
def pool_file(pool, tmp_path) -> Path:
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in pool), encoding="utf-8")
    return path


def quarantined(out: Path) -> list[dict]:
    q = Path(str(out) + ".quarantine.jsonl")
    return [json.loads(line) for line in q.read_text(encoding="utf-8").splitlines()] if q.exists() else []


# ---------------------------------------------------------------------------------------------------------------
# 2. Sizes in pool records are bounded and checked at load
# ---------------------------------------------------------------------------------------------------------------

def _with_list_size(pool_file: Path, k: int, size) -> None:
    lines = pool_file.read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[k])
    rec["impl"]["list_size"] = size
    lines[k] = json.dumps(rec)
    pool_file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_huge_list_size_is_refused_at_load_naming_file_line_and_field(pool_file):
    _with_list_size(pool_file, 1, [50000000, 50000000])
    with pytest.raises(PoolError, match=rf"{pool_file}:2: field 'impl.list_size': expected \[lo, hi\] integers "
                                        r"with 0 <= lo <= hi <= 100, got \[50000000, 50000000\]"):
        load_pool(pool_file)
    for size in ([3, 1], [-1, 2], [1], "big", [1.5, 2], [True, 2]):
        _with_list_size(pool_file, 1, size)
        with pytest.raises(PoolError, match="impl.list_size"):
            load_pool(pool_file)


def test_dialogs_skip_and_quarantine_a_pool_record_with_a_huge_list_size(pool_file, tmp_path, capsys):
    """The repro: `funrl dialogs --n 3` on such a pool ran for more than 2 minutes and used more than 850 MB."""
    _with_list_size(pool_file, 0, [50000000, 50000000])
    out = tmp_path / "d.jsonl"
    assert main(["dialogs", "--pool", str(pool_file), "--n", "3", "--out", str(out), "--no-progress"]) == 0
    assert f"{pool_file}:1: field 'impl.list_size'" in capsys.readouterr().err
    [q] = quarantined(out)
    assert (q["file"], q["line"], q["stage"]) == (str(pool_file), 1, "input")
    assert q["error"].startswith("field 'impl.list_size'") and q["text"].startswith('{"id": "api-000000"')
    assert len(out.read_text().splitlines()) == 3


def test_nesting_of_a_pool_record_is_bounded(pool_file):
    lines = pool_file.read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[0])
    deep: dict = {"type": "dict", "properties": {}}
    for _ in range(40):
        deep = {"type": "dict", "properties": {"x": deep}}
    rec["returns"]["properties"]["deep"] = deep
    lines[0] = json.dumps(rec)
    pool_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PoolError, match=rf"{pool_file}:1: field 'returns': nested deeper than 32"):
        load_pool(pool_file)



# ---------------------------------------------------------------------------------------------------------------
# 3. Bad lines: FILE:LINE errors, one quarantine convention
# ---------------------------------------------------------------------------------------------------------------

HUGE_INT = b'{"id": "x", "n": ' + b"1" * 5000 + b"}"
NOT_UTF8 = b'{"id": "caf\xe9"}'


def test_read_records_turns_each_bad_line_into_a_file_line_error(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_bytes(b'{"a": 1}\n' + NOT_UTF8 + b"\n" + HUGE_INT + b"\n" + b"[" * 100000 + b"\n{broken\n{\"b\": 2}\n")
    recs = list(read_records(p))
    assert [r.value for r in recs if r.error is None] == [{"a": 1}, {"b": 2}]
    errors = {r.line: str(r.error) for r in recs if r.error is not None}
    assert errors[2] == f"{p}:2: not UTF-8 text (invalid continuation byte at column 12)"
    assert errors[3].startswith(f"{p}:3: not readable JSON (Exceeds the limit (4300 digits)")
    assert errors[4] == f"{p}:4: not readable JSON (nested too deeply)"
    assert errors[5].startswith(f"{p}:5: not valid JSON")
    assert [r.raw for r in recs if r.line == 2] == ['{"id": "caf\\xe9"}']


def _bfcl_results(tmp_path: Path, extra: list[bytes]) -> tuple[Path, list]:
    entries = list(load_category("simple_python").values())[:4]
    lines = [json.dumps({"id": e.id, "result": render_calls(gold_calls(e.possible_answer))}).encode()
             for e in entries]
    path = tmp_path / "res" / "m" / "non_live" / "BFCL_v4_simple_python_result.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join(lines[:2] + extra + lines[2:]) + b"\n")
    return path, entries


def test_bfcl_evaluate_scores_the_good_lines_and_quarantines_the_bad_ones(tmp_path, capsys):
    """The repro: one line with a non-UTF-8 byte, or an integer of more than 4,300 digits, made `funrl bfcl
    evaluate` die with a raw traceback and write nothing."""
    path, _ = _bfcl_results(tmp_path, [NOT_UTF8, b'{"id": "simple_python_9", "result": ' + b"1" * 5000 + b"}"])
    out = tmp_path / "out"
    assert main(["bfcl", "evaluate", "--results", str(tmp_path / "res"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"{path}:3: not UTF-8 text (byte 0xe9 at column 12)" in captured.err
    assert f"{path}:4: not readable JSON (Exceeds the limit (4300 digits)" in captured.err
    row = json.loads((out / "summary.json").read_text())["categories"]["simple_python"]
    assert (row["correct"], row["total"], row["unscored_lines"]) == (4, 4, 2)
    q = quarantined(out)
    assert [(r["file"], r["line"]) for r in q] == [(str(path), 3), (str(path), 4)]
    assert q[0]["text"] == '{"id": "caf\\xe9"}' and q[0]["error"].startswith("not UTF-8 text")
    assert q[1]["text"].endswith("... [3037 more characters]") and len(q[1]["text"]) < 2100  # bounded
    assert "quarantined: 2" in captured.out
    # run again: the same outputs, nothing quarantined twice
    before = (out / "summary.json").read_bytes()
    assert main(["bfcl", "evaluate", "--results", str(tmp_path / "res"), "--out", str(out)]) == 0
    assert (out / "summary.json").read_bytes() == before and len(quarantined(out)) == 2


def test_bfcl_evaluate_exits_2_when_no_line_can_be_scored(tmp_path, capsys):
    path = tmp_path / "res" / "m" / "non_live" / "BFCL_v4_simple_python_result.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(NOT_UTF8 + b"\n")
    assert main(["bfcl", "evaluate", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "o")]) == 2
    assert "no result line could be scored" in capsys.readouterr().err
    path.write_bytes(b"")
    assert main(["bfcl", "evaluate", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "o2")]) == 2


def test_bfcl_score_quarantines_beside_its_verdicts_and_refuses_an_empty_file(tmp_path, capsys):
    path, _ = _bfcl_results(tmp_path, [NOT_UTF8])
    out = tmp_path / "verdicts.jsonl"
    assert main(["bfcl", "score", "--category", "simple_python", "--results", str(path), "--out", str(out)]) == 1
    assert f"{path}:3: not UTF-8 text" in capsys.readouterr().err
    assert [(r["line"], r["text"]) for r in quarantined(out)] == [(3, '{"id": "caf\\xe9"}')]
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert main(["bfcl", "score", "--category", "simple_python", "--results", str(empty)]) == 2
    assert "no result lines" in capsys.readouterr().err


def test_bfcl_generate_quarantines_the_lines_it_drops_from_a_result_file(tmp_path):
    from funrl_lib.bfcl.generate import prepare_result_file

    path = tmp_path / "BFCL_v4_simple_python_result.json"
    path.write_bytes(b'{"id": "a", "result": "x"}\n' + NOT_UTF8 + b"\n[1, 2]\n" + HUGE_INT + b'\n{"id": "b", "res')
    done, notes = prepare_result_file(path)
    assert done == {"a"} and len(notes) == 4 and f"{path}:2: not UTF-8 text" in notes[0]
    assert path.read_text() == '{"id": "a", "result": "x"}\n'
    assert [(r["line"], r["error"][:14]) for r in quarantined(path)] == [
        (2, "not UTF-8 text"), (3, 'not an {"id", '), (4, "not readable J")]  # not the torn last line


def _samples_file(tmp_path: Path, extra: list[bytes]) -> Path:
    good = {"id": "s1", "tools": [], "messages": [{"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "Hello! How can I help?"}]}
    path = tmp_path / "in.jsonl"
    path.write_bytes(json.dumps(good).encode() + b"\n" + b"\n".join(extra) + b"\n")
    return path


def test_export_quarantines_bad_lines(tmp_path, capsys):
    """The repro: `funrl export` printed bad lines but kept no quarantine file."""
    src = _samples_file(tmp_path, [NOT_UTF8, b"{broken", HUGE_INT])
    out = tmp_path / "trl.jsonl"
    assert main(["export", "--in", str(src), "--to", "trl", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:2: not UTF-8" in err and f"{src}:3: not valid JSON" in err and f"{src}:4: not readable" in err
    assert [r["line"] for r in quarantined(out)] == [2, 3, 4]
    assert len(out.read_text().splitlines()) == 1


def test_export_exits_2_on_an_empty_or_wrong_kind_input_and_writes_nothing(tmp_path, pool_file, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "out.jsonl"
    assert main(["export", "--in", str(empty), "--to", "trl", "--out", str(out)]) == 2
    assert "the input is empty" in capsys.readouterr().err and not out.exists()
    assert main(["export", "--in", str(pool_file), "--to", "trl", "--out", str(out)]) == 2
    assert "none of its 40 records is a sample" in capsys.readouterr().err and not out.exists()


def test_dialogs_quarantine_unreadable_pool_lines(pool_file, tmp_path, capsys):
    """The repro: `funrl dialogs` printed bad lines but kept no quarantine file."""
    data = pool_file.read_bytes().split(b"\n")
    data[2], data[4] = NOT_UTF8, HUGE_INT
    pool_file.write_bytes(b"\n".join(data))
    out = tmp_path / "d.jsonl"
    assert main(["dialogs", "--pool", str(pool_file), "--n", "4", "--out", str(out), "--no-progress"]) == 0
    assert f"{pool_file}:3: not UTF-8" in capsys.readouterr().err
    q = quarantined(out)
    assert [(r["line"], r["error"].split(" (")[0]) for r in q] == [(3, "not UTF-8 text"), (5, "not readable JSON")]
    assert main(["dialogs", "--pool", str(pool_file), "--n", "4", "--out", str(out), "--no-progress"]) == 0
    assert quarantined(out) == q  # a re-run quarantines nothing twice


def test_verify_quarantines_bad_lines_as_well_as_rejecting_them(tmp_path, capsys):
    src = _samples_file(tmp_path, [NOT_UTF8])
    out = tmp_path / "kept.jsonl"
    assert main(["verify", "--in", str(src), "--out", str(out), "--rejected", str(tmp_path / "rej.jsonl"),
                 "--report", str(tmp_path / "r.json"), "--no-progress"]) == 0
    [q] = quarantined(out)
    assert (q["line"], q["text"]) == (2, '{"id": "caf\\xe9"}') and q["error"].startswith("not UTF-8 text")
    [rej] = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert rej["layer"] == "input" and rej["failed"]["input"][0].startswith(f"{src}:2: not UTF-8")


def test_quarantined_text_is_redacted_then_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", KEY)
    q = Quarantine(tmp_path / "out.jsonl")
    q.add("bad line", file="in.jsonl", line=7, text="x" * 1990 + KEY + "y" * 100)
    q.add(f"not valid: {KEY}", file="in.jsonl", line=8, text="short " + KEY)
    q.close()
    rows = quarantined(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == ["input:in.jsonl:7", "input:in.jsonl:8"]
    assert rows[0]["text"].startswith("x" * 1990 + "***") and rows[0]["text"].endswith("more characters]")
    assert rows[1] == {"id": "input:in.jsonl:8", "stage": "input", "file": "in.jsonl", "line": 8,
                       "error": "not valid: ***", "text": "short ***"}
    assert not leaks((tmp_path / "out.jsonl.quarantine.jsonl").read_text())



# ---------------------------------------------------------------------------------------------------------------
# 4. Never overwrite a file that is not the command's own output
# ---------------------------------------------------------------------------------------------------------------

NOTES = "my notes\nkeep these\n"


def test_pool_refuses_to_overwrite_a_file_that_is_not_a_pool(tmp_path, capsys):
    """The repro: `funrl pool --out notes.txt` silently overwrote an existing non-JSONL file."""
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    assert main(["pool", "--n", "5", "--out", str(notes), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{notes}:1: exists and is not an API pool (funrl pool)" in err and "refusing to overwrite" in err
    assert notes.read_text() == NOTES
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": 1, "prompt": "not a pool record"}\n')
    assert main(["pool", "--n", "5", "--out", str(other), "--no-progress"]) == 2
    assert other.read_text() == '{"id": 1, "prompt": "not a pool record"}\n'
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["pool", "--n", "5", "--out", str(empty), "--no-progress"]) == 0  # an empty file is fair game
    assert main(["pool", "--n", "5", "--out", str(empty), "--no-progress"]) == 0  # and then it is our own


def test_every_command_refuses_to_overwrite_what_is_not_its_output(tmp_path, pool_file, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    src = _samples_file(tmp_path, [])
    d_out = tmp_path / "d.jsonl"
    commands = [
        ["dialogs", "--pool", str(pool_file), "--n", "3", "--out", str(notes), "--no-progress"],
        ["dialogs", "--pool", str(pool_file), "--n", "3", "--out", str(d_out), "--stats", str(notes),
         "--no-progress"],
        ["verify", "--in", str(src), "--out", str(notes), "--rejected", str(tmp_path / "r.jsonl"),
         "--report", str(tmp_path / "r.json"), "--no-progress"],
        ["verify", "--in", str(src), "--out", str(tmp_path / "k.jsonl"), "--rejected", str(notes),
         "--report", str(tmp_path / "r.json"), "--no-progress"],
        ["verify", "--in", str(src), "--out", str(tmp_path / "k.jsonl"), "--rejected", str(tmp_path / "r.jsonl"),
         "--report", str(notes), "--no-progress"],
        ["export", "--in", str(src), "--to", "openai", "--out", str(notes)],
        ["export", "--in", str(src), "--to", "openai", "--out", str(pool_file)],  # a pool is not an export
        ["bfcl", "evaluate", "--results", str(tmp_path), "--out", str(notes)],
        ["pool", "--n", "3", "--out", str(tmp_path / "p.jsonl"), "--stats", str(notes), "--no-progress"],
    ]
    pool_bytes = pool_file.read_bytes()
    for argv in commands:
        assert main(argv) == 2, argv
        assert "refusing to overwrite" in capsys.readouterr().err, argv
        assert notes.read_text() == NOTES and pool_file.read_bytes() == pool_bytes, argv
    assert not d_out.exists() and not Path(str(notes) + ".quarantine.jsonl").exists()


def test_own_output_rules(tmp_path):
    p = tmp_path / "out.jsonl"
    own = lambda r: isinstance(r, dict) and "id" in r  # noqa: E731
    for text in ("", "\n\n", '{"id": 1}\n', '{"id": 1, "x": "cut sh'):  # empty, blank, ours, ours killed mid-line
        p.write_text(text)
        check_own_output(p, own, "ours")
    for text in ("hello\n", '{"x": 1}\n', "[1, 2]\n", "plain text with no newline", '"{"\n'):
        p.write_text(text)
        with pytest.raises(InputError, match="refusing to overwrite"):
            check_own_output(p, own, "ours")
        with pytest.raises(InputError):
            JsonlAppender(p, own=own, what="ours")
        assert p.read_text() == text
    with pytest.raises(InputError, match="is a directory"):
        check_own_output(tmp_path, own, "ours")



# ---------------------------------------------------------------------------------------------------------------
# 5. Exit codes: empty, wrong kind, nothing made
# ---------------------------------------------------------------------------------------------------------------

def test_verify_exits_2_on_a_pool_file_or_an_empty_input(tmp_path, pool_file, capsys):
    """The repro: `funrl verify --in pool.jsonl` exited 0 with "2000 unreadable"; an empty input exited 0."""
    args = ["--out", str(tmp_path / "k.jsonl"), "--rejected", str(tmp_path / "r.jsonl"), "--report",
            str(tmp_path / "r.json"), "--no-progress"]
    assert main(["verify", "--in", str(pool_file), *args]) == 2
    err = capsys.readouterr().err
    assert f"{pool_file}:1: none of its 40 records is a sample (auto format): is it the right file?" in err
    assert not (tmp_path / "k.jsonl").exists() and not (tmp_path / "r.json").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["verify", "--in", str(empty), *args]) == 2
    assert "no records: the input is empty" in capsys.readouterr().err


def test_dialogs_exit_2_on_an_empty_pool(tmp_path, capsys):
    empty = tmp_path / "pool.jsonl"
    empty.write_text("")
    assert main(["dialogs", "--pool", str(empty), "--n", "3", "--out", str(tmp_path / "d.jsonl"),
                 "--no-progress"]) == 2
    assert "no records (an empty file)" in capsys.readouterr().err


def test_pool_exits_2_when_every_llm_request_failed_and_the_key_never_leaks(tmp_path, monkeypatch, capsys):
    """The repros: `funrl pool --backend openai` exited 0 when every request failed; an error message cut to 300
    characters before redaction let 16 of the key's characters reach stderr and the quarantine file."""
    monkeypatch.chdir(tmp_path)  # the response cache lives in outputs/cache under the working directory
    with LoopbackServer() as server:
        monkeypatch.setenv("FUNRL_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("FUNRL_OPENAI_MODEL", "loopback")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        message = "Incorrect API key provided: " + "x" * 256 + KEY + " (see your account)"  # the cut falls in the key
        server.respond = lambda request: status(401, message)
        out = tmp_path / "pool.jsonl"
        assert main(["pool", "--backend", "openai", "--n", "3", "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "no API was made (3 quarantined" in captured.err
    q = quarantined(out)
    assert len(q) == 3 and all("HTTP 401" in r["reason"] and "***" in r["reason"] for r in q)
    assert not leaks(captured.err + captured.out) and not leaks(json.dumps(q))


def test_a_pool_built_from_key_echoing_replies_writes_no_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as server:
        monkeypatch.setenv("FUNRL_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("FUNRL_OPENAI_MODEL", "loopback")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        server.respond = lambda request: ok('{"name": "leak", "description": "' + KEY + '"}')
        assert main(["pool", "--backend", "openai", "--n", "2", "--out", str(tmp_path / "p.jsonl"),
                     "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert not leaks(captured.out + captured.err)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert not leaks(f.read_bytes().decode("latin-1")), f


def test_jsonl_readers_of_bfcl_data_and_training_logs_go_through_read_records(tmp_path):
    from funrl_lib.bfcl.data import BFCLDataError, _read_jsonl
    from funrl_lib.train.logs import read_log

    data = tmp_path / "BFCL_v4_simple_python.json"
    data.write_bytes(b'{"id": "simple_0"}\n\n{"id": "simple_1"}\n{"id": \xff}\n')
    with pytest.raises(BFCLDataError, match=rf"{data}:4: not UTF-8 text"):
        _read_jsonl(data)
    data.write_bytes(b'{"id": "simple_0"}\n\n{"id": "simple_1"}\n')
    assert _read_jsonl(data) == [{"id": "simple_0"}, {"id": "simple_1"}]
    log = tmp_path / "log.jsonl"  # a run killed mid-write, and a line that is not UTF-8: skipped, the rest read
    log.write_bytes(b'{"step": 1}\n{"step": \xff}\n{"step": 2}\n{"step": 3, "lo')
    assert read_log(log) == [{"step": 1}, {"step": 2}]
    assert read_log(tmp_path / "missing.jsonl") == []
