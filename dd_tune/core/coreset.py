"""Class-centre selection: herding and k-centre greedy on feature vectors (the coreset baselines of the
DC and DM papers), used as initialisations of a synthetic set.

Both follow the rules the DC author gave for the paper's baselines (VICO-UoE/DatasetCondensation issues
#15 and #21), applied class by class on embeddings with Euclidean distance:

* **herding**: step i picks the remaining sample closest to ``(i + 1) * mean - sum(selected)``, so the
  running mean of the selection follows the class mean (DeepCore's ``herding.py`` takes the *farthest*
  sample at that line, the opposite rule; dd_tune follows the DC author's);
* **k-centre greedy**: the first centre is the sample nearest the class mean (DeepCore starts from a
  random one), then repeatedly the sample farthest from its nearest chosen centre.

Ties go to the lowest index (``argmin``/``argmax``). Pure tensor code: the embedding network is the
caller's (``dd_tune.methods.selection``).
"""

from __future__ import annotations

import torch

SELECTIONS = ("herding", "kcenter")


def herding(features: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` rows of ``features`` ``[N, D]`` chosen by herding (in the order chosen)."""
    x = features.double()
    n = len(x)
    k = min(k, n)
    mean = x.mean(0)
    total = torch.zeros_like(mean)
    free = torch.ones(n, dtype=torch.bool, device=x.device)
    chosen = []
    for i in range(k):
        target = (i + 1) * mean - total
        dist = (x - target).norm(dim=1).masked_fill(~free, float("inf"))
        j = int(dist.argmin())
        chosen.append(j)
        free[j] = False
        total = total + x[j]
    return torch.tensor(chosen, dtype=torch.long, device=features.device)


def kcenter(features: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` rows of ``features`` ``[N, D]`` chosen by k-centre greedy (in the order chosen)."""
    x = features.double()
    n = len(x)
    k = min(k, n)
    first = int((x - x.mean(0)).norm(dim=1).argmin())
    chosen = [first]
    nearest = (x - x[first]).norm(dim=1)
    taken = torch.zeros(n, dtype=torch.bool, device=x.device)
    taken[first] = True
    for _ in range(k - 1):
        # chosen samples are out (-1), so duplicates of a centre are not picked twice
        j = int(nearest.masked_fill(taken, -1.0).argmax())
        chosen.append(j)
        taken[j] = True
        nearest = torch.minimum(nearest, (x - x[j]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long, device=features.device)


def select(kind: str, features: torch.Tensor, k: int) -> torch.Tensor:
    """``herding`` or ``kcenter`` by name."""
    if kind == "herding":
        return herding(features, k)
    if kind == "kcenter":
        return kcenter(features, k)
    raise ValueError(f"unknown selection {kind!r}; choose from {list(SELECTIONS)}")
