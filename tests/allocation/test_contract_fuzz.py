"""Property tests, continued from ``test_load_fuzz.py`` (its harness): a broken meta.json is refused
where it is broken, a change that breaks nothing is accepted, and arbitrary damage to any file is a
located problem or harmless, never a traceback or a hang.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.allocation.test_load_fuzz import (
    ALL_SCHEMAS,
    BASE,
    DEPTH,
    FACTORY,
    FUZZ,
    TABLE_KEYS,
    Scratch,
    _row,
    bases,
    outcome,
    refused_at,
    scratch,
)

__all__ = ["bases"]  # the fixture, imported for pytest

# --- meta.json -----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
BAD_PLAN_DATES = st.sampled_from(
    [20260601, "20260601", "2026-06", "2026-02-30", "01/06/2026", True, None, [2026, 6, 1]]
)
BAD_HORIZONS = st.sampled_from(["21", 21.5, 21.0, True, 0, -1, 121, 10**30, None, float("inf")])


@FUZZ
@given(data=st.data(), base=FACTORY, field=st.sampled_from(["plan_date", "horizon_days", "whole"]))
def test_a_broken_meta_json_is_refused(
    bases: dict[tuple[str, str], Path], data: st.DataObject, base: tuple[str, str], field: str
) -> None:
    with scratch(bases, *base) as s:
        path = s.folder / "meta.json"
        meta = json.loads(path.read_text())
        if field == "whole":
            text = data.draw(st.sampled_from(["[1, 2]", '"2026-06-01"', "21", "null", "", "{", "\x00\xff", "{}"]))
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            refused_at(outcome(s.folder), "meta.json")
            return
        bad = data.draw(BAD_PLAN_DATES if field == "plan_date" else BAD_HORIZONS, label="value")
        if data.draw(st.booleans(), label="drop"):
            del meta[field]
        else:
            meta[field] = bad
        path.write_text(json.dumps(meta))
        refused_at(outcome(s.folder), "meta.json", field)


# --- mutations that break nothing: accepted --------------------------------------------------------

CELL_CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters="\r")
CONTRACT_NAMES = {name for schema in ALL_SCHEMAS.values() for name in schema.columns}
EXTRA_NAME = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=10).filter(
    lambda n: n.strip() == n and n not in CONTRACT_NAMES and not n.startswith("__index_level_")
)


def _rewrite_parquet(s: Scratch, table: str, data: st.DataObject) -> None:
    """The same values in another Parquet encoding: narrower or unsigned ints, date32, dictionaries,
    tiny row groups, columns in another order."""
    arrow = pq.read_table(s.file(table)).replace_schema_metadata(None)
    columns = []
    for field in arrow.schema:
        values = arrow[field.name]
        how = data.draw(st.sampled_from(["keep", "narrow", "dictionary"]), label=f"{table}.{field.name}")
        if how == "narrow" and pa.types.is_integer(field.type):
            lowest = pc.min(values).as_py()
            values = values.cast(pa.uint32() if lowest is not None and lowest >= 0 else pa.int32())
        elif how == "narrow" and pa.types.is_timestamp(field.type):
            values = values.cast(pa.date32())
        elif how == "dictionary" and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            values = values.dictionary_encode()
        columns.append(values)
    order = data.draw(st.permutations(range(len(columns))), label="order")
    rebuilt = pa.table([columns[i] for i in order], names=[arrow.schema.names[i] for i in order])
    pq.write_table(rebuilt, s.file(table), row_group_size=data.draw(st.sampled_from([1, 2, 1000]), label="groups"))


def harmless(s: Scratch, data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    how = data.draw(st.sampled_from(["junk", "extra_column", "shuffle", "encoding", "link_inside", "no_holdout"]))
    if how == "junk":
        name = data.draw(st.sampled_from(["notes.txt", "units.xlsx", ".DS_Store", "holdout/README", "old/units.csv"]))
        (s.folder / name).parent.mkdir(exist_ok=True)
        (s.folder / name).write_bytes(data.draw(st.binary(max_size=64), label="junk"))
    elif how == "extra_column":
        frame = s.read(table)
        # No bare carriage return: pandas writes it unquoted, and then it ends a line for any reader.
        frame[data.draw(EXTRA_NAME, label="name")] = data.draw(st.text(CELL_CHARACTERS, max_size=8), label="value")
        s.write(table, frame)
    elif how == "shuffle" and s.fmt == "csv":
        frame = s.read(table)
        s.write(table, frame[list(data.draw(st.permutations(list(frame.columns)), label="order"))])
    elif how == "shuffle":
        _rewrite_parquet(s, table, data)
    elif how == "encoding" and s.fmt == "csv":  # a byte-order mark, Windows line ends, every cell quoted
        frame = s.read(table)
        frame.to_csv(s.file(table), index=False, quoting=1, lineterminator="\r\n", encoding="utf-8-sig")
    elif how == "link_inside":
        (s.folder / "archive").mkdir()
        shutil.move(s.file(table), s.folder / "archive" / s.file(table).name)
        s.file(table).symlink_to(s.folder / "archive" / s.file(table).name)
    elif how == "no_holdout":
        shutil.rmtree(s.folder / "holdout")


@settings(FUZZ, max_examples=25 * DEPTH)
@given(data=st.data(), base=BASE)
def test_a_harmless_change_is_accepted(
    bases: dict[tuple[str, str], Path], data: st.DataObject, base: tuple[str, str]
) -> None:
    with scratch(bases, *base) as s:
        harmless(s, data)
        problems = outcome(s.folder)
        assert problems is None, [str(p) for p in problems]


# --- arbitrary damage: anything may happen, except a traceback or a hang --------------------------


def damage(s: Scratch, data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    path = s.file(table)
    how = data.draw(st.sampled_from(["cell", "bytes", "append", "meta"]), label="how")
    if how == "cell" and s.fmt == "csv":
        frame = s.read(table)
        column = data.draw(st.sampled_from(list(frame.columns)), label="column")
        frame.loc[_row(data, frame), column] = data.draw(st.text(max_size=12), label="text")
        s.write(table, frame)
    elif how in ("cell", "bytes"):
        raw = bytearray(path.read_bytes())
        start = data.draw(st.integers(0, len(raw) - 1), label="at")
        junk = data.draw(st.binary(min_size=1, max_size=16), label="junk")
        raw[start : start + len(junk)] = junk
        path.write_bytes(bytes(raw))
    elif how == "append":
        with path.open("ab") as handle:
            handle.write(data.draw(st.binary(max_size=32), label="tail"))
    else:
        (s.folder / "meta.json").write_text(json.dumps(data.draw(JSON, label="meta")))


@settings(FUZZ, max_examples=30 * DEPTH)
@given(data=st.data(), base=BASE)
def test_arbitrary_damage_is_a_located_problem_or_harmless(
    bases: dict[tuple[str, str], Path], data: st.DataObject, base: tuple[str, str]
) -> None:
    with scratch(bases, *base) as s:
        damage(s, data)
        outcome(s.folder)  # asserts: no traceback, no hang, every problem located
