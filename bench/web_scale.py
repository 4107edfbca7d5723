"""The site at size: page and API latency with 10,000 synthetic models × 30 benchmarks × 3 runs on PostgreSQL.

    .venv/bin/python bench/web_scale.py                                  # 10000 x 30 x 3, 4 clients
    .venv/bin/python bench/web_scale.py --models 1000 --clients 8 --requests 80

1. A database of its own (default postgres://postgres@127.0.0.1:5432/benchsite_scale) is created and migrated,
   then filled by `manage.py seed_scale ... --i-know-this-is-synthetic` (skipped when it already holds that
   shape; --reseed forces it). Nothing synthetic reaches any other database.
2. daphne serves the site on it with BENCHSITE_SHOW_SYNTHETIC=1 and API throttles lifted; for each endpoint
   (leaderboard first page, sorted by a benchmark, another suite order; a model page; compare; recommender;
   the API's model and run lists) --clients threads send --requests requests in all, after two warm-up
   requests. Printed: p50/p95/max in ms, requests/s, response size.
3. In process, the SQL queries each request makes (Django's test client with CaptureQueriesContext), and
   EXPLAIN ANALYZE of the leaderboard's page query. Before that, the stored board (leaderboard.models) is
   built once by `manage.py refresh_leaderboard`, as after any bulk load, and its time printed.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/benchsite_scale"


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            connection.execute(f'create database "{name}"')


def seeded_shape(env: dict) -> str:
    code = ("import django; django.setup(); from evaluations.models import Suite; "
            "s = Suite.objects.filter(slug='synthetic-scale').order_by('-pk').first(); print(s.version if s else '')")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            check=True)
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load(base: str, path: str, *, clients: int, requests: int) -> dict:
    import httpx

    latencies: list[float] = []
    sizes: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    remaining = [requests]

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=300) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code != 200:
                        failures.append(str(response.status_code))
                    latencies.append(elapsed)
                    sizes.append(len(response.content))

    with httpx.Client(base_url=base, timeout=300) as client:  # warm-up: caches, connections, imports
        for _ in range(2):
            client.get(path)
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"p50": statistics.median(ordered), "p95": ordered[max(0, int(round(0.95 * len(ordered))) - 1)],
            "max": ordered[-1], "rps": len(ordered) / wall, "bytes": statistics.median(sizes), "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=os.environ.get("SCALE_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--benchmarks", type=int, default=30)
    parser.add_argument("--runs-per-model", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=40, help="per endpoint, over all clients")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args(argv)

    env = {**os.environ, "DATABASE_URL": args.database, "BENCHSITE_SHOW_SYNTHETIC": "1", "DJANGO_DEBUG": "0",
           "DJANGO_SECRET_KEY": "web-scale-benchmark-only-" + "k" * 40, "DJANGO_SECURE_SSL_REDIRECT": "0",
           "DJANGO_SETTINGS_MODULE": "benchsite.settings", "API_THROTTLE_ANON": "1000000/min",
           "API_THROTTLE_USER": "1000000/min", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
           # Production settings over plain HTTP on loopback: its own key, no redirect to HTTPS.
           "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
           "DJANGO_SECURE_SSL_REDIRECT": "0"}
    ensure_database(args.database)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True)
    shape = f"{args.models}x{args.benchmarks}x{args.runs_per_model}-"
    if args.reseed or not seeded_shape(env).startswith(shape):
        subprocess.run([sys.executable, "manage.py", "seed_scale", "--remove", "--i-know-this-is-synthetic"],
                       cwd=REPO_ROOT, env=env, check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "manage.py", "seed_scale", "--models", str(args.models), "--benchmarks",
                        str(args.benchmarks), "--runs-per-model", str(args.runs_per_model), "--samples", "100",
                        "--i-know-this-is-synthetic"], cwd=REPO_ROOT, env=env, check=True, capture_output=True)
        print(f"seeded {args.models} models x {args.benchmarks} benchmarks x {args.runs_per_model} runs "
              f"in {time.perf_counter() - started:.0f} s")
    subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.db import connection; "
                    "connection.cursor().execute('ANALYZE')"], cwd=REPO_ROOT, env=env, check=True)
    started = time.perf_counter()
    built = subprocess.run([sys.executable, "manage.py", "refresh_leaderboard"], cwd=REPO_ROOT, env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    print(f"stored board: {built} (manage.py refresh_leaderboard, {time.perf_counter() - started:.1f} s with start-up)")
    subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.db import connection; "
                    "connection.cursor().execute('VACUUM ANALYZE')"], cwd=REPO_ROOT, env=env, check=True)

    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from evaluations.models import ModelEntry, Suite
    from leaderboard import selectors

    suite = Suite.objects.filter(slug="synthetic-scale").order_by("-pk").first()
    first_models = list(ModelEntry.objects.filter(is_synthetic=True).order_by("pk")[:2])
    sort_slug = suite.order[len(suite.order) // 2]
    endpoints = [
        ("leaderboard, first page", f"/?suite={suite.pk}"),
        ("leaderboard, sorted by a benchmark", f"/?suite={suite.pk}&sort={sort_slug}&dir=asc"),
        ("leaderboard, by name ascending", f"/?suite={suite.pk}&sort=model&dir=asc"),
        ("leaderboard, base models, page 50", f"/?suite={suite.pk}&lineage=base&page=50"),
        ("model list", "/models/"),
        ("model page", f"/models/{first_models[0].slug}/"),
        ("compare", f"/compare/?models={first_models[0].slug},{first_models[1].slug}&suite={suite.pk}"),
        ("recommender", f"/recommend/?suite={suite.pk}"),
        ("API: models", "/api/v1/models/"),
        ("API: runs", "/api/v1/runs/"),
    ]

    print(f"\nSQL queries per request (in process, {connection.vendor}):")
    client = Client()
    for label, path in endpoints:
        with CaptureQueriesContext(connection) as queries:
            status = client.get(path).status_code
        print(f"  {label:<36} {len(queries):>4} queries  (HTTP {status})")

    print("\nEXPLAIN ANALYZE of the leaderboard's page query (sorted by a benchmark, page 50):")
    from django.core.paginator import Paginator

    keys = selectors._board_order(suite, sort_slug, False, "").values_list("row_id", flat=True)
    page = Paginator(keys, settings.BENCHSITE_LEADERBOARD_PAGE_SIZE).get_page(50)
    print("\n".join("  " + line for line in page.object_list.explain(analyze=True).splitlines()))

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "benchsite.asgi:application"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(base + "/api/v1/suites/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        load_average = os.getloadavg()[0]
        print(f"\nOver HTTP (daphne, {args.clients} clients, {args.requests} requests per endpoint; load average "
              f"{load_average:.2f} on {os.cpu_count()} CPUs):")
        print(f"  {'endpoint':<36} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'req/s':>7} {'KB':>8}")
        for label, path in endpoints:
            figures = load(base, path, clients=args.clients, requests=args.requests)
            failed = f"  FAILED {len(figures['failures'])}: {sorted(set(figures['failures']))}" if figures[
                "failures"] else ""
            print(f"  {label:<36} {figures['p50']:>9.1f} {figures['p95']:>9.1f} {figures['max']:>9.1f} "
                  f"{figures['rps']:>7.1f} {figures['bytes'] / 1024:>8.1f}{failed}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
