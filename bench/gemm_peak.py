"""This machine's float32 matrix-product rate: the ceiling against which the training and step
benchmarks' FLOP rates are read (a step at that rate cannot get 2x faster).

    python bench/gemm_peak.py [--size 2048] [--reps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def gflops(threads: int, size: int, reps: int) -> float:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--reps", type=int, default=10)
    a = p.parse_args()
    for threads in (1, 2):
        print(f"float32 GEMM {a.size}x{a.size}, {threads} thread(s): {gflops(threads, a.size, a.reps):.0f} GFLOP/s "
              f"(median of {a.reps})", flush=True)


if __name__ == "__main__":
    main()
