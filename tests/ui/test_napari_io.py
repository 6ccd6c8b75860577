"""napari's File > Save writes labels and images as OME-TIFF with their voxel size through our writers."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
npe2 = pytest.importorskip("npe2")

from napari.layers import Image, Labels  # noqa: E402

from napari_sinkhorn_em._napari.writers import write_image, write_labels  # noqa: E402
from napari_sinkhorn_em.image_files import read_image  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def plugins():
    """What napari does at start-up: find the installed plugins, ours among them."""
    npe2.PluginManager.instance().discover()


@pytest.mark.parametrize("extension", [".ome.tif", ".ome.tiff"])
def test_saving_labels_keeps_the_voxel_size(tmp_path, extension):
    labels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    layer = Labels(labels, scale=(2.0, 0.5, 0.25), name="nuclei")
    path = tmp_path / f"nuclei{extension}"

    assert napari.save_layers(str(path), [layer]) == [str(path)]
    written = read_image(path)
    np.testing.assert_array_equal(written.data, labels)
    assert written.scale == (2.0, 0.5, 0.25)


def test_saving_an_image_converts_its_units_to_micrometres(tmp_path):
    image = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    layer = Image(image, scale=(100.0, 250.0), units=("nm", "nm"))
    path = tmp_path / "worm.ome.tif"

    napari.save_layers(str(path), [layer])
    written = read_image(path)
    np.testing.assert_array_equal(written.data, image)
    assert written.scale == pytest.approx((0.1, 0.25))


def test_our_writer_is_chosen_for_ome_tiff_and_napari_keeps_plain_tiff():
    manager = npe2.PluginManager.instance()
    for layer_type in ("labels", "image"):
        writer, _ = manager.get_writer("result.ome.tif", [layer_type])
        assert writer.command == f"napari-sinkhorn-em.write_{layer_type}"
        writer, _ = manager.get_writer("result.tif", [layer_type])
        assert not writer.command.startswith("napari-sinkhorn-em")


def test_the_highest_resolution_of_a_multiscale_layer_is_written(tmp_path):
    full = np.ones((8, 8), dtype=np.uint16)
    path = tmp_path / "pyramid.ome.tif"
    write_image(str(path), [full, full[::2, ::2]], {"name": "pyramid", "scale": (0.5, 0.5), "multiscale": True})
    written = read_image(path)
    assert written.data.shape == (8, 8) and written.scale == (0.5, 0.5)


@pytest.mark.parametrize(
    ("writer", "data", "meta", "message"),
    [
        (write_image, np.zeros((4, 4, 3), np.uint8), {"name": "photo", "rgb": True}, "RGB layer 'photo'"),
        (write_labels, np.zeros((2, 2, 4, 4), np.uint8), {"name": "movie"}, "'movie' cannot be saved.*2-D and 3-D"),
        (
            write_labels,
            np.zeros((3, 4, 4), np.uint8),
            {"name": "movie", "scale": (1.0, 0.5, 0.5), "units": ("second", "µm", "µm")},
            "must be lengths.*'second'",
        ),
    ],
)
def test_layers_that_cannot_be_saved_so_are_refused_with_a_reason(tmp_path, writer, data, meta, message):
    path = tmp_path / "out.ome.tif"
    with pytest.raises(ValueError, match=message):
        writer(str(path), data, meta)
    assert not path.exists()
