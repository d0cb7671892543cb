"""A throwaway local Ray cluster for tests: `ray start --head` on 127.0.0.1 with its own temp dir,
stopped by killing exactly the processes that belong to that temp dir (other clusters on the
machine are left alone)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(temp_dir: str):
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(temp_dir in part for part in (p.info["cmdline"] or [])):
                yield p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue


@contextmanager
def local_ray_cluster(num_cpus: int = 2):
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    port, dash = free_port(), free_port()
    # Loopback-only test cluster: token auth off explicitly (Ray 2.60 turns it on when a token
    # file exists from an earlier local ray.init, and the CLI client would then need the token).
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    # `python` in a job's entrypoint must be this environment's (make test does not activate .venv)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    cmd = [str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
           "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--include-dashboard", "true",
           "--num-cpus", str(num_cpus), "--temp-dir", temp_dir, "--disable-usage-stats",
           # every fixed default port taken from free ones: another Ray on the machine (a local
           # ray.init, an earlier test cluster still shutting down) must not block the job agent
           "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
           "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
           "--ray-client-server-port", str(free_port())]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{out.stdout}\n{out.stderr}")
        dash_url = f"http://127.0.0.1:{dash}"
        deadline = time.time() + 60
        while time.time() < deadline:  # the job server answers once the dashboard is up
            st = subprocess.run([str(BIN / "ray"), "job", "list", "--address", dash_url],
                                capture_output=True, text=True, env=env)
            if st.returncode == 0:
                break
            time.sleep(1)
        yield {"gcs": f"127.0.0.1:{port}", "dashboard": dash_url, "env": env}
    finally:
        procs = list(_ours(temp_dir))
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=10)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)


def submit_job(cluster: dict, args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    """`ray job submit` with the real CLI, retried while the node's job agent is still starting."""
    deadline = time.time() + 300
    while True:
        proc = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], *args],
                              capture_output=True, text=True, timeout=timeout, env=cluster["env"])
        if "No available agent" not in proc.stdout + proc.stderr or time.time() > deadline:
            return proc
        time.sleep(3)
