"""The one evaluation protocol: train fresh networks on a synthetic set, test on held-out real data.

Used with different :class:`EvalConfig` s by the trials' proxy evaluation (validation split, few
epochs) and by the final re-evaluation (test set, full epochs, K fresh models per architecture).
Protocol (methods.md §1.4): SGD momentum 0.9, weight decay 5e-4, lr x0.1 once at epoch E//2+1 with
the optimiser re-created (momentum reset), E+1 epochs, shuffled batches, per-sample DSA on every
batch, accuracy measured once after the last epoch. No early stopping, no checkpoint selection.

Also ``python -m dd_tune.evaluate SYNSET.pt --models convnet lenet --runs K``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from dd_tune.augment import DSA
from dd_tune.config import EvalConfig, ModelConfig
from dd_tune.data import ClassIndexedData, DATASETS, DatasetSpec
from dd_tune.models import ModelSpec, build_model
from dd_tune.synset import SynSet


@dataclass
class ArchResult:
    """Accuracies (in %) of K fresh models of one architecture."""

    arch: str
    runs: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.runs) if self.runs else float("nan")

    @property
    def std(self) -> float:
        # sample std (n - 1), as in the reports' intervals (dd_tune.stats); DC's code printed numpy's
        # population std, which is smaller for the few models an evaluation trains
        return statistics.stdev(self.runs) if len(self.runs) > 1 else 0.0

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "runs": list(self.runs), "seconds": self.seconds}


def model_spec_for(arch: str, dataset: DatasetSpec, model: ModelConfig = ModelConfig()) -> ModelSpec:
    """ConvNet takes the study's width/depth/norm/pooling; LeNet is fixed."""
    return ModelSpec(name=arch, channels=dataset.channels, num_classes=dataset.num_classes,
                     size=dataset.size, width=model.width, depth=model.depth, norm=model.norm,
                     pooling=model.pooling)


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """-sum softmax(target) * log_softmax(logits), averaged over the batch (DATM/PAD's soft labels)."""
    return -(F.softmax(target_logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1).mean()


def accuracy(net: torch.nn.Module, data: ClassIndexedData, limit: int = 0, chunk: int = 0) -> float:
    """Top-1 accuracy in % on ``data`` (the first ``limit`` images of a fixed shuffle if limit>0).

    ``chunk`` 0 = auto: 32 images on CPU (activations stay in cache: ~1.7x faster on 2 cores than
    large batches), 1024 on GPU.
    """
    if chunk <= 0:
        chunk = 32 if data.device.type == "cpu" else 1024
    images, labels = data.images, data.labels
    if 0 < limit < len(labels):
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:limit]
        keep = keep.to(images.device)
        images, labels = images[keep], labels[keep]
    net.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in zip(images.split(chunk), labels.split(chunk)):
            correct += int((net(xb).argmax(1) == yb).sum())
    return 100.0 * correct / len(labels)


def train_on_synset(
    net: torch.nn.Module,
    synset: SynSet,
    cfg: EvalConfig,
    generator: torch.Generator,
    lr: float,
    dsa: DSA | None,
) -> float:
    """Train ``net`` in place with the protocol; returns the last epoch's mean training loss."""
    device = next(net.parameters()).device
    x = synset.images.to(device)
    y = synset.labels.to(device)
    loss_fn = soft_cross_entropy if y.dim() == 2 else F.cross_entropy
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    decay_epoch = cfg.epochs // 2 + 1
    last = float("nan")
    net.train()
    for epoch in range(cfg.epochs + 1):
        if epoch == decay_epoch:
            lr *= 0.1
            # re-created, so the momentum buffer is reset, as in the reference evaluate_synset
            opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        perm = torch.randperm(len(x), generator=generator, device=generator.device).to(device)
        total, n = 0.0, 0
        for idx in perm.split(cfg.batch_size):
            xb = x[idx]
            if dsa is not None:
                xb = dsa(xb, generator)
            loss = loss_fn(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        last = total / n
    return last


def evaluate_synset(
    synset: SynSet,
    cfg: EvalConfig,
    heldout: ClassIndexedData,
    generator: torch.Generator,
    model: ModelConfig = ModelConfig(),
    use_learned_lr: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ArchResult]:
    """Train ``cfg.models`` fresh networks per architecture in ``cfg.archs`` and test each once.

    ``heldout`` is the validation split for proxy evaluation and the test split only for the final
    re-evaluation. A learned step size (PAD) replaces ``cfg.lr`` when ``use_learned_lr``.
    """
    spec = DATASETS.get(synset.dataset)
    dsa = DSA(spec.dsa_strategy, spec.size) if cfg.dsa else None
    lr = synset.lr if (use_learned_lr and synset.lr is not None) else cfg.lr
    device = heldout.device
    results: dict[str, ArchResult] = {}
    for arch in cfg.archs:
        res = ArchResult(arch)
        t0 = time.time()
        for k in range(cfg.models):
            net = build_model(model_spec_for(arch, spec, model), generator, device)
            loss = train_on_synset(net, synset, cfg, generator, lr, dsa)
            acc = accuracy(net, heldout, cfg.max_eval_images)
            if not torch.isfinite(torch.tensor(loss)):
                acc = float("nan")
            res.runs.append(acc)
            if progress is not None:
                progress(f"{arch} model {k + 1}/{cfg.models}: {acc:.2f}% ({time.time() - t0:.0f} s)")
        res.seconds = time.time() - t0
        results[arch] = res
    return results


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m dd_tune.evaluate",
        description="Re-evaluate a saved synthetic set on the real test set with the fixed protocol.",
    )
    p.add_argument("synset", help="path to a synset.pt written by dd_tune")
    p.add_argument("--models", nargs="+", default=["convnet", "lenet"], choices=["convnet", "lenet"],
                   help="architectures to train (default: convnet lenet)")
    p.add_argument("--runs", type=int, default=5, help="fresh models per architecture (default 5)")
    p.add_argument("--epochs", type=int, default=1000, help="training epochs (default 1000)")
    p.add_argument("--lr", type=float, default=0.01, help="lr when the set has no learned one (0.01)")
    p.add_argument("--ignore-learned-lr", action="store_true", help="always use --lr")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation generator")
    p.add_argument("--data-root", default=None, help="dataset root (default: $DD_TUNE_DATA or cache)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def resolve_device(name: str) -> torch.device:
    from dd_tune.errors import ResourceError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ResourceError(f"device {name!r} requested but no CUDA GPU is visible; use --device cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ResourceError(f"unknown device {name!r}; choose from ['auto', 'cpu', 'cuda']")
    return torch.device(name)


def main(argv: Sequence[str] | None = None) -> int:
    from dd_tune.cli import check_writable_file, run_cli
    from dd_tune.errors import ConfigError
    from dd_tune.data import load_test, resolve_data_root

    def body() -> int:
        args = _parse_args(argv)
        if args.runs < 1 or args.epochs < 1 or args.lr <= 0 or not 0 <= args.seed < 2**32:
            raise ConfigError(f"--runs and --epochs must be >= 1, --lr > 0 and --seed in [0, 2^32); got "
                              f"{args.runs}, {args.epochs}, {args.lr}, {args.seed}")
        check_writable_file(args.json, "--json")  # before the training, not after it
        synset = SynSet.load(args.synset)
        device = resolve_device(args.device)
        root = resolve_data_root(args.data_root)
        test = load_test(synset.dataset, root, device)
        cfg = EvalConfig(epochs=args.epochs, models=args.runs, lr=args.lr, archs=tuple(args.models))
        gen = torch.Generator(device).manual_seed(args.seed)
        results = evaluate_synset(synset, cfg, test, gen,
                                  use_learned_lr=not args.ignore_learned_lr,
                                  progress=lambda m: print(m, flush=True))
        out = {arch: r.to_dict() for arch, r in results.items()}
        for arch, r in results.items():
            print(f"{arch}: {r.mean:.2f} ± {r.std:.2f} % over {len(r.runs)} models")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
