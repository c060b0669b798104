/* Decision tables in the browser: dmn-js's modeler on a processes/*.dmn file; saving keeps a draft
   (author, time) that can be downloaded into processes/. */
(function () {
  "use strict";
  var root = document.getElementById("decision");
  if (!root || !window.DmnJS) { return; }
  var status = document.getElementById("dmn-status");
  var modeler = new window.DmnJS({ container: "#dmn-canvas" });
  window.decisionModeler = modeler;
  fetch(root.dataset.base + "/source", { credentials: "same-origin" }).then(function (r) { return r.text(); })
    .then(function (xml) { return modeler.importXML(xml); })
    .then(function () {
      var views = modeler.getViews();
      var table = views.filter(function (v) { return v.type === "decisionTable"; })[0];
      if (table) { modeler.open(table); }
      status.textContent = "Opened " + root.dataset.name + ".dmn";
    })
    .catch(function (err) { status.textContent = "Could not open: " + err.message; });
  document.getElementById("dmn-save").addEventListener("click", function () {
    modeler.saveXML({ format: true }).then(function (out) {
      var body = new URLSearchParams({ csrf: root.dataset.csrf, xml: out.xml });
      return fetch(root.dataset.base + "/drafts", { method: "POST", body: body, credentials: "same-origin" });
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
      .then(function (res) {
        status.textContent = res.ok ? "Saved draft #" + res.d.id + " by " + res.d.author : "Not saved: " + res.d.detail;
        if (res.ok) {
          var link = document.getElementById("dmn-download");
          link.href = root.dataset.base + "/source?draft=" + res.d.id; link.hidden = false;
        }
      });
  });
  // deploy: refused while validate finds errors; the processes calling the table get new versions
  document.getElementById("dmn-deploy").addEventListener("click", function (e) {
    var button = e.target, result = document.getElementById("dmn-result");
    button.disabled = true;
    status.textContent = "Deploying…";
    modeler.saveXML({ format: true }).then(function (out) {
      var body = new URLSearchParams({ csrf: root.dataset.csrf, xml: out.xml });
      return fetch(root.dataset.base + "/deploy", { method: "POST", body: body, credentials: "same-origin" });
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
      .then(function (res) {
        button.disabled = false;
        result.replaceChildren();
        var p = document.createElement("p");
        if (!res.ok) {
          p.className = "wb-error"; p.setAttribute("role", "alert");
          p.textContent = "Not deployed: " + res.d.detail;
          result.appendChild(p);
          status.textContent = "Not deployed";
          return;
        }
        p.textContent = "Deployed " + res.d.table + ".dmn (by " + res.d.deployed_by + ", draft #" + res.d.draft_id + ")";
        result.appendChild(p);
        var ul = document.createElement("ul");
        res.d.callers.forEach(function (c) {
          var li = document.createElement("li");
          li.textContent = c.changed ? c.process_id + ": new version " + c.version + " uses the new table"
            : c.process_id + ": unchanged (version " + c.version + " already has this table)";
          ul.appendChild(li);
        });
        if (!res.d.callers.length) { var li = document.createElement("li"); li.textContent = "No deployed process calls this table yet."; ul.appendChild(li); }
        result.appendChild(ul);
        status.textContent = "Deployed " + res.d.table + ".dmn";
      });
  });
})();
