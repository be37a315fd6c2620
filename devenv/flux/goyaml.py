"""go-yaml as kustomize-controller uses it: go-yaml v2's emitter and YAML 1.1 resolver for the
substitution round trip, and the YAML 1.2-like go-yaml v3 resolver kustomize reads manifests with.

`dump` follows go-yaml v2's encode.go (stringv) and emitterc.go for JSON-shaped data: which strings
are plain, quoted or literal, key order, compact sequences, folding past 80 columns. The loaders are
PyYAML (libyaml when present, which go-yaml is a port of) with go-yaml's resolve.go in place of
PyYAML's implicit resolvers.
"""

from __future__ import annotations

import base64
import datetime
import functools
import math
import re
import struct
from decimal import Decimal
from typing import Any, Iterator, NamedTuple

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

_TAG = "tag:yaml.org,2002:"
STR, BOOL, INT, FLOAT, NULL = _TAG + "str", _TAG + "bool", _TAG + "int", _TAG + "float", _TAG + "null"
TIMESTAMP, MERGE, BINARY = _TAG + "timestamp", _TAG + "merge", _TAG + "binary"
_PLAIN = "tag:devenv,2026:plain"  # an untagged plain scalar, resolved by go-yaml's rules at construction

_COMMON_WORDS: dict[str, tuple[str, Any]] = {
    **{w: (BOOL, True) for w in ("true", "True", "TRUE")},
    **{w: (BOOL, False) for w in ("false", "False", "FALSE")},
    **{w: (NULL, None) for w in ("", "~", "null", "Null", "NULL")},
    **{w: (FLOAT, math.nan) for w in (".nan", ".NaN", ".NAN")},
    **{w: (FLOAT, math.inf) for w in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{w: (FLOAT, -math.inf) for w in ("-.inf", "-.Inf", "-.INF")},
}
# YAML 1.1 booleans as go-yaml v2 knows them: these spellings only (`yEs` is a string).
V2_WORDS = {
    **_COMMON_WORDS,
    **{w: (BOOL, True) for w in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")},
    **{w: (BOOL, False) for w in ("n", "N", "no", "No", "NO", "off", "Off", "OFF")},
}
V3_WORDS = _COMMON_WORDS

_HINTS = {**{c: "D" for c in "0123456789"}, "+": "S", "-": "S", ".": ".", **{c: "M" for c in "yYnNtTfFoO~"}}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?(?:Z|[-+]([0-9]{2}):([0-9]{2}))"
    r"| ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?)?"
)


def resolve(value: str, words: dict[str, tuple[str, Any]] = V2_WORDS) -> tuple[str, Any]:
    """What an untagged plain scalar means to go-yaml (resolve.go): (tag, value).

    Timestamps come back as their text: decoding into interface{} keeps them strings.
    """
    hint = _HINTS.get(value[:1], "N" if not value else None)
    if hint is None:
        return STR, value
    word = words.get(value)
    if word is not None:
        return word
    if hint == "." and _DOT_FLOAT.fullmatch(value):
        number = float(value.replace("_", ""))
        if not math.isinf(number):
            return FLOAT, number
    elif hint in ("D", "S"):
        if _is_timestamp(value):
            return TIMESTAMP, value
        plain = value.replace("_", "")
        number, error = _parse_int(plain)
        if error is None:
            return INT, number
        number, error = _parse_uint(plain)
        if error is None:
            return INT, number
        if _YAML_FLOAT.fullmatch(plain):
            real = float(plain)
            if not math.isinf(real):
                return FLOAT, real
        # go-yaml v2 (the sigs.k8s.io fork) keeps integers wider than 64 bits, e.g. 0x1_0000_0000_0000_0000.
        if error == "range" and words is V2_WORDS:
            return INT, number
    return STR, value


def _parse_uint(s: str) -> tuple[int, str | None]:
    """Go's strconv.ParseUint(s, 0, 64): base prefixes 0b 0o 0x, and a leading 0 means octal."""
    if not s:
        return 0, "syntax"
    base, digits = 10, s
    if s[0] == "0":
        prefix = s[1:2].lower()
        if len(s) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], s[2:]
        else:
            base, digits = 8, s[1:]
    number = 0
    for c in digits:
        digit = int(c, 36) if c.isascii() and c.isalnum() else 99
        if digit >= base:
            return 0, "syntax"
        number = number * base + digit
    return number, ("range" if number >= 1 << 64 else None)


def _parse_int(s: str) -> tuple[int, str | None]:
    """Go's strconv.ParseInt(s, 0, 64)."""
    negative = s[:1] == "-"
    number, error = _parse_uint(s[1:] if s[:1] in ("+", "-") else s)
    if error:
        return 0, error
    if number > (1 << 63) - (0 if negative else 1):
        return 0, "range"
    return (-number if negative else number), None


def _is_timestamp(s: str) -> bool:
    """go-yaml's parseTimestamp: time.Parse with the four layouts it allows, ranges checked."""
    m = _TIMESTAMP_RE.fullmatch(s)
    if not m:
        return False
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return False
    hour, minute, second = (m[4], m[5], m[6]) if m[4] else (m[9], m[10], m[11])
    if hour is not None and (int(hour) >= 24 or int(minute) >= 60 or int(second) >= 60):
        return False
    return not (m[7] and (int(m[7]) > 24 or int(m[8]) > 60))


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def is_base60_float(s: str) -> bool:
    """YAML 1.1 sexagesimal (`1:30`): go-yaml v2 never parses it but quotes it on the way out."""
    if not s or s[0] not in "+-0123456789" or ":" not in s:
        return False
    return bool(_BASE60_FLOAT.fullmatch(s))


def format_float(x: float, *, bits: int = 64) -> str:
    """strconv.FormatFloat(x, 'g', -1, bits), with go-yaml's spellings of infinities and NaN."""
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    if bits == 32:
        x = _float32(x)
        if math.isinf(x):
            return ".inf" if x > 0 else "-.inf"
        text = next(t for p in range(9) if _float32(float(t := f"{x:.{p}e}")) == x)
    else:
        text = repr(x)
    sign, digits, exponent = Decimal(text).normalize().as_tuple()
    if x == 0:
        digits, exponent = (0,), 0
    mantissa = "".join(map(str, digits))
    point = len(mantissa) + exponent
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        return f"{minus}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{mantissa}"
    if point >= len(mantissa):
        return minus + mantissa + "0" * (point - len(mantissa))
    return f"{minus}{mantissa[:point]}.{mantissa[point:]}"


def _float32(x: float) -> float:
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


# ---- emitter -------------------------------------------------------------------------------

_BEST_WIDTH = 80
_BEST_INDENT = 2
_PLAIN_STYLE, _SINGLE, _DOUBLE, _LITERAL = "plain", "single", "double", "literal"
_BREAKS = frozenset("\r\n\x85\u2028\u2029")
_BLANKZ = frozenset(" \t\x00") | _BREAKS
_FLOW_AND_BLOCK_AT_START = frozenset("#,[]{}&*!|>'\"%@`")
_ESCAPES = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r",
            0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L", 0x2029: "P"}


def _printable(o: int) -> bool:
    # go-yaml's is_printable: note that nothing beyond the BMP counts (an emoji gets escaped).
    return o == 0x0A or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)


class _Analysis(NamedTuple):
    multiline: bool
    block_plain_allowed: bool
    single_quoted_allowed: bool
    block_allowed: bool


def _analyze(value: str) -> _Analysis:
    # Keys and short values repeat across resources; long text is rarely seen twice.
    return _analyze_cached(value) if len(value) <= 128 else _analyze_text(value)


def _analyze_text(value: str) -> _Analysis:
    """yaml_emitter_analyze_scalar, for block context."""
    if not value:
        return _Analysis(False, True, True, False)
    block_indicators = value.startswith(("---", "..."))
    line_breaks = special = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = previous_space = previous_break = False
    preceded_by_whitespace = True
    last = len(value) - 1
    for i, c in enumerate(value):
        followed_by_whitespace = i == last or value[i + 1] in (" ", "\t")
        if i == 0:
            if c in _FLOW_AND_BLOCK_AT_START or (c in ("?", ":", "-") and followed_by_whitespace):
                block_indicators = True
        elif (c == ":" and followed_by_whitespace) or (c == "#" and preceded_by_whitespace):
            block_indicators = True
        if not _printable(ord(c)):
            special = True
        if c == " ":
            leading_space = leading_space or i == 0
            trailing_space = trailing_space or i == last
            break_space = break_space or previous_break
            previous_space, previous_break = True, False
        elif c in _BREAKS:
            line_breaks = True
            leading_break = leading_break or i == 0
            trailing_break = trailing_break or i == last
            space_break = space_break or previous_space
            previous_space, previous_break = False, True
        else:
            previous_space = previous_break = False
        preceded_by_whitespace = c in _BLANKZ
    plain = not (leading_space or leading_break or trailing_space or trailing_break or break_space
                 or space_break or special or line_breaks or block_indicators)
    single = not (break_space or space_break or special)
    block = not (trailing_space or space_break or special)
    return _Analysis(line_breaks, plain, single, block)


_analyze_cached = functools.lru_cache(maxsize=8192)(_analyze_text)


def _string_style(s: str) -> str:
    # Keys and short values repeat across resources; long text is rarely seen twice.
    return _string_style_cached(s) if len(s) <= 128 else _string_style_text(s)


def _string_style_text(s: str) -> str:
    """encode.go stringv: literal for multi-line text, plain unless it would read back as non-string."""
    if "\n" in s:
        return _LITERAL
    if resolve(s)[0] == STR and not is_base60_float(s):
        return _PLAIN_STYLE
    return _DOUBLE


_string_style_cached = functools.lru_cache(maxsize=8192)(_string_style_text)


def _scalar(value: Any) -> tuple[str, str]:
    if value is None:
        return "null", _PLAIN_STYLE
    if isinstance(value, bool):
        return ("true" if value else "false"), _PLAIN_STYLE
    if isinstance(value, int):
        return str(value), _PLAIN_STYLE
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"json: unsupported value: {format_float(value)}")
        # The controller's resource passes through JSON, where 8.0 is just 8.
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value)), _PLAIN_STYLE
        return format_float(value), _PLAIN_STYLE
    if isinstance(value, str):
        return value, _string_style(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        text = value.isoformat()
        return text, _string_style(text)
    raise TypeError(f"cannot represent {type(value).__name__} in a Kubernetes resource")


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return _scalar(key)[0]


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2's sorter.go: letters before other runes, digit runs compared as numbers."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        a_letter, b_letter = a[i].isalpha(), b[i].isalpha()
        if a_letter and b_letter:
            return a[i] < b[i]
        if a_letter or b_letter:
            return b_letter
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + ord(a[ai]) - 48
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + ord(b[bi]) - 48
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


_KEY_ORDER = functools.cmp_to_key(lambda a, b: -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0))


@functools.lru_cache(maxsize=4096)
def _sorted_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of a mapping in go-yaml v2's order (resources share most of their key sets)."""
    return tuple(sorted(keys, key=_KEY_ORDER))


@functools.lru_cache(maxsize=8192)
def _plain_simple_key(key: str) -> bool:
    """Whether `key` is written as a plain simple key: `key:` exactly, nothing to quote or fold."""
    if not key or len(key.encode("utf-8", "surrogateescape")) > 128:
        return False
    analysis = _analyze(key)
    return not analysis.multiline and analysis.block_plain_allowed and _string_style(key) == _PLAIN_STYLE


# Text the emitter can write in one piece: no line break (plain, single-quoted) and, double-quoted,
# nothing to escape (printable ASCII but `"` and `\`).
_HAS_BREAK = re.compile("[\r\n\x85\u2028\u2029]")
_DOUBLE_ESCAPED = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
_BREAK_SPLIT = re.compile("([\r\n\x85\u2028\u2029])")


class _Emitter:
    """The parts of go-yaml v2's emitter state machine that a JSON-shaped document exercises."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.indent = -1
        self.indents: list[int] = []

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.parts.append("\n")
        self.column = 0

    def write_break(self, c: str) -> None:
        if c == "\n":
            self.put_break()
        else:
            self.parts.append(c)
            self.column = 0

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = self.indention = True

    def write_indicator(self, indicator: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(indicator)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = _BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += _BEST_INDENT

    def node(self, value: Any, *, mapping: bool) -> None:
        if isinstance(value, dict):
            if value:
                self.block_mapping(value)
            else:
                self.write_indicator("{", True, True, False)
                self.write_indicator("}", False, False, False)
        elif isinstance(value, (list, tuple)):
            if value:
                self.block_sequence(value, indentless=mapping and not self.indention)
            else:
                self.write_indicator("[", True, True, False)
                self.write_indicator("]", False, False, False)
        else:
            self.scalar(*_scalar(value), simple_key=False)

    def block_mapping(self, mapping: dict) -> None:
        self.increase_indent(False, False)
        items = {_key_text(k): v for k, v in mapping.items()}
        for key in _sorted_keys(tuple(items)):
            self.write_indent()
            if _plain_simple_key(key):  # what the general case below writes for it, in one piece
                self.parts.append(key + ":")
                self.column += len(key) + 1
                self.whitespace = self.indention = False
            elif not _analyze(key).multiline and len(key.encode("utf-8", "surrogateescape")) <= 128:
                self.scalar(key, _string_style(key), simple_key=True)
                self.write_indicator(":", False, False, False)
            else:
                self.write_indicator("?", True, False, True)
                self.scalar(key, _string_style(key), simple_key=False)
                self.write_indent()
                self.write_indicator(":", True, False, True)
            self.node(items[key], mapping=True)
        self.indent = self.indents.pop()

    def block_sequence(self, items: list | tuple, *, indentless: bool) -> None:
        self.increase_indent(False, indentless)
        for item in items:
            self.write_indent()
            self.write_indicator("-", True, False, True)
            self.node(item, mapping=False)
        self.indent = self.indents.pop()

    def scalar(self, text: str, style: str, *, simple_key: bool) -> None:
        analysis = _analyze(text)
        if simple_key and analysis.multiline:
            style = _DOUBLE
        if style == _PLAIN_STYLE and (not analysis.block_plain_allowed or (not text and simple_key)):
            style = _SINGLE
        if style == _SINGLE and not analysis.single_quoted_allowed:
            style = _DOUBLE
        if style == _LITERAL and (not analysis.block_allowed or simple_key):
            style = _DOUBLE
        self.increase_indent(True, False)
        if style == _PLAIN_STYLE:
            self.write_plain(text, not simple_key)
        elif style == _SINGLE:
            self.write_single_quoted(text, not simple_key)
        elif style == _DOUBLE:
            self.write_double_quoted(text, not simple_key)
        else:
            self.write_literal(text)
        self.indent = self.indents.pop()

    def write_plain(self, text: str, allow_breaks: bool) -> None:
        if not self.whitespace:
            self.put(" ")
        # The loop below writes the text as it is unless it breaks lines or folds at a space past
        # column 80, which needs a space at a column past 80: else write it at once.
        if (not allow_breaks or self.column + len(text) <= _BEST_WIDTH + 1 or " " not in text) \
                and not _HAS_BREAK.search(text):
            self.parts.append(text)
            self.column += len(text)
            self.whitespace = self.indention = False
            return
        spaces = breaks = False
        last = len(text) - 1
        for i, c in enumerate(text):
            if c == " ":
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and (i == last or text[i + 1] != " "):
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif c in _BREAKS:
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
                self.indention = breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(c)
                self.indention = spaces = breaks = False
        self.whitespace = self.indention = False

    def write_single_quoted(self, text: str, allow_breaks: bool) -> None:
        self.write_indicator("'", True, False, False)
        quoted = text.replace("'", "''")
        if (not allow_breaks or self.column + len(quoted) <= _BEST_WIDTH + 1 or " " not in text) \
                and not _HAS_BREAK.search(text):  # as in write_plain
            self.put(quoted)
            self.write_indicator("'", False, False, False)
            self.whitespace = self.indention = False
            return
        spaces = breaks = False
        last = len(text) - 1
        for i, c in enumerate(text):
            if c == " ":
                if (allow_breaks and not spaces and self.column > _BEST_WIDTH and 0 < i < last
                        and text[i + 1] != " "):
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif c in _BREAKS:
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
                self.indention = breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put("''" if c == "'" else c)
                self.indention = spaces = breaks = False
        self.write_indicator("'", False, False, False)
        self.whitespace = self.indention = False

    def write_double_quoted(self, text: str, allow_breaks: bool) -> None:
        self.write_indicator('"', True, False, False)
        if (not allow_breaks or self.column + len(text) <= _BEST_WIDTH + 1 or " " not in text) \
                and not _DOUBLE_ESCAPED.search(text):  # as in write_plain
            self.put(text)
            self.write_indicator('"', False, False, False)
            self.whitespace = self.indention = False
            return
        spaces = False
        last = len(text) - 1
        for i, c in enumerate(text):
            o = ord(c)
            if not _printable(o) or c in _BREAKS or c == '"' or c == "\\":
                escape = _ESCAPES.get(o)
                if escape is None:
                    escape = f"x{o:02X}" if o <= 0xFF else f"u{o:04X}" if o <= 0xFFFF else f"U{o:08X}"
                self.put("\\" + escape)
                spaces = False
            elif c == " ":
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and 0 < i < last:
                    self.write_indent()
                    if text[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
        self.write_indicator('"', False, False, False)
        self.whitespace = self.indention = False

    def write_literal(self, text: str) -> None:
        self.write_indicator("|", True, False, False)
        if text[:1] == " " or text[:1] in _BREAKS:
            self.write_indicator(str(_BEST_INDENT), False, False, False)
        if not text or text[-1] not in _BREAKS:
            self.write_indicator("-", False, False, False)
        elif len(text) == 1 or text[-2] in _BREAKS:
            self.write_indicator("+", False, False, False)
        self.put_break()
        self.indention = self.whitespace = True
        breaks = True
        for piece in _BREAK_SPLIT.split(text):  # line breaks one by one, the text between at once
            if not piece:
                continue
            if piece in _BREAKS:
                self.write_break(piece)
                self.indention = breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(piece)
                self.indention = breaks = False


def dump(document: Any) -> str:
    """The YAML go-yaml v2's yaml.Marshal writes for JSON-shaped data (as JSONToYAML does).

    Raises ValueError for NaN/infinity (JSON cannot carry them) and TypeError for other types.
    """
    emitter = _Emitter()
    emitter.node(document, mapping=False)
    emitter.write_indent()
    return "".join(emitter.parts)


# ---- loaders -------------------------------------------------------------------------------

class _Resolver(BaseResolver):
    """Defers every untagged plain scalar to construction, where go-yaml's rules decide."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                return MERGE if value == "<<" else _PLAIN
            return STR
        return super().resolve(kind, value, implicit)


class _V2Constructor(SafeConstructor):
    words = V2_WORDS

    def construct_plain(self, node: ScalarNode) -> Any:
        return resolve(node.value, self.words)[1]

    def construct_tagged(self, node: ScalarNode) -> Any:
        """An explicit `!!int` etc.: resolved with go-yaml's rules, and the value must fit the tag."""
        tag, value = resolve(node.value, self.words)
        if tag == node.tag:
            return value
        if node.tag == FLOAT and tag == INT:
            return float(value)
        raise ConstructorError(None, None, f"cannot decode !!{tag[len(_TAG):]} `{node.value}` as a "
                               f"!!{node.tag[len(_TAG):]}", node.start_mark)

    def construct_binary(self, node: ScalarNode) -> str:
        try:
            return base64.b64decode(node.value.replace("\n", ""), validate=True).decode("utf-8", "surrogateescape")
        except ValueError as err:
            raise ConstructorError(None, None, f"!!binary value contains invalid base64 data: {err}",
                                   node.start_mark) from err

    def construct_untyped(self, node: Node) -> Any:
        # Unknown tags (`!foo`, `!!set`): go-yaml decodes the node as if untagged, scalars as strings.
        if isinstance(node, ScalarNode):
            return node.value
        if isinstance(node, SequenceNode):
            return self.construct_yaml_seq(node)
        return self.construct_yaml_map(node)


for _tag in (STR, MERGE):
    _V2Constructor.add_constructor(_tag, SafeConstructor.construct_yaml_str)
for _tag in (INT, FLOAT, BOOL, NULL, TIMESTAMP):
    _V2Constructor.add_constructor(_tag, _V2Constructor.construct_tagged)
for _tag in ("set", "omap", "pairs"):
    _V2Constructor.add_constructor(_TAG + _tag, _V2Constructor.construct_untyped)
_V2Constructor.add_constructor(_PLAIN, _V2Constructor.construct_plain)
_V2Constructor.add_constructor(BINARY, _V2Constructor.construct_binary)
_V2Constructor.add_constructor(None, _V2Constructor.construct_untyped)


class _V3Constructor(_V2Constructor):
    words = V3_WORDS


try:
    from yaml.cyaml import CParser as _Parser  # libyaml, of which go-yaml is a port
except ImportError:
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class _V2Loader(_Parser, _V2Constructor, _Resolver):
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _V2Constructor.__init__(self)
        _Resolver.__init__(self)


class _V3Loader(_Parser, _V3Constructor, _Resolver):
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _V3Constructor.__init__(self)
        _Resolver.__init__(self)


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise yaml.YAMLError(f"invalid UTF-8 in the text (byte {err.start})") from err


def _documents(loader_class: type, text: str) -> Iterator[tuple[Node, Any]]:
    _check_utf8(text)
    loader = loader_class(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def load(text: str) -> Any:
    """What kustomize-controller gets back from the substituted text: go-yaml v2 decoding the first
    document (YAML 1.1 resolver), then sigs.k8s.io/yaml making it JSON (keys become strings).

    Raises yaml.YAMLError for malformed text and ValueError for what JSON cannot carry.
    """
    _check_utf8(text)
    loader = _V2Loader(text)
    try:
        if not loader.check_node():
            return None
        node = loader.get_node()
        try:
            return _plain_json(node, set())
        except (_NotPlain, RecursionError):
            return _jsonable(loader.construct_document(node))
    finally:
        loader.dispose()


class _NotPlain(Exception):
    """A node _plain_json leaves to PyYAML's constructor (and _jsonable)."""


_MAP, _SEQ = _TAG + "map", _TAG + "seq"
_V2_RESOLVED: dict[str, Any] = {}  # resolve(text, V2_WORDS)[1] of short plain scalars (values are immutable)
_UNSEEN = object()


def _plain_json(node: Node, seen: set[int]) -> Any:
    """What `_jsonable(construct_document(node))` gives, built in one pass, for the common case:
    mappings with string keys, sequences, untagged or quoted scalars, finite numbers, no aliases of
    collections and no merge keys. Raises _NotPlain for anything else (errors included)."""
    kind = type(node)
    if kind is ScalarNode:
        if node.tag == _PLAIN:
            text = node.value
            value = _V2_RESOLVED.get(text, _UNSEEN)
            if value is _UNSEEN:
                value = resolve(text, V2_WORDS)[1]
                if len(text) <= 64 and len(_V2_RESOLVED) < 16384:
                    _V2_RESOLVED[text] = value
            if type(value) is float:
                if math.isnan(value) or math.isinf(value):
                    raise _NotPlain
                return int(value) if value.is_integer() and abs(value) < 1e21 else value
            return value
        if node.tag == STR:
            return node.value
        raise _NotPlain
    if id(node) in seen:
        raise _NotPlain
    seen.add(id(node))
    if kind is MappingNode and node.tag == _MAP:
        out = {}
        for key_node, value_node in node.value:
            key = _plain_json(key_node, seen) if type(key_node) is ScalarNode else None
            if type(key) is not str:
                raise _NotPlain
            out[key] = _plain_json(value_node, seen)
        return out
    if kind is SequenceNode and node.tag == _SEQ:
        return [_plain_json(item, seen) for item in node.value]
    raise _NotPlain


def load_documents(text: str) -> list[tuple[Node, Any]]:
    """Every non-empty document of a manifest stream, read as kustomize reads it (go-yaml v3:
    only true/false are booleans, timestamps stay strings), with its node for line numbers.

    Raises yaml.YAMLError for malformed text.
    """
    return [(node, data) for node, data in _documents(_V3Loader, text)
            if not (isinstance(node, ScalarNode) and node.tag == _PLAIN and node.value == "")]


def is_null(node: ScalarNode) -> bool:
    """Whether a scalar node from load_documents reads as null (`~`, `null`, nothing at all)."""
    return node.tag == NULL or (node.tag == _PLAIN and resolve(node.value, V3_WORDS)[0] == NULL)


def error_line(err: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML error points at, if it points anywhere."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def error_text(err: yaml.YAMLError) -> str:
    """A one-line description of a YAML error, without PyYAML's position and excerpt lines."""
    if isinstance(err, yaml.MarkedYAMLError):
        parts = [err.context, err.problem]
        return "; ".join(p for p in parts if p) or "malformed YAML"
    return str(err).splitlines()[0] if str(err) else "malformed YAML"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {_json_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"json: unsupported value: {format_float(value)}")
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    return value


def _json_key(key: Any) -> str:
    """sigs.k8s.io/yaml's key conversion: ints and bools as text, floats at float32 precision."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and -(1 << 63) <= key < 1 << 63:
        return str(key)
    if isinstance(key, float):
        return format_float(key, bits=32)
    raise ValueError(f"unsupported map key {key!r}")

