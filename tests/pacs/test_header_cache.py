"""Opening a series from the library uses the headers recorded at import, checked for change."""

from __future__ import annotations

import os
from dataclasses import fields, replace

import numpy as np

from workstation import paths
from workstation.io import load_stack
from workstation.io.header_codec import header_from_json, header_to_json
from workstation.io.reader import read_header
from workstation.io.sources import FileSource
from workstation.pacs import import_paths, loading, open_database, scan_series
from workstation.testing.factories import SeriesSpec, write_enhanced_mr, write_series


def test_codec_round_trips_every_field(tmp_path) -> None:
    written = write_series(tmp_path / "s", SeriesSpec(write_smallest_largest=True, phases=2))
    enhanced = write_enhanced_mr(
        tmp_path / "e.dcm",
        replace(SeriesSpec(), modality="MR", rescale_slope=None, rescale_intercept=None, phases=2),
    )
    for path in (written.paths[0], enhanced.paths[0]):
        header = read_header(FileSource(path))
        again = header_from_json(header_to_json(header), header.source)
        assert again is not None
        for field in fields(header):
            assert getattr(again, field.name) == getattr(header, field.name), field.name
    assert header_from_json('{"_v": 0}', FileSource(tmp_path)) is None
    assert header_from_json("not json", FileSource(tmp_path)) is None


def test_scan_series_reads_no_file_for_unchanged_instances(tmp_path, monkeypatch) -> None:
    paths.set_home(tmp_path / "home")
    try:
        written = write_series(tmp_path / "ct", SeriesSpec(n_slices=6, shuffle=True))
        with open_database() as db:
            import_paths(db, [tmp_path / "ct"])
            reads: list[str] = []
            real = loading.read_headers

            def counting(sources, *args, **kwargs):
                reads.extend(s.display for s in sources)
                return real(sources, *args, **kwargs)

            monkeypatch.setattr(loading, "read_headers", counting)
            result = scan_series(db, written.series_instance_uid)
            assert reads == []
            (stack,) = result.stacks
            np.testing.assert_array_equal(load_stack(stack).array.astype(float), written.values)
            # A file rewritten after the import is read again, not trusted.
            changed = written.slice_paths[(0, 2)]
            os.utime(changed, ns=(1, 1))
            result = scan_series(db, written.series_instance_uid)
            assert reads == [str(changed)]
            assert result.stacks[0].shape == (6, 32, 40)
    finally:
        paths.set_home(None)
