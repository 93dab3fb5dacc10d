"""The store layout: one module spells every path inside a store, and object keys read from
a store are validated before use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import navsnap
from navsnap.store import layout

H = "0123456789abcdef" * 2

PACKAGE = Path(navsnap.__file__).parent
LAYOUT = PACKAGE / "store" / "layout.py"
_FOLDERS = ("manifests", "objects", "tags", "state", "tmp", "locks")
#: Store methods whose first argument is a key: a literal there is a spelled-out path.
_KEY_METHODS = {
    "exists",
    "info",
    "read_bytes",
    "write_bytes_atomic",
    "delete",
    "list_files",
    "local_path",
    "local_copy",
    "publish_file",
    "hash_object",
    "download",
}


def test_object_keys_round_trip() -> None:
    key = layout.object_key(H, "parquet")
    assert key == f"objects/{H[:2]}/{H}.parquet"
    parsed = layout.parse_object_key(key)
    assert (parsed.digest, parsed.ext, parsed.key) == (H, "parquet", key)
    assert layout.parse_object_key(f"objects/{H[:2]}/{H}.duckdb.zst").ext == "duckdb.zst"
    assert layout.object_digest(key) == H


@pytest.mark.parametrize(
    "key",
    [
        f"objects/{H[:2]}/{H}",  # no extension
        f"objects/ff/{H}.parquet",  # fan-out folder is not the digest's prefix
        f"objects/{H[:2]}/{H.upper()}.parquet",
        f"objects/{H[:2]}/{H[:-1]}.parquet",
        f"objects/{H[:2]}/../{H}.parquet",
        f"/objects/{H[:2]}/{H}.parquet",
        f"objects/{H[:2]}/x/{H}.parquet",
        f"objects\\{H[:2]}\\{H}.parquet",
        f"manifests/{H[:2]}/{H}.parquet",
        f"objects/{H[:2]}/{H}.par/quet",
        f"objects/{H[:2]}/{H}.a b",
        f"objects/{H[:2]}/{H}..parquet",
        "objects/ab/not-a-hash.parquet",
        "",
    ],
)
def test_malformed_object_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        layout.parse_object_key(key)
    assert layout.object_digest(key) is None


def test_object_key_refuses_bad_parts() -> None:
    with pytest.raises(ValueError):
        layout.object_key("not-hex", "parquet")
    with pytest.raises(ValueError):
        layout.object_key(H, "../x")


def test_manifest_tag_and_state_keys() -> None:
    assert layout.manifest_id(layout.manifest_key("run-2025")) == "run-2025"
    assert layout.manifest_id("manifests/sub/x.json") is None
    assert layout.manifest_id("tags/x.json") is None
    assert layout.tag_name(layout.tag_key("v1.0")) == "v1.0"
    for bad in ("", "../x", "a/b", "-x", "x" * 101):
        with pytest.raises(ValueError):
            layout.tag_key(bad)
    with pytest.raises(ValueError):
        layout.state_key("../verified")
    assert layout.temp_owner_pid(layout.temp_key("probe", pid=4242).rsplit("/", 1)[1]) == 4242
    assert layout.temp_owner_pid("leftover") is None


def test_run_and_snapshot_ids() -> None:
    made = "20261127T103500Z-3f2a"
    for good in (made, "r", "nightly_2.x-7"):
        assert layout.is_run_id(good) and layout.is_snapshot_id(f"{good}-2027")
    for bad in ("", "../evil", "a/b", "q@2025", "a b", "x\ny", ".x", "x" * 101):
        assert not layout.is_run_id(bad)
    for bad in ("../../../etc/passwd", "r", "r-", "r-20270", "a/b-2027", "r-２０２７"):
        assert not layout.is_snapshot_id(bad)
    assert layout.is_made_id(made) and layout.is_made_id(f"{made}-2027")
    for other in ("release-2027", "20261127T103500Z", f"{made}x", "r-2027"):
        assert not layout.is_made_id(other)


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def spelled_paths(source: str) -> list[str]:
    """Store paths written out in ``source``: string literals (not docstrings) that start
    with a store folder or name the marker, and literal keys given to store methods."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docs:
                continue
            text = node.value
            if text.startswith(tuple(f"{f}/" for f in _FOLDERS)) or "navsnap-store.json" in text:
                found.append(text)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _KEY_METHODS
            # log.info("...") is logging, not Store.info(key)
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "log")
            and node.args
            and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))
        ):
            found.append(f"{node.func.attr}({ast.unparse(node.args[0])})")
    return found


def test_the_detector_finds_spelled_paths() -> None:
    sample = 'k = f"objects/{h}.x"\nstore.list_files("manifests")\nm = "navsnap-store.json"\n'
    assert len(spelled_paths(sample)) == 3
    assert spelled_paths('log.info("%s", k)\nstore.info("k")\n') == ["info('k')"]
    assert spelled_paths('"""A docstring about objects/ and tags/."""\nx = "objects"\n') == []


def test_no_store_path_is_spelled_outside_the_layout_module() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == LAYOUT:
            continue
        for text in spelled_paths(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE)}: {text}")
    assert offenders == [], "route these through navsnap.store.layout"


def _store_imports(path: Path) -> set[str]:
    """The ``navsnap.store`` modules ``path`` imports (at any depth of the file)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "navsnap.store":
                out.update(f"navsnap.store.{a.name}" for a in node.names)
            elif node.module.startswith("navsnap.store."):
                out.add(node.module)
    return out


def test_each_storage_layer_only_calls_the_layers_below() -> None:
    below = {
        "layout": set(),
        "backend": set(),
        "deadline": set(),
        "trust": set(),
        "local": {"layout", "backend"},
        "remote": {"backend", "deadline"},
        "cache": {"layout", "backend"},
        "repository": {"layout", "backend", "local", "remote", "cache", "trust"},
    }
    for name, allowed in below.items():
        used = {m.rsplit(".", 1)[1] for m in _store_imports(PACKAGE / "store" / f"{name}.py")}
        assert used <= allowed, f"store/{name}.py imports {sorted(used - allowed)}"


def test_callers_ask_for_capabilities_not_whether_a_store_is_local() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "is_local" in path.read_text()
    ]
    assert offenders == []
