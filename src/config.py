"""YAML configs as typed dataclasses, checked key by key.

An unknown key, a wrong type or an out-of-range value is an error that names the file
(or the `--set` override), the dotted key and what was expected: a typo must never be
silently ignored and train the wrong model for ten minutes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override does not fit the schema."""


def bounded(
    default: Any, lo: float | None = None, hi: float | None = None, choices: tuple = ()
) -> Any:
    """A dataclass field whose value must lie in [lo, hi] or be one of `choices`."""
    return dataclasses.field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices})


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_scalar(value: Any, tp: Any, where: str) -> Any:
    """Return `value` as type `tp` or raise; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check_scalar(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (bool, str) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")


def from_dict(cls: type[T], data: Any, source: str, prefix: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict, checking every key and value."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}'; "
            f"expected one of: {', '.join(prefix + name for name in fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name not in data:
            continue
        where = f"{source}: {prefix}{name}"
        tp, value = hints[name], data[name]
        if dataclasses.is_dataclass(tp):
            values[name] = from_dict(tp, value, source, f"{prefix}{name}.")
            continue
        value = _check_scalar(value, tp, where)
        lo, hi = field.metadata.get("lo"), field.metadata.get("hi")
        choices = field.metadata.get("choices", ())
        if choices and value not in choices:
            raise ConfigError(f"{where}: expected one of {list(choices)}, got {value!r}")
        if value is not None and (lo is not None and value < lo or hi is not None and value > hi):
            raise ConfigError(f"{where}: expected a value in [{lo}, {hi}], got {value!r}")
        values[name] = value
    return cls(**values)


def apply_override(data: dict, override: str) -> None:
    """Apply one `dotted.key=value` override in place; the value is parsed as YAML."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override}: expected the form key.subkey=value")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {override}: '{part}' is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {override}: value is not valid YAML ({e})") from e


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] = ()) -> T:
    """Read YAML at `path` (defaults when None), apply `--set` overrides, validate."""
    data: Any = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from e
    from_dict(cls, data, source)  # report file errors against the file, before overrides
    for override in overrides:
        apply_override(data, override)
        from_dict(cls, data, f"--set {override}")
    return from_dict(cls, data, source)


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
