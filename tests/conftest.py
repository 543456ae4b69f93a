"""Fixtures shared by several test modules (test modules do not import each other)."""

import importlib.util
import sys
import types

import pytest


@pytest.fixture(scope="module")
def bfcl_utils():
    """BFCL's own ``(model_handler.utils, utils)`` modules, its Java/JavaScript parsers (tree-sitter) and, when missing,
    tenacity stubbed, so its prompt and handler functions run without them."""
    stubs = {"bfcl_eval.model_handler.parser.java_parser": {"parse_java_function_call": None},
             "bfcl_eval.model_handler.parser.js_parser": {"parse_javascript_function_call": None}}
    if importlib.util.find_spec("tenacity") is None:
        stubs["tenacity"] = {n: (lambda *a, **k: (lambda f: f)) for n in
                             ("retry", "retry_if_exception_type", "stop_after_attempt", "wait_random_exponential",
                              "retry_if_exception_message", "wait_exponential", "before_sleep_log")}
    saved = {name: sys.modules.get(name) for name in stubs}
    for name, attrs in stubs.items():
        mod = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        sys.modules[name] = mod
    try:
        from bfcl_eval.model_handler import utils as handler_utils
        from bfcl_eval import utils as bfcl_utils_mod
        yield handler_utils, bfcl_utils_mod
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


@pytest.fixture(scope="module")
def tiny_chatml():
    """The tiny Qwen2 (random, seed 0, a few thousand parameters, wide initialisation so greedy choices are not
    near-ties) and its ChatML tokenizer (eos <|im_end|>, pad <|endoftext|>), trained on one think-then-call turn.
    Module scope: a module that changes it changes only its own copy."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from funrl_lib.train.tiny import render_chatml, tiny_qwen2, tiny_tokenizer

    texts = [render_chatml([{"role": "user", "content": "call f with a=1 please"},
                            {"role": "assistant", "content": "<think>ok</think>\n[f(a=1)]"}])] * 30
    tokenizer = tiny_tokenizer(texts, vocab_size=300)
    torch.manual_seed(0)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.5).eval()
    return types.SimpleNamespace(model=model, tokenizer=tokenizer)
