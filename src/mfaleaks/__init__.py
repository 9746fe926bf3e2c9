"""mfaleaks: find leaked MFA recovery material."""

__version__ = "0.1.0"
