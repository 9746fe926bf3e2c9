"""Owners' names: LsarLookupSids over an smbprotocol session's \\lsarpc pipe (rpc.py).

impacket did this before, on a connection of its own: its import (~0.3-0.4 s of
CPU: its SMB1 client, Kerberos ASN.1 schemas, Cryptodome) and a second logon
cost the main process ~0.3-0.45 s of CPU in bench_smb whenever a share had a
finding, in a thread that competed with the scan. The three calls it made need
little of DCE/RPC: a bind (no authentication: the pipe is opened over the
session, which Samba and Windows accept for LSA lookups), LsarOpenPolicy2 and
LsarLookupSids, their NDR written and read here ([MS-LSAT]; the DCE/RPC in rpc.py).

The lookups run on a session of their own (smbprotocol, already imported by the
scan; no impacket): the scan's sessions belong to the threads that list and read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from mfaleaks.sources.smb.auth import SmbCredentials
from mfaleaks.sources.smb.client import SmbOptions, SmbSession
from mfaleaks.sources.smb.rpc import NdrReader, RpcError, RpcPipe, interface
from mfaleaks.sources.smb.url import SmbTarget

_LSA = interface("12345778-1234-abcd-ef00-0123456789ab", 0)
_OPEN_POLICY2, _LOOKUP_SIDS, _CLOSE = 44, 15, 0
MAXIMUM_ALLOWED, POLICY_LOOKUP_NAMES = 0x02000000, 0x00000800
LOOKUP_WKSTA = 1  # LSAP_LOOKUP_LEVEL LsapLookupWksta
SID_TYPE_UNKNOWN = 8
# Answers that still carry names: STATUS_SUCCESS, STATUS_SOME_NOT_MAPPED
_NAMED = {0x00000000, 0x00000107}


def sid_bytes(sid: str) -> tuple[int, bytes]:
    """S-1-5-21-...: (sub-authority count, RPC_SID body after the conformance count)."""
    parts = sid.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {sid!r}")
    subs = [int(p) for p in parts[3:]]
    body = struct.pack("<BB", int(parts[1]), len(subs)) + int(parts[2]).to_bytes(6, "big")
    return len(subs), body + struct.pack(f"<{len(subs)}I", *subs)


def lookup_request(policy: bytes, sids: list[str]) -> bytes:
    """LsarLookupSids' stub: the policy handle, a SID_ENUM_BUFFER, empty TRANSLATED_NAMES,
    the lookup level and MappedCount. Pointers are referent ids (any non-zero value)."""
    out = bytearray(policy)
    out += struct.pack("<II", len(sids), 0x20000)  # Entries, SidInfo (unique pointer)
    out += struct.pack("<I", len(sids))  # the array's conformance
    out += b"".join(struct.pack("<I", 0x20004 + 4 * i) for i in range(len(sids)))
    for sid in sids:  # each element's Sid, deferred, in order
        count, body = sid_bytes(sid)
        out += struct.pack("<I", count) + body
    out += struct.pack("<II", 0, 0)  # TranslatedNames: no entries, null pointer
    out += struct.pack("<H", LOOKUP_WKSTA) + b"\0\0"  # (enum: 16 bits; then align 4)
    out += struct.pack("<I", 0)  # MappedCount
    return bytes(out)


def parse_lookup(stub: bytes, n: int) -> dict[int, str | None]:
    """LsarLookupSids' answer: index of each SID asked -> DOMAIN\\name (None: unknown)."""
    r = NdrReader(stub)
    domains: list[str] = []
    if r.u32():  # ReferencedDomains
        entries, pointer, _ = r.take("<III")
        if pointer:
            r.u32()  # conformance
            trusts = [r.take("<HHII") for _ in range(entries)]
            for _, _, buffer, sid in trusts:
                domains.append(r.wstr() if buffer else "")
                if sid:
                    r.sid()
    count, pointer = r.take("<II")
    names: list[tuple[int, str, int]] = []
    if pointer:
        r.u32()
        # Use (a 16-bit enum, padded), Name (Length, MaximumLength, Buffer), DomainIndex
        items = [r.take("<HxxHHIi") for _ in range(count)]
        for use, _, _, buffer, index in items:
            names.append((use, r.wstr() if buffer else "", index))
    out: dict[int, str | None] = {}
    for i, (use, name, index) in enumerate(names[:n]):
        if use == SID_TYPE_UNKNOWN or not name:
            out[i] = None
        elif 0 <= index < len(domains) and domains[index]:
            out[i] = f"{domains[index]}\\{name}"
        else:
            out[i] = name
    return out


class LsaClient:
    """Names of SIDs asked of one server, over a session of its own; answers kept."""

    def __init__(self, target: SmbTarget, creds: SmbCredentials, options: SmbOptions) -> None:
        self._session = SmbSession(target, creds, options)
        self._pipe: RpcPipe | None = None
        self._policy: bytes | None = None
        self._names: dict[str, str | None] = {}

    def names(self, sids: Iterable[str]) -> dict[str, str | None]:
        """DOMAIN\\name for each SID the server can name; None for the rest."""
        sids = list(sids)
        todo = [s for s in dict.fromkeys(sids) if s not in self._names]
        if todo:
            try:
                found = parse_lookup(self._ask(_LOOKUP_SIDS, lookup_request(self._open(), todo),
                                               _NAMED), len(todo))
                self._names.update({sid: found.get(i) for i, sid in enumerate(todo)})
            except Exception:  # the server may refuse lsarpc: the SID stays a SID
                self._names.update(dict.fromkeys(todo))
        return {s: self._names.get(s) for s in sids}

    def _open(self) -> bytes:
        """The pipe opened and bound, and a policy handle (once)."""
        if self._policy is not None:
            return self._policy
        self._pipe = RpcPipe(self._session, "lsarpc", _LSA)
        stub = struct.pack("<I", 0) + struct.pack("<6I", 24, 0, 0, 0, 0, 0) + \
            struct.pack("<I", MAXIMUM_ALLOWED | POLICY_LOOKUP_NAMES)
        answer = self._ask(_OPEN_POLICY2, stub, {0})
        self._policy = answer[:20]
        return self._policy

    def _ask(self, opnum: int, stub: bytes, ok: set[int]) -> bytes:
        """One call: its answer's stub (the status at its end, checked against ok)."""
        assert self._pipe is not None
        out = self._pipe.call(opnum, stub)
        if len(out) < 4:
            raise RpcError("answer cut short")
        status = struct.unpack_from("<I", out, len(out) - 4)[0]
        if status not in ok:
            raise RpcError(f"status 0x{status:08X}")
        return out

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        self._session.close()
