"""The default rule engine, built once in the worker server (forkstart.PRELOAD).

Each worker parsed the rule pack and built its engine (~65 ms) after it was
forked, before its first file. The server builds the one a scan gets with
default options (bundled rules, medium confidence, codes masked) while it
loads, so the workers forked from it start with it; at the confidence the
command line asked for (forkstart.CONFIDENCE_ENV), since the engine for low
takes ~0.3 s to build (its prefilter's expressions), each worker's. A worker
asked for anything else builds its own; so does one where this module was not
preloaded (one job, no fork server).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mfaleaks.config import ScanConfig
from mfaleaks.detect.score import Engine
from mfaleaks.models import Confidence
from mfaleaks.run.forkstart import CONFIDENCE_ENV
from mfaleaks.run.spec import EngineSpec, engine_spec

_Key = tuple[tuple[tuple[str, int, int], ...], bool, Confidence]


def _key(spec: EngineSpec) -> _Key | None:
    """What the engine is built from: each rule file as stat sees it, and the options."""
    try:
        files = tuple((str(p), st.st_size, st.st_mtime_ns) for p in spec.rule_files
                      for st in [Path(p).stat()])
    except OSError:
        return None
    return files, spec.show_secrets, spec.min_confidence


def engine_for(spec: EngineSpec) -> Engine | None:
    """The engine built here, if the spec asks for that very one."""
    key = _key(spec)
    return _default[1] if _default is not None and key == _default[0] else None


def _build() -> tuple[_Key, Engine] | None:
    # Any failure leaves the workers to build (and report) it. The fork server only
    # tolerates ImportError while it preloads: anything else raised here would stop it.
    with contextlib.suppress(Exception):
        # The options a scan has by default, at the confidence asked for, if valid.
        confidence = Confidence.MEDIUM
        with contextlib.suppress(ValueError):
            confidence = Confidence(os.environ.get(CONFIDENCE_ENV, confidence.value))
        spec = engine_spec(ScanConfig(paths=(), min_confidence=confidence))
        key = _key(spec)
        if key is not None:
            return key, spec.build()
    return None


_default = _build()
