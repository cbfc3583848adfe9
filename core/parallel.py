"""Worker pools that are safe beside torch, OpenMP and dlib threads.

Forking a process whose parent already ran multi-threaded torch/dlib code can deadlock the
child (a lock held by another thread at fork time is never released). Pools here use the
``spawn`` start method: workers import what they need afresh (a second or two of start-up).
Workers exit when their parent dies (a killed ``faceiqa train`` left idle workers holding ~750 MB each).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor


def _watch_parent(parent: int, every: float) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)  # re-parented: the pool's owner is gone and no task will ever come


def _exit_with_parent(every: float = 1.0) -> None:
    """Pool initializer: a daemon thread ends this worker once its parent process is gone."""
    threading.Thread(target=_watch_parent, args=(os.getppid(), every), daemon=True).start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` with ``workers`` spawned processes that exit with their parent."""
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_exit_with_parent)
