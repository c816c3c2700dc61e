"""Discovery: plugin folders and entry points, availability with reasons, no plugin code run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workstation.inference import availability
from workstation.inference.discovery import Source, discover
from workstation.inference.jobs import Job, ModuleUnavailable
from workstation.inference.settings import InferenceSettings, load_settings

from .conftest import EXAMPLE, REPO, TESTKIT, registry_of

PLUGIN = """\
id = "{id}"
name = "Plugin {id}"
version = "1.0.0"
host_api = "{api}"
authors = [{{ name = "Tester" }}]

[[modules]]
id = "only"
name = "Only module"
python_name = "{package}.code:run"
requires = {requires}
{extra}
[[modules.inputs]]
modality = ["CT"]
"""

EXPLODING = 'raise RuntimeError("plugin code must not be imported by discovery")\n'


def write_plugin(
    folder: Path,
    plugin_id: str,
    *,
    api: str = "1.0",
    requires: str = "[]",
    extra: str = "",
) -> Path:
    package = plugin_id.replace("-", "_") + "_code"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(
        PLUGIN.format(id=plugin_id, api=api, requires=requires, extra=extra, package=package)
    )
    (folder / package).mkdir()
    (folder / package / "__init__.py").write_text(EXPLODING)
    (folder / package / "code.py").write_text(EXPLODING)
    return folder


def test_folders_list_plugins_and_modules() -> None:
    registry = registry_of(TESTKIT, EXAMPLE)
    assert [p.id for p in registry.plugins] == ["testkit", "example"]
    example = registry.plugin("example")
    assert example.source is Source.EXPLICIT and example.available
    assert example.location == str(EXAMPLE / "plugin.toml")
    threshold = registry.find_module("threshold-bright-structures")
    assert threshold.qualified_id == "example/threshold-bright-structures" and threshold.available
    assert registry.find_module("example/smoothed-threshold").weights[0].card is not None
    data = registry.to_json()
    module = data["plugins"][1]["modules"][0]
    assert module["inputs"][0]["modality"] == ["CT"]
    assert module["outputs"]["measurements"][0]["unit"] == "ml"
    json.dumps(data)  # serialisable as it is


def test_app_folder_is_the_repository_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = discover(InferenceSettings(), entry_points=False, user_folder=False)
    # The repository's plugins folder, in name order: the first-party modules.
    assert [(p.id, p.source) for p in registry.plugins] == [
        ("cardio", Source.APP),
        ("example", Source.APP),
    ]
    assert {p.root for p in registry.plugins} == {
        REPO / "plugins" / "cardio",
        REPO / "plugins" / "example",
    }
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/workstation/workstation")
    from workstation.inference.settings import app_plugin_dir, app_weights_dir

    assert app_plugin_dir() == Path("/opt/workstation/plugins")
    assert app_weights_dir() == Path("/opt/workstation/weights")


def test_site_and_user_folders_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    write_plugin(site / "example", "example")  # the same id as the first-party plugin
    write_plugin(tmp_path / "home" / "plugins" / "mine", "mine")
    monkeypatch.setenv("WORKSTATION_SITE_PLUGINS", str(site))
    registry = discover(entry_points=False)
    sources = [
        (p.id, p.source, p.shadowed_by is not None)
        for p in registry.plugins
        if p.id in ("example", "mine")
    ]
    assert sources == [
        ("example", Source.SITE, False),
        ("mine", Source.USER, False),
        ("example", Source.APP, True),
    ]
    shadowed = next(p for p in registry.plugins if p.shadowed_by is not None)
    assert "shadowed by" in shadowed.reasons[0]
    assert registry.find_module("example/only").plugin.source is Source.SITE


def test_site_configuration_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "site.json"
    config.write_text(json.dumps({"inference": {"plugin_dirs": ["it-plugins"], "device": "cpu"}}))
    write_plugin(tmp_path / "it-plugins" / "hospital", "hospital")
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(config))
    settings = load_settings()
    assert settings.device == "cpu"
    assert settings.site_plugin_dirs == (tmp_path / "it-plugins",)
    registry = discover(entry_points=False, app_folder=False)
    assert registry.plugins[0].id == "hospital" and registry.plugins[0].source is Source.SITE
    monkeypatch.setenv("WORKSTATION_DEVICE", "quantum")
    assert load_settings().device == "auto"


def test_broken_manifests_are_listed_not_raised(tmp_path: Path) -> None:
    (tmp_path / "bad-toml").mkdir()
    (tmp_path / "bad-toml" / "plugin.toml").write_text("id = [unclosed\n")
    (tmp_path / "bad-schema").mkdir()
    (tmp_path / "bad-schema" / "plugin.toml").write_text('id = "x"\nsurprise = 1\n')
    write_plugin(tmp_path / "good", "good")
    registry = registry_of(tmp_path)
    by_id = {p.id: p for p in registry.plugins}
    assert set(by_id) == {"bad-toml", "bad-schema", "good"}
    assert "not valid TOML" in (by_id["bad-toml"].error or "")
    assert not by_id["bad-toml"].available and by_id["bad-toml"].modules == []
    assert "surprise: unknown key" in (by_id["bad-schema"].error or "")
    assert by_id["bad-schema"].reasons[0].startswith("broken manifest: ")
    assert by_id["good"].available
    assert registry.to_json()["plugins"][0]["error"]


def test_unavailable_modules_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path / "needs-lib", "needs-lib", requires='["numpy", "no_such_lib_xyz.sub"]')
    write_plugin(tmp_path / "future", "future", api="9.0")
    write_plugin(tmp_path / "gpu", "gpu", extra="[modules.device]\nrequires_gpu = true\n")
    no_code = write_plugin(tmp_path / "no-code", "no-code")
    shutil.rmtree(no_code / "no_code_code")
    monkeypatch.setattr(availability, "gpu_probe", lambda extra=(): None)
    registry = registry_of(tmp_path)
    reasons = {p.id: p.modules[0].unavailable_reasons for p in registry.plugins}
    assert reasons["needs-lib"] == ["missing dependency: no_such_lib_xyz.sub"]
    assert reasons["future"] == ["written for host API 9.0; this workstation provides 1.0"]
    assert reasons["gpu"] == ["needs a GPU (CUDA or Apple MPS); none usable here"]
    assert reasons["no-code"] == ["module code not found: no_code_code.code"]
    monkeypatch.setattr(availability, "gpu_probe", lambda extra=(): "cuda")
    assert registry_of(tmp_path / "gpu").plugins[0].available
    with pytest.raises(ModuleUnavailable, match="missing dependency"):
        Job(registry.find_module("needs-lib/only"), None)  # type: ignore[arg-type]


def test_gpu_probe_without_importing_torch() -> None:
    # This machine has the CPU build of torch: no libtorch_cuda, so no GPU for modules.
    assert availability.gpu_probe() in (None, "cuda", "mps")
    assert availability.package_dir("torch") is not None
    assert availability.find_module("torch.nn.functional") is not None
    assert availability.find_module("torch.no_such_module") is None


def _weights_plugin(root: Path, data: bytes) -> Path:
    import hashlib

    (root / "weights" / "tiny").mkdir(parents=True)
    (root / "weights" / "tiny" / "w.safetensors").write_bytes(data)
    extra = (
        '[[modules.weights]]\nname = "w"\npath = "tiny/w.safetensors"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\n'
    )
    return write_plugin(root, "weighted", extra=extra)


def test_weights_hash_mismatch_is_refused(tmp_path: Path) -> None:
    plugin = _weights_plugin(tmp_path / "weighted", b"original bytes")
    module = registry_of(plugin).find_module("only")
    assert module.available
    assert module.warnings == ["weights 'w' have no model card (tiny/metadata.json)"]
    (plugin / "weights" / "tiny" / "w.safetensors").write_bytes(b"altered bytes!")
    module = registry_of(plugin).find_module("only")
    assert not module.available
    (reason,) = module.reasons
    assert reason.startswith("weights sha256 mismatch for 'w'")
    assert "refusing to run altered weights" in reason
    with pytest.raises(ModuleUnavailable, match="sha256 mismatch"):
        Job(module, None)  # type: ignore[arg-type]
    (plugin / "weights" / "tiny" / "w.safetensors").unlink()
    (reason,) = registry_of(plugin).find_module("only").reasons
    assert reason.startswith("weights 'w' missing: tiny/w.safetensors is in none of")


def test_model_card_problems_are_warnings(tmp_path: Path) -> None:
    plugin = _weights_plugin(tmp_path / "weighted", b"weights")
    (plugin / "weights" / "tiny" / "metadata.json").write_text('{"version": "1"}')
    module = registry_of(plugin).find_module("only")
    assert module.available
    assert "model card of 'w'" in module.warnings[0] and "task" in module.warnings[0]


def _install_distribution(site: Path, value: str) -> None:
    """A distribution on ``site`` whose workstation.plugins entry point is ``value``."""
    dist = site / "acme_plugin-2.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text(f"[workstation.plugins]\nacme = {value}\n")


def test_entry_point_plugins_are_read_not_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    package = site / "acme_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(EXPLODING)
    write_plugin(package / "manifest", "acme")
    _install_distribution(site, "acme_plugin:manifest")
    monkeypatch.syspath_prepend(str(site))
    registry = discover(InferenceSettings(), app_folder=False, user_folder=False)
    (plugin,) = [p for p in registry.plugins if p.id == "acme"]
    assert plugin.source is Source.ENTRY_POINT
    assert plugin.root == package / "manifest"
    assert "entry point acme = acme_plugin:manifest" in plugin.location
    assert plugin.modules[0].reasons == ["module code not found: acme_code.code"]
    assert "acme_plugin" not in sys.modules and "acme_code" not in sys.modules


def test_entry_point_to_a_missing_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    _install_distribution(site, "not_installed_pkg")
    monkeypatch.syspath_prepend(str(site))
    registry = discover(InferenceSettings(), app_folder=False, user_folder=False)
    (plugin,) = [p for p in registry.plugins if p.id == "acme"]
    assert not plugin.available
    assert (
        plugin.error
        == "entry point acme = not_installed_pkg: package 'not_installed_pkg' not found"
    )


RUNNABLE = """\
id = "runnable"
name = "Runnable"
version = "2.1.0"
host_api = "1.0"
authors = [{ name = "Tester" }]

[[modules]]
id = "count"
name = "Counts voxels"
python_name = "runnable_pkg.code:run"

[[modules.inputs]]
modality = ["CT"]

[[modules.outputs.measurements]]
id = "voxels"
name = "Voxels"
code = { value = "246205007", scheme = "SCT", meaning = "Quantity" }
unit = "{count}"
"""

RUNNABLE_CODE = """\
from workstation.inference.worker import ModuleOutput


def run(context):
    return ModuleOutput(measurements={"voxels": float(context.volume.array.size)})
"""


def test_entry_point_plugin_runs_from_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool, ct_volume
) -> None:
    from importlib.metadata import EntryPoint

    from workstation.inference import discovery

    package = tmp_path / "site-packages" / "runnable_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.toml").write_text(RUNNABLE)
    (package / "code.py").write_text(RUNNABLE_CODE)
    monkeypatch.syspath_prepend(str(package.parent))

    def entry_points(group: str) -> list[EntryPoint]:
        assert group == "workstation.plugins"
        return [EntryPoint("runnable", "runnable_pkg", group)]

    monkeypatch.setattr(discovery.importlib.metadata, "entry_points", entry_points)
    registry = discover(InferenceSettings(), app_folder=False, user_folder=False)
    module = registry.find_module("runnable/count")
    assert module.plugin.source is Source.ENTRY_POINT and module.available
    assert "runnable_pkg" not in sys.modules
    result = Job(module, ct_volume, pool=pool).run()
    assert result.values == {"voxels": float(ct_volume.array.size)}
    assert result.units == {"voxels": "{count}"}
    assert result.provenance.plugin_version == "2.1.0"


LISTING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from workstation.cli import main
    from workstation.core.volume import Volume
    from workstation.inference import Job, discover

    if __name__ == "__main__":
        assert main(["plugins", "--json"]) == 0
        registry = discover()
        volume = Volume(np.full((4, 16, 16), 1000, np.int16), np.eye(4))
        module = registry.find_module("threshold-bright-structures")
        result = Job(module, volume, time_limit_s=60).run()
        heavy = sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("torch", "monai", "example_plugin", "SimpleITK")
            or name.startswith(("workstation.inference.worker", "workstation.inference.helpers"))
        )
        print(json.dumps({"heavy": heavy, "volume": result.values["bright_volume"]}))
    """
)


def test_host_imports_no_torch_and_no_plugin_code(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(LISTING_SCRIPT)
    completed = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"WORKSTATION_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    listing, summary = completed.stdout.rsplit("\n{", 1)
    assert "example" in [plugin["id"] for plugin in json.loads(listing)["plugins"]]
    report = json.loads("{" + summary)
    assert report["heavy"] == []
    assert report["volume"] == pytest.approx(4 * 16 * 16 / 1000)
