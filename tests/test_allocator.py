"""Fixed malloc thresholds (dd_tune.base.allocator) and the distillation networks' input layout."""

from __future__ import annotations

import sys

import pytest
import torch

from dd_tune.base import allocator
from dd_tune.core.models import channels_last_input


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_steady_allocator_takes_effect_on_glibc_and_is_idempotent():
    assert allocator.steady_allocator() is True
    assert allocator.steady_allocator() is True
    assert allocator._mallopt(allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD) is True


def test_no_mallopt_outside_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator._mallopt(allocator.M_TRIM_THRESHOLD, allocator.TRIM_THRESHOLD) is False


def test_channels_last_input_restrides_one_channel_without_copying():
    x = torch.randn(4, 1, 5, 6)
    y = channels_last_input(x)
    assert y.stride() == (30, 1, 6, 1) and y.data_ptr() == x.data_ptr()
    assert torch.equal(y, x)
    rgb = channels_last_input(torch.randn(2, 3, 4, 4))
    assert rgb.is_contiguous(memory_format=torch.channels_last) and rgb.stride(1) == 1
    flat = torch.randn(3, 7)
    assert channels_last_input(flat) is flat  # not an image batch: unchanged
    g = torch.randn(2, 1, 3, 3, requires_grad=True)
    (channels_last_input(g) * torch.arange(18.0).view(2, 1, 3, 3)).sum().backward()
    assert torch.equal(g.grad, torch.arange(18.0).view(2, 1, 3, 3))  # differentiable, same positions
