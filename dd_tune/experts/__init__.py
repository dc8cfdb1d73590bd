"""PAD's expert machinery: difficulty scores, the data schedule, expert trajectories and their cache."""

from dd_tune.experts.difficulty import DifficultyConfig, difficulty_scores, easy_to_hard, sample_scores
from dd_tune.experts.schedule import ScheduleConfig, epoch_indices, keep_range
from dd_tune.experts.trajectories import (
                                          ExpertCache,
                                          ExpertConfig,
                                          ExpertStore,
                                          describe_experts,
                                          expert_flops,
                                          expert_key,
                                          flat_params,
                                          train_expert,
)

__all__ = ["DifficultyConfig", "ExpertCache", "ExpertConfig", "ExpertStore", "ScheduleConfig", "describe_experts",
           "difficulty_scores", "easy_to_hard", "epoch_indices", "expert_flops", "expert_key", "flat_params",
           "keep_range", "sample_scores", "train_expert"]
