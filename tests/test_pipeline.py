"""``funrl demo``: the whole pipeline in smoke mode, its report, resuming after a crash, and refusing mixed settings."""

import json
import shutil

import pytest

pytest.importorskip("trl")

from funrl_lib import pipeline, study  # noqa: E402
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
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(_args(out)) == 0
    return out


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


@pytest.mark.slow
def test_rerun_skips_finished_stages(demo_dir, capsys):
    before = (demo_dir / "eval" / "results.jsonl").read_text()
    assert main(_args(demo_dir)) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier") == len(pipeline.STAGES) - 1
    assert (demo_dir / "eval" / "results.jsonl").read_text() == before


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
    real, calls = study._greedy_judge, []

    def crashing(*a, **k):
        calls.append(a[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the GRPO policy is evaluated
        return real(*a, **k)

    monkeypatch.setattr(study, "_greedy_judge", crashing)
    assert main(_args(out)) == 130
    done = [json.loads(line) for line in (out / "eval" / "results.jsonl").read_text().splitlines()]
    assert [(r["arm"], r["suite"]) for r in done] == [("sft", "heldout"), ("sft", "bfcl")]
    assert not json.loads((out / "state.json").read_text())["stages"].get("evaluate")
    monkeypatch.setattr(study, "_greedy_judge", real)
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
