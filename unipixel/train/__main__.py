"""Training entry point.

    python -m unipixel.train experiment=toy                                  # all stages of the toy run, CPU
    torchrun --nproc_per_node 8 -m unipixel.train experiment=unipixel_3b run_stages=[stage1]
    python -m unipixel.train experiment=unipixel_3b --cfg job                # print the composed config

Config groups live in `configs/` (model, stage, train, hardware, data, experiment).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from unipixel.paths import config_dir

from .run import run

# the config tree inside the installed package, or the checkout's configs/ (console scripts and `python -m` alike)
CONFIG_DIR = str(config_dir())


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(cfg)


if __name__ == "__main__":
    main()
