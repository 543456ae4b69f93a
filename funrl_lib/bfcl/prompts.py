"""BFCL's prompting-mode system prompt, rebuilt exactly (bfcl-eval 2026.3.23, ``model_handler/utils.py``).

BFCL evaluates "Prompt" models by inserting a system message (or prepending one, followed by ``\\n\\n``, to a system
message the question already has) that describes the task and lists the functions as ``json.dumps(functions,
indent=4)``, after appending a language hint to every function description (``utils.
_func_doc_language_specific_pre_processing``). Its default configuration is ``ret_fmt=python&tool_call_tag=False&
func_doc_fmt=json&prompt_fmt=plaintext&style=classic``; the text keeps BFCL's quirks ("functions.You are": no space;
two spaces before "You SHOULD NOT"). tests/test_bfcl_prompts.py compares this module with BFCL's own functions.

Multi-turn prompting returns execution results as the ``repr`` of ``[{"role": "tool", "name": <call>, "content":
<result>}, ...]`` in one user message (:func:`execution_results_message`), and functions withheld until a turn
(miss_func) arrive in a user message :data:`MISSED_FUNCTIONS_MESSAGE`.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Mapping, Sequence

__all__ = ["BFCL_SYSTEM_PROMPT", "MISSED_FUNCTIONS_MESSAGE", "bfcl_function_docs", "bfcl_system_prompt",
           "execution_results_message", "language_hint", "with_bfcl_system_prompt", "with_system"]

BFCL_SYSTEM_PROMPT = (
    "You are an expert in composing functions.You are given a question and a set of possible functions. Based on "
    "the question, you will need to make one or more function/tool calls to achieve the purpose. If none of the "
    "functions can be used, point it out. If the given question lacks the parameters required by the function, also "
    "point it out.\n\n"
    "You should only return the function calls in your response.\n\n"
    "If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1="
    "params_value1, params_name2=params_value2...), func_name2(params)].  You SHOULD NOT include any other text in "
    "the response.\n\n"
    "At each turn, you should try your best to complete the tasks requested by the user within the current turn. "
    "Continue to output functions to call until you have fulfilled the user's request to the best of your ability. "
    "Once you have no more functions to call, the system will consider the current turn complete and proceed to the "
    "next turn or task.\n\n"
    "Here is a list of functions in json format that you can invoke.\n{functions}\n"
)
MISSED_FUNCTIONS_MESSAGE = "{functions}\nI have updated some more functions you can choose from. What about now?"


def language_hint(category: str) -> str:
    if "java" in category and "javascript" not in category:
        return " Note that the provided function is in Java 8 SDK syntax."
    if "javascript" in category:
        return " Note that the provided function is in JavaScript syntax."
    return " Note that the provided function is in Python 3 syntax."


def bfcl_function_docs(functions: Sequence[dict], category: str = "simple_python") -> list[dict]:
    """The function docs as BFCL shows them to a model (``utils._func_doc_language_specific_pre_processing``): a copy
    with the language hint appended to each description; for Java and JavaScript each parameter's description also
    says its declared type "in string representation" (array element types and JavaScript dict schemas spelled out,
    ``items`` / ``properties`` removed) and its type becomes ``string``: the model is asked for every value as
    source text, which the checker converts back (:mod:`.java_js`)."""
    docs = copy.deepcopy(list(functions))
    java = "java" in category and "javascript" not in category
    js = "javascript" in category
    for doc in docs:
        doc["description"] = doc.get("description", "") + language_hint(category)
        if not (java or js):
            continue
        lang = "Java" if java else "JavaScript"
        for value in doc.get("parameters", {}).get("properties", {}).values():
            if value["type"] == "any":
                value["description"] += f" This parameter can be of any type of {lang} object in string representation."
            else:
                value["description"] += f" This is {lang} {value['type']} type parameter in string representation."
            if value["type"] in (("ArrayList", "Array") if java else ("array",)):
                value["description"] += (f" The list elements are of type {value['items']['type']}; they are not in "
                                         "string representation.")
                del value["items"]
            if js and value["type"] == "dict" and "properties" in value:
                value["description"] += (" The dictionary entries have the following schema; they are not in string "
                                         f"representation. {json.dumps(value['properties'])}")
                del value["properties"]
            value["type"] = "string"
    return docs


def bfcl_system_prompt(functions: Sequence[dict], category: str = "simple_python") -> str:
    """BFCL's default prompting system prompt for ``functions`` (raw BFCL function dicts)."""
    return BFCL_SYSTEM_PROMPT.format(functions=json.dumps(bfcl_function_docs(functions, category), indent=4))


def with_system(messages: Sequence[Mapping[str, Any]], system: str) -> list[dict]:
    """A copy of ``messages`` with ``system`` first: prepended, with a blank line, to a system message the question
    already has, else as a new system message (BFCL's ``system_prompt_pre_processing_chat_model``)."""
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = system + "\n\n" + out[0]["content"]
    else:
        out.insert(0, {"role": "system", "content": system})
    return out


def with_bfcl_system_prompt(messages: Sequence[dict], functions: Sequence[dict],
                            category: str = "simple_python") -> list[dict]:
    """``messages`` with BFCL's system prompt first (prepended to an existing system message, as BFCL does)."""
    return with_system(messages, bfcl_system_prompt(functions, category))


def execution_results_message(calls: Sequence[str], results: Sequence[Any]) -> str:
    """The text BFCL sends back after executing a step's calls (``format_execution_results_prompting``)."""
    return repr([{"role": "tool", "name": c, "content": r} for c, r in zip(calls, results)])
