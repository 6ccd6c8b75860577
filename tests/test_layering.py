"""The package's structure, read from its source: layers import only downward, privates stay private.

See docs/architecture.md for the picture. Each module belongs to a room (a subpackage, or a
top-level module); rooms sit in layers and a module may import only from its own room or from
rooms in lower layers. A name with a leading underscore is used only in the module that defines
it, and a private module (``mixture/_kernels.py``) only inside its own room.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

import pytest

PACKAGE = "napari_sinkhorn_em"
SOURCE = pathlib.Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: Rooms by layer, lowest first. The package's ``__init__`` (the public API) sits above the library
#: rooms and below the user interfaces.
LAYERS = (
    ("_validation", "_version", "image_files", "data", "contracts"),
    ("features", "mixture"),
    ("lazy",),
    ("segmentation",),
    ("neurons",),
    ("__init__",),
    ("cli", "_napari"),
)
LAYER_OF = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
GUI_PACKAGES = ("napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6")
MAX_CLASS_LINES = 350
MAX_FUNCTION_LINES = 80


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_package(module: str) -> bool:
    return (SOURCE.joinpath(*module.split(".")[1:]) / "__init__.py").exists()


MODULES = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}
TREES = {module: ast.parse(path.read_text(encoding="utf-8")) for module, path in MODULES.items()}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """(target module, imported name or None, line) for every import of the package's own code."""
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in MODULES:
                    yield submodule, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _names_defined_in(tree: ast.Module) -> set[str]:
    """Functions, classes, methods, attributes and variables a module defines (``self.x = ...`` too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
    return names


def test_every_module_has_a_room_in_a_layer():
    assert {_room(module) for module in MODULES} <= set(LAYER_OF)


def test_imports_point_downward():
    wrong = []
    for module in MODULES:
        room = _room(module)
        for target, _, line in _imports(module):
            target_room = _room(target)
            if target_room == room:
                continue
            if LAYER_OF[target_room] >= LAYER_OF[room]:
                wrong.append(f"{module}:{line} imports {target} ({target_room} is not below {room})")
    wrong = sorted(set(wrong))
    assert not wrong, "\n".join(wrong)


def test_no_module_uses_another_modules_private_names():
    wrong = []
    for module in MODULES:
        imported_modules = {}
        for target, name, line in _imports(module):
            private_module = any(part.startswith("_") and part != "__init__" for part in target.split(".")[1:])
            if private_module and _room(target) != _room(module) and _room(target) not in ("_validation", "_version"):
                wrong.append(f"{module}:{line} imports the private module {target}")
            if name is not None and name.startswith("_") and not name.startswith("__"):
                wrong.append(f"{module}:{line} imports the private name {name} from {target}")
        defined_here = _names_defined_in(TREES[module])
        for node in ast.walk(TREES[module]):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and node.attr not in defined_here
            ):
                wrong.append(f"{module}:{node.lineno} uses .{node.attr}, defined in another module")
    wrong = sorted(set(wrong))
    assert not wrong, "\n".join(wrong)


def test_a_class_uses_only_the_private_attributes_of_its_own_module():
    """``self._x`` (or ``cls._x``) only where ``_x`` is defined in the same module: a subclass in another
    module does not reach into its base class's privates (nor a base into its subclass's)."""
    wrong = []
    for module, tree in TREES.items():
        defined_here = _names_defined_in(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in defined_here
            ):
                wrong.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}, defined in another module")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_import_cycle():
    graph = defaultdict(set)
    for module in MODULES:
        for target, _, _ in _imports(module):
            if target != module and target in MODULES:
                graph[module].add(target)
    visiting, done, cycles = set(), set(), []

    def visit(module, path):
        visiting.add(module)
        for target in sorted(graph[module]):
            if target in visiting:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done:
                visit(target, path + [target])
        visiting.discard(module)
        done.add(module)

    for module in sorted(MODULES):
        if module not in done:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_only_the_napari_room_imports_gui_toolkits():
    wrong = []
    for module, tree in TREES.items():
        if _room(module) == "_napari" and not module.endswith(("writers", "_napari")):
            continue
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            )
            wrong += [f"{module}:{node.lineno} imports {name}" for name in names if name.split(".")[0] in GUI_PACKAGES]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind, limit", [(ast.ClassDef, MAX_CLASS_LINES), (ast.FunctionDef, MAX_FUNCTION_LINES)])
def test_classes_and_functions_stay_small(kind, limit):
    too_long = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, kind) and node.end_lineno - node.lineno + 1 > limit:
                too_long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, f"longer than {limit} lines:\n" + "\n".join(too_long)
