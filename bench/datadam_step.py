"""Batched DataDAM step vs the released code's step (docs/methods.md §3.1), same process, same seeds.

Settings: MNIST (``--dataset cifar10``: CIFAR-10), IPC 10, batch_real 64 (DataDAM's default), DSA without
flip, and a preset of
``DataDAMConfig``: ``code`` (the default, what the authors ran: batch-norm ConvNet-3, p = 1, x100
loss) or ``paper`` (instance norm, p = 4, no scale). A step is the loss and its backward to the pixels.

The reference (``dd_tune.methods.reference.datadam_loss_released``) renders ``main_DataDAM.py``'s
step: per-class sampling and siamese DSA, then ONE concatenated forward for the real images and one
for the synthetic ones, attention of every ReLU output, per-class means. Timed beside the authors' own
loop (their ConvNet, hooks and DiffAugment), it is not slower than theirs (see README).

    DD_TUNE_DATA=.data python bench/datadam_step.py [--preset code|paper] [--steps 7] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse

from common import compare, run, setup
from reference_methods import datadam_loss_released

from dd_tune.methods.datadam import DataDAMConfig, attention_features, datadam_loss
from dd_tune.methods.pixel import no_grad_chunked


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=sorted(DataDAMConfig.PRESETS), default="code",
                   help="DataDAM preset whose power, loss scale and network norm are timed (default: code)")
    p.set_defaults(batch_real=64)


def main() -> None:
    b = setup(__doc__, options, norm=lambda args: DataDAMConfig.PRESETS[args.preset]["net_norm"])
    cfg = DataDAMConfig(preset=b.args.preset, **DataDAMConfig.PRESETS[b.args.preset])
    C, net = b.ctx.num_classes, b.net
    print(f"preset {cfg.preset}: power {cfg.power}, loss_scale {cfg.loss_scale:g}, norm {cfg.net_norm}")

    def batched(seed: int) -> float:
        real, syn = b.batched_inputs(seed)
        rf = no_grad_chunked(net, lambda x: attention_features(*net.feature_maps(x), cfg.power), real)
        sf = attention_features(*net.feature_maps(syn), cfg.power)
        return b.backward(datadam_loss(rf, sf, C, cfg.lambda_mmd, cfg.loss_scale)[0])

    def reference(seed: int) -> float:
        real, params = b.reference_inputs(seed)
        return b.backward(datadam_loss_released(b.ref_net, real, b.images, C, b.dsa, params, cfg.power,
                                                cfg.lambda_mmd, cfg.loss_scale))

    # batch norm sums ~650 000 values per channel, in a different order in the two layouts, and the loss
    # is a difference of class means: ~1e-4 relative apart at p = 1 (instance norm: ~1e-7)
    compare(b, batched, reference, "released-code reference", tolerance=1e-3 if cfg.net_norm == "batch" else 1e-4)


if __name__ == "__main__":
    run(main)
