"""Collaboration: the local annotation store now; the sync client and server build on it.

:class:`AnnotationStore` keeps every annotation the user makes in a SQLite (WAL) file the
moment the scene publishes it, and numbers each saved version so that a sync client can push
what changed since it last looked (:meth:`AnnotationStore.changes_since`).
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
