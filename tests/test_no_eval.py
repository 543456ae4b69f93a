"""Model output is data: no funrl_lib module may run code it is given (decode with ast/json only).

The scanner reads every module's syntax tree and flags:

* ``eval``, ``exec``, ``compile``, ``__import__``, ``execfile``: any use, called or not (``e = eval`` is an alias),
  also as ``builtins.eval``, ``from builtins import eval`` or ``getattr(builtins, "eval")``;
* pickle and its relatives (``pickle``, ``cPickle``, ``_pickle``, ``dill``, ``cloudpickle``, ``shelve``, ``joblib``)
  imported at all, and ``marshal.load`` / ``marshal.loads``;
* a shell: any call with ``shell=`` other than ``False``, ``os.system``, ``os.popen``, ``subprocess.getoutput`` and
  ``subprocess.getstatusoutput``;
* ``yaml.load`` / ``yaml.load_all`` without a safe ``Loader`` (``SafeLoader``, ``CSafeLoader``, ``BaseLoader``, or a
  module-level name bound to one), and ``yaml.unsafe_load``, ``yaml.full_load``, ``yaml.Loader``, ... at all;
* ``torch.load`` without ``weights_only=True``;
* code loading by name: ``importlib.import_module`` / ``reload`` / ``spec_from_file_location`` /
  ``module_from_spec``, ``exec_module``, ``importlib.machinery`` loaders, ``runpy``. ``import_module`` of a string
  literal is an ``import`` statement in disguise and passes; three calls that import a module named by a fixed table
  (funrl_lib's lazy attributes, BFCL's backend classes) are allowed by name below.

Each of these, referenced without a call (``load = yaml.load``), is flagged as a possible alias. Module aliases
(``import yaml as y``, ``from importlib import import_module as im``) are followed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import funrl_lib

FORBIDDEN = {"eval", "exec", "compile", "__import__", "execfile"}
PACKAGE = Path(funrl_lib.__file__).parent

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "joblib"}
# referenced at all: each runs code or a shell, or loads objects unsafely
UNSAFE = {f"builtins.{name}" for name in FORBIDDEN} | {
    "importlib.import_module", "importlib.reload", "importlib.__import__", "importlib.util.spec_from_file_location",
    "importlib.util.spec_from_loader", "importlib.util.module_from_spec", "importlib.machinery.SourceFileLoader",
    "importlib.machinery.SourcelessFileLoader", "importlib.machinery.ExtensionFileLoader", "runpy.run_path",
    "runpy.run_module", "os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
    "marshal.load", "marshal.loads", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
    "yaml.full_load_all", "yaml.Loader", "yaml.FullLoader", "yaml.UnsafeLoader", "yaml.CLoader", "yaml.CFullLoader",
    "yaml.CUnsafeLoader"}
SAFE_YAML_LOADERS = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")
# call forms that are safe with the right arguments (checked below); referenced without a call: an alias
CHECKED_CALLS = {"yaml.load", "yaml.load_all", "torch.load"}
# (file below funrl_lib, the call's source): importing a module that BFCL's own table names, never model output
ALLOWED = {
    ("__init__.py", 'importlib.import_module(f\'.{module}\', __name__)'):
        "module is a value of _LAZY, this package's own table of attributes imported on demand",
    ("bfcl/multi_turn.py", "importlib.import_module(bfcl.class_modules[class_name])"):
        "BFCL's CLASS_FILE_PATH_MAPPING names its backend modules",
    ("bfcl/agentic_generate.py", "importlib.import_module(module_name)"):
        "module_name is BFCL's CLASS_FILE_PATH_MAPPING['MemoryAPI_vector']",
    ("cli/__init__.py", "importlib.import_module(f'{__name__}.{_MODULE[name]}')"):
        "_MODULE is the cli package's own table of command -> module (funrl X builds X's options alone)",
}


class _Scanner(ast.NodeVisitor):
    def __init__(self, filename: str, relative: str):
        self.filename, self.relative = filename, relative
        self.found: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> what it stands for ("yaml", "importlib.import_module")
        self.assigned: dict[str, str] = {}  # module-level name -> the source of the value assigned to it
        self.called: set[int] = set()  # ids of nodes that are the function of a call

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.filename}:{getattr(node, 'lineno', 0)}: {what}")

    def qualified(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for, module aliases resolved (``y.load`` -> ``yaml.load``)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def scan(self, tree: ast.Module) -> list[str]:
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.assigned[node.targets[0].id] = ast.unparse(node.value)
        for node in ast.walk(tree):  # aliases first: an import inside a function counts for the whole module
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                        alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Call):
                self.called.add(id(node.func))
        self.visit(tree)
        return self.found

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in PICKLE_MODULES or alias.name.split(".")[0] == "runpy":
                self.flag(node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in PICKLE_MODULES or module.split(".")[0] == "runpy":
            self.flag(node, f"from {module} import ...")
        for alias in node.names:
            name = f"{module}.{alias.name}"
            if name in UNSAFE or name in CHECKED_CALLS:
                self.flag(node, f"from {module} import {alias.name}")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN and node.id not in self.aliases:
            self.flag(node, f"{node.id}(...)" if id(node) in self.called else f"{node.id} (referenced: an alias?)")
        elif node.id in self.aliases and id(node) not in self.called:
            self.reference(node, self.aliases[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.qualified(node)
        if name is not None and id(node) not in self.called:
            self.reference(node, name)
        self.generic_visit(node)

    def reference(self, node: ast.AST, name: str) -> None:
        if name in UNSAFE or name in CHECKED_CALLS:
            self.flag(node, f"{name} (referenced: an alias?)")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = self.qualified(func)
        source = ast.unparse(node)
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) > 1 and \
                isinstance(node.args[1], ast.Constant) and node.args[1].value in FORBIDDEN | {"import_module",
                                                                                              "exec_module"}:
            self.flag(node, f"getattr(..., {node.args[1].value!r})")
        elif isinstance(func, ast.Attribute) and func.attr == "exec_module":
            self.flag(node, "exec_module(...)")
        elif name in UNSAFE:
            literal = name == "importlib.import_module" and len(node.args) == 1 and _literal_name(node.args[0])
            if not literal and (self.relative, source) not in ALLOWED:
                self.flag(node, f"{name}(...)")
        elif name in ("yaml.load", "yaml.load_all"):
            loader = next((kw.value for kw in node.keywords if kw.arg == "Loader"),
                          node.args[1] if len(node.args) > 1 else None)
            text = ast.unparse(loader) if loader is not None else ""
            text = self.assigned.get(text, text)
            if not any(safe in text for safe in SAFE_YAML_LOADERS) or "Unsafe" in text or "Full" in text:
                self.flag(node, f"{name}(...) without a safe Loader")
        elif name == "torch.load":
            weights_only = next((kw.value for kw in node.keywords if kw.arg == "weights_only"), None)
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                self.flag(node, "torch.load(...) without weights_only=True")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                self.flag(node, f"{name or 'a call'}(..., shell=...)")
        self.generic_visit(node)


def _literal_name(node: ast.expr) -> bool:
    """A string literal, or a choice (``a if x else b``) between string literals: a module named in the source."""
    if isinstance(node, ast.IfExp):
        return _literal_name(node.body) and _literal_name(node.orelse)
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def forbidden_calls(source: str, filename: str, relative: str = "") -> list[str]:
    """Every unsafe use in ``source`` (see the module docstring), as ``filename:line: what``."""
    return _Scanner(filename, relative).scan(ast.parse(source, filename))


def test_the_scanner_catches_each_form():
    src = "eval('1')\nexec(x)\nbuiltins.eval(y)\ngetattr(builtins, 'exec')(z)\nmodel.eval()\n"
    assert [f.split(": ")[1] for f in forbidden_calls(src, "x.py")] == [
        "eval(...)", "exec(...)", "builtins.eval(...)", "getattr(..., 'exec')"]  # model.eval() is allowed


UNSAFE_SOURCES = {
    "e = eval": "eval (referenced: an alias?)",
    "list(map(exec, xs))": "exec (referenced: an alias?)",
    "from builtins import eval as e": "from builtins import eval",
    "import pickle": "import pickle",
    "from pickle import loads": "from pickle import ...",
    "import dill as d": "import dill",
    "import marshal\nmarshal.loads(b)": "marshal.loads(...)",
    "import subprocess\nsubprocess.run(cmd, shell=True)": "subprocess.run(..., shell=...)",
    "import subprocess as sp\nsp.Popen(cmd, shell=flag)": "subprocess.Popen(..., shell=...)",
    "import os\nos.system('ls')": "os.system(...)",
    "import yaml\nyaml.load(text)": "yaml.load(...) without a safe Loader",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)": "yaml.load(...) without a safe Loader",
    "import yaml\nL = yaml.FullLoader\nyaml.load(text, Loader=L)": "yaml.FullLoader (referenced: an alias?)",
    "import yaml as y\ny.unsafe_load(text)": "yaml.unsafe_load(...)",
    "import yaml\nload = yaml.load": "yaml.load (referenced: an alias?)",
    "import torch\ntorch.load(path)": "torch.load(...) without weights_only=True",
    "import torch\ntorch.load(path, weights_only=False)": "torch.load(...) without weights_only=True",
    "import importlib\nimportlib.import_module(name)": "importlib.import_module(...)",
    "from importlib import import_module\nimport_module(name)": "from importlib import import_module",
    "import importlib\nim = importlib.import_module": "importlib.import_module (referenced: an alias?)",
    "import importlib.util\nimportlib.util.spec_from_file_location('m', p)":
        "importlib.util.spec_from_file_location(...)",
    "spec.loader.exec_module(module)": "exec_module(...)",
    "import runpy": "import runpy",
}
SAFE_SOURCES = [
    "model.eval()", "import re\nre.compile('x')", "import yaml\nyaml.load(t, Loader=yaml.SafeLoader)",
    "import yaml\nyaml.safe_load(t)", "import yaml\n_L = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\nyaml.load(t, "
    "Loader=_L)", "import torch\ntorch.load(p, weights_only=True)", "import subprocess\nsubprocess.run(['ls'])",
    "import subprocess\nsubprocess.run(cmd, shell=False)", "import importlib.util\nimportlib.util.find_spec('x')",
    "import importlib.metadata\nimportlib.metadata.version('x')", "import importlib\nimportlib.import_module('json')",
    "import importlib\nimportlib.import_module('a' if x else 'b')", "import marshal\nmarshal.dumps(x, 2)",
]


def test_the_scanner_catches_unsafe_loading_shells_and_aliases():
    for source, expected in UNSAFE_SOURCES.items():
        found = [f.split(": ", 1)[1] for f in forbidden_calls(source, "x.py")]
        assert expected in found, (source, found)
    for source in SAFE_SOURCES:
        assert forbidden_calls(source, "x.py") == [], source


def test_no_funrl_lib_module_executes_code():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    found = [hit for f in files
             for hit in forbidden_calls(f.read_text(encoding="utf-8"), str(f), f.relative_to(PACKAGE).as_posix())]
    assert found == []
