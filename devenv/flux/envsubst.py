"""Flux's envsubst (fluxcd/pkg/envsubst, a fork of drone/envsubst): parsing and evaluating `${...}`.

The scanner and parser follow the Go code step by step, quirks included, because on odd
input Flux's behaviour *is* those quirks. Lengths, offsets and trims count UTF-8 bytes, as Go does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Union


class EnvsubstError(ValueError):
    """The text could not be substituted."""


class ParseError(EnvsubstError):
    """A `${...}` expression does not parse; `excerpt` is the line where parsing stopped."""

    def __init__(self, message: str, excerpt: str):
        super().__init__(message)
        self.excerpt = excerpt


class VariableNotSet(EnvsubstError):
    """Strict mode: a referenced variable is not set and no default applies."""

    def __init__(self, name: str):
        super().__init__(f"variable not set (strict mode): {name!r}")
        self.name = name


@dataclass(slots=True)
class Func:
    """`${param<name>args...}`: name is the operator (`""` for a bare reference, `:-`, `//`, ...)."""

    param: str
    name: str = ""
    args: list[Node] = field(default_factory=list)


Node = Union[str, Func]
Lookup = Callable[[str], tuple[str, bool]]

_EOF = "\x00"  # Go's scanner uses rune(0) for end of input
_TOKEN_ILLEGAL, _TOKEN_EOF, _TOKEN_IDENT, _TOKEN_LBRACK, _TOKEN_RBRACK = range(5)
_SCAN_IDENT, _SCAN_LBRACK, _SCAN_RBRACK, _SCAN_ESCAPE = 1, 2, 4, 8
_DOLLAR, _BACKSLASH = 1, 2
_ESCAPE_ALL = _DOLLAR | _BACKSLASH

_BAD_SUBSTITUTION = "bad substitution"
_MISSING_CLOSING_BRACE = "missing closing brace"
_PARSE_VARIABLE_NAME = "unable to parse variable name"
_PARSE_FUNC_SUBSTITUTION = "unable to parse substitution within function"
_PARSE_DEFAULT_FUNCTION = "unable to parse default function"

# Operators that supply their own value when the variable is unset, so strict mode lets them pass.
_DEFAULT_OPS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})
_TEXT_STOP = re.compile(r"[$\x00]")
_SIMPLE_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _accept_rune(r: str, i: int) -> bool:
    return True


def _accept_ident(r: str, i: int) -> bool:
    return r.isalpha() or r.isdecimal() or r == "_"


def _accept_colon(r: str, i: int) -> bool:
    return r == ":"


def _accept_one_hash(r: str, i: int) -> bool:
    return r == "#" and i == 1


def _accept_not_closing(r: str, i: int) -> bool:
    return r != "}"


def _accept_hash_func(r: str, i: int) -> bool:
    return r == "#" and i < 3


def _accept_percent_func(r: str, i: int) -> bool:
    return r == "%" and i < 3


def _accept_default_func(r: str, i: int) -> bool:
    return (i == 1 and r == ":") or (i == 2 and r in ("=", "-", "?", "+"))


def _accept_replace_func(r: str, i: int) -> bool:
    return (i == 1 and r == "/") or (i == 2 and r in ("/", "#", "%"))


def _accept_one_equal(r: str, i: int) -> bool:
    return i == 1 and r == "="


def _accept_one_colon(r: str, i: int) -> bool:
    return i == 1 and r == ":"


def _reject_colon_close(r: str, i: int) -> bool:
    return r not in (":", "}")


def _accept_slash(r: str, i: int) -> bool:
    return r == "/"


def _accept_not_slash(r: str, i: int) -> bool:
    return r != "/"


def _accept_casing_func(r: str, i: int) -> bool:
    return r in (",", "^") and i < 3


class _Scanner:
    """The Go scanner: `skip` edits the buffer to drop an escape character, as the original does."""

    __slots__ = ("buf", "pos", "start", "width", "mode", "escape_chars", "accept")

    def __init__(self, buf: str):
        self.buf = buf
        self.pos = self.start = self.width = 0
        self.mode = 0
        self.escape_chars = _DOLLAR
        self.accept: Callable[[str, int], bool] = _accept_rune

    def read(self) -> str:
        if self.pos >= len(self.buf):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.buf[self.pos - 1]

    def unread(self) -> None:
        self.pos -= self.width

    def skip(self) -> None:
        self.buf = self.buf[: self.pos - 1] + self.buf[self.pos:]

    def peek(self) -> str:
        r = self.read()
        self.unread()
        return r

    def string(self) -> str:
        return self.buf[self.start:self.pos]

    def scan(self) -> int:
        self.start = self.pos
        r = self.read()
        if r == _EOF:
            return _TOKEN_EOF
        if self.scan_lbrack(r):
            return _TOKEN_LBRACK
        if self.scan_rbrack(r):
            return _TOKEN_RBRACK
        if self.scan_ident(r):
            return _TOKEN_IDENT
        return _TOKEN_ILLEGAL

    def scan_ident(self, r: str) -> bool:
        if not self.mode & _SCAN_IDENT:
            return False
        if self.scan_escaped(r):
            self.skip()
        elif not self.accept(r, self.pos - self.start):
            return False
        # Plain text outside ${...} accepts every character and only `$` is special there,
        # so jump to the next one instead of reading character by character.
        plain_text = self.accept is _accept_rune and self.escape_chars == _DOLLAR
        while True:
            if plain_text:
                stop = _TEXT_STOP.search(self.buf, self.pos)
                self.pos = stop.start() if stop else len(self.buf)
            r = self.read()
            if r == _EOF:
                self.unread()
                break
            if self.scan_lbrack(r):
                self.unread()
                self.unread()
                break
            if self.scan_escaped(r):
                self.skip()
                continue
            if not self.accept(r, self.pos - self.start):
                self.unread()
                break
        return True

    def scan_lbrack(self, r: str) -> bool:
        if not self.mode & _SCAN_LBRACK:
            return False
        if r == "$":
            if self.read() == "{":
                return True
            self.unread()
        return False

    def scan_rbrack(self, r: str) -> bool:
        return bool(self.mode & _SCAN_RBRACK) and r == "}"

    def scan_escaped(self, r: str) -> bool:
        if not self.mode & _SCAN_ESCAPE:
            return False
        if r == "$" and self.escape_chars & _DOLLAR and self.peek() == "$":
            return True
        if r == "\\" and self.escape_chars & _BACKSLASH:
            return self.peek() in ("/", "\\")
        return False


class _Parser:
    def __init__(self, text: str):
        self.s = _Scanner(text)

    def error(self, message: str) -> ParseError:
        buf, pos = self.s.buf, min(self.s.pos, len(self.s.buf))
        start = buf.rfind("\n", 0, pos) + 1
        end = buf.find("\n", pos)
        return ParseError(message, buf[start:] if end < 0 else buf[start:end])

    def parse_any(self) -> list[Node]:
        s, nodes = self.s, []
        while True:
            s.accept = _accept_rune
            s.mode = _SCAN_IDENT | _SCAN_LBRACK | _SCAN_ESCAPE
            s.escape_chars = _DOLLAR
            token = s.scan()
            if token == _TOKEN_IDENT:
                nodes.append(s.string())
            elif token == _TOKEN_EOF:
                return nodes
            elif token == _TOKEN_LBRACK:
                nodes.append(self.parse_func())
            else:
                raise self.error(_BAD_SUBSTITUTION)

    def parse_func(self) -> Func:
        s = self.s
        s.escape_chars = _ESCAPE_ALL
        if s.peek() == "#":
            return self.parse_len_func()
        s.accept, s.mode = _accept_ident, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_PARSE_VARIABLE_NAME)
        name = s.string()
        following = s.peek()
        if following == ":":
            return self.parse_default_or_substr(name)
        if following == "=":
            return self.parse_default_func(name)
        if following in (",", "^"):
            return self.parse_casing_func(name)
        if following == "/":
            return self.parse_replace_func(name)
        if following == "#":
            return self.parse_remove_func(name, _accept_hash_func)
        if following == "%":
            return self.parse_remove_func(name, _accept_percent_func)
        s.accept, s.mode = _accept_ident, _SCAN_RBRACK
        if s.scan() == _TOKEN_RBRACK:
            return Func(name)
        raise self.error(_MISSING_CLOSING_BRACE)

    def parse_param(self, accept: Callable[[str, int], bool], mode: int) -> Node:
        s = self.s
        s.accept, s.mode = accept, mode | _SCAN_LBRACK
        token = s.scan()
        if token == _TOKEN_LBRACK:
            return self.parse_func()
        if token in (_TOKEN_IDENT, _TOKEN_RBRACK):
            return s.string()
        raise self.error(_PARSE_FUNC_SUBSTITUTION)

    def parse_default_or_substr(self, name: str) -> Func:
        s = self.s
        s.read()
        r = s.peek()
        s.unread()
        if r in ("=", "-", "?", "+"):
            return self.parse_default_func(name)
        return self.parse_substr_func(name)

    def parse_substr_func(self, name: str) -> Func:
        s, node = self.s, Func(name)
        s.accept, s.mode = _accept_one_colon, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.name = s.string()
        node.args.append(self.parse_param(_reject_colon_close, _SCAN_IDENT))
        s.accept, s.mode = _accept_colon, _SCAN_IDENT | _SCAN_RBRACK
        token = s.scan()
        if token == _TOKEN_RBRACK:
            return node
        if token != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.args.append(self.parse_param(_accept_not_closing, _SCAN_IDENT))
        return self.consume_rbrack(node)

    def parse_remove_func(self, name: str, accept: Callable[[str, int], bool]) -> Func:
        s, node = self.s, Func(name)
        s.accept, s.mode = accept, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.name = s.string()
        node.args.append(self.parse_param(_accept_not_closing, _SCAN_IDENT))
        return self.consume_rbrack(node)

    def parse_replace_func(self, name: str) -> Func:
        s, node = self.s, Func(name)
        s.accept, s.mode = _accept_replace_func, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.name = s.string()
        if s.peek() == "/":
            node.args.append("")
        else:
            node.args.append(self.parse_param(_accept_not_slash, _SCAN_IDENT | _SCAN_ESCAPE))
        s.accept, s.mode = _accept_slash, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        if s.peek() == "}":
            return self.consume_rbrack(node)
        node.args.append(self.parse_param(_accept_not_closing, _SCAN_IDENT | _SCAN_ESCAPE))
        return self.consume_rbrack(node)

    def parse_default_func(self, name: str) -> Func:
        s, node = self.s, Func(name)
        s.accept = _accept_one_equal if s.peek() == "=" else _accept_default_func
        s.mode = _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_PARSE_DEFAULT_FUNCTION)
        node.name = s.string()
        while s.peek() != "}":
            node.args.append(self.parse_param(_accept_not_closing, _SCAN_IDENT))
        return self.consume_rbrack(node)

    def parse_casing_func(self, name: str) -> Func:
        s, node = self.s, Func(name)
        s.accept, s.mode = _accept_casing_func, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.name = s.string()
        return self.consume_rbrack(node)

    def parse_len_func(self) -> Func:
        s, node = self.s, Func("")
        s.accept, s.mode = _accept_one_hash, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.name = s.string()
        s.accept, s.mode = _accept_ident, _SCAN_IDENT
        if s.scan() != _TOKEN_IDENT:
            raise self.error(_BAD_SUBSTITUTION)
        node.param = s.string()
        return self.consume_rbrack(node)

    def consume_rbrack(self, node: Func) -> Func:
        self.s.mode = _SCAN_RBRACK
        if self.s.scan() != _TOKEN_RBRACK:
            raise self.error(_BAD_SUBSTITUTION)
        return node


def parse(text: str) -> list[Node]:
    """The template as text pieces and `${...}` functions; raises ParseError."""
    return _Parser(text).parse_any()


def evaluate(text: str, variables: Mapping[str, str], *, strict: bool = True) -> str:
    """Substitute `${...}` in text; in strict mode an unset variable without a default raises VariableNotSet."""
    if "$" not in text:
        return text
    simple = _simple_references(text)
    if simple is not None:
        return _evaluate_simple(simple, variables, strict)
    if strict:
        def lookup(name: str) -> tuple[str, bool]:
            value = variables.get(name)
            return ("", False) if value is None else (value, True)
    else:
        def lookup(name: str) -> tuple[str, bool]:
            return variables.get(name, ""), True
    out: list[str] = []
    for node in parse(text):
        _evaluate(node, lookup, out)
    return "".join(out)


def _simple_references(text: str) -> list[str] | None:
    """Text in which every `${` opens a bare `${NAME}` (ASCII name), and with neither a `$$` escape
    nor a NUL (which the scanner takes for the end): split as text, name, text, ..., text. For such
    text the parser's result is exactly that (a lone `$` is text), so it need not run. None otherwise."""
    if "$$" in text or "\x00" in text:
        return None
    parts = _SIMPLE_REFERENCE.split(text)
    for i in range(0, len(parts), 2):
        if "${" in parts[i]:
            return None
    return parts


def _evaluate_simple(parts: list[str], variables: Mapping[str, str], strict: bool) -> str:
    out = parts[:]
    for i in range(1, len(parts), 2):
        value = variables.get(parts[i])
        if value is None:
            if strict:
                raise VariableNotSet(parts[i])
            value = ""
        out[i] = value
    return "".join(out)


def _evaluate(node: Node, lookup: Lookup, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
        return
    # Arguments first, as Go does: a default is evaluated (and can fail) even when unused.
    args = []
    for arg in node.args:
        buf: list[str] = []
        _evaluate(arg, lookup, buf)
        args.append("".join(buf))
    value, exists = lookup(node.param)
    if not exists and node.name not in _DEFAULT_OPS:
        raise VariableNotSet(node.param)
    out.append(_function(node.name, len(args))(value, *args))


def _function(name: str, nargs: int) -> Callable[..., str]:
    if name == "#":
        return _to_len if nargs == 0 else _trim_shortest_prefix
    return _FUNCTIONS.get(name, _to_default)


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _atoi(s: str) -> int | None:
    if not _ATOI.fullmatch(s):
        return None
    n = int(s)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


def _to_len(s: str, *args: str) -> str:
    return str(len(_utf8(s)))


def _upper_rune(c: str) -> str:
    # Go maps one rune to one rune (simple case mapping); Python's full mapping may give two ("ß" -> "SS").
    upper = c.upper()
    if len(upper) == 1:
        return upper
    title = c.title()
    return title if len(title) == 1 else c


def _lower_rune(c: str) -> str:
    if c == "\u0130":
        return "i"
    lower = c.lower()
    return lower if len(lower) == 1 else c


def _to_upper(s: str, *args: str) -> str:
    return s.upper() if s.isascii() else "".join(map(_upper_rune, s))


def _to_lower(s: str, *args: str) -> str:
    return s.lower() if s.isascii() else "".join(map(_lower_rune, s))


def _to_upper_first(s: str, *args: str) -> str:
    return _upper_rune(s[0]) + s[1:] if s else s


def _to_lower_first(s: str, *args: str) -> str:
    return _lower_rune(s[0]) + s[1:] if s else s


def _to_default(s: str, *args: str) -> str:
    return "".join(args) if not s and args else s


def _to_substr(s: str, *args: str) -> str:
    if not args:
        return s
    pos = _atoi(args[0])
    if pos is None:
        return s
    b = _utf8(s)
    if pos < 0:
        pos = max(len(b) + pos, 0)
    if len(args) == 1:
        return _text(b[pos:])
    length = _atoi(args[1])
    if length is None:
        return s
    if length < 0:
        end = len(b) + length
        return "" if end < pos else _text(b[pos:end])
    return _text(b[pos:pos + length])


def _replace_all(s: str, *args: str) -> str:
    if not args:
        return s
    return s.replace(args[0], args[1] if len(args) > 1 else "")


def _replace_first(s: str, *args: str) -> str:
    if not args:
        return s
    return s.replace(args[0], args[1] if len(args) > 1 else "", 1)


def _replace_prefix(s: str, *args: str) -> str:
    if len(args) != 2 or not s.startswith(args[0]):
        return s
    return args[1] + s[len(args[0]):]


def _replace_suffix(s: str, *args: str) -> str:
    if len(args) != 2 or not s.endswith(args[0]):
        return s
    return s[: len(s) - len(args[0])] + args[1]


def _trim_shortest_prefix(s: str, *args: str) -> str:
    return _trim_shortest(s, args[0]) if args else s


def _trim_longest_prefix(s: str, *args: str) -> str:
    return _trim_longest(s, args[0]) if args else s


def _trim_shortest_suffix(s: str, *args: str) -> str:
    # Go reverses both the value and the pattern (so `[a-z]` becomes `]z-a[`), and so do we.
    return _trim_shortest(s[::-1], args[0][::-1])[::-1] if args else s


def _trim_longest_suffix(s: str, *args: str) -> str:
    return _trim_longest(s[::-1], args[0][::-1])[::-1] if args else s


def _trim_shortest(s: str, pattern: str) -> str:
    b, pat = _utf8(s), _utf8(pattern)
    shortest = b""
    for end in range(len(b), 0, -1):
        try:
            if _match(pat, b[:end]):
                shortest = b[:end]
        except _BadPattern:
            return s
    return _text(b[len(shortest):]) if shortest else s


def _trim_longest(s: str, pattern: str) -> str:
    b, pat = _utf8(s), _utf8(pattern)
    for end in range(len(b), 0, -1):
        try:
            if _match(pat, b[:end]):
                return _text(b[end:])
        except _BadPattern:
            return s
    return s


_FUNCTIONS: dict[str, Callable[..., str]] = {
    ",": _to_lower_first,
    ",,": _to_lower,
    "^": _to_upper_first,
    "^^": _to_upper,
    "##": _trim_longest_prefix,
    "%": _trim_shortest_suffix,
    "%%": _trim_longest_suffix,
    ":": _to_substr,
    "/#": _replace_prefix,
    "/%": _replace_suffix,
    "/": _replace_first,
    "//": _replace_all,
}


class _BadPattern(Exception):
    pass


def _decode_rune(b: bytes) -> tuple[int, int]:
    lead = b[0]
    if lead < 0x80:
        return lead, 1
    size = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
    if size and len(b) >= size:
        try:
            return ord(b[:size].decode("utf-8")), size
        except UnicodeDecodeError:
            pass
    return 0xFFFD, 1


def _match(pattern: bytes, name: bytes) -> bool:
    """drone/envsubst's copy of Go's path.Match, in which `*` and `?` also match `/`."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return True
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if not star:
            return False
        for i in range(len(name)):
            rest, ok = _match_chunk(chunk, name[i + 1:])
            if ok:
                if not pattern and rest:
                    continue
                name = rest
                break
        else:
            return False
    return not name


def _scan_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    star = False
    while pattern[:1] == b"*":
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == 0x5C:  # backslash
            if i + 1 < len(pattern):
                i += 1
        elif c == 0x5B:  # [
            in_range = True
        elif c == 0x5D:  # ]
            in_range = False
        elif c == 0x2A and not in_range:  # *
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: bytes, s: bytes) -> tuple[bytes, bool]:
    while chunk:
        if not s:
            return s, False
        c = chunk[0]
        if c == 0x5B:  # [
            r, size = _decode_rune(s)
            s, chunk = s[size:], chunk[1:]
            if not chunk:
                raise _BadPattern
            negated = chunk[0] == 0x5E  # ^
            if negated:
                chunk = chunk[1:]
            matched, ranges = False, 0
            while True:
                if chunk[:1] == b"]" and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == 0x2D:  # -
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                return s, False
        elif c == 0x3F:  # ?
            s, chunk = s[_decode_rune(s)[1]:], chunk[1:]
        else:
            if c == 0x5C:
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if chunk[0] != s[0]:
                return s, False
            s, chunk = s[1:], chunk[1:]
    return s, True


def _get_esc(chunk: bytes) -> tuple[int, bytes]:
    if not chunk or chunk[0] in (0x2D, 0x5D):
        raise _BadPattern
    if chunk[0] == 0x5C:
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    r, size = _decode_rune(chunk)
    if (r == 0xFFFD and size == 1) or len(chunk) == size:
        raise _BadPattern
    return r, chunk[size:]
