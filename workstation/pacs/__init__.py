"""Where studies come from and are kept: the local study database (the viewer's library).

- :mod:`~workstation.pacs.database`: the SQLite file (WAL) under the home folder, one
  connection per thread;
- :mod:`~workstation.pacs.importer`: :func:`import_paths` indexes or copies files, folders,
  zip archives and DICOMDIR media;
- :mod:`~workstation.pacs.queries`: :func:`find_studies`, :func:`study_count`;
- :mod:`~workstation.pacs.loading`: :func:`series_sources` / :func:`scan_series` turn a series
  back into stacks for ``workstation.io.load_stack``;
- :mod:`~workstation.pacs.removal`: :func:`delete_study`, :func:`delete_series`;
- :mod:`~workstation.pacs.storage`, :mod:`~workstation.pacs.thumbnails`: managed copies and
  previews.

PACS connectivity (imported on demand, not here: they pull in httpx and pynetdicom):

- :mod:`~workstation.pacs.source`: the :class:`DataSource` protocol and its records;
  :mod:`~workstation.pacs.local`, :mod:`~workstation.pacs.dicomweb`,
  :mod:`~workstation.pacs.dimse`: the library, DICOMweb and DIMSE nodes as sources;
- :mod:`~workstation.pacs.nodes`: nodes, our AE title and port, the site configuration,
  credentials; :mod:`~workstation.pacs.connect`: a node to an open source;
- :mod:`~workstation.pacs.scp`: our storage SCP; :mod:`~workstation.pacs.filing`: received
  instances into the library;
- :mod:`~workstation.pacs.sync`: resumable retrieval, sending, prefetch, background jobs;
- :mod:`~workstation.pacs.errors`: :class:`PacsError` and its reasons.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workstation.pacs.database import (
        StudyDatabase,
        StudyDatabaseError,
        database_path,
        open_database,
    )
    from workstation.pacs.importer import (
        ImportReport,
        import_paths,
        import_sources,
        make_missing_thumbnails,
    )
    from workstation.pacs.loading import scan_series, scan_sources, series_sources
    from workstation.pacs.queries import find_studies, instance_count, study_count
    from workstation.pacs.records import SeriesRecord, StudyRecord, Thumbnail
    from workstation.pacs.removal import delete_series, delete_study

#: Where each name lives. The package imports a module when one of its names is first used:
#: the window's start needs the database and its queries, not the DICOM engine that
#: importing and loading pull in.
_HOMES = {
    "StudyDatabase": "database",
    "StudyDatabaseError": "database",
    "database_path": "database",
    "open_database": "database",
    "ImportReport": "importer",
    "import_paths": "importer",
    "import_sources": "importer",
    "make_missing_thumbnails": "importer",
    "scan_series": "loading",
    "scan_sources": "loading",
    "series_sources": "loading",
    "find_studies": "queries",
    "instance_count": "queries",
    "study_count": "queries",
    "SeriesRecord": "records",
    "StudyRecord": "records",
    "Thumbnail": "records",
    "delete_series": "removal",
    "delete_study": "removal",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ImportReport",
    "SeriesRecord",
    "StudyDatabase",
    "StudyDatabaseError",
    "StudyRecord",
    "Thumbnail",
    "database_path",
    "delete_series",
    "delete_study",
    "find_studies",
    "import_paths",
    "import_sources",
    "instance_count",
    "make_missing_thumbnails",
    "open_database",
    "scan_series",
    "scan_sources",
    "series_sources",
    "study_count",
]
