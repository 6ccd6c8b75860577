"""The npe2 manifest: valid, contributes the widget where users look for it, and keeps Qt out of start-up."""

import json
import subprocess
import sys

import pytest

npe2 = pytest.importorskip("npe2")

PLUGIN = "napari-sinkhorn-em"
WIDGET_COMMAND = "napari-sinkhorn-em.segmentation_widget"
GUI_PACKAGES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "magicgui", "napari", "vispy")


def _modules_imported_by(code: str) -> set[str]:
    """Names in sys.modules after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.fixture(scope="module")
def manifest():
    return npe2.PluginManifest.from_distribution(PLUGIN)


def test_npe2_validate_accepts_the_manifest_and_its_imports():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", PLUGIN, "--imports"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_widget_is_contributed_and_listed_under_layers_segment(manifest):
    (widget,) = manifest.contributions.widgets
    assert widget.command == WIDGET_COMMAND
    commands = {command.id: command for command in manifest.contributions.commands}
    assert commands[WIDGET_COMMAND].python_name == "napari_sinkhorn_em._napari.widget:SegmentationWidget"
    segment_menu = manifest.contributions.menus["napari/layers/segment"]
    assert [item.command for item in segment_menu] == [WIDGET_COMMAND]


def test_sample_data_contributions_are_kept(manifest):
    assert {sample.key for sample in manifest.contributions.sample_data} == {
        "neuropal_like", "neuropal_head", "worms_2d"
    }


def test_library_modules_import_no_gui_toolkit():
    imported = _modules_imported_by(
        "import napari_sinkhorn_em, napari_sinkhorn_em.segmentation, napari_sinkhorn_em.features, napari_sinkhorn_em.lazy, "
        "napari_sinkhorn_em.mixture, napari_sinkhorn_em.cli, napari_sinkhorn_em.data"
    )
    assert "napari_sinkhorn_em.cli" in imported
    assert not set(GUI_PACKAGES) & _top_level(imported)


def test_reading_the_manifest_imports_neither_the_widget_nor_qt():
    # What napari does at start-up: discover the plugin and read its manifest.
    imported = _modules_imported_by(f"import npe2\nnpe2.PluginManifest.from_distribution({PLUGIN!r})")
    assert "napari_sinkhorn_em._napari.widget" not in imported
    assert not {"qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6"} & _top_level(imported)


def test_writers_save_labels_and_images_as_ome_tiff(manifest):
    writers = {writer.command: writer for writer in manifest.contributions.writers}
    assert set(writers) == {f"{PLUGIN}.write_labels", f"{PLUGIN}.write_image"}
    for layer_type in ("labels", "image"):
        writer = writers[f"{PLUGIN}.write_{layer_type}"]
        assert writer.layer_types == [layer_type]
        assert writer.filename_extensions == [".ome.tif", ".ome.tiff"]
    commands = {command.id: command.python_name for command in manifest.contributions.commands}
    assert commands[f"{PLUGIN}.write_labels"] == "napari_sinkhorn_em._napari.writers:write_labels"


@pytest.mark.parametrize(
    "modules",
    [
        "napari_sinkhorn_em._napari.writers",
        # What runs in the worker thread, and the data it works on, run and are tested without a GUI.
        "napari_sinkhorn_em._napari.work, napari_sinkhorn_em._napari.settings, napari_sinkhorn_em._napari.inputs, "
        "napari_sinkhorn_em._napari.results, napari_sinkhorn_em._napari.layers",
    ],
    ids=["writers", "work"],
)
def test_the_writers_and_the_widgets_work_import_neither_napari_nor_qt(modules):
    imported = _modules_imported_by(f"import {modules}")
    assert not set(GUI_PACKAGES) & _top_level(imported)
