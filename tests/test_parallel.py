"""Pool workers (spawned, for the label / damage / teacher stages) never outlive the process that owns the pool."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

CHILD = """
import os, time
from core.parallel import process_pool
pool = process_pool(1)
print(pool.submit(os.getpid).result(), flush=True)
time.sleep(120)
"""


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it to reap it."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\tZ" not in next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_exit_when_their_parent_is_killed():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    assert worker != proc.pid and running(worker)  # a real worker process, alive beside its parent
    proc.kill()  # SIGKILL: no clean-up code of the parent runs
    proc.wait()
    deadline = time.time() + 15
    while running(worker) and time.time() < deadline:
        time.sleep(0.2)
    if running(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the pool worker outlived its parent")
