"""The console's pages without a browser (issue 16): agents see no console and are refused every
action; the instance search filters, counts per status and pages; the timers page highlights
overdue timers and fires one; a bad variables document is said on the page and kept for fixing."""

from __future__ import annotations

import re
from datetime import timedelta

from test_pages import follow, post, text_of


def test_an_agent_sees_no_console_and_is_refused_every_action(login, start_deal, web_engine):
    task = start_deal("D-1")
    iid = web_engine.get_task(task).instance_id
    ann = login("ann")
    assert 'href="/console/incidents"' not in ann.get("/").text
    page = ann.get(f"/instances/{iid}").text
    assert "Operate" not in page and "Cancel instance" not in page
    for action, data in (("cancel", {"reason": "x"}), ("suspend", {}), ("variables", {"variables": "{}"}),
                         ("modify", {"start_at": "qualify", "dry_run": "1"})):
        r = post(ann, f"/instances/{iid}/{action}", data, page=f"/instances/{iid}")
        assert r.status_code == 403, (action, r.status_code)
        assert "operate" in r.text
    r = post(ann, "/console/incidents/retry-group", {"process_id": "deal", "element_id": "qualify"})
    assert r.status_code == 403
    assert web_engine.get_instance(iid).status == "waiting", "nothing changed"
    root = login("root")
    assert 'href="/console/incidents"' in root.get("/").text
    assert "Cancel instance" in root.get(f"/instances/{iid}").text


def test_bad_variables_are_said_and_kept_for_fixing(login, start_deal, web_engine):
    iid = web_engine.get_task(start_deal("D-2")).instance_id
    root = login("root")
    r = post(root, f"/instances/{iid}/variables", {"variables": '{"customer": "Contoso",}'}, page=f"/instances/{iid}")
    page = follow(root, r).text
    assert "Variables are not valid JSON" in text_of(page)
    assert "{&#34;customer&#34;: &#34;Contoso&#34;,}" in page or '{"customer": "Contoso",}' in page
    r = post(root, f"/instances/{iid}/variables", {"variables": '{"customer": "Contoso", "topic": "pricing", '
                                                                '"prio": 3, "due": "P2D"}', "reason": "renamed"},
             page=f"/instances/{iid}")
    assert "Variables saved" in text_of(follow(root, r).text)
    assert web_engine.get_instance(iid).data["customer"] == "Contoso"


def test_the_instance_search_filters_counts_and_pages(login, start_deal, web_engine):
    ids = [web_engine.get_task(start_deal(f"D-{i}", customer="Big" if i % 2 else "Small")).instance_id
           for i in range(30)]
    web_engine.suspend_instance(ids[0], user="root")
    web_engine.cancel_instance(ids[1], user="root", reason="dup")
    root = login("root")
    page = text_of(root.get("/console/instances", params={"process": "deal"}).text)
    assert "waiting 28" in page and "suspended 1" in page and "cancelled 1" in page and "30 matches" in page
    html = root.get("/console/instances", params={"process": "deal"}).text
    assert len(re.findall(r'<tr><td><a href="/instances/\d+">', html)) == 25 and "Next" in html
    second = root.get("/console/instances", params={"process": "deal", "page": "2"}).text
    assert len(re.findall(r'<tr><td><a href="/instances/\d+">', second)) == 5
    big = text_of(root.get("/console/instances", params={"variable": "customer=Big", "status": "waiting"}).text)
    assert "14 matches" in big, big[:2000]
    at = text_of(root.get("/console/instances", params={"element": "qualify", "key": "D-2"}).text)
    assert "1 match" in at and "D-2" in at
    bad = root.get("/console/instances", params={"variable": "customer"})
    assert bad.status_code == 422 and "NAME=VALUE" in bad.text


def test_the_timers_page_highlights_overdue_and_fires_one(login, start_deal, web_engine, clock):
    soon = web_engine.get_task(start_deal("D-1", due="PT1H")).instance_id
    web_engine.get_task(start_deal("D-2", due="P5D"))
    clock.advance(timedelta(hours=2))
    root = login("root")
    html = root.get("/console/timers").text
    overdue = re.findall(r'<tr class="overdue">.*?</tr>', html, flags=re.S)
    assert len(overdue) == 1 and f"instance {soon}" in overdue[0]
    timer = next(t for t in web_engine.list_timers() if t.instance_id == soon)
    r = post(root, f"/console/timers/{timer.id}/fire", page="/console/timers")
    assert "Fired" in text_of(follow(root, r).text)
    assert all(t.id != timer.id for t in web_engine.list_timers())
    ann = login("ann")
    other = web_engine.list_timers()[0]
    assert post(ann, f"/console/timers/{other.id}/fire", page="/").status_code == 403


def test_processes_page_shows_counts_a_heatmap_and_migrates_after_a_dry_run(login, start_deal, web_engine,
                                                                            tmp_path):
    from worklist_support import lane_process

    for key in ("D-1", "D-2", "D-3"):
        start_deal(key)
    path = tmp_path / "v2" / "deal.bpmn"
    path.parent.mkdir()
    path.write_text(lane_process("deal", [("qualify", "Sales", {}), ("invoice", "Billing", {})],
                                 instructions="Version two: call {{ customer }}"))
    web_engine.deploy([path])
    root = login("root")
    listing = text_of(root.get("/console/processes").text)
    assert "deal" in listing
    html = root.get("/console/processes/deal", params={"version": "1"}).text
    assert re.search(r'class="heat" data-element-id="qualify" data-count="3"', html), "the heatmap"
    assert "waiting 3" in text_of(html)
    r = post(root, "/console/processes/deal/migrate", {"to_version": "2", "dry_run": "1"}, page="/console/processes")
    page = text_of(follow(root, r).text)
    assert "3 instance(s) would move to version 2" in page
    assert all(i.version == 1 for i in web_engine.list_instances()), "a dry run moves nothing"
    r = post(root, "/console/processes/deal/migrate", {"to_version": "2", "dry_run": "0"}, page="/console/processes")
    assert "Migrated 3 instance(s)" in text_of(follow(root, r).text)
    assert all(i.version == 2 for i in web_engine.list_instances())
    ann = login("ann")
    assert post(ann, "/console/processes/deal/migrate", {"to_version": "1"}).status_code == 403


def test_retry_on_an_instance_page_takes_only_that_instance_s_incidents(login, start_deal, web_engine, tmp_path):
    from bpmn_builder import Process, script

    p = Process("calc", "Calc")
    p.node("start", "startEvent").node("divide", "scriptTask", "Divide", script("total = 1 / 0"))
    p.node("end", "endEvent").chain("start", "divide", "end")
    web_engine.deploy([p.write(tmp_path)])
    failing = web_engine.start("calc").id
    [incident] = web_engine.list_incidents()
    other = web_engine.get_task(start_deal("D-9")).instance_id
    root = login("root")
    r = post(root, f"/instances/{other}/retry", {"incident_id": str(incident.id)}, page=f"/instances/{other}")
    assert f"is not an open incident of instance {other}" in text_of(follow(root, r).text)
    assert web_engine.list_incidents()[0].attempts == 1, "not retried"
    r = post(root, f"/instances/{failing}/retry", {"incident_id": str(incident.id)}, page=f"/instances/{failing}")
    assert "Retried" in text_of(follow(root, r).text)
    assert web_engine.list_incidents()[0].attempts == 2


def test_the_timers_page_marks_suspended_instances_and_fire_now_says_so(login, start_deal, web_engine, clock):
    held = web_engine.get_task(start_deal("D-1", due="PT1H")).instance_id
    web_engine.get_task(start_deal("D-2", due="P5D"))
    web_engine.suspend_instance(held, user="root")
    root = login("root")
    html = root.get("/console/timers").text
    marked = re.findall(r'<tr class="[^"]*suspended[^"]*">.*?</tr>', html, flags=re.S)
    assert len(marked) == 1 and f"instance {held}" in marked[0] and "status-suspended" in marked[0]
    assert f"Instance {held} is suspended: resume it first" in marked[0]
    timer = next(t for t in web_engine.list_timers() if t.instance_id == held)
    assert timer.instance_status == "suspended"
    r = post(root, f"/console/timers/{timer.id}/fire", page="/console/timers")
    said = text_of(follow(root, r).text if r.status_code in (302, 303) else r.text)
    assert f"instance {held} is suspended; firing timer {timer.id}" in said and "resume it first" in said
    assert any(t.id == timer.id for t in web_engine.list_timers()), "the timer still waits"
