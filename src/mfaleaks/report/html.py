"""The HTML report: one self-contained file a help desk can open anywhere.

No network: the style, the script and the thumbnails are inline, and a
Content-Security-Policy (default-src 'none', the script and style allowed by
their hashes) stops the page from loading anything or running injected code.
The table is rendered on the server side, so it reads without JavaScript; the
inline script adds sorting and filtering, keeps its state in the URL fragment
(#service=google&sort=age) so a view can be shared, and records its own
errors in the page.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape

from mfaleaks import __version__
from mfaleaks.models import ScanResult
from mfaleaks.report.thumbnail import thumbnail
from mfaleaks.triage.incidents import (
    SEVERITY_RANK,
    Incident,
    Location,
    Summary,
    build_incidents,
    summarise,
)

MAX_THUMBNAILS = 200  # each is ~10-20 KB; past this the file grows without helping
SHOWN_LOCATIONS = 3  # more copies fold into a <details>
SHOWN_CODES = 3


def render(result: ScanResult, *, now: datetime | None = None, thumbnails: bool = True) -> str:
    now = now or datetime.now(UTC)
    incidents = build_incidents(result.findings, now)
    thumbs = _thumbnails(incidents) if thumbnails else {}
    summary = summarise(incidents)
    body = "".join([
        _header(result, summary, now),
        _summary(summary),
        _table(incidents, thumbs),
        _errors(result),
        "<footer><p>Codes are masked; in thumbnails the areas where codes were read are "
        f"covered. mfaleaks {escape(__version__)}.</p></footer>",
    ])
    csp = (f"default-src 'none'; img-src data:; style-src '{_hash(STYLE)}'; "
           f"script-src '{_hash(SCRIPT)}'; base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>mfaleaks: {summary.total} incident(s)</title><style>{STYLE}</style></head>\n"
        f"<body>{body}<script>{SCRIPT}</script></body></html>\n"
    )


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _header(result: ScanResult, s: Summary, now: datetime) -> str:
    st = result.stats
    wide = ("world-readable", "mailed to others")
    exposed = sum(n for label, n in s.by_exposure if label in wide)
    critical = dict(s.by_severity).get("critical", 0)
    banner = ('<p class="warn">The scan is incomplete (interrupted, or worker processes kept '
              "dying): this report covers only part of the files.</p>") if result.incomplete else ""
    cards = "".join(
        f'<div class="card"><b>{n}</b><span>{_e(label)}</span></div>'
        for n, label in ((s.total, "incidents"), (s.copies, "copies"), (critical, "critical"),
                         (exposed, "readable by others"), (len(result.errors), "files not read"))
    )
    return (
        f"<header><h1>Leaked MFA recovery material: {s.total} incident(s)</h1>"
        f"<p>{st.files} file(s), {st.bytes / 1e6:.1f} MB scanned in {st.seconds:.1f} s; "
        f"report made {_e(now.strftime('%Y-%m-%d %H:%M %Z'))}. An incident is one set of codes "
        "with every copy found; fix the account, then delete every copy.</p>"
        f"{banner}<div class=\"cards\">{cards}</div></header>"
    )


def _summary(s: Summary) -> str:
    parts = []
    for title, key, rows in (("By service", "service", s.by_service),
                             ("By exposure", "exposure", s.by_exposure),
                             ("By age of the oldest copy", "age", s.by_age)):
        trs = "".join(
            f'<tr><td><a href="#{key}={_e(_frag(label))}">{_e(label)}</a></td><td>{n}</td>'
            f'<td><progress max="{s.total}" value="{n}"></progress></td></tr>'
            for label, n in rows
        ) or '<tr><td colspan="3">none</td></tr>'
        parts.append(f'<table class="sum"><caption>{title}</caption>'
                     f'<thead><tr><th>{key}</th><th>incidents</th><th></th></tr></thead>'
                     f"<tbody>{trs}</tbody></table>")
    return ('<section id="summary"><h2>Summary</h2>'
            f'<div class="sums">{"".join(parts)}</div></section>')


def _frag(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


COLUMNS = (  # heading, sort type
    ("#", "num"), ("Service", "text"), ("Severity", "num"), ("Owner", "text"),
    ("Exposure", "num"), ("Age", "num"), ("Copies", "num"), ("Codes", "num"),
    ("Locations", "text"), ("What to do", "text"),
)


def _table(incidents: list[Incident], thumbs: dict[str, tuple[str | None, str]]) -> str:
    services = sorted({i.service for i in incidents})
    exposures = list(dict.fromkeys(i.exposure.label for i in sorted(
        incidents, key=lambda i: -i.exposure)))
    ages = list(dict.fromkeys(i.age_bucket for i in sorted(
        incidents, key=lambda i: -(i.age_days if i.age_days is not None else -1))))
    head = "".join(
        f'<th data-type="{kind}" aria-sort="none"><button type="button">{_e(name)}</button></th>'
        for name, kind in COLUMNS
    )
    rows = "".join(_row(i, thumbs) for i in incidents)
    empty = "" if incidents else '<p id="none">No incidents: nothing was found.</p>'
    return (
        '<section id="list"><h2>Incidents</h2>'
        '<div class="filters" role="search">'
        '<label>Search <input id="q" type="search" placeholder="path, owner, service..."></label>'
        f"{_select('service', services)}{_select('exposure', exposures)}{_select('age', ages)}"
        '<button type="button" id="reset">Show all</button>'
        f'<span id="shown" aria-live="polite">{len(incidents)} of {len(incidents)} shown</span>'
        "</div>"
        '<p id="js-status" hidden></p><ul id="js-errors" hidden></ul>'
        f'<table id="incidents"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f"{empty}</section>"
    )


def _errors(result: ScanResult) -> str:
    notes = "".join(f'<p class="warn">{_e(n)}</p>' for n in result.notices)
    if not result.errors:
        return notes
    items = "".join(
        f"<li><code>{_e(e.path + (f' :: {e.member}' if e.member else ''))}</code> "
        f"{_e(e.reason)}</li>" for e in result.errors)
    return (f'{notes}<section id="errors"><h2>Not scanned or partly scanned</h2><details>'
            f"<summary>{len(result.errors)} file(s) or part(s) could not be read fully"
            f"</summary><ul>{items}</ul></details></section>")


def _select(name: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
    return (f'<label>{name.capitalize()} <select id="f-{name}" data-key="{name}">'
            f'<option value="">all</option>{options}</select></label>')


def _row(inc: Incident, thumbs: dict[str, tuple[str | None, str]]) -> str:
    owner = inc.owner
    why = [_e(n) for n in owner.evidence]
    if owner.others:
        why.append(f"other candidates: {_e(', '.join(owner.others))}")
    strength = f" <small>({owner.strength})</small>" if owner.name else ""
    owner_cell = f"{_e(owner.label)}{strength}{_fold('evidence', why)}"
    exposure_cell = f"{_e(inc.exposure.label)}" + (
        f"<small>{'<br>'.join(_e(n) for n in inc.exposure_notes)}</small>"
        if inc.exposure_notes else "")
    if inc.age_days is not None and inc.since is not None:
        age_cell = f"{inc.age_days} days<small>since {inc.since.date().isoformat()}</small>"
    else:
        age_cell = "unknown"
    codes = ", ".join(_e(c) for c in inc.redacted[:SHOWN_CODES])
    more = f", +{len(inc.redacted) - SHOWN_CODES}" if len(inc.redacted) > SHOWN_CODES else ""
    items = [_location(loc, thumbs) for loc in inc.locations]
    locations = "<ul>" + "".join(items[:SHOWN_LOCATIONS]) + "</ul>"
    if len(items) > SHOWN_LOCATIONS:
        locations += (f"<details><summary>{len(items) - SHOWN_LOCATIONS} more</summary><ul>"
                      + "".join(items[SHOWN_LOCATIONS:]) + "</ul></details>")
    first, rest = inc.remediation[0], inc.remediation[1:]
    link = ""
    if inc.url and inc.url.startswith(("https://", "http://")):  # never a javascript: link
        link = (f'<p><a href="{_e(inc.url)}" rel="noopener noreferrer" target="_blank">'
                f"{_e(inc.url)}</a></p>")
    todo = (f"<p>{_e(first.removesuffix(f' ({inc.url})'))}</p>{link}"
            + _fold(f"{len(rest)} more step(s)", [_e(s) for s in rest], ordered=True))
    cells = (
        (inc.rank, _e(inc.rank)),
        (inc.service, f"<b>{_e(inc.service)}</b><small>{_e(inc.title)}</small>"
                      f"<small class=\"id\">{_e(inc.id)}</small>"),
        (SEVERITY_RANK[inc.severity], f"{_e(inc.severity.value)}<small>{_e(inc.confidence.value)}"
                                      " confidence</small>"),
        (owner.label, owner_cell),
        (int(inc.exposure), exposure_cell),
        (inc.age_days if inc.age_days is not None else -1, age_cell),
        (len(inc.locations), str(len(inc.locations))),
        (inc.count, f"{inc.count}<small>{codes}{more}</small>"
                    f"{_fold('why flagged', [_e(e) for e in inc.evidence])}"),
        (inc.locations[0].path if inc.locations else "", locations),
        ("", todo),
    )
    tds = "".join(f'<td data-v="{_e(v)}">{html}</td>' for v, html in cells)
    return (f'<tr id="{_e(inc.id)}" data-service="{_e(inc.service)}" '
            f'data-exposure="{_e(inc.exposure.label)}" data-age="{_e(inc.age_bucket)}" '
            f'data-rank="{inc.rank}">{tds}</tr>')


def _fold(title: str, items: list[str], *, ordered: bool = False) -> str:
    if not items:
        return ""
    tag = "ol" if ordered else "ul"
    lis = "".join(f"<li>{i}</li>" for i in items)
    return f"<details><summary>{_e(title)}</summary><{tag}>{lis}</{tag}></details>"


def _location(loc: Location, thumbs: dict[str, tuple[str | None, str]]) -> str:
    facts = [loc.exposure.label]
    if loc.when is not None:
        facts.append(f"{loc.when_note} {loc.when.date().isoformat()}")
    if loc.source not in ("text",):
        facts.append(f"read from {loc.source}")
    picture = ""
    if loc.member is None and loc.path in thumbs:
        uri, why = thumbs[loc.path]
        picture = (f'<img class="thumb" src="{_e(uri)}" alt="screenshot with the codes covered">'
                   if uri else f"<small>(no thumbnail: {_e(why)})</small>")
    return (f"<li><code>{_e(loc.label)}</code><small>{_e('; '.join(facts))}</small>"
            f"{picture}</li>")


def _thumbnails(incidents: list[Incident]) -> dict[str, tuple[str | None, str]]:
    """One thumbnail per screenshot on disk, with every code box of every incident covered."""
    boxes: dict[str, list[tuple[int, int, int, int]]] = {}
    unplaced: set[str] = set()  # images where some codes were read without a box
    qr: set[str] = set()
    stamps: dict[str, set[tuple[str, str] | None]] = {}
    for inc in incidents:
        for loc in inc.locations:
            if loc.member is not None or loc.source not in ("ocr", "qr"):
                continue
            stamps.setdefault(loc.path, set()).add(loc.stamp)
            if loc.source == "qr":
                qr.add(loc.path)
            if loc.bbox is not None:
                boxes.setdefault(loc.path, []).append(loc.bbox)
            elif loc.source == "ocr":
                unplaced.add(loc.path)
    out: dict[str, tuple[str | None, str]] = {}
    for path, found in list(boxes.items())[:MAX_THUMBNAILS]:
        stamp = stamps[path].pop() if len(stamps[path]) == 1 else None
        if path in unplaced:
            out[path] = (None, "some codes have no known position")
        elif stamp is None:
            out[path] = (None, "the scan recorded no date and size to check the file against")
        else:
            out[path] = thumbnail(path, found, stamp=stamp, qr_expected=path in qr)
    return out


STYLE = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--line:#d1d9e0;
--head:#f6f8fa;--warn:#9a6700;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--line:#3d444d;--head:#151b23;--bad:#ff7b72}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;padding:1rem 1.5rem;max-width:110rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
small{display:block;color:var(--muted);font-size:.85em}small.id{font-family:monospace}
.cards{display:flex;gap:.8rem;flex-wrap:wrap}.card{border:1px solid var(--line);
border-radius:6px;padding:.4rem .9rem;min-width:7rem}.card b{display:block;font-size:1.4rem}
.sums{display:flex;gap:2rem;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse}caption{text-align:left;font-weight:600;padding:.2rem 0}
td,th{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;
vertical-align:top}table.sum td,table.sum th{padding:.2rem .5rem}
#incidents{width:100%}#incidents thead th{position:sticky;top:0;background:var(--head)}
th button{all:unset;cursor:pointer;font-weight:600}th button:focus-visible{outline:2px solid}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
#incidents ul,#incidents ol{margin:0;padding-left:1.1rem}
code{font-size:.9em;word-break:break-all}td small{max-width:26rem}
.filters{display:flex;gap:1rem;flex-wrap:wrap;align-items:center;margin:.5rem 0}
.warn{color:var(--warn);font-weight:600}#js-errors{color:var(--bad)}
img.thumb{display:block;max-width:240px;max-height:240px;border:1px solid var(--line);
margin:.3rem 0}
details summary{cursor:pointer;color:var(--muted)}
@media print{.filters{display:none}details>*{display:block}}
"""

SCRIPT = """
(function () {
  'use strict';
  var errs = document.getElementById('js-errors');
  function fail(msg) {
    var li = document.createElement('li');
    li.className = 'js-error';
    li.textContent = 'script error: ' + msg;
    errs.appendChild(li);
    errs.hidden = false;
  }
  window.addEventListener('error', function (e) { fail(e.message); });
  try {
    var table = document.getElementById('incidents');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var keys = heads.map(function (th) {
      return th.textContent.trim().toLowerCase().replace(/[^a-z#]+/g, '-');
    });
    var search = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var selects = Array.prototype.slice.call(document.querySelectorAll('select[data-key]'));
    var q = document.getElementById('q');
    var shown = document.getElementById('shown');
    var state = {};

    function readHash() {
      state = {};
      location.hash.replace(/^#/, '').split('&').forEach(function (part) {
        var i = part.indexOf('=');
        if (i > 0) {
          state[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1));
        }
      });
      q.value = state.q || '';
      selects.forEach(function (s) { s.value = state[s.dataset.key] || ''; });
    }
    function writeHash() {
      var parts = [];
      Object.keys(state).forEach(function (k) {
        if (state[k]) { parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(state[k])); }
      });
      var h = parts.length ? '#' + parts.join('&') : ' ';
      try { history.replaceState(null, '', h === ' ' ? location.pathname : h); }
      catch (e) { location.hash = h; }
      apply();
    }
    function cellValue(row, col, numeric) {
      var v = row.cells[col].getAttribute('data-v');
      return numeric ? parseFloat(v) : v.toLowerCase();
    }
    function apply() {
      var col = keys.indexOf(state.sort || '#');
      if (col < 0) { col = 0; }
      var numeric = heads[col].dataset.type === 'num';
      var dir = state.dir === 'desc' ? -1 : 1;
      var order = rows.map(function (r, i) { return i; });
      order.sort(function (a, b) {
        var x = cellValue(rows[a], col, numeric), y = cellValue(rows[b], col, numeric);
        if (x < y) { return -dir; }
        if (x > y) { return dir; }
        return a - b;
      });
      var needle = (state.q || '').toLowerCase();
      var count = 0;
      var frag = document.createDocumentFragment();
      order.forEach(function (i) {
        var r = rows[i];
        var ok = (!needle || search[i].indexOf(needle) >= 0) && selects.every(function (s) {
          var want = state[s.dataset.key];
          return !want || r.dataset[s.dataset.key] === want;
        });
        r.hidden = !ok;
        if (ok) { count += 1; }
        frag.appendChild(r);
      });
      body.appendChild(frag);
      heads.forEach(function (th, i) {
        th.setAttribute('aria-sort', i !== col ? 'none' : dir > 0 ? 'ascending' : 'descending');
      });
      shown.textContent = count + ' of ' + rows.length + ' shown';
    }

    heads.forEach(function (th, i) {
      th.querySelector('button').addEventListener('click', function () {
        var same = (state.sort || '#') === keys[i];
        state.dir = same && state.dir !== 'desc' ? 'desc' : 'asc';
        state.sort = keys[i];
        writeHash();
      });
    });
    q.addEventListener('input', function () { state.q = q.value; writeHash(); });
    selects.forEach(function (s) {
      s.addEventListener('change', function () { state[s.dataset.key] = s.value; writeHash(); });
    });
    document.getElementById('reset').addEventListener('click', function () {
      state = {}; q.value = ''; selects.forEach(function (s) { s.value = ''; }); writeHash();
    });
    window.addEventListener('hashchange', function () { readHash(); apply(); });
    readHash();
    apply();
    var status = document.getElementById('js-status');
    status.dataset.ok = 'yes';
    status.dataset.rows = String(rows.length);
    status.dataset.ms = String(Math.round(performance.now()));  // load to ready, for bench/
    status.textContent = 'ready';
  } catch (e) {
    fail(e && e.message ? e.message : String(e));
  }
})();
"""
