"""The files a share sends: the study's images and its AI results, collected from the app.

Collected on the GUI thread (the library's SQLite connection belongs to it) and written out on
the share thread (objects kept inside zip archives become files of a work folder).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.errors import WorkstationError

if TYPE_CHECKING:
    from workstation.app.composition import Services

log = logging.getLogger(__name__)


@dataclass
class ShareFiles:
    """What a share sends: sources of the study's images, and files (AI results as SEG/SR).

    Collected on the GUI thread (the library's connection belongs to it); :meth:`materialize`
    runs on the share thread and writes objects kept inside zip archives to a work folder.
    """

    sources: list[Any] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def materialize(self, workdir: Path) -> tuple[list[Path], int]:
        """(every file as a path, how many could not be read)."""
        from workstation.io.sources import FileSource

        found: dict[str, Path] = {}
        missing = 0
        for path in self.paths:
            if Path(path).is_file():
                found.setdefault(str(Path(path).resolve()), Path(path))
            else:
                missing += 1
        for index, source in enumerate(self.sources):
            if isinstance(source, FileSource):
                if source.path.is_file():
                    found.setdefault(str(source.path.resolve()), source.path)
                else:
                    missing += 1
                continue
            if source.display in found:
                continue
            try:
                with source.reader() as reader:
                    data = reader.read_all()
            except (WorkstationError, OSError) as exc:
                log.warning("not shared, unreadable: %s", type(exc).__name__)
                missing += 1
                continue
            target = workdir / f"member-{index:06d}.dcm"
            target.write_bytes(data)
            found[source.display] = target
        return list(found.values()), missing

    def __len__(self) -> int:
        return len(self.sources) + len(self.paths)


def collect_share_files(services: Services, study_uid: str) -> ShareFiles:
    """The study's images (library and open series) and its AI results that were not rejected."""
    files = ShareFiles()
    database = services.database
    if database is not None:
        from workstation.pacs import series_sources

        try:
            rows = database.connection.execute(
                "SELECT series_uid FROM series WHERE study_uid = ?", (study_uid,)
            ).fetchall()
            for (series_uid,) in rows:
                files.sources += series_sources(database, str(series_uid))
        except sqlite3.Error as exc:
            log.warning("library not read for sharing: %s", exc)
    for layer_id, stack in services.workstation.stacks.items():
        layer = services.scene.layers.get(layer_id)
        if layer is not None and layer.info.study_instance_uid == study_uid:
            files.sources += [frame.header.source for frame in stack.frames]
    if services.experts is not None:
        for stored in services.experts.store.for_study(study_uid):
            if stored.review.state.value != "rejected":
                files.paths += stored.files
    return files
