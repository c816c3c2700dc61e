"""Removing studies and series from the database.

Rows go first, in one transaction; managed copies are deleted from storage after it commits,
so the database never lists an instance whose copy is gone. Files indexed in place belong to
the user and are never deleted.
"""

from __future__ import annotations

from workstation.pacs import storage
from workstation.pacs.database import StudyDatabase

_PRUNE = (
    "DELETE FROM studies WHERE NOT EXISTS "
    "(SELECT 1 FROM series WHERE series.study_uid = studies.study_uid)",
    "DELETE FROM patients WHERE NOT EXISTS "
    "(SELECT 1 FROM studies WHERE studies.patient = patients.id)",
)


def delete_series(db: StudyDatabase, series_uid: str) -> int:
    """Remove a series (and its study when it was the last one); the instances removed."""
    with db.transaction() as connection:
        managed = [
            row[0]
            for row in connection.execute(
                "SELECT path FROM instances WHERE series_uid = ? AND managed", (series_uid,)
            )
        ]
        removed = connection.execute(
            "DELETE FROM instances WHERE series_uid = ?", (series_uid,)
        ).rowcount
        connection.execute("DELETE FROM series WHERE series_uid = ?", (series_uid,))
        for statement in _PRUNE:
            connection.execute(statement)
    storage.remove_copies(db.storage, managed)
    return int(removed)


def delete_study(db: StudyDatabase, study_uid: str) -> int:
    """Remove a study with all of its series; the instances removed (0 for an unknown UID)."""
    with db.transaction() as connection:
        managed = [
            row[0]
            for row in connection.execute(
                "SELECT i.path FROM instances i JOIN series s ON s.series_uid = i.series_uid "
                "WHERE s.study_uid = ? AND i.managed",
                (study_uid,),
            )
        ]
        removed = connection.execute(
            "DELETE FROM instances WHERE series_uid IN "
            "(SELECT series_uid FROM series WHERE study_uid = ?)",
            (study_uid,),
        ).rowcount
        connection.execute("DELETE FROM series WHERE study_uid = ?", (study_uid,))
        connection.execute("DELETE FROM studies WHERE study_uid = ?", (study_uid,))
        for statement in _PRUNE:
            connection.execute(statement)
    storage.remove_copies(db.storage, managed)
    return int(removed)
