"""The SMB2 messages that read a small file or list a folder, packed and parsed with struct.

smbprotocol builds every message from a tree of Structure objects: on this
machine that cost ~3 ms of CPU per file read (create, query info, read, close
and their responses), most of the SMB scan's time. Here the request bodies are
plain bytes ([MS-SMB2] 2.2.13, 2.2.33, 2.2.37, 2.2.19, 2.2.15) and only the
response fields the scan uses are read; channel.py adds the headers, signs or
encrypts them and reads the answers. Used only where symbolic links are not
followed (smbprotocol rebuilds a redirected request from its Structure form).
"""

from __future__ import annotations

import struct
from typing import Any

RELATED_FILE_ID = b"\xff" * 16  # "the file opened by the request before" in a compound
HEADER = 64
_CREATE = struct.Struct("<HBBIQQIIIIIHHII")  # 56 bytes, then the name
_QUERY_INFO = struct.Struct("<HBBIHHIII16s")  # 40 bytes
_READ = struct.Struct("<HBBIQ16sIIIHHB")  # 49 bytes
_CLOSE = struct.Struct("<HHI16s")  # 24 bytes

CREATE, CLOSE, READ, QUERY_DIRECTORY, QUERY_INFO = 0x05, 0x06, 0x08, 0x0E, 0x10
FILE_OPEN = 1
FILE_DIRECTORY_FILE, FILE_NON_DIRECTORY_FILE = 0x1, 0x40
FILE_ID_FULL_DIRECTORY_INFORMATION = 0x26
RESTART_SCANS = 0x01
_QUERY_DIRECTORY = struct.Struct("<HBBI16sHHI")  # 32 bytes, then the pattern
IMPERSONATION = 2
INFO_FILE, FILE_INTERNAL_INFORMATION = 1, 6


class Raw:
    """A request body already packed, with its command and the length that sets its credit
    charge (a READ's or QUERY_DIRECTORY's answer size; 0 for the others)."""

    __slots__ = ("COMMAND", "body", "length")

    def __init__(self, command: int, body: bytes, length: int = 0) -> None:
        self.COMMAND = command
        self.body = body
        self.length = length

    def pack(self) -> bytes:
        return self.body

    def __len__(self) -> int:
        return len(self.body)


# The "QFid" create context ([MS-SMB2] 2.2.13.2.9): the answer carries the file's on-disk
# id, so the file id comes with the open instead of in a QUERY_INFO of its own.
_QFID = struct.pack("<IHHHHI", 0, 16, 4, 0, 0, 0) + b"QFid" + b"\x00" * 4
_CONTEXT = struct.Struct("<IHHHHI")


def create(path: str, access: int, share: int, qfid: bool = False,
           options: int = FILE_NON_DIRECTORY_FILE) -> Raw:
    name = path.encode("utf-16-le") or b"\x00\x00"
    length = 0 if not path else len(name)
    contexts_at = contexts_length = 0
    tail = b""
    if qfid:
        padding = -(HEADER + _CREATE.size + len(name)) % 8
        contexts_at = HEADER + _CREATE.size + len(name) + padding
        contexts_length = len(_QFID)
        tail = b"\x00" * padding + _QFID
    body = _CREATE.pack(57, 0, 0, IMPERSONATION, 0, 0, access, 0, share, FILE_OPEN,
                        options, HEADER + _CREATE.size, length, contexts_at,
                        contexts_length)
    return Raw(CREATE, body + name + tail)


def disk_id(data: bytes) -> int | None:
    """The on-disk file id a CREATE response's QFid context gives, if the server sent one."""
    offset, length = struct.unpack_from("<II", data, 80)
    if not length:
        return None
    at = offset - HEADER
    end = at + length
    while at >= 0 and at + _CONTEXT.size <= end <= len(data):
        following, name_at, name_length, _, data_at, data_length = _CONTEXT.unpack_from(data, at)
        if data[at + name_at : at + name_at + name_length] == b"QFid" and data_length >= 8:
            return int(struct.unpack_from("<Q", data, at + data_at)[0])
        if not following:
            break
        at += following
    return None


def query_internal() -> Raw:
    """FileInternalInformation of the file just opened: its file id (the inode on Samba)."""
    return Raw(QUERY_INFO, _QUERY_INFO.pack(41, INFO_FILE, FILE_INTERNAL_INFORMATION, 8, 0, 0,
                                            0, 0, 0, RELATED_FILE_ID))


def read(offset: int, length: int) -> Raw:
    return Raw(READ, _READ.pack(49, 0x50, 0, length, offset, RELATED_FILE_ID, 0, 0, 0, 0, 0, 0),
               length)


def query_directory(length: int, first: bool) -> Raw:
    """FileIdFullDirectoryInformation of every name ("*") in the folder just opened, as
    many as length bytes hold ([MS-SMB2] 2.2.33); the next one goes on where it ended."""
    pattern = "*".encode("utf-16-le")
    return Raw(QUERY_DIRECTORY, _QUERY_DIRECTORY.pack(
        33, FILE_ID_FULL_DIRECTORY_INFORMATION, RESTART_SCANS if first else 0, 0,
        RELATED_FILE_ID, HEADER + _QUERY_DIRECTORY.size, len(pattern), length) + pattern,
        length)


def close() -> Raw:
    return Raw(CLOSE, _CLOSE.pack(24, 0, 0, RELATED_FILE_ID))


def body(response: Any) -> bytes:
    """The body of a received response (after its 64-byte header)."""
    return bytes(response["data"].get_value())


def created(data: bytes) -> tuple[int, int]:
    """(change time as FILETIME, end of file) from a CREATE response."""
    change, _, end = struct.unpack_from("<QQQ", data, 32)
    return change, end


def internal_id(data: bytes) -> int:
    offset, length = struct.unpack_from("<HI", data, 2)
    start = offset - HEADER
    if length < 8 or start < 0 or start + 8 > len(data):
        raise ValueError("short FileInternalInformation")
    return int(struct.unpack_from("<Q", data, start)[0])


def read_data(data: bytes) -> bytes:
    offset = data[2]
    length = struct.unpack_from("<I", data, 4)[0]
    start = offset - HEADER
    return data[start : start + length] if start >= 0 else b""


_DIR_ENTRY = struct.Struct("<IIQQQQQQIIIIQ")  # FileIdFullDirectoryInformation, 80 bytes
FILETIME_EPOCH = 116444736000000000  # 1601 -> 1970, in 100 ns


def ns_of_filetime(value: int) -> int:
    return (value - FILETIME_EPOCH) * 100


def directory_entries(data: bytes) -> list[tuple[str, int, int, int, int, int]]:
    """A QUERY_DIRECTORY response of FileIdFullDirectoryInformation ([MS-FSCC] 2.4.18)
    -> (name, size, change ns, last write ns, file id, attributes) per entry."""
    offset, length = struct.unpack_from("<HI", data, 2)
    start = offset - HEADER
    buffer = data[start : start + length]
    out = []
    at = 0
    while at + _DIR_ENTRY.size <= len(buffer):
        (following, _, _, _, write, change, end, _, attributes, name_length, _, _,
         file_id) = _DIR_ENTRY.unpack_from(buffer, at)
        raw = buffer[at + _DIR_ENTRY.size : at + _DIR_ENTRY.size + name_length]
        out.append((raw.decode("utf-16-le", "surrogatepass"), end, ns_of_filetime(change),
                    ns_of_filetime(write), file_id, attributes))
        if not following:
            break
        at += following
    return out

