"""Checks on a stored configuration (a checkpoint's ``config``, a run's ``config.yaml``) before the
networks are built from it: every field has its type and a sane range, and the sizes agree with the
size preset the config names. Each problem is a one-line :class:`UserInputError` naming the file,
the field and the value."""

from __future__ import annotations

import dataclasses
import math

from usanimator_app.core.errors import UserInputError
from usanimator_app.engine.config import CONFIG_VERSION, MODEL_SIZES, LossWeights, ModelConfig, TrainConfig

MAX_IMAGE_SIZE = 1024
MAX_WIDTH = 4096  # channels, features, keypoints, blocks


def _default(field: dataclasses.Field):
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _check_value(source: str, name: str, value, default) -> None:
    def bad(expected: str) -> UserInputError:
        text = repr(value)
        return UserInputError(f"{source}: config field {name} is {text[:40]}, expected {expected}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**63:
            raise bad("a whole number >= 0")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise bad("a finite number >= 0")
    elif isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        kinds = (str,) if default and isinstance(default[0], str) else (int, float)
        if not all(isinstance(v, kinds) and not isinstance(v, bool) for v in value):
            raise bad(f"a list of {'names' if kinds == (str,) else 'numbers'}")
        if kinds != (str,) and not all(math.isfinite(v) and v > 0 for v in value):
            raise bad("a list of positive finite numbers")
    elif isinstance(default, str) or default is None:
        if value is not None and not isinstance(value, str):
            raise bad("text")


def _check_section(source: str, section: str, kind, values) -> None:
    if not isinstance(values, dict):
        raise UserInputError(f"{source}: config section {section!r} is not a mapping")
    for field in dataclasses.fields(kind):
        if field.name in values:
            _check_value(source, f"{section}.{field.name}", values[field.name], _default(field))


def check_config_dict(data, source: str) -> None:
    """Refuse a config dict that cannot build sane networks (raises UserInputError)."""
    if not isinstance(data, dict):
        raise UserInputError(f"{source}: the configuration is not a mapping")
    if data.get("version") != CONFIG_VERSION:
        raise UserInputError(f"{source}: configuration version {data.get('version')!r} is not supported (expected {CONFIG_VERSION})")
    model = data.get("model", {})
    for section, kind in (("model", ModelConfig), ("losses", LossWeights), ("train", TrainConfig)):
        _check_section(source, section, kind, data.get(section, {}))
    for name in ("num_channels", "num_kp", "kp_block_expansion", "kp_max_features", "kp_num_blocks", "dm_block_expansion",
                 "dm_max_features", "dm_num_blocks", "gen_block_expansion", "gen_max_features", "gen_num_down_blocks",
                 "disc_block_expansion", "disc_max_features", "disc_num_blocks"):
        if name in model and not 1 <= model[name] <= MAX_WIDTH:
            raise UserInputError(f"{source}: config field model.{name} is {model[name]}, expected 1 to {MAX_WIDTH}")
    size = model.get("image_size", ModelConfig.image_size)
    if not 16 <= size <= MAX_IMAGE_SIZE:
        raise UserInputError(f"{source}: config field model.image_size is {size}, expected 16 to {MAX_IMAGE_SIZE}")
    for name in ("kp_scale_factor", "dm_scale_factor", "kp_temperature"):
        if name in model and not 0 < model[name] <= 1:
            raise UserInputError(f"{source}: config field model.{name} is {model[name]}, expected above 0, at most 1")
    size_name = data.get("train", {}).get("size")
    if size_name in MODEL_SIZES:
        preset = dataclasses.asdict(ModelConfig(**MODEL_SIZES[size_name]))
        for name, expected in preset.items():
            if name in MODEL_SIZES[size_name] and name in model and model[name] != expected:
                raise UserInputError(
                    f"{source}: the network sizes do not fit the config's size {size_name}: model.{name} is {model[name]}, "
                    f"expected {expected} (edited or damaged file)"
                )
