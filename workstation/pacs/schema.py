"""The study database's tables, and the migrations that bring an older file up to date.

``MIGRATIONS[n]`` takes a database at schema version ``n`` to ``n + 1``; version 0 is an empty
file. A file written by a newer version of the application is refused rather than guessed at.
"""

from __future__ import annotations

#: Version 1: patients / studies / series / instances.
_V1 = """
CREATE TABLE patients (
    id            INTEGER PRIMARY KEY,
    patient_id    TEXT NOT NULL,
    patient_name  TEXT NOT NULL,
    birth_date    TEXT NOT NULL DEFAULT '',
    sex           TEXT NOT NULL DEFAULT '',
    UNIQUE (patient_id, patient_name)
);
CREATE TABLE studies (
    study_uid     TEXT PRIMARY KEY,
    patient       INTEGER NOT NULL REFERENCES patients (id),
    study_date    TEXT NOT NULL DEFAULT '',
    study_time    TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    accession     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX studies_by_patient ON studies (patient);
CREATE INDEX studies_by_date ON studies (study_date);
CREATE TABLE series (
    series_uid          TEXT PRIMARY KEY,
    study_uid           TEXT NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
    modality            TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    number              INTEGER,
    frame_of_reference  TEXT NOT NULL DEFAULT '',
    n_instances         INTEGER NOT NULL DEFAULT 0,
    -- 8-bit grey pixels, row by row: thumbnail_width × thumbnail_height bytes.
    thumbnail           BLOB,
    thumbnail_width     INTEGER,
    thumbnail_height    INTEGER
);
CREATE INDEX series_by_study ON series (study_uid);
CREATE TABLE instances (
    sop_instance_uid  TEXT PRIMARY KEY,
    series_uid        TEXT NOT NULL REFERENCES series (series_uid) ON DELETE CASCADE,
    sop_class_uid     TEXT NOT NULL DEFAULT '',
    instance_number   INTEGER,
    -- A file (absolute path; relative to the storage folder for managed copies) or a zip
    -- archive, with the member's name in ``member``.
    path              TEXT NOT NULL,
    member            TEXT,
    size              INTEGER NOT NULL,
    mtime_ns          INTEGER NOT NULL,
    managed           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instances_by_series ON instances (series_uid);
"""

#: Version 2: each instance's header as JSON (``workstation.io.header_codec``), so opening a
#: series from the library needs no file read before its first image.
_V2 = """
ALTER TABLE instances ADD COLUMN header TEXT;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2)

#: The version this code reads and writes.
SCHEMA_VERSION = len(MIGRATIONS)
