"""Bad input and faults, as a careless or hostile user makes them: each one is refused before Ray
starts, with one message line naming the problem (and the valid choices), exit code 2, no traceback,
and nothing created or deleted — checked on the storage, a finished study in it, and a sibling folder."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest
import torch

from dd_tune.core.synset import SynSet

Setup = Callable[[Path], list[str]]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, int(p.lstat().st_mtime_ns))
            for p in sorted(root.rglob("*"))}


@pytest.fixture()
def place(tmp_path: Path) -> Path:
    """tmp/storage with a finished study dd_tune made (dm_mnist) and the shared expert cache; tmp/sibling
    with a user's file; tmp/user_dir, a folder of the user's."""
    from dd_tune.tune.store import create

    study = tmp_path / "storage" / "dm_mnist"
    create(study, "study")
    (study / "report.json").write_text("{}")
    (tmp_path / "storage" / "experts").mkdir()
    (tmp_path / "storage" / "experts" / "abc.pt").write_text("x")
    (tmp_path / "sibling").mkdir()
    (tmp_path / "sibling" / "precious.txt").write_text("keep me")
    (tmp_path / "user_dir").mkdir()
    (tmp_path / "user_dir" / "thesis.tex").write_text("keep me too")
    return tmp_path


def _corrupt_mnist(mode: str) -> Setup:
    """A data root whose MNIST files are damaged in one way (the rest linked from the good copy)."""

    def setup(tmp: Path, good: Path) -> Path:
        root = tmp / f"data_{mode}"
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for f in (good / "MNIST" / "raw").iterdir():
            os.link(f, raw / f.name) if f.stat().st_dev == raw.stat().st_dev else shutil.copy(f, raw / f.name)
        target = raw / ("train-labels-idx1-ubyte" if mode == "labels" else "train-images-idx3-ubyte")
        data = bytearray(target.read_bytes())
        target.unlink()  # a new inode: the good copy stays good
        if mode == "images":  # random bytes behind a valid header: loads, but is not MNIST
            data[16:] = os.urandom(len(data) - 16)
        elif mode == "labels":
            data[8:100] = bytes([42]) * 92  # labels out of range
        elif mode == "magic":  # not an idx header at all (torchvision asserts without a message)
            data[0:4] = bytes([1, 2, 3, 4])
        target.write_bytes(bytes(data))
        if mode == "truncated":  # an archive cut short and nothing extracted yet
            for name in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"):
                (raw / name).unlink()
            blob = gzip.compress(bytes(data))
            (raw / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 3])
        return root

    return setup


STUDY = "dd_tune.study"
# (command, argv with {t} = the tmp folder, extra env, a fragment the one message line must contain)
CASES = [
    (STUDY, ["nope"], {}, "unknown study 'nope'; choose from ["),
    (STUDY, ["dm_mnist", "--set", "distill.lrimg=1"], {}, "unknown key 'distill.lrimg' (did you mean 'distill.lr_img'?); valid keys:"),
    (STUDY, ["dm_mnist", "--set", "distill.lr_img=-0.5"], {}, "'distill.lr_img' must be > 0"),
    (STUDY, ["dm_mnist", "--set", "ipc=[0]"], {}, "images per class must be >= 1"),
    (STUDY, ["dm_mnist", "--profile", "huge"], {}, "unknown profile 'huge'; choose from ['default', 'quick', 'smoke']"),
    (STUDY, ["dm_mnist", "--data-root", "{t}/nowhere"], {}, "(--data-root) does not exist"),
    (STUDY, ["dm_mnist", "--storage", "{t}/empty", "--resume"], {}, "--resume: there is no study at"),
    (STUDY, ["dm_mnist", "--address", "auto", "--num-cpus", "2"], {}, "cannot be combined with --address"),
    # names that would become paths elsewhere (--force would have deleted them)
    (STUDY, ["dm_mnist", "--set", "name={t}/sibling", "--force"], {}, "is not a plain name"),
    (STUDY, ["dm_mnist", "--set", "name=''", "--force"], {}, "'' is not a plain name"),
    (STUDY, ["dm_mnist", "--set", "name=../../x", "--force"], {}, "'../../x' is not a plain name"),
    (STUDY, ["dm_mnist", "--set", "name=a/b"], {}, "letters, digits, '.', '_' and '-'"),
    (STUDY, ["dm_mnist", "--set", "name=.."], {}, "'..' is not a plain name"),
    # the storage's shared caches are not study or suite names (--force would delete them)
    (STUDY, ["dm_mnist", "--set", "name=reeval", "--force"], {}, "'reeval' is reserved"),
    (STUDY, ["dm_mnist", "--set", "name=experts"], {}, "'experts' is reserved"),
    ("dd_tune.compare", ["{t}/suite.yaml", "--force"], {"suite": "name: Experts"}, "'Experts' is reserved"),
    # every check before anything is deleted
    (STUDY, ["dm_mnist", "--seed", "-1", "--force"], {}, "'seed' must be in [0, 2^32), got -1"),
    (STUDY, ["dm_mnist", "--seed", str(2**32)], {}, "'seed' must be in [0, 2^32)"),
    (STUDY, ["dm_mnist", "--set", "data.split_seed=-3", "--force"], {}, "'data.split_seed' must be in [0, 2^32)"),
    (STUDY, ["pad_mnist", "--set", "distill.experts.seed=-1"], {}, "'distill.experts.seed' must be in [0, 2^32)"),
    (STUDY, ["dm_mnist", "--set", "search.params.lr_img={type: float, low: 0.1, high: 10.0, step: 0}"], {},
     "'params.lr_img.step' must be a finite number > 0"),
    (STUDY, ["dm_mnist", "--num-cpus", "0"], {}, "--num-cpus must be >= 1, got 0"),
    (STUDY, ["dm_mnist", "--num-cpus", "-2", "--force"], {}, "--num-cpus must be >= 1, got -2"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--num-cpus", "1", "--set", "resources.cpu=3", "--force"], {},
     "requests resources.cpu: 3 per trial but the largest Ray node has 1 CPUs"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "resources.gpu=1", "--force"], {}, "no GPU is visible"),
    (STUDY, ["dm_mnist", "--storage", "{t}/sibling/precious.txt"], {}, "is a file, not a directory"),
    (STUDY, ["dm_mnist", "--storage", "{t}/sibling/precious.txt/runs"], {}, "which is a file, not a directory"),
    (STUDY, ["dm_mnist", "--storage", "S3://bucket/runs"], {}, "needs a POSIX path"),
    (STUDY, ["dm_mnist", "--storage", "memory://runs"], {}, "needs a POSIX path"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "name=linked", "--force"], {"link": "linked"},
     "is a symbolic link"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "name=afile", "--storage", "{t}/storage"], {"file": "afile"},
     "is a file, not a study directory"),
    (STUDY, ["dm_mnist", "--set", "ipc=[7000]"], {}, "IPC 7000 exceeds the smallest class of mnist's training split"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--address", "127.0.0.1:9"], {}, "nobody answers there within"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--address", "headnode"], {}, "expected 'auto' or HOST:PORT"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--data-root", "{t}/data_images"], {"data": "images"},
     "train-images-idx3-ubyte: mean pixel"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--data-root", "{t}/data_labels"], {"data": "labels"},
     "train-labels-idx1-ubyte: labels must lie in [0, 10)"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--data-root", "{t}/data_truncated"], {"data": "truncated"},
     "fails its MD5 checksum (truncated or corrupt download)"),
    (STUDY, ["dm_mnist", "--set", "distill=5"], {}, "set single keys of the method's config"),
    (STUDY, ["datadam_mhist", "--profile", "smoke"], {}, "MHIST needs a registration form at bmirds.github.io/MHIST"),
    (STUDY, ["dm_mnist_noise", "--set", "search.params.init={type: categorical, choices: [real, noise]}"], {},
     "'init' is excluded from the search (search.exclude)"),
    (STUDY, ["pad_mnist", "--set", "distill.experts=5"], {}, "'distill.experts' must be a mapping"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "{not json"}, "is not a dd_tune study record"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "[1, 2]"}, "is not a dd_tune study record"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "<dir>"}, "study.json cannot be read"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "<search without optuna.db>"},
     "its Optuna study (optuna.db) is gone"),
    (STUDY, ["dm_mnist", "--data-root", "{t}/sibling/precious.txt"], {}, "is a file, not a directory"),
    (STUDY, ["dm_mnist"], {"DD_TUNE_DATA": "{t}/sibling/precious.txt"}, "use the default cache"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "name=user_dir", "--storage", "{t}", "--resume"], {},
     "refusing to resume"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "name=user_dir", "--storage", "{t}", "--force"], {},
     "refusing to replace"),
    (STUDY, ["dm_mnist", "--set", "search.num_samples=0"], {}, "'search.num_samples' must be >= 1"),
    (STUDY, ["dm_mnist", "--set", "search.params.foo={type: float, low: 1, high: 2}"], {}, "unknown search key 'foo'"),
    (STUDY, ["dm_mnist", "--profile", "smoke"], {"DD_TUNE_FAULT_AFTER_REPORTS": "x"}, "bad rule 'x'"),
    ("dd_tune.compare", ["nope"], {}, "unknown suite 'nope'; choose from ['cifar10', 'fashionmnist', 'mnist', 'seed_report']"),
    ("dd_tune.compare", ["{t}/suite.yaml"], {"suite": "profiles: [quick]"}, "'profiles' must be a mapping"),
    ("dd_tune.compare", ["{t}/suite.yaml", "--force"], {"suite": "name: ../storage"}, "is not a plain name"),
    ("dd_tune.compare", ["{t}/suite.yaml", "--storage", "{t}", "--force"], {"suite": "name: user_dir"},
     "refusing to replace"),
    ("dd_tune.evaluate", ["{t}/empty.pt"], {"pt": "empty"}, "is not a dd_tune synthetic set"),
    ("dd_tune.evaluate", ["{t}/truncated.pt"], {"pt": "truncated"}, "is not a dd_tune synthetic set"),
    ("dd_tune.evaluate", ["{t}/list.pt"], {"pt": "list"}, "is not a dd_tune synthetic set"),
    ("dd_tune.evaluate", ["{t}/channels.pt"], {"pt": "channels"}, "images must be float32 [N, 1, 28, 28]"),
    ("dd_tune.evaluate", ["{t}/labels.pt"], {"pt": "labels"}, "hard labels must be 10 integers in [0, 10)"),
    ("dd_tune.evaluate", ["{t}/labels.pt", "--lr", "nan"], {"pt": "labels"}, "--lr finite and > 0"),
    ("dd_tune.evaluate", ["{t}/labels.pt", "--lr", "inf"], {"pt": "labels"}, "--lr finite and > 0"),
    (STUDY, ["dm_mnist", "--set", "final_eval.archs=[convnet, convnet]"], {}, "names an architecture twice"),
    # no output overwrites an input
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "{t}/good.pt"], {"pt": "good"}, "is a file this command reads"),
    ("dd_tune.evaluate", ["{t}/lr.pt"], {"pt": "lr"}, "step size must be a number in (0, 1000], got -0.5"),
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "{t}/nowhere/out.json"], {"pt": "good"}, "does not exist"),
    ("dd_tune.evaluate", ["{t}/good.pt", "--runs", "0"], {"pt": "good"}, "--runs and --epochs must be >= 1"),
    ("dd_tune.evaluate", ["{t}/missing.pt"], {}, "does not exist"),
    ("dd_tune.distill", ["dm_mnist", "--out", "{t}/nowhere/x.pt"], {}, "does not exist"),
    ("dd_tune.distill", ["dm_mnist", "--out", "{t}/sibling"], {}, "is a directory; name a file"),
    ("dd_tune.distill", ["dm_mnist", "--ipc", "0"], {}, "--ipc must be >= 1"),
    # the whole search is built before --force replaces a finished study (issue: a fractional int step
    # passed every early check, deleted the report, then failed inside Ray)
    (STUDY, ["dm_mnist", "--profile", "smoke", "--force", "--set",
             "search.params.iterations={type: int, low: 2, high: 6, step: 1.5}"], {}, "whole-number step, got 1.5"),
    (STUDY, ["dm_mnist", "--force", "--set", "search.params.lr_img={type: float, low: 0.1, high: .inf}"], {},
     "bounds must be finite numbers"),
    (STUDY, ["dm_mnist", "--force", "--set", "search.params.lr_img={type: float, low: 0.1, high: 2, step: .nan}"],
     {}, "step' must be a finite number > 0, got nan"),
    (STUDY, ["dm_mnist", "--force", "--set", "search.params.lr_img={type: float, low: 0.5, high: 2, step: 5}"], {},
     "must not exceed high - low"),
    (STUDY, ["dm_mnist", "--force", "--set", "search.exclude=[lr_img, iterations, batch_real, init, "
             "selection.embedding, factor, net_width, net_depth, net_norm, net_pooling, dsa_strategy, momentum_img, "
             "lr_schedule]"], {}, "the search space is empty"),
    ("dd_tune.compare", ["{t}/suite.yaml", "--force"],
     {"suite": "shared: {search: {exclude: [lr_img, iterations, batch_real, init, selection.embedding, factor, "
               "net_width, net_depth, net_norm, net_pooling, dsa_strategy, momentum_img, lr_schedule]}}"},
     "the search space is empty"),
    # paths: loops, unknown users, pseudo file systems, empty values (one line each, never a traceback)
    (STUDY, ["dm_mnist", "--storage", "{t}/loopA"], {"loop": "1"}, "--storage '{t}/loopA': Symlink loop"),
    (STUDY, ["dm_mnist", "--storage", "~nosuchuser_dd/x"], {}, "--storage '~nosuchuser_dd/x': Could not determine"),
    (STUDY, ["dm_mnist", "--storage", "/proc/dd_tune_x"], {}, "MiB free on its file system"),
    (STUDY, ["dm_mnist", "--storage", ""], {}, "--storage is empty"),
    (STUDY, ["dm_mnist", "--data-root", ""], {}, "--data-root is empty"),
    (STUDY, ["dm_mnist", "--data-root", "{t}/loopA"], {"loop": "1"}, "--data-root '{t}/loopA': Symlink loop"),
    (STUDY, ["dm_mnist", "--data-root", "~nosuchuser_dd/d"], {}, "Could not determine home directory"),
    (STUDY, ["~nosuchuser_dd/study.yaml"], {}, "study '~nosuchuser_dd/study.yaml': Could not determine"),
    ("dd_tune.distill", ["dm_mnist", "--out", "{t}/loopA"], {"loop": "1"}, "--out '{t}/loopA': Symlink loop"),
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "~nosuchuser_dd/x.json"], {"pt": "good"},
     "--json '~nosuchuser_dd/x.json': Could not determine"),
    # study and suite files that are not YAML text
    (STUDY, ["{t}/x.yaml"], {"yaml": "binary"}, "x.yaml: not a UTF-8 text file"),
    (STUDY, ["{t}/x.yaml"], {"yaml": "listkey"}, "a key must be a plain value, got a list"),
    (STUDY, ["{t}/x.yaml"], {"yaml": "deep"}, "nested deeper than 64 levels"),
    ("dd_tune.compare", ["{t}/x.yaml"], {"yaml": "binary"}, "x.yaml: not a UTF-8 text file"),
    # the shared caches a run writes, checked before it starts (not after the search)
    (STUDY, ["dm_mnist", "--storage", "{t}/storage2"], {"cache": "experts"}, "keeps its experts cache there"),
    (STUDY, ["dm_mnist", "--storage", "{t}/storage2"], {"cache": "reeval"}, "keeps its reeval cache there"),
    ("dd_tune.compare", ["{t}/suite.yaml", "--storage", "{t}/storage2"], {"suite": "name: s2", "cache": "s2/reeval"},
     "keeps its reeval cache there"),
    # command lines: one error line naming --help, not argparse's usage block
    (STUDY, ["dm_mnist", "--bogus"], {}, "unrecognized arguments: --bogus (see python -m dd_tune.study --help)"),
    (STUDY, ["dm_mnist", "--num-samples", "x"], {}, "argument --num-samples: invalid int value: 'x'"),
    ("dd_tune.compare", ["mnist", "--resume", "--force"], {}, "argument --force: not allowed with argument --resume"),
    ("dd_tune.evaluate", [], {}, "the following arguments are required: synset"),
    ("dd_tune.distill", ["dm_mnist", "--ipc", "x"], {}, "argument --ipc: invalid int value: 'x'"),
    ("dd_tune.commands.dispatch", ["bogus"], {}, "dd-tune: unknown command 'bogus'; choose from ['study'"),
    # the published, GPU-sized budget on a machine without a GPU needs --profile or --yes-cpu
    (STUDY, ["dm_mnist"], {}, "no GPU is visible, and without --profile the default profile runs the published"),
    ("dd_tune.compare", ["mnist"], {}, "suite mnist: no GPU is visible, and without --profile"),
    # kinder errors: the closest name
    (STUDY, ["dm-mnist"], {}, "unknown study 'dm-mnist' (did you mean 'dm_mnist'?)"),
    (STUDY, ["dm_mnist", "--profile", "quik"], {}, "unknown profile 'quik' (did you mean 'quick'?)"),
    (STUDY, ["dm_mnist", "--set", "lr_img=2"], {}, "unknown key 'lr_img' (did you mean 'distill.lr_img'?)"),
    ("dd_tune.commands.dispatch", ["stduy"], {}, "unknown command 'stduy' (did you mean 'study'?)"),
    # damaged inputs say what is wrong
    (STUDY, ["dm_mnist", "--data-root", "{t}/data_magic"], {"data": "magic"}, "bad header or magic number"),
    ("dd_tune.evaluate", ["{t}/zipjunk.pt"], {"pt": "zipjunk"}, "(RuntimeError: PytorchStreamReader failed reading "
                                                               "zip archive: failed finding central directory)"),
    ("dd_tune.evaluate", ["{t}/obj.pt"], {"pt": "obj"}, "is not a dd_tune synthetic set (UnpicklingError: Weights "
                                                        "only load failed)"),
    # round three: outputs never land on inputs (by file identity: a hard link, a symlink, a dataset file)
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "{d}/MNIST/raw/t10k-labels-idx1-ubyte.gz"], {"pt": "good"},
     "is a file this command reads (the same file, by its inode)"),
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "{t}/hard.json"], {"pt": "good", "hardlink": "good.pt"},
     "is a file this command reads"),
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "{t}/soft.json"], {"pt": "good", "symlink": "good.pt"},
     "is a file this command reads"),
    ("dd_tune.evaluate", ["{t}/good.pt", "--json", "{t}/sibling"], {"pt": "good"}, "is a directory; name a file"),
    # ... and a command writes no file nobody named: distill's preview and --also-at sets, checked first
    ("dd_tune.distill", ["dm_mnist", "--profile", "smoke", "--out", "{t}/o.pt"], {"made": "o.png"},
     "o.png exists and would be replaced (it is written beside the file you named); pass --force"),
    ("dd_tune.distill", ["dm_mnist", "--profile", "smoke", "--out", "{t}/o.pt", "--force"], {"made": "o.png/"},
     "o.png would be written beside it but is a directory"),
    ("dd_tune.distill", ["dm_mnist", "--profile", "smoke", "--out", "{t}/o.pt", "--also-at", "2"],
     {"made": "o_it2.pt"}, "o_it2.pt exists and would be replaced"),
    ("dd_tune.distill", ["dm_mnist", "--profile", "smoke", "--out", "{t}/o.pt", "--also-at", "2"],
     {"made": "o_it2.png"}, "o_it2.png exists and would be replaced"),
    ("dd_tune.distill", ["dm_mnist", "--profile", "smoke", "--out", "{t}/o.pt", "--also-at", "2", "--force"],
     {"made": "o_it2.pt/"}, "o_it2.pt would be written beside it but is a directory"),
    ("dd_tune.distill", ["dm_mnist", "--profile", "smoke", "--out", "{d}/MNIST/raw/t10k-labels-idx1-ubyte.gz"],
     {}, "is a file this command reads"),
    # the lock: never written through a hard link, never hung on a FIFO
    (STUDY, ["dm_mnist", "--profile", "smoke", "--storage", "{t}/storage", "--force"], {"lock": "hardlink"},
     "has 2 names (a hard link to another file); dd_tune never writes through it"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--storage", "{t}/storage", "--force"], {"lock": "fifo"},
     ".dm_mnist.lock is not a regular file"),
    # the CIFAR reader: foreign contents and oversized files refused before anything is expanded
    (STUDY, ["dm_cifar10", "--profile", "smoke", "--data-root", "{t}/cifar"], {"cifar": "list"},
     "is not a CIFAR batch (its data is a list, not uint8 [N, 3072])"),
    (STUDY, ["dm_cifar10", "--profile", "smoke", "--data-root", "{t}/cifar"], {"cifar": "string"},
     "is not a CIFAR batch (its data is a str, not uint8 [N, 3072])"),
    (STUDY, ["dm_cifar10", "--profile", "smoke", "--data-root", "{t}/cifar"], {"cifar": "float"},
     "is not a CIFAR batch (its data is a float64 array of shape [2, 3072]"),
    (STUDY, ["dm_cifar10", "--profile", "smoke", "--data-root", "{t}/cifar"], {"cifar": "labels"},
     "is not a CIFAR batch (its labels are not 2 integers)"),
    (STUDY, ["dm_cifar10", "--profile", "smoke", "--data-root", "{t}/cifar"], {"cifar": "huge"},
     "a CIFAR batch holds about 30 MiB"),
    (STUDY, ["dm_cifar10", "--profile", "smoke", "--data-root", "{t}/cifar"], {"cifar": "code"},
     "refused global os.system"),
    # damaged state on --resume: one line naming the file and the fix, before Ray starts
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "ipc1.json:truncated"},
     "ipc1.json is not a dd_tune IPC record (JSONDecodeError"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "ipc1.json:list"},
     "ipc1.json is not a dd_tune IPC record (a JSON list, not an object)"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "ipc1.json:types"},
     "ipc1.json is not a dd_tune IPC record (TypeError"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "ipc1.json:dir"},
     "ipc1.json is not a regular file"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "optuna.db:garbage"},
     "optuna.db is not an SQLite database; --resume cannot continue the search from it"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "optuna.db:sqlite"},
     "optuna.db holds no Optuna study tables"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "tune:truncated"},
     "experiment_state-x.json is damaged (JSONDecodeError); delete"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "tune:notrials"},
     "is not Ray Tune's experiment state (no trial list)"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "mode:777"},
     "others can write"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--resume"], {"study_json": "", "plant": "pkl:666"},
     "searcher-state-x.pkl (mode -rw-rw-rw-); resuming unpickles Ray Tune's state"),
    # results: every bad report one line naming it (the good ones are still listed), never a hang
    ("dd_tune.results", ["{t}/res"], {"report": "nan"}, "an accuracy that is not a finite number"),
    ("dd_tune.results", ["{t}/res"], {"report": "deep"}, "is not a dd_tune study report (nested too deeply)"),
    ("dd_tune.results", ["{t}/res"], {"report": "types"}, "is not a dd_tune study report (AttributeError"),
    ("dd_tune.results", ["{t}/res"], {"report": "dir"}, "report.json is not a regular file"),
    ("dd_tune.results", ["{t}/res"], {"report": "fifo"}, "report.json is not a regular file"),
    ("dd_tune.results", ["{t}/res"], {"report": "array"}, "(a JSON list, not an object)"),
    ("dd_tune.results", ["{t}/res", "--arch", "bogus"], {}, "argument --arch: invalid choice: 'bogus'"),
    # set files of the wrong types or sizes: refused before training, never "nan %"
    ("dd_tune.evaluate", ["{t}/f64.pt"], {"pt": "f64"}, "images must be float32 [N, 1, 28, 28], got torch.float64"),
    ("dd_tune.evaluate", ["{t}/f16.pt"], {"pt": "f16"}, "images must be float32 [N, 1, 28, 28], got torch.float16"),
    ("dd_tune.evaluate", ["{t}/i32.pt"], {"pt": "i32"}, "labels must be int64 class indices or float32 logits, got "
                                                        "torch.int32"),
    ("dd_tune.evaluate", ["{t}/bool.pt"], {"pt": "bool"}, "labels must be int64 class indices or float32 logits, got "
                                                          "torch.bool"),
    ("dd_tune.evaluate", ["{t}/bigl.pt"], {"pt": "bigl"}, "the learned step size must be a number in (0, 1000], got "
                                                          "1e+300"),
    ("dd_tune.evaluate", ["{t}/huge.pt"], {"pt": "huge"}, "pixel values up to 1e+30"),
    ("dd_tune.evaluate", ["{t}/bomb.pt"], {"pt": "bomb"}, "would unpack to 1024 MiB; a synthetic set is at most 512 MiB"),
    # GPU clusters: how long a study waits for GPU nodes is bounded; a local machine never waits
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "resources.wait_s=-1"], {},
     "'resources.wait_s' must be null (1200 s on a cluster) or in [0, 86400.0] seconds, got -1.0"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "resources.wait_s=100000"], {},
     "'resources.wait_s' must be null (1200 s on a cluster) or in [0, 86400.0] seconds"),
    (STUDY, ["dm_mnist", "--profile", "smoke", "--set", "resources.gpu=0.5", "--set", "resources.wait_s=600"], {},
     "requests gpu: 0.5 per trial but no GPU is visible to Ray"),
    # names are plain: a named point's name is a report row, a table cell and a TensorBoard tag
    (STUDY, ["{t}/x.yaml"], {"yaml": "pipe"}, "named point 'a|b\\x1b[31m' is not a plain name"),
    (STUDY, ["{t}/x.yaml"], {"yaml": "script"}, "is not a plain name: use 1-100 characters"),
]


def _synset_file(tmp: Path, kind: str) -> None:
    good = SynSet(torch.zeros(10, 1, 28, 28), torch.arange(10), "mnist", 1, "dm")
    path = tmp / f"{kind}.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "channels":
        SynSet(torch.zeros(10, 3, 28, 28), torch.arange(10), "mnist", 1, "dm").save(path)
    elif kind == "labels":
        SynSet(good.images, torch.arange(10) + 5, "mnist", 1, "dm").save(path)
    elif kind == "lr":
        SynSet(good.images, good.labels, "mnist", 1, "pad", lr=-0.5).save(path)
    elif kind in ("f64", "f16"):
        SynSet(good.images.to(torch.float64 if kind == "f64" else torch.float16), good.labels, "mnist", 1,
               "dm").save(path)
    elif kind in ("i32", "bool"):
        labels = good.labels.to(torch.int32) if kind == "i32" else good.labels > 4
        SynSet(good.images, labels, "mnist", 1, "dm").save(path)
    elif kind == "bigl":
        SynSet(good.images, good.labels, "mnist", 1, "pad", lr=1e300).save(path)
    elif kind == "huge":
        SynSet(good.images + 1e30, good.labels, "mnist", 1, "dm").save(path)
    elif kind == "bomb":  # 1 GiB of zeros, deflated into a small file
        import zipfile

        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("bomb/data/0", "w",
                                                                          force_zip64=True) as member:
            block = bytes(2**20)
            for _ in range(1024):
                member.write(block)
    elif kind == "zipjunk":  # a zip signature and nothing of a zip after it
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 2)
    elif kind == "obj":  # a pickle torch.load(weights_only=True) refuses
        torch.save({"images": good.images, "info": Path("x")}, path)
    else:
        good.save(path)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:200])


def _plant(tmp: Path, env: dict[str, str], data_root: Path) -> None:
    """Round three's hostile files: links to inputs, files in the way of outputs, a lock that is not a
    plain file, crafted CIFAR batches, damaged state of a study to resume, bad reports, hostile names."""
    if "hardlink" in env:
        os.link(tmp / env["hardlink"], tmp / "hard.json")
    if "symlink" in env:
        (tmp / "soft.json").symlink_to(tmp / env["symlink"])
    if "made" in env:
        made = tmp / env["made"].rstrip("/")
        made.mkdir() if env["made"].endswith("/") else made.write_text("a file of the user's")
    if env.get("lock") == "hardlink":
        os.link(tmp / "sibling" / "precious.txt", tmp / "storage" / ".dm_mnist.lock")
    elif env.get("lock") == "fifo":
        os.mkfifo(tmp / "storage" / ".dm_mnist.lock")
    if "cifar" in env:
        _cifar_batch(tmp / "cifar" / "cifar-10-batches-py", env["cifar"])
    if "plant" in env:
        _damage(tmp / "storage" / "dm_mnist_x", env["plant"])
    if "report" in env:
        _report(tmp / "res" / "x", env["report"])
    if env.get("yaml") in ("pipe", "script"):
        name = '"a|b\\e[31m"' if env["yaml"] == "pipe" else "'x\" onerror=\"alert(1)'"
        (tmp / "x.yaml").write_text(f"extends: dm_mnist\nnamed_points:\n  {name}: {{init: noise}}\n")


def _cifar_batch(folder: Path, kind: str) -> None:
    """CIFAR-10's first training batch, crafted: its data a list sharing references (billions of elements
    as an array), a string, floats; labels that are not integers; an oversized file; a code-running pickle."""
    import pickle

    import numpy as np

    folder.mkdir(parents=True)
    nested: list = [0] * 3072
    for _ in range(40):
        nested = [nested, nested]
    data = {"list": nested, "string": "x" * 3072, "float": np.zeros((2, 3072)),
            "labels": np.zeros((2, 3072), dtype=np.uint8)}.get(kind)
    path = folder / "data_batch_1"
    if kind == "huge":
        with path.open("wb") as f:
            f.truncate(300 * 2**20)  # sparse: no disk used
        return
    if kind == "code":
        path.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
        return
    labels = ["a", "b"] if kind == "labels" else [0, 1]
    path.write_bytes(pickle.dumps({"data": data, "labels": labels}))


def _damage(study: Path, plant: str) -> None:
    """One damaged file in a study dd_tune made (as ``--resume`` finds it)."""
    import sqlite3

    what, how = plant.split(":")
    if what == "ipc1.json":
        target = study / "ipc1.json"
        if how == "dir":
            target.mkdir()
        else:
            target.write_text({"truncated": '{"ipc": 1, "n_tri', "list": "[1, 2]", "types": '{"ipc": 1}'}[how])
    elif what == "optuna.db":
        if how == "garbage":
            (study / "optuna.db").write_bytes(os.urandom(4096))
        else:
            with sqlite3.connect(study / "optuna.db") as con:
                con.execute("CREATE TABLE other (x)")
    elif what == "tune":
        (study / "ipc1").mkdir()
        state = study / "ipc1" / "experiment_state-x.json"
        state.write_text('{"trial_data": [' if how == "truncated" else '{"runner_data": {}}')
    elif what == "mode":
        study.chmod(0o777)
    elif what == "pkl":
        (study / "ipc1").mkdir()
        pkl = study / "ipc1" / "searcher-state-x.pkl"
        pkl.write_bytes(b"")
        pkl.chmod(0o666)


def _report(study: Path, kind: str) -> None:
    """A report.json that is not one: NaN accuracies, deep nesting, wrong types, a folder, a FIFO, a list."""
    study.mkdir(parents=True)
    path = study / "report.json"
    if kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        from factories import acc, ipc_result, study_result

        nan = study_result({"1": ipc_result(reeval={"best": {"convnet": acc([float("nan"), 1.0])}})})
        path.write_text({"nan": json.dumps(nan.to_dict(), default=str),
                         "deep": '{"a": ' + "[" * 100000 + "]" * 100000 + "}",
                         "types": '{"by_ipc": {"1": 5}, "study": 3}',
                         "array": "[1, 2, 3]"}[kind])


def _prepare(tmp: Path, env: dict[str, str], data_root: Path) -> dict[str, str]:
    """Build what a case needs; returns the environment variables to set."""
    out = {k: v.replace("{t}", str(tmp)) for k, v in env.items() if k.isupper()}
    if "link" in env:
        (tmp / "storage" / env["link"]).symlink_to(tmp / "sibling")
    if "file" in env:
        (tmp / "storage" / env["file"]).write_text("a file of the user's")
    if "data" in env:
        _corrupt_mnist(env["data"])(tmp, data_root)
    if "study_json" in env:
        from dd_tune.tune.store import create

        create(tmp / "storage" / "dm_mnist_x", "study")
    if "suite" in env:
        (tmp / "suite.yaml").write_text(f"studies: [dm_mnist]\n{env['suite']}\n")
    if "pt" in env:
        _synset_file(tmp, env["pt"])
    if "loop" in env:  # two links pointing at each other
        (tmp / "loopA").symlink_to(tmp / "loopB")
        (tmp / "loopB").symlink_to(tmp / "loopA")
    if env.get("yaml") in ("binary", "listkey", "deep"):
        (tmp / "x.yaml").write_bytes({"binary": bytes(range(256)) * 4, "listkey": b"? [a, b]\n: 1\nmethod: dm\n",
                                      "deep": b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n"}[env["yaml"]])
    _plant(tmp, env, data_root)
    if "cache" in env:  # a file where dd_tune keeps a cache
        cache = tmp / "storage2" / env["cache"]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("a file of the user's")
    return out


@pytest.mark.parametrize("command, argv, env, message", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_bad_input_is_refused_before_anything_happens(command, argv, env, message, place, data_root, monkeypatch,
                                                      capsys):
    import importlib

    import dd_tune.tune.prepare

    monkeypatch.setenv("DD_TUNE_DATA", str(data_root))
    monkeypatch.setattr(dd_tune.tune.prepare, "connect", lambda *a, **k: pytest.fail("Ray must not start"))
    for key, value in _prepare(place, env, data_root).items():
        monkeypatch.setenv(key, value)
    if "study_json" in env:  # a stored record that is not one, in a study dd_tune made
        argv = [*argv, "--set", "name=dm_mnist_x"]
        study_dir = place / "storage" / "dm_mnist_x"
        if env["study_json"] == "<dir>":  # study.json that is a directory
            (study_dir / "study.json").mkdir()
        elif env["study_json"] == "<search without optuna.db>":  # a search under way, its Optuna file gone
            (study_dir / "ipc1").mkdir()
        else:
            (study_dir / "study.json").write_text(env["study_json"])
    args = [a.replace("{t}", str(place)).replace("{d}", str(data_root)) for a in argv]
    message = message.replace("{t}", str(place))
    if command in (STUDY, "dd_tune.compare") and "--storage" not in args and not any("://" in a for a in args):
        # --force is pointed at the storage that holds a finished study: it must survive the refusal
        args += ["--storage", str(place / ("storage" if "--force" in args or "study_json" in env else "runs"))]
    before = _snapshot(place)
    monkeypatch.chdir(place)
    rc = importlib.import_module(command).main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert message in lines[0], lines[0]
    assert _snapshot(place) == before  # nothing created, nothing deleted


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 150


def test_read_only_storage_is_refused(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    made = subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {made.stderr.decode().strip()}")
    try:
        from dd_tune.study import main

        rc = main(["dm_mnist", "--storage", str(ro / "runs")])
        err = capsys.readouterr().err
        assert rc == 2 and "cannot write to" in err and "read-only" in err, err
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_force_replaces_only_what_dd_tune_created(tmp_path):
    from dd_tune.base.errors import StudyStateError
    from dd_tune.tune.store import check_owned, create, locate

    storage = tmp_path / "runs"
    mine = locate(storage, "dm_mnist", "study")
    create(mine, "study")
    (mine / "old.txt").write_text("old")
    check_owned(mine, "study", force=True, resume=False)
    create(mine, "study", replace=True)
    assert not (mine / "old.txt").exists() and (mine / ".dd_tune_study").exists()
    theirs = storage / "notes"
    theirs.mkdir()
    (theirs / "a.txt").write_text("a")
    with pytest.raises(StudyStateError, match=r"dd_tune did not create it .* holds a.txt"):
        check_owned(theirs, "study", force=True, resume=False)
    with pytest.raises(StudyStateError, match="refusing to use"):
        create(theirs, "study", replace=True)
    assert (theirs / "a.txt").read_text() == "a"
    empty = storage / "empty"
    empty.mkdir()
    check_owned(empty, "study", force=False, resume=False)  # an empty folder holds nothing: adopted


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_before_anything_started_does_not_suggest_resume(how, monkeypatch, capsys, tmp_path):
    """Ctrl-C and SIGTERM alike: one error line, exit 2, and the caller's signal handlers back afterwards."""
    import signal

    import dd_tune.commands.study as study
    import dd_tune.tune.run

    def interrupted(*args, **kwargs):
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # turned into Ctrl-C by the command's handler
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(dd_tune.tune.run, "prepare_run", interrupted)  # the run path the command calls
    assert study.main(["dm_mnist", "--profile", "smoke", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "error: interrupted before anything was written; run the command again to start\n"
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_handler_left_behind_by_tune_fit_is_removed():
    """Ray Tune's fit leaves its SIGINT handler installed (Ctrl-C during the re-evaluation was swallowed)."""
    import signal

    from dd_tune.search.interrupts import handlers_restored

    before = signal.getsignal(signal.SIGINT)
    with handlers_restored():
        signal.signal(signal.SIGINT, lambda *a: None)  # what fit does
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("command, argv, lock_name", [
    (STUDY, ["dm_mnist", "--force", "--yes-cpu"], "dm_mnist"),
    (STUDY, ["dm_mnist", "--resume", "--profile", "smoke"], "dm_mnist_r"),
    ("dd_tune.compare", ["{t}/suite.yaml", "--force", "--yes-cpu"], "cmp"),
])
def test_a_directory_in_use_by_another_run_is_refused_before_ray(command, argv, lock_name, place, data_root,
                                                                 monkeypatch, capsys):
    """Another run holds the directory's lock (here: this process, through another open file, as a second
    driver would see it): --force and --resume are refused with the holder named, nothing changes."""
    import importlib

    import dd_tune.tune.prepare
    from dd_tune.tune.lock import RunLock, lock_path
    from dd_tune.tune.store import create

    storage = place / "storage"
    if lock_name == "dm_mnist_r":  # an unfinished study, as --resume wants it
        create(storage / lock_name, "study")
        argv = [*argv, "--set", f"name={lock_name}"]
    if lock_name == "cmp":
        (place / "suite.yaml").write_text("name: cmp\nstudies: [dm_mnist]\n")
        create(storage / "cmp", "suite")
    monkeypatch.setenv("DD_TUNE_DATA", str(data_root))
    monkeypatch.setattr(dd_tune.tune.prepare, "connect", lambda *a, **k: pytest.fail("Ray must not start"))
    holder = RunLock(lock_path(storage, lock_name), f"study {lock_name}")
    holder.acquire()
    try:
        before = _snapshot(place)
        args = [a.replace("{t}", str(place)) for a in argv] + ["--storage", str(storage)]
        rc = importlib.import_module(command).main(args)
        err = capsys.readouterr().err
        assert rc == 2, err
        assert err.count("\n") == 1 and f"is in use by PID {os.getpid()}" in err and "Traceback" not in err, err
        assert _snapshot(place) == before
    finally:
        holder.release()


def test_a_string_instead_of_an_argument_list_is_one_error(capsys):
    from dd_tune.commands.dispatch import main as dispatch
    from dd_tune.study import main

    assert main("dm_mnist") == 2  # type: ignore[arg-type]
    assert capsys.readouterr().err == ("error: python -m dd_tune.study: arguments must be a list of strings, e.g. "
                                       "['dm_mnist'], not one string\n")
    assert dispatch("study dm_mnist") == 2  # type: ignore[arg-type]
    assert "arguments must be a list of strings" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["reeval", "experts", "dm_mnist"])
def test_folders_the_run_writes_must_be_writable(folder, tmp_path, monkeypatch):
    """Read-only caches or a read-only study directory are found before the run (root passes os.access,
    so the permission answer is simulated)."""
    from dd_tune.base.errors import StudyStateError
    from dd_tune.methods.configs import load_study
    from dd_tune.tune import store

    storage = tmp_path / "runs"
    store.create(storage / "dm_mnist", "study")
    (storage / folder).mkdir(exist_ok=True)
    real_access = os.access
    monkeypatch.setattr(store.os, "access", lambda p, mode: Path(p).name != folder and real_access(p, mode))
    with pytest.raises(StudyStateError, match="cannot write to"):
        store.check_study_dir(storage / "dm_mnist", load_study("dm_mnist", "smoke", []), force=False, resume=True)


def test_a_nearly_full_disk_is_refused_before_the_run(tmp_path, monkeypatch):
    import shutil as sh

    from dd_tune.base.errors import ConfigError
    from dd_tune.tune import prepare

    nearly_full = sh._ntuple_diskusage(10**12, 10**12 - 5 * 2**20, 5 * 2**20)
    monkeypatch.setattr(prepare.shutil, "disk_usage", lambda p: nearly_full)
    with pytest.raises(ConfigError, match="only 5 MiB free on its file system"):
        prepare.check_storage(tmp_path / "runs")


def test_sigterm_stops_a_run_whose_shell_ignores_ctrl_c(monkeypatch, capsys, tmp_path):
    """A background job of a non-interactive shell starts with SIGINT ignored: SIGTERM must still stop it."""
    import signal

    import dd_tune.commands.study as study
    import dd_tune.tune.run

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("SIGTERM was swallowed")

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        monkeypatch.setattr(dd_tune.tune.run, "prepare_run", terminated)
        assert study.main(["dm_mnist", "--profile", "smoke", "--storage", str(tmp_path)]) == 2
        assert "interrupted before anything was written" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_running_member_study_blocks_a_suite_force(place, data_root, monkeypatch, capsys):
    """`dd_tune.study --storage <suite dir>` running one of the suite's studies: `compare --force` would delete
    its directory from under it, so it is refused."""
    import dd_tune.tune.prepare
    from dd_tune.compare import main
    from dd_tune.tune.lock import RunLock, lock_path
    from dd_tune.tune.store import create

    storage = place / "storage"
    (place / "suite.yaml").write_text("name: cmp\nstudies: [dm_mnist]\n")
    create(storage / "cmp", "suite")
    create(storage / "cmp" / "dm_mnist", "study")
    monkeypatch.setenv("DD_TUNE_DATA", str(data_root))
    monkeypatch.setattr(dd_tune.tune.prepare, "connect", lambda *a, **k: 0.0)
    monkeypatch.setattr(dd_tune.tune.prepare, "check_shared_storage", lambda storage: 1)
    member = RunLock(lock_path(storage / "cmp", "dm_mnist"), "study dm_mnist")
    member.acquire()
    try:
        before = _snapshot(place)
        rc = main([str(place / "suite.yaml"), "--force", "--yes-cpu", "--storage", str(storage)])
        err = capsys.readouterr().err
        assert rc == 2 and f"study dm_mnist of the suite is in use by PID {os.getpid()}" in err, err
        # nothing deleted or left behind (the suite's own lock came and went: only the storage's mtime moved)
        after = _snapshot(place)
        assert {k: v for k, v in after.items() if k != "storage"} == {k: v for k, v in before.items() if k != "storage"}
    finally:
        member.release()
