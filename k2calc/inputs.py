"""The boundary where input enters: files, paths, JSON and YAML, and the values echoed back in messages.

Every file k2calc reads (configs, presets, GPU catalogs, checkpoint indexes) goes through `read_text`,
every JSON or YAML document through `parse_json` / `parse_yaml`, every path a user types through
`user_path` / `path_kind`, and every value shown in an error or a note through `echo`. Each guard is
here once, so each class of hostile input (a FIFO or /dev/zero, a gigabyte file, an alias bomb,
100,000-deep nesting, a 5,000-digit integer, a path too long for the OS, a non-UTF-8 file name) is
refused with one line naming the file, whichever command read it.

Decisions (README, "Bad input"):
- Only regular files are read (a FIFO would block, /dev/zero never ends), up to a size cap per kind of
  file, far above any real one.
- JSON and YAML: nesting at most MAX_DEPTH levels; a key given twice in one object is an error (JSON and
  YAML keep the last one silently: the user edited one copy and the other wins); integers of more than
  MAX_INT_DIGITS digits are refused (Python cannot convert ones over 4,300 digits; a field's bounds name
  anything shorter);
  JSON's non-standard NaN / Infinity are refused. YAML aliases may not expand to more than MAX_NODES
  values (a 2 kB "billion laughs" file expands to gigabytes when printed).
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from .errors import InputError

KIB, MIB = 2**10, 2**20
MAX_CONFIG_BYTES = 4 * MIB  # a config.json, preset or GPU catalog is a few kilobytes
MAX_INDEX_BYTES = 64 * MIB  # model.safetensors.index.json: ~14 MB for Kimi-K2's 1T parameters
MAX_DEPTH = 64  # configs nest 5 levels (quantization_config.config_groups.group_0.weights.num_bits)
MAX_NODES = 20_000  # values of a YAML document, aliases expanded (a config has a few hundred)
MAX_INT_DIGITS = 4000  # Python refuses to convert more than 4,300; a real value has at most 13 (total_size)
ECHO_CHARS = 120  # an echoed value is cut to this many characters


# ---------------------------------------------------------------------------------------------------
# Echoing values and paths


def printable(text: str) -> str:
    """`text` as it can be printed anywhere: a non-UTF-8 byte of a file name (a lone surrogate once
    decoded) shows as `\\xe9`, never as a character stdout cannot encode."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a byte
        return text.encode("utf-8", "backslashreplace").decode("ascii")


def show_path(path: str | Path) -> str:
    """A path for a message or a table: printable and bounded."""
    return _cut(printable(str(path)), 4 * ECHO_CHARS)


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """Text the user typed (a --set pair, an option value), printable and bounded, unquoted."""
    return _cut(printable(text), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int_text(n: int) -> str:
    if n.bit_length() <= 200:  # 60 digits: printed as is
        return repr(n)
    return f"<an integer of about {int(n.bit_length() * math.log10(2)) + 1:,} digits>"


def echo(value: Any, limit: int = ECHO_CHARS) -> str:
    """repr() of a value a user gave, bounded in length and depth (never expands an alias bomb, never
    writes a 31 MB string whole, never fails on a huge integer): for error lines and notes."""
    return _cut(_echo(value, 3, max(10, limit - 30)), limit)


def _echo(value: Any, depth: int, budget: int) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, str):
        if len(value) <= budget:
            return repr(printable(value))
        return repr(printable(value[:budget])) + f"… ({len(value):,} characters)"
    if isinstance(value, (list, tuple, dict)):
        opened, closed = ("{", "}") if isinstance(value, dict) else ("(", ")") if isinstance(value, tuple) else ("[", "]")
        if not value:
            return opened + closed
        if depth == 0:
            return f"{opened}…{closed}"
        items = iter(value.items()) if isinstance(value, dict) else iter(value)
        parts: list[str] = []
        used = 0
        for i, item in enumerate(items):
            if used > budget or i >= 8:
                parts.append(f"… ({len(value):,} items)")
                break
            if isinstance(value, dict):
                k, v = item
                text = f"{_echo(k, 0, 40)}: {_echo(v, depth - 1, budget - used)}"
            else:
                text = _echo(item, depth - 1, budget - used)
            parts.append(text)
            used += len(text) + 2
        return opened + ", ".join(parts) + closed
    return _cut(printable(f"<{type(value).__name__}>"), 40)


# ---------------------------------------------------------------------------------------------------
# Paths


def user_path(text: str | Path, what: str = "") -> Path:
    """A path a user typed, `~` expanded; `~nosuchuser/...` is an error, not a RuntimeError."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # Path.expanduser: "Could not determine home directory"
        user = str(text).split("/", 1)[0]
        raise InputError(f"{what}{show_path(text)}: no user {printable(user[1:])!r} to expand {printable(user)}") from None


def path_kind(path: Path) -> str | None:
    """'file', 'dir', 'other' (FIFO, device, socket) or None when nothing is there; a path the OS cannot
    even look up (too long, a loop of links) is an error naming it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise InputError(f"{show_path(path)}: path too long for the OS ({len(os.fsencode(path)):,} bytes)") from None
        if e.errno == errno.EACCES:
            raise InputError(f"{show_path(path)}: permission denied") from None
        raise InputError(f"{show_path(path)}: cannot look up: {e.strerror}") from None
    except ValueError:  # an embedded NUL
        raise InputError(f"{show_path(path)}: not a valid path") from None
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "other"


# ---------------------------------------------------------------------------------------------------
# Files


def open_regular(path: Path, what: str):
    """A regular file opened for binary reading, and its size.

    Opened without blocking and checked after opening, so a FIFO, a device or a folder is refused
    before a byte is read (a FIFO would block forever, /dev/zero never ends)."""
    kind = path_kind(path)
    if kind is None:
        raise InputError(f"{show_path(path)}: no such file")
    if kind == "dir":
        raise InputError(f"{show_path(path)}: is a folder")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise InputError(f"{show_path(path)}: cannot read: {e.strerror}") from None
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise InputError(f"{show_path(path)}: not a regular file (a FIFO, device or socket); give the {what} as a file")
    return f, st.st_size


def read_bytes(path: Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (`what` names the kind of file in the error)."""
    f, size = open_regular(path, what)
    with f:
        if size > max_bytes:
            raise InputError(_too_big(path, size, what, max_bytes))
        try:
            data = f.read(max_bytes + 1)  # the file may grow while it is read
        except OSError as e:
            raise InputError(f"{show_path(path)}: cannot read: {e.strerror}") from None
    if len(data) > max_bytes:
        raise InputError(_too_big(path, len(data), what, max_bytes))
    return data


def _too_big(path: Path, size: int, what: str, max_bytes: int) -> str:
    return (f"{show_path(path)}: {size:,} bytes is larger than any {what} could be "
            f"(k2calc reads up to {max_bytes // MIB} MiB)")


def read_text(path: Path, what: str = "config file", max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """A regular UTF-8 text file (a BOM is dropped); binary, undecodable or empty files are errors."""
    data = read_bytes(path, what, max_bytes)
    if b"\x00" in data:
        raise InputError(f"{show_path(path)}: not a text file (binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{show_path(path)}: not UTF-8 text (bad byte at offset {e.start})") from None
    if not text.strip():
        raise InputError(f"{show_path(path)}: the file is empty")
    return text


# ---------------------------------------------------------------------------------------------------
# JSON and YAML


class Malformed(InputError):
    """Text that is not JSON (or YAML) at all: a caller may try the other syntax, or take a `--set` value
    as plain text. Bounds broken by well-formed text are plain InputErrors."""


def _pairs(where: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    raise InputError(f"{where}: key {echo(k)} appears twice in one object "
                                     "(JSON would keep the last silently; give it once)")
                seen.add(k)
        return out

    return hook


def _json_int(where: str):
    def hook(text: str) -> int:
        digits = len(text.lstrip("-"))
        if digits > MAX_INT_DIGITS:
            raise InputError(f"{where}: an integer of {digits:,} digits is larger than any value k2calc reads")
        return int(text)

    return hook


def _json_float(where: str):
    def hook(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise InputError(f"{where}: {_cut(text, 40)} is beyond the range of a float")
        return value

    return hook


def _json_constant(where: str):
    def hook(name: str) -> Any:
        raise InputError(f"{where}: {name} is not a JSON number (give a finite number)")

    return hook


def parse_json(text: str | bytes, where: str) -> Any:
    """Standard JSON with k2calc's bounds: depth, duplicate keys, integer length, no NaN / Infinity."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs(where), parse_int=_json_int(where), parse_float=_json_float(where),
                          parse_constant=_json_constant(where))
    except RecursionError:
        raise InputError(_too_deep(where)) from None
    except json.JSONDecodeError as e:
        raise Malformed(f"{where}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: not UTF-8 text (bad byte at offset {e.start})") from None
    check_depth(data, where)
    return data


def _too_deep(where: str) -> str:
    return f"{where}: nested deeper than {MAX_DEPTH} levels (a config nests about 5)"


def check_depth(data: Any, where: str) -> None:
    """Refuse data nested deeper than MAX_DEPTH (checked without recursion; only containers are visited)."""
    if type(data) not in (dict, list):
        return
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(_too_deep(where))
        for v in value.values() if type(value) is dict else value:
            if type(v) is dict or type(v) is list:
                stack.append((v, depth + 1))


_YAML_INT = "tag:yaml.org,2002:int"


def _check_nodes(root: Any, where: str) -> None:
    """Walk a composed YAML node graph as it will be constructed, aliases expanded: depth, expanded size,
    duplicate keys and integer length are checked before a value is built."""
    import yaml

    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise InputError(f"{where}: YAML aliases expand to more than {MAX_NODES:,} values "
                             "(an alias bomb?); write the values out")
        if depth > MAX_DEPTH:
            raise InputError(_too_deep(where))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _YAML_INT and len(node.value) > MAX_INT_DIGITS:
                raise InputError(f"{where}: an integer of {len(node.value):,} digits is larger than any value "
                                 "k2calc reads")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            keys = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    key = (k.tag, k.value)
                    if key in keys:
                        raise InputError(f"{where}: key {echo(k.value)} appears twice in one mapping "
                                         "(YAML would keep the last silently; give it once)")
                    keys.add(key)
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))


def parse_yaml(text: str, where: str) -> Any:
    """Safe-loaded YAML (no tags that build objects), bounded like parse_json and checked for alias bombs
    before anything is constructed."""
    import yaml

    # libyaml's CSafeLoader is the same rules as SafeLoader, faster; it caps nesting at 1000 itself.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join((getattr(e, "problem", None) or str(e)).split())
        if isinstance(e, yaml.constructor.ConstructorError):
            raise InputError(f"{where}: YAML tag refused{at}: {problem} (YAML is read with safe loading only)") from None
        if "nesting depth" in str(e):
            raise InputError(_too_deep(where)) from None
        raise Malformed(f"{where}: malformed YAML{at}: {problem}") from None
    except RecursionError:
        raise InputError(_too_deep(where)) from None
    except ValueError as e:  # a value the constructor cannot convert (e.g. a timestamp out of range)
        raise InputError(f"{where}: unreadable YAML value: {_cut(str(e), ECHO_CHARS)}") from None
    finally:
        loader.dispose()
