"""Worker pools that are safe beside torch, OpenMP and dlib threads.

Forking a process whose parent already ran multi-threaded torch/dlib code can deadlock the
child (a lock held by another thread at fork time is never released). Pools here use the
``spawn`` start method: workers import what they need afresh (a second or two of start-up).
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` with ``workers`` spawned processes."""
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
