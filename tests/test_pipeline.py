"""``funrl demo``: the whole pipeline in smoke mode, its report, its one line per stage and its results table,
resuming after a crash, and refusing mixed settings."""

import contextlib
import io
import json
import re
import shutil

import pytest

pytest.importorskip("trl")

from funrl_lib import evaluation, pipeline  # noqa: E402
from funrl_lib.cli import main  # noqa: E402
from funrl_lib.synth.io import read_records  # noqa: E402
from funrl_lib.train.data import held_out_apis  # noqa: E402

SMALL = ["model.tiny.hidden_size=32", "model.tiny.num_hidden_layers=1", "grpo.max_completion_length=8",
         "data.holdout_fraction=0.2"]


def _args(out, *extra):
    args = ["demo", "--smoke", "--out", str(out), *extra]
    for s in SMALL:
        args += ["--set", s]
    return args


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The smoke demo's folder and what it printed on stdout."""
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(_args(out)) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def demo_dir(demo_run):
    return demo_run[0]


def _rows(path):
    return [r.value for r in read_records(path) if r.error is None]


@pytest.mark.slow
def test_every_stage_hands_its_files_to_the_next(demo_dir):
    state = json.loads((demo_dir / "state.json").read_text())
    assert [s for s in pipeline.STAGES if state["stages"].get(s, {}).get("done")] == list(pipeline.STAGES)
    synth = demo_dir / "synth"
    noisy, kept, rejected = (_rows(synth / f) for f in ("dialogs_noisy.jsonl", "kept.jsonl", "rejected.jsonl"))
    assert len(noisy) == len(kept) + len(rejected) == state["stages"]["dialogs"]["dialogs"]
    # the verifier rejected every dialog damaged on purpose that it kept nothing of, and the kept ones are clean
    corrupted = {r["id"] for r in noisy if (r.get("meta") or {}).get("corruption")}
    assert corrupted and not corrupted & {r["id"] for r in kept}
    recall = json.loads((synth / "recall.json").read_text())
    assert sum(r["injected"] for k, r in recall.items() if k != "(clean)") == len(corrupted)
    # the training data are the export of the kept dialogs, split by API
    trl = _rows(synth / "trl.jsonl")
    assert state["stages"]["export"]["rows"] == len(trl) and {r["id"].split("-t")[0] for r in trl} <= {
        r["id"] for r in kept}
    train, held = _rows(demo_dir / "run" / "data" / "train.jsonl"), _rows(demo_dir / "run" / "data" / "heldout.jsonl")
    unseen = {t["name"] for r in held for t in json.loads(r["tools"])} & held_out_apis(train + held, 0.2, 0)
    assert held and unseen and not any(t["name"] in unseen for r in train for t in json.loads(r["tools"]))
    for arm in ("sft", "grpo", "egpo"):
        assert (demo_dir / "run" / arm / "final" / "done.json").exists()
    records = [json.loads(line) for line in (demo_dir / "eval" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["suite"]) for r in records) == sorted(
        (a, s) for a in ("sft", "grpo", "egpo") for s in ("heldout", "bfcl"))
    assert (demo_dir / "eval" / "bfcl" / "egpo" / "non_live" / "BFCL_v4_simple_python_result.json").exists()


@pytest.mark.slow
def test_report_has_every_stage_with_figures(demo_dir):
    report = (demo_dir / "report.md").read_text()
    for heading in ("API pool", "Dialogs", "verification", "Training data", "Training: SFT", "Evaluation"):
        assert heading in report
    state = json.loads((demo_dir / "state.json").read_text())
    kept = state["stages"]["verify"]["kept"]
    assert f"**{kept} kept" in report and "| total |" not in report and "**total**" in report
    assert "| answer_ok |" in report and "| simple_python |" in report and "| [irrelevance] |" in report
    for png in ("1_pool", "2_dialogs", "3_verify", "4_training", "5_evaluation"):
        assert f"figures/{png}.png" in report
        assert (demo_dir / "figures" / f"{png}.png").stat().st_size > 5000
    assert "funrl demo --config configs/tiny-cpu.yaml" in report and "--smoke" in report


LINE = re.compile(r"^(\w+) +(\d+\.\d) s  (.+?)(  \(done earlier\))?$")
CELL = re.compile(r"^(\d+\.\d)(?: ± (\d+\.\d) \(n=(\d+)\))?$")


@pytest.mark.slow
def test_one_line_per_stage_with_its_seconds_and_key_figure(demo_run):
    out, printed = demo_run
    lines = printed.splitlines()
    assert lines[0].startswith(f"funrl demo -> {out}") and lines[-1] == f"report: {out / 'report.md'}"
    matches = [LINE.match(line) for line in lines[1:-1]]
    assert all(matches), lines  # nothing but the stage lines: what the stages print went to logs/
    assert [m[1] for m in matches] == list(pipeline.STAGES)
    state = json.loads((out / "state.json").read_text())["stages"]
    assert all(float(m[2]) == state[m[1]]["seconds"] for m in matches)
    figure = {m[1]: m[3] for m in matches}
    pool = json.loads((out / "synth" / "pool_stats.json").read_text())
    assert figure["pool"] == f"{pool['apis']} APIs over {pool['domains']} domains"
    v = state["verify"]
    assert figure["verify"] == f"kept {100 * v['kept'] / (v['kept'] + v['rejected']):.1f}% ({v['kept']} of " \
                               f"{v['kept'] + v['rejected']})"
    assert figure["export"] == f"{len(_rows(out / 'synth' / 'trl.jsonl'))} training rows"
    # SFT: its loss over the last 3 logged steps, or the trainer's mean loss where a smoke run logged no step;
    # RL: the reward over the last 10 logged steps (as the report's section 5)
    for arm, key, k, digits in (("sft", "loss", 3, 2), ("grpo", "reward", 10, 3), ("egpo", "reward", 10, 3)):
        log = _rows(out / "run" / arm / "log.jsonl")
        steps = [e[key] for e in log if key in e and "train_runtime" not in e]
        assert steps or arm == "sft"
        final = [e["train_loss"] for e in log if "train_loss" in e]
        expected = sum(steps[-k:]) / len(steps[-k:]) if steps else final[-1]
        assert state[arm][key] == pytest.approx(expected, abs=1e-4)
        steps = json.loads((out / "run" / arm / "final" / "done.json").read_text())["global_step"]
        assert figure[arm] == f"{key} {state[arm][key]:.{digits}f} after {steps} steps"
    exact = json.loads((out / "table.json").read_text())["metrics"]["heldout/answer_ok"]
    assert figure["evaluate"] == "held-out exact calls " + " / ".join(
        f"{arm.upper()} {exact[arm]['mean']:.1f}" for arm in ("sft", "grpo", "egpo")) + " (% of 3 rows)"
    assert figure["report"] == "report.md, table.md, table.json"
    assert "SFT on" in (out / "logs" / "sft.log").read_text()  # the trainer's own output, kept


def _md_numbers(md):
    """{metric: {arm: {"mean"[, "ci95", "n"]}}} read back from the markdown table."""
    rows = [line for line in md.splitlines() if line.startswith("|")]
    arms = [a.strip().lower() for a in rows[0].strip("|").split("|")[1:]]
    table = {}
    for row in rows[2:]:
        metric, *cells = (c.strip() for c in row.strip("|").split("|"))
        table[metric] = {}
        for arm, cell in zip(arms, cells):
            if cell != "—":
                m = CELL.match(cell)
                assert m, cell
                table[metric][arm] = {"mean": float(m[1]), **({"ci95": float(m[2]), "n": int(m[3])} if m[2] else {})}
    return table


def _json_numbers(table):
    return {k: {a: {f: v for f, v in c.items() if f != "n" or "ci95" in c} for a, c in cells.items()}
            for k, cells in table["metrics"].items()}


@pytest.mark.slow
def test_table_md_and_json_hold_the_same_numbers(demo_dir):
    table = json.loads((demo_dir / "table.json").read_text())
    md = (demo_dir / "table.md").read_text()
    assert table["seeds"] == [0] and table["spread"] is None and "Seed 0: one seed, so no spread" in md
    assert table["arms"] == ["sft", "grpo", "egpo"] and "| metric | SFT | GRPO | EGPO |" in md
    assert _md_numbers(md) == _json_numbers(table)
    assert {"heldout/answer_ok", "bfcl/simple_python", "bfcl/[irrelevance]"} <= set(table["metrics"])
    # the results' own numbers, in % rounded to 0.1
    summary = evaluation.summarize_results(demo_dir / "eval" / "results.jsonl")
    for metric, cells in table["metrics"].items():
        for arm, cell in cells.items():
            assert cell == {"mean": round(100 * summary[arm]["metrics"][metric]["mean"], 1), "n": 1}


def test_the_table_gives_the_spread_over_several_seeds(tmp_path):
    def rows(*oks):
        return [{"id": str(i), "type": "single", "answer_ok": ok, "template_ok": True, "reward": ok}
                for i, ok in enumerate(oks)]

    records = [{"seed": 0, "arm": "grpo", "suite": "heldout", "rows": rows(True, False)},
               {"seed": 1, "arm": "grpo", "suite": "heldout", "rows": rows(True, True)},
               {"seed": 2, "arm": "grpo", "suite": "heldout", "rows": rows(False, False, False)},
               {"seed": 0, "arm": "egpo", "suite": "heldout", "rows": rows(True, False, False)}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    md_path, json_path = evaluation.write_table(evaluation.summarize_results(tmp_path / "results.jsonl"), tmp_path)
    table, md = json.loads(json_path.read_text()), md_path.read_text()
    assert table["seeds"] == [0, 1, 2] and table["spread"] == "ci95" and "Seeds 0, 1, 2: mean ±" in md
    mean, half = evaluation.mean_ci([0.5, 1.0, 0.0])
    assert table["metrics"]["heldout/answer_ok"]["grpo"] == {"mean": 50.0, "ci95": round(100 * half, 1), "n": 3}
    assert mean == 0.5 and table["metrics"]["heldout/answer_ok"]["egpo"] == {"mean": 33.3, "n": 1}
    assert f"| heldout/answer_ok | 50.0 ± {100 * half:.1f} (n=3) | 33.3 |" in md
    assert _md_numbers(md) == _json_numbers(table)


@pytest.mark.slow
def test_rerun_skips_finished_stages(demo_run, capsys):
    demo_dir, first = demo_run
    before = (demo_dir / "eval" / "results.jsonl").read_text()
    assert main(_args(demo_dir)) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier") == len(pipeline.STAGES) - 1
    assert (demo_dir / "eval" / "results.jsonl").read_text() == before
    # the same line per finished stage as when it ran, its figures read back from state.json
    ran = [line for line in first.splitlines() if LINE.match(line) and not line.startswith("report")]
    assert [line for line in out.splitlines() if "done earlier" in line] == [f"{x}  (done earlier)" for x in ran]


@pytest.mark.slow
def test_other_settings_in_the_same_folder_are_refused(demo_dir, capsys):
    assert main(_args(demo_dir, "--corrupt-rate", "0.1")) == 2
    err = capsys.readouterr().err
    assert "other settings (corrupt_rate differ)" in err and "--force" in err
    assert main(_args(demo_dir, "--set", "sft.learning_rate=0.5")) == 2  # a recipe change, too
    assert "other settings (recipe differ)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_crash_mid_evaluation_resumes_without_redoing_work(demo_dir, tmp_path, monkeypatch):
    out = tmp_path / "demo"
    shutil.copytree(demo_dir, out)
    state = json.loads((out / "state.json").read_text())
    for stage in ("evaluate", "report"):
        del state["stages"][stage]
    (out / "state.json").write_text(json.dumps(state))
    shutil.rmtree(out / "eval")
    real, calls = evaluation.greedy_judge, []

    def crashing(*a, **k):
        calls.append(a[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the GRPO policy is evaluated
        return real(*a, **k)

    monkeypatch.setattr(evaluation, "greedy_judge", crashing)
    assert main(_args(out)) == 130
    done = [json.loads(line) for line in (out / "eval" / "results.jsonl").read_text().splitlines()]
    assert [(r["arm"], r["suite"]) for r in done] == [("sft", "heldout"), ("sft", "bfcl")]
    assert not json.loads((out / "state.json").read_text())["stages"].get("evaluate")
    monkeypatch.setattr(evaluation, "greedy_judge", real)
    assert main(_args(out)) == 0
    done = [json.loads(line) for line in (out / "eval" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["suite"]) for r in done) == sorted(
        (a, s) for a in ("sft", "grpo", "egpo") for s in ("heldout", "bfcl"))  # nothing twice
    assert "evaluate" in json.loads((out / "state.json").read_text())["stages"]


def test_corrupt_rate_out_of_range_is_an_error(tmp_path):
    with pytest.raises(pipeline.PipelineError, match="corrupt_rate"):
        pipeline.run_pipeline(None, tmp_path, corrupt_rate=1.0)


def test_tour_scores_reference_answers_right_and_fenced_ones_wrong(tmp_path):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    simple = summary["categories"]["simple_python"]
    assert simple["reference"]["accuracy"] == 1.0 and simple["fenced"]["accuracy"] == 0.0
    assert simple["thinking"]["accuracy"] == 0.0 and simple["thinking, --strip-think"]["accuracy"] == 1.0
    assert (tmp_path / "report.md").read_text().startswith("# funrl tour")
