"""SMB locations on the command line, and how reports name them.

smb://HOST[:PORT]/SHARE/PATH, //HOST/SHARE/PATH and \\\\HOST\\SHARE\\PATH all spell one
SmbTarget; reports name every file in the first form (`smb://host/share/dir/file`,
the port only when it is not 445), so a finding reads the same whichever
spelling was typed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfaleaks.errors import ConfigError
from mfaleaks.sources.smb.path import is_smb

if TYPE_CHECKING:
    import re

__all__ = ["BadTarget", "SmbFatal", "SmbTarget", "is_smb", "join", "parse_target", "url_of"]

DEFAULT_PORT = 445



@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Compiled on first use: the CLI imports this module on every start (for is_smb)."""
    import re

    url = re.compile(r"^smb://(?P<host>\[[^\]]+\]|[^/:\\]+)(?::(?P<port>\d+))?"
                     r"(?P<rest>[/\\].*)?$", re.IGNORECASE)
    unc = re.compile(r"^(?://|\\\\)(?P<host>\[[^\]]+\]|[^/:\\]+)(?::(?P<port>\d+))?"
                     r"(?P<rest>[/\\].*)?$")
    return url, unc, re.compile(r"[/\\]+")


class SmbFatal(ConfigError):
    """The scan of a server cannot start: unreachable, wrong password, unknown share (exit 2)."""


class BadTarget(SmbFatal):
    """A location that looks like SMB but cannot be one (no host, a bad port)."""


@dataclass(frozen=True)
class SmbTarget:
    host: str
    port: int = DEFAULT_PORT
    share: str | None = None  # None: every disk share of the server
    path: str = ""  # inside the share, backslash-separated, no leading separator

    @property
    def server(self) -> str:
        """The host as the socket wants it (an IPv6 literal without its brackets)."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    def url(self, path: str | None = None) -> str:
        """How reports name this share (or a path in it): smb://host[:port]/share/a/b."""
        return url_of(self.host, self.port, self.share or "", self.path if path is None else path)

    def unc(self) -> str:
        r"""\\host\share, what a tree connect asks for."""
        return f"\\\\{self.server}\\{self.share}"


def url_of(host: str, port: int, share: str, path: str = "") -> str:
    where = host if port == DEFAULT_PORT else f"{host}:{port}"
    out = f"smb://{where}"
    if share:
        out += "/" + share
        if path:
            out += "/" + path.replace("\\", "/")
    return out


def parse_target(text: str) -> SmbTarget:
    """One command-line location -> SmbTarget; BadTarget with one line saying why."""
    from urllib.parse import unquote

    url, unc, separators = _patterns()
    m = url.match(text)
    if m is not None:
        parts = [unquote(p) for p in separators.split(m.group("rest") or "") if p]
    else:
        m = unc.match(text)
        if m is None:
            raise BadTarget(f"{text}: not an SMB location (smb://HOST/SHARE/PATH)")
        parts = [p for p in separators.split(m.group("rest") or "") if p]
    port = int(m.group("port")) if m.group("port") else DEFAULT_PORT
    host = m.group("host")
    if not host:
        raise BadTarget(f"{text}: no server named")
    if not 0 < port < 65536:
        raise BadTarget(f"{text}: port {port} is out of range")
    if any(p in (".", "..") for p in parts):
        raise BadTarget(f"{text}: '.' and '..' are not allowed in an SMB path")
    share = parts[0] if parts else None
    return SmbTarget(host=host.lower(), port=port, share=share, path="\\".join(parts[1:]))


def join(folder: str, name: str) -> str:
    """A path inside a share: folder\\name (folder '' is the share's root)."""
    return f"{folder}\\{name}" if folder else name
