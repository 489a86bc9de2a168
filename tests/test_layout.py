"""The package's layout is its architecture: four layers, each importing only those above it.

laws -> theory -> measure, and the course layer on top. No library module imports the course
(presets, data, demos, plotting, results) nor the CLI, so library calls are functions of their
arguments; ``import initlib`` does not load the course at all. The public face is sorted.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import initlib

PACKAGE = Path(initlib.__file__).resolve().parent
# what each layer may import from initlib (besides itself and the shared argument checks)
ALLOWED = {
    "laws": {"laws"},
    "theory": {"laws", "theory"},
    "measure": {"laws", "theory", "measure"},
    "course": {"laws", "theory", "measure", "course"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(node: ast.AST):
    """Every node that runs: ``if TYPE_CHECKING:`` blocks are skipped (annotations only)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            yield from (n for other in child.orelse for n in _runtime_nodes(other))
            continue
        yield from _runtime_nodes(child)


def _imports(source: str, module: str, is_package: bool) -> set[str]:
    """The initlib modules that ``source`` (the module ``module``) imports, anywhere in its body."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from . import x` imports x
    return {name for name in found if name == "initlib" or name.startswith("initlib.")}


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def _violations(module: str, imports: set[str]) -> list[str]:
    layer = _layer(module)
    bad = []
    for name in imports:
        parts = name.split(".")
        if parts[1:2] == ["_checks"]:
            continue
        target = _layer(name)
        if target is None and len(parts) > 1 and parts[1] in {"cli", "__main__"}:
            bad.append(name)
        elif target is not None and target not in ALLOWED[layer]:
            bad.append(name)
        elif name == "initlib":
            bad.append(name)  # the top-level package imports every layer
    return sorted(bad)


LIBRARY = sorted(p for layer in ALLOWED for p in (PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_module_imports_only_the_layers_above_it(path):
    module = _module_name(path)
    imports = _imports(path.read_text(), module, path.name == "__init__.py")
    assert not _violations(module, imports), f"{module} imports {_violations(module, imports)}"


def test_the_import_reader_sees_the_imports():
    # the check above is not vacuous: it reads relative and absolute imports, local ones included
    edges = sum(len(_imports(p.read_text(), _module_name(p), p.name == "__init__.py")) for p in LIBRARY)
    assert edges > 60
    source = "from ..course import presets\n\ndef f():\n    from ..laws.fans import fans_of_shape\n"
    imports = _imports(source, "initlib.measure.width", is_package=False)
    assert {"initlib.course", "initlib.course.presets", "initlib.laws.fans"} <= imports
    assert _violations("initlib.measure.width", imports) == ["initlib.course", "initlib.course.presets"]
    assert _violations("initlib.laws.fans", {"initlib.measure.probe"}) == ["initlib.measure.probe"]
    assert _violations("initlib.theory.variance", {"initlib.cli"}) == ["initlib.cli"]
    typing_only = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from ..measure.probe import Site\n"
    assert _imports(typing_only, "initlib.theory.variance", is_package=False) == set()


def test_every_module_sits_in_a_layer():
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "_checks.py", "cli.py"}
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_opens_with_a_one_line_docstring(layer):
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
    assert doc and len(doc.splitlines()[0]) > 20 and doc.splitlines()[0].endswith(".")


def test_importing_initlib_does_not_load_the_course():
    code = (
        "import sys, initlib; print(sorted(m for m in sys.modules if m.startswith(('initlib.course', 'initlib.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_face_is_sorted_and_resolves():
    names = initlib.__all__
    assert names == sorted(names, key=lambda n: (n.lower(), n)) and len(set(names)) == len(names)
    assert all(hasattr(initlib, name) for name in names)
    assert not {"data", "demos", "plotting", "presets", "results", "course"} & set(names)
    public = {n for n in vars(initlib) if not n.startswith("_")} - {"laws", "measure", "course", "cli"}
    assert public <= set(names), sorted(public - set(names))  # nothing public is left out of __all__


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(PACKAGE)}:{node.name}", node


def _body_lines(node) -> int:
    body = node.body[1:] if ast.get_docstring(node) else node.body
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


def _parameters(node) -> int:
    args = node.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return len(names) - (names[:1] in (["self"], ["cls"])) + (args.vararg is not None) + (args.kwarg is not None)


def test_no_function_body_is_over_60_lines():
    functions = dict(_functions())
    assert len(functions) > 300  # the walk found the library
    long = {name: _body_lines(node) for name, node in functions.items() if _body_lines(node) > 60}
    assert not long, long


def test_no_public_function_takes_more_than_10_parameters():
    public = {name: node for name, node in _functions() if not node.name.startswith("_")}
    assert "measure/propagation.py:propagate" in public and "measure/training.py:train" in public
    many = {name: _parameters(node) for name, node in public.items() if _parameters(node) > 10}
    assert not many, many


def test_the_counts_count():
    tree = ast.parse("def f(self, a, b=1, *c, d, **e):\n    '''doc'''\n    x = 1\n\n    return x\n")
    node = tree.body[0]
    assert (_parameters(node), _body_lines(node)) == (5, 3)
