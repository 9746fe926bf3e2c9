"""Imported first by a scan that logs on to SMB servers without Kerberos: pyspnego then
leaves its Kerberos support out.

pyspnego imports gssapi and krb5 whenever they are installed (the kerberos extra), and
smbprotocol imports pyspnego: ~40-60 ms of CPU in each process that loads the SMB client
(the command and its worker server, both on the way to the first file read). Marked
absent here, pyspnego runs as it does where the extra is not installed (NTLM, through its
own code). Only the `mfaleaks` command imports this, when its arguments name a share and
not --smb-kerberos (cli/launch.py): a process that may yet log on with Kerberos never does.
"""

from __future__ import annotations

import sys

for _name in ("gssapi", "krb5"):
    if _name not in sys.modules and "spnego" not in sys.modules:
        sys.modules[_name] = None  # type: ignore[assignment]  # import -> ImportError
