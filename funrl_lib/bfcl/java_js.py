"""BFCL v4 ``simple_java`` and ``simple_javascript``: decoding and checking exactly as the official checker does.

A port of the Java/JavaScript paths of bfcl-eval 2026.3.23 (Apache-2.0): the decoders
``model_handler/parser/java_parser.py`` and ``js_parser.py`` (tree-sitter, the same pinned grammars:
``tree_sitter==0.21.3``, ``tree-sitter-java==0.21.0``, ``tree-sitter-javascript==0.21.4``, all installed from
wheels by ``pip install --no-deps -r requirements-bfcl.txt``), the value converters
``eval_checker/ast_eval/type_convertor/java_type_converter.py`` and ``js_type_converter.py`` (regular expressions,
nothing evaluated), and the Java/JavaScript branch of ``ast_checker.simple_function_checker``. The value checks after
conversion are funrl's Python checker's (:mod:`.value_checks`), which the official code shares between languages.
tests/test_bfcl_java_js_parity.py holds funrl to the official verdicts recorded by ``scripts/bfcl_parity.py
--java-js`` on every mutated output of :mod:`.java_js_mutations`.

How BFCL scores a Java/JavaScript answer (prompting models):

* The output is stripped of backticks, newlines and spaces at both ends, wrapped in ``[`` ``]`` if needed, and the
  first and last characters are cut again (``default_decode_ast_prompting`` then ``ast_parse``); the rest is parsed
  with tree-sitter. Any ``ERROR`` node fails the decode. The first call found is the answer (Java: a
  ``method_invocation`` anywhere, ``Obj.method`` joined into one name; JavaScript: a ``call_expression`` statement at
  the top level). Arguments must be written ``name=value`` (an assignment expression); bare identifiers (and in
  JavaScript ``true``) are positional and stored under the key ``None``, which the checker then rejects as an
  unexpected parameter; other positional values are dropped. The same name twice fails the decode.
* Every value is kept **as source text** (Java string literals lose their quotes unless nested; JavaScript values
  lose one pair of surrounding quotes), so the checker first requires a string (``type_error:java`` /
  ``type_error:js`` otherwise, e.g. after FC decoding of a JSON number), then converts it by the parameter's declared
  type (``"50"`` -> 50 for ``integer``, ``50L`` for ``long``, ``new ArrayList<>(Arrays.asList(...))`` for
  ``ArrayList``, ``{'a': 1}`` for a JavaScript ``dict``, ...). Text that does not fit the type stays a string and
  usually fails the type check that follows, unless the answer itself is a string ("variable" escape).
* Then the checks are the Python ones: exact types, normalised strings, order-sensitive lists, dicts key by key,
  optional parameters by ``""``.
* No Python int->float coercion; a declared type outside the language's table (or a ``Set``/``Hashtable``/
  ``Queue``/``Stack`` value, whose conversion the official code leaves unimplemented) makes the official checker
  raise: recorded as ``checker_error:<Exception>``, as for the Python categories.

FC mode (``fc=True``): BFCL's FC handlers ignore the language and decode their own JSON blocks; the values are then
JSON values, and anything but a string fails the Java/JavaScript type check, as in the official checker.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any, Sequence

from ..calls import DecodeError, decode_qwen_fc, qwen_fc_response, strip_think
from .data import BFCLEntry
from .value_checks import Verdict, _fail, _func_name, _value_check

__all__ = ["JAVA_JS_CATEGORIES", "JAVA_TYPES", "JS_TYPES", "TreeSitterMissing", "check_java_js", "decode_java",
           "decode_javascript", "is_java", "java_type_converter", "js_type_converter", "language_of",
           "score_java_js_entry"]

JAVA_JS_CATEGORIES = ("simple_java", "simple_javascript")
TREE_SITTER_PINS = "tree_sitter==0.21.3 tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4"

# constants/type_mappings.py
JAVA_TYPES: dict[str, type] = {"byte": int, "short": int, "integer": int, "float": float, "double": float,
                               "long": int, "boolean": bool, "char": str, "Array": list, "ArrayList": list,
                               "Set": set, "HashMap": dict, "Hashtable": dict, "Queue": list, "Stack": list,
                               "String": str, "any": str}
JS_TYPES: dict[str, type] = {"String": str, "integer": int, "float": float, "Bigint": int, "Boolean": bool,
                             "dict": dict, "array": list, "any": str}
_NESTED_CONVERSION = ("Array", "ArrayList", "array")


class TreeSitterMissing(RuntimeError):
    """tree-sitter (BFCL's Java/JavaScript parser) is not installed."""


def is_java(category: str) -> bool:
    """BFCL's ``is_java``: the category names Java but not JavaScript."""
    return "java" in category and "javascript" not in category


def language_of(category: str) -> str:
    return "java" if is_java(category) else "javascript"


# ---------------------------------------------------------------------------------------------------------------
# Parsers (model_handler/parser/java_parser.py, js_parser.py)
# ---------------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _parser(language: str) -> Any:
    try:
        from tree_sitter import Language, Parser
        grammar = importlib.import_module("tree_sitter_java" if language == "java" else "tree_sitter_javascript")
    except ImportError as e:
        raise TreeSitterMissing(f"scoring simple_java / simple_javascript needs BFCL's tree-sitter parsers ({e}); "
                                f"install them with `pip install --no-deps -r requirements-bfcl.txt` "
                                f"({TREE_SITTER_PINS})") from None
    parser = Parser()
    parser.set_language(Language(grammar.language(), language))
    return parser


class _DecodeFailure(Exception):
    """The official decoder raises here (its message, for the verdict)."""


def decode_java(source_code: str) -> Any:
    """``parse_java_function_call``: ``[{name: {param: text}}]``, or ``{}`` when no call is found (which the official
    format check then rejects). Raises :class:`_DecodeFailure` where the official decoder raises."""
    tree = _parser("java").parse(bytes(source_code, "utf8"))
    root_node = tree.root_node
    if "ERROR" in root_node.sexp():
        raise _DecodeFailure("Error parsing java the source code.")

    def get_text(node: Any) -> str:
        # As the official code: byte offsets used on the str (differs from the bytes for non-ASCII text).
        return source_code[node.start_byte: node.end_byte]

    def traverse_node(node: Any, nested: bool = False) -> str:
        if node.type == "string_literal":
            return get_text(node) if nested else get_text(node)[1:-1]
        if node.type == "character_literal":
            return get_text(node) if nested else get_text(node)[1:-1]
        if node.type in ("identifier", "class_literal", "type_identifier", "method_invocation"):
            return get_text(node)
        if node.type == "array_creation_expression":
            type_text = traverse_node(node.child_by_field_name("type"), True)
            value_text = traverse_node(node.child_by_field_name("value"), True)
            return f"new {type_text}[]{value_text}"
        if node.type == "object_creation_expression":
            type_text = traverse_node(node.child_by_field_name("type"), True)
            arguments_node = node.child_by_field_name("arguments")
            if arguments_node:
                texts = [traverse_node(child, True) for child in arguments_node.children
                         if child.type not in (",", "(", ")")]
                return f"new {type_text}({', '.join(texts)})"
            return f"new {type_text}()"
        if node.type == "set":
            items = [traverse_node(n, True) for n in node.children if n.type not in (",", "set")]
            return "{" + ", ".join(items) + "}"
        if node.child_count > 0:
            return "".join(traverse_node(child, True) for child in node.children)
        return get_text(node)

    def extract_arguments(args_node: Any) -> dict:
        arguments: dict = {}
        for child in args_node.children:
            if child.type == "assignment_expression":
                name = get_text(child.children[0])
                _add(arguments, name, traverse_node(child.children[2]))
            elif child.type in ("identifier", "class_literal", "set"):
                _add(arguments, None, traverse_node(child))
        return arguments

    def traverse(node: Any) -> Any:
        if node.type == "method_invocation":
            method_name = get_text(node.child_by_field_name("name"))
            class_name_node = node.child_by_field_name("object")
            function_name = f"{get_text(class_name_node)}.{method_name}" if class_name_node else method_name
            arguments_node = node.child_by_field_name("arguments")
            if arguments_node:
                arguments = extract_arguments(arguments_node)
                if any(isinstance(v, list) for v in arguments.values()):
                    raise _DecodeFailure("Error: Multiple arguments with the same name are not supported.")
                return [{function_name: arguments}]
            return None
        for child in node.children:
            result = traverse(child)
            if result:
                return result
        return None

    result = traverse(root_node)
    return result if result else {}


def _add(arguments: dict, name: Any, value: str) -> None:
    """A repeated name turns its entry into a list (the official parsers then reject it)."""
    if name in arguments:
        if not isinstance(arguments[name], list):
            arguments[name] = [arguments[name]]
        arguments[name].append(value)
    else:
        arguments[name] = value


def decode_javascript(source_code: str) -> Any:
    """``parse_javascript_function_call``: ``[{name: {param: text}}]`` for the first top-level call statement, or
    ``None`` when there is none (rejected by the official format check)."""
    tree = _parser("javascript").parse(bytes(source_code, "utf8"))
    root_node = tree.root_node
    if "ERROR" in root_node.sexp():
        raise _DecodeFailure("Error js parsing the source code.")

    def extract_arguments(node: Any) -> dict:
        args: dict = {}
        for child in node.children:
            if child.type == "assignment_expression":
                name = child.children[0].text.decode("utf-8")
                value = child.children[2].text.decode("utf-8")
                if (value.startswith('"') and value.endswith('"')) or (value.startswith("'") and value.endswith("'")):
                    value = value[1:-1]
                _add(args, name, value)
            elif child.type in ("identifier", "true"):
                _add(args, None, child.text.decode("utf-8"))
        return args

    if root_node.type == "program":
        for child in root_node.children:
            if child.type == "expression_statement":
                for sub_child in child.children:
                    if sub_child.type == "call_expression":
                        function_name = sub_child.children[0].text.decode("utf8")
                        parameters = extract_arguments(sub_child.children[1])
                        if any(isinstance(v, list) for v in parameters.values()):
                            raise _DecodeFailure("Error: Multiple arguments with the same name are not supported.")
                        return [{function_name: parameters}]
    return None


def decode_prompting(text: str, language: str) -> Any:
    """``default_decode_ast_prompting`` + ``ast_parse`` for Java/JavaScript: strip ``` `\\n ``` at both ends, add the
    outer ``[`` ``]`` when missing, cut the first and last characters, parse."""
    if not isinstance(text, str):
        raise _DecodeFailure(f"'{type(text).__name__}' object has no attribute 'strip'")
    result = text.strip("`\n ")
    if not result.startswith("["):
        result = "[" + result
    if not result.endswith("]"):
        result = result + "]"
    inner = result[1:-1]
    return decode_java(inner) if language == "java" else decode_javascript(inner)


# ---------------------------------------------------------------------------------------------------------------
# Value converters (eval_checker/ast_eval/type_convertor/*.py), ported line for line; no eval.
# ---------------------------------------------------------------------------------------------------------------

def java_type_converter(value: str, expected_type: str, nested_type: str | None = None) -> Any:
    if expected_type not in JAVA_TYPES:
        raise ValueError(f"Unsupported type: {expected_type}")
    if expected_type in ("byte", "short", "integer"):
        if not re.match(r"^-?\d+$", value):
            return str(value)
        return int(value)
    if expected_type == "float":
        if not re.match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$", value):
            return str(value)
        return float(re.sub(r"[fF]$", "", value))
    if expected_type == "double":
        if not re.match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$", value):
            return str(value)
        return float(value)
    if expected_type == "long":
        if not re.match(r"^-?\d+[lL]$", value):
            return str(value)
        return int(re.sub(r"[lL]$", "", value))
    if expected_type == "boolean":
        if value not in ("true", "false"):
            return str(value)
        return value == "true"
    if expected_type == "char":
        if not re.match(r"^\'.$\'", value):
            return str(value)
        return value
    if expected_type in ("Array", "ArrayList"):
        return _parse_java_collection(value, expected_type, nested_type)
    if expected_type == "Set":
        raise NotImplementedError("Set conversion is not implemented")
    if expected_type == "HashMap":
        return _parse_java_collection(value, expected_type, nested_type)
    if expected_type == "Hashtable":
        raise NotImplementedError("Set conversion is not implemented")
    if expected_type in ("Queue", "Stack"):
        raise NotImplementedError(f"{expected_type} conversion is not implemented")
    if expected_type in ("String", "any"):
        return str(value)
    raise ValueError(f"Unsupported type: {expected_type}")


def _parse_java_collection(input_str: str, type_str: str, nested_type: str | None = None) -> Any:
    if type_str == "ArrayList":
        return _parse_arraylist(input_str, nested_type)
    if type_str == "Array":
        return _parse_array(input_str, nested_type)
    if type_str == "HashMap":
        return _parse_hashmap(input_str)
    raise ValueError(f"Unsupported type: {type_str}")


def _java_element(text: str, nested_type: str | None) -> Any:
    if nested_type == "char":
        return text[1:-1]
    if nested_type == "String":
        return text[1:-1]
    return java_type_converter(text, nested_type) if nested_type else _parse_java_value(text)


def _parse_arraylist(input_str: str, nested_type: str | None = None) -> Any:
    match_as_list = re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", input_str)
    if match_as_list:
        return [_java_element(e.strip(), nested_type) for e in match_as_list.group(1).split(",")]
    match_add = re.search(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", input_str, re.DOTALL)
    if match_add:
        return [_java_element(m.strip(), nested_type) for m in re.findall(r"add\((.+?)\)", match_add.group(1))]
    if re.search(r"new\s+ArrayList<\w*>\(\)", input_str):
        return []
    return input_str


def _parse_array(input_str: str, nested_type: str | None = None) -> Any:
    match = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", input_str)
    if not match:
        return input_str
    parts = [x.strip() for x in match.group(1).split(",") if x.strip()]
    if nested_type:
        return [java_type_converter(x, nested_type) for x in parts]
    return [_parse_java_value(x) for x in parts]


def _parse_hashmap(input_str: str) -> Any:
    elements: dict = {}
    match = re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", input_str, re.DOTALL)
    if match:
        puts_str = match.group(1)
        if puts_str.strip():
            for key, value in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", puts_str):
                elements[key] = _parse_java_value(value.strip())
        return elements
    if re.search(r"new\s+HashMap<.*?>\s*\(\)", input_str):
        return {}
    return input_str


def _parse_java_value(value_str: str) -> Any:
    if value_str == "true":
        return True
    if value_str == "false":
        return False
    if value_str.startswith('"') and value_str.endswith('"'):
        return value_str[1:-1]
    if re.match(r"^-?\d+[lL]$", value_str):
        return int(value_str[:-1])
    if re.match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$", value_str):
        return float(re.sub(r"[fF]$", "", value_str))
    return _int_float_or_text(value_str)


def _int_float_or_text(value_str: str) -> Any:
    """``int(s)``, else ``float(s)``, else ``s`` (Python's own number syntax, as the official fallback)."""
    try:
        return int(value_str)
    except ValueError:
        try:
            return float(value_str)
        except ValueError:
            return value_str


def js_type_converter(value: str, expected_type: str, nested_type: str | None = None) -> Any:
    if expected_type not in JS_TYPES:
        raise ValueError(f"Unsupported type: {expected_type}")
    if expected_type == "String":
        if not (value.startswith('"') and value.endswith('"')) and not (value.startswith("'") and value.endswith("'")):
            return str(value)
        return value[1:-1]
    if expected_type == "integer":
        if not re.match(r"^-?\d+$", value):
            return str(value)
        return int(value)
    if expected_type == "float":
        if not re.match(r"^-?\d+(\.\d+)?$", value):
            return str(value)
        return float(value)
    if expected_type == "Bigint":
        if not re.match(r"^-?\d+n$", value):
            return str(value)
        return int(value[:-1])
    if expected_type == "Boolean":
        if value not in ("true", "false"):
            return str(value)
        return value == "true"
    if expected_type == "dict":
        return _parse_js_collection(value, "dict", nested_type)
    if expected_type == "array":
        return _parse_js_collection(value, "array", nested_type)
    if expected_type == "any":
        return str(value)
    raise ValueError(f"Unsupported type: {expected_type}")


_JS_ARRAY_2D = r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)"
_JS_ARRAY = r"\[(.*?)\]|\bnew\s+Array\((.*?)\)"


def _parse_js_collection(code: str, type_str: str, nested_type: str | None = None) -> Any:
    code = code.strip()
    if type_str == "array":
        array_2d_match = re.match(_JS_ARRAY_2D, code)
        try:
            if array_2d_match:
                elements = []
                for idx, inner in enumerate(re.findall(r"\[(.*?)\]", array_2d_match.group(0))):
                    inner = inner.strip()
                    if idx == 0 and inner.startswith("["):
                        inner = inner[1:]
                    elements.append([_parse_js_value(e.strip()) for e in inner.split(",")])
                return elements
            array_match = re.match(_JS_ARRAY, code)
            if not array_match:
                return code
            if array_match.group(1) is not None:
                text = array_match.group(1).strip()
            elif array_match.group(2) is not None:
                text = array_match.group(2).strip()
            else:
                text = ""
            parts = text.split(",") if text else []
            if nested_type:
                return [js_type_converter(e.strip(), nested_type, "String")
                        if (e.strip().startswith("'") or e.strip().startswith('"'))
                        else js_type_converter(e.strip(), nested_type) for e in parts]
            return [_parse_js_value(e.strip()) for e in parts]
        except Exception:  # noqa: BLE001 - the official converter returns the text on any error
            return code
    if type_str == "dict":
        if code == "{}":
            return {}
        dict_match = re.match(r"\{(.*?)\}", code)
        if not dict_match:
            return code
        try:
            pairs = re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", dict_match.group(1))
            dictionary: dict = {}
            for key, value in pairs:
                key = key.strip().strip("'\"")
                value = value.strip()
                if value.startswith("[") and value.endswith("]"):
                    dictionary[key] = _parse_js_collection(value, "array")
                elif value.startswith("{") and value.endswith("}"):
                    dictionary[key] = _parse_js_collection(value, "dict")
                else:
                    dictionary[key] = _parse_js_value(value.strip("'\""))
            return dictionary
        except Exception:  # noqa: BLE001 - as above (the official code prints the error)
            return code
    raise ValueError(f"Unsupported type: {type_str}")


def _parse_js_value(value_str: str) -> Any:
    value_str = value_str.strip()
    if value_str == "true":
        return True
    if value_str == "false":
        return False
    if (value_str.startswith('"') and value_str.endswith('"')) or (value_str.startswith("'") and
                                                                   value_str.endswith("'")):
        return value_str[1:-1]
    return _int_float_or_text(value_str)


# ---------------------------------------------------------------------------------------------------------------
# Checker (ast_checker.simple_function_checker, Java/JavaScript branch) and whole-entry scoring
# ---------------------------------------------------------------------------------------------------------------

def _check_one(doc: dict, model_output: dict, possible: dict, language: str, underscore_to_dot: bool) -> Verdict:
    possible_answer = list(possible.values())[0]
    func_name = _func_name(doc["name"], underscore_to_dot)
    param_details = doc["parameters"]["properties"]
    required_params = doc["parameters"]["required"]
    if func_name not in model_output:
        return _fail("simple_function_checker:wrong_func_name", f"Function name {func_name!r} not found in model "
                                                                 f"output.")
    model_params = model_output[func_name]
    for param in required_params:
        if param not in model_params:
            return _fail("simple_function_checker:missing_required", f"Missing required parameter: {param!r}.")
    table = JAVA_TYPES if language == "java" else JS_TYPES
    converter = java_type_converter if language == "java" else js_type_converter
    for param, value in model_params.items():
        if param not in param_details or param not in possible_answer:
            return _fail("simple_function_checker:unexpected_param", f"Unexpected parameter: {param!r}.")
        declared = param_details[param]["type"]
        expected = table[declared]  # KeyError for a type outside the table, as in the official code
        nested = None
        if type(value) != str:
            return _fail(f"type_error:{'java' if language == 'java' else 'js'}",
                         f"Incorrect type for parameter {param!r}. Expected type String, got "
                         f"{type(value).__name__}. Parameter value: {value!r}.")
        if declared in _NESTED_CONVERSION:
            nested_type = param_details[param]["items"]["type"]
            nested = table[nested_type]
            value = converter(value, declared, nested_type)
        else:
            value = converter(value, declared)
        failure = _value_check(param, value, possible_answer[param], declared, expected, nested)
        if failure is not None:
            return failure
    for param in possible_answer:
        if param not in model_params and "" not in possible_answer[param]:
            return _fail("simple_function_checker:missing_optional", f"Optional parameter {param!r} not provided and "
                                                                      f"not marked as optional.")
    return Verdict(True)


def _is_call_format(decoded: Any) -> bool:
    """``is_function_calling_format_output``."""
    if type(decoded) != list:
        return False
    for item in decoded:
        if type(item) != dict or len(item) != 1 or type(list(item.values())[0]) != dict:
            return False
    return True


def check_java_js(functions: Sequence[dict], decoded: list, possible_answer: list, category: str, *,
                  underscore_to_dot: bool = False) -> Verdict:
    """``ast_checker`` for a Java/JavaScript category (both are "simple": exactly one call, checked against the
    first function offered) on decoded calls ``[{name: {param: text}}]``."""
    language = language_of(category)
    if "parallel" in category or "multiple" in category:
        raise ValueError(f"{category}: funrl's Java/JavaScript checker covers BFCL's simple_java/simple_javascript")
    if len(decoded) != 1:
        return _fail("simple_function_checker:wrong_count", "Wrong number of functions.")
    return _check_one(functions[0], decoded[0], possible_answer[0], language, underscore_to_dot)


def score_java_js_entry(entry: BFCLEntry, output: Any, *, strip_thinking: bool = False,
                        underscore_to_dot: bool = False, fc: bool = False) -> Verdict:
    """One raw output against a simple_java / simple_javascript entry, as ``bfcl evaluate`` scores it
    (``_evaluate_single_ast_entry`` with the language's decoder and checker)."""
    if strip_thinking:
        output = strip_think(output)
    language = language_of(entry.category)
    try:
        if fc:
            decoded: Any = [c.to_bfcl() for c in decode_qwen_fc(qwen_fc_response(output))]
        else:
            decoded = decode_prompting(output, language)
    except TreeSitterMissing:
        raise
    except (_DecodeFailure, DecodeError) as e:
        return _fail("ast_decoder:decoder_failed", f"Invalid syntax. Failed to decode AST. {e}")
    except Exception as e:  # noqa: BLE001 - any exception in the official decoder is a failed decode
        return _fail("ast_decoder:decoder_failed", f"Invalid syntax. Failed to decode AST. {type(e).__name__}: {e}")
    if not _is_call_format(decoded):
        return _fail("ast_decoder:decoder_wrong_output_format", "Did not output in the specified format.")
    try:
        return check_java_js(entry.raw_functions, decoded, entry.possible_answer or [], entry.category,
                             underscore_to_dot=underscore_to_dot)
    except Exception as e:  # noqa: BLE001 - the official evaluator would abort here; recorded as for Python
        return _fail(f"checker_error:{type(e).__name__}", f"the official checker raises here: {e}")
