"""Who may do what: every route of the URL conf, for a reviewer, a PM and an admin, on GET
and POST. The expectations are a table keyed by URL name; a route missing from it fails,
so a new route has to be classified before the suite passes. Refused requests change
nothing in the database; a reviewer asking for another language's objects gets a 404."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from curation.roles import ADMIN, PM, REVIEWER
from tests.conftest import LUA_PACK, REPO, _user

ROLES = (REVIEWER, PM, ADMIN)
REFUSED = (403, 404, 405)


@dataclass(frozen=True)
class Expect:
    """Status per role for GET and for POST (an empty form unless `data` says otherwise);
    `kwargs` fills the route from a bundle of one language's objects."""

    get: tuple[int, int, int]  # reviewer, PM, admin
    post: tuple[int, int, int]
    kwargs: Callable[[SimpleNamespace], dict] = lambda o: {}
    data: dict = field(default_factory=dict)
    content_type: str | None = None  # JSON endpoints get a JSON body


def _slug(o):
    return {"slug": o.language.slug}


def _queue(o):
    return {"slug": o.language.slug, "kind": "syntax"}


def _item(o):
    return {"slug": o.language.slug, "kind": "syntax", "pk": o.sample.pk}


ALL_200 = (200, 200, 200)
PM_ONLY = (403, 200, 200)
ADMIN_ONLY = (403, 403, 200)
REVIEWERS = (200, 403, 200)  # PMs see queues but do not review
NOT_ALLOWED = (405, 405, 405)
JSON = "application/json"

EXPECT: dict[str, Expect] = {
    # Public: the login page and the health check; logging out is POST only.
    "login": Expect(get=ALL_200, post=ALL_200),
    "logout": Expect(get=NOT_ALLOWED, post=(302, 302, 302)),
    "healthz": Expect(get=ALL_200, post=ALL_200),
    # curation: languages, jobs
    "curation-home": Expect(get=ALL_200, post=ALL_200),
    "curation-view-language": Expect(get=ALL_200, post=ALL_200, kwargs=_slug),
    "curation-view-section": Expect(get=ALL_200, post=ALL_200,
                                    kwargs=lambda o: {"slug": o.language.slug, "anchor": "1.1"}),
    # Everyone manages their own API tokens; an empty form is re-shown (200).
    "curation-list-tokens": Expect(get=ALL_200, post=ALL_200),
    "curation-revoke-token": Expect(get=NOT_ALLOWED, post=(404, 404, 404), kwargs=lambda o: {"pk": o.token.pk}),
    "curation-list-jobs": Expect(get=PM_ONLY, post=PM_ONLY),
    "curation-view-job": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=lambda o: {"pk": o.job.pk}),
    "curation-cancel-job": Expect(get=NOT_ALLOWED, post=(403, 403, 302), kwargs=lambda o: {"pk": o.job.pk}),
    # curation: review
    "curation-list-queues": Expect(get=ALL_200, post=ALL_200),
    "curation-browse-samples": Expect(get=ALL_200, post=ALL_200, kwargs=_slug),
    # Bulk decisions over a whole filter (100,000s of items) are an admin's.
    "curation-bulk-review": Expect(get=ADMIN_ONLY, post=ADMIN_ONLY, kwargs=_slug),
    "curation-view-sample": Expect(get=ALL_200, post=ALL_200,
                                   kwargs=lambda o: {"slug": o.language.slug, "pk": o.sample.pk}),
    "curation-list-disputes": Expect(get=ADMIN_ONLY, post=ADMIN_ONLY, kwargs=_slug),
    "curation-view-agreement": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=_slug),
    "curation-list-reviews": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=_slug),
    "curation-swap-pair": Expect(get=NOT_ALLOWED, post=(302, 403, 302),
                                 kwargs=lambda o: {"slug": o.language.slug, "pk": o.pair.pk}),
    "curation-review-next": Expect(get=REVIEWERS, post=REVIEWERS, kwargs=_queue),
    "curation-configure-queue": Expect(get=ADMIN_ONLY, post=ADMIN_ONLY, kwargs=_queue),
    "curation-undo-review": Expect(get=NOT_ALLOWED, post=(302, 403, 302), kwargs=_queue),
    # An empty decision is refused by the form (400) once the gate let the user through.
    "curation-decide-item": Expect(get=NOT_ALLOWED, post=(400, 403, 400), kwargs=_item),
    # "discard" keeps the sandbox out of a permission test.
    "curation-edit-item": Expect(get=NOT_ALLOWED, post=(302, 403, 302), kwargs=_item, data={"discard": "1"}),
    "curation-adjudicate-item": Expect(get=NOT_ALLOWED, post=(403, 403, 400), kwargs=_item),
    # synthesis
    "synthesis-start-job": Expect(get=ADMIN_ONLY, post=ADMIN_ONLY, kwargs=_slug),
    # training
    "training-list-datasets": Expect(get=PM_ONLY, post=ADMIN_ONLY, kwargs=_slug),
    "training-view-dataset": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=lambda o: {"pk": o.dataset.pk}),
    "training-start-job": Expect(get=ADMIN_ONLY, post=ADMIN_ONLY, kwargs=_slug),
    "training-preview-config": Expect(get=NOT_ALLOWED, post=ADMIN_ONLY, kwargs=_slug),
    "training-list-checkpoints": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=_slug),
    "training-view-job": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=lambda o: {"pk": o.training_job.pk}),
    # The fixture's job finished: there is nothing to resume (409) once the gate let the admin through.
    "training-resume-job": Expect(get=NOT_ALLOWED, post=(403, 403, 409), kwargs=lambda o: {"pk": o.training_job.pk}),
    "training-api-start-job": Expect(get=NOT_ALLOWED, post=(403, 403, 400), data={}, content_type=JSON),
    "training-api-view-job": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=lambda o: {"pk": o.training_job.pk}),
    "training-start-self-training": Expect(get=PM_ONLY, post=ADMIN_ONLY, kwargs=_slug),
    # evaluation: PMs run and watch evaluations; admins manage suites
    "evaluation-view-dashboard": Expect(get=PM_ONLY, post=PM_ONLY),
    "evaluation-list-runs": Expect(get=PM_ONLY, post=PM_ONLY),
    "evaluation-start-run": Expect(get=PM_ONLY, post=PM_ONLY),
    "evaluation-view-run": Expect(get=PM_ONLY, post=PM_ONLY, kwargs=lambda o: {"pk": o.run.pk}),
    "evaluation-cancel-run": Expect(get=NOT_ALLOWED, post=(403, 302, 302), kwargs=lambda o: {"pk": o.run.pk}),
    "evaluation-view-problem": Expect(get=PM_ONLY, post=PM_ONLY,
                                      kwargs=lambda o: {"pk": o.run.pk, "problem_pk": o.problem.pk}),
    "evaluation-compare-runs": Expect(get=PM_ONLY, post=PM_ONLY),
    "evaluation-list-suites": Expect(get=PM_ONLY, post=PM_ONLY),
    "evaluation-sync-suites": Expect(get=NOT_ALLOWED, post=(403, 403, 302), kwargs=_slug),
    # No file: the form refuses it (400) once the gate let the admin through.
    "evaluation-import-suite": Expect(get=NOT_ALLOWED, post=(403, 403, 400), kwargs=_slug),
    "evaluation-view-playground": Expect(get=PM_ONLY, post=PM_ONLY),
    # The JSON API answers 403 (not a login redirect); an empty body is a 400.
    "evaluation-api-runs": Expect(get=PM_ONLY, post=(403, 400, 400), data={}, content_type=JSON),
    "evaluation-api-run": Expect(get=PM_ONLY, post=NOT_ALLOWED, kwargs=lambda o: {"pk": o.run.pk}),
    "evaluation-api-assistant": Expect(get=NOT_ALLOWED, post=(403, 400, 400), data={}, content_type=JSON),
}


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue  # the Django admin: see test_reviewers_and_pms_are_kept_out_of_the_django_admin
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


ROUTES = sorted({name or route for route, name in _routes(get_resolver().url_patterns)})


# ---------------------------------------------------------------- the objects every route needs

def _bundle(language, *, tag: str) -> SimpleNamespace:
    """One of each object a route can name, all of `language`."""
    from curation.models import Dataset, DocSection, Job, PreferencePair, Sample
    from evaluation.models import EvalRun, Suite, SuiteProblem
    from curation.tokens import do_create_api_token
    from training.models import Checkpoint

    DocSection.objects.create(language=language, anchor="§1.1", title="Values", body="Values.", source_file="docs/a.md",
                              order=1)
    sample = Sample.objects.create(language=language, kind="syntax", prompt=f"Print {tag}.", code=f"print('{tag}')\n",
                                   generator="test", content_hash=f"sample-{tag}")
    pair = PreferencePair.objects.create(language=language, prompt="p", chosen="print(1)\n", rejected="print(\n",
                                         generator="test", content_hash=f"pair-{tag}")
    job = Job.objects.create(kind=Job.Kind.SYNTHESIS, language=language, status=Job.Status.RUNNING)
    training_job = Job.objects.create(kind=Job.Kind.TRAINING, language=language, status=Job.Status.SUCCEEDED,
                                      params={"output_dir": "/nowhere"})
    dataset = Dataset.objects.create(language=language, name="main", version=1)
    checkpoint = Checkpoint.objects.create(language=language, name=f"ckpt-{tag}", method="base", base_model="/nowhere",
                                           path=f"/nowhere/{tag}")
    suite = Suite.objects.create(language=language, name=f"{tag}-test", kind="code", source="pack:test")
    problem = SuiteProblem.objects.create(suite=suite, key=f"{tag}/test/one", position=0, prompt="Write f.",
                                          data={"tests": [{"args": [1], "expected": 1}]})
    run = EvalRun.objects.create(checkpoint=checkpoint, suite=suite, status=EvalRun.Status.QUEUED,
                                 settings={"n": 1, "variant": "instruction", "prompt_format": "auto"})
    # Someone else's API token: no role may revoke it (404).
    token, _ = do_create_api_token(_user(REVIEWER, f"token-owner-{tag}"), "theirs")
    return SimpleNamespace(language=language, sample=sample, pair=pair, job=job, training_job=training_job,
                           dataset=dataset, checkpoint=checkpoint, suite=suite, problem=problem, run=run, token=token)


@pytest.fixture
def world(db, settings):
    """Two languages: the reviewer is a member of Lua, not of Tcl."""
    from curation.models import Language

    # A real hash costs a second on this machine, times three users, times every case.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    users = {role: _user(role, f"perm-{role}") for role in ROLES}
    lua = Language.objects.create(slug="lua", name="Lua", extension=".lua", grammar="lua", pack_path=str(LUA_PACK))
    tcl = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl",
                                  pack_path=str(REPO / "languages" / "tcl"))
    lua.members.add(users[REVIEWER])
    return SimpleNamespace(users=users, own=_bundle(lua, tag="lua"), foreign=_bundle(tcl, tag="tcl"))


def database_state() -> str:
    """A digest of every row of the project's tables and of users and groups (sessions
    aside: logging in writes one)."""
    digest = hashlib.sha256()
    labels = ("curation", "synthesis", "training", "evaluation", "auth")
    for model in sorted((m for m in apps.get_models() if m._meta.app_label in labels), key=lambda m: m._meta.label):
        digest.update(model._meta.label.encode())
        for row in model.objects.order_by("pk").values_list():
            digest.update(repr(row).encode())
    return digest.hexdigest()


def _request(client, method: str, url: str, expect: Expect):
    if method == "get":
        return client.get(url)
    if expect.content_type == JSON:
        return client.post(url, json.dumps(expect.data), content_type=JSON)
    return client.post(url, expect.data)


def _expectation(name: str) -> Expect:
    if name not in EXPECT:
        pytest.fail(f"route {name!r} has no entry in EXPECT (tests/test_permissions.py): classify who may use it")
    return EXPECT[name]


# ---------------------------------------------------------------- the tests

def test_every_route_is_classified():
    missing = [name for name in ROUTES if name not in EXPECT]
    assert not missing, f"routes with no permission expectation: {missing}"
    stale = sorted(set(EXPECT) - set(ROUTES))
    assert not stale, f"expectations for routes that no longer exist: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", ROUTES)
def test_each_role_gets_the_expected_status_and_refusals_change_nothing(client, world, name, role, method):
    expect = _expectation(name)
    wanted = getattr(expect, method)[ROLES.index(role)]
    client.force_login(world.users[role])
    url = reverse(name, kwargs=expect.kwargs(world.own))
    before = database_state()
    response = _request(client, method, url, expect)
    assert response.status_code == wanted, (method.upper(), url, role, response.status_code)
    if response.status_code == 302 and name not in ("logout",):
        assert "/login/" not in response.url, "a logged-in user was sent to log in"
    if wanted in REFUSED:
        assert database_state() == before, f"a refused {method.upper()} {url} changed the database"


def _reviewer_reachable() -> list[tuple[str, str]]:
    """(route, method) pairs a reviewer may use on their own language's objects."""
    probe = SimpleNamespace(language=SimpleNamespace(slug="x"), sample=SimpleNamespace(pk=1),
                            pair=SimpleNamespace(pk=1), job=SimpleNamespace(pk=1),
                            training_job=SimpleNamespace(pk=1), dataset=SimpleNamespace(pk=1),
                            run=SimpleNamespace(pk=1), problem=SimpleNamespace(pk=1), token=SimpleNamespace(pk=1))
    out = []
    for name in ROUTES:
        expect = EXPECT.get(name)
        if expect is None or not expect.kwargs(probe):
            continue
        for method in ("get", "post"):
            if getattr(expect, method)[0] not in REFUSED:
                out.append((name, method))
    return out


REVIEWER_REACHABLE = _reviewer_reachable()


@pytest.mark.django_db
@pytest.mark.parametrize("name,method", REVIEWER_REACHABLE, ids=[f"{n}-{m}" for n, m in REVIEWER_REACHABLE])
def test_reviewer_gets_404_for_another_languages_objects(client, world, name, method):
    expect = EXPECT[name]
    client.force_login(world.users[REVIEWER])
    foreign = reverse(name, kwargs=expect.kwargs(world.foreign))
    # Their own language's slug with the other language's object id must not reach it either.
    mixed = reverse(name, kwargs=expect.kwargs(replace_language(world.foreign, world.own.language)))
    before = database_state()
    for url in dict.fromkeys([foreign, mixed]):
        if url == reverse(name, kwargs=expect.kwargs(world.own)):
            continue  # a route that names only the language: the foreign URL covers it
        response = _request(client, method, url, expect)
        assert response.status_code == 404, (method.upper(), url, response.status_code)
    assert database_state() == before


def replace_language(bundle: SimpleNamespace, language) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(bundle), "language": language})


def _admin_routes():
    admin = next(p for p in get_resolver().url_patterns
                 if isinstance(p, URLResolver) and str(p.pattern).startswith("admin/"))
    return sorted({name for _, name in _routes_all(admin.url_patterns) if name})


def _routes_all(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes_all(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


@pytest.mark.django_db
@pytest.mark.parametrize("role", [REVIEWER, PM])
def test_reviewers_and_pms_are_kept_out_of_the_django_admin(client, world, role):
    """Only admins are staff: every page of the Django admin sends the others to its login."""
    from django.urls import NoReverseMatch

    client.force_login(world.users[role])
    before = database_state()
    checked = 0
    for name in _admin_routes():
        if name in ("login", "logout", "jsi18n"):
            continue
        for kwargs in ({}, {"object_id": "1"}, {"app_label": "curation"}):
            try:
                url = reverse(f"admin:{name}", kwargs=kwargs)
            except NoReverseMatch:
                continue
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code == 302 and response.url.startswith("/admin/login/"), \
                    (method.upper(), url, response.status_code)
                checked += 1
            break
    assert checked > 20
    assert database_state() == before
