"""The records room: the one parser and printer of set names, and the typed records' JSON layout."""

from __future__ import annotations

import pytest

from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL, START
from dd_tune.records.set_id import SetId, is_random_real


@pytest.mark.parametrize("name, factor, draw", [("random_real", 1, None), ("random_real_draw3", 1, 3),
                                                ("random_real_x2", 2, None), ("random_real_x2_draw1", 2, 1),
                                                ("random_real_x12_draw10", 12, 10)])
def test_a_random_real_name_parses_into_factor_and_draw_and_prints_back(name, factor, draw):
    set_id = SetId.parse(name)
    assert (set_id.name, set_id.factor, set_id.draw) == (RANDOM_REAL, factor, draw)
    assert str(set_id) == name and SetId.random_real(factor, draw) == set_id
    assert set_id.is_random_real and set_id.is_draw == (draw is not None)
    assert str(set_id.pooled) == name.split("_draw")[0]


@pytest.mark.parametrize("name", [str(BEST), str(DEFAULT), str(START), "t03", "best_hard_lr0.01", "best_init_noise",
                                  "random_real_x1", "random_real_draw0", "random_real_x2_drawn", "random_reality",
                                  "my_random_real_draw1"])
def test_every_other_name_stays_whole(name):
    set_id = SetId.parse(name)
    assert str(set_id) == name and not set_id.is_random_real and not set_id.is_draw and set_id.pooled == set_id
    assert not is_random_real(name)


def test_impossible_random_real_names_are_refused():
    for factor, draw in ((0, None), (2, 0), (-1, 1)):
        with pytest.raises(ValueError, match="factor >= 1 and draw >= 1"):
            SetId.random_real(factor, draw)
