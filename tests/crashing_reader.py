"""A reader that crashes on marker files: test-only, never part of mfaleaks.

Importing this module wraps the text extractor (the extract/ registry looks up
`mfaleaks.extract.text.extract_text` when it first meets a text file) so that:

- a file holding ABORT is read by calling os.abort() (SIGABRT), every time: a
  native library that crashes on a crafted file;
- a file holding HOLD followed by a folder's path writes `<pid>.reading` into
  that folder and waits there to be killed (the test sends SIGKILL from
  outside, mid-batch), unless a file is in that folder already: then it is a
  second reader, and reads the file as usual;
- a file holding SLOW followed by a folder's path writes a fresh mark into that
  folder, waits SLOW_SECONDS, then reads the file as usual.

Workers are forked from the fork server, which imports its modules itself: a
test puts this module in its preload list (forkstart.PRELOAD) in the scanning
process before the server starts, with tests/ on its PYTHONPATH: the server is
a new interpreter, which does not take the sys.path of the process that starts
it (Python 3.11). See crash_markers.PRELUDE. The tests import crash_markers,
never this module: it would patch the extractor of the test process itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from crash_markers import ABORT, HOLD, HOLD_BOUND, SLOW, SLOW_SECONDS
from mfaleaks import extract
from mfaleaks.extract import text
from mfaleaks.extract.base import Context, Item
from mfaleaks.models import Source

_extract_text = text.extract_text


def _crashing_extract_text(source: Source, ctx: Context) -> Iterator[Item]:
    head = source.data if source.data is not None else b""
    if ABORT in head:
        os.abort()
    if head.startswith(HOLD):
        folder = Path(head[len(HOLD):].split(b"\n")[0].decode())
        if not any(folder.iterdir()):  # the first reader: wait to be killed
            (folder / f"{os.getpid()}.reading").write_text("")
            deadline = time.monotonic() + HOLD_BOUND
            while time.monotonic() < deadline:
                time.sleep(0.05)
    if head.startswith(SLOW):
        folder = Path(head[len(SLOW):].split(b"\n")[0].decode())
        (folder / f"{os.getpid()}.{time.monotonic_ns()}.reading").write_text("")
        time.sleep(SLOW_SECONDS)
    yield from _extract_text(source, ctx)


text.extract_text = _crashing_extract_text  # type: ignore[assignment]
extract.extractor_for.cache_clear()
