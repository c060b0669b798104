"""Sales handlers: lead → opportunity → quote → order → invoice → payment.

Each function is a service-task operation (`sales/...`), takes a `ServiceContext` and
plain parameters, works through `ctx.session`, and returns a small JSON-able dict.
`BpmnError` codes a diagram can catch: `lead_closed` (the lead was qualified or
disqualified meanwhile), `quote_expired` (activating a quote after its validity).

One module per record the sales process moves along: `leads` (capture, score, qualify,
disqualify), `opportunities` (forecast, hold, close), `quotes` (price, revise, win) and
`orders` (orders, invoices, payments, reminders). `handlers.HANDLER_MODULES` imports them,
which registers their operations.
"""
