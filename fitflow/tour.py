"""The README tour: screenshots of the seeded demo gym, saved to `static/tour/*.png`.

    python -m fitflow.tour [--port N] [--out DIR] [--keep-database]   (`make tour`)

Self-contained: it starts the demo as `make run` does (fitflow/devstack.py) on a free
port, against a database of its own on DATABASE_URL's server (`<name>_tour`, dropped and
created at the start, dropped at the end unless `--keep-database`) and a Redis database
of its own (TOUR_REDIS_URL, else REDIS_URL's server with database 14, emptied at the
start and the end): migrate, `seed_demo`, then web + worker + beat under honcho. With
`--port N` it uses a demo already running there instead (`make run`, whose database is
DATABASE_URL) and changes nothing but the two check-ins it makes.

Playwright drives Debian's Chromium (/usr/bin/chromium, never a downloaded browser;
`make chromium` installs it) at 1280x800, signed in as the demo owner:

    dashboard.png       the owner's dashboard
    members.png         the members list
    timetable.png       this week's timetable
    checkin-green.png   the front desk letting in a member with an active membership
    checkin-red.png     the front desk refusing a member whose membership is frozen
    invoice-pdf.png     the first page of a paid invoice's PDF (poppler's pdftoppm)

The members scanned are picked in the demo gym's schema with SQL: a name the desk search
finds alone, on an active unlimited plan and not in the gym now (green), and on a frozen
membership (red). Each PNG is reduced to a 256-colour palette and optimised (Pillow).
Prints each file with its size; exit code 1 if a screenshot could not be taken.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fitflow import devstack

ROOT = devstack.ROOT
OUT = ROOT / "static" / "tour"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT: Any = {"width": 1280, "height": 800}  # playwright ViewportSize
GYM_SCHEMA = "gym_demo"
GYM_SLUG = "demo"
OWNER = "owner@demo.localhost"
TOUR_REDIS_DB = 14
STOP_TIMEOUT_S = 30.0
PDF_DPI = 110  # an A4 page at 110 dpi is 910 x 1286 pixels


def log(message: str) -> None:
    print(f"[tour] {message}", flush=True)


# --- the demo to photograph ----------------------------------------------------------------------


def _with_db(url: str, name: str) -> str:
    """`url` (a postgres:// URL, the unix-socket form too) naming database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _redis_url() -> str:
    if os.environ.get("TOUR_REDIS_URL"):
        return os.environ["TOUR_REDIS_URL"]
    return urlunsplit(urlsplit(os.environ["REDIS_URL"])._replace(path=f"/{TOUR_REDIS_DB}"))


def _redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def _database_recreate(url: str, *, drop_only: bool = False) -> None:
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    if "tour" not in name:
        raise SystemExit(f"[tour] refusing to drop database {name!r}: its name lacks 'tour'")
    with devstack.pg_connect(url, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def demo_running(*, keep_database: bool) -> Iterator[tuple[int, str]]:
    """Start the seeded demo as `make run` does, on its own database and Redis database;
    yield (port, database URL) once /health/ answers 200; stop it and clean up after."""
    database_url = _with_db(os.environ["DATABASE_URL"], urlsplit(os.environ["DATABASE_URL"]).path.strip("/") + "_tour")
    redis_url = _redis_url()
    port = devstack.free_port()
    os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "PORT": str(port)})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")
    log(f"demo on port {port}, database {urlsplit(database_url).path.strip('/')}, Redis {redis_url}")
    _redis_flush(redis_url)
    _database_recreate(database_url)
    proc: subprocess.Popen[bytes] | None = None
    log_file = tempfile.NamedTemporaryFile(prefix="fitflow-tour-", suffix=".log", delete=False)  # noqa: SIM115
    try:
        devstack.migrate_wait(devstack.migrate_database(database_url))
        devstack.manage("seed_demo", "--port", str(port), "-v", "0", capture=True)
        env = devstack.app_env(port=port, database_url=database_url, redis_url=redis_url)
        proc = subprocess.Popen(
            devstack.honcho_command(port=port),
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped as one group
        )
        healthy, body = devstack.wait_until_healthy(port, proc=proc)
        if not healthy:
            raise SystemExit(f"[tour] the demo did not become healthy ({body}); log {log_file.name}")
        log("demo up and healthy")
        yield port, database_url
    finally:
        if proc is not None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # a worker's pool children left behind
        log_file.close()
        Path(log_file.name).unlink(missing_ok=True)
        if not keep_database:
            _database_recreate(database_url, drop_only=True)
        _redis_flush(redis_url)


# --- what to show -------------------------------------------------------------------------------------

# A member the desk search (`member_list`: every word in the first name, last name or
# email) finds alone, whose membership in `status` on a plan of `kind` covers today.
_MEMBER_SQL = f"""
SELECT m.first_name || ' ' || m.last_name
FROM {GYM_SCHEMA}.members_member m
JOIN {GYM_SCHEMA}.memberships_membership ms ON ms.member_id = m.id
JOIN {GYM_SCHEMA}.plans_plan p ON p.id = ms.plan_id
WHERE ms.status = %(status)s AND p.kind = 'recurring' AND p.access_hours = '[]'::jsonb
  AND ms.start_date <= current_date AND (ms.end_date IS NULL OR ms.end_date >= current_date)
  AND NOT EXISTS (SELECT 1 FROM {GYM_SCHEMA}.checkins_checkin c WHERE c.member_id = m.id AND c.checked_out_at IS NULL)
  AND (SELECT count(*) FROM {GYM_SCHEMA}.members_member o
       WHERE (o.first_name || ' ' || o.last_name || ' ' || o.email) ILIKE '%%' || m.first_name || '%%'
         AND (o.first_name || ' ' || o.last_name || ' ' || o.email) ILIKE '%%' || m.last_name || '%%') = 1
  AND m.first_name !~ '[ ''-]' AND m.last_name !~ '[ ''-]'
ORDER BY m.id
LIMIT 1
"""  # noqa: S608 (a constant schema name)

_INVOICE_SQL = f"""
SELECT i.id FROM {GYM_SCHEMA}.invoices_invoice i
WHERE i.status = 'paid' AND i.period_start IS NOT NULL
  AND (SELECT count(*) FROM {GYM_SCHEMA}.invoices_invoiceline l WHERE l.invoice_id = i.id) >= 1
ORDER BY i.issue_date DESC, i.id DESC
LIMIT 1
"""  # noqa: S608 (a constant schema name)


def demo_picks(database_url: str) -> dict[str, Any]:
    """{"green": a member's full name, "red": a frozen member's full name, "invoice": an
    invoice id} from the demo gym's schema; SystemExit if the seed has no such member."""
    with devstack.pg_connect(database_url) as conn:
        green = conn.execute(_MEMBER_SQL, {"status": "active"}).fetchone()
        red = conn.execute(_MEMBER_SQL, {"status": "frozen"}).fetchone()
        invoice = conn.execute(_INVOICE_SQL).fetchone()
    if not (green and red and invoice):
        raise SystemExit(
            f"[tour] the demo gym lacks an active or frozen member or a paid invoice: {green, red, invoice}"
        )
    return {"green": green[0], "red": red[0], "invoice": invoice[0]}


# --- screenshots --------------------------------------------------------------------------------------


def png_optimise(data: bytes, path: Path, *, colours: int = 256) -> int:
    """Write the PNG `data` to `path` as an optimised palette PNG; returns its size in bytes."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(path, format="PNG", optimize=True)
    return path.stat().st_size


def pdf_first_page_png(pdf: bytes) -> bytes:
    """The first page of `pdf` as PNG bytes at `PDF_DPI` (poppler's pdftoppm)."""
    with tempfile.TemporaryDirectory(prefix="fitflow-tour-") as tmp:
        source = Path(tmp) / "invoice.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(PDF_DPI), "-f", "1", "-l", "1", "-singlefile", str(source), f"{tmp}/page"],  # noqa: S607
            check=True,
        )
        return (Path(tmp) / "page.png").read_bytes()


def _download(port: int, path: str, cookies: list[Any]) -> bytes:
    """GET `path` from the demo gym with the browser's session cookies; the PDF's bytes.
    (Playwright's own request context resolves `demo.localhost` through the system
    resolver, which may not know it; Chromium maps *.localhost to 127.0.0.1 itself.)"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies if c["domain"].endswith("localhost"))
        conn.request("GET", path, headers={"Host": f"{GYM_SLUG}.localhost:{port}", "Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200 or response.getheader("Content-Type") != "application/pdf":
        raise RuntimeError(f"{path} answered {response.status} {response.getheader('Content-Type')}")
    return body


def take_screenshots(*, port: int, picks: dict[str, Any], out: Path, password: str) -> dict[str, int]:
    """Sign in as the demo owner and save every tour image to `out`; returns {file: bytes}."""
    from playwright.sync_api import expect, sync_playwright

    base = f"http://{GYM_SLUG}.localhost:{port}"
    sizes: dict[str, int] = {}
    out.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> None:
        page.wait_for_timeout(400)  # the last htmx swaps and fonts settle
        sizes[name] = png_optimise(page.screenshot(animations="disabled"), out / name)
        log(f"{name}: {sizes[name] / 1000:.0f} kB")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, base_url=base, reduced_motion="reduce")
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("input[name=login]", OWNER)
            page.fill("input[name=password]", password)
            page.click("form button[type=submit]")
            page.wait_for_url(f"{base}/")

            page.goto("/", wait_until="networkidle")
            page.wait_for_timeout(1200)  # Chart.js draws after load
            save(page, "dashboard.png")
            page.goto("/members/", wait_until="networkidle")
            save(page, "members.png")
            page.goto("/schedule/", wait_until="networkidle")
            save(page, "timetable.png")

            for tone, name in (("green", "checkin-green.png"), ("red", "checkin-red.png")):
                page.goto("/check-in/", wait_until="networkidle")
                page.fill("#desk-q", picks[tone])
                page.press("#desk-q", "Enter")
                panel = page.locator("#desk-result .desk-panel").first
                expect(panel).to_have_attribute("data-tone", tone)
                save(page, name)

            pdf = _download(port, f"/billing/invoices/{picks['invoice']}/pdf/", context.cookies())
            sizes["invoice-pdf.png"] = png_optimise(pdf_first_page_png(pdf), out / "invoice-pdf.png")
            log(f"invoice-pdf.png: {sizes['invoice-pdf.png'] / 1000:.0f} kB")
        finally:
            browser.close()
    return sizes


def _demo_password() -> str:
    """The demo logins' password, from the seed (sets Django up: call it once DATABASE_URL is final)."""
    import django

    django.setup()
    from apps.tenants.management.commands.seed_demo import DEMO_PASSWORD

    return DEMO_PASSWORD


def main(argv: list[str] | None = None) -> int:
    """Run the tour (see the module docstring); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m fitflow.tour", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="use the demo already running on this port (make run)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNGs go (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--keep-database", action="store_true", help="keep the tour's own database afterwards")
    opts = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"[tour] {CHROMIUM} is missing: make chromium (apt-get install -y chromium poppler-utils)")
    signal.signal(signal.SIGTERM, devstack._on_signal)  # SIGTERM unwinds like Ctrl-C: the demo is stopped
    devstack.prepare_environment()
    if "DATABASE_URL" not in os.environ or "REDIS_URL" not in os.environ:
        raise SystemExit("[tour] needs DATABASE_URL and REDIS_URL: run it as `make tour` (devstack exec)")
    started = time.monotonic()
    if opts.port:
        picks = demo_picks(os.environ["DATABASE_URL"])
        sizes = take_screenshots(port=opts.port, picks=picks, out=opts.out, password=_demo_password())
    else:
        with demo_running(keep_database=opts.keep_database) as (port, database_url):
            picks = demo_picks(database_url)
            log(f"green: {picks['green']}, red: {picks['red']}, invoice id {picks['invoice']}")
            sizes = take_screenshots(port=port, picks=picks, out=opts.out, password=_demo_password())
    log(f"{len(sizes)} images, {sum(sizes.values()) / 1e6:.2f} MB in {opts.out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
