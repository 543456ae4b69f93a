"""The report of a verification run: counts per rule and per layer, pass rates comparable with ToolACE's (ToolACE
§2.3 dual-layer verification, v1 Table 5: model layer over rule-passers; FunRL's filter, arXiv 2508.05118v4 §5.1,
as a third layer), recomputed from the output files so a resumed run reports what an uninterrupted one does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from ...io import read_records
from .context import RULES, TOOLACE_REFERENCE, VerifyContext


@dataclass
class Report:
    """Counts over a whole input file (recomputed from the output files, so a resumed run reports the same as an
    uninterrupted one): ``totals``; per rule ``{"layer", "checked", "passed", "failed"}``; per layer ``{"checked",
    "passed", "pass_rate"}`` with the model layer over rule-passers and ``final`` over readable samples; ToolACE's
    reported rates next to them."""

    input: str
    format: str
    totals: dict[str, int]
    rules: dict[str, dict[str, Any]]
    layers: dict[str, dict[str, Any]]
    reference: dict[str, Any] = field(default_factory=lambda: dict(TOOLACE_REFERENCE))
    elapsed_s: float = 0.0
    verified_this_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "format": self.format, "totals": self.totals, "layers": self.layers,
                "rules": self.rules, "toolace_reference": self.reference,
                "run": {"verified_this_run": self.verified_this_run, "elapsed_s": round(self.elapsed_s, 3),
                        "samples_per_s": round(self.verified_this_run / self.elapsed_s, 1) if self.elapsed_s else None}}

    def summary(self) -> str:
        t = self.totals
        lines = [f"{t['records']} records: {t['kept']} kept, {t['rejected']} rejected"
                 + (f" ({t['quarantined']} quarantined)" if t["quarantined"] else "")
                 + (f", {t['unreadable']} unreadable" if t["unreadable"] else ""),
                 "| layer | checked | passed | pass rate | ToolACE |", "|---|---|---|---|---|"]
        for layer, row in self.layers.items():
            ref = self.reference.get(layer)
            rate = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.1%}"
            lines.append(f"| {layer} | {row['checked']} | {row['passed']} | {rate} | "
                         f"{'-' if ref is None else f'{ref:.1%}'} |")
        failing = [(n, r) for n, r in self.rules.items() if r["failed"]]
        if failing:
            lines.append("failed rules: " + ", ".join(f"{n} {r['failed']}" for n, r in failing))
        return "\n".join(lines)


def _report(in_path: Any, fmt: str, kept_path: Any, rejected_path: Any, ctx: VerifyContext,
            use_funrl: bool) -> Report:
    """The report from the output files, read line by line: a kept line only counts (it passed every layer), so it
    is not parsed; a rejected line says where it failed."""
    n_kept = _count_lines(kept_path)
    rule_names = [r.name for r in ctx.selected()]
    counts = {n: {"layer": RULES[n].layer, "checked": 0, "passed": 0, "failed": 0} for n in rule_names}
    if use_funrl:
        for n in ("funrl_llm", "funrl_ast"):
            counts[n] = {"layer": "funrl", "checked": 0, "passed": 0, "failed": 0}
    layer_rows = {layer: {"checked": 0, "passed": 0, "quarantined": 0} for layer in ("rule", "model")}
    if use_funrl:
        layer_rows["funrl"] = {"checked": 0, "passed": 0, "quarantined": 0}
    order = list(layer_rows)
    unreadable = quarantined = 0

    def count(reached: str | None, failed: Mapping[str, Any], q: bool, unjudged: set = frozenset()) -> None:
        # every layer before ``reached`` passed; ``reached`` failed (or was quarantined); later ones not checked
        for layer in order:
            if reached is not None and order.index(layer) > order.index(reached):
                break
            row = layer_rows[layer]
            row["checked"] += 1
            passed = layer != reached
            row["passed"] += passed
            row["quarantined"] += (layer == reached and q)
            for name, c in counts.items():
                if c["layer"] == layer and name not in unjudged:
                    c["checked"] += 1
                    bad = name in failed
                    c["failed"] += bad
                    c["passed"] += not bad

    for _ in range(n_kept):
        count(None, {}, False)  # a kept sample passed every layer
    n_rejected = 0
    for row in _rows(rejected_path):
        n_rejected += 1
        layer = row.get("layer")
        if layer == "input":
            unreadable += 1
            continue
        q = row.get("quarantined")
        quarantined += bool(q)
        if layer not in layer_rows:
            layer = "model" if q else order[-1]
        # a rule whose judge never answered usably is neither passed nor failed
        unjudged = {part.split(":", 1)[0] for part in q.split("; ")} if isinstance(q, str) else set()
        count(layer, row.get("failed") or {}, bool(q), unjudged)
    layers = {layer: {**row, "pass_rate": (row["passed"] / row["checked"]) if row["checked"] else None}
              for layer, row in layer_rows.items()}
    readable = n_kept + n_rejected - unreadable
    layers["final"] = {"checked": readable, "passed": n_kept, "pass_rate": n_kept / readable if readable else None}
    totals = {"records": n_kept + n_rejected, "kept": n_kept, "rejected": n_rejected, "quarantined": quarantined,
              "unreadable": unreadable}
    return Report(str(in_path), fmt, totals, counts, layers)


def _rows(path: Any) -> Iterator[dict]:
    """The rows of an output file, one at a time."""
    p = Path(path)
    if not p.exists():
        return
    for rec in read_records(p):
        if rec.error is not None:
            raise rec.error
        yield rec.value


def _count_lines(path: Any) -> int:
    """Non-blank lines of an output file (each one row: the file is ours, written whole lines at a time)."""
    p = Path(path)
    if not p.exists():
        return 0
    with open(p, "rb") as f:
        return sum(1 for line in f if line.strip())
