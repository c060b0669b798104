"""Service handlers: case → entitlement → triage → SLA → knowledge → resolution → survey.

Each function is a service-task operation (`service/...`) taking a `ServiceContext` and
plain parameters, working through `ctx.session`, returning a small JSON-able dict.
`BpmnError` codes a diagram can catch: `no_entitlement` (route to paid support) and
`entitlement_exhausted` (the customer's terms are used up).

One module per concern of the case-resolution process: `cases` (open, resolve, cancel,
reopen, close, survey), `entitlements` (which terms cover a case, and charging them), `sla`
(the KPIs and their clock), `knowledge` (article suggestions), and `views` (the case and
SLA answers the others return). `handlers.HANDLER_MODULES` imports them, which registers
their operations.
"""
