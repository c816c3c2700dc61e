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
"""

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
