"""A SQLite result store written by the previous layout (every value in the document and the
general typed index, the hash as 64-char text) opens, keeps every result, and takes new ones."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Provenance, Result

# written by main at ff2a2c4 (`iterdump` of the file): 7 results of project "old"
DUMP = Path(__file__).with_name("data") / "main_layout.sql"
PROV = Provenance(run_id="run-main", asset_key="scan", partition_key="0", code_sha="0" * 40)


def old_results() -> list[Result]:
    """The results the dump holds, as they were written."""
    focus = [
        Result(
            model="focus",
            version="1.0",
            inputs={"k": 0.5 * i, "i": i},
            outputs={"sigma": 1.0 / (i + 1), "label": f"p{i}"},
            provenance=PROV,
            published=i != 3,
        )
        for i in range(6)
    ]
    other = Result(
        model="other",
        version="2",
        inputs={"tags": [1, 2], "p": {"q": 1.5}},
        outputs={"ok": True, "none": None},
        provenance=PROV,
    )
    return [*focus, other]


def test_a_database_of_the_previous_layout_is_read_as_it_is_and_takes_new_results(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    raw.executescript(DUMP.read_text())
    raw.close()
    store = open_result_store(f"sqlite:///{db}", project="old")
    try:
        before = old_results()
        for r in before:  # every stored result, whole, by its hash
            got = store.find_one(r.inputs_hash, include_unpublished=True)
            assert got is not None
            assert (got.model, got.inputs, got.outputs, got.published) == (
                r.model,
                r.inputs,
                r.outputs,
                r.published,
            )
            assert got.provenance.run_id == "run-main"
        assert store.count(include_unpublished=True) == 7
        assert store.count("focus", {"inputs.k": {"$gte": 1.0}}) == 3  # i = 2, 4, 5
        assert [r.inputs["i"] for r in store.find("focus", sort=[("outputs.sigma", -1)])] == [
            0,
            1,
            2,
            4,
            5,
        ]
        assert store.count(filter={"inputs.tags": 2, "inputs.p.q": 1.5}) == 1
        assert store.find_one(before[3].inputs_hash) is None  # unpublished stays hidden
        store.publish(before[3].inputs_hash)
        assert store.document_id(before[3].inputs_hash) is not None

        # new results of the same model land in a shape table beside the old rows; one
        # rewrite of an old result moves it there; queries see both kinds of row
        new = [
            Result(
                model="focus",
                version="1.0",
                inputs={"k": 10.0 + i, "i": 10 + i},
                outputs={"sigma": 0.01 * i, "label": f"n{i}"},
                provenance=PROV,
            )
            for i in range(3)
        ]
        rewritten = before[5].model_copy(update={"outputs": {"sigma": 9.0, "label": "again"}})
        assert store.put_many([*new, rewritten]) == 4
        assert store.count("focus") == 9  # 6 old (one now rewritten) + 3 new
        assert store.count("focus", {"inputs.k": {"$gte": 1.0}}) == 7
        top = store.find("focus", sort=[("outputs.sigma", -1)], limit=2)
        assert [r.outputs["label"] for r in top] == ["again", "p0"]
        assert store.find_one(rewritten.inputs_hash).outputs == {"sigma": 9.0, "label": "again"}
        assert {"inputs.k", "inputs.tags", "outputs.sigma"} <= set(store.indexed_paths())
    finally:
        store.close()
    raw = sqlite3.connect(db)
    columns = {row[1]: row[2] for row in raw.execute("PRAGMA table_info(lume_results)")}
    (rewritten_shape,) = raw.execute(
        "SELECT shape_id FROM lume_results WHERE inputs_hash = ?", (rewritten.inputs_hash,)
    ).fetchone()
    raw.close()
    assert columns["inputs_hash"] == "VARCHAR(64)"  # the old file keeps its text hashes
    assert "shape_id" in columns and rewritten_shape is not None


def test_a_new_sqlite_file_holds_hashes_as_32_bytes(tmp_path: Path) -> None:
    store = open_result_store(f"sqlite:///{tmp_path / 'new.db'}", project="p")
    r = old_results()[0]
    store.put(r)
    assert store.find_one(r.inputs_hash).inputs == r.inputs
    assert store.find("focus", {"inputs_hash": r.inputs_hash})[0].inputs_hash == r.inputs_hash
    assert store.count(filter={"inputs_hash": {"$gte": r.inputs_hash[:3]}}) == 1
    assert store.count(filter={"inputs_hash": "not-a-hash"}) == 0
    store.close()
    raw = sqlite3.connect(tmp_path / "new.db")
    (stored,) = raw.execute("SELECT inputs_hash FROM lume_results").fetchone()
    raw.close()
    assert stored == bytes.fromhex(r.inputs_hash)
