"""Lineage: the configuration a snapshot belongs to, its hash, and what changed since.

The step decides its identity (:meth:`navsnap.steps.Step.identity`): the built-in simulation
names every ``simulation.*`` key; shell and Python steps name their command or target (and a
Python step its module file), not the simulation's section. The declared input files
(``[inputs] files``) are hashed beside the identity. The configuration hash covers both.

Deciding "same lineage" compares only the keys the *current* step declares, so a manifest
written before identities were per step (a shell step's manifest carrying ``simulation.*``
keys) is not drift; a key such a manifest never recorded is not compared either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import xxhash

from navsnap.config import Config, config_diff
from navsnap.errors import ChangedInput, ChangedKey, DriftError
from navsnap.steps import Step, parse_step

if TYPE_CHECKING:
    from pathlib import Path

    from navsnap.manifest import ConfigBlock, Manifest
    from navsnap.store import Store

__all__ = ["config_block", "config_hash", "drift", "drift_error", "identity", "same_lineage"]


def identity(config: Config, *, step: Step | None = None) -> dict[str, Any]:
    """The lineage keys of ``config``'s step, flat ``{dotted.key: value}``."""
    return (step or parse_step(config.run.step)).identity(config)


def config_hash(ident: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """xxh3-128 of the identity and the input hashes (canonical JSON)."""
    blob = json.dumps(
        {"identity": dict(ident), "inputs": dict(inputs)},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return xxhash.xxh3_128_hexdigest(blob.encode())


def config_block(
    config: Config,
    *,
    step: Step | None = None,
    db: Path | None = None,
    store: Store | None = None,
) -> dict[str, Any]:
    """The manifest's ``config`` field: values, lineage identity, hash, input hashes.
    ``db``: the database, which no declared input may be or contain; nor may one contain
    ``store``, when it is a folder on this machine."""
    ident = identity(config, step=step)
    inputs = config.input_hashes(
        outside=() if db is None else (db.resolve(),),
        store=store.local_root if store is not None else None,
    )
    return {
        "values": config.to_dict(),
        "identity": ident,
        "inputs": inputs,
        "hash": config_hash(ident, inputs),
    }


def drift(
    old: ConfigBlock, block: Mapping[str, Any]
) -> tuple[list[ChangedKey], list[ChangedInput]]:
    """The keys and inputs that changed from a manifest's config ``old`` to ``block`` (pure).

    Only the keys of ``block``'s identity are compared, and of those only the keys ``old``
    recorded: other keys were not part of what the current step builds from.
    """
    new_ident: Mapping[str, Any] = block["identity"]
    shared = [k for k in new_ident if k in old.identity]
    return config_diff(
        {k: old.identity[k] for k in shared},
        {k: new_ident[k] for k in shared},
        old.inputs,
        block["inputs"],
    )


def same_lineage(old: ConfigBlock, block: Mapping[str, Any]) -> bool:
    """True when a manifest's config ``old`` belongs to the lineage of ``block``."""
    if old.hash == block["hash"]:
        return True
    if not old.identity:
        return False
    keys, inputs = drift(old, block)
    return not keys and not inputs


def drift_error(snapshot: Manifest, block: Mapping[str, Any]) -> DriftError:
    """The refusal naming what changed since ``snapshot``."""
    keys, inputs = drift(snapshot.config, block)
    parts = [f"{k.key}: {k.old!r} -> {k.new!r}" for k in keys]
    parts += [f"input {i.path} changed" for i in inputs]
    return DriftError(
        f"configuration changed since snapshot {snapshot.snapshot_id}: "
        + ("; ".join(parts) if parts else "hash differs"),
        changed_keys=keys,
        changed_inputs=inputs,
        hint="restore the old configuration, or start over with --force-restart",
    )
