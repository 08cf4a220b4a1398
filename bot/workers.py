"""`linli run --workers N`: N independent `linli run` processes sharing one PostgreSQL database and one HTTP
port (SO_REUSEPORT). Each is a full bot; the database decides who sends what. A child that dies is started
again, so the group keeps its size."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)


def supervise(workers: int, database_url: str) -> int:
    if workers > 1 and not database_url.startswith("postgresql"):
        print("Several worker processes need PostgreSQL (DATABASE_URL=postgresql+asyncpg://...); SQLite serves "
              "one process.", file=sys.stderr)
        return 2
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def start(index: int) -> None:
        env = dict(os.environ, LINLI_WORKER_INDEX=str(index))
        children[index] = subprocess.Popen([sys.executable, "-m", "bot", "run", "--workers", "1"], env=env)
        log.info("worker %s started (pid %s)", index, children[index].pid)

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for index in range(workers):
        start(index)
    while True:
        time.sleep(0.5)
        if stopping:
            for child in children.values():
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
            return 0
        for index, child in list(children.items()):
            if child.poll() is not None:
                log.warning("worker %s exited with %s; starting it again", index, child.returncode)
                time.sleep(1)
                start(index)
