"""Reading back what a study stored: one error naming the file for anything that is not a record, a
study finished exactly when its report.json reads back, and a copied study's records pointing into the
copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import ipc_result

from dd_tune.base.errors import StudyStateError
from dd_tune.base.printable import printable, table_cell
from dd_tune.report.stored import finished, moved_here, read_record


def test_a_record_is_a_regular_json_object(tmp_path: Path):
    good = tmp_path / "r.json"
    good.write_text('{"a": 1}')
    assert read_record(good, "fix") == {"a": 1}
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # never opened: no hang
    for path, why in ((fifo, "is not a regular file"), (tmp_path, "is not a regular file"),
                      (tmp_path / "missing.json", "cannot be read")):
        with pytest.raises(StudyStateError, match=why):
            read_record(path, "fix")
    for text, why in (('{"a": ', "JSONDecodeError"), ("[1]", "a JSON list, not an object"),
                      ("[" * 100000 + "]" * 100000, "nested too deeply")):
        good.write_text(text)
        with pytest.raises(StudyStateError, match=why):
            read_record(good, "fix")


def test_a_study_is_finished_when_its_report_reads_back(tmp_path: Path):
    assert not finished(tmp_path)
    (tmp_path / "report.json").write_text('{"study": "x", "by_ipc": {')  # half-written by an older version
    assert not finished(tmp_path)
    (tmp_path / "report.json").write_text("{}")
    assert finished(tmp_path)


def test_a_copied_studys_records_point_into_the_copy(tmp_path: Path):
    old, new = tmp_path / "old" / "dm_mnist", tmp_path / "copy" / "dm_mnist"
    (new / "best" / "progress").mkdir(parents=True)
    for name in ("best/synset.png", "best/synset.pt", "best/progress/it0000002.png"):
        (new / name).write_bytes(b"x")
    row = ipc_result(best_png=str(old / "best" / "synset.png"), best_synset=str(old / "best" / "synset.pt"),
                     progress={"2": str(old / "best" / "progress" / "it0000002.png")},
                     plots={"history": str(old / "plots" / "h.png")})
    moved = moved_here(row, new)
    assert moved.best_png == str(new / "best" / "synset.png") and moved.best_synset == str(new / "best" / "synset.pt")
    assert moved.progress["2"] == str(new / "best" / "progress" / "it0000002.png")
    assert moved.plots.history == str(old / "plots" / "h.png")  # not in the copy: left as it was


def test_text_from_elsewhere_is_shown_without_control_characters():
    assert printable("a\x1b[31mb\r\nc\x9b") == "a?[31mb??c?"
    assert table_cell("a|b\x07") == "a\\|b?"
