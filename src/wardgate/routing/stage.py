"""The router stage: can the model do this operation? A model with one deployment
and nothing to decide gets its deployment here; every other choice happens in the terminal step (execute.py),
where a failed attempt can still move on to the next deployment."""

from __future__ import annotations

from collections.abc import Mapping

from wardgate.core.call import Call, Result
from wardgate.core.errors import ModelNotFound, UnsupportedOperation
from wardgate.routing.route import Route


class RouterStage:
    name = "router"

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self._routes = routes

    async def before(self, call: Call) -> Result | None:
        route = self._routes.get(call.model)
        if route is None:  # identity/access.py refused unknown models already; this guards a mis-assembled pipeline
            raise ModelNotFound(
                f"The model `{call.model}` does not exist or you do not have access to it.", param="model"
            )
        if call.operation not in route.operations:
            raise UnsupportedOperation(
                f"The model `{call.model}` does not support {call.operation} (its provider has no such endpoint).",
                param="model",
            )
        single = route.single
        if single is not None:
            call.deployment = single.target.deployment
            call.route = single.decision
            call.response_headers.append(single.header)
        return None
