"""The LLM backends now live in :mod:`funrl_lib.backends`, below every stage (synth, bfcl); this module re-exports
them, so that ``from funrl_lib.synth.backends import ...`` keeps working."""

from .. import backends as _backends
from ..backends import (Backend, ChatRequest, ChatResult, Endpoint, HFBackend, OpenAIBackend,
                        ProgrammaticBackend, Quarantined, RETRY_TEMPERATURE, TokenUsage, backend_from_cli, chat_json,
                        extract_json, load_fleet, make_backend, parse_endpoint, run_sync)  # noqa: F401

__all__ = list(_backends.__all__)
