"""Everything that touches napari or Qt: the dock widget and the writers.

The dock widget (:mod:`.widget`) wires together its controls (:mod:`.controls`, kept consistent and read by
:mod:`.form`), the viewer's layers it offers (:mod:`.layer_choices`), the neurons recipe's own rows
(:mod:`.suggestion`), the run in the worker thread (:mod:`.running`) and where its results go (:mod:`.layers`).
What a run does (:mod:`.work`), on what (:mod:`.inputs`), with which settings (:mod:`.settings`) and what it
produced (:mod:`.results`) import neither napari nor Qt. The writers (:mod:`.writers`) save layers as OME-TIFF.
"""
