"""A file's security descriptor -> its owner and whether everyone in the domain may read it.

A file on a share is "exposed to everyone in the domain" when its DACL lets one of
the broad groups read it: Everyone, Authenticated Users, Domain Users (any
domain's RID 513) or BUILTIN\\Users. ACEs are weighed in order, as Windows does:
the first one that speaks about reading, for that group, decides. A missing
DACL grants everything to everyone. Share permissions (set on the share, not on
its files) are not read: they can only narrow what the DACL allows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVERYONE = "S-1-1-0"
AUTHENTICATED_USERS = "S-1-5-11"
BUILTIN_USERS = "S-1-5-32-545"
_BROAD = {EVERYONE: "Everyone", AUTHENTICATED_USERS: "Authenticated Users",
          BUILTIN_USERS: "BUILTIN\\Users"}

_SE_DACL_PRESENT = 0x0004
_INHERIT_ONLY = 0x08
_ALLOWED, _DENIED = 0, 1
# Any of these in an ACE's mask is a right to read the file's content.
_READ_BITS = 0x00000001 | 0x80000000 | 0x10000000  # FILE_READ_DATA | GENERIC_READ | GENERIC_ALL


class BadDescriptor(ValueError):
    """A security descriptor too short or inconsistent to read."""


@dataclass(frozen=True)
class Access:
    owner: str | None  # the owner's SID, e.g. S-1-5-21-...-1104
    readers: tuple[str, ...]  # the broad groups that may read, by name ("Everyone")
    dacl: bool = True  # False: no DACL at all, so nothing is refused to anyone

    @property
    def exposed(self) -> bool:
        return bool(self.readers)

    @property
    def note(self) -> str:
        """The exposure in words, for the report."""
        if not self.dacl:
            return "exposed to everyone in the domain: the file has no DACL"
        if self.readers:
            return ("exposed to everyone in the domain: readable by "
                    + ", ".join(self.readers))
        return "readable only by the accounts and groups its DACL names"


def sid_text(data: bytes, offset: int) -> tuple[str, int]:
    """A binary SID at offset -> ('S-1-5-21-...', its length in bytes)."""
    if offset + 8 > len(data):
        raise BadDescriptor("SID past the end of the descriptor")
    revision, count = data[offset], data[offset + 1]
    authority = int.from_bytes(data[offset + 2 : offset + 8], "big")
    end = offset + 8 + 4 * count
    if end > len(data):
        raise BadDescriptor("SID past the end of the descriptor")
    subs = struct.unpack_from(f"<{count}I", data, offset + 8)
    return "-".join(["S", str(revision), str(authority), *map(str, subs)]), end - offset


def _broad_name(sid: str) -> str | None:
    name = _BROAD.get(sid)
    if name is not None:
        return name
    if sid.startswith("S-1-5-21-") and sid.endswith("-513") and sid.count("-") == 7:
        return "Domain Users"
    return None


def parse(data: bytes) -> Access:
    """A self-relative SECURITY_DESCRIPTOR ([MS-DTYP] 2.4.6) -> Access."""
    if len(data) < 20:
        raise BadDescriptor("security descriptor shorter than its header")
    _, _, control, owner_at, _, _, dacl_at = struct.unpack_from("<BBHIIII", data)
    owner = sid_text(data, owner_at)[0] if owner_at else None
    if not control & _SE_DACL_PRESENT or not dacl_at:
        return Access(owner, ("Everyone",), dacl=False)
    if dacl_at + 8 > len(data):
        raise BadDescriptor("DACL past the end of the descriptor")
    _, _, _, count, _ = struct.unpack_from("<BBHHH", data, dacl_at)
    decided: dict[str, bool] = {}  # broad group -> may read (first ACE that says wins)
    at = dacl_at + 8
    for _ in range(count):
        if at + 8 > len(data):
            raise BadDescriptor("ACE past the end of the descriptor")
        kind, flags, size = struct.unpack_from("<BBH", data, at)
        if size < 8:
            raise BadDescriptor("ACE shorter than its header")
        if kind in (_ALLOWED, _DENIED) and not flags & _INHERIT_ONLY:
            mask = struct.unpack_from("<I", data, at + 4)[0]
            name = _broad_name(sid_text(data, at + 8)[0])
            if name is not None and mask & _READ_BITS:
                # A deny to Everyone holds for every narrower group not yet decided.
                covered = _BROAD.values() if kind == _DENIED and name == "Everyone" else (name,)
                for group in (*covered, "Domain Users") if len(covered) > 1 else covered:
                    decided.setdefault(group, kind == _ALLOWED)
        at += size
    return Access(owner, tuple(name for name, allowed in decided.items() if allowed))
