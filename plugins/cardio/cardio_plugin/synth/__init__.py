"""Synthetic cine short-axis MR with ground truth (see :mod:`cardio_plugin.synth.anatomy`).

::

    case = draw_case(seed)                     # anatomy, function, acquisition
    rendered = render(case)                    # stored values and labels [t, k, j, i]
    written = write_case(folder, seed)         # a DICOM series + truth.json + labels.npz

From the command line: ``python -m cardio_plugin.synth OUT --seed 3 [--rows 256 ...]``.
"""

from cardio_plugin.synth.anatomy import GENERATOR_VERSION, Case, draw_case
from cardio_plugin.synth.dicom import Truth, WrittenCase, truth_of, write_case
from cardio_plugin.synth.render import Rendered, render

__all__ = [
    "GENERATOR_VERSION",
    "Case",
    "Rendered",
    "Truth",
    "WrittenCase",
    "draw_case",
    "render",
    "truth_of",
    "write_case",
]
