"""Review workflow at scale: a million samples on Postgres, timed through the real views.

    .venv/bin/python bench/review.py [--count 1000000] [--database scriptorium_bench]

Creates the database if needed, migrates, loads the Lua pack, seeds samples with
`manage.py seed_samples` (COPY) up to --count, then measures server time (Django's full
request path, in process, DEBUG off) for:

- next item: a reviewer's decision plus the next item it returns (htmx), and a plain GET;
- the queue page and browse pages (filters, full-text search, paging);
- a bulk accept over 100,000 filtered items, set-based (then undone, untimed);
- fifty reviewer threads against a real threaded server on one queue.

Beside the timings, the plan of the hand-out's SELECT … FOR UPDATE SKIP LOCKED (EXPLAIN
ANALYZE, rolled back) on a queue at the start and one at the end of the generators' runs:
the index it reads and the buffers it touches do not depend on how loaded the machine is.
`--prepare-only` creates and seeds the database and stops (it takes minutes: keep it).

Baselines measured in the same run: an exact COUNT(*) where the pages use a capped count,
and a per-item loop for the bulk action (1,000 items, scaled to 100,000). Targets: next
p95 ≤ 20 ms, queue/browse p95 ≤ 150 ms, bulk of 100k ≤ 10 s; no item handed out twice.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--database", default="scriptorium_bench")
    parser.add_argument("--port", type=int, default=5432, help="Postgres on 127.0.0.1, user postgres")
    parser.add_argument("--decisions", type=int, default=300, help="Decisions timed for the next-item figure")
    parser.add_argument("--repeat", type=int, default=12, help="Requests per page for the page figures")
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="Length of the concurrent-reviewers run")
    parser.add_argument("--prepare-only", action="store_true",
                        help="Create, migrate and seed the database, then stop (it takes minutes: do it once)")
    return parser.parse_args()


def setup_environment(database: str, port: int) -> None:
    # Always the bench's own database, whatever DATABASE_URL says: this script seeds a
    # million rows and bulk-updates them.
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{port}/{database}"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    os.environ.setdefault("DATA_DIR", str(REPO / "var" / "bench-data"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scriptorium.settings")
    os.environ["DEBUG"] = "0"  # DEBUG keeps every query in memory: not what production runs


def ensure_database(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


class CpuClock:
    """CPU seconds spent serving: this process (Django, in-process) plus the Postgres
    backend it talks to, read from /proc/<pid>/schedstat (nanoseconds). On a machine
    shared with other work, wall time includes waiting for a CPU; this does not."""

    def __init__(self, backend_pid: int):
        self.path = f"/proc/{backend_pid}/schedstat"

    def __call__(self) -> float:
        try:
            with open(self.path) as f:
                backend = int(f.read().split()[0]) / 1e9
        except OSError:  # Postgres on another host: the app's share only
            backend = 0.0
        return time.process_time() + backend


class Timer:
    def __init__(self, clock: CpuClock):
        self.clock, self.wall, self.cpu = clock, [], []

    def __enter__(self):
        self._w, self._c = time.perf_counter(), self.clock()
        return self

    def __exit__(self, *exc):
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(self.clock() - self._c)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what: str, n: int | str, p50: str, p95: str, target: str, ok: bool | None,
            cpu50: str = "", cpu95: str = "", cpu_ok: bool | None = None):
        mark = {None: "", True: "yes", False: "NO"}
        self.rows.append((what, str(n), p50, p95, target, mark[ok], cpu50, cpu95, mark[cpu_ok]))

    def timed(self, what: str, timer: Timer, target_ms: float | None):
        w50, w95 = percentile(timer.wall, .5), percentile(timer.wall, .95)
        c50, c95 = percentile(timer.cpu, .5), percentile(timer.cpu, .95)
        limit = target_ms / 1000 if target_ms else None
        self.add(what, len(timer.wall), ms(w50), ms(w95), f"p95 ≤ {target_ms:g} ms" if target_ms else "",
                 None if limit is None else w95 <= limit, ms(c50), ms(c95), None if limit is None else c95 <= limit)

    def print(self):
        head = ("measure", "n", "wall p50", "wall p95 / total", "target", "met", "cpu p50", "cpu p95 / total",
                "met on cpu")
        widths = [max(len(str(r[i])) for r in [head, *self.rows]) for i in range(len(head))]
        for row in [head, tuple("-" * w for w in widths), *self.rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def main() -> None:
    args = parse_args()
    setup_environment(args.database, args.port)
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client

    from curation.actions import _store_pack, do_create_user
    from curation.models import BulkAction, Language, Review, ReviewStatus, Sample
    from curation.packs import read_pack
    from curation.roles import ADMIN, REVIEWER

    from django.conf import settings

    # One connection for the whole run, so its backend's CPU can be read.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = None
    call_command("migrate", verbosity=0)
    lua = Language.objects.filter(slug="lua").first()
    if lua is None:
        with transaction.atomic():
            lua = _store_pack(read_pack(REPO / "languages" / "lua")).language
    existing = Sample.objects.filter(language=lua).count()
    if existing < args.count:
        print(f"seeding {args.count - existing:,} samples (have {existing:,}) …", flush=True)
        started = time.perf_counter()
        call_command("seed_samples", "--count", str(args.count - existing), "--language", "lua",
                     "--seed", str(existing + 1))
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE curation_sample")
            cursor.execute("VACUUM ANALYZE curation_execution")
    total = Sample.objects.filter(language=lua).count()
    print(f"samples in the database: {total:,}")
    if args.prepare_only:
        return

    reviewer = do_create_user("bench-reviewer", role=REVIEWER, password="bench-password-1", languages=[lua])
    admin = do_create_user("bench-admin", role=ADMIN, password="bench-password-1")
    # Every run starts where the first did. The reviewer skips one item in four and is never
    # handed a skipped item again; with nobody else on the queue, earlier runs' skips pile up
    # at its head and every hand-out walks past all of them (450 after six runs: 4 ms a
    # claim). A real queue's skips go to colleagues. Forgetting the holds changes no item
    # (a skip already gave its item back); the skip Reviews stay in the audit trail.
    from curation.models import Assignment

    forgotten, _ = Assignment.objects.filter(reviewer=reviewer, queue="syntax", state=Assignment.State.SKIPPED).delete()
    with connection.cursor() as cursor:
        # The review tables grow with every run, from empty; where autovacuum is off (this
        # bench server) their statistics would say "empty" and the planner pick the wrong
        # index for the reviewer's own holds (1,400 rows filtered to find one open hold).
        cursor.execute("ANALYZE curation_assignment")
        cursor.execute("ANALYZE curation_review")
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    print(f"forgot {forgotten} skipped holds of earlier runs; analyzed the review tables (autovacuum {autovacuum})")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        clock = CpuClock(cursor.fetchone()[0])
    table = Table()
    figures = {}
    load_before = os.getloadavg()[0]

    # ---------------------------------------------------------------- next item
    client = Client()
    client.force_login(reviewer)
    queue = "/review/lua/syntax/"
    client.get(queue)  # warm caches, templates, the pack
    gets, decides = Timer(clock), Timer(clock)
    for _ in range(args.repeat * 3):
        with gets:
            response = client.get(queue, HTTP_HX_REQUEST="true")
    item = int(re.search(r'data-item-id="(\d+)"', response.content.decode()).group(1))
    for i in range(args.decisions):
        with decides:
            response = client.post(f"/review/lua/syntax/{item}/decide/", {"decision": "accept" if i % 4 else "skip",
                                                                           "rating": "4"}, HTTP_HX_REQUEST="true")
        item = int(re.search(r'data-item-id="(\d+)"', response.content.decode()).group(1))
    figures["next_p95_ms"] = percentile(decides.wall, 0.95) * 1000
    figures["next_cpu_p95_ms"] = percentile(decides.cpu, 0.95) * 1000
    table.timed("decide + next item (htmx)", decides, 20)
    table.timed("next item, GET (htmx)", gets, 20)

    # The hand-out's plan, for every sample queue: on a shared machine wall times wander,
    # the plan shape and the buffers read do not.
    for name, plan in claim_plans(lua, reviewer).items():
        table.add(f"  claim plan, {name}: {plan['shape']}", 1, "", f"{plan['ms']:.2f}", "", None, "",
                  f"{plan['buffers']} buffers")

    # ---------------------------------------------------------------- queue and browse pages
    def timed(c, url, n, timer=None):
        c.get(url)
        timer = timer or Timer(clock)
        for _ in range(n):
            with timer:
                response = c.get(url)
            assert response.status_code == 200, (url, response.status_code)
        return timer

    queue_times = timed(client, "/review/", args.repeat * 2)
    figures["queue_p95_ms"] = percentile(queue_times.wall, 0.95) * 1000
    figures["queue_cpu_p95_ms"] = percentile(queue_times.cpu, 0.95) * 1000
    table.timed("queue page /review/", queue_times, 150)

    oldest = Sample.objects.filter(language=lua).order_by("-pk").values_list("pk", flat=True)[5000]
    newest = Sample.objects.filter(language=lua).order_by("-pk").values_list("created_at", flat=True).first()
    week_ago = (newest - dt.timedelta(days=7)).date()
    browse_urls = {
        "no filter": "", "kind": "kind=negative", "verdict": "verdict=timeout", "generator": "generator=grammar-mutate",
        "status": "status=accepted", "reviewer": f"reviewer={reviewer.pk}", "error type": "error_type=index_type",
        "date": f"date_from={week_ago.isoformat()}", "search": "q=fibonacci", "search+kind": "q=metatable+closure&kind=syntax",
        "rare search": "q=coroutine_range+gamma", "combined": "kind=syntax&verdict=ok&generator=grammar-recombine",
        "page 100": f"before={oldest}",
    }
    browse_all = Timer(clock)
    slowest = ("", 0.0, 0.0)
    for name, query in browse_urls.items():
        one = timed(client, f"/review/lua/browse/?{query}", args.repeat)
        browse_all.wall += one.wall
        browse_all.cpu += one.cpu
        if percentile(one.wall, 0.95) > slowest[1]:
            slowest = (name, percentile(one.wall, 0.95), percentile(one.cpu, 0.95))
    figures["browse_p95_ms"] = percentile(browse_all.wall, 0.95) * 1000
    figures["browse_cpu_p95_ms"] = percentile(browse_all.cpu, 0.95) * 1000
    table.timed(f"browse pages ({len(browse_urls)} filters)", browse_all, 150)
    table.add(f"  slowest filter: {slowest[0]}", args.repeat, "", ms(slowest[1]), "", None, "", ms(slowest[2]))

    from curation import review as rv

    qs = Sample.objects.filter(language=lua, status=ReviewStatus.PENDING)
    started = time.perf_counter()
    exact = qs.count()
    exact_s = time.perf_counter() - started
    started = time.perf_counter()
    rv.capped_count(qs)
    capped_s = time.perf_counter() - started
    table.add(f"baseline: exact COUNT(*) of {exact:,} waiting", 1, "", ms(exact_s), "", None)
    table.add("  the capped count (10,000+) used instead", 1, "", ms(capped_s), "", None)

    # ---------------------------------------------------------------- bulk over 100,000
    bulk_filter = {"generator": "negative-mutate", "status": "pending"}
    matched = Sample.objects.filter(language=lua, **bulk_filter).count()
    admin_client = Client()
    admin_client.force_login(admin)
    admin_client.get("/review/lua/browse/")  # the admin's session, warm
    bulk_timer = Timer(clock)
    with bulk_timer:
        response = admin_client.post("/review/lua/browse/bulk/", {**bulk_filter, "decision": "accept",
                                                                  "matched": matched, "confirm": "on"})
    bulk_s, bulk_cpu = bulk_timer.wall[0], bulk_timer.cpu[0]
    assert response.status_code == 200, response.status_code
    bulk = BulkAction.objects.order_by("-pk").first()
    assert bulk.changed == matched and Review.objects.filter(bulk_action=bulk).count() == matched
    figures["bulk_s"] = bulk_s
    figures["bulk_cpu_s"] = bulk_cpu
    figures["bulk_items"] = bulk.changed
    table.add(f"bulk accept, {bulk.changed:,} filtered items", 1, "", f"{bulk_s:.2f} s", "≤ 10 s", bulk_s <= 10,
              "", f"{bulk_cpu:.2f} s", bulk_cpu <= 10)
    # Undo it (untimed) so the bench can run again.
    with transaction.atomic():
        Sample.objects.filter(pk__in=Review.objects.filter(bulk_action=bulk).values("sample_id")).update(
            status=ReviewStatus.PENDING)
        Review.objects.filter(bulk_action=bulk).delete()
        bulk.delete()

    # Worst case, no target: a filter whose rows sit on nearly every page of the table (a
    # verdict, spread at random), so every page is rewritten and logged in full.
    spread_filter = {"verdict": "test_failed", "status": "pending"}
    spread_matched = Sample.objects.filter(language=lua, **spread_filter).count()
    spread_timer = Timer(clock)
    with spread_timer:
        admin_client.post("/review/lua/browse/bulk/", {**spread_filter, "decision": "accept",
                                                       "matched": spread_matched, "confirm": "on"})
    spread = BulkAction.objects.order_by("-pk").first()
    table.add(f"  worst case: {spread.changed:,} rows spread over every page", 1, "",
              f"{spread_timer.wall[0]:.2f} s", "", None, "", f"{spread_timer.cpu[0]:.2f} s")
    with transaction.atomic():
        Sample.objects.filter(pk__in=Review.objects.filter(bulk_action=spread).values("sample_id")).update(
            status=ReviewStatus.PENDING)
        Review.objects.filter(bulk_action=spread).delete()
        spread.delete()

    # Baseline: the same decision one item at a time, through the ORM.
    loop_ids = list(Sample.objects.filter(language=lua, **bulk_filter).values_list("pk", flat=True)[:1000])
    started = time.perf_counter()
    with transaction.atomic():
        for sample in Sample.objects.filter(pk__in=loop_ids):
            sample.status = ReviewStatus.ACCEPTED
            sample.save(update_fields=["status"])
            Review.objects.create(sample=sample, reviewer=admin, decision="accept", bulk=True)
    loop_s = time.perf_counter() - started
    Sample.objects.filter(pk__in=loop_ids).update(status=ReviewStatus.PENDING)
    Review.objects.filter(sample_id__in=loop_ids, reviewer=admin, bulk=True, bulk_action=None).delete()
    table.add("baseline: per-item loop, 1,000 items → ×100", 1, "", f"{loop_s * 100:.1f} s", "", None)

    # ---------------------------------------------------------------- fifty reviewers at once
    concurrency = run_reviewers(lua, args.reviewers, args.seconds)
    figures.update(concurrency)
    table.add(f"{args.reviewers} reviewers, one queue, {args.seconds:.0f} s: decisions", concurrency["decisions"],
              ms(concurrency["p50"]), ms(concurrency["p95"]), "none lost", concurrency["lost"] == 0)
    table.add("  items handed out twice", "", "", str(concurrency["twice"]), "0", concurrency["twice"] == 0)
    table.add("  reviewer threads that failed", "", "", str(concurrency["errors"]), "0", concurrency["errors"] == 0)

    # The bulk actions and their undoing above rewrote 170,000 rows twice: their new
    # versions land wherever there is room, so the rows of one generator end up spread
    # over ever more pages and every index grows. Left so, each run would start slower than
    # the last (a real sample is decided once, not accepted and put back run after run):
    # the table is rewritten in id order, as the seeding left it, with fresh indexes.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("CLUSTER curation_sample USING curation_sample_pkey")
        cursor.execute("VACUUM ANALYZE curation_sample")
        cursor.execute("VACUUM ANALYZE curation_review")
    print(f"(rewrote curation_sample in id order for the next run in {time.perf_counter() - started:.0f} s)")
    print()
    print(f"Review workflow on {total:,} samples (Postgres; server time, ms unless marked). wall = elapsed;"
          f" cpu = CPU of Django + its Postgres backend.")
    print(f"Machine: {os.cpu_count()} cores, load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at"
          f" the end — on a shared machine wall time includes waiting for a core.")
    table.print()
    print()
    print(f"figures: next p95 {figures['next_p95_ms']:.1f} ms (cpu {figures['next_cpu_p95_ms']:.1f}) · "
          f"queue p95 {figures['queue_p95_ms']:.1f} ms (cpu {figures['queue_cpu_p95_ms']:.1f}) · "
          f"browse p95 {figures['browse_p95_ms']:.1f} ms (cpu {figures['browse_cpu_p95_ms']:.1f}) · "
          f"bulk {figures['bulk_items']:,} in {figures['bulk_s']:.2f} s (cpu {figures['bulk_cpu_s']:.2f}) · "
          f"{args.reviewers} reviewers: {concurrency['decisions']} decisions, {concurrency['twice']} handed out twice, "
          f"{concurrency['lost']} lost")
    print(f"ratio: {loop_s * 100 / bulk_s:.1f} (per-item loop / set-based bulk, 100k items)")


def claim_plans(lua, reviewer) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the hand-out's SELECT … FOR UPDATE SKIP LOCKED on the
    first and the last queue generators write (their runs start at id 1 and id 18,001 of
    every 20,000), rolled back: which index answers, how long, how many buffers."""
    import json

    from django.db import connection, transaction

    from curation import review as rv
    from curation.models import ReviewQueue, ReviewStatus

    plans = {}
    for kind in ("syntax", "backtranslate"):
        qk = rv.queue_kind(kind)
        sql = rv.claim_candidate_sql(qk, ReviewQueue.Order.OLDEST)
        params = {"language": lua.pk, "kind": kind, "pending": ReviewStatus.PENDING, "overlap": 1,
                  "reviewer": reviewer.pk, "item": None}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            transaction.set_rollback(True)
        plan = json.loads(plan) if isinstance(plan, str) else plan
        root = plan[0]["Plan"]
        scans = []

        def walk(node):
            if "Index Name" in node:
                scans.append(f"{node['Node Type']} on {node['Index Name']}")
            for child in node.get("Plans", []):
                walk(child)

        walk(root)
        plans[kind] = {"shape": ", ".join(scans) or root["Node Type"], "ms": plan[0]["Execution Time"],
                       "buffers": root.get("Shared Hit Blocks", 0) + root.get("Shared Read Blocks", 0)}
    return plans


def run_reviewers(lua, n: int, seconds: float) -> dict:
    """n threads, each a logged-in reviewer, deciding on the `semantic` queue against a real
    threaded WSGI server for `seconds`."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.test import Client

    from curation.actions import do_create_user
    from curation.models import Review
    from curation.roles import REVIEWER

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    class Server(ThreadedWSGIServer):
        request_queue_size = 128  # listen()'s backlog, set when the server is made: fifty connect at once

    server = Server(("127.0.0.1", port), QuietHandler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    csrf = "benchcsrftoken0000000000000000ab"
    cookies = []
    for i in range(n):
        user = do_create_user(f"bench-r{i:02}", role=REVIEWER, password="bench-password-1", languages=[lua])
        client = Client()
        client.force_login(user)
        cookies.append((user.pk, f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}"))
    since = time.time()
    shown = defaultdict(set)
    confirmed = []
    latencies = []
    errors = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    item_re = re.compile(r'data-item-id="(\d+)"')

    def request(cookie, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers={"Cookie": cookie, "X-CSRFToken": csrf, "HX-Request": "true"})
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as response:
            html = response.read().decode()
        return html, time.perf_counter() - started

    def work(user_id, cookie):
        try:
            html, _ = request(cookie, "/review/lua/semantic/")
            while time.perf_counter() < deadline and (match := item_re.search(html)):
                item = int(match.group(1))
                with lock:
                    shown[item].add(user_id)
                html, took = request(cookie, f"/review/lua/semantic/{item}/decide/", {"decision": "accept"})
                with lock:
                    latencies.append(took)
                    if f"Accepted #{item}." in html:
                        confirmed.append(item)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=c) for c in cookies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.shutdown()
    server.server_close()

    recorded = set(Review.objects.filter(reviewer_id__in=[u for u, _ in cookies], decision="accept",
                                         created_at__gte=dt.datetime.fromtimestamp(since, dt.timezone.utc))
                   .values_list("sample_id", flat=True))
    if errors:
        print(f"  {len(errors)} reviewer threads failed, first: {errors[0]}")
    return {"decisions": len(confirmed), "lost": len(set(confirmed) - recorded),
            "twice": sum(1 for who in shown.values() if len(who) > 1),
            "p50": percentile(latencies, .5) if latencies else 0.0, "p95": percentile(latencies, .95) if latencies else 0.0,
            "errors": len(errors)}


if __name__ == "__main__":
    main()
