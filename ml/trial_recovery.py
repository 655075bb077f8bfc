"""Optuna trials whose process died: mark them FAIL before a study resumes.

A study in RDB storage outlives the process that runs it. A process killed mid-trial
leaves that trial RUNNING forever: it is counted among the study's trials, shows up as
"in progress" in dashboards, and a sampler that takes running trials into account
(``constant_liar``) keeps avoiding its parameters. :func:`claim_trial` records which
process runs a trial (host, pid and the process's start time, so a recycled pid is not
mistaken for the owner); :func:`fail_orphaned_trials` marks FAIL every RUNNING trial
whose owner is gone. Trials owned by another host are left alone: their liveness
cannot be checked from here.

Call ``claim_trial(trial)`` first thing in the objective, and
``fail_orphaned_trials(study)`` after loading the study, before optimizing.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    import optuna

__all__ = ["OWNER_ATTR", "claim_trial", "fail_orphaned_trials"]

OWNER_ATTR = "owner_process"
"""User attribute of a trial: ``host:pid:start_time`` of the process running it."""

UNCLAIMED_GRACE_SECONDS = 60.0
"""A RUNNING trial without an owner is another process's trial between its creation and
its claim, or one killed in that instant; after this long it is the latter."""


def _owner(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.3f}"


def claim_trial(trial: optuna.Trial) -> None:
    """Record this process as the owner of ``trial``."""
    trial.set_user_attr(OWNER_ATTR, _owner(os.getpid()))


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return True  # cannot tell: assume alive
    pid = rest.partition(":")[0]
    try:
        return _owner(int(pid)) == owner  # same pid and same start time
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def fail_orphaned_trials(study: optuna.Study) -> list[int]:
    """Mark FAIL the RUNNING trials of ``study`` whose process is gone; their numbers."""
    import optuna

    now = time.time()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR)
        if owner is None:
            started = trial.datetime_start.timestamp() if trial.datetime_start else now
            orphaned = now - started > UNCLAIMED_GRACE_SECONDS
        else:
            orphaned = not _owner_alive(str(owner))
        if orphaned:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    return failed
