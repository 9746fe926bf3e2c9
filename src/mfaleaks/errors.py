"""Errors that end a run with exit code 2 (usage or configuration)."""


class ConfigError(Exception):
    """A rule file, config file or option is invalid: one line naming file and field."""
