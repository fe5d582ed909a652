"""Files as a user may send them (docs/data.md, "Files as a user sends them"): links, odd files,
encodings, separators, headers. Each is accepted as documented or refused with one located problem.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from allocation.data.io import load_world, write_world
from allocation.domain import DataValidationError
from tests.allocation.worldfactory import make_world


def _folder(tmp_path: Path, fmt: str = "csv") -> Path:
    folder = tmp_path / "data"
    write_world(make_world(), folder, fmt=fmt)
    return folder


def _problems(folder: Path) -> list[str]:
    with pytest.raises(DataValidationError) as caught:
        load_world(folder)
    return [str(p) for p in caught.value.problems]


def _only(folder: Path, location: str, fragment: str) -> None:
    problems = _problems(folder)
    assert len(problems) == 1, problems
    assert problems[0].startswith(location + " ") and fragment in problems[0], problems


# --- links and things that are not files -------------------------------------------------------


def test_a_link_to_a_file_outside_the_folder_is_not_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    outside = tmp_path / "elsewhere.csv"
    shutil.move(folder / "units.csv", outside)  # a perfectly good table, but not in the folder
    (folder / "units.csv").symlink_to(outside)

    _only(folder, "units.csv:::", "is a link to a place outside the data folder (not read)")


def test_a_link_inside_the_folder_is_followed(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "archive").mkdir()
    shutil.move(folder / "units.csv", folder / "archive" / "units-v2.csv")
    (folder / "units.csv").symlink_to(Path("archive") / "units-v2.csv")

    assert len(load_world(folder).units) == 6


def test_links_out_of_the_folder_for_meta_and_holdout(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    shutil.move(folder / "meta.json", tmp_path / "meta.json")
    (folder / "meta.json").symlink_to(tmp_path / "meta.json")
    shutil.move(folder / "holdout", tmp_path / "holdout")
    (folder / "holdout").symlink_to(tmp_path / "holdout", target_is_directory=True)

    located = [p.split(" ")[0] for p in _problems(folder)]

    assert located == ["meta.json:::", "holdout/:::"]


def test_a_link_to_a_secret_is_never_quoted(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    (folder / "skus.csv").unlink()
    (folder / "skus.csv").symlink_to(secret)

    problems = _problems(folder)

    assert not any("hunter2" in p for p in problems)
    assert problems == ["skus.csv::: is a link to a place outside the data folder (not read)"]


def test_a_dangling_link(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "sites.csv").unlink()
    (folder / "sites.csv").symlink_to(folder / "nowhere.csv")

    _only(folder, "sites.csv:::", "is a link to nothing")


def test_a_folder_or_a_pipe_in_a_files_place(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "sites.csv").unlink()
    (folder / "sites.csv").mkdir()
    (folder / "lanes.csv").unlink()
    os.mkfifo(folder / "lanes.csv")  # reading it would wait forever

    located = sorted(p for p in _problems(folder))

    assert located == ["lanes.csv::: is not a regular file", "sites.csv::: is not a regular file"]


def test_holdout_that_is_a_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    shutil.rmtree(folder / "holdout")
    (folder / "holdout").write_text("see the attached spreadsheet")

    _only(folder, "holdout/:::", "must be a folder")


# --- encodings, separators, headers ------------------------------------------------------------


def test_byte_order_marks_are_fine(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for name in ("units.csv", "meta.json"):
        (folder / name).write_bytes(b"\xef\xbb\xbf" + (folder / name).read_bytes())

    assert len(load_world(folder).units) == 6


def test_windows_line_ends_and_quoted_cells_are_fine(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    frame = pd.read_csv(folder / "units.csv", dtype=str, keep_default_na=False)
    frame.to_csv(folder / "units.csv", index=False, quoting=1, lineterminator="\r\n")

    assert load_world(folder).units["rental_id"].isna().sum() == 3


def test_latin1_text(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    text = (folder / "sites.csv").read_text().replace("Newark", "Neuchâtel")
    (folder / "sites.csv").write_bytes(text.encode("latin-1"))

    _only(folder, "sites.csv:::", "not UTF-8 text (the first bad byte is on line 3); save it as UTF-8")


def test_utf16_text(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "sites.csv").write_bytes((folder / "sites.csv").read_text().encode("utf-16"))

    _only(folder, "sites.csv:::", "UTF-16")


@pytest.mark.parametrize(("sep", "shown"), [(";", "';'"), ("\t", "a tab"), ("|", "'|'")])
def test_another_separator(tmp_path: Path, sep: str, shown: str) -> None:
    folder = _folder(tmp_path)
    frame = pd.read_csv(folder / "skus.csv", dtype=str, keep_default_na=False)
    frame.to_csv(folder / "skus.csv", index=False, sep=sep)

    _only(folder, "skus.csv:::", f"columns are separated by {shown}")


def test_a_column_named_twice(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    lines = (folder / "sites.csv").read_text().splitlines()
    (folder / "sites.csv").write_text("\n".join(f"{line},{line.split(',')[0]}" for line in lines) + "\n")

    _only(folder, "sites.csv::site_id:", "appears more than once in the header")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_empty_file(tmp_path: Path, fmt: str) -> None:
    folder = _folder(tmp_path, fmt)
    (folder / f"customers.{fmt}").write_bytes(b"")

    _only(folder, f"customers.{fmt}:::", "cannot read")


def test_a_truncated_parquet_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "parquet")
    data = (folder / "rentals.parquet").read_bytes()
    (folder / "rentals.parquet").write_bytes(data[: len(data) // 2])

    _only(folder, "rentals.parquet:::", "not a Parquet file, or a damaged one")


def test_junk_files_are_ignored(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "notes.txt").write_text("call the cleaner on Monday")
    (folder / "units.csv.bak").write_bytes(b"\x00\xff garbage")
    (folder / "old").mkdir()
    (folder / "old" / "units.csv").write_text("not,a,table\n")
    (folder / "holdout" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")

    assert len(load_world(folder).units) == 6


# --- found by tests/allocation/test_load_fuzz.py ----------------------------------------------------


def test_a_header_that_is_not_utf8(tmp_path: Path) -> None:
    # Formerly a UnicodeDecodeError traceback: Arrow decodes column names only when asked.
    folder = _folder(tmp_path)
    (folder / "sites.csv").write_bytes(b"\x80" + (folder / "sites.csv").read_bytes())

    _only(folder, "sites.csv:::", "not UTF-8 text (the first bad byte is on line 1)")


def test_parquet_text_that_is_not_utf8(tmp_path: Path) -> None:
    # Formerly a traceback in a later rule: Parquet text is not checked for UTF-8 when read.
    folder = _folder(tmp_path, "parquet")
    names = pa.array([b"Brooklyn", b"New\x80ark"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"site_id": ["S1", "S2"], "name": names}), folder / "sites.parquet")

    _only(folder, "sites.parquet:::", "the column 'name' holds text that is not UTF-8")


def test_a_parquet_column_named_twice(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "parquet")
    table = pq.read_table(folder / "sites.parquet")
    pq.write_table(table.append_column("site_id", table["site_id"]), folder / "sites.parquet")

    _only(folder, "sites.parquet::site_id:", "appears more than once in the header")


def test_stale_pandas_metadata_does_not_turn_numbers_into_text(tmp_path: Path) -> None:
    # pandas metadata said "text" for a column that now holds numbers: the numbers are what counts.
    # Formerly also a traceback, once no lane was usable (a lookup into an empty table).
    folder = _folder(tmp_path, "parquet")
    table = pq.read_table(folder / "lanes.parquet")
    kind = table.schema.get_field_index("kind")
    pq.write_table(table.set_column(kind, "kind", pa.array([1.5] * table.num_rows)), folder / "lanes.parquet")

    problems = _problems(folder)

    assert problems[0] == "lanes.parquet::kind: expected text, found decimal number values"
    assert not any("could not be checked" in p for p in problems)


def test_hexadecimal_is_not_a_whole_number(tmp_path: Path) -> None:
    # Formerly accepted: Arrow reads "0x10" as 16.
    folder = _folder(tmp_path)
    frame = pd.read_csv(folder / "units.csv", dtype=str, keep_default_na=False)
    frame.loc[1, "wear_count"] = "0x10"
    frame.to_csv(folder / "units.csv", index=False)

    _only(folder, "units.csv:2:wear_count:", "cannot read '0x10' as a whole number")
