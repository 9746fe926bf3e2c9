"""The marker files of crashing_reader.py, and how a scanning process loads it."""

from __future__ import annotations

from pathlib import Path

ABORT = b"MFALEAKS-TEST-ABORT-THE-READER"
HOLD = b"MFALEAKS-TEST-HOLD-THE-READER "
HOLD_BOUND = 120.0  # seconds a held reader waits for its SIGKILL (a guard, not a timing)
# A file starting with SLOW and a folder's path: the reader leaves a mark in that folder, then
# takes SLOW_SECONDS before it reads the file, so a scan is still running when a test
# signals it however fast detection becomes.
SLOW = b"MFALEAKS-TEST-SLOW-READER "
SLOW_SECONDS = 1.0

# For hostile_cli's `prelude`: the scanning process preloads this module in its fork server.
_HERE = str(Path(__file__).parent)
PRELUDE = (
    "import os\n"
    f"sys.path.insert(0, {_HERE!r})\n"
    f"os.environ['PYTHONPATH'] = os.pathsep.join([{_HERE!r}, os.environ.get('PYTHONPATH', '')])\n"
    "from mfaleaks.run import forkstart\n"
    "forkstart.PRELOAD.append('crashing_reader')\n"
)
# With --jobs 1 the scanning process reads files itself: it loads the reader too.
PRELUDE_IN_PROCESS = PRELUDE + "import crashing_reader\n"
