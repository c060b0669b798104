"""The analyst workbench: draw, check, test and deploy diagrams in the browser (issue 17).

bpmn-js and dmn-js (vendored in `worklists/static/vendor`, see VENDORED.md) draw; the server
checks with `crmflow validate`'s rules (`checks`), runs the YAML scenarios against the draft
(`trial`), saves drafts with author and time (`drafts`) and deploys through the engine facade
(`deploying`). `crmflow.server.create_app` mounts `routes.build_router` beside the pages.
"""

from .routes import BODY_LIMITS, build_router

__all__ = ["BODY_LIMITS", "build_router"]
