"""Run every bench and write `bench/RESULTS.md`: each figure, its target, pass or fail.

    python bench/report.py [--quick] [--only NAME[,NAME]] [--out PATH] [--logs DIR]
    # as `make bench` runs the benches, with devstack's servers:
    .venv/bin/python -m fitflow.devstack exec -- .venv/bin/python bench/report.py

The benches are the Makefile's BENCH list (read from the Makefile, so a bench added there
is picked up), then `first_run` if the list lacks it. Each runs as its own process,
`python bench/<name>.py`, in this environment, one after the other; its output streams
to the terminal and to `<logs>/<name>.log`. `--quick` is passed to every bench whose
`--help` offers it (smoke sizes: the figures are not the targets' conditions, and the
report says so). `--only` runs the named benches only.

The figures are read from the `RESULT {json}` lines the benches print (bench/results.py).
A bench that printed none (it crashed, or predates them) is reported with its exit code
and its PASS/FAIL lines as printed. The report gives the command, the date, the commit,
the machine (CPU model, cores, RAM, load average before and after) and, per bench, its
exit code, wall time and a table of figures. Exit code 0 if every bench exited 0 and no
figure failed, else 1.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results import parse  # noqa: E402

EXTRA_BENCHES = ["first_run"]
DEFAULT_BENCHES = [
    *("provision", "members", "member_import", "booking_contention", "checkin_live", "billing_run", "reminders")
]
VERDICT = re.compile(r"^\s*(PASS|FAIL)\b|:\s*(PASS|FAIL)\s*$|\s(PASS|FAIL)\s*$")


@dataclass
class Run:
    """One bench's run: its command, exit code, wall time, RESULT rows and verdict lines."""

    name: str
    command: list[str]
    code: int
    seconds: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def failed_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("pass") is False]

    @property
    def passed(self) -> bool:
        return self.code == 0 and bool(self.rows) and not self.failed_rows


def makefile_benches(makefile: Path = ROOT / "Makefile") -> list[str]:
    """The Makefile's `BENCH ?= ...` list (the default when it cannot be read), plus
    `first_run` when it lacks it."""
    names = list(DEFAULT_BENCHES)
    try:
        for line in makefile.read_text().splitlines():
            match = re.match(r"^BENCH\s*\??=\s*(.+)$", line)
            if match:
                names = match.group(1).split()
                break
    except OSError:
        pass
    return names + [n for n in EXTRA_BENCHES if n not in names]


def supports(script: Path, flag: str) -> bool:
    """True if `script --help` mentions `flag`."""
    try:
        out = subprocess.run(
            [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return False
    return flag in out.stdout


def run_bench(name: str, args: list[str], log_dir: Path) -> Run:
    """Run `bench/<name>.py args`, streaming its output; returns what it reported."""
    script = ROOT / "bench" / f"{name}.py"
    command = [sys.executable, str(script.relative_to(ROOT)), *args]
    log_path = log_dir / f"{name}.log"
    print(f"[report] {name}: {shlex.join(command)} (log {log_path})", flush=True)
    started = time.monotonic()
    lines: list[str] = []
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            log.write(line)
            lines.append(line.rstrip("\n"))
        code = proc.wait()
    seconds = time.monotonic() - started
    text = "\n".join(lines)
    verdicts = [line.strip() for line in lines if not line.startswith("RESULT ") and VERDICT.search(line)]
    run = Run(name, command, code, seconds, parse(text), verdicts[-20:], log_path)
    state = "PASS" if run.passed else "FAIL"
    print(f"[report] {name}: exit {code}, {seconds:.0f} s, {len(run.rows)} figures, {state}", flush=True)
    return run


# --- the machine ----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS and Python, as one-line strings."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def git_commit() -> str:
    """`<short sha> <subject>` of HEAD, with `(+ uncommitted changes)` when the tree is dirty."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: S607

    head = git("log", "-1", "--format=%h %s")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head[:90]}{' (+ uncommitted changes)' if dirty else ''}"


# --- the report -------------------------------------------------------------------------------------


def _value(row: dict[str, Any]) -> str:
    value, unit = row.get("value"), row.get("unit") or ""
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def _target(row: dict[str, Any]) -> str:
    if row.get("target") is None:
        return "check" if row.get("pass") is not None else "(info)"
    return f"{row.get('op') or ''} {row['target']:g} {row.get('unit') or ''}".strip()


def _result(row: dict[str, Any]) -> str:
    return {True: "PASS", False: "**FAIL**", None: ""}[row.get("pass")]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(runs: list[Run], *, command: str, quick: bool, only: list[str], started: str, loads: tuple[str, str]) -> str:
    """RESULTS.md's text."""
    info = machine()
    lines = [
        "# Bench results",
        "",
        "Written by `bench/report.py`; bench/README.md says what each bench measures and why.",
        "",
        f"- Command: `{command}`",
        f"- Date: {started} (UTC)",
        f"- Commit: {git_commit()}",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; {info['os']}; Python {info['python']}",
        f"- Load average (1/5/15 min) before: {loads[0]}; after: {loads[1]}",
    ]
    if quick:
        lines.append("- `--quick`: smoke sizes, not the targets' conditions: these figures do not judge the targets")
    if only:
        lines.append(f"- `--only`: {', '.join(only)}")
    lines += ["", "| bench | result | failed figures | exit code | wall time |", "|---|---|---|---|---|"]
    for run in runs:
        failed = ", ".join(r["figure"] for r in run.failed_rows) or ("no RESULT lines" if not run.rows else "")
        state = "PASS" if run.passed else "**FAIL**"
        lines.append(f"| [{run.name}](#{run.name}) | {state} | {_cell(failed)} | {run.code} | {run.seconds:.0f} s |")
    for run in runs:
        lines += [
            "",
            f"## {run.name}",
            "",
            f"`{shlex.join(run.command)}`: exit code {run.code}, {run.seconds:.0f} s.",
            "",
        ]
        if run.rows:
            lines += ["| figure | value | target | result | what |", "|---|---|---|---|---|"]
            for row in run.rows:
                lines.append(
                    f"| {_cell(str(row['figure']))} | {_cell(_value(row))} | {_cell(_target(row))} | {_result(row)} "
                    f"| {_cell(str(row.get('label') or ''))} |"
                )
        else:
            lines.append("No RESULT lines. Its PASS/FAIL lines as printed:")
            lines.append("")
            lines += [f"    {v}" for v in run.verdicts] or ["    (none)"]
    return "\n".join(lines) + "\n"


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to the benches that offer it")
    parser.add_argument("--only", action="append", default=[], help="bench names to run (repeat, or a,b)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md", help="the report (bench/RESULTS.md)")
    parser.add_argument("--logs", type=Path, default=None, help="where each bench's log goes (a new temp dir)")
    opts = parser.parse_args(argv)

    benches = makefile_benches()
    only = [name for item in opts.only for name in item.split(",") if name]
    unknown = [n for n in only if not (ROOT / "bench" / f"{n}.py").exists()]
    if unknown:
        parser.error(f"no such bench: {', '.join(unknown)} (known: {', '.join(benches)})")
    selected = only or benches
    log_dir = opts.logs or Path(tempfile.mkdtemp(prefix="fitflow-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "bench/report.py", *(argv if argv is not None else sys.argv[1:])])
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    load_before = _load()
    print(f"[report] benches: {', '.join(selected)}; logs in {log_dir}", flush=True)

    runs = []
    for name in selected:
        args = ["--quick"] if opts.quick and supports(ROOT / "bench" / f"{name}.py", "--quick") else []
        runs.append(run_bench(name, args, log_dir))
        # Written after every bench, so an interrupted report keeps what it measured.
        text = render(runs, command=command, quick=opts.quick, only=only, started=started, loads=(load_before, _load()))
        opts.out.write_text(text)

    print(f"[report] wrote {opts.out}", flush=True)
    for run in runs:
        print(f"[report] {'PASS' if run.passed else 'FAIL'}  {run.name} ({run.seconds:.0f} s)", flush=True)
    return 0 if all(run.passed for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
