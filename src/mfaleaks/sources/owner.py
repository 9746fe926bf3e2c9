"""Whose codes are these? Clues about an account's owner, and the file facts behind them.

At scan time `file_facts` turns the walk's stat of a file with findings into
finding meta (owner, group, mode, mtime, and which folder keeps others out).
At report time `clues` reads that meta, the mail headers and the path, and
`probable_owner` weighs the clues: an address written next to the codes says
more than who happens to own the file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache

from mfaleaks.models import Source

try:
    import grp
    import pwd
except ImportError:  # Windows: no user database to ask
    grp = pwd = None  # type: ignore[assignment]

MAX_PARENTS = 64  # folders checked above a file for a permission that keeps others out

# Meta keys written by file_facts (prefixed so they never collide with mail facts).
MTIME, MODE, UID, OWNER, GID, GROUP = (
    "file_mtime", "file_mode", "file_uid", "file_owner", "file_gid", "file_group")
ABSPATH, OTHERS_BLOCKED, GROUP_BLOCKED = "file_abspath", "file_others_blocked", "file_group_blocked"
# A file on an SMB share (sources/smb/scan.py): the owner's SID, and who may read it.
OWNER_SID, EXPOSURE, EXPOSURE_NOTE = "file_owner_sid", "file_exposure", "file_exposure_note"
SIZE = "file_size"  # with MTIME: tells the report whether the file changed since the scan
ACCOUNT = "account"  # an address written next to the codes (set by the scorer)

_HOME = (
    r"(?:^|[/\\])(?:home|Users|Documents and Settings)[/\\]([^/\\]+)(?=[/\\])")
_NOT_USERS = frozenset({"shared", "public", "default", "default user", "all users", "guest"})
_AUTOMATED = (
    r"^(?:no-?reply|do-?not-?reply|donotreply|notifications?|accounts?(?:-noreply)?|security|"
    r"mailer-daemon|postmaster|info|support|alerts?|verify)\b")
_SYSTEM_UID = 1000  # below: root, daemons and service accounts, who own files but not accounts


@cache
def _pattern(text: str) -> re.Pattern[str]:
    """Compiled when first used: a rescan that places no finding never needs them."""
    return re.compile(text, re.IGNORECASE)


# ---- scan time -------------------------------------------------------------------------------


def file_facts(source: Source) -> dict[str, str]:
    """Meta for the findings of a file on disk: only stat results, never its content."""
    facts: dict[str, str] = {SIZE: str(source.size)}
    if source.mtime is not None:
        facts[MTIME] = mtime_text(source.mtime)
    if source.uid is not None:
        facts[UID] = str(source.uid)
        name = _user_name(source.uid)
        if name:
            facts[OWNER] = name
    if source.gid is not None:
        facts[GID] = str(source.gid)
        name = _group_name(source.gid)
        if name:
            facts[GROUP] = name
    if source.fs_path is None or "://" in source.fs_path:
        # An SMB file's owner and exposure come from the server (sources/smb/scan.py).
        return facts
    absolute = os.path.abspath(source.fs_path)
    if absolute != source.origin.path:
        facts[ABSPATH] = absolute
    if source.mode is not None and os.name == "posix":  # Windows mode bits mean nothing
        mode = stat.S_IMODE(source.mode)
        facts[MODE] = f"{mode:04o}"
        # A readable file in a folder others cannot enter is not exposed to them.
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            others, group = _blocking_folders(os.path.dirname(absolute))
            if others and mode & stat.S_IROTH:
                facts[OTHERS_BLOCKED] = others
            if group and mode & stat.S_IRGRP:
                facts[GROUP_BLOCKED] = group
    return facts


def mtime_text(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@lru_cache(maxsize=4096)
def _user_name(uid: int) -> str | None:
    if pwd is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def _group_name(gid: int) -> str | None:
    if grp is None:
        return None
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def _folder_mode(folder: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(folder).st_mode)
    except OSError:
        return None


def _blocking_folders(folder: str) -> tuple[str | None, str | None]:
    """The innermost folders above a file that others / the group cannot enter (no x bit)."""
    others = group = None
    for _ in range(MAX_PARENTS):
        mode = _folder_mode(folder)
        if mode is not None:
            if others is None and not mode & stat.S_IXOTH:
                others = f"{folder} ({mode:04o})"
            if group is None and not mode & stat.S_IXGRP:
                group = f"{folder} ({mode:04o})"
        parent = os.path.dirname(folder)
        if parent == folder or (others and group):
            break
        folder = parent
    return others, group


# ---- report time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clue:
    """One piece of evidence that `who` owns the account."""

    who: str  # an address or a user name, as found
    weight: float
    note: str  # the evidence in words, for the report


@dataclass(frozen=True)
class Owner:
    name: str | None
    strength: str  # "strong" | "probable" | "weak" | "unknown"
    evidence: tuple[str, ...]
    others: tuple[str, ...] = ()  # other candidates, best first

    @property
    def label(self) -> str:
        return self.name or "unknown"


def clues(meta: Mapping[str, str], path: str, member: str | None) -> list[Clue]:
    """Every owner clue one location offers."""
    out: list[Clue] = []
    account = meta.get(ACCOUNT)
    if account:
        out.append(Clue(account, 4.0, f"{account} is written next to the codes"))
    out.extend(_mail_clues(meta.get("sender", ""), meta.get("recipients", "")))
    owner, uid = meta.get(OWNER), meta.get(UID)
    if owner and uid and uid.isdigit() and int(uid) >= _SYSTEM_UID:
        out.append(Clue(owner, 1.5, f"{owner} owns the file {path} (uid {uid})"))
    sid = meta.get(OWNER_SID)
    if owner and sid and _person_sid(sid):
        user = owner.rsplit("\\", 1)[-1]
        out.append(Clue(user, 1.5, f"{owner} owns the file {path} ({sid})"))
    for where, text in ((path, meta.get(ABSPATH) or path), (f"{path} :: {member}", member)):
        home = home_user(text or "")
        if home:
            user, folder = home
            out.append(Clue(user, 2.0, f"{where} sits in {user}'s home folder {folder}"))
    return out


def _person_sid(sid: str) -> bool:
    """A domain or machine account (S-1-5-21-...-RID, RID >= 1000), not a built-in one."""
    parts = sid.split("-")
    return sid.startswith("S-1-5-21-") and parts[-1].isdigit() and int(parts[-1]) >= 1000


def home_user(path: str) -> tuple[str, str] | None:
    """(user, home folder) when a path runs through /home/<user>/, /Users/<user>/ or
    C:\\Users\\<user>\\."""
    for m in _pattern(_HOME).finditer(path):
        user = m.group(1)
        if user.lower() not in _NOT_USERS and not user.startswith("."):
            return user, path[: m.end()]
    return None


def mail_parties(sender: str, recipients: str) -> tuple[str, list[str]]:
    """The sender's address and the recipients' addresses (lower case, "(+N more)" dropped)."""
    from email.utils import getaddresses, parseaddr  # reports only: ~4 ms off every start

    _, from_addr = parseaddr(sender)
    rcpts = re.sub(r"\s*\(\+\d+ more\)\s*$", "", recipients)
    to = [addr.lower() for _, addr in getaddresses([rcpts]) if "@" in addr]
    return from_addr.lower(), list(dict.fromkeys(to))


def others_mailed(sender: str, recipients: str) -> list[str]:
    """Recipients of a mail other than its sender: people who hold a copy."""
    from_addr, to = mail_parties(sender, recipients)
    return [a for a in to if a != from_addr]


def _mail_clues(sender: str, recipients: str) -> list[Clue]:
    from_addr, to = mail_parties(sender, recipients)
    if not from_addr and not to:
        return []
    if from_addr and to == [from_addr]:
        return [Clue(from_addr, 3.0, f"{from_addr} mailed the codes to themself")]
    if from_addr and _pattern(_AUTOMATED).match(from_addr):
        # A service mailing codes out: they belong to whoever received them.
        weight = 2.5 if len(to) == 1 else 1.0
        return [Clue(a, weight, f"{a} received the codes from {from_addr}") for a in to]
    out = []
    if from_addr:
        out.append(Clue(from_addr, 2.0, f"{from_addr} sent the mail holding the codes"))
    out.extend(Clue(a, 0.5, f"{a} received the mail holding the codes") for a in to)
    return out


def _identity(who: str) -> str:
    """Clues about jdoe@example.com and the user jdoe support the same person."""
    local = who.split("@", 1)[0] if "@" in who else who
    return local.split("+", 1)[0].lower()


def probable_owner(all_clues: Iterable[Clue]) -> Owner:
    """Weigh clues per person (each distinct note counted once); the heaviest wins."""
    weights: dict[str, float] = {}
    notes: dict[str, list[str]] = {}
    names: dict[str, list[tuple[float, str]]] = {}
    for clue in all_clues:
        key = _identity(clue.who)
        if clue.note in notes.setdefault(key, []):
            continue
        notes[key].append(clue.note)
        weights[key] = weights.get(key, 0.0) + clue.weight
        names.setdefault(key, []).append((clue.weight + ("@" in clue.who), clue.who))
    if not weights:
        return Owner(None, "unknown", ())
    ranked = sorted(weights, key=lambda k: (-weights[k], k))
    best = ranked[0]
    score = weights[best]
    strength = "strong" if score >= 4.0 else "probable" if score >= 2.0 else "weak"
    return Owner(
        name=max(names[best])[1],
        strength=strength,
        evidence=tuple(notes[best]),
        others=tuple(max(names[k])[1] for k in ranked[1:5]),
    )
