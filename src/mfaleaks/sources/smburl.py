"""SMB locations on the command line, and how reports name them.

smb://HOST[:PORT]/SHARE/PATH, //HOST/SHARE/PATH and \\\\HOST\\SHARE\\PATH all spell one
SmbTarget; reports name every file in the first form (`smb://host/share/dir/file`,
the port only when it is not 445), so a finding reads the same whichever
spelling was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from mfaleaks.errors import ConfigError

DEFAULT_PORT = 445

_URL = re.compile(r"^smb://(?P<host>\[[^\]]+\]|[^/:\\]+)(?::(?P<port>\d+))?(?P<rest>[/\\].*)?$",
                  re.IGNORECASE)
_UNC = re.compile(r"^(?://|\\\\)(?P<host>\[[^\]]+\]|[^/:\\]+)(?::(?P<port>\d+))?"
                  r"(?P<rest>[/\\].*)?$")


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


def is_smb(text: str) -> bool:
    """Whether a command-line path means an SMB location (not a local file)."""
    return text[:6].lower() == "smb://" or text.startswith(("//", "\\\\"))


def parse_target(text: str) -> SmbTarget:
    """One command-line location -> SmbTarget; BadTarget with one line saying why."""
    m = _URL.match(text)
    if m is not None:
        port_text = m.group("port")
        port = int(port_text) if port_text else DEFAULT_PORT
        parts = [unquote(p) for p in re.split(r"[/\\]+", m.group("rest") or "") if p]
    else:
        m = _UNC.match(text)
        if m is None:
            raise BadTarget(f"{text}: not an SMB location (smb://HOST/SHARE/PATH)")
        port = int(m.group("port")) if m.group("port") else DEFAULT_PORT
        parts = [p for p in re.split(r"[/\\]+", m.group("rest") or "") if p]
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
