"""Synthetic DICOM factories for tests, the demo and benchmarks: one import for all of them.

Ground truth first: every factory takes (or builds) the true stored pixels and geometry, writes
DICOM files, and returns what a correct loader must reproduce.

- :func:`write_series`: classic CT/MR series, one file per slice (and cine phase), with optional
  defects (:class:`SeriesSpec`); returns :class:`WrittenSeries`.
- :func:`write_enhanced_mr`: one Enhanced MR multi-frame file (volume or cine).
- :func:`write_multiframe_xa`, :func:`write_rgb`, :func:`write_single_image`: images without
  slice geometry; return :class:`WrittenImage`.
- :func:`make_zip`, :func:`make_dicomdir`: package files as users receive them.
"""

from workstation.testing._dicom import SUPPORTED_TRANSFER_SYNTAXES
from workstation.testing.colour import write_rgb
from workstation.testing.enhanced import write_enhanced_mr
from workstation.testing.images import WrittenImage, write_multiframe_xa, write_single_image
from workstation.testing.media import make_dicomdir, make_zip
from workstation.testing.series import default_stored, write_series
from workstation.testing.spec import SeriesSpec, WrittenSeries, series_affine, slice_positions

__all__ = [
    "SUPPORTED_TRANSFER_SYNTAXES",
    "SeriesSpec",
    "WrittenImage",
    "WrittenSeries",
    "default_stored",
    "make_dicomdir",
    "make_zip",
    "series_affine",
    "slice_positions",
    "write_enhanced_mr",
    "write_multiframe_xa",
    "write_rgb",
    "write_series",
    "write_single_image",
]
