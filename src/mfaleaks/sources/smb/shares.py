"""What smbprotocol cannot ask a server: its list of shares (srvsvc).

A DCE/RPC call over a named pipe of IPC$; impacket speaks it, on a connection of
its own beside the scan's session (only for smb://HOST). Owners' names (lsarpc)
are asked without impacket: lsa.py.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mfaleaks.sources.smb.auth import SmbCredentials
from mfaleaks.sources.smb.url import SmbFatal, SmbTarget, url_of

STYPE_DISKTREE = 0
_TYPE_MASK = 0x0FFFFFFF  # the high bits say "special" (hidden administrative) and "temporary"
_ADMIN = frozenset({"IPC$", "ADMIN$", "PRINT$"})
_DRIVE = re.compile(r"^[A-Za-z]\$$")


@dataclass(frozen=True)
class ShareInfo:
    name: str
    disk: bool  # a folder share (not a printer, a device or IPC)
    remark: str = ""

    @property
    def administrative(self) -> bool:
        """IPC$, ADMIN$, PRINT$ and drive shares (C$): scanned only when named."""
        return self.name.upper() in _ADMIN or bool(_DRIVE.match(self.name))


def wanted(shares: Iterable[ShareInfo]) -> tuple[list[ShareInfo], list[tuple[ShareInfo, str]]]:
    """Shares an unnamed-share scan reads, and those it leaves out with why."""
    take: list[ShareInfo] = []
    left: list[tuple[ShareInfo, str]] = []
    for share in shares:
        if not share.disk:
            left.append((share, "not a disk share"))
        elif share.administrative:
            left.append((share, "administrative share, scanned only when named"))
        else:
            take.append(share)
    return take, left


class RpcClient:
    """An impacket SMB connection to one server, for share listing and SID lookups."""

    def __init__(self, target: SmbTarget, creds: SmbCredentials, timeout: float) -> None:
        from impacket.smbconnection import SessionError, SMBConnection

        from mfaleaks.sources.smb.auth import ticket_for_impacket

        where = url_of(target.host, target.port, "")
        try:
            conn = SMBConnection(target.server, target.server, sess_port=target.port,
                                 timeout=int(max(1, timeout)))
        except Exception as exc:
            raise SmbFatal(f"{where}: server unreachable ({_short(exc)})") from exc
        try:
            if creds.kerberos:
                ticket_for_impacket(target.server)
                conn.kerberosLogin(creds.user or "", "", creds.domain or "", useCache=True)
            else:
                conn.login(creds.user or "", creds.password or "", creds.domain or "")
        except SessionError as exc:
            with contextlib.suppress(Exception):
                conn.close()
            raise SmbFatal(f"{where}: logon failed for {creds.account or 'the ticket user'} "
                           f"({_short(exc)})") from exc
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.close()
            raise SmbFatal(f"{where}: logon failed ({_short(exc)})") from exc
        self._conn = conn

    def shares(self) -> list[ShareInfo]:
        """Every share the server lists (NetrShareEnum level 1)."""
        out = []
        for row in self._conn.listShares():
            name = str(row["shi1_netname"]).rstrip("\x00")
            kind = int(row["shi1_type"]) & _TYPE_MASK
            remark = str(row["shi1_remark"]).rstrip("\x00")
            out.append(ShareInfo(name, kind == STYPE_DISKTREE, remark))
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
