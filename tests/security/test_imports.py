"""An import whose rows repeat an external id with other content is refused row by row."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_world import World

from labelloop.errors import ImportValidationError
from labelloop.services.project import Project


def test_repeated_external_ids_are_bad_rows(world: World, tmp_path: Path) -> None:
    f = tmp_path / "rows.csv"
    f.write_text("id,text\nx1,first text\nx2,second\nx1,another text\nx2,second\n",
                 encoding="utf-8")
    project = Project(world.store, world.a, world.media)
    before = world.store.count_items(world.a.id)
    with pytest.raises(ImportValidationError) as err:
        project.import_file(f)
    assert [p.problem for p in err.value.report.problems] == [
        "row 3: external id 'x1' repeats row 1 with other content"]
    assert world.store.count_items(world.a.id) == before  # all or nothing
    f.write_text("id,text\nx1,first text\nx1,first text\n", encoding="utf-8")
    assert project.import_file(f).added >= 1  # a row repeated word for word is no conflict
