"""Typed configuration: dataclass schema + ``load_config`` (base YAML chain, file, dotlist overrides)."""

from wsol.config.load import ConfigError, check_config, config_from_dict, load_config, to_plain
from wsol.config.schema import Config

__all__ = ["Config", "ConfigError", "check_config", "config_from_dict", "load_config", "to_plain"]
