"""Incremental snapshots: five yearly snapshots cost little more than the last one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import navsnap
from navsnap.config import Config
from navsnap.index import read_all
from navsnap.store import open_store


def test_five_yearly_snapshots_take_at_most_1_25x_the_final_one(
    tmp_path: Path, sim_config: Callable[..., Config]
) -> None:
    store = tmp_path / "store"
    navsnap.run(
        sim_config(employees=3000),
        db=tmp_path / "sim.duckdb",
        years=(2025, 2029),
        store=str(store),
    )
    manifests, _ = read_all(open_store(store))
    assert [m.year for m in manifests] == [2025, 2026, 2027, 2028, 2029]
    final = manifests[-1].total_bytes
    stored = sum(f.size for f in open_store(store).list_files("objects"))
    assert stored <= 1.25 * final, (stored, final)
    # and the naive alternative (every snapshot whole) would be far bigger
    naive = sum(m.total_bytes for m in manifests)
    assert naive > 2.5 * final
    # each later snapshot wrote only its own year's partitions
    for m in manifests[1:]:
        new = {(t.name, str(p.year)) for t in m.tables for p in t.partitions if not p.reused}
        assert new and all(year == str(m.year) for _, year in new), new
