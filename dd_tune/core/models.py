"""ConvNet and LeNet exactly as in the DC code base (docs/methods.md §1.2), with ``embed()``.

``ConvNet.feature_maps`` exposes the per-block pre-pooling activations (DataDAM's attention maps)
without forward hooks. Networks are initialised from an explicit ``torch.Generator`` (the upstream
``get_network`` re-seeds the global RNG from the wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from dd_tune.base.errors import ConfigError
from dd_tune.base.registry import Registry


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        # DC's "instancenorm" is GroupNorm with one group per channel and a learnable affine.
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


def convnet_input(channels: int, size: tuple[int, int]) -> tuple[int, int, int]:
    """(first-conv padding, height, width) after that padding: 1-channel 28x28 inputs are padded to 32."""
    pad0 = 3 if (channels == 1 and tuple(size) == (28, 28)) else 1
    return pad0, size[0] + 2 * (pad0 - 1), size[1] + 2 * (pad0 - 1)


def max_convnet_depth(channels: int, size: tuple[int, int]) -> int:
    """The deepest ConvNet whose 2x2 poolings leave at least one pixel (MNIST 5, MHIST's 224: 7)."""
    _, h, w = convnet_input(channels, size)
    depth = 0
    while min(h, w) // 2 >= 1:
        h, w, depth = h // 2, w // 2, depth + 1
    return depth


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2, 2)`` (same values, floor mode), with a faster forward where no gradient is taken.

    Without autograd on CPU the maximum of the window's four strided views is ~12x faster than
    PyTorch's ``max_pool2d``, which also computes the argmax indices its backward needs (1.85 vs 0.16 ms
    for 100 LeNet maps of 6x28x28, one thread; bench/test_pass.py). The maximum is exact and NaN
    propagates in both, so the values are identical; with autograd, or on a GPU, ``max_pool2d`` runs as
    before (a hand-written backward routing the gradient to the first maximum was slower on 10-image
    batches and saved ~12 % of a 100-image LeNet step: not worth a custom autograd function). No
    parameters: state dicts are unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
            return F.max_pool2d(x, 2, 2)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor mode drops an odd last row/column
        top = torch.maximum(x[..., 0:h:2, 0:w:2], x[..., 0:h:2, 1:w:2])
        return torch.maximum(top, torch.maximum(x[..., 1:h:2, 0:w:2], x[..., 1:h:2, 1:w:2]))


class Network(nn.Module):
    """What dd_tune asks of every model beside ``forward``: the embedding DM matches, the last layer and its
    input (GraNd/EL2N scores), and per-block feature maps (DataDAM; ConvNet only)."""

    embed_dim: int

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_layer(self) -> nn.Linear:
        raise NotImplementedError

    def feature_maps(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        raise ConfigError(f"{type(self).__name__} has no per-block feature maps: attention matching needs a ConvNet")


class ConvNet(Network):
    """``depth`` x [conv3x3(width) -> norm -> ReLU -> pool2] -> Linear.

    1-channel 28x28 inputs get padding 3 on the first conv (28 -> 32), so MNIST behaves like 32x32
    and the embedding is 2048-d for depth 3, width 128.
    """

    # forward+backward in 16-image slices on CPU (dd_tune.core.training.micro_batch_for): activations of
    # 128 channels at 32x32 overflow the cache for larger batches
    cpu_micro_batch = 16

    def __init__(self, channels: int, num_classes: int, size: tuple[int, int], width: int = 128,
                 depth: int = 3, norm: str = "instance", pooling: str = "avg") -> None:
        super().__init__()
        if depth > max_convnet_depth(channels, size):
            raise ConfigError(f"ConvNet-{depth} pools a {size[0]}x{size[1]} input to nothing: at most depth "
                              f"{max_convnet_depth(channels, size)} fits (model.depth)")
        pad0, h, w = convnet_input(channels, size)
        blocks = []
        in_ch = channels
        for d in range(depth):
            pool = nn.AvgPool2d(2, 2) if pooling == "avg" else MaxPool2x2()
            blocks.append(nn.ModuleDict({
                "conv": nn.Conv2d(in_ch, width, 3, padding=pad0 if d == 0 else 1),
                "norm": _norm(norm, width),
                # in place, as the reference networks: ~15 % faster on CPU (one tensor less per block)
                "act": nn.ReLU(inplace=True),
                "pool": pool,
            }))
            in_ch = width
            h, w = h // 2, w // 2
        self.blocks = nn.ModuleList(blocks)
        self.embed_dim = width * h * w
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def _blocks(self) -> list[nn.ModuleDict]:
        return cast(list[nn.ModuleDict], list(self.blocks))

    def feature_maps(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(pre-pooling ReLU outputs of every block, flattened final embedding)."""
        maps = []
        for block in self._blocks():
            x = block["act"](block["norm"](block["conv"](x)))
            maps.append(x)
            x = block["pool"](x)
        return maps, x.flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        for block in self._blocks():
            x = block["pool"](block["act"](block["norm"](block["conv"](x))))
        return x.flatten(1)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the last layer (GraNd's h): the embedding, for a ConvNet."""
        return self.embed(x)

    @property
    def last_layer(self) -> nn.Linear:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.embed(x))
        return out


class LeNet(Network):
    """DC's LeNet: conv5x5(6) -> ReLU -> maxpool -> conv5x5(16) -> ReLU -> maxpool -> 120 -> 84 -> C.

    Padding 2 on the first conv only for 1-channel input, so both 28x28 and 32x32 give 16*5*5 = 400
    features; ``embed`` returns that 400-d vector (DC's LeNet has none; this is the natural one).
    """

    def __init__(self, channels: int, num_classes: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2 if channels == 1 else 0), nn.ReLU(inplace=True), MaxPool2x2(),
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), MaxPool2x2(),
        )
        with torch.no_grad():
            self.embed_dim = int(self.features(torch.zeros(1, channels, *size)).numel())
        self.head = nn.Sequential(
            nn.Linear(self.embed_dim, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.features(x).flatten(1)
        return out

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the last layer (GraNd's h): the 84-d output of the second hidden layer."""
        out: torch.Tensor = self.head[:-1](self.embed(x))
        return out

    @property
    def last_layer(self) -> nn.Linear:
        return cast(nn.Linear, self.head[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.embed(x))
        return out


def channels_last_input(x: torch.Tensor) -> torch.Tensor:
    """On CPU, ``x`` in channels-last strides (the layout of the distillation networks); elsewhere ``x``.

    With one channel both layouts are the same memory and only the stride of the size-1 channel
    dimension tells the convolution which one to run; DSA leaves either, depending on its last
    operation, and the real pass of a DataDAM step took 665 ms in one and 436 ms in the other
    (1 thread). Re-striding a contiguous 1-channel tensor is free.
    """
    if x.device.type != "cpu" or x.dim() != 4:
        return x
    x = x.contiguous(memory_format=torch.channels_last)
    if x.shape[1] == 1 and x.stride(1) != 1:
        x = x.as_strided(x.shape, (x.stride(0), 1, x.stride(2), x.stride(3)))
    return x


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a fresh network (picklable, hashable)."""

    name: str = "convnet"
    channels: int = 1
    num_classes: int = 10
    size: tuple[int, int] = (28, 28)
    width: int = 128
    depth: int = 3
    norm: str = "instance"
    pooling: str = "avg"


MODELS: Registry[Any] = Registry("model")
MODELS.add("convnet", lambda s: ConvNet(s.channels, s.num_classes, s.size, s.width, s.depth, s.norm, s.pooling))
MODELS.add("lenet", lambda s: LeNet(s.channels, s.num_classes, s.size))


def seed_from(generator: torch.Generator) -> int:
    """Draw a 62-bit seed from ``generator`` (to derive child streams)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


N = TypeVar("N", bound=nn.Module)


def reinit_(net: N, generator: torch.Generator) -> N:
    """Re-draw all parameters with PyTorch's default init, from ``generator`` (global RNG untouched).

    Used by DM/DataDAM for "a fresh random network every iteration" without rebuilding modules.
    """
    seed = seed_from(generator)
    device = next(net.parameters()).device
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for module in net.modules():
            if module is not net and hasattr(module, "reset_parameters"):
                cast(Callable[[], None], module.reset_parameters)()
    return net


def build_model(spec: ModelSpec, generator: torch.Generator, device: torch.device | str = "cpu") -> Network:
    """A freshly initialised network on ``device``, reproducible from ``generator``."""
    factory = MODELS.get(spec.name)
    with torch.random.fork_rng(devices=[]):  # module constructors draw an init we overwrite anyway
        net = factory(spec)
    built: Network = reinit_(net.to(device), generator)
    return built
