"""The wheel ships every subpackage, the built-in specs and the templates (CI also installs it
non-editable and runs it from another folder)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["setuptools"]


def test_every_subpackage_is_listed():
    listed = set(_setuptools()["packages"])
    found = {
        ".".join(path.relative_to(ROOT).parts)
        for path in (ROOT / "derive").rglob("*")
        if path.is_dir() and path.name != "__pycache__" and any(path.glob("*.py"))
    } | {"derive"}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_templates_and_specs_are_package_data():
    config = _setuptools()
    assert config["package-dir"]["derive.templates"] == "templates"
    templates = {p.suffix for p in (ROOT / "templates").iterdir() if p.is_file() and p.name != "__init__.py"}
    assert templates == {".j2"} and "*.j2" in config["package-data"]["derive.templates"]
    assert "*.toml" in config["package-data"]["derive.models"]
    assert any((ROOT / "derive" / "models").glob("*.toml"))
