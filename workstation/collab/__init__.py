"""Collaboration: the local annotation store, offline-first sync, shared cases, the server.

:class:`AnnotationStore` keeps every annotation the user makes in a SQLite (WAL) file the
moment the scene publishes it, together with an outbox operation for the server
(:mod:`.outbox`). The rest is imported where needed, so that opening the store stays light:

- :mod:`.session` — :class:`~workstation.collab.session.Collaboration`, what the GUI uses:
  sign-in, the background sync thread, conflicts, comments, shared cases;
- :mod:`.sync` (push/pull rounds, live listener), :mod:`.client` (HTTP), :mod:`.merge`;
- :mod:`.sharing` and :mod:`.deid` (DICOM PS3.15 Annex E de-identification);
- :mod:`.server` — the collaboration server (``workstation server``).
"""

from workstation.collab.csv_export import CSV_COLUMNS, MEASUREMENT_KINDS, write_measurements_csv
from workstation.collab.store import SCHEMA_VERSION, AnnotationStore, Attachment, StoreError

__all__ = [
    "CSV_COLUMNS",
    "MEASUREMENT_KINDS",
    "SCHEMA_VERSION",
    "AnnotationStore",
    "Attachment",
    "StoreError",
    "write_measurements_csv",
]
