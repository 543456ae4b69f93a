"""The BFCL prompt funrl builds is BFCL's own, character for character, on real entries of every category.

BFCL's prompt code (bfcl_eval/model_handler/utils.py) imports its Java/JavaScript parsers, which need tree-sitter;
the ``bfcl_utils`` fixture (tests/conftest.py) stubs those two modules (and tenacity, when missing) so BFCL's own
functions run without them.
"""

import copy

import pytest

from funrl_lib.bfcl.data import JAVA_JS_CATEGORIES, SUPPORTED_CATEGORIES, load_category
from funrl_lib.bfcl.prompts import execution_results_message, with_bfcl_system_prompt


@pytest.mark.parametrize("category", SUPPORTED_CATEGORIES + JAVA_JS_CATEGORIES)
def test_system_prompt_is_bfcls(bfcl_utils, category):
    handler_utils, bfcl_utils_mod = bfcl_utils
    entries = list(load_category(category).values())
    for entry in entries[:: max(1, len(entries) // 12)]:
        question = entry.question[0]
        theirs_functions = bfcl_utils_mod._func_doc_language_specific_pre_processing(
            copy.deepcopy(entry.raw_functions), category)
        theirs = handler_utils.system_prompt_pre_processing_chat_model(copy.deepcopy(question), theirs_functions,
                                                                       entry.id)
        ours = with_bfcl_system_prompt(question, entry.raw_functions, category)
        assert ours == theirs, entry.id


def test_existing_system_message_gets_the_prompt_prepended(bfcl_utils):
    handler_utils, _ = bfcl_utils
    functions = [{"name": "f", "description": "Do f.", "parameters": {"type": "dict", "properties": {}}}]
    question = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    ours = with_bfcl_system_prompt(question, functions)
    theirs = handler_utils.system_prompt_pre_processing_chat_model(
        copy.deepcopy(question), [dict(functions[0], description="Do f. Note that the provided function is in "
                                                                   "Python 3 syntax.")], "simple_python_0")
    assert ours == theirs and ours[0]["content"].endswith("\n\nBe brief.") and question[0]["content"] == "Be brief."


def test_execution_results_message_is_bfcls(bfcl_utils):
    handler_utils, _ = bfcl_utils
    calls, results = ["ls()", "cd(folder='a')"], ["{'current_directory_content': []}", "None"]
    theirs = handler_utils.format_execution_results_prompting({}, results, {"model_responses_decoded": calls})
    assert execution_results_message(calls, results) == theirs
