"""Typed configuration: dataclass schema + ``load_config`` (base YAML chain, file, dotlist overrides)."""

from wsol.config.load import (
    RESUME_MAY_CHANGE,
    ConfigError,
    check_config,
    config_from_dict,
    load_config,
    resume_changes,
    to_plain,
)
from wsol.config.schema import Config

__all__ = [
    "Config",
    "ConfigError",
    "RESUME_MAY_CHANGE",
    "check_config",
    "config_from_dict",
    "load_config",
    "resume_changes",
    "to_plain",
]
