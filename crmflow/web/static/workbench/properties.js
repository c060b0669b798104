/* The properties panel: what crmflow's engine reads from an element, as plain form fields.
   WorkbenchProps.render(element, ctx) fills ctx.panel; every edit changes the element's business
   object and calls ctx.changed() (the live check runs after it). No inline script, no framework. */
(function () {
  "use strict";
  var NS = "spiffworkflow:";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  var seq = 0;
  function field(label, input, hint) {
    seq += 1;
    input.id = input.id || "wbp-" + seq;
    return el("div", { "class": "wbp-field" }, [el("label", { "for": input.id, text: label }), input,
      hint ? el("p", { "class": "hint", text: hint }) : null]);
  }

  function textInput(value, onInput, name) {
    var input = el("input", { type: "text", value: value || "", name: name || null });
    input.addEventListener("change", function () { onInput(input.value); });
    return input;
  }

  function textArea(value, onInput, rows) {
    var input = el("textarea", { rows: String(rows || 4) });
    input.value = value || "";
    input.addEventListener("change", function () { onInput(input.value); });
    return input;
  }

  function select(options, value, onChoose, blank) {
    var input = el("select");
    if (blank !== undefined) { input.appendChild(el("option", { value: "", text: blank })); }
    var seen = false;
    options.forEach(function (o) {
      var opt = el("option", { value: o.value, text: o.label || o.value });
      if (o.value === value) { opt.selected = true; seen = true; }
      input.appendChild(opt);
    });
    if (value && !seen) {
      var odd = el("option", { value: value, text: value + " (not registered)" });
      odd.selected = true;
      input.insertBefore(odd, input.firstChild);
    }
    input.addEventListener("change", function () { onChoose(input.value); });
    return input;
  }

  // -- extension elements --------------------------------------------------------------------------
  function extensions(bo, moddle, create) {
    if (!bo.extensionElements && create) {
      bo.extensionElements = moddle.create("bpmn:ExtensionElements", { values: [] });
      bo.extensionElements.$parent = bo;
    }
    return bo.extensionElements;
  }

  function ext(bo, moddle, type, create) {
    var holder = extensions(bo, moddle, create);
    if (!holder) { return null; }
    holder.values = holder.values || [];
    var found = holder.values.filter(function (v) { return v.$type === NS + type; })[0];
    if (!found && create) {
      found = moddle.create(NS + type, {});
      found.$parent = holder;
      holder.values.push(found);
    }
    return found || null;
  }

  function property(bo, moddle, name) {
    var props = ext(bo, moddle, "Properties", false);
    var hit = props && (props.properties || []).filter(function (p) { return p.name === name; })[0];
    return hit ? hit.value : "";
  }

  function setProperty(bo, moddle, name, value) {
    var props = ext(bo, moddle, "Properties", true);
    props.properties = props.properties || [];
    var hit = props.properties.filter(function (p) { return p.name === name; })[0];
    if (!value) {
      if (hit) { props.properties.splice(props.properties.indexOf(hit), 1); }
      return;
    }
    if (!hit) {
      hit = moddle.create(NS + "Property", { name: name });
      hit.$parent = props;
      props.properties.push(hit);
    }
    hit.value = value;
  }

  function bodyText(bo, moddle, type) {
    var found = ext(bo, moddle, type, false);
    return found ? found.value || "" : "";
  }

  function setBody(bo, moddle, type, value) {
    if (!value) {
      var holder = extensions(bo, moddle, false);
      var found = ext(bo, moddle, type, false);
      if (holder && found) { holder.values.splice(holder.values.indexOf(found), 1); }
      return;
    }
    ext(bo, moddle, type, true).value = value;
  }

  // -- sections ------------------------------------------------------------------------------------
  function serviceTask(bo, ctx, out) {
    var moddle = ctx.moddle;
    var op = ext(bo, moddle, "ServiceTaskOperator", false);
    var names = Object.keys(ctx.catalog.operations || {});
    out.push(field("Operation", select(names.map(function (n) { return { value: n }; }), op ? op.id : "",
      function (name) {
        var operator = ext(bo, moddle, "ServiceTaskOperator", true);
        operator.id = name;
        ensureParameters(operator, moddle, ctx.catalog.operations[name] || []);
        ctx.changed(true);
      }, "(choose a registered operation)"), "The registered handlers (crmflow handlers lists them); parameters come from their signatures."));
    if (!op) { return; }
    out.push(field("Result variable", textInput(op.resultVariable, function (v) { op.resultVariable = v || undefined; ctx.changed(); })));
    var wanted = ctx.catalog.operations[op.id] || [];
    var params = (op.parameters && op.parameters.parameters) || [];
    var table = el("table", { "class": "wbp-params" }, [el("caption", { text: "Parameters (Python expressions)" })]);
    var names2 = wanted.map(function (p) { return p.name; });
    params.forEach(function (p) { if (names2.indexOf(p.id) < 0) { names2.push(p.id); } });
    names2.forEach(function (name) {
      var spec = wanted.filter(function (w) { return w.name === name; })[0];
      var current = params.filter(function (p) { return p.id === name; })[0];
      var input = textInput(current ? current.value : "", function (v) {
        setParameter(op, moddle, name, spec ? spec.type : "any", v);
        ctx.changed();
      });
      input.setAttribute("aria-label", "parameter " + name);
      table.appendChild(el("tr", {}, [
        el("th", { scope: "row", text: name + (spec && spec.required ? " *" : "") + (spec ? "" : " (not a parameter)"),
          title: spec ? spec.type : "the handler has no such parameter" }), el("td", {}, [input])]));
    });
    out.push(table);
  }

  function ensureParameters(op, moddle, wanted) {
    if (!op.parameters) {
      op.parameters = moddle.create(NS + "Parameters", { parameters: [] });
      op.parameters.$parent = op;
    }
    op.parameters.parameters = op.parameters.parameters || [];
  }

  function setParameter(op, moddle, name, type, value) {
    ensureParameters(op, moddle, []);
    var list = op.parameters.parameters;
    var hit = list.filter(function (p) { return p.id === name; })[0];
    if (!value) {
      if (hit) { list.splice(list.indexOf(hit), 1); }
      return;
    }
    if (!hit) {
      hit = moddle.create(NS + "Parameter", { id: name, type: type === "any" ? "str" : type });
      hit.$parent = op.parameters;
      list.push(hit);
    }
    hit.value = value;
  }

  function userTask(bo, ctx, out) {
    var m = ctx.moddle;
    var forms = (ctx.catalog.forms || []).map(function (f) { return { value: f }; });
    out.push(field("Form", select(forms, property(bo, m, "formJsonSchemaFilename"), function (v) {
      setProperty(bo, m, "formJsonSchemaFilename", v); ctx.changed(true);
    }, "(no form)"), "A JSON Schema file in processes/forms."));
    var form = property(bo, m, "formJsonSchemaFilename");
    if (form) {
      out.push(el("p", {}, [el("a", { href: ctx.base + "/form-preview?form=" + encodeURIComponent(form), target: "_blank",
        text: "Preview the form as the agent sees it" })]));
    }
    [["assignee", "Assignee", "Expression, e.g. \"ann\" or owner"],
     ["candidateGroups", "Candidate groups", "Expression, e.g. \"sales\" or [\"sales\", \"billing\"]"],
     ["priority", "Priority", "1 (high) to 5, or an expression"],
     ["dueDate", "Due", "Expression: an ISO duration like \"P1D\", or a date"],
     ["followUpDate", "Follow-up", "Expression: an ISO duration like \"PT4H\", or a date"],
     ["businessCalendar", "Business calendar", "Name of the calendar due dates count in"]].forEach(function (p) {
      out.push(field(p[1], textInput(property(bo, m, p[0]), function (v) { setProperty(bo, m, p[0], v); ctx.changed(); }, p[0]), p[2]));
    });
    out.push(field("Instructions", textArea(bodyText(bo, m, "InstructionsForEndUser"), function (v) {
      setBody(bo, m, "InstructionsForEndUser", v); ctx.changed();
    }), "Jinja text shown above the form."));
  }

  function timer(bo, def, ctx, out) {
    var kinds = [{ value: "timeDuration", label: "after a duration" }, { value: "timeDate", label: "at a date" },
      { value: "timeCycle", label: "repeatedly (cycle)" }];
    var kind = kinds.filter(function (k) { return def[k.value]; }).map(function (k) { return k.value; })[0] || "timeDuration";
    var expr = def[kind] ? def[kind].body : "";
    var kindSelect = select(kinds, kind, function (v) {
      var body = (def[kind] && def[kind].body) || "";
      delete def[kind];
      def[v] = ctx.moddle.create("bpmn:FormalExpression", { body: body });
      def[v].$parent = def;
      ctx.changed(true);
    });
    out.push(field("Timer", kindSelect));
    out.push(field("Timer expression", textInput(expr, function (v) {
      var f = def[kind] || ctx.moddle.create("bpmn:FormalExpression", {});
      f.body = v;
      f.$parent = def;
      def[kind] = f;
      ctx.changed();
    }, "timer"), "A Python expression, e.g. \"P2D\" (quoted) or \"P\" + str(days) + \"D\"."));
    out.push(field("Business calendar", textInput(property(bo, ctx.moddle, "businessCalendar"), function (v) {
      setProperty(bo, ctx.moddle, "businessCalendar", v); ctx.changed();
    }, "businessCalendar"), "An expression naming a calendar, e.g. \"support\": the duration counts its open hours only."));
  }

  function messageRef(bo, holder, ctx, out) {
    var names = (ctx.catalog.messages || []).map(function (n) { return { value: n }; });
    var current = holder.messageRef ? holder.messageRef.name : "";
    out.push(field("Message", select(names, current, function (name) {
      holder.messageRef = ctx.findOrCreateMessage(name);
      ctx.changed(true);
    }, "(choose a message in use)"), "Names of the messages the processes use."));
    var fresh = textInput("", function (name) {
      if (name) { holder.messageRef = ctx.findOrCreateMessage(name); ctx.changed(true); }
    });
    out.push(field("…or a new message name", fresh));
  }

  function render(element, ctx) {
    var bo = element.businessObject;
    var out = [el("h2", { text: (bo.$type || "").replace("bpmn:", "") + " " + (bo.id || "") })];
    out.push(field("Name", textInput(bo.name, function (v) { ctx.modeling.updateProperties(element, { name: v }); })));
    var type = bo.$type;
    if (type === "bpmn:ServiceTask") { serviceTask(bo, ctx, out); }
    if (type === "bpmn:UserTask") { userTask(bo, ctx, out); }
    if (type === "bpmn:ScriptTask") {
      out.push(field("Script (Python)", textArea(bo.script, function (v) {
        ctx.modeling.updateProperties(element, { scriptFormat: bo.scriptFormat || "python", script: v });
      }, 8)));
    }
    if (type === "bpmn:Lane") {
      var route = (ctx.catalog.lanes || {})[(bo.name || bo.id || "").trim().toLowerCase()] ||
        (ctx.catalog.lanes || {})[(bo.id || "").toLowerCase()];
      out.push(el("p", { "class": route ? "" : "wb-error", text: route
        ? "Queue " + route.queue + ": worked by " + (route.groups.join(", ") || "nobody") + (route.supervisors.length
          ? "; supervised by " + route.supervisors.join(", ") : "") + " (processes/lanes.json)."
        : "Not in processes/lanes.json: its user tasks land in the unassigned queue. Name the lane as in the lane map, or add it there." }));
    }
    if (type === "bpmn:ReceiveTask" || type === "bpmn:SendTask") { messageRef(bo, bo, ctx, out); }
    (bo.eventDefinitions || []).forEach(function (def) {
      if (def.$type === "bpmn:TimerEventDefinition") { timer(bo, def, ctx, out); }
      if (def.$type === "bpmn:MessageEventDefinition") { messageRef(bo, def, ctx, out); }
      if (def.$type === "bpmn:SignalEventDefinition") {
        out.push(el("p", { "class": "hint", text: "Signal: " + (def.signalRef ? def.signalRef.name : "(none)") +
          "; signals in use: " + ((ctx.catalog.signals || []).join(", ") || "none") }));
      }
    });
    if (/Task$/.test(type) && type !== "bpmn:ScriptTask") {
      out.push(field("Pre-script", textArea(bodyText(bo, ctx.moddle, "PreScript"), function (v) {
        setBody(bo, ctx.moddle, "PreScript", v); ctx.changed();
      }, 3), "Python run before the task."));
      out.push(field("Post-script", textArea(bodyText(bo, ctx.moddle, "PostScript"), function (v) {
        setBody(bo, ctx.moddle, "PostScript", v); ctx.changed();
      }, 3), "Python run after the task."));
    }
    ctx.panel.replaceChildren.apply(ctx.panel, out);
  }

  window.WorkbenchProps = { render: render, property: property };
})();
