"""Strict YAML -> frozen dataclass loading.

The upstream DD repos read YAML into untyped dicts where duplicate keys silently win and typos are
ignored. Here every key is checked against a dataclass: unknown keys, duplicate keys, wrong types and
impossible values raise :class:`ConfigError` naming the file, the dotted key and the valid choices.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union

import yaml

from dd_tune.base.errors import ConfigError, did_you_mean

T = TypeVar("T")


class FieldError(ValueError):
    """Raised by ``__post_init__`` checks; the loader adds the file and the dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def require(cond: bool, field: str, message: str) -> None:
    """Range check for ``__post_init__``: raise :class:`FieldError` unless ``cond``."""
    if not cond:
        raise FieldError(field, message)


# What a study, suite or search-space file may be: a few KB of hand-written YAML. The bounds stop files
# that expand without limit (alias "bombs": a 3 KB file of nested aliases is billions of nodes), nest
# deeper than Python's recursion, or are not text, before anything is built from them.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate and non-scalar mapping keys and nesting deeper than
    ``MAX_DEPTH``."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # PyYAML, unannotated
                raise ConfigError(f"{self.name}: nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def expanded_size(node: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (stops counting past ``limit``)."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) in memo:
            return memo[id(n)]
        memo[id(n)] = 1  # a cycle counts once
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        elif isinstance(n, yaml.SequenceNode):
            for v in n.value:
                total += size(v)
                if total > limit:
                    break
        memo[id(n)] = total
        return total

    return size(node)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}  # YAML keys: strings, numbers (the caller checks what it expects)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ConfigError(f"{loader.name}: a key must be a plain value, got a {type(key).__name__} "
                              f"(line {key_node.start_mark.line + 1})")
        if key in out:
            raise ConfigError(
                f"{loader.name}: duplicate key {key!r} (line {key_node.start_mark.line + 1})"
            )
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with duplicate-key detection (safe constructors only), bounded in size, depth
    and expansion."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB; a study, suite or space file is a "
                          f"few KB of YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (it holds NUL bytes)")
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is not None and expanded_size(node) > MAX_EXPANDED_NODES:
            raise ConfigError(f"{path}: expands to more than {MAX_EXPANDED_NODES} values through its aliases "
                              f"(&anchor / *alias); write the values out")
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {str(e)[:500]}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def parse_scalar(text: str) -> Any:
    """Parse a ``--set`` value the way YAML would (``0.1`` -> float, ``[1, 10]`` -> list)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + str(list(typing.get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def coerce(tp: Any, value: Any, where: str, source: str) -> Any:
    """Check ``value`` against the type hint ``tp`` and convert it (lists -> tuples, int -> float)."""
    origin = typing.get_origin(tp)
    fail = ConfigError(
        f"{source}: '{where}' must be {_type_name(tp)}, got {value!r}"
    )
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build(typing.cast(type, tp), value, where, source)
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) in {type(a) for a in typing.get_args(tp)}:
            return value
        raise ConfigError(
            f"{source}: '{where}' must be one of {list(typing.get_args(tp))}, got {value!r}"
        )
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return coerce(arg, value, where, source)
            except ConfigError:
                continue
        raise fail
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise fail
        (item_tp, *_rest) = typing.get_args(tp)
        return tuple(coerce(item_tp, v, f"{where}[{i}]", source) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise fail
        return dict(value)
    if tp is type(None):
        if value is None:
            return None
        raise fail
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise fail
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise fail
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail
    raise TypeError(f"unsupported config type {tp!r} at {where}")


def build(cls: type[T], data: Any, where: str, source: str) -> T:
    """Build the frozen dataclass ``cls`` from a mapping, strictly.

    ``where`` is the dotted path of ``data`` inside the file (``""`` at the top level) and ``source``
    names the file (or ``--set``) for error messages.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: '{where or '<top>'}' must be a mapping, got {type(data).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        hint = did_you_mean(f"{prefix}{unknown[0]}", [f"{prefix}{f}" for f in fields])
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'{hint}; valid keys: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{source}: missing required key '{prefix}{missing[0]}'")
    hints = typing.get_type_hints(cls)
    kwargs = {name: coerce(hints[name], value, f"{prefix}{name}", source) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except FieldError as e:
        raise ConfigError(f"{source}: '{prefix}{e.field}' {e.message}") from None


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain JSON/YAML-able dict; tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge key by key, everything else is replaced; an empty mapping
    empties (``named_points: {}`` in a profile drops the study's named points, as ``--set`` does)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and value and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b.c = value`` (intermediate mappings created).

    The leaf is replaced, not merged: ``named_points={}`` empties the mapping.
    """
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(f"{source}: invalid key {dotted!r}")
    override: dict[str, Any] = {}
    node = override
    for key in keys[:-1]:
        node[key] = {}
        node = node[key]
    node[keys[-1]] = None  # placeholder: merge the path, then put the value in place
    out = deep_merge(data, override)
    node = out
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)
    return out

