"""Everything that touches napari or Qt: the dock widget and the writers."""

