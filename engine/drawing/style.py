"""What a drawing looks like: element kinds, their display names, sizes and the stylesheet."""

from __future__ import annotations

SVG_NS = "http://www.w3.org/2000/svg"
STATES = ("done", "active", "waiting", "failed", "cancelled")
NO_LAYOUT_MESSAGE = "this diagram has no layout (BPMNDI)"

MARGIN = 20.0
COORD_LIMIT = 1e7  # anything beyond is nonsense from a broken export; clamp so the numbers stay printable
FONT_SIZE = 12.0
LABEL_FONT_SIZE = 11.0
CHAR_WIDTH = 0.56  # average glyph width of a sans-serif font, as a fraction of the font size
LINE_HEIGHT = 1.2

ACTIVITIES = {
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "choreographyTask", "callChoreography", "subChoreography",
}  # fmt: skip
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess", "subChoreography"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
          "implicitThrowEvent"}  # fmt: skip
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
            "gateway"}  # fmt: skip
DATA_OBJECTS = {"dataObjectReference", "dataObject", "dataInput", "dataOutput"}
DATA_STORES = {"dataStoreReference", "dataStore"}
CONVERSATIONS = {"conversation", "subConversation", "callConversation"}
THROWING = {"endEvent", "intermediateThrowEvent", "implicitThrowEvent"}
DI_NAMES = {"BPMNDiagram", "BPMNPlane", "BPMNShape", "BPMNEdge", "BPMNLabel", "BPMNLabelStyle", "Bounds",
            "waypoint", "Font"}  # fmt: skip
TYPE_NAMES = {
    "userTask": "User task", "serviceTask": "Service task", "scriptTask": "Script task",
    "manualTask": "Manual task", "businessRuleTask": "Business rule task", "sendTask": "Send task",
    "receiveTask": "Receive task", "callActivity": "Call activity", "subProcess": "Subprocess",
    "startEvent": "Start event", "endEvent": "End event", "boundaryEvent": "Boundary event",
    "intermediateCatchEvent": "Intermediate catch event", "intermediateThrowEvent": "Intermediate throw event",
    "exclusiveGateway": "Exclusive gateway", "parallelGateway": "Parallel gateway",
    "inclusiveGateway": "Inclusive gateway", "eventBasedGateway": "Event-based gateway",
    "sequenceFlow": "Sequence flow", "messageFlow": "Message flow", "participant": "Pool", "lane": "Lane",
}  # fmt: skip

CSS = """
.bpmn-diagram { font-family: Arial, Helvetica, sans-serif; }
.bpmn-diagram text { fill: #22242a; font-size: 12px; stroke: none; }
.bpmn-diagram text.small { font-size: 11px; paint-order: stroke; stroke: #ffffff; stroke-width: 3px;
  stroke-linejoin: round; }
.bpmn-diagram text.title { font-size: 13px; }
.bpmn-diagram .body { fill: #ffffff; stroke: #22242a; stroke-width: 2px; }
.bpmn-diagram .inner { fill: none; stroke: #22242a; stroke-width: 1.5px; }
.bpmn-diagram .line { fill: none; stroke: #22242a; stroke-width: 1.5px; stroke-linejoin: round; }
.bpmn-diagram .glyph { fill: none; stroke: #22242a; stroke-width: 1.5px; stroke-linejoin: round; }
.bpmn-diagram .glyph.bold { stroke-width: 3px; }
.bpmn-diagram .glyph.filled, .bpmn-diagram .filled { fill: #22242a; }
.bpmn-diagram .glyph.white { stroke: #ffffff; }
.bpmn-diagram .marker-fill { fill: #22242a; stroke: #22242a; stroke-width: 1px; }
.bpmn-diagram .marker-open { fill: #ffffff; stroke: #22242a; stroke-width: 1px; }
.bpmn-diagram .marker-line { fill: none; stroke: #22242a; stroke-width: 1.5px; }
.bpmn-diagram .participant .body, .bpmn-diagram .lane .body { stroke-width: 1.5px; }
.bpmn-diagram .lane .body { fill: none; }
.bpmn-diagram .band { fill: none; stroke: #22242a; stroke-width: 1.5px; }
.bpmn-diagram .event-start .body { stroke-width: 2px; }
.bpmn-diagram .event-intermediate .body { stroke-width: 1.5px; }
.bpmn-diagram .event-end .body { stroke-width: 4px; }
.bpmn-diagram .non-interrupting .body, .bpmn-diagram .non-interrupting .inner { stroke-dasharray: 6 3; }
.bpmn-diagram .call .body { stroke-width: 4px; }
.bpmn-diagram .event-subprocess .body { stroke-dasharray: 2 3; }
.bpmn-diagram .container .body { fill: #ffffff; fill-opacity: 0.6; stroke-width: 1.5px; }
.bpmn-diagram .flow-message .line { stroke-dasharray: 10 5; }
.bpmn-diagram .flow-association .line { stroke-dasharray: 2 4; stroke-linecap: round; }
.bpmn-diagram .group-border { fill: none; stroke: #22242a; stroke-width: 1.5px; stroke-dasharray: 10 4 2 4; }
.bpmn-diagram .unknown .body { fill: #f7f7f7; stroke-dasharray: 4 3; }
.bpmn-diagram .state-done .body { stroke: #2e7d32; fill: #e8f5e9; }
.bpmn-diagram .state-done .line { stroke: #2e7d32; stroke-width: 2.5px; }
.bpmn-diagram .state-active .body { stroke: #1565c0; stroke-width: 4px; fill: #e3f2fd; }
.bpmn-diagram .state-active .line { stroke: #1565c0; stroke-width: 3px; }
.bpmn-diagram .state-waiting .body { stroke: #e08a00; stroke-width: 3px; fill: #fff3e0; }
.bpmn-diagram .state-waiting .line { stroke: #e08a00; stroke-width: 2.5px; }
.bpmn-diagram .state-failed .body { stroke: #c62828; stroke-width: 3px; fill: #ffebee; }
.bpmn-diagram .state-failed .line { stroke: #c62828; stroke-width: 2.5px; }
.bpmn-diagram .state-cancelled .body { stroke: #9e9e9e; stroke-dasharray: 6 4; fill: #f5f5f5; }
.bpmn-diagram .state-cancelled .line { stroke: #9e9e9e; stroke-dasharray: 6 4; }
.bpmn-diagram .badge circle { fill: #c62828; stroke: #ffffff; stroke-width: 1.5px; }
.bpmn-diagram .badge text { fill: #ffffff; font-size: 12px; font-weight: bold; }
.bpmn-diagram .nolayout { fill: #555555; font-size: 14px; }
"""
