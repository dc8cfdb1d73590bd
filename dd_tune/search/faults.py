"""The fault-injection hook for fault-tolerance tests (env ``DD_TUNE_FAULT_AFTER_REPORTS`` on the
driver): rules parsed once, checked before anything runs, applied inside trials."""

from __future__ import annotations

import functools

from dd_tune.base.errors import ConfigError


@functools.lru_cache(maxsize=8)
def fault_rules(spec: str) -> tuple[tuple[int, str, str, bool], ...]:
    """Parse the fault-injection hook: each rule ``N[:key=value][:always]`` makes a trial (every trial, or
    those whose sampled ``key`` equals ``value``) raise right after its N-th checkpointed report, on its
    first attempt only (a retry from the checkpoint then succeeds) or, with ``always``, on every attempt
    (the trial keeps failing). Returns ``(N, key, value, always)`` tuples (parsed once per spec)."""
    rules = []
    for rule in filter(None, (r.strip() for r in spec.split(","))):
        after, *rest = rule.split(":")
        always = rest[-1:] == ["always"]
        cond = rest[:-1] if always else rest
        key, sep, value = (cond[0] if cond else "").partition("=")
        if not after.isdigit() or int(after) < 1 or len(cond) > 1 or (cond and not (key and sep)):
            raise ConfigError(f"DD_TUNE_FAULT_AFTER_REPORTS: bad rule {rule!r}; expected N[:key=value][:always] "
                              f"with N >= 1, rules separated by commas")
        rules.append((int(after), key, value, always))
    return tuple(rules)


class InjectedFault(RuntimeError):
    """Raised by the fault-tolerance testing hook (``TrialSetup.should_fault``)."""


DELAY_KINDS = ("expert", "eval", "trial", "trial_even", "trial_odd")


@functools.lru_cache(maxsize=8)
def delay_rules(spec: str) -> dict[str, float]:
    """Parse the timing testing hook (env ``DD_TUNE_TASK_DELAY`` on the driver): ``kind=seconds`` pairs
    (kinds: expert, eval, trial) make each such job sleep that long when it starts (a trial: after each
    report), so a test can remove a node while work certainly runs on it; trial_even / trial_odd make the
    trials whose configuration index is even / odd sleep once, after their first report, so a test can
    change the order in which trials that run side by side finish.
    Changes no result."""
    out: dict[str, float] = {}
    for rule in filter(None, (r.strip() for r in spec.split(","))):
        kind, sep, seconds = rule.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if not sep or kind not in DELAY_KINDS or not 0 <= value <= 600:
            raise ConfigError(f"DD_TUNE_TASK_DELAY: bad rule {rule!r}; expected kind=seconds with kind one of "
                              f"{', '.join(DELAY_KINDS)} and 0 <= seconds <= 600, rules separated by commas")
        out[kind] = value
    return out


@functools.lru_cache(maxsize=8)
def ask_kill_rule(spec: str) -> tuple[int, int] | None:
    """Parse the kill-in-ask testing hook (env ``DD_TUNE_KILL_IN_ASK`` on the driver): ``N:K`` makes the
    driver SIGKILL itself in the middle of asking Optuna for trial N, after K of its parameters are stored,
    the state a ``kill -9`` at that moment leaves, so a test can resume from it every time. "" = off."""
    if not spec:
        return None
    number, sep, kept = spec.partition(":")
    if not (sep and number.isdigit() and kept.isdigit()):
        raise ConfigError(f"DD_TUNE_KILL_IN_ASK: bad rule {spec!r}; expected N:K (trial number N, K parameters "
                          f"stored before the kill), both whole numbers")
    return int(number), int(kept)
