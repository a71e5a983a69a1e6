"""The app under gunicorn (the image's CMD, gunicorn.conf.py) in a subprocess, on the test's own databases
(DATABASE_URL: the environment tests/conftest.py's django_db_setup sets; MONGODB_NAME: here)."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from django.db import connections

from devservices.processes import free_port, wait_until

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class AppServer:
    """`start()` runs `gunicorn logsite.wsgi` on a free port (again after `kill()`, on the same one)."""

    def __init__(self, tmp_path: Path, **environ: str | None) -> None:
        """`environ` is added to this process's environment; a None removes the variable."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "MONGODB_NAME": connections["logs"].settings_dict["NAME"],
            "VAR_DIR": str(tmp_path / "var"),
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": "2",
            "PATH": f"{BIN}:{os.environ['PATH']}",
        }
        for name, value in environ.items():
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        self.log = (tmp_path / "gunicorn.log").open("w")
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        # A session of its own: killing its group kills the master and its workers at once, like a crash.
        process = subprocess.Popen(
            ["gunicorn", "logsite.wsgi"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        self.processes.append(process)
        wait_until(lambda: process.poll() is None and self.answers(), "gunicorn", timeout=60)

    def answers(self) -> bool:
        # /metrics is answered for any Host header and over plain HTTP (logsite.middleware).
        request = urllib.request.Request(
            f"{self.base}/metrics", headers={"Authorization": f"Bearer {self.env['METRICS_TOKEN']}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200

    def kill(self) -> None:
        os.killpg(self.processes[-1].pid, signal.SIGKILL)
        self.processes[-1].wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        self.log.close()
