"""The JSONL layer now lives in :mod:`funrl_lib.io`, below every stage; this module re-exports it, so that
``from funrl_lib.synth.io import ...`` keeps working."""

from .. import io as _io
from ..io import (InputError, JsonlAppender, QUARANTINE_SUFFIX, Quarantine, Record, bounded_text,  # noqa: F401
                  check_own_json, check_own_output, dumps_line, dumps_record, leaf_values, quarantine_path,
                  read_records, redact_secrets, report_quarantine, seeded_rng, stable_digest, write_json, write_jsonl,
                  _starts_with_bracket)

__all__ = list(_io.__all__)
