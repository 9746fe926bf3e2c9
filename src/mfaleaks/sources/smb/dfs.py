r"""Which hosts a DFS link may take the scan to, and the names a server answers to.

A DFS referral names its targets \\HOST\SHARE[\PATH], and following one to another
host logs on there with the scan's account (NTLM or Kerberos): a hostile or
misconfigured server could so widen the scan, and spend its credentials, on any host it
names. A target is followed when its host is a server of the command line (the name
given there, case-insensitively; an address that name resolves to; or a name the
server answers to: the NetBIOS and DNS computer names of its NTLM challenge), reached
where the command line reaches it (host and port), or a host --smb-dfs-host allows.
"""

from __future__ import annotations

import functools
import socket
import struct
from dataclasses import dataclass

from mfaleaks.sources.smb.url import DEFAULT_PORT, BadTarget

ANY = "*"  # --smb-dfs-host '*': any host
OPTION = "--smb-dfs-host"
_CHALLENGE = b"NTLMSSP\x00\x02\x00\x00\x00"
_NB_COMPUTER, _DNS_COMPUTER = 1, 3  # MsvAvNbComputerName, MsvAvDnsComputerName ([MS-NLMP])


@dataclass(frozen=True)
class AllowedHost:
    """One --smb-dfs-host: a host name or address (ANY: every host), and the port its
    SMB is reached at (445 unless given: a tunnel, a test server)."""

    host: str
    port: int = DEFAULT_PORT

    def allows(self, host: str) -> bool:
        return self.host == ANY or same_name(self.host, host)


def parse_allowed(text: str) -> AllowedHost:
    """HOST, HOST:PORT, [IPv6]:PORT or '*' -> AllowedHost; BadTarget saying why not."""
    text = text.strip()
    if text == ANY:
        return AllowedHost(ANY)
    digits = ""
    if text.startswith("["):  # [v6] or [v6]:PORT
        end = text.find("]")
        host, rest = text[1:end] if end > 0 else "", text[end + 1:] if end > 0 else ""
        if rest and not rest.startswith(":"):
            host = ""
        digits = rest[1:] if rest else ""
    elif text.count(":") == 1:  # HOST:PORT (a bare IPv6 address has more colons)
        host, digits = text.split(":")
    else:
        host = text
    port = DEFAULT_PORT
    if digits or text.endswith(":"):
        if not digits.isdigit() or not 0 < int(digits) < 65536:
            raise BadTarget(f"{OPTION} {text}: not a port: {digits!r}")
        port = int(digits)
    if not host or any(c in host for c in "/\\ []"):
        raise BadTarget(f"{OPTION} {text}: not a host name or address")
    return AllowedHost(bare(host).lower(), port)


def bare(host: str) -> str:
    """A host as a socket wants it: an IPv6 literal without its brackets."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def url_host(host: str) -> str:
    """A host as a URL names it: an IPv6 literal in brackets."""
    host = bare(host).lower()
    return f"[{host}]" if ":" in host else host


def same_name(a: str, b: str) -> bool:
    return bare(a).lower() == bare(b).lower()


@functools.lru_cache(maxsize=256)
def addresses(host: str) -> frozenset[str]:
    """The addresses a host name resolves to (none when it does not resolve)."""
    try:
        found = socket.getaddrinfo(bare(host), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return frozenset()
    return frozenset(str(info[4][0]) for info in found)


def same_address(a: str, b: str) -> bool:
    """Do two host names resolve to a common address?"""
    mine = addresses(bare(a).lower())
    return bool(mine) and bool(mine & addresses(bare(b).lower()))


def challenge_names(answer: bytes) -> frozenset[str]:
    """The computer names (NetBIOS and DNS, lowercased) of the NTLM CHALLENGE in a
    SESSION_SETUP answer; none when it holds none (Kerberos) or is cut short."""
    at = answer.find(_CHALLENGE)
    if at < 0:
        return frozenset()
    message = answer[at:]
    try:
        length, _, offset = struct.unpack_from("<HHI", message, 40)  # TargetInfoFields
    except struct.error:
        return frozenset()
    info = message[offset:offset + length]
    names: set[str] = set()
    i = 0
    while i + 4 <= len(info):
        av_id, av_len = struct.unpack_from("<HH", info, i)
        if av_id == 0:  # MsvAvEOL
            break
        if av_id in (_NB_COMPUTER, _DNS_COMPUTER):
            names.add(info[i + 4:i + 4 + av_len].decode("utf-16-le", "replace").lower())
        i += 4 + av_len
    return frozenset(n for n in names if n)


def refused(host: str) -> str:
    """Why a link's target host was not followed, naming the option that allows it."""
    return (f"{host} is not a server named on the command line ({OPTION} {url_host(host)} "
            "allows it)")
