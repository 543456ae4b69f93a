"""The miniature of the paper's ablation: SFT (or the base model) vs GRPO vs EGPO, several seeds, on APIs never
seen in training.

    funrl study --config configs/tiny-cpu.yaml --seeds 0,1,2 --out outputs/study

Per seed (``<out>/seed-<N>``, the recipe with ``seed: N``): the rows are split **by API** (``data.holdout_by: api``;
the data themselves are the same for every seed, only training randomness changes), then the arms run as
``funrl sft`` / ``funrl train`` would (resumable), and each policy is evaluated. The arms
(:func:`funrl_lib.runs.default_arms`; trained by :func:`funrl_lib.runs.train_arms`):

* ``grpo.init: sft`` (the default): **SFT, GRPO, EGPO**, RL warm-started from this seed's SFT;
* ``grpo.init: base`` (the paper: RL straight from the instruct model): **BASE, GRPO, EGPO**, where BASE is the
  untrained base model (:func:`funrl_lib.train.models.base_model_path`, or the built tiny model) and SFT is not run.
  BASE is evaluated per seed like the trained arms (greedy decoding of a fixed model, so its interval collapses);
* ``--arms`` picks any subset of base, sft, grpo, egpo.

Each policy is evaluated (:func:`funrl_lib.evaluation.evaluate_arms`) on:

* **held-out synthetic rows**: greedy generation with the FunRL prompt, judged by
  :func:`funrl_lib.rewards.judge_completion` (exact-call accuracy = ``answer_ok``: calls that pass the BFCL checker,
  or no call where none is wanted; also the think-template rate and the binary reward), overall and per dialog type;
* **BFCL single-turn**: a stratified subset per category (``funrl bfcl generate --prompt funrl`` then ``evaluate``).

Every evaluation is written to ``<out>/results.jsonl`` as it finishes, so a re-run continues where it stopped. The
report (``report.md``, ``study.png``, ``summary.json``) gives mean and 95% interval over seeds (Student t with n − 1
degrees of freedom) per arm, overall, per dialog type and per BFCL category, as measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .evaluation import done_keys, evaluate_recipe, summarize_results, write_report
from .evaluation_defaults import DEFAULT_EVAL
from .runs import default_arms, ordered_arms, parse_arms, train_arms

__all__ = ["heldout_note", "run_study", "study_caveats", "study_curves", "study_title"]


def study_title(cfg: Any, arms: Sequence[str]) -> str:
    """The report title: the arms and the model."""
    versus = " vs ".join(a.upper() for a in ordered_arms(arms))
    if cfg.model.backend == "tiny":
        return f"Miniature study: {versus} (tiny model, CPU)"
    model = cfg.model.name_or_path
    return f"Study: {versus} ({cfg.name}: {model})" if model else f"Study: {versus} ({cfg.name})"


GENERIC_CAVEATS = """\
## What this study can and cannot tell

* **Seeds vary training only** (the recipe fixes the base model, the data and the API split); the interval is over
  training randomness, not over data. A BASE arm is the same untrained model every seed, evaluated greedily, so its
  interval is 0.
* **Scale:** on a CPU a run has tens of RL steps ({steps} here per arm and seed), far fewer than the paper's; a
  difference between GRPO and EGPO at this length says little about a full run.
* **Format vs accuracy:** the binary reward needs both the think template and a correct call. `heldout/template_ok`
  is the format part of an effect (the template alone) and `heldout/answer_ok` is call accuracy (the calls
  themselves); the table shows both, so a gain in `reward` that comes only with `template_ok` is a format effect,
  not a better call.
"""


def study_caveats(cfg: Any) -> str:
    """:data:`STUDY_CAVEATS` for the tiny model, else :data:`GENERIC_CAVEATS` with the recipe's RL steps."""
    if cfg.model.backend == "tiny":
        return STUDY_CAVEATS
    return GENERIC_CAVEATS.format(steps=cfg.grpo.max_steps if cfg.grpo.max_steps and cfg.grpo.max_steps > 0
                                  else "an epoch of")


def heldout_note(results: str | Path) -> str:
    """A caveat when the held-out rows of ``results`` differ between seeds, else "". The study keeps the data fixed,
    but seeds run at different times (a study that spans sessions) may have been made by versions of funrl whose
    synthesized data differ; then an interval over seeds mixes data and training randomness, and only the arms of
    one seed are compared on the same rows. Says which seeds and how many rows they share."""
    from .train.logs import read_log
    ids: dict[int, list[tuple[str, str | None]]] = {}  # (id, digest of the row's text; None in older records)
    for r in read_log(results):
        if r.get("suite") == "heldout":
            ids.setdefault(r["seed"], [(row["id"], row.get("digest")) for row in r.get("rows", [])])
    first = min(ids, default=0)

    def comparable(seed: int) -> tuple[list, list]:  # digests only where both seeds' records have every one
        use = all(d for _, d in ids[seed] + ids[first])
        return ([(i, d if use else None) for i, d in ids[seed]], [(i, d if use else None) for i, d in ids[first]])

    pairs = {s: comparable(s) for s in sorted(ids)}
    mismatched = [s for s, (mine, theirs) in pairs.items() if mine != theirs]
    if not mismatched:
        return ""
    shared = ", ".join(f"seed {s}: {len(set(pairs[s][0]) & set(pairs[s][1]))} of {len(pairs[s][0])}"
                       for s in mismatched)
    return (f"* **The held-out rows differ between seeds** (rows shared with seed {first}: {shared}); these seeds "
            "were made with data of different versions, so the interval mixes data and training randomness. "
            "The arms of one seed were evaluated on the same rows: compare arms within a seed "
            "(`summary.json` has each seed's value).\n")


def _seeds_in(results: Path) -> set[int]:
    from .train.logs import read_log
    return {r["seed"] for r in read_log(results)} if results.exists() else set()


def run_study(config: str | None, seeds: Sequence[int], out: str | Path, *, overrides: Sequence[str] = (),
              heldout_limit: int | None = DEFAULT_EVAL["heldout_limit"],
              bfcl_per_category: int = DEFAULT_EVAL["bfcl_per_category"],
              bfcl_categories: str = DEFAULT_EVAL["bfcl_categories"],
              max_new_tokens: int = DEFAULT_EVAL["max_new_tokens"],
              arms: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Run (or continue) the study; returns :func:`summarize_results` of everything in ``<out>/results.jsonl`` and
    writes the report. ``arms``: a subset of :data:`funrl_lib.runs.ALL_ARMS` (default
    :func:`funrl_lib.runs.default_arms` of the recipe), trained by :func:`funrl_lib.runs.train_arms` and evaluated by
    :func:`funrl_lib.evaluation.evaluate_recipe`."""
    from .train.backend import prepare_backend
    from .train.config import load_config
    prepare_backend(load_config(config, overrides))  # Unsloth (backend unsloth) before trl/transformers/peft

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    done = done_keys(results)
    cfg = None
    for seed in seeds:
        base = [*overrides, f"seed={seed}", f"output_dir={out / f'seed-{seed}'}", "data.holdout_by=api"]
        cfg = load_config(config, base)
        finals = train_arms(cfg, parse_arms(arms) if arms is not None else default_arms(cfg))
        evaluate_recipe(cfg, finals, results, out / f"seed-{seed}" / "bfcl", heldout_limit=heldout_limit,
                        bfcl_per_category=bfcl_per_category, bfcl_categories=bfcl_categories,
                        max_new_tokens=max_new_tokens, done=done)
    summary = summarize_results(results)
    all_seeds = sorted(set(seeds) | _seeds_in(results))  # the report covers every seed in results.jsonl
    command = " ".join([f"funrl study --config {config}" if config else "funrl study",
                        f"--seeds {','.join(str(x) for x in all_seeds)} --out {out}",
                        *([f"--arms {','.join(parse_arms(arms))}"] if arms is not None else []),
                        *(f"--set {o}" for o in overrides)])
    present = [a for a in summary if summary[a]["metrics"]] or list(summary)
    if cfg is None:  # no seeds: title and caveats from the recipe as given
        cfg = load_config(config, overrides)
    study_curves(out)
    write_report(summary, out, command=command, title=study_title(cfg, present),
                 caveats=study_caveats(cfg) + heldout_note(results), figure="study.png")
    return summary


def study_curves(out: str | Path, figure: str = "curves.png") -> Path | None:
    """The training curves of every seed's GRPO and EGPO runs overlaid (``<out>/seed-N/{grpo,egpo}/log.jsonl``:
    reward, CoT entropy, bonus, KL, length, think-template rate, capped share; one line style per seed), saved as
    ``<out>/<figure>``; None when no run has a log yet."""
    out = Path(out)
    logs = {}
    for seed_dir in sorted(out.glob("seed-*"), key=lambda p: int(p.name.split("-")[1]) if p.name[5:].isdigit() else 0):
        for mode in ("grpo", "egpo"):
            log = seed_dir / mode / "log.jsonl"
            if log.exists() and log.stat().st_size:
                logs[f"{mode} seed {seed_dir.name.split('-')[1]}"] = log
    if not logs:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .train.plots import plot_training
    fig = plot_training(logs, out / figure, smooth=3)
    plt.close(fig)
    return out / figure


STUDY_CAVEATS = """\
## What this scale can and cannot tell

* **Can:** that the whole recipe runs end to end on APIs the model never saw, that the numbers are reproducible from
  one command, and whether the arms (SFT or the base model, GRPO, EGPO) differ *at this scale* beyond seed
  noise.
* **Cannot:** whether EGPO beats GRPO on a real model. The paper's ablation (v4 Fig. 6, same binary reward) has
  EGPO over GRPO by 2.7 points single-turn and 6.1 multi-turn for Qwen3-4B, with a CoT entropy of about
  0.05–0.2 nats where the cap min(λE, |A|/α) rarely binds. The tiny model has ~2.4M weights, 40 RL steps (one
  prompt × 8 rollouts each) and a CoT entropy of about 0.8–0.9 nats, so the cap binds far more often, and RL moves
  the policy so little (KL ~1e-4) that greedy answers barely change.
* **Seeds vary training only** (model initialisation is the same tiny model, the data and the API split are fixed);
  the interval is over training randomness, not over data.
* Accuracy on BFCL's real APIs at this scale comes almost entirely from abstaining (irrelevance); exact calls on
  unseen real APIs are beyond a model this small.
"""
