/* The spiffworkflow extension namespace for bpmn-js, so the modeler reads, edits and writes the
   elements crmflow's engine uses (SpiffWorkflow's service task operator, properties, scripts,
   instructions) instead of keeping them as opaque XML. Loaded before workbench.js. */
(function () {
  "use strict";
  function body(name) {
    return { name: name, superClass: ["Element"], properties: [{ name: "value", type: "String", isBody: true }] };
  }
  window.SPIFFWORKFLOW_MODDLE = {
    name: "SpiffWorkflow",
    uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
    prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      { name: "ServiceTaskOperator", superClass: ["Element"], properties: [
        { name: "id", type: "String", isAttr: true },
        { name: "resultVariable", type: "String", isAttr: true },
        { name: "parameters", type: "Parameters" }] },
      { name: "Parameters", superClass: ["Element"], properties: [
        { name: "parameters", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"], properties: [
        { name: "id", type: "String", isAttr: true },
        { name: "type", type: "String", isAttr: true },
        { name: "value", type: "String", isAttr: true }] },
      { name: "Properties", superClass: ["Element"], properties: [
        { name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"], properties: [
        { name: "name", type: "String", isAttr: true },
        { name: "value", type: "String", isAttr: true }] },
      body("InstructionsForEndUser"), body("PreScript"), body("PostScript"), body("MessagePayload"),
      body("MessageVariable"), body("CalledDecisionId"), body("UnitTest")
    ]
  };
})();
