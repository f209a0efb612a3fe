"""One machine-readable line per bench figure, printed next to the human output, that
`bench/report.py` reads back:

    RESULT {"bench": "first_run", "figure": "total", "label": "...", "value": 187.4,
            "unit": "s", "target": 300, "op": "<", "pass": true}

`target`, `op` and `pass` are null for a figure printed for information only. `op` is
how `value` compares with `target` to pass: "<", "<=", ">", ">=" or "==". The line is
one JSON object after the word RESULT at the start of a line; nothing else in a bench's
output starts that way. No Django here: the benches print results before and after
Django is set up."""

from __future__ import annotations

import json
import operator
from typing import Any

PREFIX = "RESULT "
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


def result(
    bench: str,
    figure: str,
    value: float | int | str | None,
    unit: str = "",
    *,
    target: float | int | None = None,
    op: str | None = None,
    passed: bool | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Print one `RESULT {json}` line and return its dict.

    `bench` is the script's name (e.g. "provision"), `figure` a short identifier unique
    within the bench, `value` the measurement (a number in `unit`, or None when it could
    not be measured), `label` a human description. With `target` and `op`, `passed` is
    computed as `value op target` unless given (a check that is more than a comparison,
    e.g. "the rules held", gives `passed` itself, with or without a target). A value
    of None fails a figure that has a target.
    """
    if op is not None and op not in OPS:
        raise ValueError(f"op must be one of {sorted(OPS)}, not {op!r}")
    if passed is None and target is not None and op is not None:
        passed = isinstance(value, int | float) and bool(OPS[op](value, target))
    if isinstance(value, float):
        value = round(value, 4)
    row = {
        "bench": bench,
        "figure": figure,
        "label": label,
        "value": value,
        "unit": unit,
        "target": target,
        "op": op,
        "pass": passed,
    }
    print(PREFIX + json.dumps(row), flush=True)
    return row


def checks(bench: str, outcomes: dict[str, bool], labels: dict[str, str] | None = None) -> None:
    """One pass/fail RESULT line per entry of `outcomes` ({figure: passed}), labelled from
    `labels` or the figure's name with spaces."""
    for figure, passed in outcomes.items():
        label = (labels or {}).get(figure, figure.replace("_", " "))
        result(bench, figure, None, passed=bool(passed), label=label)


def slug(text: str, limit: int = 60) -> str:
    """`text` as a figure name: lower case, runs of other characters as one `_`."""
    out = "".join(c if c.isalnum() else "_" for c in text.lower())
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")[:limit]


def parse(text: str) -> list[dict[str, Any]]:
    """The RESULT rows in a bench's output, in order; lines that do not parse are skipped."""
    rows = []
    for line in text.splitlines():
        if not line.startswith(PREFIX):
            continue
        try:
            row = json.loads(line[len(PREFIX) :])
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "figure" in row:
            rows.append(row)
    return rows
