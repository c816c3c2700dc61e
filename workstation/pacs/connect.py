"""From a node (configured or inline) to an open :class:`~workstation.pacs.source.DataSource`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workstation.pacs.database import StudyDatabase
from workstation.pacs.dicomweb import DicomWebSource
from workstation.pacs.dimse import DimseSource
from workstation.pacs.local import LOCAL_NAME, LocalSource
from workstation.pacs.nodes import Node, PacsSettings, secret_for
from workstation.pacs.retry import OnRetry, RetryPolicy
from workstation.pacs.scp import StorageSCP
from workstation.pacs.source import DataSource
from workstation.pacs.sync import Prefetcher, TransferQueue


class OwnedLocalSource(LocalSource):
    """The library as a source that opened (and closes) its own database connection."""

    def __init__(self, db_path: Path | None = None) -> None:
        super().__init__(StudyDatabase.open(db_path))

    def close(self) -> None:
        self.db.close()


def open_source(
    node: Node | str,
    settings: PacsSettings,
    *,
    prompt: Callable[[str], str | None] | None = None,
    scp: StorageSCP | None = None,
    retry: RetryPolicy | None = None,
    on_retry: OnRetry | None = None,
    db_path: Path | None = None,
) -> DataSource:
    """A source for ``node``: a :class:`Node`, a configured name, an inline spec, or ``local``.

    Credentials are looked up (environment, keyring, ``prompt``) for DICOMweb nodes with auth;
    a DIMSE node calls with ``settings.ae_title`` and, for C-MOVE, needs ``scp`` running.

    Raises
    ------
    PacsError
        ``configuration`` for an unknown name or a malformed spec, ``unauthorized`` when a
        needed secret is nowhere to be found.
    """
    if isinstance(node, str):
        if node == LOCAL_NAME and not any(n.name == LOCAL_NAME for n in settings.nodes):
            return OwnedLocalSource(db_path)
        node = settings.resolve(node)
    if node.kind == "dicomweb":
        return DicomWebSource(
            node, secret=secret_for(node, prompt=prompt), retry=retry, on_retry=on_retry
        )
    return DimseSource(node, ae_title=settings.ae_title, scp=scp, retry=retry, on_retry=on_retry)


def source_factory(
    node: Node | str,
    settings: PacsSettings,
    *,
    prompt: Callable[[str], str | None] | None = None,
    scp: StorageSCP | None = None,
) -> Callable[[], DataSource]:
    """A function opening a fresh source for ``node`` each call: what jobs take, so that each
    opens its own in its worker thread. The node is resolved (and fails) now."""
    resolved = settings.resolve(node) if isinstance(node, str) and node != LOCAL_NAME else node

    def make() -> DataSource:
        return open_source(resolved, settings, prompt=prompt, scp=scp)

    return make


def storage_scp_for(
    settings: PacsSettings,
    *,
    db_path: Path | None = None,
    on_series: Callable[[dict[str, str]], None] | None = None,
) -> StorageSCP | None:
    """The storage SCP the application runs (not started), or None when the settings turn it
    off. Start it with :meth:`StorageSCP.start` and stop it when the application quits."""
    if not settings.scp_enabled:
        return None
    return StorageSCP(
        settings.ae_title, settings.port, host=settings.bind, db_path=db_path, on_series=on_series
    )


def prefetcher_for(
    settings: PacsSettings,
    queue: TransferQueue,
    *,
    db_path: Path | None = None,
    prompt: Callable[[str], str | None] | None = None,
    scp: StorageSCP | None = None,
) -> Prefetcher | None:
    """The prefetch rules of the settings bound to their node, or None when off.

    Wire ``prefetcher.study_opened`` to "a study was opened" and pass
    ``prefetcher.series_arrived`` as the storage SCP's ``on_series``.
    """
    rules = settings.prefetch
    if not rules.enabled or not rules.node or rules.priors <= 0:
        return None
    node = settings.resolve(rules.node)
    return Prefetcher(
        queue,
        source_factory(node, settings, prompt=prompt, scp=scp),
        rules,
        node=node.name,
        db_path=db_path,
    )
