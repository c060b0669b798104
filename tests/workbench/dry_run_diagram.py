"""A small diagram for the dry-run tests, saved as a draft of lead_to_invoice: a user task, a one-day
timer, a message catch, the end (with BPMN-DI, so the modeler draws it)."""

XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="defs_dry" targetNamespace="http://crmflow.example/dry">
  <bpmn:message id="msg_go" name="dry_go" />
  <bpmn:process id="lead_to_invoice" name="Dry run" isExecutable="true">
    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="Review">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:intermediateCatchEvent id="wait_day" name="One day">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="wait_go" name="Go">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_go" />
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end" name="Done"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="wait_day" />
    <bpmn:sequenceFlow id="f3" sourceRef="wait_day" targetRef="wait_go" />
    <bpmn:sequenceFlow id="f4" sourceRef="wait_go" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="dia"><bpmndi:BPMNPlane id="plane" bpmnElement="lead_to_invoice">
    <bpmndi:BPMNShape id="start_di" bpmnElement="start">
      <dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="review_di" bpmnElement="review">
      <dc:Bounds x="190" y="78" width="100" height="80" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="wait_day_di" bpmnElement="wait_day">
      <dc:Bounds x="350" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="wait_go_di" bpmnElement="wait_go">
      <dc:Bounds x="440" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="end_di" bpmnElement="end">
      <dc:Bounds x="530" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">
      <di:waypoint x="136" y="118" />
      <di:waypoint x="190" y="118" /></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2">
      <di:waypoint x="290" y="118" />
      <di:waypoint x="350" y="118" /></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3">
      <di:waypoint x="386" y="118" />
      <di:waypoint x="440" y="118" /></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f4_di" bpmnElement="f4">
      <di:waypoint x="476" y="118" />
      <di:waypoint x="530" y="118" /></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
