"""Batched DataDAM step vs a per-class reference loop (docs/methods.md §3.1), same process, same seeds.

Settings: MNIST, IPC 10, batch_real 64 (DataDAM's default), ConvNet-3 instance norm (the paper preset:
p = 4, lambda 0.01, no x100 scale), DSA without flip. A step is the loss and its backward to the pixels.

    DD_TUNE_DATA=.data python bench/datadam_step.py --batch-real 64 [--steps 7] [--device cpu|cuda]
"""

from __future__ import annotations

from common import compare, run, setup

from dd_tune.methods.base import no_grad_chunked
from dd_tune.methods.datadam import attention_features, datadam_loss
from dd_tune.methods.reference import datadam_loss_per_class

POWER, LAMBDA, SCALE = 4, 0.01, 1.0


def main() -> None:
    b = setup(__doc__)
    C, net = b.ctx.num_classes, b.net

    def batched(seed: int) -> float:
        real, syn = b.batched_inputs(seed)
        rf = no_grad_chunked(net, lambda x: attention_features(*net.feature_maps(x), POWER), real)
        sf = attention_features(*net.feature_maps(syn), POWER)
        return b.backward(datadam_loss(rf, sf, C, LAMBDA, SCALE)[0])

    def reference(seed: int) -> float:
        real, params = b.reference_inputs(seed)
        return b.backward(datadam_loss_per_class(b.ref_net, real, b.images, C, b.dsa, params, POWER, LAMBDA, SCALE))

    compare(b, batched, reference)


if __name__ == "__main__":
    run(main)
