"""The analyst workbench: draw, check, test and deploy diagrams in the browser (issue 17).

bpmn-js and dmn-js (vendored in `crmflow/web/static/vendor`, see VENDORED.md) draw; the server
checks with `crmflow validate`'s rules (`checks`), runs the YAML scenarios against the draft
(`trial`), saves drafts with author and time (`drafts`) and deploys through the engine facade
(`deploying`). Its pages and JSON calls are HTTP, so they live in `crmflow.web.pages.workbench`,
which `crmflow.web.app.create_app` mounts beside the other pages.
"""
