"""Streaming (issue 18): the readers and writers that let verify, dialogs and export run in constant memory give the
bytes and counts the whole-file versions gave. (Memory itself is measured by benchmarks/streaming.py, not here: a
test must not depend on the machine.)"""

import json
import os
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.synth.api_pool import build_pool
from funrl_lib.synth.dialogs import DialogStats, dialog_stats, generate_dialogs
from funrl_lib.synth.io import dumps_line, dumps_record, read_records
from funrl_lib.synth.verify import verify_file

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.text(max_size=8),
                    st.floats(allow_nan=False), st.floats())
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                           max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.lists(json_values, max_size=5),
       st.integers(0, 5))
def test_dumps_record_writes_the_bytes_of_dumps_line(row, tools, at):
    items = list(row.items())
    items.insert(min(at, len(items)), ("tools", tools + tools[:2]))  # repeated elements come from the cache
    row = dict(items)
    assert dumps_record(row) == dumps_line(row)
    assert dumps_record(row) == dumps_line(row)  # and again, every element now remembered
    assert dumps_record({"tools": "not a list", 1: 2}) == dumps_line({"tools": "not a list", 1: 2})


def test_read_records_streams_a_file_and_reads_a_pipe_alike(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"b": [1, 2]}\r\n\xff\xfe\n{"c": \n{"d": 4}')
    got = [(r.index, r.line, r.value, r.raw, str(r.error)) for r in read_records(p)]
    assert [g[:2] for g in got] == [(0, 1), (1, 4), (2, 5), (3, 6), (4, 7)]
    assert got[1][2] == {"b": [1, 2]} and got[4][2] == {"d": 4}
    assert "not valid JSON" in got[0][4] and "not UTF-8" in got[2][4] and got[2][3] == "\\xff\\xfe"
    with open(p, "rb") as f:  # a pipe cannot seek: read whole, the same records
        r, w = os.pipe()
        os.write(w, f.read())
        os.close(w)
        piped = [(r_.index, r_.line, r_.value, r_.raw, str(r_.error).replace(f"/dev/fd/{r}", str(p)))
                 for r_ in read_records(f"/dev/fd/{r}")]
        os.close(r)
    assert piped == got


def test_dialog_stats_one_at_a_time_equal_the_whole_list():
    pool = build_pool(60, seed=2, progress=False)
    samples = generate_dialogs(pool, 80, seed=2, progress=False)
    acc = DialogStats()
    for s in samples:
        acc.add(s)
    assert acc.result() == dialog_stats(samples) and acc.result()["n"] == 80
    assert DialogStats().result() == dialog_stats([])


def funrl(*args, cwd):
    return subprocess.run([sys.executable, "-m", "funrl_lib", *args], capture_output=True, text=True, cwd=cwd)


def test_dialogs_resumed_from_a_cut_file_print_and_write_what_one_run_does(tmp_path):
    made = funrl("pool", "--n", "60", "--seed", "1", "--out", "pool.jsonl", "--no-progress", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    args = ["dialogs", "--pool", "pool.jsonl", "--n", "120", "--seed", "1", "--no-progress"]
    whole = funrl(*args, "--out", "a.jsonl", "--stats", "a.json", cwd=tmp_path)
    data = (tmp_path / "a.jsonl").read_bytes()
    (tmp_path / "b.jsonl").write_bytes(data[: len(data) // 2])  # cut mid-line
    resumed = funrl(*args, "--out", "b.jsonl", "--stats", "b.json", cwd=tmp_path)
    assert whole.returncode == resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "b.jsonl").read_bytes() == data
    assert (tmp_path / "b.json").read_text() == (tmp_path / "a.json").read_text()
    strip = lambda out: "\n".join(out.splitlines()[1:])  # noqa: E731 (the first line has the file name and timing)
    assert strip(resumed.stdout) == strip(whole.stdout)


def test_verify_keeps_input_order_when_unreadable_records_come_first(tmp_path):
    pool = build_pool(40, seed=3, progress=False)
    samples = generate_dialogs(pool, 6, seed=3, progress=False)
    lines = ["{broken", json.dumps({"id": "x", "no": "messages"})] + [dumps_line(s.to_dict()) for s in samples]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    report = verify_file(inp, kept_path=tmp_path / "k.jsonl", rejected_path=tmp_path / "r.jsonl", pool=pool,
                         progress=False)
    rejected = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rejected] == [0, "x"] and all(r["layer"] == "input" for r in rejected)
    kept = [json.loads(x)["id"] for x in (tmp_path / "k.jsonl").read_text().splitlines()]
    assert kept == [s.id for s in samples]
    assert report.totals == {"records": 8, "kept": 6, "rejected": 2, "quarantined": 0, "unreadable": 2}
