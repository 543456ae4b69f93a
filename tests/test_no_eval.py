"""Model output is data: no funrl_lib module may call eval, exec, compile or __import__ (decode with ast/json only)."""

import ast
from pathlib import Path

import funrl_lib

FORBIDDEN = {"eval", "exec", "compile", "__import__", "execfile"}
PACKAGE = Path(funrl_lib.__file__).parent


def forbidden_calls(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FORBIDDEN:
            found.append(f"{filename}:{node.lineno}: {func.id}(...)")
        elif (isinstance(func, ast.Attribute) and func.attr in FORBIDDEN and isinstance(func.value, ast.Name)
              and func.value.id in ("builtins", "__builtins__")):
            found.append(f"{filename}:{node.lineno}: {func.value.id}.{func.attr}(...)")
        elif isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) > 1 and \
                isinstance(node.args[1], ast.Constant) and node.args[1].value in FORBIDDEN:
            found.append(f"{filename}:{node.lineno}: getattr(..., {node.args[1].value!r})")
    return found


def test_the_scanner_catches_each_form():
    src = "eval('1')\nexec(x)\nbuiltins.eval(y)\ngetattr(builtins, 'exec')(z)\nmodel.eval()\n"
    assert [f.split(": ")[1] for f in forbidden_calls(src, "x.py")] == [
        "eval(...)", "exec(...)", "builtins.eval(...)", "getattr(..., 'exec')"]  # model.eval() is allowed


def test_no_funrl_lib_module_executes_code():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    found = [hit for f in files for hit in forbidden_calls(f.read_text(encoding="utf-8"), str(f))]
    assert found == []
