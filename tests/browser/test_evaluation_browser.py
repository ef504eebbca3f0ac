"""The evaluation dashboard in Chromium: the vendored Chart.js draws every trend chart under
the strict Content-Security-Policy (no inline script or style), from json_script data."""
from __future__ import annotations

import pytest

from tests.evaluation.conftest import make_checkpoint, run_now, tiny_model_dir  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_dashboard_draws_trend_charts_under_the_csp(page, log_in, live_server, lua, tiny_model_dir,  # noqa: F811
                                                    screenshot):
    from curation.actions import do_create_user
    from curation.roles import PM
    from evaluation.actions import do_sync_pack_suites
    from tests.conftest import PASSWORD
    from tests.evaluation.test_views import record_reference_run

    pm = do_create_user("pm", role=PM, password=PASSWORD)
    suite = next(s for s in do_sync_pack_suites(lua) if s.name == "lua-test")
    base = make_checkpoint(lua, tiny_model_dir)
    run_now(base, suite, n=1, max_new_tokens=8, limit=2)
    record_reference_run(make_checkpoint(lua, tiny_model_dir, name="reference", path=str(tiny_model_dir) + "-ref"),
                         suite, limit=2)

    log_in(page, pm, then="/evaluation/")
    page.wait_for_selector("body[data-charts-drawn]")
    assert page.get_attribute("body", "data-charts-drawn") == "1"
    assert page.evaluate("Array.from(document.querySelectorAll('canvas')).every(c => c.chart && c.width > 0)")
    assert page.evaluate("document.querySelector('canvas').chart.data.labels") == ["tiny-base", "reference"]
    assert page.locator("#leaderboard tbody tr").count() == 2
    screenshot(page, "dashboard")  # for the README
