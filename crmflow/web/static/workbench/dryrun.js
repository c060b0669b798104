/* The dry run on the modeler page: a throwaway instance of the diagram on the canvas (server side:
   crmflow/workbench/dryrun.py). Marks the canvas (active, waiting, done, failed), lists open tasks
   with their data to complete them, what the instance waits for, data and history; buttons move
   its clock. State for tests: window.workbench.dryRun (the last view). */
(function () {
  "use strict";
  var root = document.getElementById("workbench"), box = document.getElementById("wb-dry");
  if (!root || !box || !window.workbench) { return; }
  var state = window.workbench, base = root.dataset.base, csrf = root.dataset.csrf, fileName = root.dataset.file;
  var status = document.getElementById("wb-status"), panel = document.getElementById("wb-dry-run");
  var MARKS = ["active", "waiting", "done", "cancelled", "failed"];
  var marked = [];

  function say(text, kind) { status.textContent = text; status.className = "wb-status" + (kind ? " wb-" + kind : ""); }
  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) { n.textContent = text; }
    return n;
  }
  function send(path, fields) {
    var body = new URLSearchParams(Object.assign({ csrf: csrf }, fields));
    return fetch(base + path, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return { detail: "the server answered " + r.status }; })
          .then(function (data) { return { ok: r.ok, data: data }; });
      });
  }

  function unmark() {
    var canvas = state.modeler.get("canvas"), registry = state.modeler.get("elementRegistry");
    marked.forEach(function (id) {
      if (registry.get(id)) { MARKS.forEach(function (m) { canvas.removeMarker(id, "wb-run-" + m); }); }
    });
    marked = [];
  }

  function mark(marks) {
    var canvas = state.modeler.get("canvas"), registry = state.modeler.get("elementRegistry");
    unmark();
    Object.keys(marks).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, "wb-run-" + marks[id]); marked.push(id); }
    });
  }

  function when(iso) { return iso ? iso.replace("T", " ").replace(/:\d\d(\.\d+)?\+00:00$/, " UTC") : ""; }

  function show(v) {
    state.dryRun = v;
    panel.hidden = false;
    mark(v.marks);
    document.getElementById("wb-dry-clock").textContent = "Instance " + v.instance_id + " (" + (v.business_key || "no key") + "): "
      + v.status + " · clock " + when(v.now) + (v.scenario ? " · like scenario “" + v.scenario + "”" : "");
    var tasks = document.getElementById("wb-dry-tasks");
    tasks.replaceChildren();
    if (!v.open_tasks.length) { tasks.appendChild(el("li", { "class": "hint" }, "None.")); }
    v.open_tasks.forEach(function (t) {
      var li = el("li", { "class": "wb-dry-task", "data-element": t.element_id });
      li.appendChild(el("strong", {}, (t.name || t.element_id) + " "));
      li.appendChild(el("code", {}, t.element_id));
      li.appendChild(el("span", { "class": "hint" }, (t.queue ? " queue " + t.queue : "") + (t.assignee ? ", assigned to " + t.assignee : "")
        + (t.due_at ? ", due " + when(t.due_at) : "") + (t.form ? ", form " + t.form : "")));
      var id = "wb-dry-data-" + t.element_id;
      li.appendChild(el("label", { "for": id, "class": "wb-dry-label" }, "Data to complete it with (JSON)"));
      var area = el("textarea", { id: id, rows: "3", "class": "wb-dry-json" });
      area.value = JSON.stringify(t.prefill || {}, null, 1);
      li.appendChild(area);
      var button = el("button", { type: "button", "class": "wb-dry-complete" }, "Complete " + (t.name || t.element_id));
      button.addEventListener("click", function () { act("complete", { task_id: t.id, data: area.value }, button); });
      li.appendChild(button);
      tasks.appendChild(li);
    });
    var waiting = document.getElementById("wb-dry-waiting");
    waiting.replaceChildren();
    v.timers.forEach(function (t) { waiting.appendChild(el("li", { "class": "wb-dry-timer" }, "timer " + t.element_id + " due " + when(t.due_at))); });
    v.waiting_for.forEach(function (s) {
      var li = el("li", { "class": "wb-dry-message" }, "message " + s.message + " at " + s.element_id + " ");
      var data = el("input", { "aria-label": "Data of message " + s.message + " (JSON)", placeholder: "{} data", size: "18" });
      var button = el("button", { type: "button", "class": "secondary" }, "Send " + s.message);
      button.addEventListener("click", function () { act("message", { name: s.message, data: data.value }, button); });
      li.appendChild(data); li.appendChild(button);
      waiting.appendChild(li);
    });
    if (!v.timers.length && !v.waiting_for.length) { waiting.appendChild(el("li", { "class": "hint" }, "Nothing.")); }
    document.getElementById("wb-dry-next").disabled = !v.timers.length;
    var incidents = document.getElementById("wb-dry-incidents");
    incidents.replaceChildren();
    if (!v.incidents.length) { incidents.appendChild(el("li", { "class": "hint" }, "None.")); }
    v.incidents.forEach(function (i) { incidents.appendChild(el("li", { "class": "wb-error" }, i.element_id + ": " + i.message)); });
    document.getElementById("wb-dry-vars").textContent = JSON.stringify(v.data, null, 2);
    var history = document.getElementById("wb-dry-history");
    history.replaceChildren();
    v.history.forEach(function (h) {
      history.appendChild(el("li", {}, when(h.at) + " " + h.event + (h.element_id ? " " + (h.name || h.element_id) : "") + (h.user ? " by " + h.user : "")));
    });
  }

  function act(action, fields, button) {
    if (!state.dryRun) { return Promise.resolve(); }
    if (button) { button.disabled = true; }
    say("Dry run: " + action + "…");
    return send("/dry-runs/" + state.dryRun.id + "/" + action, fields).then(function (r) {
      if (button) { button.disabled = false; }
      if (!r.ok) { say("Dry run: " + r.data.detail, "error"); return; }
      if (r.data.ended) { state.dryRun = null; panel.hidden = true; unmark(); say("Dry run ended", "ok"); return; }
      show(r.data);
      say("Dry run: " + r.data.status + (r.data.open_tasks.length ? ", " + r.data.open_tasks.length + " open task(s)" : ""), "ok");
    });
  }

  document.getElementById("wb-dry-start").addEventListener("submit", function (e) {
    e.preventDefault();
    var go = document.getElementById("wb-dry-go");
    go.disabled = true;
    say("Starting a dry run of the diagram on the canvas…");
    var ending = state.dryRun ? send("/dry-runs/" + state.dryRun.id + "/end", {}) : Promise.resolve();
    ending.then(function () { return state.modeler.saveXML({ format: true }); }).then(function (out) {
      return send("/dry-runs", { xml: out.xml, file_name: fileName, scenario: document.getElementById("wb-dry-scenario").value,
        data: document.getElementById("wb-dry-data").value });
    }).then(function (r) {
      go.disabled = false;
      if (!r.ok) { state.dryRun = null; panel.hidden = true; unmark(); say("No dry run: " + r.data.detail, "error"); return; }
      show(r.data);
      say("Dry run started: " + r.data.status, "ok");
    });
  });
  box.querySelectorAll("[data-advance]").forEach(function (b) {
    b.addEventListener("click", function () { act("advance", { by: b.dataset.advance }, b); });
  });
  document.getElementById("wb-dry-end").addEventListener("click", function (e) { act("end", {}, e.target); });
})();
