"""Verifying a file (ToolACE §2.3 dual-layer verification, optionally FunRL's data filter, arXiv 2508.05118v4 §5.1),
streamed one record at a time: kept and rejected lines appended and flushed as each sample is decided, a re-run
resuming where a killed one stopped, unreadable records quarantined. ``funrl verify`` is
:mod:`funrl_lib.cli.samples`."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...io import InputError, JsonlAppender, Quarantine, _starts_with_bracket, check_own_json, read_records
from ...tools import ToolSchemaError, ToolTable
from ..sample import Sample, detect_format, sample_from
from .context import VerifyContext
from .funrl import FilterOutcome, _ast_stage, afunrl_filter
from .report import Report, _report
from .verdicts import SampleVerdict, averify, verify_sample


def _kept_record(record: Any, sample: Sample, sid: Any, fmt: str, corrected: bool) -> dict[str, Any]:
    """The kept line: the input record as read with its id added (a ToolACE file stays ToolACE), or, when FunRL's
    filter corrected an answer, the corrected sample written in the same format (``meta`` holds the correction)."""
    if corrected:
        record = {"toolace": sample.to_toolace, "openai": sample.to_openai}.get(fmt, sample.to_dict)()
        record["meta"] = sample.meta
    if not isinstance(record, dict):
        return {"id": sid, "record": record}
    return {"id": sid, **{k: v for k, v in record.items() if k != "id"}}


def _rejected_line(sid: Any, record: Any, v: SampleVerdict | None, *, failed: dict | None = None,
                   layer: str | None = None) -> dict[str, Any]:
    line = {"id": sid, "sample": record, "failed": failed if failed is not None else v.failed,
            "layer": layer or (v.layer if v is not None else None)}
    if v is not None and v.quarantined:
        line["quarantined"] = v.quarantined
    return line


def verify_file(in_path: str | Path, fmt: str = "auto", kept_path: str | Path = "kept.jsonl",
                rejected_path: str | Path = "rejected.jsonl", report_path: str | Path | None = None, *,
                backend: Any = None, pool: Any = None, rules: Sequence[str] | None = None,
                funrl_filter: bool = False, progress: bool = True, batch_size: int = 64,
                ctx: VerifyContext | None = None) -> Report:
    """Verify every record of ``in_path`` (JSONL or a JSON array; funrl, ToolACE or OpenAI format, ``fmt="auto"``
    detects per record). Kept samples go to ``kept_path`` in the format they were read in, with their ``id`` (a
    record without one gets its 0-based index); rejected ones to ``rejected_path`` as ``{"id", "sample": <the record
    as read>, "failed": {rule: [reasons]}, "layer", ["quarantined"]}``; an unreadable record is rejected with rule
    ``input`` and its FILE:LINE message. Resumable: each sample's line is appended and flushed as soon as it is
    decided, and a re-run skips the records already in either file (a torn last line is dropped first), so a killed
    and re-run job leaves the same files as an uninterrupted one. The report (also written to ``report_path``) is
    recomputed from both files."""
    started = time.perf_counter()
    ctx = ctx or VerifyContext(pool=pool, backend=backend, rules=rules)
    if report_path:
        check_own_json(report_path, lambda d: isinstance(d, dict) and "totals" in d, "a verification report")
    # One pass over the input, one record in memory at a time (a batch of them for LLM judges). Records that are
    # not samples before the first one that is are held back: if no record is a sample (a pool, a result file...),
    # nothing is written and the error says so.
    table = ToolTable()  # the samples of the file share their tools
    parsed = ((rec, *_read_one(rec, fmt, in_path, table)) for rec in read_records(in_path))
    leading: list[tuple[Any, Any, Sample | None, str | None, InputError | None]] = []
    for item in parsed:
        leading.append(item)
        if item[4] is None:
            break
    if not leading:
        raise InputError("no records: the input is empty", path=in_path)
    if leading[-1][4] is not None:  # a pool, a result file, ...: not samples at all
        first = leading[0][4]
        raise InputError(f"none of its {len(leading)} records is a sample ({fmt} format): is it the right file? "
                         f"First problem: {first.message}", path=in_path,
                         line=first.line)
    kept_out = JsonlAppender(kept_path, count_ids=True, own=_is_kept_row, what="kept samples (funrl verify --out)",
                             reuse="tools")
    try:
        rejected_out = JsonlAppender(rejected_path, count_ids=True, own=_is_rejected_row,
                                     what="rejected samples (funrl verify --rejected)")
    except InputError:
        kept_out.close()
        raise
    # ids already written by an earlier run, each as often as it was written (an input may repeat an id)
    done = kept_out.id_counts + rejected_out.id_counts
    kept_out.id_counts = rejected_out.id_counts = Counter()
    seen: Counter = Counter()

    def todo() -> Iterator[tuple[Any, Any, Sample | None, str | None, InputError | None]]:
        """The records this run decides (those an earlier run wrote are skipped), quarantining unreadable ones."""
        with Quarantine(kept_path) as quarantine:
            for rec, sid, sample, rfmt, error in itertools.chain(leading, parsed):
                if done:
                    key = _id_key(sid)
                    seen[key] += 1
                    if seen[key] <= done[key]:
                        bar.update(1)
                        continue  # written by an earlier run
                if error is not None:
                    quarantine.add_record(rec, in_path, error)
                yield sid, rec.value, sample, rfmt, error

    # programmatic verification decides one sample at a time (each line is on disk before the next is checked);
    # LLM judges and FunRL's filter decide a batch at a time, its requests in flight together
    step = batch_size if ctx.llm else 1
    verified = 0
    from tqdm import tqdm

    bar = tqdm(total=_count_records(in_path) if progress else None, disable=not progress, desc="verify",
               unit="sample")
    try:
        pending = todo()
        while True:
            chunk = list(itertools.islice(pending, step))
            if not chunk:
                break
            verdicts = iter(_decide([s for _, _, s, _, _ in chunk if s is not None], ctx, funrl_filter))
            for sid, rec, sample, rfmt, error in chunk:
                if error is not None:
                    rejected_out.write(_rejected_line(sid, rec, None, failed={"input": [str(error)]}, layer="input"))
                    bar.update(1)
                    continue
                v = next(verdicts)
                if v.kept:
                    kept = v.sample or sample
                    # a funrl line read as is keeps its tools, each equal to the (shared) one read for it
                    texts = sample.tool_lines() if kept is sample and rfmt == "funrl" else None
                    kept_out.write(_kept_record(rec, kept, sid, rfmt, kept is not sample), texts=texts)
                else:
                    rejected_out.write(_rejected_line(sid, rec, v))
                verified += 1
                bar.update(1)
    finally:
        bar.close()
        kept_out.close()
        rejected_out.close()
    report = _report(in_path, fmt, kept_path, rejected_path, ctx, funrl_filter)
    report.elapsed_s = time.perf_counter() - started
    report.verified_this_run = verified
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    return report


def _count_records(path: Any) -> int | None:
    """Non-blank lines of a JSONL file (the progress bar's total), counted without parsing; None for a JSON array."""
    try:
        with open(path, "rb") as f:
            if _starts_with_bracket(f):
                return None
            return sum(1 for line in f if line.strip())
    except OSError:
        return None


def _is_kept_row(row: Any) -> bool:
    return isinstance(row, dict) and "id" in row


def _is_rejected_row(row: Any) -> bool:
    return isinstance(row, dict) and "id" in row and "failed" in row


def _id_key(sid: Any) -> Any:
    return json.dumps(sid, sort_keys=True) if isinstance(sid, (list, dict)) else sid


def _read_one(rec: Any, fmt: str, path: Any,
              table: ToolTable | None = None) -> tuple[Any, Sample | None, str | None, InputError | None]:
    """``(id, sample, format, error)`` of one input record; the id is the record's own or its index."""
    own = rec.value.get("id") if isinstance(rec.value, dict) else None
    sid = own if own is not None else rec.index
    if rec.error is not None:
        return sid, None, None, rec.error
    try:
        rfmt = detect_format(rec.value) if fmt == "auto" else fmt
        sample = sample_from(rec.value, rfmt, index=rec.index, table=table)
    except (ValueError, ToolSchemaError) as e:
        where = f"record {rec.index}: " if rec.line is None else ""
        return sid, None, None, InputError(f"{where}{e}", path=path, line=rec.line)
    if sample.id is None:
        sample.id = sid
    return sid, sample, rfmt, None


def _decide(samples: list[Sample], ctx: VerifyContext, use_funrl: bool) -> list[SampleVerdict]:
    """Verdicts for a batch: rule and model layers, then (``use_funrl``) FunRL's filter on the samples that passed.
    Offline, FunRL's stage 1 *is* the rule and model layers, so only its AST stage remains."""
    if not samples:
        return []
    if not ctx.llm:
        verdicts = [verify_sample(s, ctx) for s in samples]
        if use_funrl:
            for v, s in zip(verdicts, samples):
                if v.kept:
                    _apply_funrl(v, FilterOutcome(s.id, True, sample=s), _ast_stage(s, {}))
        return verdicts

    async def run() -> list[SampleVerdict]:
        verdicts = await averify(samples, ctx)
        if use_funrl:
            passing = [(v, s) for v, s in zip(verdicts, samples) if v.kept]
            outcomes = await afunrl_filter([s for _, s in passing], ctx.backend, ctx=ctx)
            for (v, _), o in zip(passing, outcomes):
                _apply_funrl(v, o, [])
        return verdicts

    from ...backends import run_sync

    return run_sync(run())


def _apply_funrl(v: SampleVerdict, o: FilterOutcome, ast_problems: list[str]) -> None:
    v.sample = o.sample or v.sample
    if o.quarantined:
        v.quarantined, v.kept = f"funrl: {o.quarantined}", False
        return
    if ast_problems:
        o = replace(o, kept=False, stage="ast", reasons=ast_problems)
    if not o.kept:
        v.failed["funrl_llm" if o.stage == "llm" else "funrl_ast"] = o.reasons
        v.layer_failed["funrl"], v.kept = True, False
