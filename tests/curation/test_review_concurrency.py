"""Fifty reviewers on one queue at once, against a real server: no item is handed out
twice and no decision is lost; with an overlap of N, every item gets exactly N reviewers."""
from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

import pytest
from django.test import Client

from curation.actions import do_create_user
from curation.models import Assignment, Review, ReviewQueue, ReviewStatus, Sample
from curation.roles import REVIEWER

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REVIEWERS = 50
ITEMS = 150
CSRF = "concurrencytestcsrftoken00000000"  # any 32 characters will do as a cookie secret
ITEM = re.compile(r'data-item-id="(\d+)"')


class Session:
    """One logged-in browser, reduced to cookies and urllib."""

    def __init__(self, base: str, session_id: str):
        self.base = base
        self.cookie = f"sessionid={session_id}; csrftoken={CSRF}"

    def request(self, path: str, data: dict | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers={
            "Cookie": self.cookie, "X-CSRFToken": CSRF, "HX-Request": "true"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read().decode()


@pytest.fixture
def lua(transactional_db):
    """The Lua pack, committed so the live server sees it."""
    from django.db import transaction

    from curation.actions import _store_pack
    from curation.packs import read_pack
    from tests.conftest import LUA_PACK

    with transaction.atomic():
        return _store_pack(read_pack(LUA_PACK)).language


def seed_queue_and_reviewers(live_server, lua, *, items: int, reviewers: int) -> dict:
    """`items` syntax samples waiting, and `reviewers` logged-in reviewers: {user id: Session}."""
    Sample.objects.bulk_create(Sample(language=lua, kind="syntax", code=f"print({i})", generator="g",
                                      content_hash=f"c{i}", verdict="ok") for i in range(items))
    sessions = {}
    for n in range(reviewers):
        user = do_create_user(f"r{n:02}", role=REVIEWER, password="not-used-here", languages=[lua])
        client = Client()
        client.force_login(user)
        sessions[user.pk] = Session(live_server.url, client.cookies["sessionid"].value)
    return sessions


class Desk:
    """What the reviewers did: items shown to each, and the accepts confirmed to each."""

    def __init__(self):
        self.shown = defaultdict(set)       # item → reviewers it was shown to
        self.accepted = defaultdict(list)   # reviewer → items whose accept came back confirmed
        self.decided = defaultdict(list)    # item → reviewers whose accept came back confirmed


def review_until_empty(sessions: dict) -> Desk:
    """Every reviewer at once (a barrier starts them together): ask for the next item and
    accept it, until the queue has nothing more for them. Fails on any error or any
    decision the server did not confirm."""
    desk, errors, lock = Desk(), [], threading.Lock()
    start = threading.Barrier(len(sessions))

    def work(user_id: int, session: Session):
        try:
            start.wait()
            html = session.request("/review/lua/syntax/")
            while (match := ITEM.search(html)) is not None:
                item = int(match.group(1))
                with lock:
                    desk.shown[item].add(user_id)
                html = session.request(f"/review/lua/syntax/{item}/decide/", {"decision": "accept"})
                if f"Accepted #{item}." not in html:
                    raise AssertionError(f"decision on {item} not confirmed: {html[:300]}")
                with lock:
                    desk.accepted[user_id].append(item)
                    desk.decided[item].append(user_id)
        except Exception as exc:  # noqa: BLE001 — collected and reported below
            errors.append(f"{user_id}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=item) for item in sessions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:5]
    return desk


def test_fifty_reviewers_never_get_the_same_item_and_every_decision_lands(live_server, lua):
    sessions = seed_queue_and_reviewers(live_server, lua, items=ITEMS, reviewers=REVIEWERS)
    desk = review_until_empty(sessions)

    handed_twice = {item: who for item, who in desk.shown.items() if len(who) > 1}
    assert handed_twice == {}
    confirmed = [item for items in desk.accepted.values() for item in items]
    assert len(confirmed) == len(set(confirmed)) == ITEMS
    assert Review.objects.filter(decision="accept").count() == ITEMS
    assert set(Review.objects.values_list("sample_id", flat=True)) == set(confirmed)
    assert Sample.objects.filter(status=ReviewStatus.ACCEPTED).count() == ITEMS
    assert Assignment.objects.filter(state="done").count() == ITEMS
    assert sum(1 for items in desk.accepted.values() if items) > REVIEWERS // 2  # the work was shared


def test_with_an_overlap_of_three_every_item_gets_three_different_reviewers_at_once(live_server, lua):
    overlap, items, reviewers = 3, 40, 12
    ReviewQueue.objects.create(language=lua, kind="syntax", overlap=overlap)
    sessions = seed_queue_and_reviewers(live_server, lua, items=items, reviewers=reviewers)
    decided = review_until_empty(sessions).decided

    assert len(decided) == items
    assert all(len(who) == len(set(who)) == overlap for who in decided.values()), \
        {item: who for item, who in decided.items() if len(set(who)) != overlap}
    assert Review.objects.filter(decision="accept").count() == items * overlap
    assert Sample.objects.filter(status=ReviewStatus.ACCEPTED).count() == items  # three agreeing accepts settle it
    assert not Sample.objects.filter(claims__gt=overlap).exists()
