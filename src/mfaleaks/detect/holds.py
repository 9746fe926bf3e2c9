"""A segment body that must hold a character of each of some classes, as one expression.

A segment shape's validation often asks that a code hold a digit and a letter
(alnum-groups: `^(?=.*\\d)(?=.*[A-Za-z])`). Hyperscan has no lookahead, so the
body alone was searched, and each run it reported was validated in Python: on an
export, every row's "Full-time" (a body of two groups, no digit) cost a callback
and a check, ~15,000 per 4 MB. The expression built here matches the body's
strings that hold one character of each class, so such runs are never reported.

It is the body's product with the set of classes seen so far (at most two: four
states). A repeat of one class, X{m,n}, is written out by where its first
character of a class still missing stands; a repeated group, by its count. The
body syntax is that of shapescan's segment shapes: classes and characters of
ASCII letters, digits and hyphens, non-capturing groups, {m}, {m,n} and ?.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

MAX_SIZE = 20_000  # characters of expression; past this the body is searched alone
MAX_COUNT = 8  # the most copies of a repeated group written out

_TOKEN = re.compile(r"\[[0-9A-Za-z-]+\]|\(\?:|\)|\{(\d+)(?:,(\d+))?\}|\?|\\-|[0-9A-Za-z-]")

State = frozenset[int]  # which of the classes the string so far holds
# An item: (characters or a sequence of items, fewest, most copies).
Item = tuple["frozenset[str] | list[Item]", int, int]


class _TooBig(Exception):
    pass


def parse(body: str) -> list[Item] | None:
    """The items of a segment body, or None when it is written otherwise."""
    stack: list[list[Item]] = [[]]
    pos = 0
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if m is None:
            return None
        token, pos = m.group(), m.end()
        if token == "(?:":
            stack.append([])
        elif token == ")":
            if len(stack) == 1 or not stack[-1]:
                return None
            group = stack.pop()
            stack[-1].append((group, 1, 1))
        elif token == "?" or token.startswith("{"):
            items = stack[-1]
            if not items:
                return None
            atom, low, high = items[-1]
            if (low, high) != (1, 1):
                if token == "?":  # a lazy quantifier: the same strings
                    continue
                return None
            if token == "?":
                items[-1] = (atom, 0, 1)
            else:
                first = int(m.group(1))
                items[-1] = (atom, first, int(m.group(2)) if m.group(2) else first)
        else:
            chars = class_members(token)
            if not chars:
                return None
            stack[-1].append((chars, 1, 1))
    return stack[0] if len(stack) == 1 else None


@functools.lru_cache(maxsize=256)
def class_members(token: str) -> frozenset[str]:
    """The ASCII characters of a class or character of the body (letters, digits and
    hyphens, which `re` reads as `regex` does)."""
    cls = re.compile(token)
    return frozenset(chr(i) for i in range(128) if cls.fullmatch(chr(i)))


def holding(body: str, classes: Sequence[Sequence[str]]) -> str | None:
    """An expression for the strings of `body` holding a character of each of
    `classes` (one or two lists of characters), or None when it cannot be written
    (another syntax, too large) or no string does."""
    return _holding(body, tuple(frozenset(c) for c in classes))


@functools.lru_cache(maxsize=64)  # an engine asks once per shape; engines are rebuilt
def _holding(body: str, classes: tuple[frozenset[str], ...]) -> str | None:
    items = parse(body)
    if items is None or not 1 <= len(classes) <= 2:
        return None
    product = _Product(list(classes))
    try:
        out = product.sequence(items, frozenset()).get(product.full)
    except _TooBig:
        return None
    return out if out is not None and len(out) <= MAX_SIZE else None


class _Product:
    def __init__(self, classes: list[frozenset[str]]) -> None:
        self.classes = classes
        self.full: State = frozenset(range(len(classes)))
        self._flags: dict[str, State] = {}
        # A body repeats its groups and classes: each piece is written once per state.
        self._repeats: dict[tuple[frozenset[str], int, int, State], dict[State, str]] = {}
        self._groups: dict[tuple[int, State], dict[State, str]] = {}

    def flags(self, c: str) -> State:
        """The classes character c is in (asked often while building: remembered)."""
        known = self._flags.get(c)
        if known is None:
            known = self._flags[c] = frozenset(
                i for i, cls in enumerate(self.classes) if c in cls)
        return known

    def sequence(self, items: list[Item], state: State) -> dict[State, str]:
        """Per state reached: an expression for the strings of `items` from `state`."""
        current = {state: ""}
        for atom, low, high in items:
            if isinstance(atom, frozenset):
                step = {u: self.repeat(atom, low, high, u) for u in current}
                current = _join(current, step)
            else:
                if high > MAX_COUNT:
                    raise _TooBig
                # Every count from low to high: copies appended one at a time.
                reached: dict[State, list[str]] = {}
                copies = current
                for count in range(high + 1):
                    if count >= low:
                        for u, expr in copies.items():
                            reached.setdefault(u, []).append(expr)
                    if count < high:
                        step = {u: self._group(atom, u) for u in copies}
                        copies = _join(copies, step)
                current = {u: _alternatives(exprs) for u, exprs in reached.items()}
            if sum(map(len, current.values())) > MAX_SIZE:
                raise _TooBig
        return current

    def _group(self, items: list[Item], state: State) -> dict[State, str]:
        key = (id(items), state)  # the body's own lists, alive while it is built
        known = self._groups.get(key)
        if known is None:
            known = self._groups[key] = self.sequence(items, state)
        return known

    def repeat(self, chars: frozenset[str], low: int, high: int,
               state: State) -> dict[State, str]:
        """Per state reached: an expression for low to high characters of `chars`."""
        key = (chars, low, high, state)
        known = self._repeats.get(key)
        if known is None:
            known = self._repeats[key] = self._repeat(chars, low, high, state)
        return known

    def _repeat(self, chars: frozenset[str], low: int, high: int,
                state: State) -> dict[State, str]:
        out = {}
        for added in self._subsets(chars, state):
            target = state | added
            allowed = frozenset(c for c in chars if self.flags(c) <= target)
            expr = self._run(allowed, low, high, added)
            if expr is not None:
                out[target] = expr
        return out

    def _subsets(self, chars: frozenset[str], state: State) -> list[State]:
        """The sets of classes a string of `chars` can add to `state`."""
        seen = {frozenset[int]()}
        for c in chars:
            seen |= {s | (self.flags(c) - state) for s in seen}
        return list(seen)

    def _run(self, allowed: frozenset[str], low: int, high: int,
             need: State) -> str | None:
        """low to high characters of `allowed`, holding one of each class in `need`."""
        if high < low or high < 0:
            return None
        if not need:
            if high == 0 or not allowed:
                return "" if low == 0 else None
            return _class(allowed) + _count(low, high)
        if high == 0:
            return None
        idle = frozenset(c for c in allowed if not self.flags(c) & need)
        hits: dict[State, set[str]] = {}
        for c in allowed:
            hit = self.flags(c) & need
            if hit:
                hits.setdefault(hit, set()).add(c)
        alts = []
        for before in range(high):  # characters before the first that adds a class
            if before and not idle:
                break
            head = _class(idle) + _count(before, before) if before else ""
            for hit, chars in sorted(hits.items(), key=lambda kv: sorted(kv[0])):
                rest = self._run(allowed, max(0, low - before - 1), high - before - 1,
                                 need - hit)
                if rest is not None:
                    alts.append(head + _class(frozenset(chars)) + rest)
        return _alternatives(alts) if alts else None


def _join(current: dict[State, str], step: dict[State, dict[State, str]]) -> dict[State, str]:
    """Each expression so far followed by each way the next item goes on from its state."""
    reached: dict[State, list[str]] = {}
    for u, expr in current.items():
        for t, more in step[u].items():
            reached.setdefault(t, []).append(expr + more)
    return {t: _alternatives(exprs) for t, exprs in reached.items()}


def _alternatives(exprs: list[str]) -> str:
    """One expression for any of `exprs` (each a concatenation, or grouped)."""
    unique = list(dict.fromkeys(exprs))
    some = [e for e in unique if e]
    if len(some) < len(unique):  # the empty string too
        return "(?:" + "|".join(some) + ")?" if some else ""
    return unique[0] if len(unique) == 1 else "(?:" + "|".join(unique) + ")"


@functools.lru_cache(maxsize=256)
def _class(chars: frozenset[str]) -> str:
    """A class of ASCII letters, digits and hyphens, with ranges where it can."""
    codes = sorted(map(ord, chars))
    parts = []
    first = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(_char(first) if first == prev
                     else _char(first) + ("" if prev == first + 1 else "-") + _char(prev))
        first = prev = code
    return "[" + "".join(parts) + "]"


def _char(code: int) -> str:
    return "\\-" if code == ord("-") else chr(code)


def _count(low: int, high: int) -> str:
    if (low, high) == (1, 1):
        return ""
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"
