"""Evaluation protocols as a named choice (``evaluation.protocol``), and how each differs from the authors'.

* ``dd_tune``: the package's own protocol (dd_tune.core.evaluation), with the profile's epochs, the DSA
  strategy of the dataset (no flip on digits, as the DSA README advises) and the lr lowered x0.1 *before*
  epoch E//2 + 1.
* ``dc``: the ``evaluate_synset`` of the DC / DSA / DM code, the routine behind the numbers those papers
  and most later ones publish: E + 1 epochs with the lr lowered x0.1 *after* epoch E//2 + 1 has run (their
  loop trains the epoch, then tests ``ep in lr_schedule``), and DSA with the scripts' default strategy
  ``color_crop_cutout_flip_scale_rotate`` on every dataset (``main.py`` / ``main_DM.py`` pass no other
  unless told; flip included on MNIST). Its other settings (1000 epochs, lr 0.01, batch 256, momentum 0.9,
  weight decay 5e-4, all test images) are the authors' values: an evaluation config that sets another value
  still runs, and :func:`authors_differences` names every such change wherever the protocol is printed.

Both protocols share everything else: SGD re-created at the drop (momentum reset), shuffled minibatches,
per-sample DSA on every batch, one test pass in eval mode after the last epoch.
"""

from __future__ import annotations

from typing import Any, Final

from dd_tune.core.datasets import DatasetSpec

PROTOCOLS: Final = ("dd_tune", "dc")
CONFIG_KEY: Final = "protocol"  # EvalConfig's field naming the protocol (and the `results` column)

# evaluate_synset's settings as the DC / DSA / DM scripts run it (epoch_eval_train, lr_net, batch_train)
AUTHORS_SETTINGS: Final[dict[str, Any]] = {"epochs": 1000, "lr": 0.01, "batch_size": 256, "momentum": 0.9,
                                           "weight_decay": 5e-4, "dsa": True, "max_eval_images": 0}
AUTHORS_DSA: Final = "color_crop_cutout_flip_scale_rotate"


def decay_epoch(protocol: str, epochs: int) -> int:
    """How many of the ``epochs`` + 1 epochs train at the initial lr (= the 0-based index of the first
    epoch at the lowered lr).

    dd_tune lowers it before epoch E//2 + 1; the authors' loop lowers it after that epoch has run, so
    their first epoch at the lower lr is E//2 + 2 (for E = 1000: 501 epochs at lr, 500 at lr / 10 for
    dd_tune; 502 and 499 for theirs).
    """
    return epochs // 2 + (2 if protocol == "dc" else 1)


def dsa_strategy(protocol: str, spec: DatasetSpec) -> str:
    """The DSA strategy string an evaluation under ``protocol`` augments ``spec``'s images with."""
    return AUTHORS_DSA if protocol == "dc" else spec.dsa_strategy


def authors_differences(cfg: Any, spec: DatasetSpec) -> list[str]:
    """How an evaluation with ``cfg`` (an EvalConfig) on ``spec`` differs from the authors' evaluate_synset,
    each as a short phrase; [] when it runs exactly their protocol."""
    out = []
    if cfg.protocol != "dc":
        out.append(f"the lr drops one epoch earlier (after {decay_epoch(cfg.protocol, cfg.epochs)} epochs, "
                   f"theirs after {decay_epoch('dc', cfg.epochs)})")
    for key, theirs in AUTHORS_SETTINGS.items():
        ours = getattr(cfg, key)
        if ours != theirs:
            out.append(_changed(key, ours, theirs))
    if cfg.dsa and dsa_strategy(cfg.protocol, spec) != AUTHORS_DSA:
        out.append(f"DSA without flip ({spec.dsa_strategy}; theirs {AUTHORS_DSA})")
    return out


def _changed(key: str, ours: Any, theirs: Any) -> str:
    if key == "max_eval_images":
        return f"a capped test set ({ours} images; theirs: all)"
    if key == "dsa":
        return "no DSA (theirs: DSA on every batch)"
    return f"{key.replace('_', ' ')} {ours:g} (theirs {theirs:g})"


def describe(cfg: Any, spec: DatasetSpec, zca: bool = False) -> str:
    """The report's protocol line for the final evaluation ``cfg``: what ran, then how it differs from the
    authors' protocol (the label every number compared with a published one carries)."""
    name = "dc (the authors' evaluate_synset)" if cfg.protocol == "dc" else "dd_tune"
    line = (f"protocol {name}: {cfg.models} fresh models per architecture, SGD lr {cfg.lr} (x0.1 after "
            f"{decay_epoch(cfg.protocol, cfg.epochs)} of {cfg.epochs + 1} epochs), momentum {cfg.momentum}, "
            f"wd {cfg.weight_decay}, {cfg.epochs} epochs, batch {cfg.batch_size}"
            + (f", DSA ({dsa_strategy(cfg.protocol, spec)})" if cfg.dsa else "")
            + ("; every split ZCA-whitened (eps 0.1, fitted on the training split)" if zca else "")
            # smoke profiles test on a fixed subset: the report must not read as a full test pass
            + (f"; held-out sets capped at {cfg.max_eval_images} images (a fixed shuffle): not a result"
               if cfg.max_eval_images else ""))
    diffs = authors_differences(cfg, spec)
    return line + ("; differs from the authors' evaluate_synset (DC/DSA/DM): " + "; ".join(diffs) if diffs
                   else "; exactly the authors' evaluate_synset (DC/DSA/DM) settings")


def protocol_name(line: str) -> str:
    """The protocol a report's protocol line (:func:`describe`) names; reports written before protocols were
    named ran dd_tune's."""
    return "dc" if line.startswith("protocol dc") else "dd_tune"
