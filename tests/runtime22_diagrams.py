"""Regenerate the issue-22 runtime regression diagrams (tests/diagrams/runtime22/).

Run `python tests/runtime22_diagrams.py` after changing a shape here; the .bpmn files are
committed so they open in a modeler and the tests read them as any diagram.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from bpmn_builder import Process, script, service, timer_duration

FOLDER = Path(__file__).parent / "diagrams" / "runtime22"

# The timer expression yields garbage until CRMFLOW_ENV says "fixed" (a data fix stand-in).
GARBAGE_UNTIL_FIXED = '"PT1H" if get_env() == "fixed" else "not a duration"'


def charge_then_bad_timer() -> Process:
    """start → charge (service) → wait (timer whose expression does not parse) → end."""
    p = Process("charge_then_bad_timer", "Charge then bad timer")
    p.node("start", "startEvent")
    p.node("charge", "serviceTask", "Charge customer", service("pay/charge", "receipt", amount="amount"))
    p.node("wait", "intermediateCatchEvent", "Wait an hour", timer_duration(GARBAGE_UNTIL_FIXED))
    p.node("end", "endEvent")
    return p.chain("start", "charge", "wait", "end")


def charge_then_bad_boundary() -> Process:
    """start → charge (service) → review (service) with a bad timer boundary → end."""
    p = Process("charge_then_bad_boundary", "Charge then bad boundary")
    p.node("start", "startEvent")
    p.node("charge", "serviceTask", "Charge customer", service("pay/charge", "receipt", amount="amount"))
    p.node("review", "userTask", "Review payment")
    p.node("late", "boundaryEvent", "Too late", timer_duration(GARBAGE_UNTIL_FIXED), row=1,
           attrs=' attachedToRef="review"')
    p.node("end", "endEvent")
    p.node("escalated", "endEvent", "Escalated", row=1)
    p.chain("start", "charge", "review", "end")
    return p.flow("late", "escalated")


def calls_itself() -> Process:
    """start → count (script) → again (call activity calling this very process) → end."""
    p = Process("calls_itself", "Calls itself")
    p.node("start", "startEvent")
    p.node("count", "scriptTask", "Count", script("level = get_task_data_value('level', 0) + 1"))
    p.node("again", "callActivity", "Call myself", attrs=' calledElement="calls_itself"')
    p.node("end", "endEvent")
    return p.chain("start", "count", "again", "end")


def form_in_variable() -> Process:
    """start → order (user task whose form data lands under `order`) → total (script) → end."""
    p = Process("form_in_variable", "Form in a variable")
    p.node("start", "startEvent")
    p.node("order", "userTask", "Order pizza",
           "<bpmn:extensionElements><spiffworkflow:variableName>order</spiffworkflow:variableName>"
           "</bpmn:extensionElements>")
    p.node("total", "scriptTask", "Total", script("total = order['count'] * 12"))
    p.node("end", "endEvent")
    return p.chain("start", "order", "total", "end")


def form_with_empty_variable() -> Process:
    """An empty `variableName` (what spiff-arena's modeler writes by default): data stays top level."""
    p = Process("form_with_empty_variable", "Form, empty variable")
    p.node("start", "startEvent")
    p.node("order", "userTask", "Order pizza",
           "<bpmn:extensionElements><spiffworkflow:variableName /></bpmn:extensionElements>")
    p.node("total", "scriptTask", "Total", script("total = count * 12"))
    p.node("end", "endEvent")
    return p.chain("start", "order", "total", "end")


MESSAGES = ('<bpmn:message id="msg_web" name="lead_from_web" />'
            '<bpmn:message id="msg_phone" name="lead_from_phone" />')


def messages(*refs: str) -> str:
    return "".join(f'<bpmn:messageEventDefinition messageRef="{ref}" />' for ref in refs)


def either_message_starts() -> Process:
    """A multiple start event: a lead from the web OR from the phone starts the process."""
    p = Process("either_message_starts", "Either message starts", root_elements=MESSAGES)
    p.node("lead_in", "startEvent", "Lead received", messages("msg_web", "msg_phone"))
    p.node("qualify", "userTask", "Qualify lead")
    p.node("end", "endEvent")
    return p.chain("lead_in", "qualify", "end")


def both_messages_needed() -> Process:
    """A parallel-multiple catch: waits for the web form AND the phone call, each once."""
    p = Process("both_messages_needed", "Both messages needed", root_elements=MESSAGES)
    p.node("start", "startEvent")
    p.node("both", "intermediateCatchEvent", "Web and phone", messages("msg_web", "msg_phone"),
           attrs=' parallelMultiple="true"')
    p.node("qualify", "userTask", "Qualify lead")
    p.node("end", "endEvent")
    return p.chain("start", "both", "qualify", "end")


def timer_kind(kind: str, expression: str) -> str:
    return (f'<bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{escape(expression)}'
            f"</bpmn:{kind}></bpmn:timerEventDefinition>")


def garbage_timer(kind: str) -> Process:
    """start → wait (a timer of `kind` on the start data's `when`) → end."""
    p = Process(f"garbage_{kind}", f"Timer {kind} from data")
    p.node("start", "startEvent")
    p.node("wait", "intermediateCatchEvent", "Wait", timer_kind(kind, "when"))
    p.node("end", "endEvent")
    return p.chain("start", "wait", "end")


def date_timer_fixed_later() -> Process:
    """A date timer whose value does not parse until CRMFLOW_ENV says "fixed"."""
    p = Process("date_timer_fixed_later", "Date timer, fixed later")
    p.node("start", "startEvent")
    p.node("wait", "intermediateCatchEvent", "Wait for the date",
           timer_kind("timeDate", '"2026-01-06T12:00:00+00:00" if get_env() == "fixed" else "tomorrow"'))
    p.node("end", "endEvent")
    return p.chain("start", "wait", "end")


def charge_with_missing_output() -> Process:
    """The charge handler runs, then the task's own completion fails: its declared data
    output `confirmation` is never set."""
    io = ('<bpmn:ioSpecification id="charge_io"><bpmn:dataOutput id="confirmation" name="confirmation" />'
          '<bpmn:inputSet id="charge_in" /><bpmn:outputSet id="charge_out">'
          "<bpmn:dataOutputRefs>confirmation</bpmn:dataOutputRefs></bpmn:outputSet></bpmn:ioSpecification>")
    p = Process("charge_with_missing_output", "Charge, missing output")
    p.node("start", "startEvent")
    p.node("charge", "serviceTask", "Charge customer", service("pay/charge", "receipt", amount="amount") + io)
    p.node("end", "endEvent")
    return p.chain("start", "charge", "end")


def capture_with_bad_deadline() -> Process:
    """start → capture (service) with a bad timer boundary → end: capture waits for its deadline."""
    p = Process("capture_with_bad_deadline", "Capture with a bad deadline")
    p.node("start", "startEvent")
    p.node("capture", "serviceTask", "Capture payment", service("pay/charge", "receipt", amount="amount"))
    p.node("late", "boundaryEvent", "Too late", timer_duration(GARBAGE_UNTIL_FIXED), row=1,
           attrs=' attachedToRef="capture"')
    p.node("end", "endEvent")
    p.node("escalated", "endEvent", "Escalated", row=1)
    p.chain("start", "capture", "end")
    return p.flow("late", "escalated")


ALL = [
    capture_with_bad_deadline,
    charge_with_missing_output,
    lambda: garbage_timer("timeDuration"),
    lambda: garbage_timer("timeDate"),
    lambda: garbage_timer("timeCycle"),
    date_timer_fixed_later,
    either_message_starts,
    both_messages_needed,
    form_in_variable,
    form_with_empty_variable,
    charge_then_bad_timer,
    charge_then_bad_boundary,
    calls_itself,
]

if __name__ == "__main__":
    for build in ALL:
        print(build().write(FOLDER))
