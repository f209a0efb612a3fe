"""First run, cold: `make run` in a fresh clone to a working demo (issue 8 part 3).

    python bench/first_run.py [--port N] [--timeout 900] [--keep] [--no-pip-cache] [--repo PATH]

1. Clones the repository's committed HEAD (`git clone`, so uncommitted work is not in
   it) into a new temporary directory: no `.venv`, no `.data`.
2. Runs `make run` there with `PORT` set to a free port and DATABASE_URL, REDIS_URL (and
   PGHOST, PGPORT, BENCH_*, DJANGO_SETTINGS_MODULE, VIRTUAL_ENV, the caller's venv on
   PATH, make's own variables) removed, so devstack starts embedded PostgreSQL and Redis
   under the clone's `.data/`. pip runs as this machine has it set up: its own cache and
   its configured indexes and find-links (printed; uv's cache too if the Makefile installs
   with uv); `--no-pip-cache` sets PIP_NO_CACHE_DIR=1 and UV_NO_CACHE=1 for a colder install.
3. Times the phases from the output's lines as they arrive: venv (python -m venv + pip
   install, until devstack's first line), embedded servers (PostgreSQL and Redis ready),
   migrate (until `migrate_gyms:`), seed (until the banner `FitFlow is running:`) and
   web ready (until devstack's "all processes up and healthy": uvicorn answers
   /health/ 200 with database, Redis and a Celery worker up).
4. Checks the demo works: /health/ answers 200, and the demo owner (login and password
   read from the banner) logs in through the login page and gets the dashboard.
5. Stops it as a terminal's Ctrl-C does (SIGINT to the process group), times the stop,
   and checks that nothing is left: no process whose command line or working directory
   is in the clone (web, worker, beat, postgres, redis-server) and the port free.
   Leftovers are reported and killed.
6. Deletes the clone (`--keep` keeps it and its `.data`); the full output is kept in a
   log file whose path is printed on failure.

Target: a working demo (step 4 passed) in under 300 s from `make run`'s start (issue 8).
Prints the figures, PASS/FAIL, and one `RESULT {json}` line per figure (bench/results.py).
Needs no database or Redis of its own and no Django: it runs in any Python 3.11 with
psutil (the project's venv has it).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.results import result  # noqa: E402

BENCH = "first_run"
TARGET_S = 300.0
STOP_TIMEOUT_S = 90.0
DROPPED_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "BENCH_DATABASE_URL",
    "BENCH_REDIS_URL",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
    "PORT",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
    "MAKEOVERRIDES",
}
# (phase, description, markers): the phase ends at the first output line that contains a
# marker, after the previous phase ended. `servers` ends at the later of its two markers.
# `slow` appears only on an empty database with devstack's parallel first migrate: the wait,
# after seeding, for dj-stripe's migration in public (devstack.migrate_database).
PHASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("venv", "python -m venv + pip install", ("[devstack]",)),
    ("servers", "embedded PostgreSQL and Redis", ("PostgreSQL ready", "Redis ready", "Redis already running")),
    ("migrate", "migrate public and the gym template", ("migrate_gyms:", "[devstack] migrated")),
    ("seed", "seed the demo gym", ("FitFlow is running:",)),
    ("slow", "wait for dj-stripe's tables (migrated during the seed)", ("migrated in public (waited",)),
    ("web", "web, worker and beat up and healthy", ("all processes up and healthy",)),
]
OPTIONAL_PHASES = {"slow"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def clean_env(port: int, *, no_pip_cache: bool) -> dict[str, str]:
    """The caller's environment without what would point `make run` at other servers or
    another venv."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    env["PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"
    if no_pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
        env["UV_NO_CACHE"] = "1"  # in case the Makefile installs with uv
    return env


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6 if path.exists() else 0.0


def pip_setup(python: str, env: dict[str, str], makefile: Path) -> str:
    """What pip (and uv, when the Makefile uses it) will use on this machine: cache
    directories (and sizes) and pip's index configuration."""
    parts = []
    if "uv pip install" in makefile.read_text():
        uv_cache = Path(env.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
        off = " off (UV_NO_CACHE=1)" if env.get("UV_NO_CACHE") else f" {uv_cache} ({_size_mb(uv_cache):.0f} MB)"
        parts.append(f"the Makefile installs with uv; uv cache{off}")
    cache = subprocess.run([python, "-m", "pip", "cache", "dir"], capture_output=True, text=True, env=env)
    cache_dir = cache.stdout.strip()
    if env.get("PIP_NO_CACHE_DIR"):
        parts.append("pip cache off (PIP_NO_CACHE_DIR=1)")
    elif cache.returncode == 0 and cache_dir:
        parts.append(f"pip cache {cache_dir} ({_size_mb(Path(cache_dir)):.0f} MB)")
    config = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, env=env)
    settings = [line for line in config.stdout.splitlines() if "index" in line or "find-links" in line]
    parts.append("pip config: " + ("; ".join(settings) if settings else "defaults (PyPI)"))
    return ", ".join(parts)


class Output:
    """Reads the child's merged output in a thread: every line with its time since start,
    kept in memory and written to `log_path`."""

    def __init__(self, proc: subprocess.Popen[str], started: float, log_path: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.started = started
        self.log = log_path.open("w")
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            at = time.monotonic() - self.started
            with self.lock:
                self.lines.append((at, line.rstrip("\n")))
            self.log.write(f"{at:8.1f} {line}")
            self.log.flush()
        self.log.close()

    def find(self, marker: str, after: float = 0.0) -> float | None:
        """Seconds from start of the first line at or after `after` containing `marker`."""
        with self.lock:
            return next((at for at, line in self.lines if at >= after and marker in line), None)

    def text(self) -> str:
        with self.lock:
            return "\n".join(line for _, line in self.lines)

    def tail(self, n: int = 40) -> str:
        with self.lock:
            return "\n".join(f"{at:8.1f} {line[:300]}" for at, line in self.lines[-n:])


def phase_ends(out: Output) -> dict[str, float | None]:
    """When each phase ended (seconds from start), None for a phase not reached (or, for
    an optional one, not there)."""
    ends: dict[str, float | None] = {}
    previous: float | None = 0.0
    for name, _, markers in PHASES:
        end = None
        if previous is not None and name == "servers":
            pg = out.find(markers[0], previous)
            redis = min((t for t in (out.find(m, previous) for m in markers[1:]) if t is not None), default=None)
            end = max(pg, redis) if pg is not None and redis is not None else None
        elif previous is not None:
            end = min((t for t in (out.find(m, previous) for m in markers) if t is not None), default=None)
        ends[name] = end
        if end is not None or name not in OPTIONAL_PHASES:
            previous = end
    return ends


# --- checking the demo over HTTP --------------------------------------------------------------


def request(
    port: int, host: str, method: str, path: str, *, form: dict[str, str] | None = None, cookies: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    """One HTTP request to 127.0.0.1:`port` with `Host: host`; Set-Cookie goes into `cookies`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Referer"] = f"http://{host}{path}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        conn.close()


def demo_logins(banner: str) -> tuple[str, str, str]:
    """(demo gym host, owner email, password) from the banner seed_demo prints."""
    host = re.search(r"Demo gym dashboard:\s+(\S+)", banner)
    password = re.search(r"password for all: ([^)\s]+)\)", banner)
    owner = re.search(r"^\s+owner\s+(\S+@\S+)", banner, re.MULTILINE)
    if not (host and password and owner):
        raise RuntimeError("no demo gym URL, owner or password in the banner")
    return urlsplit(host.group(1)).netloc, owner.group(1), password.group(1)


def check_health(port: int) -> tuple[bool, str]:
    """GET /health/ on the public host (localhost:port): 200 is healthy."""
    try:
        status, _, body = request(port, f"localhost:{port}", "GET", "/health/", cookies={})
    except OSError as error:
        return False, str(error)
    return status == 200, f"{status} {body[:200]}"


def check_owner_login(port: int, banner: str) -> tuple[bool, str]:
    """The demo owner signs in on the login page and the dashboard answers 200."""
    try:
        host, email, password = demo_logins(banner)
        cookies: dict[str, str] = {}
        status, _, page = request(port, host, "GET", "/accounts/login/", cookies=cookies)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            return False, f"login page answered {status}"
        form = {"csrfmiddlewaretoken": token.group(1), "login": email, "password": password}
        status, headers, _ = request(port, host, "POST", "/accounts/login/", form=form, cookies=cookies)
        if status != 302 or "login" in headers.get("location", ""):
            return False, f"login POST answered {status} (location {headers.get('location')!r})"
        status, _, page = request(port, host, "GET", "/", cookies=cookies)
        if status != 200:
            return False, f"dashboard answered {status} after login"
        return True, f"{email} signed in on {host}, dashboard 200"
    except (OSError, RuntimeError) as error:
        return False, str(error)


# --- stopping and leftovers ---------------------------------------------------------------------


def leftovers(clone: Path) -> list[psutil.Process]:
    """Live processes whose command line or working directory is inside `clone`."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        try:
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(clone) in cmdline or (proc.info["cwd"] or "").startswith(str(clone)):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def stop(proc: subprocess.Popen[str]) -> tuple[float, int | None]:
    """Ctrl-C as a terminal sends it (SIGINT to the process group); returns (seconds to
    exit, exit code), the code None when it had to be killed after `STOP_TIMEOUT_S`."""
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        code: int | None = proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        code = None
    return time.monotonic() - started, code


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port for make run (default: a free one)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the clone (and its .data) afterwards")
    parser.add_argument(
        "--no-pip-cache", action="store_true", help="PIP_NO_CACHE_DIR=1 and UV_NO_CACHE=1: download everything"
    )
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone (default: this one)")
    parser.add_argument("--quick", action="store_true", help="accepted for bench/report.py; the run is the same")
    opts = parser.parse_args(argv)

    port = opts.port or free_port()
    env = clean_env(port, no_pip_cache=opts.no_pip_cache)
    python = env.get("PYTHON", "python3.11")
    work = Path(tempfile.mkdtemp(prefix="fitflow-first-run-"))
    clone = work / "fitflow"
    log_path = work / "make-run.log"
    subprocess.run(["git", "clone", "-q", opts.repo, str(clone)], check=True)  # noqa: S607 (git and make from PATH)
    head = subprocess.run(
        ["git", "-C", str(clone), "log", "-1", "--format=%h %s"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cold = (
        f"cold = fresh clone of {opts.repo} HEAD ({head[:60]}), no .venv, no .data, DATABASE_URL/REDIS_URL unset "
        f"(embedded PostgreSQL + Redis), {pip_setup(python, env, clone / 'Makefile')}"
    )
    log(cold)
    log(f"make run in {clone} on port {port} (log {log_path})")

    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "run"],  # noqa: S607
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, for the Ctrl-C below
    )
    out = Output(proc, started, log_path)
    ready_at = None
    while proc.poll() is None and time.monotonic() - started < opts.timeout:
        ready_at = out.find(PHASES[-1][2][0])
        if ready_at is not None:
            break
        time.sleep(0.5)
    ok_health, health_detail = check_health(port) if ready_at is not None else (False, "never became healthy")
    banner = out.text()
    ok_login, login_detail = check_owner_login(port, banner) if ready_at is not None else (False, "not reached")
    working_at = time.monotonic() - started if ok_health and ok_login else None
    exited_early = proc.poll()

    stop_s, code = stop(proc)
    out.thread.join(timeout=10)
    time.sleep(1)  # postgres and redis-server exit a moment after devstack
    left = leftovers(clone)
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    port_free = not port_in_use(port)
    stopped_clean = code is not None and not left and port_free

    ends = phase_ends(out)
    print()
    print(f"First run, cold: make run to a working demo ({cold})")
    print(f"{'phase':<10}{'seconds':>9}  {'ends at':>8}  what")
    previous = 0.0
    for name, what, _ in PHASES:
        end = ends.get(name)
        if end is None and name in OPTIONAL_PHASES:
            continue
        took = None if end is None else end - previous
        print(
            f"{name:<10}{'-' if took is None else f'{took:.1f}':>9}  {'-' if end is None else f'{end:.1f}':>8}  {what}"
        )
        result(BENCH, f"phase_{name}", took, "s", label=f"first run phase: {what}")
        if end is not None:
            previous = end
    print(f"health: {'ok' if ok_health else 'FAILED'} ({health_detail})")
    print(f"owner login: {'ok' if ok_login else 'FAILED'} ({login_detail})")
    named = [f"{p.pid} {' '.join((p.info.get('cmdline') or [])[:3])}" for p in left]
    print(
        f"stop (SIGINT to the group): {stop_s:.1f} s, exit code {code}, "
        f"leftover processes {named or 'none'}, port {'free' if port_free else 'STILL IN USE'}"
    )
    total = working_at
    result(BENCH, "stop", stop_s, "s", label="Ctrl-C to everything stopped")
    result(
        BENCH, "stopped_clean", None, passed=stopped_clean, label="Ctrl-C stops web, worker, beat, PostgreSQL, Redis"
    )
    result(BENCH, "demo_works", None, passed=ok_health and ok_login, label="/health/ 200 and the demo owner logs in")
    row = result(
        BENCH, "total", total, "s", target=TARGET_S, op="<", label="make run, cold, to a working demo (health + login)"
    )
    overall = bool(row["pass"]) and stopped_clean
    verdict = "PASS" if row["pass"] else "FAIL"
    print(f"{verdict}  make run, cold, to a working demo in under {TARGET_S:.0f} s: ", end="")
    print(f"{total:.1f} s" if total is not None else "not reached")
    print(f"{'PASS' if stopped_clean else 'FAIL'}  Ctrl-C stops everything")
    print(f"overall: {'PASS' if overall else 'FAIL'}")
    if not overall or exited_early is not None:
        print(f"--- last lines of make run (full log {log_path}):\n{out.tail()}")
    if opts.keep:
        log(f"--keep: {clone} kept")
    elif overall:
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(clone, ignore_errors=True)
        log(f"clone removed, log kept: {log_path}")
    return 0 if overall else 1


if __name__ == "__main__":
    sys.exit(main())
