"""JUnit XML for CI systems that show test reports (GitLab, Jenkins, Azure).

One failing test case per finding, one skipped case per file that could not
be read, and one passing case when nothing was found, so the report is never
empty. Codes are always masked: CI servers keep these files and show them to
everyone with access to the pipeline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import regex

from mfaleaks.models import Finding, ScanError, ScanResult

# Characters XML 1.0 cannot carry (file names may hold them).
_INVALID_XML = regex.compile(r"[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def _clean(text: str) -> str:
    return str(_INVALID_XML.sub("\ufffd", text))


def render(result: ScanResult) -> str:
    failures, skipped = len(result.findings), len(result.errors)
    tests = failures + skipped + (0 if result.findings else 1)
    counts = {"tests": str(tests), "failures": str(failures), "errors": "0",
              "skipped": str(skipped), "time": f"{result.stats.seconds:.3f}"}
    root = ET.Element("testsuites", {"name": "mfaleaks", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "mfaleaks", **counts})
    props = ET.SubElement(suite, "properties")
    for name, value in (("files", result.stats.files), ("bytes", result.stats.bytes),
                        ("suppressed", len(result.suppressed)),
                        ("baseline_stale", len(result.baseline_stale)),
                        ("incomplete", str(result.incomplete).lower()), ("codes", "masked")):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    for f in result.findings:
        _finding(suite, f)
    for e in result.errors:
        _error(suite, e)
    if not result.findings:
        ET.SubElement(suite, "testcase", {"classname": "mfaleaks", "name": "no recovery material",
                                          "time": "0"})
    if result.notices:
        ET.SubElement(suite, "system-out").text = _clean("\n".join(result.notices))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _where(path: str, member: str | None) -> str:
    return f"{path} :: {member}" if member else path


def _finding(suite: ET.Element, f: Finding) -> None:
    name = _where(f.path, f.member)
    if f.line is not None:
        name += f" (line {f.line})"
    elif f.location:
        name += f" ({f.location})"
    attrs = {"classname": f.rule_id, "name": _clean(name), "file": _clean(f.path), "time": "0"}
    if f.line is not None and not f.member:
        attrs["line"] = str(f.line)
    case = ET.SubElement(suite, "testcase", attrs)
    message = f"{f.title}: {f.count} code(s), confidence {f.confidence.value}"
    body = [
        f"where: {name}",
        f"service: {f.service}  severity: {f.severity.value}  rule: {f.rule_id}",
        f"codes (masked): {', '.join(f.redacted)}",
        f"fingerprint: {f.fingerprint}",
        f"fix: {f.remediation}",
    ]
    failure = ET.SubElement(case, "failure", {"message": _clean(message), "type": f.rule_id})
    failure.text = _clean("\n".join(body))


def _error(suite: ET.Element, e: ScanError) -> None:
    case = ET.SubElement(suite, "testcase", {"classname": "mfaleaks.not-scanned",
                                             "name": _clean(_where(e.path, e.member)),
                                             "file": _clean(e.path), "time": "0"})
    ET.SubElement(case, "skipped", {"message": _clean(e.reason)})
