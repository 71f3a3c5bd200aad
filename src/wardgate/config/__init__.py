"""Configuration: YAML with ${ENV} interpolation, validated once at start-up into frozen objects."""

from wardgate.config.errors import ConfigError
from wardgate.config.loader import load_config, load_config_text
from wardgate.config.schema import DeploymentConfig, ServerConfig, Settings, TimeoutsConfig

__all__ = [
    "ConfigError",
    "DeploymentConfig",
    "ServerConfig",
    "Settings",
    "TimeoutsConfig",
    "load_config",
    "load_config_text",
]
