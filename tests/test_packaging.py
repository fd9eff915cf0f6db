"""What a non-editable install ships: every file of the config tree as package data (`unipixel/configs/...`, where
`unipixel.paths.config_dir` looks first), and console scripts that point at callables of the package."""

from importlib import import_module

import pytest
from setuptools import find_namespace_packages

from tests.conftest import REPO


def test_setup_ships_every_config_file():
    from distutils.core import run_setup  # setuptools' vendored distutils

    dist = run_setup(str(REPO / "setup.py"), stop_after="init")
    assert dist.package_dir == {"unipixel.configs": "configs"}
    shipped = set()
    for package in dist.packages:
        if package == "unipixel.configs" or package.startswith("unipixel.configs."):
            folder = REPO / "configs" / package.removeprefix("unipixel.configs").lstrip(".").replace(".", "/")
            for pattern in dist.package_data[package]:
                shipped |= {p.relative_to(REPO / "configs") for p in folder.glob(pattern)}
    files = {p.relative_to(REPO / "configs") for p in (REPO / "configs").rglob("*") if p.is_file()}
    files = {f for f in files if "__pycache__" not in f.parts}
    assert files - shipped == set(), "config files a wheel would leave out"
    assert {f"unipixel.configs.{p}" for p in find_namespace_packages(where=str(REPO / "configs"))} <= set(dist.packages)
    assert "unipixel.model.released" in dist.packages and "*.json.gz" in dist.package_data["unipixel.model.released"]


def test_console_scripts_point_at_callables():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml with the standard library")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"unipixel-train", "unipixel-eval", "unipixel-infer", "unipixel-convert", "unipixel-tables"} <= set(scripts)
    for name, target in scripts.items():
        module, _, attr = target.partition(":")
        assert callable(getattr(import_module(module), attr)), name
