"""Where the Hydra config tree is: `unipixel/configs/` inside an installed wheel (the repository's `configs/` is
shipped as package data), the repository's `configs/` in a source checkout or an editable install."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The folder holding `train.yaml` and `eval.yaml` (and the groups model/, stage/, hardware/, deepspeed/, ...)."""
    for candidate in (PACKAGE / "configs", PACKAGE.parent / "configs"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"no config tree found: neither {PACKAGE / 'configs'} (an installed package) nor {PACKAGE.parent / 'configs'} "
        "(a source checkout) holds train.yaml; reinstall the package"
    )
