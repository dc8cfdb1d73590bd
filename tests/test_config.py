from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dd_tune.base.errors import ConfigError
from dd_tune.config import StudyConfig, find_study, list_studies, parse_overrides
from dd_tune.config.schema import load_yaml
from dd_tune.config.study import load_study_file
from dd_tune.methods.configs import load_study
from dd_tune.search.space import default_point, load_search_space


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


BASE = """
method: dm
dataset: mnist
ipc: [1]
distill: {iterations: 10, lr_img: 1.0, batch_real: 16}
search: {space: dm, params: {iterations: {type: int, low: 5, high: 20}, batch_real: {type: categorical, choices: [16, 32]}}}
"""


def test_shipped_studies_load_with_every_profile():
    for name in list_studies():
        raw = load_yaml(find_study(name))
        for profile in ["default", *raw.get("profiles", {})]:
            study = load_study(name, profile)
            assert isinstance(study, StudyConfig)
            space = load_search_space(study)
            for ipc in study.ipc:
                point = default_point(study, space, ipc)
                assert set(point) == set(space)


def test_profile_and_overrides_merge():
    study = load_study("dm_mnist", "quick", parse_overrides(["distill.lr_img=2.5", "search.num_samples=7"]))
    assert study.profile == "quick"
    assert study.ipc == (1,)
    assert study.distill.lr_img == 2.5
    assert study.search.num_samples == 7
    assert study.search.params["iterations"]["high"] == 100


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("distill.lr_img=-1", "'distill.lr_img' must be > 0"),
        ("ipc=[0]", "'ipc' images per class must be >= 1"),
        ("distill.lr=1", "unknown key 'distill.lr' (did you mean 'distill.lr_img'?); valid keys: ["),
        ("bogus=1", "unknown key 'bogus'"),
        ("distill.init=zeros", "'distill.init' must be one of ['real', 'noise', 'herding', 'kcenter']"),
        ("distill.iterations=ten", "'distill.iterations' must be int"),
        ("model.norm=layer", "'model.norm' must be one of ['instance', 'batch', 'none']"),
        ("method=dmx", "unknown method 'dmx' (did you mean 'dm'?); choose from ['datadam', 'dm', 'pad', 'random_real']"),
        ("resources.gpu=-1", "'resources.gpu'"),
    ],
)
def test_bad_values_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as e:
        load_study("dm_mnist", "default", parse_overrides([override]))
    assert fragment in str(e.value)
    assert "dm_mnist.yaml" in str(e.value) or "unknown method" in str(e.value)


def test_unknown_study_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown study 'nope'; choose from \[.*'dm_mnist'"):
        load_study("nope")


def test_unknown_profile_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown profile 'fast'; choose from \['default', .*'quick'"):
        load_study("dm_mnist", "fast")


def test_duplicate_keys_are_refused(tmp_path):
    p = write(tmp_path, BASE + "seed: 1\nseed: 2\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'seed' \(line"):
        load_study(str(p))


def test_bool_is_not_an_int(tmp_path):
    p = write(tmp_path, BASE + "seed: true\n")
    with pytest.raises(ConfigError, match="'seed' must be int"):
        load_study(str(p))


def test_set_needs_key_value():
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["distill.lr_img"])


def test_search_space_key_must_be_a_method_field(tmp_path):
    p = write(tmp_path, BASE.replace("batch_real: {type", "lr_net: {type"))
    with pytest.raises(ConfigError, match=r"unknown search key 'lr_net' for method 'dm'; choose from \["):
        load_search_space(load_study(str(p)))


def test_search_space_values_are_validated(tmp_path):
    p = write(tmp_path, BASE.replace("choices: [16, 32]", "choices: [16, -4]"))
    with pytest.raises(ConfigError, match="search space value -4 for 'batch_real' is invalid"):
        load_search_space(load_study(str(p)))


def test_search_space_bounds_must_be_ordered(tmp_path):
    p = write(tmp_path, BASE.replace("low: 5, high: 20", "low: 20, high: 5"))
    with pytest.raises(ConfigError, match="must be < high"):
        load_search_space(load_study(str(p)))


def test_default_outside_space_is_an_error(tmp_path):
    p = write(tmp_path, BASE.replace("iterations: 10,", "iterations: 50,"))
    study = load_study(str(p))
    with pytest.raises(ConfigError, match="default iterations=50 lies outside the search space"):
        default_point(study, load_search_space(study), 1)


def test_exclude_removes_a_key_and_checks_it(tmp_path):
    p = write(tmp_path, BASE.replace("search: {space: dm,", "search: {space: dm, exclude: [init],"))
    assert "init" not in load_search_space(load_study(str(p)))
    p = write(tmp_path, BASE.replace("search: {space: dm,", "search: {space: dm, exclude: [nope],"))
    with pytest.raises(ConfigError, match="'nope' is not in the search space"):
        load_search_space(load_study(str(p)))


def test_named_points_are_validated_like_the_distill_block(tmp_path):
    p = write(tmp_path, BASE + "named_points: {bad: {lr_img: -1}}\n")
    with pytest.raises(ConfigError, match=r"named_points.bad.*'distill.lr_img' must be > 0"):
        load_study(str(p))
    p = write(tmp_path, BASE + "named_points: {default: {lr_img: 2}}\n")
    with pytest.raises(ConfigError, match="not be called best, default or random_real"):
        load_study(str(p))
    study = load_study("datadam_mnist", "quick")
    assert study.named_points["seed_report_noise"]["init"] == "noise"


def test_set_dotted_replaces_the_leaf_and_keeps_siblings():
    from dd_tune.config.schema import set_dotted

    data = {"a": {"b": {"x": 1, "y": 2}, "c": 3}, "named_points": {"p": {"lr_img": 1}}}
    out = set_dotted(data, "a.b.x", 5, "t")
    assert out == {"a": {"b": {"x": 5, "y": 2}, "c": 3}, "named_points": {"p": {"lr_img": 1}}}
    assert set_dotted(data, "named_points", {}, "t")["named_points"] == {}  # emptied, not merged
    assert set_dotted(data, "new.key", [1], "t")["new"] == {"key": [1]}
    assert data["a"]["b"]["x"] == 1 and data["named_points"]  # the input is not modified


def _every_study_profile():
    for name in list_studies():
        for profile in ["default", *load_study_file(find_study(name)).get("profiles", {})]:
            yield name, profile, load_study(name, profile)


# What the seed report ran, per named point: the keys that define its setting (a profile may shrink only
# the budget: iterations and batch sizes). DM: the released code's lr_img 1 from noise, IPC 10; DataDAM: the
# released code (p 1, batch norm, x100) with lr_img 0.1; PAD: its defaults from noise or from correctly
# classified real images.
_DATADAM_CODE = {"preset": "code", "power": 1, "net_norm": "batch", "loss_scale": 100.0, "lr_img": 0.1,
                 "lambda_mmd": 0.01}
SEED_REPORT = {
    ("dm", "seed_report_0"): ({"init": "noise", "lr_img": 1.0, "iterations": 0}, {"batch_real": 256}),
    ("dm", "seed_report_500"): ({"init": "noise", "lr_img": 1.0}, {"iterations": 500, "batch_real": 256}),
    ("dm", "seed_report_1000"): ({"init": "noise", "lr_img": 1.0}, {"iterations": 1000, "batch_real": 256}),
    ("datadam", "seed_report_real"): ({**_DATADAM_CODE, "init": "real"}, {"iterations": 10, "batch_real": 256}),
    ("datadam", "seed_report_noise"): ({**_DATADAM_CODE, "init": "noise"}, {"iterations": 10, "batch_real": 256}),
    ("pad", "seed_report_noise"): ({"preset": "pad", "init": "noise"}, {"iterations": 1000}),
    ("pad", "seed_report_correct"): ({"preset": "pad", "init": "correct"}, {"iterations": 1000}),
}


def test_named_points_claiming_the_seed_report_run_its_setting():
    from dd_tune.methods.configs import with_method_values

    checked = set()
    for name, profile, study in _every_study_profile():
        for point, values in study.named_points.items():
            if not point.startswith("seed_report"):
                continue
            assert (study.method, point) in SEED_REPORT, (name, point)
            setting, budget = SEED_REPORT[study.method, point]
            cfg = with_method_values(study, values, point)
            expected = {**setting, **(budget if profile == "default" else {})}
            assert {k: getattr(cfg, k) for k in expected} == expected, (name, profile, point)
            checked.add((study.method, point))
    assert checked == set(SEED_REPORT)


def test_noise_studies_fix_the_init_to_noise_in_every_profile():
    """A noise-only search never samples another init, at its default point or in its space."""
    noise = [(n, p, s) for n, p, s in _every_study_profile() if n.endswith("_noise")]
    assert {n for n, _, _ in noise} >= {"dm_mnist_noise", "datadam_mnist_noise", "pad_mnist_noise"}
    for name, profile, study in noise:
        assert study.distill.init == "noise", (name, profile)
        assert "init" not in load_search_space(study), (name, profile)


def test_datadam_defaults_are_the_released_code_and_every_space_covers_its_step():
    """The default row is what the authors ran; lr_img x loss_scale (the effective step) of every search
    space reaches both the released code's 100 and the paper's 1."""
    for name, profile, study in _every_study_profile():
        if study.method != "datadam":
            continue
        d = study.distill
        assert (d.preset, d.power, d.net_norm, d.loss_scale, d.lr_img, d.lambda_mmd) == \
            ("code", 1, "batch", 100.0, 1.0, 0.01), (name, profile)
        lr = load_search_space(study)["lr_img"]
        assert lr.low * d.loss_scale <= 1.0 and lr.high * d.loss_scale >= 100.0, (name, profile)


def test_default_profiles_evaluate_enough_models_and_random_real_draws():
    for name, profile, study in _every_study_profile():
        if profile == "default":
            assert study.final_eval.models >= 5 and study.final_eval.random_real_draws >= 5, name
        elif profile == "quick":
            assert study.final_eval.random_real_draws >= 3, name


def test_set_distill_block_is_refused_with_a_hint():
    with pytest.raises(ConfigError, match="set single keys of the method's config"):
        load_study("dm_mnist", "default", [("distill", 5)])


def test_a_named_point_may_switch_the_preset(tmp_path):
    path = write(tmp_path, """
        method: datadam
        dataset: mnist
        ipc: [1]
        distill: {preset: paper, iterations: 10}
        search: {space: datadam, params: {iterations: {type: int, low: 5, high: 20}, lr_img: {type: float, low: 0.5, high: 2.0}}}
        named_points: {code: {preset: code, lr_img: 0.5}}
    """)
    from dd_tune.methods.configs import with_method_values

    study = load_study(str(path))
    assert (study.distill.power, study.distill.loss_scale, study.distill.iterations) == (4, 1.0, 10)
    code = with_method_values(study, study.named_points["code"], "code")
    # the preset's keys replace the paper's, the study's budget (iterations) stays, the point's keys win
    assert (code.power, code.loss_scale, code.net_norm, code.iterations, code.lr_img) == (1, 100.0, "batch", 10, 0.5)


def test_extends_merges_the_parent_and_replaces_points_and_param_specs(tmp_path):
    write(tmp_path, BASE + """
named_points: {a: {iterations: 5}}
profiles:
  quick: {distill: {iterations: 8}, search: {params: {iterations: {type: int, low: 5, high: 20}}}}
""", name="parent.yaml")
    child = write(tmp_path, """
extends: parent.yaml
distill: {init: noise}
search: {exclude: [init], params: {iterations: {type: categorical, choices: [5, 10]}}}
named_points: {b: {iterations: 6}}
profiles:
  quick: {search: {params: {iterations: {type: categorical, choices: [8]}}}}
""", name="child.yaml")
    study = load_study(str(child))
    assert study.name == "child" and study.method == "dm" and study.distill.batch_real == 16
    assert study.distill.init == "noise" and study.search.exclude == ("init",)
    assert study.search.params["iterations"] == {"type": "categorical", "choices": [5, 10]}  # no low/high left
    assert study.search.params["batch_real"]["choices"] == [16, 32]  # inherited
    assert study.named_points == {"b": {"iterations": 6}}  # replaced, not merged
    quick = load_study(str(child), "quick")
    assert quick.distill.iterations == 8 and quick.search.params["iterations"]["choices"] == [8]


def test_extends_refuses_cycles_and_unknown_parents(tmp_path):
    write(tmp_path, "extends: b.yaml\n" + BASE, name="a.yaml")
    b = write(tmp_path, "extends: a.yaml\n" + BASE, name="b.yaml")
    with pytest.raises(ConfigError, match="cycle"):
        load_study(str(b))
    c = write(tmp_path, "extends: no_such_study\n" + BASE, name="c.yaml")
    with pytest.raises(ConfigError, match="unknown study 'no_such_study'"):
        load_study(str(c))


def _bomb(levels: int = 9) -> str:
    lines, prev = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]'], "a"
    for name in "bcdefghijk"[:levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("content, fragment", [
    (_bomb(), "expands to more than 100000 values through its aliases"),
    ("a: " + "[" * 20000 + "]" * 20000 + "\n", "nested deeper than 64 levels"),
    (bytes(range(256)) * 4, "not a UTF-8 text file"),
    ("a: 1\n\x00\n", "NUL bytes"),
    ("? [a, b]\n: 1\n", "a key must be a plain value, got a list"),
    ("a: " + "x" * (1 << 20) + "\n", "larger than 1024 KiB"),
])
def test_a_yaml_file_is_bounded_in_expansion_depth_size_and_content(tmp_path, content, fragment):
    from dd_tune.config import load_yaml

    path = tmp_path / "s.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError, match=fragment) as err:
        load_yaml(path)
    assert len(str(err.value)) < 400
    # a few aliases stay allowed
    path.write_text("a: &x [1, 2]\nb: *x\n")
    assert load_yaml(path) == {"a": [1, 2], "b": [1, 2]}


def test_list_survives_a_bomb_on_the_search_path(tmp_path, monkeypatch, capsys):
    from dd_tune.commands.study import main

    (tmp_path / "zz_bomb.yaml").write_text(_bomb())
    monkeypatch.setenv("DD_TUNE_STUDIES", str(tmp_path))
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("zz_bomb"))
    assert "(invalid:" in line and "expands to more than" in line and len(line) < 300
    assert "dm_mnist" in out
