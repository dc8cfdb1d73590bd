"""Batched DM step vs the per-class reference loop (docs/methods.md §2.1), same process, same seeds.

Settings: MNIST (``--dataset cifar10``: CIFAR-10, DSA with flip), IPC 10, batch_real 256, ConvNet-3
(instance norm), DSA without flip. A step is the
loss, its backward to the pixels; the SGD update is identical in both and left out.

    DD_TUNE_DATA=.data python bench/dm_step.py [--steps 7] [--device cpu|cuda]
"""

from __future__ import annotations

from common import compare, run, setup
from reference_methods import dm_loss_per_class

from dd_tune.methods.dm import class_mean_distance
from dd_tune.methods.pixel import no_grad_chunked


def main() -> None:
    b = setup(__doc__)
    C = b.ctx.num_classes

    def batched(seed: int) -> float:
        real, syn = b.batched_inputs(seed)
        return b.backward(class_mean_distance(no_grad_chunked(b.net, b.net.embed, real), b.net.embed(syn), C))

    def reference(seed: int) -> float:
        real, params = b.reference_inputs(seed)
        return b.backward(dm_loss_per_class(b.ref_net, real, b.images, C, b.dsa, params))

    compare(b, batched, reference)


if __name__ == "__main__":
    run(main)
