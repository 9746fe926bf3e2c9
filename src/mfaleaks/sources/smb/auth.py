"""Who the scan is on the server: --smb-user, and a password never given on the command line.

The password comes from --smb-auth-file (smbclient's format, refused unless only
its owner can read it), else from MFALEAKS_SMB_PASSWORD, else from a prompt when
standard input is a terminal. With --smb-kerberos the ticket cache speaks for
the user and no password is asked for.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping

from mfaleaks.config import SmbLogin
from mfaleaks.sources.smb.url import SmbFatal

PASSWORD_ENV = "MFALEAKS_SMB_PASSWORD"
_FILE_KEYS = {"username", "password", "domain"}


SmbCredentials = SmbLogin  # the account part of SmbLogin; options ride along unused here


def split_user(text: str) -> tuple[str | None, str]:
    """'DOMAIN\\user' or 'DOMAIN/user' -> (DOMAIN, user); 'user' and 'user@REALM' as given."""
    for sep in ("\\", "/"):
        if sep in text:
            domain, user = text.split(sep, 1)
            return domain or None, user
    return None, text


def read_auth_file(path: str) -> dict[str, str]:
    """smbclient's authentication file: `username = `, `password = `, `domain = ` lines.

    Refused when anyone but its owner may read or write it: a password file others
    can read has leaked already, and saying so is better than using it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise SmbFatal(f"--smb-auth-file {path}: cannot open: {exc.strerror}") from exc
    with os.fdopen(fd, encoding="utf-8", errors="replace") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SmbFatal(f"--smb-auth-file {path}: not a regular file")
        if mode & 0o077:
            raise SmbFatal(f"--smb-auth-file {path}: mode {stat.S_IMODE(mode):04o} lets others "
                           "read it; refused (chmod 600 it)")
        text = fh.read(64 * 1024)
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not sep or key not in _FILE_KEYS:
            raise SmbFatal(f"--smb-auth-file {path}, line {number}: expected "
                           "'username = ', 'password = ' or 'domain = '")
        out[key] = value.strip()
    return out


KERBEROS_EXTRA = ("--smb-kerberos needs pyspnego's Kerberos extra: pip install "
                  "'mfaleaks[kerberos]' (it builds on MIT Kerberos: Debian libkrb5-dev)")


def require_ticket(environ: Mapping[str, str] = os.environ) -> None:
    """Say before any connection why --smb-kerberos cannot work: without the extra pyspnego
    fails at the first session with an ImportError, and with an empty or expired cache the
    server's refusal read as a wrong password. Never falls back to NTLM."""
    try:
        import gssapi
        from gssapi.raw.misc import GSSError
    except ImportError as exc:  # not installed, or its MIT Kerberos library cannot load
        raise SmbFatal(f"{KERBEROS_EXTRA} ({exc})") from exc
    try:
        gssapi.Credentials(usage="initiate")  # the cache's default principal, TGT still valid
    except GSSError as exc:
        where = environ.get("KRB5CCNAME") or "the default ticket cache"
        reasons = exc.get_all_statuses(exc.min_code, False) if exc.min_code else []
        why = "; ".join(reasons) or str(exc)
        raise SmbFatal(f"--smb-kerberos: no usable Kerberos ticket in {where} (run kinit "
                       f"first): {why}") from exc


def credentials(
    user: str | None,
    *,
    auth_file: str | None = None,
    kerberos: bool = False,
    environ: Mapping[str, str] = os.environ,
    prompt: Callable[[str], str] | None = None,
) -> SmbCredentials:
    """The account to connect as. `prompt` asks for the password (the CLI passes getpass
    when standard input is a terminal); without one, a missing password is an error."""
    found = read_auth_file(auth_file) if auth_file else {}
    domain: str | None = found.get("domain") or None
    name = found.get("username") or None
    if name:
        file_domain, name = split_user(name)
        domain = file_domain or domain
    if user:  # the command line wins over the file
        cli_domain, name = split_user(user)
        domain = cli_domain or domain
    if kerberos:
        require_ticket(environ)
        return SmbCredentials(user=name, domain=domain, kerberos=True)
    if not name:
        raise SmbFatal("SMB needs an account: --smb-user [DOMAIN\\]USER (or username = in "
                       "--smb-auth-file, or --smb-kerberos)")
    password = found.get("password")
    if password is None:
        password = environ.get(PASSWORD_ENV)
    if password is None and prompt is not None:
        shown = f"{domain}\\{name}" if domain else name
        password = prompt(f"SMB password for {shown}: ")
    if password is None:
        raise SmbFatal(f"no SMB password: set {PASSWORD_ENV}, use --smb-auth-file, or run "
                       "from a terminal to be asked")
    return SmbCredentials(user=name, domain=domain, password=password)
