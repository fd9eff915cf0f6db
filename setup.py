"""Packages of the distribution (the metadata is in pyproject.toml): `unipixel` and its subpackages, plus the
repository's Hydra config tree `configs/` shipped inside the package as `unipixel/configs` (YAML and DeepSpeed JSON),
so that a non-editable install runs `unipixel-train experiment=...` from any folder."""

from setuptools import find_namespace_packages, find_packages, setup

CONFIG_PACKAGES = ["unipixel.configs", *(f"unipixel.configs.{p}" for p in find_namespace_packages(where="configs"))]

setup(
    packages=[*find_packages(include=["unipixel", "unipixel.*"]), *CONFIG_PACKAGES],
    package_dir={"unipixel.configs": "configs"},
    package_data={
        "unipixel.model.released": ["*.json.gz"],
        **{name: ["*.yaml", "*.json"] for name in CONFIG_PACKAGES},
    },
)
