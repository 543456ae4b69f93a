"""Figures a reader can trust (issue 18): words, not log keys; the smoothing said in the figure; no error bars from
one seed; every axis shows zero. ``funrl_lib.labels.label_for`` is the map others use."""

import json
import re

import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from funrl_lib.labels import LABELS, SHARES, label_for  # noqa: E402
from funrl_lib.synth.plots import plot_verify_report  # noqa: E402
from funrl_lib.train.plots import PANELS, plot_training, trailing_mean  # noqa: E402


def test_label_for_gives_words_with_units():
    assert label_for("reward").startswith("Reward (0/1")
    assert label_for("egpo/entropy_mean") == label_for("egpo/cot_entropy") == "CoT entropy (nats/token)"
    assert "tokens" in label_for("completions/mean_length") and "nats" in label_for("kl")
    # keys it does not know are still made readable, never returned as they are
    assert label_for("egpo/new_metric") == "New metric (EGPO)"
    assert label_for("funrl/odd_frac") == "Odd (funrl, share)"
    assert label_for("rewards/my_fn/mean") == "Reward my_fn (mean over the step's completions)"
    assert label_for("required_params") == "Required params"
    for key in list(LABELS) + ["egpo/new_metric", "x/y_z"]:
        words = label_for(key).split("(")[0]  # units and scopes in brackets may hold "nats/token"
        assert label_for(key) != key and not re.search(r"[a-z]+/[a-z]+|_", words), key
    assert all(key in SHARES or "share" not in LABELS.get(key, "") for key in LABELS)


def test_trailing_mean_uses_no_later_step():
    assert trailing_mean([0, 1, 0, 1, 1], 2) == [0, 0.5, 0.5, 0.5, 1.0]
    assert trailing_mean([3, 5], 1) == [3, 5]
    assert trailing_mean([1, 1, 4], 5) == [1, 1, 2]


def _log(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_training_figure_is_labelled_in_words_from_zero_without_error_bars(tmp_path):
    rows = [{"step": i, "reward": (i % 3) / 2, "egpo/cot_entropy": 0.3 + 0.01 * i, "kl": 0.002 * i,
             "completions/mean_length": 150 + i, "funrl/think_template_ok": 0.9, "egpo/capped_frac": 0.1,
             "egpo/bonus": 0.01} for i in range(1, 13)]
    _log(tmp_path / "grpo" / "log.jsonl", rows)
    _log(tmp_path / "egpo" / "log.jsonl", rows)
    fig = plot_training(tmp_path, tmp_path / "fig.png", smooth=4)
    assert (tmp_path / "fig.png").stat().st_size > 5000
    caption = fig._suptitle.get_text()
    assert "last 4 steps" in caption and "fixed order" in caption and "no error bars" in caption
    titled = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(titled) == {label_for(k) for k, _ in PANELS}
    for key, title in PANELS:
        ax = titled[title]
        assert not re.search(r"[a-z]+/[a-z]+|_", title.split("(")[0]) and ax.get_xlabel() == "Training step"
        assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no bands
        assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        if not ax.get_lines():
            continue
        lo, hi = ax.get_ylim()
        assert lo == 0 and ax.get_xlim()[0] == 0, title
        if key in SHARES:
            assert hi == pytest.approx(1.02)
    reward = titled[label_for("reward")]
    dots, line = reward.get_lines()[:2]
    assert dots.get_linestyle() == "None" and list(dots.get_ydata()) == [(i % 3) / 2 for i in range(1, 13)]
    assert list(line.get_ydata()) == trailing_mean([(i % 3) / 2 for i in range(1, 13)], 4)
    assert line.get_label() == "GRPO"
    # a length far from zero still has zero on its axis: a 12-token change is not drawn as a cliff
    assert titled[label_for("completions/mean_length")].get_ylim()[0] == 0


def test_seeds_are_lines_of_their_own(tmp_path):
    for seed in (0, 1):
        _log(tmp_path / f"s{seed}.jsonl", [{"step": i, "reward": 0.5} for i in range(1, 4)])
    fig = plot_training({"egpo seed 0": tmp_path / "s0.jsonl", "egpo seed 1": tmp_path / "s1.jsonl"}, smooth=2)
    ax = next(ax for ax in fig.axes if ax.get_title() == label_for("reward"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["EGPO seed 0", "EGPO seed 1"]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_verification_figure_names_rules_in_words_and_starts_at_zero(tmp_path):
    report = {"rules": {"required_params": {"checked": 10, "passed": 9, "layer": "rule"},
                        "task_consistency": {"checked": 10, "passed": 7, "layer": "model"}},
              "layers": {"rule": {"pass_rate": 0.9}, "model": {"pass_rate": 0.7}, "final": {"pass_rate": 0.65}},
              "toolace_reference": {"rule": 0.8}}
    fig = plot_verify_report(report, tmp_path / "v.png")
    per_rule, per_layer = fig.axes[:2]
    assert [t.get_text() for t in per_rule.get_yticklabels()] == ["Task consistency", "Required params"]
    assert per_rule.get_xlim()[0] == 0 and per_layer.get_ylim()[0] == 0
    assert [t.get_text() for t in per_layer.get_xticklabels()] == ["rule layer", "model layer", "both (kept)"]
    assert per_layer.get_ylabel()
