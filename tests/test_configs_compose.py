"""Every YAML under `configs/` composes: the tree is walked, and each file is composed into the root config that uses
its group (or, for dataset YAMLs, checked against the loader class it names) — a new file is covered automatically,
a new group directory must be added here.

Roots: `train.yaml` takes `model/`, `train/`, `hardware/`, `experiment/` as `group=option`, `stage/` and `data/` as
appended packages (`+stage@stages.probe=...`, `+data@probe=...`); `eval.yaml` takes `benchmark/`. Dataset YAMLs
(`data/datasets/`) are plain files that `unipixel.data.mixture.build_dataset` instantiates; they are checked without
reading any data: the `_target_` class exists and every key is an argument of its constructor chain.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import OmegaConf

import unipixel.model  # noqa: F401  (imports sam2 first: its Hydra state must not leak into ours)
from tests.conftest import REPO

CONFIGS = REPO / "configs"
TRAIN_GROUPS = ("model", "train", "hardware", "experiment")
APPENDED_GROUPS = {"stage": "stages.probe", "data": "probe"}
EVAL_GROUPS = ("benchmark",)
DATASETS = CONFIGS / "data" / "datasets"
# Arguments every dataset gets from the mixture / evaluator rather than from its YAML.
MIXTURE_ARGS = {"processor"}


def yaml_files(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def compose_root(root: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name=root, overrides=overrides)


def resolved(cfg) -> dict:
    """Resolve every interpolation (a dangling `${...}` raises here)."""
    return OmegaConf.to_container(cfg, resolve=True)


def constructor_args(cls) -> tuple[set[str], set[str]]:
    """(all accepted keyword names, required names) along the `__init__` chain while each forwards `**kwargs`."""
    accepted, required = set(), set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters
        for name, param in params.items():
            if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            accepted.add(name)
            if param.default is param.empty:
                required.add(name)
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return accepted, required


def test_the_walk_knows_every_group():
    groups = {p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml")}
    groups = {g.rpartition("/")[0] for g in groups if "/" in g}
    known = set(TRAIN_GROUPS) | set(APPENDED_GROUPS) | set(EVAL_GROUPS) | {"data/datasets"}
    assert groups <= known, f"config groups not composed by this test: {sorted(groups - known)}"
    roots = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert roots == ["eval", "train"], roots


@pytest.mark.parametrize("root", ["train", "eval"])
def test_root_defaults_compose(root):
    overrides = ["model.path=tiny"] if root == "eval" else []
    resolved(compose_root(root, overrides))


@pytest.mark.parametrize("group,option", [(g, o) for g in TRAIN_GROUPS for o in yaml_files(g)])
def test_train_group_option_composes(group, option):
    cfg = compose_root("train", [f"{group}={option}"])
    plain = resolved(cfg)
    assert plain["model"]["name"] and plain["output_dir"]
    if group == "hardware":
        deepspeed = plain["hardware"].get("deepspeed")
        if deepspeed:
            json.loads((REPO / deepspeed).read_text())  # the JSON it names exists and parses
    if group == "model":
        from hydra.utils import instantiate

        kwargs = {}
        if option == "tiny":
            from unipixel.model.tiny import build_tiny_tokenizer

            kwargs["tokenizer"] = build_tiny_tokenizer()
        config = instantiate(cfg.model.config, **kwargs)  # the config object only, no weights
        assert config.model_type == "pixel_qwen2_5_vl"
        assert config.vision_config.out_hidden_size == config.text_config.hidden_size
    if group == "experiment":
        check_experiment(plain)


def check_experiment(plain: dict) -> None:
    from unipixel.data.mixture import parse_mixture
    from unipixel.train.modules import MODULE_GROUPS

    assert plain["stages"], "an experiment defines its stages"
    for name, stage in plain["stages"].items():
        unknown = [g for g in stage["tuning_modules"] if g != "lora" and g not in MODULE_GROUPS]
        assert not unknown, f"{name}: unknown tuning modules {unknown}"
        if "lora" in stage["tuning_modules"]:
            assert stage["lora"]["r"] > 0
        for key, _ in parse_mixture(stage["data"]["datasets"]):
            assert (DATASETS / f"{key}.yaml").is_file() or stage["data"].get("config_dir"), f"{name}: no dataset {key}"
        for ds in [stage.get("deepspeed"), plain["hardware"].get("deepspeed")]:
            if ds:
                json.loads((REPO / ds).read_text())


@pytest.mark.parametrize("group,option", [(g, o) for g in APPENDED_GROUPS for o in yaml_files(g)])
def test_stage_and_data_files_compose(group, option):
    from unipixel.data.mixture import parse_mixture

    package = APPENDED_GROUPS[group]
    plain = resolved(compose_root("train", [f"+{group}@{package}={option}"]))
    node = plain["stages"]["probe"] if group == "stage" else plain["probe"]
    data = node["data"] if group == "stage" else node
    mixture = [key for key, _ in parse_mixture(data["datasets"])]
    assert mixture and all((DATASETS / f"{k}.yaml").is_file() for k in mixture), mixture
    accepted, _ = constructor_args(get_class("unipixel.data.base.BaseDataset"))
    unknown = set(data.get("common") or {}) - accepted
    assert not unknown, f"{group}/{option}: mixture-wide arguments no dataset takes: {sorted(unknown)}"


@pytest.mark.parametrize("option", yaml_files("benchmark"))
def test_benchmark_composes(option):
    cfg = compose_root("eval", [f"benchmark={option}", "model.path=tiny"])
    plain = resolved(cfg)
    bench = plain["benchmark"]
    cls = get_class(bench["_target_"])
    accepted, required = constructor_args(cls)
    keys = {k for k in bench if not k.startswith("_")}
    assert keys <= accepted, f"{option}: keys {sorted(keys - accepted)} are no argument of {cls.__name__}"
    # what the evaluator needs and the YAML does not give must come from the runner (model, processor, ...)
    assert required - keys <= {"model", "processor", "predictor", "tokenizer"}, sorted(required - keys)


@pytest.mark.parametrize("key", yaml_files("data/datasets"))
def test_dataset_yaml_matches_its_loader(key):
    from unipixel.data.mixture import DEFAULT_CONFIG_DIR

    path = Path(DEFAULT_CONFIG_DIR) / f"{key}.yaml"  # where build_dataset looks the key up
    assert path == DATASETS / f"{key}.yaml"
    cfg = OmegaConf.load(path)
    assert "_target_" in cfg, f"{key}: no _target_"
    cls = get_class(cfg._target_)
    accepted, required = constructor_args(cls)
    keys = {k for k in cfg if not str(k).startswith("_")}
    assert keys <= accepted, f"{key}: keys {sorted(keys - accepted)} are no argument of {cls.__name__}"
    assert required - keys <= MIXTURE_ARGS, f"{key}: {cls.__name__} needs {sorted(required - keys)}"
    resolved(cfg)
