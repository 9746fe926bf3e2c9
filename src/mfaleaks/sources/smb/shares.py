"""What smbprotocol cannot ask a server: its list of shares (srvsvc, for smb://HOST).

NetrShareEnum ([MS-SRVS] 3.1.4.8) over the \\srvsvc pipe of the scan's session
(rpc.py), its NDR written and read here. impacket did this before, on a
connection and logon of its own, and read Kerberos tickets only from a FILE
cache (not KEYRING:, KCM: or DIR:, the defaults of SSSD and many distributions).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfaleaks.sources.smb.rpc import NdrReader, RpcError, RpcPipe, interface, wstr

if TYPE_CHECKING:
    from mfaleaks.sources.smb.client import SmbSession

_SRVSVC = interface("4b324fc8-1670-01d3-1278-5a47bf6ee188", 3)
_SHARE_ENUM = 15  # NetrShareEnum's opnum
_MORE_DATA = 234  # ERROR_MORE_DATA: ask again from the resume handle
_MAX_CALLS = 64
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


def enum_request(server: str, resume: int = 0) -> bytes:
    """NetrShareEnum's stub: ServerName, a SHARE_ENUM_STRUCT asking level 1 (an empty
    container), no size limit, the resume handle. Pointers are referent ids."""
    out = struct.pack("<I", 0x20000) + wstr(f"\\\\{server}")
    out += struct.pack("<III", 1, 1, 0x20004)  # Level, the union's switch, Level1 pointer
    out += struct.pack("<II", 0, 0)  # the container: EntriesRead 0, Buffer null
    out += struct.pack("<I", 0xFFFFFFFF)  # PreferedMaximumLength: everything
    out += struct.pack("<II", 0x20008, resume)  # ResumeHandle
    return out


def parse_enum(stub: bytes) -> tuple[list[ShareInfo], int, int]:
    """NetrShareEnum's answer: the shares, the resume handle (0: none) and the status."""
    r = NdrReader(stub)
    level, _, container = r.take("<III")
    if level != 1:
        raise RpcError(f"answer at level {level}, not 1")
    shares: list[ShareInfo] = []
    if container:
        _, buffer = r.take("<II")
        if buffer:
            count = r.u32()  # the array's conformance
            rows = [r.take("<III") for _ in range(count)]  # netname, type, remark
            for name_ptr, kind, remark_ptr in rows:
                name = r.wstr() if name_ptr else ""
                remark = r.wstr() if remark_ptr else ""
                if name:
                    shares.append(ShareInfo(name, kind & _TYPE_MASK == STYPE_DISKTREE, remark))
    r.u32()  # TotalEntries
    resume = r.u32() if r.u32() else 0
    return shares, resume, r.u32()


def list_shares(session: SmbSession) -> list[ShareInfo]:
    """Every share the server lists (srvsvc NetrShareEnum, level 1), on the scan's own
    session: no second logon, and Kerberos from whatever ticket cache GSSAPI reads."""
    pipe = RpcPipe(session, "srvsvc", _SRVSVC)
    try:
        shares: list[ShareInfo] = []
        resume = 0
        for _ in range(_MAX_CALLS):
            found, resume, status = parse_enum(pipe.call(_SHARE_ENUM, enum_request(
                session.target.server, resume)))
            shares += found
            if status == 0:
                return shares
            if status != _MORE_DATA or not resume:
                raise RpcError(f"status {status}")
        raise RpcError(f"more than {_MAX_CALLS} answers")
    finally:
        pipe.close()
