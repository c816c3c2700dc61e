"""``workstation analyze``, ``plugins`` and ``plugins new`` as users and scripts call them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workstation.testing.factories import SeriesSpec, write_series

from .conftest import REPO

SUMMARY_KEYS = {
    "module",
    "plugin",
    "version",
    "device",
    "precision",
    "duration_s",
    "measurements",
    "units",
    "outputs",
}


def run(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=cwd,
    )


@pytest.mark.dciodvfy
def test_analyze_json(tmp_path: Path, ct_series, dciodvfy_errors) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    completed = run(
        "analyze",
        str(ct_series.folder),
        "--module",
        "threshold-bright-structures",
        "--device",
        "cpu",
        "--param",
        "threshold_hu=250",
        "--out",
        str(out),
        "--json",
        home=tmp_path / "home",
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["module"] == "threshold-bright-structures"
    assert (summary["plugin"], summary["version"]) == ("example", "1.0.0")
    assert (summary["device"], summary["precision"]) == ("cpu", "float32")
    assert summary["units"] == {"bright_volume": "ml", "bright_mean": "[hnsf'U]"}
    voxel_ml = 0.7 * 0.8 * 2.5 / 1000
    assert summary["measurements"]["bright_volume"] == pytest.approx(
        ct_series.truth.sum() * voxel_ml
    )
    assert summary["series_instance_uid"] == ct_series.stack.series_instance_uid
    assert [Path(p).name for p in summary["outputs"]] == [
        "threshold-bright-structures-seg.dcm",
        "threshold-bright-structures-sr.dcm",
        "threshold-bright-structures-result.json",
    ]
    for path in summary["outputs"][:2]:
        assert dciodvfy_errors(Path(path)) == []
    saved = json.loads(Path(summary["outputs"][2]).read_text())
    assert saved["provenance"]["parameters"] == {"threshold_hu": 250.0}


def test_analyze_refuses_with_reasons(tmp_path: Path) -> None:
    write_series(
        tmp_path / "mr", SeriesSpec(modality="MR", rescale_slope=None, rescale_intercept=None)
    )
    home = tmp_path / "home"
    completed = run(
        "analyze", str(tmp_path / "mr"), "--module", "threshold-bright-structures", home=home
    )
    assert completed.returncode == 1
    (line,) = completed.stderr.strip().splitlines()
    assert line.startswith("workstation: no series fits Bright structures (threshold): MR series")
    assert "modality MR, needs CT" in line

    completed = run("analyze", str(tmp_path / "mr"), "--module", "no-such-module", home=home)
    assert completed.returncode == 2
    assert "no module 'no-such-module' (modules found: " in completed.stderr
    assert "example/threshold-bright-structures" in completed.stderr

    completed = run(
        "analyze",
        str(tmp_path / "mr"),
        "--module",
        "threshold-bright-structures",
        "--param",
        "bogus=1",
        home=home,
    )
    assert completed.returncode in (1, 2)
    assert completed.stderr.startswith("workstation: ")


def test_plugins_listing(tmp_path: Path) -> None:
    broken = tmp_path / "site" / "broken"
    broken.mkdir(parents=True)
    (broken / "plugin.toml").write_text('id = "broken"\nversion = 2\n')
    env = {**os.environ, "WORKSTATION_SITE_PLUGINS": str(tmp_path / "site")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "workstation",
            "--home",
            str(tmp_path / "home"),
            "plugins",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["host_api"] == "1.0"
    by_id = {plugin["id"]: plugin for plugin in data["plugins"]}
    assert by_id["broken"]["available"] is False
    assert "version: Input should be a valid string" in by_id["broken"]["error"]
    example = by_id["example"]
    assert example["source"] == "app" and example["available"]
    module = example["modules"][0]
    assert set(module) >= {"id", "name", "available", "reasons", "inputs", "outputs", "device"}
    assert module["inputs"][0]["series_kind"] == ["ct"]

    text = subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(tmp_path / "home"), "plugins"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert text.returncode == 0
    assert "example 1.0.0: Example modules [app, available]" in text.stdout
    assert "+ threshold-bright-structures: Bright structures (threshold) — CT (ct)" in text.stdout
    assert "broken ?: (no name) [site, unavailable]" in text.stdout


def test_new_plugin_passes_its_own_test(tmp_path: Path) -> None:
    completed = run(
        "plugins", "new", "Liver Volume", "--dir", str(tmp_path), home=tmp_path / "home"
    )
    assert completed.returncode == 0, completed.stderr
    root = Path(completed.stdout.strip())
    assert root == tmp_path / "liver-volume"
    assert (root / "plugin.toml").is_file() and (
        root / "liver_volume_plugin" / "module.py"
    ).is_file()
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    again = run("plugins", "new", "Liver Volume", "--dir", str(tmp_path), home=tmp_path / "home")
    assert again.returncode == 1 and "exists and is not empty" in again.stderr
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "workstation",
            "--home",
            str(tmp_path / "home"),
            "plugins",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "WORKSTATION_SITE_PLUGINS": str(tmp_path)},
    )
    ids = {p["id"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert ids["liver-volume"]["available"], ids["liver-volume"]
