"""Expert modules in the viewer: which fit the current series, runs, results and their review.

Discovery and every job run off the GUI thread; their callbacks come back as queued Qt signals,
so the window never waits on a module. A finished result is shown at once as an overlay marked
AI, kept on disk per study (:class:`~workstation.inference.store.ResultStore`) and listed with
its measurements until the reader accepts, rejects or edits it; each decision is recorded in
the result with the reader's name and written back to its DICOM SEG + SR.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from workstation.app.early_imports import PYDANTIC, settle_imports
from workstation.core.scene import ImageLayer, Scene
from workstation.core.segmentation import LabelMap

# The inference host (pydantic manifests, highdicom export) loads with discovery, in the
# background: none of it slows the window's first paint.
if TYPE_CHECKING:
    from workstation.inference import matching
    from workstation.inference.discovery import ModuleRecord, Registry
    from workstation.inference.jobs import Failure, Job, WorkerPool
    from workstation.inference.results import Result
    from workstation.inference.store import ResultStore, StoredResult
    from workstation.io import DicomStack

log = logging.getLogger(__name__)

#: Reader edits are saved this long after the last brush stroke (one write per burst).
EDIT_SAVE_DELAY_MS = 2000


@dataclass
class Run:
    """A module run of this session, or a result stored by an earlier one."""

    id: str
    module_name: str
    study_instance_uid: str
    series_instance_uid: str
    series_description: str
    #: "waiting" (for the series to load), a :class:`JobState` value, or "stored"
    state: str
    progress: float = 0.0
    message: str = ""
    job: Job | None = None
    result: Result | None = None
    stored: StoredResult | None = None
    module_id: str = ""
    device: str = "auto"
    started: str = ""

    @property
    def labels(self) -> LabelMap | None:
        return self.result.labels if self.result is not None else None


def review_status(result: Result) -> str:
    """What the overlay says of a result: "pending review", "accepted by Dr A", ..."""
    review = result.review
    if review.state.value == "pending":
        return "pending review"
    return f"{review.state.value} by {review.by}"


def candidate_for(layer: ImageLayer, stack: DicomStack) -> matching.Candidate:
    from workstation.inference import matching

    info = layer.info
    return matching.Candidate(
        series_instance_uid=info.series_instance_uid,
        modality=info.modality,
        series_description=info.series_description,
        kind=stack.kind,
        shape=tuple(stack.shape),
        affine=stack.affine,
        stack=stack,
        study_instance_uid=info.study_instance_uid,
    )


class ExpertModules(QObject):
    """The AI panel's services."""

    #: The module registry is known (or discovery failed: the registry is empty).
    registry_changed = Signal()
    #: Runs were added, changed state or were reviewed.
    runs_changed = Signal()
    #: A problem to show: (title, message).
    problem = Signal(str, str)
    #: From a job's thread to the GUI thread: (run id, event, payload).
    _job_event = Signal(str, str, object)
    _discovered = Signal(object, str)

    def __init__(
        self,
        scene: Scene,
        stacks: dict[str, DicomStack],
        results_dir: Path,
        *,
        reader: Callable[[], str],
        discover: Callable[[], Registry] | None = None,
        pool: WorkerPool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.scene = scene
        self.stacks = stacks
        self.results_dir = results_dir
        self._store: ResultStore | None = None
        self.reader = reader
        self.registry: Registry | None = None
        self.discovery_error = ""
        self.runs: dict[str, Run] = {}
        self._discover = discover
        self._pool = pool
        self._seen_studies: set[str] = set()
        self._dirty: set[str] = set()
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(EDIT_SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.flush_edits)
        self._job_event.connect(self._on_job_event, Qt.ConnectionType.QueuedConnection)
        self._discovered.connect(self._on_discovered, Qt.ConnectionType.QueuedConnection)
        scene.events.layer_added.connect(self._on_layer_added)
        scene.events.slices_loaded.connect(self._on_slices_loaded)
        scene.events.layer_removed.connect(lambda _id: self.runs_changed.emit())

    @property
    def store(self) -> ResultStore:
        if self._store is None:
            from workstation.inference.store import ResultStore

            self._store = ResultStore(self.results_dir)
        return self._store

    # --- modules ------------------------------------------------------------------------------

    def discover_async(self) -> None:
        """Find the plugins in the background (manifests only: no plugin code, no torch)."""

        def work() -> None:
            try:
                settle_imports(PYDANTIC)
                if self._discover is not None:
                    registry = self._discover()
                else:
                    from workstation.inference.discovery import discover

                    registry = discover()
            # A broken plugin folder must not stop the app: the panel says what failed.
            except Exception as error:
                log.exception("plugin discovery failed")
                announce(None, str(error))
            else:
                announce(registry, "")

        def announce(registry: Registry | None, error: str) -> None:
            try:
                self._discovered.emit(registry, error)
            except RuntimeError:  # the window closed while the folders were read
                log.debug("plugin discovery finished after the window closed")

        threading.Thread(target=work, name="plugin-discovery", daemon=True).start()

    def _on_discovered(self, registry: Registry | None, error: str) -> None:
        from workstation.inference.discovery import Registry

        self.registry = registry if registry is not None else Registry([])
        self.discovery_error = error
        self.registry_changed.emit()

    def warm_up(self) -> None:
        """Start a worker process now (the reader opened the AI panel): the first run then
        skips the process start and the imports (about a second, more on a cold disk)."""
        if self.registry is None or not self.registry.modules(available_only=True):
            return
        from workstation.inference.jobs import default_pool

        pool = self._pool or default_pool()
        if pool.idle_count == 0:
            threading.Thread(target=pool.prestart, name="worker-prestart", daemon=True).start()

    def choices(self, layer_id: str | None) -> list[tuple[ModuleRecord, str]]:
        """Every module with why it cannot run on the layer ("" when it can)."""
        if self.registry is None:
            return []
        from workstation.inference import matching

        layer = self.scene.layers.get(layer_id or "")
        stack = self.stacks.get(layer_id or "")
        found = []
        for module in self.registry.modules():
            if not module.available:
                found.append((module, "; ".join(module.unavailable_reasons)))
            elif layer is None or stack is None:
                found.append((module, "no series open"))
            else:
                match = matching.examine(module.spec.inputs[0], candidate_for(layer, stack))
                found.append((module, "; ".join(match.reasons)))
        return found

    # --- running ------------------------------------------------------------------------------

    def run(self, layer_id: str, module_ref: str, device: str = "auto") -> Run | None:
        """Start a module on a layer (once its series has loaded); None when it cannot run."""
        layer = self.scene.layers.get(layer_id)
        if self.registry is None or layer is None or layer_id not in self.stacks:
            self.problem.emit("Cannot run", "Open a series and wait for the modules to be found.")
            return None
        module = self.registry.find_module(module_ref)
        info = layer.info
        run = Run(
            id=uuid.uuid4().hex,
            module_name=module.spec.name,
            module_id=module.qualified_id,
            study_instance_uid=info.study_instance_uid,
            series_instance_uid=info.series_instance_uid,
            series_description=info.series_description,
            state="waiting",
            message="waiting for the series to finish loading",
            device=device,
        )
        self.runs[run.id] = run
        self._start_if_loaded(run, layer_id)
        self.runs_changed.emit()
        return run

    def _on_slices_loaded(self, layer_id: str, _first: int, _last: int) -> None:
        for run in self.runs.values():
            if run.state == "waiting" and self._layer_of(run) == layer_id:
                self._start_if_loaded(run, layer_id)

    def _start_if_loaded(self, run: Run, layer_id: str) -> None:
        layer = self.scene.layers[layer_id]
        if not layer.fully_loaded:
            return
        assert self.registry is not None
        from workstation.inference.jobs import Job

        module = self.registry.find_module(run.module_id)
        emit = self._job_event.emit
        try:
            job = Job(
                module,
                layer.volume,
                device=run.device,
                series_instance_uid=layer.info.series_instance_uid,
                image_layer_id=layer_id,
                pool=self._pool,
                on_progress=lambda _job, f, text: emit(run.id, "progress", (f, text)),
                on_state=lambda _job, state: emit(run.id, "state", state),
                on_finished=lambda _job, result: emit(run.id, "finished", result),
                on_failed=lambda _job, failure: emit(run.id, "failed", failure),
            )
        except (ValueError, RuntimeError) as error:
            run.state, run.message = "failed", str(error)
            self.runs_changed.emit()
            return
        run.job = job
        run.state, run.message = "starting", "starting"
        job.start()

    def cancel(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        if run.job is not None:
            run.job.cancel()
        elif run.state == "waiting":
            run.state, run.message = "cancelled", "cancelled by the user"
            self.runs_changed.emit()

    def _on_job_event(self, run_id: str, event: str, payload: Any) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        if event == "progress":
            run.progress, run.message = float(payload[0]), str(payload[1])
        elif event == "state":
            if run.state not in ("succeeded", "failed", "cancelled"):
                run.state = str(payload.value)
        elif event == "finished":
            self._finished(run, payload)
        elif event == "failed":
            failure: Failure = payload
            run.state = "cancelled" if failure.kind.value == "cancelled" else "failed"
            run.message = failure.reason
        self.runs_changed.emit()

    def _finished(self, run: Run, result: Result) -> None:
        run.state, run.result, run.progress = "succeeded", result, 1.0
        run.started = result.provenance.started
        provenance = result.provenance
        run.message = f"finished in {provenance.duration_s:.1f} s on {provenance.device}"
        result.review_changed.connect(lambda _review: self._review_changed(run))
        self._save(run)
        self.show(run.id, True)

    # --- results ------------------------------------------------------------------------------

    def _on_layer_added(self, layer_id: str) -> None:
        # After the first image is on screen: reading the records can wait a moment.
        QTimer.singleShot(0, lambda: self._list_stored(layer_id))

    def _list_stored(self, layer_id: str) -> None:
        """List a study's stored results when one of its series opens."""
        layer = self.scene.layers.get(layer_id)
        if layer is None or layer.info.study_instance_uid in self._seen_studies:
            return
        study = layer.info.study_instance_uid
        self._seen_studies.add(study)
        known = {r.result.id for r in self.runs.values() if r.result is not None}
        for stored in self.store.for_study(study):
            if stored.id in known:
                continue
            self.runs[stored.id] = Run(
                id=stored.id,
                module_name=stored.module_name,
                study_instance_uid=study,
                series_instance_uid=stored.series_instance_uid,
                series_description=stored.series_description,
                state="stored",
                progress=1.0,
                stored=stored,
                started=stored.started,
            )
        self.runs_changed.emit()

    def _layer_of(self, run: Run) -> str | None:
        for layer in self.scene.layers.values():
            if layer.info.series_instance_uid == run.series_instance_uid:
                return layer.id
        return None

    def _loaded_result(self, run: Run) -> Result | None:
        """The run's result, read back from disk for a stored one (its series must be open)."""
        if run.result is not None or run.stored is None:
            return run.result
        layer_id = self._layer_of(run)
        if layer_id is None:
            return None
        from workstation.inference.store import ResultStoreError

        try:
            result = run.stored.load(layer_id)
        except ResultStoreError as error:
            self.problem.emit("Result unreadable", str(error))
            return None
        run.result = result
        result.review_changed.connect(lambda _review: self._review_changed(run))
        return result

    def showable(self, run: Run) -> bool:
        has_result = run.result is not None or run.stored is not None
        return has_result and self._layer_of(run) is not None

    def shown(self, run: Run) -> bool:
        labels = run.labels
        return labels is not None and labels.id in self.scene.labels

    def show(self, run_id: str, visible: bool) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        result = self._loaded_result(run) if visible else run.result
        labels = result.labels if result is not None else None
        layer_id = self._layer_of(run)
        if labels is None or layer_id is None:
            self.runs_changed.emit()
            return
        if not visible:
            self.scene.remove_labels(labels.id)
        elif labels.id not in self.scene.labels:
            labels.image_layer_id = layer_id
            labels.set_review_status(review_status(result))  # type: ignore[arg-type]
            labels.changed.connect(lambda _index: self._edited(run))
            self.scene.add_labels(labels)
        self.runs_changed.emit()

    def review(self, run_id: str, state: str) -> None:
        """Accept or reject a result in the reader's name."""
        run = self.runs.get(run_id)
        result = self._loaded_result(run) if run is not None else None
        if run is None or result is None:
            self.problem.emit("Cannot review", "Open the result's series to review it.")
            return
        reader = self.reader()
        if state == "accepted":
            result.accept(reader)
        elif state == "rejected":
            result.reject(reader)
            self.show(run_id, False)

    def _edited(self, run: Run) -> None:
        """The reader painted on an AI label map: recorded once, saved shortly after."""
        result = run.result
        if result is None:
            return
        if result.review.state.value != "edited":
            result.mark_edited(self.reader())
        self._dirty.add(run.id)
        self._save_timer.start()

    def _review_changed(self, run: Run) -> None:
        result = run.result
        if result is not None and result.labels is not None:
            result.labels.set_review_status(review_status(result))
        if result is not None and result.review.state.value != "edited":
            self._dirty.discard(run.id)
            self._save(run)
        self.runs_changed.emit()

    def flush_edits(self) -> None:
        for run_id in list(self._dirty):
            self._dirty.discard(run_id)
            run = self.runs.get(run_id)
            if run is not None:
                self._save(run)

    def _save(self, run: Run) -> None:
        result = run.result
        layer_id = self._layer_of(run)
        stack = self.stacks.get(layer_id or "")
        if result is None or stack is None:
            return
        from workstation.inference.store import ResultStoreError

        try:
            run.stored = self.store.save(
                result,
                stack,
                study_instance_uid=run.study_instance_uid,
                series_description=run.series_description,
            )
        except ResultStoreError as error:
            self.problem.emit("Result not saved", str(error))

    def export(self, run_id: str, folder: Path) -> list[Path]:
        """The result's DICOM SEG + SR written into ``folder``."""
        from workstation.inference.export import export_dicom

        run = self.runs.get(run_id)
        result = self._loaded_result(run) if run is not None else None
        stack = self.stacks.get(self._layer_of(run) or "") if run is not None else None
        if result is None or stack is None:
            self.problem.emit("Cannot export", "Open the result's series to export it.")
            return []
        files = export_dicom(result, stack, folder)
        return files.paths

    def dicom_files(self, run_id: str) -> list[Path]:
        """The stored DICOM SEG + SR of a result (for sending to a PACS)."""
        self.flush_edits()
        run = self.runs.get(run_id)
        if run is None or run.stored is None:
            return []
        return [p for p in run.stored.files if p.suffix == ".dcm" and p.exists()]

    def shutdown(self) -> None:
        self.flush_edits()
        for run in self.runs.values():
            if run.job is not None and not run.job.state.finished:
                run.job.cancel()
