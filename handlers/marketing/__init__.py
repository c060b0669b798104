"""Marketing handlers: lists, campaigns and their activities, responses, ROI.

Each function is a service-task operation (`marketing/...`) in the style of
`handlers.sales`. Emails never leave from here: `distribute_activity` queues one message
per member in the outbox (`ctx.send("email", ...)`) under a key made of the campaign
activity and the member, so however often a distribution is retried, a member gets one
email. A dynamic list is resolved from its stored criteria when an activity is
distributed (DESIGN.md "CRM lifecycle rules", Marketing).

One module per concern of the campaign processes: `lists` (static and dynamic marketing
lists), `campaigns` (campaigns, their activities and ROI), `distribution` (reaching a
campaign's members, and the quick campaign) and `responses` (answers, and converting them to
leads). `handlers.HANDLER_MODULES` imports them, which registers their operations.
"""
