"""The layering, kept by a test: rooms bottom to top, imports only point down (docs/architecture.md).

Read from the source with ``ast`` (no import side effects): every ``import`` statement of every module of
the package, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dd_tune"

# bottom to top; a module may import its own room and the rooms below it. Every room but the entry points
# is a folder of dd_tune (a subpackage); the entry points are the modules at the top level, and nothing else is.
ROOMS: list[tuple[str, str]] = [
    ("base", "dd_tune.base"),
    ("config", "dd_tune.config"),
    ("records", "dd_tune.records"),
    ("core", "dd_tune.core"),
    ("experts", "dd_tune.experts"),
    ("methods", "dd_tune.methods"),
    ("report", "dd_tune.report"),
    ("search", "dd_tune.search"),
    ("tune", "dd_tune.tune"),
    ("commands", "dd_tune.commands"),
    ("entry", "dd_tune"),
]
RANK = {room: i for i, (room, _) in enumerate(ROOMS)}
FOLDERS = {package: room for room, package in ROOMS if package != "dd_tune"}
# the shims of ``python -m dd_tune.<command>`` and ``dd-tune``; the package face (dd_tune/__init__.py) holds
# only the version and counts as base
ENTRY = {"dd_tune.__main__", "dd_tune.study", "dd_tune.compare", "dd_tune.distill", "dd_tune.evaluate",
         "dd_tune.results"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """The room of a module: the folder it lies in (``dd_tune.<room>``), or "entry" for the top level."""
    if module == "dd_tune":
        return "base"
    parts = module.split(".")
    if len(parts) >= 2 and ".".join(parts[:2]) in FOLDERS:
        return FOLDERS[".".join(parts[:2])]
    if module in ENTRY:
        return "entry"
    raise AssertionError(f"{module} is in no room: a module lives in a room's folder (dd_tune/<room>/), or is an "
                         f"entry shim at the top level (add it to ENTRY and docs/architecture.md)")


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, at function level, line) for every import statement of a module."""
    tree = ast.parse(path.read_text())
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in nested, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, id(node) in nested, node.lineno)]
            out += [(f"{node.module}.{a.name}", id(node) in nested, node.lineno) for a in node.names
                    if node.module.startswith("dd_tune") and (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()]
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_room():
    for module in MODULES:
        room_of(module)


def test_every_room_is_a_folder_and_the_top_level_holds_only_entry_shims():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == \
        {package.split(".")[1] for package in FOLDERS}
    for module in ENTRY:
        text = MODULES[module].read_text()
        assert len(text.splitlines()) <= 12, f"{module} is an entry shim: it parses nothing and runs nothing itself"
        assert all(n.startswith("dd_tune.commands") for n, _, _ in imports(MODULES[module]) if n.startswith("dd_tune")), \
            f"{module} imports more than the commands"
    face = [n for n, _, _ in imports(MODULES["dd_tune"])]
    assert set(face) <= {"typing", "importlib"}, \
        f"dd_tune/__init__.py imports {face}: the package face holds the version and lazy names only (import cost)"


def test_a_module_outside_the_rooms_is_caught():
    with pytest.raises(AssertionError, match="in no room"):
        room_of("dd_tune.helpers")
    assert room_of("dd_tune.core.models") == "core" and room_of("dd_tune.study") == "entry"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = RANK[room_of(module)]
    for name, _, line in imports(MODULES[module]):
        if name == "dd_tune" or name.startswith("dd_tune."):
            target = room_of(name if name in MODULES else name.rsplit(".", 1)[0])
            assert RANK[target] <= mine, (f"{module}:{line} imports {name}: room {target} lies above room "
                                          f"{room_of(module)} (imports only point down)")


def test_only_the_ray_room_imports_ray_and_only_commands_import_argparse():
    for module, path in MODULES.items():
        room = room_of(module)
        for name, _, line in imports(path):
            top = name.split(".")[0]
            if top == "ray":
                assert room in ("search", "tune"), f"{module}:{line} imports ray outside dd_tune.search / dd_tune.tune"
            if top == "optuna":
                assert room in ("search", "tune") or module == "dd_tune.report.plots", f"{module}:{line} imports optuna"
            if top in ("ray", "optuna", "matplotlib", "tensorboard", "tensorboardX"):
                assert room not in ("base", "config", "records", "core", "experts", "methods"), \
                    f"{module}:{line} imports {top}: the rooms below report work on tensors and files only"
            if top == "argparse" or name.startswith("dd_tune.commands"):
                assert room in ("commands", "entry"), f"{module}:{line} imports {name} outside the commands"


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen or m not in MODULES:
            continue
        seen.add(m)
        todo += [n for n, _, _ in imports(MODULES[m]) if n.startswith("dd_tune")]
        todo += [".".join(m.split(".")[:i]) for i in range(1, m.count(".") + 1)]  # parent packages run first
    return seen


def test_the_config_and_records_rooms_never_import_torch():
    for module in (m for m in MODULES if room_of(m) in ("config", "records")):
        for dependency in _closure(module):
            for name, _, line in imports(MODULES[dependency]):
                assert name.split(".")[0] != "torch", f"{module} imports torch through {dependency}:{line}"


def test_no_function_level_import_of_dd_tune_modules():
    for module, path in MODULES.items():
        for name, nested, line in imports(path):
            assert not (nested and name.startswith("dd_tune")), f"{module}:{line}: function-level import of {name}"


def test_small_modules_and_functions():
    for module, path in MODULES.items():
        text = path.read_text()
        assert len(text.splitlines()) <= 300, f"{module} has {len(text.splitlines())} lines (at most 300)"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, f"{module}:{node.lineno} {node.name} has {length} lines (at most 60)"


def result_key_literals(tree: ast.AST, keys: set[str]) -> list[int]:
    """Lines where one of ``keys`` is spelled as a string where a result is read or written: a subscript,
    ``.get/.pop/.setdefault`` of it, a dict-literal key, or ``"key" in ...``."""
    def is_key(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and node.value in keys

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_key(node.slice):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("get", "pop", "setdefault") and node.args and is_key(node.args[0]):
            lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(is_key(k) for k in node.keys):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and is_key(node.left) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            lines.append(node.lineno)
    return lines


def test_result_keys_and_set_names_are_named_only_in_the_keys_module():
    """A renamed result field must not leave a module reading the old name: every module spells the trial
    report's keys and the fixed rows of a test pass through dd_tune.base.keys (as Ray Tune's own result.py
    names its keys)."""
    from dd_tune.base import keys

    names = {keys.METRIC, keys.ITERATION, keys.DIVERGED, keys.REACHED_BUDGET, *(str(s) for s in keys.SetName)}
    found = [f"{module}:{line}" for module, path in MODULES.items() if module != "dd_tune.base.keys"
             for line in result_key_literals(ast.parse(path.read_text()), names)]
    assert not found, f"result keys or set names spelled as strings (use dd_tune.base.keys): {found}"


# fields of the result records that other documents also use as keys, each for its own data: the comparison
# rows of compare.json (study, method, ipc, n_trials, best_config, best_val_acc, wall_time_s, title, verdict,
# fidelity, ...), the summary dicts of records.stats (mean, std, n, ci95, runs, models, draws, draw_means,
# draw_std), the outcome document a fingerprint hashes (trial, config, chosen, test), the reproduction rows
# (reported, tuned, ...), Optuna's own attributes (number, params, values) and settings read from a config
SHARED_SPELLINGS = {"study", "method", "ipc", "n_trials", "best_config", "best_val_acc", "wall_time_s", "flops",
                    "fidelity", "confirmation", "mean", "std", "n", "ci95", "runs", "models", "draws", "draw_means",
                    "draw_std", "balanced", "lr", "trials", "timing", "progress", "dataset", "profile", "seed",
                    "final_eval", "search_space", "differences", "trial", "config", "verdict", "arch",
                    "name", "a", "b", "number", "params", "test", "images", "seconds", "type", "error", "notes",
                    "rows", "chosen", "proxy", "curves", "history", "choices", "val", "iterations",
                    "dir", "recipe", "training", "difficulty", "cpu_seconds", "gpu_seconds", "experts", "step",
                    # configuration keys (factor, epochs), a synthetic set's file (data, factor), a cache key's
                    # parts (code, data, libraries, device), an optimiser state (iteration), the catalog's and the
                    # comparison's own row columns (diff, accuracy), an expert file's kind
                    "factor", "epochs", "data", "code", "libraries", "device", "iteration", "diff", "accuracy",
                    "kind"}


def record_fields() -> set[str]:
    """Every field name of every record in dd_tune.records (the typed results and their parts)."""
    import dataclasses
    import importlib

    names: set[str] = set()
    for module in (m for m in MODULES if room_of(m) == "records"):
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module:
                names |= {f.name for f in dataclasses.fields(value)}
    return names


def test_result_fields_are_attributes_outside_the_records_room():
    """The renderers take typed records: a field of a result record is read as an attribute (mypy checks its
    name), and only dd_tune.records spells it as a string (its JSON layout). A renamed field read as
    ``row["old_name"]`` anywhere else fails here."""
    fields = record_fields()
    assert {"trials", "vs_default", "regret_proxy", "distillation_best", "in_process_s"} <= fields
    assert SHARED_SPELLINGS < fields  # nothing listed that is not a field
    checked = fields - SHARED_SPELLINGS
    found = [f"{module}:{line}" for module, path in MODULES.items() if room_of(module) != "records"
             for line in result_key_literals(ast.parse(path.read_text()), checked)]
    assert not found, f"result fields spelled as strings (read them as attributes of the typed records): {found}"


def test_the_result_key_check_sees_every_spelling():
    tree = ast.parse('r["it"]; r.get("val_acc"); {"diverged": 1}; "it" in df; tqdm(unit="it"); x = "it"')
    assert result_key_literals(tree, {"it", "val_acc", "diverged"}) == [1, 1, 1, 1]


MAX_PACKAGE_IMPORTS = 15  # a module that needs more does more than one thing


def package_imports(module: str) -> set[str]:
    """The package's modules (and room faces) a module imports: ``from dd_tune.records import A, B`` counts
    once, as ``dd_tune.records``; ``from dd_tune.base import seeds`` as ``dd_tune.base.seeds``."""
    out = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dd_tune") and not node.level:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                    for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("dd_tune")}
    return out - {module}


def test_no_module_imports_more_than_fifteen_of_the_packages_modules():
    heavy = {m: len(package_imports(m)) for m in MODULES if len(package_imports(m)) > MAX_PACKAGE_IMPORTS}
    assert not heavy, f"modules importing more than {MAX_PACKAGE_IMPORTS} of dd_tune's modules: {heavy}"


def test_the_import_count_sees_faces_and_modules():
    assert "dd_tune.records" in package_imports("dd_tune.report.study_report")
    assert len(package_imports("dd_tune.tune.runner")) >= 5
