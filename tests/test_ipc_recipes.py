"""Reference defaults that follow the IPC (``distill_by_ipc``): PAD's own configurations differ at IPC 1 and
50 from its IPC-10 one, and a study at IPC 1 must run PAD's IPC-1 configuration as its defaults."""

from __future__ import annotations

import pytest

from dd_tune.base.errors import ConfigError
from dd_tune.config import parse_overrides
from dd_tune.methods.configs import load_study, study_at
from dd_tune.search.space import default_point, load_search_space

# PAD's configs/CIFAR-10/ConvIN/IPC1.yaml against IPC10.yaml (window halved with dd_tune's 50-epoch experts)
PAD_IPC1 = {"threshold": 1.1, "lr_y": 5.0, "lr_lr": 1e-7, "select_ratio": 0.0, "sequential_generation": False,
            "batch_syn": 0}


def _values(cfg, keys):
    return {k: getattr(cfg, k) for k in keys}


def test_pad_defaults_at_ipc_1_are_pads_ipc_1_configuration():
    # (the default profile's window range is IPC 10's and 50's: the window is left out of this search)
    study = load_study("pad_mnist", "default", parse_overrides(["ipc=[1, 10, 50]", "search.params={}",
                                                                "search.exclude=[max_start_epoch]"]))
    assert _values(study_at(study, 1).distill, PAD_IPC1) == PAD_IPC1
    assert study_at(study, 1).distill.max_start_epoch == 2  # PAD's 0-4 of 100 epochs, halved
    ten = study_at(study, 10).distill
    assert (ten.threshold, ten.lr_y, ten.lr_lr, ten.select_ratio, ten.max_start_epoch) == (1.0, 2.0, 1e-5, 0.5, 10)
    fifty = study_at(study, 50).distill
    assert (fifty.lr_img, fifty.max_start_epoch, fifty.expansion_end_epoch) == (1000.0, 20, 2000)
    # the search starts from each IPC's own defaults
    space = load_search_space(study)
    assert default_point(study, space, 1)["lr_lr"] == 1e-7 and default_point(study, space, 10)["lr_lr"] == 1e-5


def test_the_quick_profile_runs_pads_ipc_1_configuration_with_its_experts_window():
    study = load_study("pad_mnist", "quick")
    at1 = study_at(study, 1).distill
    assert _values(at1, PAD_IPC1) == {**PAD_IPC1}
    assert at1.max_start_epoch == 4 and at1.experts.epochs == 8


def test_a_set_key_wins_at_every_ipc_and_a_preset_switch_drops_the_recipes():
    study = load_study("pad_mnist", "quick", parse_overrides(["distill.lr_y=3.0"]))
    assert study_at(study, 1).distill.lr_y == 3.0 and study_at(study, 1).distill.threshold == 1.1
    mtt = load_study("pad_mnist", "quick", parse_overrides(["distill.preset=mtt"]))
    assert mtt.distill_by_ipc == {} and study_at(mtt, 1).distill.threshold is None


@pytest.mark.parametrize("entry, words", [
    ("distill_by_ipc.1.experts.epochs=10", "one per study"),
    ("distill_by_ipc.1.preset=mtt", "one per study"),
    ("distill_by_ipc.1.lr_y=-1", "lr_y"),
    ("distill_by_ipc.1.no_such_key=1", "no_such_key"),
])
def test_bad_recipes_are_refused_at_load(entry, words):
    with pytest.raises(ConfigError, match=words):
        load_study("pad_mnist", "quick", parse_overrides([entry]))


def test_a_study_without_recipes_is_the_same_at_every_ipc():
    study = load_study("dm_mnist", "quick")
    assert study.distill_by_ipc == {} and study_at(study, 1) is study
