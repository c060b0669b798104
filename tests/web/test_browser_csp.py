"""The pages under the Content-Security-Policy (issue 23 item 8), in headless Chromium: the
script of the pages and Swagger UI's still run (scripts come from this server only), and the
browser reports no CSP violation on any page an agent uses."""

from __future__ import annotations

from pathlib import Path

from test_browser import PASSWORD, busy_morning, page, server, shots, sync_api  # noqa: F401 - fixtures
from web_support import Crm


def test_pages_work_under_the_csp_without_violations(crm: Crm, clock, page, shots: Path) -> None:  # noqa: F811
    iid = busy_morning(crm, clock)
    expect = sync_api.expect
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda err: violations.append(f"script error: {err}"))

    first = page.goto("/login")
    assert "script-src 'self'" in first.headers["content-security-policy"]
    assert first.headers["x-frame-options"] == "DENY"
    page.get_by_label("User name").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")

    page.goto("/available")
    expect(page.locator("#select-all")).to_be_visible()  # shown by pages.js: the script ran
    page.locator("#select-all").check()
    boxes = page.locator('input[name="task_id"]')
    assert boxes.count() > 0 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.screenshot(path=str(shots / "csp-available.png"), full_page=True)

    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="L-1", exact=True))
    row.get_by_role("link", name="Qualify lead").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Qualify lead")
    page.goto(f"/instances/{iid}")
    expect(page.locator("svg").first).to_be_visible()

    page.goto("/api/v1/docs")  # Swagger UI: its start-up script is a file now, not inline
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.screenshot(path=str(shots / "csp-api-docs.png"))
    assert violations == []
