"""The value checks of BFCL's AST checker (``bfcl_eval/eval_checker/ast_eval/ast_checker.py``: type, string, list,
dict and list-of-dict checks) and its :class:`Verdict`, shared by the Python checker (:mod:`.checker`) and the
Java/JavaScript one (:mod:`.java_js`), which the official code also runs through the same checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..calls import short_repr, short_str

__all__ = ["CheckerError", "GroundTruthError", "Verdict", "standardize_string"]

# ast_checker.PYTHON_TYPE_MAPPING, keyed by canonical kind (funrl_lib.tools): number is BFCL's float, object its dict.
_PY_TYPE = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "tuple": list,
            "object": dict, "any": str}
_NESTED_KINDS = ("array", "tuple")
_STRIP = str.maketrans("", "", " ,./-_*^")


class CheckerError(ValueError):
    """:func:`check_calls` cannot check these inputs: functions, calls, possible answer or category of the wrong type
    or shape. ``official`` names the exception the official checker raises at the same point (``"TypeError"``,
    ``"KeyError"``, ...; :func:`score_entry` records it as ``checker_error:<official>``), ``None`` where funrl refused
    the input before checking. The message is bounded (values are shortened, see
    :func:`funrl_lib.calls.short_repr`). A ``ValueError``, so handlers of bad data keep catching it."""

    def __init__(self, message: str, official: str | None = None):
        super().__init__(message)
        self.official = official


class GroundTruthError(CheckerError):
    """The ground truth names a function that is not among the functions offered (a data error, not a model error)."""

    def __init__(self, message: str):
        super().__init__(message, "GroundTruthError")


@dataclass
class Verdict:
    """Outcome of checking one model output. ``error_type`` is BFCL's string (``None`` when valid)."""

    valid: bool
    error_type: str | None = None
    errors: list = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid, "error_type": self.error_type}
        if self.errors:
            out["error"] = self.errors[0] if isinstance(self.errors[0], str) else str(self.errors[0])
        return out


_OK = Verdict(True)


def _fail(error_type: str, message: str) -> Verdict:
    return Verdict(False, error_type, [message])


def standardize_string(s: str) -> str:
    """BFCL's ``standardize_string``: drop spaces and ``,./-_*^``, lowercase, ``'`` -> ``"``."""
    return s.translate(_STRIP).lower().replace("'", '"')


# ---------------------------------------------------------------------------------------------------------------
# ast_checker port
# ---------------------------------------------------------------------------------------------------------------

def _possible_answer_type(possible_answer: list) -> type | None:
    for answer in possible_answer:
        if answer != "":
            return type(answer)
    return None


def _type_check(param: str, value: Any, possible_answer: list, spelling: Any, expected: type,
                nested: type | None) -> tuple[bool, bool, Verdict | None]:
    """ast_checker.type_checker -> (valid, is_variable, failure verdict)."""
    is_variable = False
    pa_type = _possible_answer_type(possible_answer)
    if pa_type is not None and pa_type != expected:
        is_variable = True
    failure: Verdict | None = None
    if type(value) == expected:
        if nested is None:
            return True, is_variable, None
        for item in possible_answer:
            flag = True
            if type(item) == list:
                for element in value:
                    ok, _, _ = _type_check(param, element, item, nested.__name__, nested, None)
                    if not ok:
                        flag = False
                        break
            if flag:
                return True, is_variable, None
        failure = _fail("type_error:nested", f"Nested type checking failed for parameter {param!r}. Expected outer "
                                             f"type {spelling} with inner type {nested.__name__}. "
                                             f"Parameter value: {short_repr(value)}.")
    if pa_type is not None and type(value) == pa_type:
        # The official code returns its running result here: still invalid if the nested check failed.
        return (failure is None), True, failure
    return False, False, _fail("type_error:simple", f"Incorrect type for parameter {param!r}. Expected type "
                                                    f"{spelling}, got {type(value).__name__}. Parameter value: "
                                                    f"{short_repr(value)}.")


def _string_check(param: str, value: str, possible_answer: list) -> Verdict:
    allowed = [standardize_string(a) for a in possible_answer if type(a) == str]
    if standardize_string(value) not in allowed:
        return _fail("value_error:string", f"Invalid value for parameter {param!r}: {short_repr(value)}. Expected "
                                           f"one of {short_str(possible_answer)}. Case insensitive.")
    return _OK


def _standardize_items(items: Any) -> list:
    # Indexing as the official code does (``for j in range(len(x)): x[j]``), so odd answer shapes behave the same.
    return [standardize_string(items[j]) if type(items[j]) == str else items[j] for j in range(len(items))]


def _list_check(param: str, value: list, possible_answer: list) -> Verdict:
    model = [standardize_string(v) if type(v) == str else v for v in value]
    allowed = [_standardize_items(possible_answer[i]) for i in range(len(possible_answer))]
    if model not in allowed:
        return _fail("value_error:list/tuple", f"Invalid value for parameter {param!r}: {short_repr(value)}. "
                                               f"Expected one of {short_str(possible_answer)}.")
    return _OK


def _dict_check(param: str, value: dict, possible_answers: list) -> Verdict:
    result = Verdict(False, "dict_checker:unclear", [])
    for possible in possible_answers:
        if possible == "":
            continue
        result = Verdict(False, "dict_checker:unclear", [])
        flag = True
        for key, val in value.items():
            if key not in possible:
                result = _fail("value_error:dict_key", f"Unexpected dict key parameter: '{short_str(key)}'.")
                flag = False
                break
            standardized = standardize_string(val) if type(val) == str else val
            allowed = _standardize_items(possible[key])
            if standardized not in allowed:
                result = _fail("value_error:dict_value", f"Invalid value for parameter {short_repr(key)}: "
                                                         f"{short_repr(val)}. Expected one of {short_str(allowed)}.")
                flag = False
                break
        for key, val in possible.items():
            if key not in value and "" not in val:
                result = _fail("value_error:dict_key", f"Missing dict key parameter: '{short_str(key)}'.")
                flag = False
                break
        if flag:
            return _OK
    return result


def _list_dict_check(param: str, value: list, possible_answers: list) -> Verdict:
    result = Verdict(False, "list_dict_checker:unclear", [])
    for possible in possible_answers:
        flag = True
        if len(value) != len(possible):
            result = _fail("value_error:list_dict_count", "Wrong number of dictionaries in the list.")
            continue
        for i in range(len(value)):
            result = _dict_check(param, value[i], [possible[i]])
            if not result.valid:
                flag = False
                break
        if flag:
            return _OK
    return result


def _value_check(param: str, value: Any, allowed: list, spelling: Any, expected: type,
                 nested: type | None) -> Verdict | None:
    """One parameter's value against its possible answers, as BFCL's simple-function checker does it after the
    type conversions of its language: the failing verdict, or None when the value passes."""
    ok, is_variable, failure = _type_check(param, value, allowed, spelling, expected, nested)
    if not ok:
        return failure  # type: ignore[return-value]
    if not is_variable:
        if expected == dict:
            result = _dict_check(param, value, allowed)
        elif expected == list and nested == dict:
            result = _list_dict_check(param, value, allowed)
        elif expected == str:
            result = _string_check(param, value, allowed)
        elif expected == list:
            result = _list_check(param, value, allowed)
        else:
            result = None
        if result is not None:
            return None if result.valid else result
    if value not in allowed:
        return _fail("value_error:others", f"Invalid value for parameter {param!r}: {short_repr(value)}. "
                                           f"Expected one of {short_str(allowed)}.")
    return None


def _func_name(name: str, underscore_to_dot: bool) -> str:
    return name.replace(".", "_") if underscore_to_dot and "." in name else name
