"""The tesseract that reads a prepared page: in this process, or the program as fallback.

In process (tesserocr, whose wheel bundles libtesseract 5.5): one engine per
process, made on first use and kept for the scan, LSTM model only, one thread
(the wheel is built without OpenMP); it releases the GIL while it recognises.
A screenshot costs ~85 ms less than starting the program (model load and
process start per call).

Fallback, where tesserocr cannot load (no wheel for the platform, no traineddata
where it can find it): the tesseract program, the one pytesseract is configured
to run. Its page goes in on stdin and its TSV comes back on stdout, so neither
engine writes a working file: nothing holding a code can outlive the scan,
however the scan is stopped (SIGTERM, SIGKILL, a crash). The program dies with
the worker that started it (PR_SET_PDEATHSIG on Linux).

Both give rows of tesseract's TSV (the header left out), which layout.py reads.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image

LANG = "eng"
PSM = 6
# Tesseract 5 reads every line it is unsure of a second time inverted. Pages come here
# dark text on light already (ocr.dark_on_light): the second try costs ~15% and read
# no code more on the bench.
_VARIABLES = {"tessedit_do_invert": "0"}
FORCE_ENV = "MFALEAKS_OCR_ENGINE"  # "program": the fallback even where tesserocr loads
FALLBACK_NOTICE = ("OCR ran the tesseract program per picture, about 85 ms slower each, "
                   "instead of tesserocr in process ({why})")


class EngineError(Exception):
    """The engine could not read one page; the message is a one-line reason."""


class EngineTimeout(EngineError):
    pass


@dataclass(frozen=True)
class Engine:
    name: str  # "tesserocr" or "program"
    version: str  # tesseract's, as the engine reports it
    problem: str | None = None  # why the in-process engine is not used


@lru_cache(maxsize=1)
def tessdata() -> str | None:
    """The folder with eng.traineddata: TESSDATA_PREFIX, else Debian's package's."""
    candidates = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        candidates += [prefix, os.path.join(prefix, "tessdata")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata",
                   "/opt/homebrew/share/tessdata"]
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, f"{LANG}.traineddata")):
            return folder
    return None


@lru_cache(maxsize=1)
def current() -> Engine | None:
    """The engine this process uses; None when there is no tesseract at all."""
    problem = _in_process_problem()
    if problem is None:
        import tesserocr

        return Engine("tesserocr", tesserocr.tesseract_version().split()[1])
    program = program_path()
    if program is None:
        return None
    return Engine("program", _program_version(program), problem)


def _in_process_problem() -> str | None:
    if os.environ.get(FORCE_ENV) == "program":
        return f"{FORCE_ENV}=program"
    failed = getattr(_local, "failed", None)
    if failed:
        return str(failed)
    try:
        import tesserocr  # noqa: F401
    except ImportError as exc:  # no wheel here, or a libtesseract it cannot link
        return f"import failed: {exc}"
    if tessdata() is None:
        return f"no {LANG}.traineddata found (set TESSDATA_PREFIX)"
    # The model is loaded (~0.17 s) by the first page, in the worker that reads it.
    return None


def program_path() -> str | None:
    import pytesseract

    return shutil.which(str(pytesseract.pytesseract.tesseract_cmd))


@lru_cache(maxsize=1)
def _program_version(program: str) -> str:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, timeout=10,
                             check=False).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = out.split("\n", 1)[0].split()
    return first[1] if len(first) > 1 else "unknown"


def identity() -> str:
    """What reads: part of every OCR cache key, since 5.5 in process and Debian's 5.3
    program do not always read a page the same."""
    engine = current()
    return "none" if engine is None else f"{engine.name}-{engine.version}"


def notice() -> str | None:
    """Say so when the fallback runs (the scan's notices)."""
    engine = current()
    if engine is None or engine.problem is None:
        return None
    return FALLBACK_NOTICE.format(why=engine.problem)


def read_tsv(page: Image.Image, timeout: float) -> list[list[str]]:
    """TSV rows of one 8-bit grayscale page, by the engine this process uses."""
    engine = current()
    if engine is None:
        raise EngineError("tesseract not installed: image text not read")
    if engine.name == "tesserocr":
        try:
            api = _api()
        except RuntimeError as exc:  # tesserocr's message when Init fails
            # This process goes on with the program (said in the scan's notices).
            current.cache_clear()
            _local.failed = f"start failed: {exc}"
        else:
            return _read_in_process(api, page, timeout)
    return _read_by_program(page, timeout)


# --- in process ----------------------------------------------------------------------------

_local = threading.local()  # an engine is never shared between threads


def _api() -> Any:
    # An engine made before a fork (warm(), in the worker server) is this process's own
    # copy: tesseract runs no threads of its own here, and every read ends with Clear(),
    # so the copy holds the model and nothing else. The model's pages stay shared.
    api = getattr(_local, "api", None)
    if api is None:
        from tesserocr import OEM, PyTessBaseAPI

        api = PyTessBaseAPI(path=tessdata(), lang=LANG, oem=OEM.LSTM_ONLY, psm=PSM,
                            variables=_VARIABLES)
        _local.api = api
    return api


def warm() -> None:
    """Make this thread's engine now (~0.2 s: the model loads), so that processes forked
    from this one start with it instead of each loading it on its first picture."""
    engine = current()
    if engine is None or engine.name != "tesserocr":
        return
    with contextlib.suppress(RuntimeError):  # the first picture tries again, says why
        _api()


def _read_in_process(api: Any, page: Image.Image, timeout: float) -> list[list[str]]:
    if page.mode != "L":
        page = page.convert("L")
    # Raw pixels: no PNG or PNM encoding under the GIL, no copy in leptonica's reader.
    api.SetImageBytes(page.tobytes(), page.width, page.height, 1, page.width)
    try:
        ok = api.Recognize(timeout=int(timeout * 1000) if timeout > 0 else 0)
        if not ok:
            raise EngineTimeout(f"OCR timed out after {timeout:g} s")
        tsv = api.GetTSVText(0)
    finally:
        api.Clear()  # the page's pixels and results are not kept past this call
    return [row.split("\t") for row in tsv.splitlines()]


# --- the program ---------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _read_by_program(page: Image.Image, timeout: float) -> list[list[str]]:
    program = program_path()
    if program is None:
        raise EngineError("tesseract not installed: image text not read")
    # The OpenMP threads of Debian's tesseract fight the worker processes for the cores:
    # one thread per tesseract is 4x faster on 2 cores; a user's own setting is kept.
    env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    header = f"P5\n{page.width} {page.height}\n255\n".encode()
    cmd = [program, "stdin", "stdout", "-l", LANG, "--psm", str(PSM), "--oem", "1",
           "-c", "tessedit_create_tsv=1",
           *(arg for k, v in _VARIABLES.items() for arg in ("-c", f"{k}={v}"))]
    try:
        proc = subprocess.run(
            cmd, input=header + page.convert("L").tobytes(), capture_output=True, env=env,
            timeout=timeout if timeout > 0 else None, check=False,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise EngineTimeout(f"OCR timed out after {timeout:g} s") from exc
    except OSError as exc:
        raise EngineError(f"tesseract could not start ({exc.strerror or exc})") from exc
    if proc.returncode != 0:
        raise EngineError(f"tesseract failed (status {proc.returncode})")
    rows = proc.stdout.decode("utf-8", "replace").splitlines()
    return [row.split("\t") for row in rows[1:]]  # the header line


def reset() -> None:
    """Forget the engine choice (tests that switch engines)."""
    current.cache_clear()
    tessdata.cache_clear()
    for name in ("api", "failed"):
        with contextlib.suppress(AttributeError):
            delattr(_local, name)
