"""The configuration room: strict YAML -> frozen dataclasses; where study files are found. Pure (no
torch): a method's own block is validated by ``dd_tune.methods.configs``."""

from dd_tune.config.files import find_file, find_study, list_names, list_studies, search_path, user_path
from dd_tune.config.resources import ResourcesConfig
from dd_tune.config.schema import FieldError, build, deep_merge, load_yaml, require, set_dotted, to_dict
from dd_tune.config.search import AshaConfig, ConfirmConfig, SearchConfig
from dd_tune.config.study import (
                                   EXPERTS_DIR,
                                   NAME_RE,
                                   NAME_RULE,
                                   REEVAL_DIR,
                                   RESERVED_NAMES,
                                   SEED_LIMIT,
                                   DataConfig,
                                   EvalConfig,
                                   ModelConfig,
                                   StudyConfig,
                                   StudyFile,
                                   apply_profile,
                                   dotted_value,
                                  get_dotted,
                                   parse_overrides,
                                   plain_name_problem,
                                   read_study,
                                   study_profiles,
)
from dd_tune.config.suite import SuiteConfig, list_suites, load_suite, suite_profiles

__all__ = [
    "EXPERTS_DIR", "NAME_RE", "NAME_RULE", "REEVAL_DIR", "RESERVED_NAMES", "SEED_LIMIT", "AshaConfig",
    "ConfirmConfig", "DataConfig", "EvalConfig", "FieldError", "ModelConfig", "ResourcesConfig", "SearchConfig",
    "StudyConfig", "StudyFile", "SuiteConfig", "apply_profile", "build", "deep_merge", "find_file", "find_study",
    "dotted_value", "get_dotted", "list_names", "list_studies", "list_suites", "load_suite", "load_yaml",
    "parse_overrides", "plain_name_problem", "read_study", "require", "search_path", "set_dotted", "study_profiles",
    "suite_profiles", "to_dict", "user_path",
]
