// Small helpers; every page works without them. Keeps SLA countdowns current, ticks "select all",
// adds and removes form rows in place (without script those buttons ask the server), folds the queue list on phones.
(function () {
  "use strict";
  var serverNow = Date.parse(document.body.dataset.serverNow || "") || Date.now();
  var offset = serverNow - Date.now(); // follow the server's clock (it may be a test clock)
  var NEARING = 4 * 3600 * 1000;

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000), days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return hours ? days + " d " + hours + " h" : days + " d";
    if (hours) return hours + " h " + (mins < 10 ? "0" : "") + mins + " min";
    return mins ? mins + " min" : "under a minute";
  }

  function refresh() {
    var now = Date.now() + offset;
    document.querySelectorAll(".sla[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.dataset.deadline);
      if (!deadline) return;
      var left = deadline - now, fromSla = el.dataset.source === "sla";
      var state = left < 0 || el.classList.contains("sla-breached") ? "breached"
        : (fromSla ? (el.classList.contains("sla-nearing") ? "nearing" : "ok") : (left < NEARING ? "nearing" : "ok"));
      var text = state === "breached" ? (fromSla ? "Breached " + span(left) + " ago" : "Overdue by " + span(left))
        : (state === "nearing" ? "Nearing: " + span(left) + " left" : span(left) + " left");
      el.classList.remove("sla-ok", "sla-nearing", "sla-breached");
      el.classList.add("sla-" + state);
      el.textContent = text;
    });
  }
  setInterval(refresh, 30000);

  var all = document.getElementById("select-all");
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="task_id"]').forEach(function (box) { box.checked = all.checked; });
    });
  }
  // Big diagrams: bring the step that matters now into view; offer the whole picture on demand.
  document.querySelectorAll(".diagram").forEach(function (figure) {
    var box = figure.querySelector(".diagram-scroll"), toggle = figure.querySelector(".fit-toggle");
    if (!box) return;
    function centre() {
      var marked = Array.prototype.filter.call(
        box.querySelectorAll(".state-failed, .state-active, .state-waiting"),
        function (g) { return !/sequenceFlow|messageFlow|association/.test(g.getAttribute("class")); });
      if (!marked.length) return;
      var b = marked[0].getBoundingClientRect(), c = box.getBoundingClientRect();
      box.scrollLeft += (b.left + b.width / 2) - (c.left + c.width / 2);
    }
    centre();
    if (toggle && box.scrollWidth > box.clientWidth) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var fit = box.classList.toggle("fit");
        toggle.setAttribute("aria-pressed", fit ? "true" : "false");
        if (!fit) centre();
      });
    }
  });

  // Rows of an array field: "Add a row" copies the last row empty, "Remove row" drops one; names and ids
  // are renumbered (lines.0.x, lines.1.x, ...) so the server reads them as it would after its own add/remove.
  function renumber(group) {
    var base = group.dataset.rows, idBase = "f-" + base.replace(/[^A-Za-z0-9_-]/g, "-");
    group.querySelectorAll(":scope > .row-line").forEach(function (row, i) {
      var old = row.dataset.row;
      var namePrefix = base + "." + old + ".", idPrefix = idBase + "-" + old + "-";
      row.querySelectorAll("[name], [id], [for], [aria-describedby], [list]").forEach(function (el) {
        if (el.name && el.name.indexOf(namePrefix) === 0) el.name = base + "." + i + "." + el.name.slice(namePrefix.length);
        ["id", "for", "aria-describedby", "list"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) el.setAttribute(attr, v.split(" ").map(function (part) {
            return part.indexOf(idPrefix) === 0 ? idBase + "-" + i + "-" + part.slice(idPrefix.length) : part;
          }).join(" "));
        });
      });
      row.dataset.row = String(i);
      var legend = row.querySelector("legend");
      if (legend) legend.textContent = "Row " + (i + 1);
      var remove = row.querySelector(".row-remove");
      if (remove) { remove.value = "remove:" + base + "." + i; remove.textContent = "Remove row " + (i + 1); }
    });
  }
  document.querySelectorAll("fieldset[data-rows]").forEach(function (group) {
    group.addEventListener("click", function (event) {
      var button = event.target.closest("button[name=_rows]");
      if (!button || button.closest("fieldset[data-rows]") !== group) return;
      var rows = group.querySelectorAll(":scope > .row-line");
      if (button.classList.contains("row-add")) {
        if (!rows.length) return; // nothing to copy: let the server add one
        event.preventDefault();
        var last = rows[rows.length - 1], copy = last.cloneNode(true);
        // the copy still carries the last row's names; renumber() gives it the next index
        copy.querySelectorAll("input, select, textarea").forEach(function (el) {
          if (el.type === "checkbox" || el.type === "radio") el.checked = false;
          else if (el.tagName === "SELECT") el.selectedIndex = 0;
          else el.value = "";
          el.removeAttribute("aria-invalid");
        });
        copy.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
        copy.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
        last.after(copy);
        renumber(group);
        var first = copy.querySelector("input, select, textarea");
        if (first) first.focus();
      } else if (button.classList.contains("row-remove")) {
        event.preventDefault();
        var row = button.closest(".row-line");
        if (rows.length === 1) { // keep one row to type into: empty it instead
          row.querySelectorAll("input, select, textarea").forEach(function (el) {
            if (el.tagName === "SELECT") el.selectedIndex = 0; else if (el.type !== "checkbox") el.value = "";
          });
          return;
        }
        row.remove();
        renumber(group);
        var add = group.querySelector(".row-add");
        if (add) add.focus();
      }
    });
  });

  // Phones: the queue list folds away under its heading, so the tasks come first.
  if (window.matchMedia && window.matchMedia("(max-width: 700px)").matches) {
    document.querySelectorAll("details.side, details.filter-box").forEach(function (d) { d.open = false; });
  }

  // The top bar's user menu closes on a click elsewhere or Escape, as menus do.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.open = false;
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.user-menu[open]").forEach(function (d) {
      d.open = false;
      d.querySelector("summary").focus();
    });
  });

  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
