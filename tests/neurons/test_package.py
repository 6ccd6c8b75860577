"""The neurons package itself: no Qt or napari, no private names of other rooms."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

from napari_sinkhorn_em import neurons


def test_module_imports_without_qt_or_napari():
    code = (
        "import sys, napari_sinkhorn_em.neurons\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_modules_import_no_private_names_of_the_package():
    # Outside the neurons package only the shared checks (_validation) are a private module it may read.
    for path in pathlib.Path(neurons.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                if node.level > 1:
                    assert node.module == "_validation" or not (node.module or "").startswith("_"), (path, node.module)
                assert not any(alias.name.startswith("_") for alias in node.names), path
