/* The analyst workbench page: bpmn-js modeler, live checks (debounced POST of the XML, problems
   marked on the canvas), drafts, scenarios, deploy. State for tests: window.workbench. */
(function () {
  "use strict";
  var root = document.getElementById("workbench");
  if (!root || !window.BpmnJS) { return; }
  var base = root.dataset.base, csrf = root.dataset.csrf, fileName = root.dataset.file;
  var status = document.getElementById("wb-status");
  var problemsList = document.getElementById("wb-problems");
  var results = document.getElementById("wb-results");
  var panel = document.getElementById("wb-props");
  var modeler = new window.BpmnJS({ container: "#wb-canvas", moddleExtensions: { spiffworkflow: window.SPIFFWORKFLOW_MODDLE } });
  var overlays = modeler.get("overlays"), canvas = modeler.get("canvas"), registry = modeler.get("elementRegistry");
  var state = { modeler: modeler, catalog: { operations: {} }, lastCheck: null, checks: 0, draft: null, timer: null, marked: [] };
  window.workbench = state;

  function say(text, kind) { status.textContent = text; status.className = "wb-status" + (kind ? " wb-" + kind : ""); }

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) { n.textContent = text; }
    return n;
  }

  function post(path, extra) {
    return modeler.saveXML({ format: true }).then(function (out) {
      var body = new URLSearchParams(Object.assign({ csrf: csrf, xml: out.xml, file_name: fileName }, extra || {}));
      return fetch(base + path, { method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json" } });
    }).then(function (r) {
      return r.json().catch(function () { return { detail: "the server answered " + r.status }; })
        .then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
    });
  }

  // -- live checks -----------------------------------------------------------------------------------
  function scheduleCheck() {
    clearTimeout(state.timer);
    state.timer = setTimeout(runCheck, 700);
  }

  function runCheck() {
    say("Checking…");
    return post("/check").then(function (r) {
      if (!r.ok) { say("Check failed: " + r.data.detail, "error"); return; }
      state.lastCheck = r.data;
      state.checks += 1;
      showProblems(r.data.diagnostics);
      var deploy = document.getElementById("wb-deploy");
      deploy.disabled = r.data.errors > 0;
      deploy.title = r.data.errors ? "Fix the errors marked on the diagram first" : "";
      say(r.data.errors ? r.data.errors + " error(s), " + r.data.warnings + " warning(s): deploying is blocked until the errors are fixed"
        : "No errors" + (r.data.warnings ? ", " + r.data.warnings + " warning(s)" : "") + ": ready to test and deploy",
        r.data.errors ? "error" : "ok");
    });
  }

  function showProblems(diagnostics) {
    state.marked.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, "wb-has-error"); canvas.removeMarker(id, "wb-has-warning"); } });
    overlays.remove({ type: "wb-problem" });
    state.marked = [];
    problemsList.replaceChildren();
    if (!diagnostics.length) { problemsList.appendChild(el("li", { "class": "hint" }, "None.")); }
    var per = {};
    diagnostics.forEach(function (d) {
      var li = el("li", { "class": "wb-" + d.severity, "data-element": d.element_id || "" });
      li.appendChild(el("strong", {}, d.severity + " "));
      li.appendChild(el("code", {}, d.rule));
      li.appendChild(document.createTextNode(" " + (d.element_id ? d.element_id + (d.name ? " \"" + d.name + "\"" : "") + ": " : "") + d.message));
      if (d.hint) { li.appendChild(el("span", { "class": "hint" }, " — " + d.hint)); }
      if (d.element_id && registry.get(d.element_id)) {
        li.addEventListener("click", function () {
          var shape = registry.get(d.element_id);
          if (canvas.zoom() < 0.6) { canvas.zoom(1.0); }
          canvas.scrollToElement(shape);
          modeler.get("selection").select(shape);
        });
        (per[d.element_id] = per[d.element_id] || []).push(d);
      }
      problemsList.appendChild(li);
    });
    Object.keys(per).forEach(function (id) {
      var worst = per[id].some(function (d) { return d.severity === "error"; }) ? "error" : "warning";
      canvas.addMarker(id, "wb-has-" + worst);
      state.marked.push(id);
      var box = el("div", { "class": "wb-overlay wb-overlay-" + worst, role: "note" });
      box.textContent = per[id].map(function (d) { return d.message + (d.hint ? " (" + d.hint + ")" : ""); }).join("\n");
      overlays.add(id, "wb-problem", { position: { bottom: -6, left: 0 }, html: box });
    });
  }

  // -- opening -------------------------------------------------------------------------------------
  function open(source) {
    var query = source && source !== "file" ? "?" + source : "";
    say("Opening…");
    return fetch(base + "/source" + query, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { return r.json().then(function (d) { throw new Error(d.detail); }); }
      state.sourceLabel = r.headers.get("X-Crmflow-Source");
      return r.text();
    }).then(function (xml) {
      return modeler.importXML(xml);
    }).then(function (result) {
      canvas.zoom("fit-viewport");
      state.opened = state.sourceLabel;
      if (result.warnings && result.warnings.length) { say("Opened with " + result.warnings.length + " import warning(s)", "warning"); }
      return runCheck();
    }).catch(function (err) { say("Could not open: " + err.message, "error"); });
  }

  document.getElementById("wb-open").addEventListener("submit", function (e) {
    e.preventDefault();
    open(document.getElementById("wb-source").value);
  });

  // -- properties ----------------------------------------------------------------------------------
  function findOrCreateMessage(name) {
    var defs = modeler.getDefinitions();
    var hit = (defs.rootElements || []).filter(function (r) { return r.$type === "bpmn:Message" && r.name === name; })[0];
    if (hit) { return hit; }
    var moddle = modeler.get("moddle");
    hit = moddle.create("bpmn:Message", { id: "msg_" + name.replace(/[^A-Za-z0-9_]/g, "_"), name: name });
    hit.$parent = defs;
    defs.rootElements.unshift(hit);
    return hit;
  }

  var current = null;
  function showProps(element) {
    current = element;
    if (!element || element.type === "bpmn:Process" || element.type === "bpmn:Collaboration" || element.type === "label") {
      panel.replaceChildren(el("p", { "class": "hint" }, "Select an element to edit its properties."));
      return;
    }
    window.WorkbenchProps.render(element, {
      panel: panel, moddle: modeler.get("moddle"), modeling: modeler.get("modeling"), catalog: state.catalog,
      base: base, findOrCreateMessage: findOrCreateMessage,
      changed: function (redraw) { scheduleCheck(); if (redraw) { showProps(current); } }
    });
  }

  modeler.on("selection.changed", function (e) { showProps(e.newSelection[0] || null); });
  modeler.on("commandStack.changed", scheduleCheck);

  // -- actions -------------------------------------------------------------------------------------
  function busy(button, label, work) {
    button.disabled = true;
    say(label);
    return work().finally(function () { button.disabled = false; });
  }

  document.getElementById("wb-save").addEventListener("click", function (e) {
    busy(e.target, "Saving…", function () {
      return post("/drafts").then(function (r) {
        if (!r.ok) { say("Not saved: " + r.data.detail, "error"); return; }
        state.draft = r.data;
        var link = document.getElementById("wb-download");
        link.href = r.data.download; link.hidden = false;
        link.textContent = "Download draft #" + r.data.id;
        say("Saved draft #" + r.data.id + " by " + r.data.author, "ok");
      });
    });
  });

  document.getElementById("wb-test").addEventListener("click", function (e) {
    busy(e.target, "Running the scenarios against the draft…", function () {
      return post("/scenarios").then(function (r) {
        if (!r.ok) { say("Scenarios not run: " + r.data.detail, "error"); return; }
        showScenarios(r.data);
        say("Scenarios: " + r.data.passed + " passed, " + r.data.failed + " failed", r.data.failed ? "error" : "ok");
      });
    });
  });

  function showScenarios(data) {
    var box = el("div", { "class": "wb-scenarios", id: "wb-scenarios" });
    box.appendChild(el("h3", {}, "Scenarios: " + data.passed + " passed, " + data.failed + " failed"));
    if (!data.scenarios.length) { box.appendChild(el("p", { "class": "hint" }, "No scenario in processes/scenarios runs this process.")); }
    data.scenarios.forEach(function (s) {
      var d = el("details", { "class": "wb-scenario wb-" + s.outcome });
      if (s.outcome !== "passed") { d.open = true; }
      d.appendChild(el("summary", {}, s.outcome.toUpperCase() + " " + s.name + " (" + s.seconds + " s)"));
      var ol = el("ol", {});
      s.steps.forEach(function (st) { ol.appendChild(el("li", { "class": "wb-step wb-" + st.state.replace(" ", "-") }, st.state + ": " + st.yaml)); });
      d.appendChild(ol);
      if (s.failure) { d.appendChild(el("p", { "class": "wb-error" }, "Expected " + s.failure.expected + "; found " + s.failure.found)); }
      box.appendChild(d);
    });
    results.replaceChildren(box);
  }

  function changesList(changes) {
    var box = el("div", { "class": "wb-diff" });
    if (!changes) { box.appendChild(el("p", {}, "No earlier version: this is the first.")); return box; }
    var changed = changes.changed || {};
    [["Added", changes.added || []], ["Removed", changes.removed || []],
     ["Changed", Object.keys(changed).map(function (id) { return id + " (" + changed[id].join(", ") + ")"; })]]
      .forEach(function (row) {
        box.appendChild(el("p", {}, row[0] + ": " + (row[1].length ? row[1].join(", ") : "none")));
      });
    return box;
  }

  document.getElementById("wb-preview").addEventListener("click", function (e) {
    busy(e.target, "Comparing with the deployed version…", function () {
      return post("/preview").then(function (r) {
        if (!r.ok) { say("No preview: " + r.data.detail, "error"); return; }
        var box = el("div", { id: "wb-preview-result" });
        if (r.data.checks.errors) {
          box.appendChild(el("p", { "class": "wb-error" }, "Deploying is refused: " + r.data.checks.errors + " validate error(s)."));
        } else {
          box.appendChild(el("h3", {}, r.data.changed === false ? "Unchanged: deploying keeps version " + r.data.previous_version
            : "Element changes against version " + (r.data.previous_version || "—")));
          box.appendChild(changesList(r.data.changes));
        }
        results.replaceChildren(box);
        say("Preview ready", "ok");
      });
    });
  });

  document.getElementById("wb-deploy").addEventListener("click", function (e) {
    busy(e.target, "Deploying…", function () {
      return post("/deploy").then(function (r) {
        var box = el("div", { id: "wb-deploy-result" });
        if (!r.ok) {
          box.appendChild(el("p", { "class": "wb-error", role: "alert" }, "Not deployed: " + r.data.detail));
          results.replaceChildren(box);
          say("Not deployed", "error");
          return;
        }
        var d = r.data;
        box.appendChild(el("h3", {}, d.changed ? "Deployed " + d.process_id + " version " + d.version + " (by " + d.deployed_by + ", draft #" + d.draft_id + ")"
          : "Nothing changed: " + d.process_id + " stays at version " + d.version));
        box.appendChild(changesList(d.changes));
        if (d.changed) {
          box.appendChild(el("h4", {}, "Migration dry run of the running instances"));
          var ul = el("ul", {});
          if (!d.migration_dry_run.length) { ul.appendChild(el("li", {}, "No running instances.")); }
          d.migration_dry_run.forEach(function (p) {
            ul.appendChild(el("li", {}, "instance " + p.instance_id + ": " + (p.allowed ? "can move to version " + p.to_version
              : "cannot move: " + p.reasons.join("; "))));
          });
          box.appendChild(ul);
        }
        results.replaceChildren(box);
        say(d.changed ? "Deployed version " + d.version : "Nothing to deploy", "ok");
      });
    });
  });

  fetch(base + "/catalog", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (c) {
    state.catalog = c;
    var first = document.getElementById("wb-source");
    return open(first && first.value ? first.value : "file");
  }).then(function () { state.ready = true; });
})();
