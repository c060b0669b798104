// Small helpers; every page works without them. Keeps SLA countdowns current and ticks "select all".
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

  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
