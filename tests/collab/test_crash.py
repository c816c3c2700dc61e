"""A process killed right after an edit loses nothing it reported saved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from workstation.collab.store import AnnotationStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

REPO = Path(__file__).resolve().parents[2]

# The child edits through a real scene with the store attached, reports each version the
# moment the edit returns, and kills itself (no close, no atexit, no flush) after the last one.
CHILD = """
import os, random, signal, sys
from pathlib import Path
from workstation.collab.store import AnnotationStore
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.scene import Scene

path, seed, edits, mode = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
store = AnnotationStore(path)
scene = Scene()
store.attach(scene)
reference = ImageReference("1.2.3", "1.2.3.%d" % (seed % 3))

def report(uuid):
    print("saved", uuid, scene.annotations[uuid].version, flush=True)

for _ in range(edits if mode == "self" else 10**9):
    live = scene.visible_annotations()
    action = rng.random() if live else 0.0
    if action < 0.3:
        x = rng.uniform(1, 100)
        a = Annotation(AnnotationKind.LENGTH, reference, points=((0, 0, 0), (x, 0, 0)))
        scene.add_annotation(a)
        report(a.uuid)
    elif action < 0.8:
        a = rng.choice(live)
        x = rng.uniform(1, 100)
        report(scene.edit_annotation(a, points=((0, 0, 0), (x, x, 0)), label=str(x)).uuid)
    elif action < 0.9:
        a = rng.choice(live)
        scene.delete_annotation(a)
        report(a.uuid)
    else:
        text = scene.undo.undo()
        for uuid in scene.annotations:
            report(uuid)
if mode == "self":
    print("saved", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _run_child(path: Path, seed: int, edits: int, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(seed), str(edits), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def _reported(lines: list[str]) -> dict[str, int]:
    latest: dict[str, int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "saved":
            latest[parts[1]] = max(latest.get(parts[1], 0), int(parts[2]))
    return latest


def _assert_all_present(path: Path, reported: dict[str, int]) -> None:
    with AnnotationStore(path) as store:
        for uuid, version in reported.items():
            stored = store.get(uuid)
            assert stored is not None, f"{uuid} reported saved but missing"
            assert stored.version >= version, f"{uuid}: stored {stored.version} < {version}"


@pytest.mark.parametrize("seed", range(8))
def test_child_killing_itself_after_the_last_edit_loses_nothing(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "annotations.sqlite"
    child = _run_child(path, seed, edits=20, mode="self")
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, stderr
    lines = stdout.splitlines()
    assert lines[-1] == "saved"
    reported = _reported(lines)
    assert reported
    _assert_all_present(path, reported)
    with AnnotationStore(path) as store:
        # Killed right after its last edit, the child left exactly what it reported.
        assert {uuid: store.get(uuid).version for uuid in reported} == reported  # type: ignore[union-attr]


@pytest.mark.parametrize("after", [1, 7, 30])
def test_child_killed_at_an_arbitrary_moment_loses_nothing_it_reported(
    tmp_path: Path, after: int
) -> None:
    path = tmp_path / "annotations.sqlite"
    child = _run_child(path, seed=after, edits=0, mode="forever")
    assert child.stdout is not None
    lines: list[str] = []
    while len(lines) < after:
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else ""
        lines.append(line)
    child.send_signal(signal.SIGKILL)  # while it is in the middle of further edits
    rest, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    lines.extend(rest.splitlines())
    reported = _reported(lines)
    assert len(reported) >= 1
    _assert_all_present(path, reported)
