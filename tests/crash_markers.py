"""The marker files of crashing_reader.py, and how a scanning process loads it."""

from __future__ import annotations

from pathlib import Path

ABORT = b"MFALEAKS-TEST-ABORT-THE-READER"
HOLD = b"MFALEAKS-TEST-HOLD-THE-READER "
HOLD_BOUND = 120.0  # seconds a held reader waits for its SIGKILL (a guard, not a timing)

# For hostile_cli's `prelude`: the scanning process preloads this module in its fork server.
_HERE = str(Path(__file__).parent)
PRELUDE = (
    "import os\n"
    f"sys.path.insert(0, {_HERE!r})\n"
    f"os.environ['PYTHONPATH'] = os.pathsep.join([{_HERE!r}, os.environ.get('PYTHONPATH', '')])\n"
    "from mfaleaks.run import forkstart\n"
    "forkstart.PRELOAD.append('crashing_reader')\n"
)
