"""Every seed of a study, derived in one place from the study seed (and the split / expert seeds).

A stream is named for what it drives; the numbers each derivation produces are the ones dd_tune has
always used, so studies reproduce across versions. The final evaluation used to seed model ``k`` of an
architecture by the *length of its name* (two architectures with names of equal length would have
shared seeds); each architecture now has a registered code (``ARCH_CODES``), distinct by construction,
equal to the old value for ConvNet and LeNet so their results do not move.
"""

from __future__ import annotations

import torch

_MOD = 2**63 - 1
# trial streams: (study seed, trial index) -> generator of one concern of the trial
TRIAL_DISTILL, TRIAL_PROXY_EVAL, FINAL_EVAL = 0, 1, 3
# the confirmation of the top trials on the validation split and the evaluation-lr choice: their own
# models (not the test pass's), paired across the sets they compare
CONFIRM_EVAL, LR_SELECT = 4, 5
# the search's sampler, reseeded per trial (search.deterministic): a suggestion is a function of its number
SAMPLER = 6
# trial index of random-real draw d (d = 0, 1, ...): draw 0 is the single draw of earlier reports
RANDOM_REAL_INDEX = 10_000
FULL_DATA_INDEX = 20_000  # model k of the full-data reference is trial FULL_DATA_INDEX + k
SELECTION_INDEX = 30_000  # class-centre initialisation (herding / k-centre): one selection per study
# final evaluation: model k of an architecture is trial 1000 * k + its code (codes must stay distinct)
ARCH_CODES = {"convnet": 7, "lenet": 5}
assert len(set(ARCH_CODES.values())) == len(ARCH_CODES), "architecture seed codes must be distinct"


def trial_seed(study_seed: int, trial_index: int, stream: int) -> int:
    """Seed of one stream of one trial: (study seed, trial, stream) -> 63-bit int."""
    return (study_seed * 1_000_003 + trial_index * 7919 + stream * 104_729) % _MOD


def final_eval_seed(study_seed: int, arch: str, model: int, stream: int = FINAL_EVAL) -> int:
    """Model ``model`` of ``arch`` in the final evaluation (or, with ``stream``, the confirmation or the
    evaluation-lr choice): the same for every set (paired rows)."""
    if arch not in ARCH_CODES:
        raise KeyError(f"no seed code for architecture {arch!r}; add one to dd_tune.base.seeds.ARCH_CODES")
    return trial_seed(study_seed, 1000 * model + ARCH_CODES[arch], stream)


def sampler_seed(study_seed: int, trial_number: int) -> int:
    """TPE's random state for the suggestion of trial ``trial_number`` (numpy takes 32-bit seeds)."""
    return trial_seed(study_seed, trial_number, SAMPLER) % 2**32


def selection_seed(study_seed: int) -> int:
    """The candidate pool and embedding network of a class-centre initialisation (shared by all trials)."""
    return trial_seed(study_seed, SELECTION_INDEX, TRIAL_DISTILL)


def full_data_seed(study_seed: int, model: int) -> int:
    """Model ``model`` of the full-training-set reference (a suite's ``full_data``)."""
    return trial_seed(study_seed, FULL_DATA_INDEX + model, FINAL_EVAL)


def random_real_index(draw: int) -> int:
    return RANDOM_REAL_INDEX + draw


def expert_seed(experts_seed: int, index: int) -> int:
    """Expert ``index`` of a pool (experts are shared across studies: their own seed)."""
    return experts_seed * 1_000_003 + 7919 * (index + 1)


def scores_seed(experts_seed: int) -> int:
    """The difficulty-scoring networks of a pool's data schedule."""
    return experts_seed * 1_000_003 + 17


def subset_seed(split_seed: int) -> int:
    """The per-class training subset of ``data.max_train_per_class``."""
    return split_seed + 1


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)
