"""The miniature study: the interval arithmetic by hand, and a two-seed smoke run that resumes."""

import json

import pytest

pytest.importorskip("trl")

from funrl_lib.cli import main  # noqa: E402
from funrl_lib.evaluation import mean_ci, summarize_results  # noqa: E402
from funrl_lib.train.config import SMOKE_OVERRIDES  # noqa: E402


def test_mean_and_95_interval_by_hand():
    m, hw = mean_ci([0.2, 0.4, 0.6])  # sd 0.2; t(0.975, 2) = 4.303
    assert m == pytest.approx(0.4) and hw == pytest.approx(4.303 * 0.2 / 3 ** 0.5)
    assert mean_ci([0.5]) == (0.5, 0.0)
    m, hw = mean_ci([1.0, 0.0])  # sd 0.7071; t(0.975, 1) = 12.706
    assert m == 0.5 and hw == pytest.approx(12.706 * 0.5 ** 0.5 / 2 ** 0.5)


def test_summary_per_arm_type_and_category(tmp_path):
    rows = lambda *oks: [{"id": str(i), "type": t, "answer_ok": ok, "template_ok": True, "reward": ok}  # noqa: E731
                         for i, (t, ok) in enumerate(oks)]
    records = [{"seed": 0, "arm": "sft", "suite": "heldout", "rows": rows(("single", True), ("irrelevance", False))},
               {"seed": 1, "arm": "sft", "suite": "heldout", "rows": rows(("single", True), ("irrelevance", True))},
               {"seed": 0, "arm": "egpo", "suite": "bfcl", "categories": {"simple_python": 0.2},
                "summaries": {"non_live": 0.2, "live": None}}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    s = summarize_results(tmp_path / "r.jsonl")
    assert s["sft"]["seeds"] == [0, 1]
    assert s["sft"]["metrics"]["heldout/answer_ok"]["values"] == [0.5, 1.0]
    assert s["sft"]["metrics"]["heldout/type/single"]["mean"] == 1.0
    assert s["sft"]["metrics"]["heldout/type/irrelevance"]["values"] == [0.0, 1.0]
    assert s["egpo"]["metrics"]["bfcl/simple_python"]["mean"] == 0.2 and "bfcl/[live]" not in s["egpo"]["metrics"]
    assert list(s) == ["sft", "egpo"]  # the arms present, in the fixed order
    s = summarize_results(tmp_path / "r.jsonl", arms=("sft", "grpo", "egpo"))
    assert s["grpo"]["metrics"] == {}
    # a kill mid-write leaves a torn last line: done_keys skips it (so the study evaluates it again), and so must
    # the summary, which used to stop the resumed study with a JSONDecodeError
    with open(tmp_path / "r.jsonl", "a") as f:
        f.write('{"seed": 2, "arm": "sft", "suite": "heldout", "rows": [{"id"')
    s = summarize_results(tmp_path / "r.jsonl")
    assert s["sft"]["seeds"] == [0, 1] and s["sft"]["metrics"]["heldout/answer_ok"]["values"] == [0.5, 1.0]


def test_arms_from_the_recipe_and_the_option():
    from funrl_lib.runs import default_arms, parse_arms
    from funrl_lib.train.config import load_config
    assert default_arms(load_config("configs/tiny-cpu.yaml", [])) == ("sft", "grpo", "egpo")
    assert default_arms(load_config("configs/tiny-cpu.yaml", ["grpo.init=base"])) == ("base", "grpo", "egpo")
    assert parse_arms("egpo, base,grpo") == ("base", "grpo", "egpo")
    with pytest.raises(ValueError):
        parse_arms("base,ppo")
    with pytest.raises(SystemExit):
        main(["study", "--arms", "ppo"])


SMOKE_STUDY = ["--heldout-limit", "3", "--bfcl-per-category", "1", "--max-new-tokens", "16",
               "--bfcl-categories", "simple_python,irrelevance"]
for _s in SMOKE_OVERRIDES + ["model.tiny.hidden_size=32", "model.tiny.num_hidden_layers=1",
                             "grpo.max_completion_length=8", "data.holdout_fraction=0.2"]:
    SMOKE_STUDY += ["--set", _s]


@pytest.mark.slow
def test_two_seed_smoke_study_resumes(tmp_path, capsys):
    args = ["study", "--seeds", "0,1", "--out", str(tmp_path), *SMOKE_STUDY]
    assert main(args) == 0
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted((r["seed"], r["arm"], r["suite"]) for r in records) == sorted(
        (seed, arm, suite) for seed in (0, 1) for arm in ("sft", "grpo", "egpo") for suite in ("heldout", "bfcl"))
    assert all(len(r["rows"]) == 3 for r in records if r["suite"] == "heldout")
    assert all(set(r["categories"]) == {"simple_python", "irrelevance"} for r in records if r["suite"] == "bfcl")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["egpo"]["metrics"]["heldout/answer_ok"]["n"] == 2
    report = (tmp_path / "report.md").read_text()
    assert report.count("|") > 20 and (tmp_path / "study.png").stat().st_size > 5000
    assert f"funrl study --config configs/tiny-cpu.yaml --seeds 0,1 --out {tmp_path}" in report
    assert "What this scale can and cannot tell" in report
    assert "![training curves](curves.png)" in report and (tmp_path / "curves.png").stat().st_size > 5000
    assert "held-out exact-call accuracy" in capsys.readouterr().out
    assert main(args) == 0  # everything done: nothing is run or appended again
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 12


@pytest.mark.slow
def test_study_from_the_base_model_compares_base_grpo_egpo(tmp_path, capsys):
    """grpo.init=base (the paper's setting): the arms are BASE (the untrained model), GRPO and EGPO; no SFT."""
    args = ["study", "--seeds", "0", "--out", str(tmp_path), *SMOKE_STUDY, "--set", "grpo.init=base"]
    assert main(args) == 0
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["suite"]) for r in records) == sorted(
        (arm, suite) for arm in ("base", "grpo", "egpo") for suite in ("heldout", "bfcl"))
    assert not (tmp_path / "seed-0" / "sft").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary) == ["base", "grpo", "egpo"]
    assert summary["base"]["metrics"]["heldout/answer_ok"]["n"] == 1
    report = (tmp_path / "report.md").read_text()
    assert "# Miniature study: BASE vs GRPO vs EGPO (tiny model, CPU)" in report
    assert "| metric | BASE | GRPO | EGPO |" in report and "SFT" not in report.split("## What")[0]
    assert (tmp_path / "study.png").stat().st_size > 5000
    out = capsys.readouterr().out
    assert "base  held-out exact-call accuracy" in out
    for mode in ("grpo", "egpo"):  # RL from the base model
        assert json.loads((tmp_path / "seed-0" / mode / "final" / "done.json").read_text())["init"] is None


def test_study_curves_overlay_every_seed_and_mode(tmp_path):
    from funrl_lib.study import study_curves
    from funrl_lib.train import plots

    assert study_curves(tmp_path) is None  # nothing trained yet: no figure
    for seed in (0, 1):
        for mode in ("grpo", "egpo"):
            log = tmp_path / f"seed-{seed}" / mode / "log.jsonl"
            log.parent.mkdir(parents=True)
            log.write_text("".join(json.dumps({"step": i, "reward": i / 10 + seed, "egpo/cot_entropy": 0.5,
                                               "funrl/think_template_ok": 1.0, "egpo/capped_frac": 0.25}) + "\n"
                                   for i in range(1, 6)))
    drawn = []
    real = plots.plot_training
    plots.plot_training = lambda logs, out, smooth: drawn.append(dict(logs)) or real(logs, out, smooth=smooth)
    try:
        path = study_curves(tmp_path)
    finally:
        plots.plot_training = real
    assert path == tmp_path / "curves.png" and path.stat().st_size > 5000
    assert list(drawn[0]) == ["grpo seed 0", "egpo seed 0", "grpo seed 1", "egpo seed 1"]
    assert {k for k, _ in plots.PANELS} >= {"reward", "egpo/cot_entropy", "kl", "funrl/think_template_ok",
                                             "egpo/capped_frac"}


def test_heldout_note_only_when_seeds_saw_different_rows(tmp_path):
    from funrl_lib.study import heldout_note

    results = tmp_path / "results.jsonl"

    def write(rows_by_seed):
        results.write_text("".join(
            json.dumps({"seed": seed, "arm": arm, "suite": "heldout",
                        "rows": [{"id": i, "answer_ok": True} for i in ids]}) + "\n"
            for seed, ids in rows_by_seed.items() for arm in ("sft", "grpo"))
            + json.dumps({"seed": 0, "arm": "sft", "suite": "bfcl", "rows": []}) + "\n")

    write({0: ["a", "b", "c"], 1: ["a", "b", "c"]})
    assert heldout_note(results) == ""  # same rows: the generic caveat holds
    write({0: ["a", "b", "c"], 1: ["a", "b", "d", "e"], 2: ["a", "b", "c"]})
    note = heldout_note(results)
    assert "differ between seeds" in note and "seed 1: 2 of 4" in note and "seed 2" not in note

    # one id, another text (the digest of the row differs): told apart where both records carry digests
    from funrl_lib.evaluation import row_digest
    row = {"prompt": [{"role": "user", "content": "hi"}], "tools": "[]", "ground_truth": "[]"}
    reworded = {**row, "prompt": [{"role": "user", "content": "hello"}]}
    assert row_digest(row) == row_digest(dict(row)) and row_digest(row) != row_digest(reworded)

    def record(seed, digests):
        return json.dumps({"seed": seed, "arm": "sft", "suite": "heldout",
                           "rows": [{"id": i, "digest": d} for i, d in zip("abc", digests)]}) + "\n"
    same = [row_digest(row)] * 3
    results.write_text(record(0, same) + record(1, same))
    assert heldout_note(results) == ""
    results.write_text(record(0, same) + record(1, same[:2] + [row_digest(reworded)]))
    assert "seed 1: 2 of 3" in heldout_note(results)
    results.write_text(record(0, [None] * 3) + record(1, same[:2] + [row_digest(reworded)]))
    assert heldout_note(results) == ""  # an older record without digests: ids only
