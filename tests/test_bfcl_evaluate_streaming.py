"""`funrl bfcl evaluate` streams (issue 18): verdicts and unscored lines go to their files as they are made, the
reports keep counts only, and the outputs are the same as when everything is held in memory."""

import json
from pathlib import Path

from funrl_lib.bfcl.data import load_category
from funrl_lib.bfcl.evaluate import KEEP_PROBLEMS, evaluate_results, write_outputs
from funrl_lib.bfcl.mutations import mutations
from funrl_lib.cli import main


def _results(tmp_path: Path, bad_lines: int) -> Path:
    """simple_python and multiple result files: every entry once (a mutated output, right or wrong), then
    ``bad_lines`` lines that cannot be scored (repeated ids, unknown ids, broken JSON) in the simple_python file."""
    root = tmp_path / "results"
    for category, group in (("simple_python", "non_live"), ("multiple", "non_live")):
        entries = load_category(category)
        lines = [json.dumps({"id": i, "result": mutations(e)[n % len(mutations(e))][1]})
                 for n, (i, e) in enumerate(entries.items())]
        if category == "simple_python":
            first = next(iter(entries))
            kinds = [json.dumps({"id": first, "result": "[f()]"}), json.dumps({"id": "nope_1", "result": "x"}),
                     '{"id": "simple_python_0", "result": ']
            lines += [kinds[k % 3] for k in range(bad_lines)]
        path = root / "m" / group / f"BFCL_v4_{category}_result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_streamed_outputs_equal_the_in_memory_ones_and_keep_nothing_per_line(tmp_path):
    root = _results(tmp_path, bad_lines=KEEP_PROBLEMS + 50)
    held, held_reports = evaluate_results(root)
    write_outputs(held, held_reports, tmp_path / "held", plot=False)
    seen = []
    streamed, reports = evaluate_results(root, out=tmp_path / "streamed", on_problem=seen.append)
    write_outputs(streamed, reports, tmp_path / "streamed", plot=False)

    report = reports["simple_python"]
    assert report.verdicts == [] and report.unscored == []  # nothing per line held
    assert len(report.problems) == KEEP_PROBLEMS and report.problem_count == KEEP_PROBLEMS + 50
    assert seen == held_reports["simple_python"].problems  # every message still reaches the caller, in order
    assert streamed["problems"] == held["problems"][:KEEP_PROBLEMS]
    assert streamed["problems_total"] == held["problems_total"] == KEEP_PROBLEMS + 50
    assert {k: v for k, v in streamed.items() if k != "problems"} == {k: v for k, v in held.items() if k != "problems"}
    for name in ("simple_python.jsonl", "multiple.jsonl"):
        assert (tmp_path / "streamed" / "verdicts" / name).read_bytes() == \
            (tmp_path / "held" / "verdicts" / name).read_bytes()
    assert (tmp_path / "streamed" / "errors.json").read_bytes() == (tmp_path / "held" / "errors.json").read_bytes()
    assert not list((tmp_path / "streamed" / "verdicts").glob("*.tmp"))
    quarantined = (tmp_path / "streamed.quarantine.jsonl").read_text().splitlines()
    assert len(quarantined) == KEEP_PROBLEMS + 50


def test_the_cli_prints_every_problem_and_counts_all_of_them(tmp_path, capsys):
    root = _results(tmp_path, bad_lines=KEEP_PROBLEMS + 7)
    out = tmp_path / "out"
    assert main(["bfcl", "evaluate", "--results", str(root), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("line not scored") == KEEP_PROBLEMS + 7
    assert f"quarantined: {KEEP_PROBLEMS + 7}" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["categories"]["simple_python"]["unscored_lines"] == KEEP_PROBLEMS + 7
    assert len(summary["problems"]) == KEEP_PROBLEMS


def test_live_result_files_without_a_scored_line_count_zero_on_the_board(tmp_path, capsys):
    """Found by benchmarks/streaming.py: empty live result files beside a scored one made the board's entry-count
    weighted Live divide by zero."""
    root = _results(tmp_path, bad_lines=0)
    for category in ("live_simple", "live_multiple"):
        path = root / "m" / "live" / f"BFCL_v4_{category}_result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    summary, _ = evaluate_results(root)
    assert summary["categories"]["live_simple"]["total"] == 0
    assert summary["board"]["live"]["accuracy"] == 0.0 and summary["summaries"]["live"]["score"] is None
    assert main(["bfcl", "evaluate", "--results", str(root), "--out", str(tmp_path / "out")]) == 0
