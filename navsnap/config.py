"""Configuration: one TOML file, validated against typed dataclasses, hashed for lineage.

TOML was chosen because Python 3.11 reads it with the standard library (``tomllib``), so the
config needs no extra dependency, and because it has real integers, floats, booleans and
arrays, which makes "wrong type" a checkable error instead of a YAML guess.

Every section is a frozen dataclass. Field metadata carries the documentation, and the
inclusive ``min``/``max`` range; :func:`parse_section` rejects unknown keys, wrong types and
out-of-range values with a message that names the dotted key.

What enters the **configuration hash** is decided by the step (see :mod:`navsnap.lineage`):
the ``run`` keys ``seed``, ``step`` and ``year_column``, the step's own keys (the whole
``simulation`` section for the built-in simulation), and the xxh3 of every declared input
file. Operational settings (years, threads, store, compression, retention, checks) are
outside it, so extending a run to more years or restoring with more threads is not "drift".
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import xxhash

from navsnap.errors import ChangedInput, ChangedKey, ConfigError
from navsnap.sim.params import SimulationParams

__all__ = [
    "Config",
    "InputsSection",
    "RetentionSection",
    "RunSection",
    "SnapshotSection",
    "config_diff",
    "flatten",
    "hash_inputs",
    "load_config",
    "parse_section",
]

DEFAULT_CONFIG_NAME = "navsnap.toml"
_T = typing.TypeVar("_T")


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"doc": text, **extra}


@dataclass(frozen=True)
class RunSection:
    """``[run]``: what to run and how."""

    years: str = field(default="2025-2029", metadata=_doc("Years to simulate, 'A-B' inclusive."))
    seed: int = field(default=42, metadata=_doc("Seed of every random draw.", min=0, max=2**62))
    year_column: str = field(
        default="simulation_year", metadata=_doc("Column that splits tables into year partitions.")
    )
    step: str = field(
        default="builtin",
        metadata=_doc(
            "'builtin', 'shell:<command template>' or 'python:<package.module>:<function>'."
        ),
    )
    threads: int = field(
        default=0, metadata=_doc("DuckDB threads; 0 keeps DuckDB's default.", min=0, max=1024)
    )
    step_contract: bool = field(
        default=False,
        metadata=_doc(
            "The step writes only year Y's rows of year-scoped tables (and the global tables "
            "in step_rewrites), so a snapshot may trust older partitions (the built-in "
            "simulation declares this itself)."
        ),
    )
    step_rewrites: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "Global tables the step may rewrite every year (with step_contract), as table or "
            "schema.table; a name that is no table of the database makes the snapshot deep."
        ),
    )


@dataclass(frozen=True)
class SnapshotSection:
    """``[snapshot]``: how snapshots are taken."""

    enabled: bool = field(default=True, metadata=_doc("Take a snapshot at every year boundary."))
    mode: Literal["parquet", "file"] = field(
        default="parquet", metadata=_doc("'parquet' (per-partition) or 'file' (whole .duckdb).")
    )
    compression: Literal["zstd", "snappy", "gzip", "lz4", "uncompressed"] = field(
        default="zstd", metadata=_doc("Parquet codec.")
    )
    compression_level: int = field(
        default=1, metadata=_doc("zstd level for Parquet objects.", min=1, max=22)
    )
    file_compression: bool = field(
        default=False,
        metadata=_doc("zstd-compress whole-file copies (never applied to reflinks)."),
    )
    store: str = field(
        default="", metadata=_doc("Store path or fsspec URL; empty means snapshots/ beside the db.")
    )
    deep_every: int = field(
        default=5,
        metadata=_doc(
            "Every Nth snapshot of a run re-fingerprints every partition (1: every snapshot).",
            min=1,
        ),
    )
    hot: int = field(
        default=0,
        metadata=_doc(
            "Hot tier: also keep a whole-file copy of the latest N year-ends (0: off).", min=0
        ),
    )
    hot_compression: Literal["auto", "zstd", "none"] = field(
        default="auto",
        metadata=_doc(
            "Hot copies that are not reflinks: 'auto' (zstd on a remote store, none on a "
            "local one), 'zstd' or 'none'."
        ),
    )


@dataclass(frozen=True)
class RetentionSection:
    """``[retention]``: a prune policy run after each checkpoint (all empty: keep everything)."""

    keep_last: int = field(default=0, metadata=_doc("Keep the N newest snapshots (0: off).", min=0))
    keep_runs: int = field(
        default=0, metadata=_doc("Keep every snapshot of the N newest runs.", min=0)
    )
    keep_years: list[int] = field(
        default_factory=list, metadata=_doc("Keep every snapshot of these years.")
    )
    max_size: str = field(
        default="", metadata=_doc("Prune oldest first above this size, e.g. '100MB'.")
    )

    def validate(self) -> None:
        """A size that does not parse is refused with the config, not after a run's year."""
        if not self.max_size:
            return
        from navsnap.errors import UsageError
        from navsnap.retention import parse_size

        try:
            parse_size(self.max_size)
        except UsageError as exc:
            raise ConfigError(
                f"config key 'retention.max_size': {exc.message}",
                key="retention.max_size",
                hint=exc.hint,
            ) from None


@dataclass(frozen=True)
class InputsSection:
    """``[inputs]``: files whose content is part of the configuration hash."""

    files: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "Paths (files or directories) relative to the config file; not the database, "
            "a local snapshot store, or a folder holding either (their hash changes every "
            "year: refused, exit 3, before anything is written). A directory's files are "
            "hashed through symlinked folders, without __pycache__."
        ),
    )


@dataclass(frozen=True)
class Config:
    """The effective configuration of a run."""

    run: RunSection = field(default_factory=RunSection)
    snapshot: SnapshotSection = field(default_factory=SnapshotSection)
    retention: RetentionSection = field(default_factory=RetentionSection)
    inputs: InputsSection = field(default_factory=InputsSection)
    checks: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            'Named SQL checks: name = "SELECT <scalar>", exactly one SELECT (refused before '
            "the first step otherwise). Only a local configuration's checks run: never those "
            "of a manifest (a checkpoint without --config inherits the rest, not these)."
        ),
    )
    simulation: SimulationParams = field(default_factory=SimulationParams)
    #: Directory that relative input paths are resolved against.
    base_dir: str = field(default=".", metadata={"internal": True})

    def input_hashes(
        self, *, outside: tuple[Path, ...] = (), store: Path | None = None
    ) -> dict[str, str]:
        """xxh3-128 of every declared input, keyed by its path as written in the config.
        ``outside``: paths no input may be or contain (the run's database); ``store``: the
        folder of a local snapshot store, which no input may be or contain either."""
        return hash_inputs(
            self.inputs.files, base=Path(self.base_dir), outside=outside, store=store
        )

    def to_dict(self) -> dict[str, Any]:
        from navsnap.store.remote import redact

        data = dataclasses.asdict(self)
        data.pop("base_dir", None)
        # Recorded in manifests: never the credentials of a store URL.
        data["snapshot"]["store"] = redact(data["snapshot"]["store"])
        return data


# --------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return str(tp).replace("typing.", "")
    if dataclasses.is_dataclass(tp):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _check_value(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors: list[ConfigError] = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(arg, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(
                f"config key '{key}' must be {_type_name(tp)}, got {value!r}", key=key
            )
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}", key=key)
        return [_check_value(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a table, got {value!r}", key=key)
        return {
            _check_value(key_tp, k, key): _check_value(val_tp, v, f"{key}.{k}")
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a table, got {value!r}", key=key)
        return parse_section(tp, value, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(
                f"config key '{key}' must be true or false, got {value!r}",
                key=key,
                hint="write true or false, unquoted",
            )
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"config key '{key}' must be an integer, got {value!r}",
                key=key,
                hint="write a whole number, unquoted",
            )
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"config key '{key}' must be a number, got {value!r}",
                key=key,
                hint="write a number, unquoted",
            )
        # -0.0 is 0.0 to Python's == (the drift check) but not to its text: stored as 0.0.
        return float(value) + 0.0
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(
                f"config key '{key}' must be a string, got {value!r}",
                key=key,
                hint="write it in double quotes",
            )
        return value
    raise ConfigError(f"config key '{key}' has an unsupported type {tp!r}", key=key)


def parse_section(cls: type[_T], data: Mapping[str, Any], *, prefix: str = "") -> _T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys, wrong types and ranges."""
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(
                f"unknown config key '{key}'", key=key, hint=f"known keys here: {known}"
            )
        f = fields[name]
        checked = _check_value(hints[name], value, key)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if isinstance(checked, (int, float)) and not isinstance(checked, bool):
            span = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
            fix = f"set it within {span} in the config file or on the command line"
            if lo is not None and checked < lo:
                raise ConfigError(
                    f"config key '{key}' must be >= {lo}, got {checked!r}", key=key, hint=fix
                )
            if hi is not None and checked > hi:
                raise ConfigError(
                    f"config key '{key}' must be <= {hi}, got {checked!r}", key=key, hint=fix
                )
        kwargs[name] = checked
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(
                f"config section '{prefix or 'top'}': {exc}",
                key=prefix,
                hint=f"correct [{prefix}] in the config file"
                if prefix
                else "correct the config file",
            ) from exc
    return obj


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for dotted, value in overrides.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
            node[part] = child = dict(child)
            node = child
        node[parts[-1]] = value
    return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    search_cwd: bool = True,
) -> Config:
    """Read, validate and return the configuration.

    ``path`` None means ``navsnap.toml`` in the working directory when it exists (and
    ``search_cwd``), else the documented defaults. ``overrides`` maps dotted keys
    (``"simulation.employees"``) to values and wins over the file.
    """
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is None and search_cwd and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(
                f"config path {str(p)!r} is a directory", hint="pass a .toml file to --config"
            )
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"config file {str(p)!r} does not exist",
                hint="check the path given to --config (or NAVSNAP_CONFIG)",
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"config file {str(p)!r} cannot be read: {exc.strerror}",
                hint="check its permissions",
            ) from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(
                f"config file {str(p)!r} is not UTF-8 text", hint="save it as UTF-8 TOML"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"config file {str(p)!r} is not valid TOML: {exc}",
                hint="fix the syntax at the position shown",
            ) from None
        base_dir = p.resolve().parent
    if overrides:
        data = _merge(data, overrides)
    config = parse_section(Config, data)
    return dataclasses.replace(config, base_dir=str(base_dir))


# --------------------------------------------------------------------------- hashing & drift


def flatten(obj: Any, prefix: str) -> dict[str, Any]:
    """``{dotted.key: leaf value}`` for a dataclass or mapping, lists kept as leaves."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items: Mapping[str, Any] = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, Mapping):
        items = obj
    else:
        return {prefix: obj}
    out: dict[str, Any] = {}
    for name, value in items.items():
        out.update(flatten(value, f"{prefix}.{name}"))
    return out


def _hash_file(path: Path) -> str:
    h = xxhash.xxh3_128()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ConfigError(
            f"declared input {str(path)!r} cannot be read: {exc.strerror or exc}",
            key="inputs.files",
            hint="check its permissions",
        ) from None
    return h.hexdigest()


def _input_files(root: Path) -> list[Path]:
    """The files under ``root`` whose content defines a declared folder, sorted: through
    symlinked folders too (a model's shared SQL is often linked in), each real folder once
    (a link back up the tree is not followed again), and without ``__pycache__`` folders,
    which Python rewrites whenever it imports a step (their sources are hashed)."""
    out: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        out.extend(q for q in (Path(dirpath) / f for f in filenames) if q.is_file())
    return sorted(out)


def _input_path(name: str, base: Path) -> Path:
    """A declared input's path: relative to the config's folder unless absolute."""
    return (base / name) if not Path(name).is_absolute() else Path(name)


def _contains(path: Path, other: Path) -> bool:
    """Whether ``path`` (resolved) is ``other`` or one of its parents."""
    where = path.resolve()
    return where == other or where in other.parents


def hash_inputs(
    files: list[str], *, base: Path, outside: tuple[Path, ...] = (), store: Path | None = None
) -> dict[str, str]:
    """xxh3-128 per declared input; a directory hashes its sorted relative paths and contents.
    No input may be or contain one of ``outside`` (the run's database: its hash changes with
    every year, and no resume would ever match) or ``store`` (a local snapshot store: every
    snapshot writes it, so the run would stop after its first step)."""
    out: dict[str, str] = {}
    root = store.resolve() if store is not None else None
    for name in files:
        if not name.strip():
            raise ConfigError(
                "[inputs] files lists an empty path",
                key="inputs.files",
                hint="remove it, or name the model's own files or folders",
            )
        p = _input_path(name, base)
        for avoid in outside:
            if _contains(p, avoid):
                raise ConfigError(
                    f"declared input {name!r} contains the database {str(avoid)!r}, which "
                    "every year changes: no resume would match its hash",
                    key="inputs.files",
                    hint="name the model's own files or folders in [inputs] files",
                )
        if root is not None and _contains(p, root):
            raise ConfigError(
                f"declared input {name!r} contains the snapshot store {str(root)!r}, which "
                "every snapshot writes: the run would stop after its first step",
                key="inputs.files",
                hint="keep the store outside the model's folders (--store, [snapshot] store), "
                "or name the model's own files or folders in [inputs] files",
            )
        if p.exists() and not (p.is_file() or p.is_dir()):
            raise ConfigError(
                f"declared input {name!r} is not a regular file or a directory",
                key="inputs.files",
                hint="name files or folders whose content defines the model",
            )
        if p.is_file():
            out[name] = _hash_file(p)
        elif p.is_dir():
            h = xxhash.xxh3_128()
            for sub in _input_files(p):
                rel = sub.relative_to(p).as_posix()
                h.update(rel.encode() + b"\0" + _hash_file(sub).encode() + b"\n")
            out[name] = h.hexdigest()
        else:
            raise ConfigError(
                f"declared input {name!r} does not exist (looked at {str(p)!r})",
                key="inputs.files",
                hint="create it or remove it from [inputs] files",
            )
    return out


def config_diff(
    old_identity: Mapping[str, Any],
    new_identity: Mapping[str, Any],
    old_inputs: Mapping[str, str],
    new_inputs: Mapping[str, str],
) -> tuple[list[ChangedKey], list[ChangedInput]]:
    """The keys and inputs that differ between two configurations (pure)."""
    keys = [
        ChangedKey(key=k, old=old_identity.get(k), new=new_identity.get(k))
        for k in sorted(set(old_identity) | set(new_identity))
        if old_identity.get(k) != new_identity.get(k)
    ]
    inputs = [
        ChangedInput(path=k, old=old_inputs.get(k), new=new_inputs.get(k))
        for k in sorted(set(old_inputs) | set(new_inputs))
        if old_inputs.get(k) != new_inputs.get(k)
    ]
    return keys, inputs
