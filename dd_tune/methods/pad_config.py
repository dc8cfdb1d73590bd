"""PAD's configuration: the presets that choose a whole trajectory-matching method (PAD, DATM, MTT),
and the rule that pairs the matching window with the experts' data schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from dd_tune.config import deep_merge, require
from dd_tune.experts import DifficultyConfig, ExpertConfig
from dd_tune.methods.pixel import check_strategy
from dd_tune.methods.selection import SelectionConfig


def _trajectory_recipe(**changes: Any) -> dict[str, Any]:
    """Every key that makes a trajectory-matching run PAD, DATM or MTT (a preset sets all of them, so
    switching presets never leaves a value of the previous method behind). Base: PAD's CIFAR-10 IPC 10
    configuration (``configs/CIFAR-10/ConvIN/IPC10.yaml``) with PAD's expert recipe (README and
    ``buffer_CL.py``): 100-epoch experts trained with GSAM (rho 0.01, alpha 0.3, adaptive) around SGD
    (lr 0.01, no momentum), the README's data schedule over GraNd difficulty scores."""
    recipe: dict[str, Any] = {
        "syn_steps": 80, "expert_epochs": 2, "min_start_epoch": 0, "current_max_start_epoch": 10,
        "max_start_epoch": 20, "expansion_end_epoch": 1000, "sequential_generation": True,
        "lr_img": 100.0, "lr_lr": 1e-5, "lr_y": 2.0, "syn_lr_init": 0.01, "batch_syn": 500,
        "threshold": 1.0, "select_ratio": 0.5, "select_mode": "loss", "soft_labels": True, "init": "correct",
        "experts": {"epochs": 100, "optimizer": "gsam", "schedule": {"enabled": True},
                    "difficulty": {"score": "grand"}},
    }
    return deep_merge(recipe, changes)


@dataclass(frozen=True)
class PADConfig:
    """Defaults: PAD's CIFAR-10 IPC 10 config (docs/methods.md §4.4) with 100-epoch experts.

    ``preset`` selects a whole method: every key of :func:`_trajectory_recipe` takes that method's
    value, so ``--set distill.preset=mtt`` on a PAD study runs MTT (explicit ``--set`` keys still win).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "pad": _trajectory_recipe(),
        # DATM (configs/CIFAR-10/ConvIN/IPC10.yaml): PAD without parameter selection or data scheduler,
        # minibatches of 100 synthetic images; FTD's GSAM experts (buffer_FTD.py) as PAD's
        "datm": _trajectory_recipe(select_ratio=0.0, batch_syn=100, experts={"schedule": {"enabled": False}}),
        # MTT's CIFAR-10 IPC 10 command (README; its table's pixel lr is a known typo, 1000 is what runs):
        # hard labels, random real init, no parameter selection, no loss-threshold skip, a fixed start
        # window, 30 unrolled steps on the whole set, 50-epoch plain-SGD experts without a scheduler
        "mtt": _trajectory_recipe(
            syn_steps=30, current_max_start_epoch=20, sequential_generation=False, lr_img=1000.0, batch_syn=0,
            threshold=None, select_ratio=0.0, soft_labels=False, init="real",
            experts={"epochs": 50, "optimizer": "sgd", "schedule": {"enabled": False}}),
    }

    # a study's own budget survives a preset switch: `--set distill.preset=mtt` keeps its iterations
    BUDGET_KEYS: ClassVar[tuple[str, ...]] = ("iterations", "experts.num_experts")

    preset: Literal["pad", "datm", "mtt"] = "pad"
    iterations: int = 10000
    syn_steps: int = 80
    expert_epochs: int = 2
    min_start_epoch: int = 0
    current_max_start_epoch: int = 10
    max_start_epoch: int = 20
    expansion_end_epoch: int = 1000  # iterations over which the start window widens
    sequential_generation: bool = True
    lr_img: float = 100.0
    lr_lr: float = 1e-5
    lr_y: float = 2.0
    momentum_y: float = 0.9
    syn_lr_init: float = 0.01  # alpha_0 = lr_teacher
    batch_syn: int = 500  # synthetic minibatch per inner step; 0 (or >= the set) = the whole set
    threshold: float | None = 1.0  # skip the update when the matching loss exceeds it; None = never
    select_ratio: float = 0.5  # fraction of parameters dropped from the loss
    select_mode: Literal["depth", "loss"] = "loss"
    soft_labels: bool = True
    # the labels of a set that starts from noise (PAD's and DATM's released code stop with a NameError
    # there: no label source is defined for noise). real_logits: the first expert's logits of random real
    # images of each class (dd_tune's default); self_logits: the expert's logits of the noise images
    # themselves (PAD's real-init branch applied to noise); hard: class labels, not learned (as MTT)
    noise_labels: Literal["real_logits", "self_logits", "hard"] = "real_logits"
    init: Literal["correct", "real", "noise", "herding", "kcenter"] = "correct"
    dsa: bool = True
    # PAD's expert recipe, as the preset (the dataclass defaults of ExpertConfig are MTT's plain SGD)
    experts: ExpertConfig = field(default_factory=lambda: ExpertConfig(
        optimizer="gsam", difficulty=DifficultyConfig(score="grand")))
    # design-space levers, off in the reference defaults: the inner loop's DSA operations ("" = the
    # dataset's) and the embedding class-centre initialisations select in
    dsa_strategy: str = ""
    selection: SelectionConfig = field(default_factory=SelectionConfig)

    def __post_init__(self) -> None:
        require(self.iterations >= 0, "iterations", f"must be >= 0, got {self.iterations}")
        require(self.syn_steps >= 1, "syn_steps", f"must be >= 1, got {self.syn_steps}")
        require(self.expert_epochs >= 1, "expert_epochs", f"must be >= 1, got {self.expert_epochs}")
        require(0 <= self.min_start_epoch < self.max_start_epoch, "min_start_epoch",
                f"must be in [0, max_start_epoch), got {self.min_start_epoch} / {self.max_start_epoch}")
        require(self.min_start_epoch < self.current_max_start_epoch <= self.max_start_epoch or
                not self.sequential_generation, "current_max_start_epoch",
                "must lie in (min_start_epoch, max_start_epoch] with sequential_generation")
        require(self.max_start_epoch + self.expert_epochs <= self.experts.epochs, "max_start_epoch",
                f"+ expert_epochs ({self.max_start_epoch} + {self.expert_epochs}) exceeds the experts' "
                f"{self.experts.epochs} epochs")
        for name in ("lr_img", "lr_lr", "lr_y", "syn_lr_init"):
            require(getattr(self, name) > 0, name, f"must be > 0, got {getattr(self, name)}")
        require(self.threshold is None or self.threshold > 0, "threshold",
                f"must be > 0 or null (never skip), got {self.threshold}")
        require(0 <= self.momentum_y < 1, "momentum_y", "must be in [0, 1)")
        require(self.batch_syn >= 0, "batch_syn", "must be >= 0")
        require(0 <= self.select_ratio < 1, "select_ratio", f"must be in [0, 1), got {self.select_ratio}")
        check_strategy(self.dsa_strategy)


def start_window(cfg: PADConfig, iteration: int) -> tuple[int, int]:
    """[low, high) of the start epoch at ``iteration`` (DATM's difficulty-aligned window)."""
    if not cfg.sequential_generation:
        return cfg.min_start_epoch, cfg.max_start_epoch
    grow = min(1.0, iteration / max(1, cfg.expansion_end_epoch))
    high = cfg.current_max_start_epoch + (cfg.max_start_epoch - cfg.current_max_start_epoch) * grow
    return cfg.min_start_epoch, max(cfg.min_start_epoch + 1, int(high))


def window_rule(cfg: PADConfig, ipc: int) -> str | None:
    """Why the matching window contradicts the data schedule at this IPC, or None.

    PAD pairs the two (CIFAR-10 configs, 100-epoch experts, schedule add 0-20 / all to 40 / remove
    easy after 40 and 60): small sets match early segments, trained on easy data (IPC 1: start
    epochs 0-4, IPC 10: 0-20, i.e. up to ``add_end_epoch``), IPC 50 matches up to ``rm_epoch_first``
    (0-40), large sets match the segments trained without the easiest samples (IPC 500: 40-70). A
    study that shortens its experts must scale both the schedule and the window by the same factor.
    """
    s = cfg.experts.schedule
    if not s.enabled:
        return None
    if ipc <= 10 and cfg.max_start_epoch > s.add_end_epoch:
        return (f"at IPC {ipc} PAD matches start epochs up to add_end_epoch ({s.add_end_epoch}), where the "
                f"experts learn from the easiest data; max_start_epoch is {cfg.max_start_epoch}")
    if 10 < ipc <= 50 and cfg.max_start_epoch > s.rm_epoch_first:
        return (f"at IPC {ipc} PAD matches start epochs up to rm_epoch_first ({s.rm_epoch_first}); "
                f"max_start_epoch is {cfg.max_start_epoch}")
    if ipc > 50 and cfg.min_start_epoch < s.rm_epoch_first:
        return (f"at IPC {ipc} PAD matches segments trained without the easiest samples (start epochs from "
                f"rm_epoch_first = {s.rm_epoch_first}); min_start_epoch is {cfg.min_start_epoch}")
    return None


def window_phases(cfg: PADConfig) -> str:
    """Where the matched segments lie in the experts' data schedule (one line for the report)."""
    s = cfg.experts.schedule
    last = cfg.max_start_epoch - 1 + cfg.expert_epochs
    text = (f"matched segments: start epochs {cfg.min_start_epoch}-{cfg.max_start_epoch - 1}, targets up to "
            f"epoch {last} of {cfg.experts.epochs}-epoch experts")
    if not s.enabled:
        return text + " (experts trained on all data: no schedule)"
    return (text + f"; schedule: easiest {s.init_ratio:.0%} growing to all data by epoch {s.add_end_epoch}, "
            f"all data to {s.rm_epoch_first}, without the easiest {s.rm_easy_ratio_first:.0%} to "
            f"{s.rm_epoch_second}, without the easiest {s.rm_easy_ratio_second:.0%} after")
