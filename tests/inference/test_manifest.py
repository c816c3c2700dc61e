"""plugin.toml: the strict schema, its error messages and the checked-in JSON schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workstation.inference import HOST_API_VERSION
from workstation.inference.manifest import (
    ManifestError,
    api_incompatibility,
    load_manifest,
    manifest_json_schema,
    parse_manifest,
)
from workstation.resources import resources_dir

from .conftest import EXAMPLE, TESTKIT

MINIMAL = """\
id = "demo"
name = "Demo"
version = "1.2.3"
host_api = "1.0"
authors = [{ name = "A. Author" }]

[[modules]]
id = "mod"
name = "Module"
python_name = "demo_pkg.mod:run"

[[modules.inputs]]
modality = ["CT"]
"""


def test_first_party_and_test_manifests_are_valid() -> None:
    example = load_manifest(EXAMPLE / "plugin.toml")
    assert example.id == "example"
    assert [m.id for m in example.modules] == ["threshold-bright-structures", "smoothed-threshold"]
    smoothed = example.module("smoothed-threshold")
    assert smoothed.uses_torch and not example.module("threshold-bright-structures").uses_torch
    assert smoothed.weights[0].card_path == "example/metadata.json"
    volume = example.module("threshold-bright-structures").outputs.measurements[0]
    assert volume.code.as_tuple() == ("118565006", "SCT", "Volume")
    assert volume.unit_code == ("ml", "UCUM", "milliliter")
    assert load_manifest(TESTKIT / "plugin.toml").version == "0.3.1"


def test_defaults() -> None:
    manifest = parse_manifest(MINIMAL)
    module = manifest.modules[0]
    assert module.device.devices == ["cuda", "mps", "cpu"]
    assert module.device.precisions == ["float32"]
    assert module.limits.time_s == 600 and module.limits.memory_mb == 8192
    assert module.inputs[0].name == "image" and module.inputs[0].series_kind == []
    assert manifest.maker == "A. Author"


@pytest.mark.parametrize(
    ("change", "place"),
    [
        ('\ncolour = "red"\n', "colour: unknown key"),
        (
            "\n[modules.device]\nrequires_gpus = true\n",
            "modules.0.device.requires_gpus: unknown key",
        ),
        ('\n[[modules.inputs.0]]\nmodality = ["MR"]\n', "modules.0.inputs.0.0: unknown key"),
    ],
)
def test_unknown_keys_are_errors(change: str, place: str) -> None:
    text = MINIMAL + change if "colour" not in change else change + MINIMAL
    with pytest.raises(ManifestError, match=place):
        parse_manifest(text, "plugin.toml")


@pytest.mark.parametrize(
    ("old", "new", "place"),
    [
        ('version = "1.2.3"', 'version = "1.2"', "version: String should match pattern"),
        ('version = "1.2.3"', 'version = "v1.2.3"', "version: String should match pattern"),
        ('host_api = "1.0"', 'host_api = "1"', "host_api: String should match pattern"),
        ('host_api = "1.0"', "host_api = 1.0", "host_api: Input should be a valid string"),
        ('id = "demo"', 'id = "Demo Plugin"', "^id: String should match pattern"),
        ('"demo_pkg.mod:run"', '"demo_pkg.mod.run"', "modules.0.python_name"),
        ('modality = ["CT"]', 'modality = ["ct"]', "modules.0.inputs.0.modality.0"),
        ('modality = ["CT"]', "modality = []", "modules.0.inputs.0.modality"),
        ('authors = [{ name = "A. Author" }]', "authors = []", "authors: List should have"),
    ],
)
def test_bad_values_name_their_place(old: str, new: str, place: str) -> None:
    assert old in MINIMAL
    with pytest.raises(ManifestError) as error:
        parse_manifest(MINIMAL.replace(old, new), "plugin.toml")
    message = str(error.value)
    assert message.startswith("plugin.toml: ")
    assert any(re.search(place, part) for part in message[13:].split("; ")), message


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            '[[modules.weights]]\nname = "w"\npath = "../outside.safetensors"\nsha256 = "'
            + "0" * 64
            + '"\n',
            "relative path inside weights/",
        ),
        (
            '[[modules.weights]]\nname = "w"\npath = "model/model.pt"\nsha256 = "'
            + "0" * 64
            + '"\n',
            "never pickles",
        ),
        (
            '[[modules.weights]]\nname = "w"\npath = "m/w.safetensors"\nsha256 = "abc"\n',
            "sha256",
        ),
        (
            '[[modules.outputs.measurements]]\nid = "v"\nname = "V"\nunit = "ml"\n'
            'segment = "nowhere"\ncode = { value = "1", scheme = "SCT", meaning = "x" }\n',
            "names segment 'nowhere'",
        ),
        ('[[modules.inputs]]\nmodality = ["MR"]\n', "at most 1 item"),
        ('modality = ["MR"]\n', "not valid TOML"),
        ('[modules.device]\ndevices = ["cpu"]\nrequires_gpu = true\n', "requires_gpu"),
        ('[modules.device]\nprecisions = ["float8"]\n', "precisions.0"),
        ("[modules.limits]\ntime_s = 0\n", "time_s"),
        ("min_slices = 9\nmax_slices = 3\n", "max_slices 3 < min_slices 9"),
    ],
)
def test_module_sections_are_checked(extra: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        parse_manifest(MINIMAL + extra)


def test_duplicate_module_ids() -> None:
    module = MINIMAL[MINIMAL.index("[[modules]]") :]
    with pytest.raises(ManifestError, match="modules: id 'mod' appears twice"):
        parse_manifest(MINIMAL + "\n" + module)


def test_unreadable_and_huge_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "missing.toml")
    huge = tmp_path / "plugin.toml"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ManifestError, match="larger than 1 MiB"):
        load_manifest(huge)


def test_host_api_compatibility() -> None:
    major, minor = (int(v) for v in HOST_API_VERSION.split("."))
    assert api_incompatibility(f"{major}.0") is None
    assert api_incompatibility(HOST_API_VERSION) is None
    assert "written for host API" in (api_incompatibility(f"{major}.{minor + 1}") or "")
    assert api_incompatibility(f"{major + 1}.0") is not None


def test_checked_in_json_schema_is_current() -> None:
    checked_in = json.loads((resources_dir() / "plugin-manifest.schema.json").read_text())
    assert checked_in == manifest_json_schema(), (
        "regenerate with: python -c 'from workstation.inference.manifest import "
        "write_manifest_schema; write_manifest_schema()'"
    )
    assert checked_in["additionalProperties"] is False
    assert checked_in["$defs"]["ModuleSpec"]["additionalProperties"] is False
