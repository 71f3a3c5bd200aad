"""The model-access check, once per call, right after identity: the model must exist and the caller may use it.

Later stages rely on it and do not check again; a stage that changes ``call.model`` (a budget's fall-back) picks only
models the principal may use.
"""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.core.call import Call, Result
from wardgate.core.errors import ModelNotFound


class ModelAccessStage:
    name = "model_access"

    def __init__(self, models: Iterable[str]) -> None:
        self._models = frozenset(models)

    async def before(self, call: Call) -> Result | None:
        principal = call.principal
        if call.model not in self._models or principal is None or not principal.may_use(call.model):
            if call.operation == "batch_output" and call.model in self._models and principal is not None:
                return None  # a batch's output: the spend happened upstream, whatever the key may use now
            # the same answer for unknown and forbidden models: a key must not learn which models exist
            raise ModelNotFound(
                f"The model `{call.model}` does not exist or you do not have access to it.", param="model"
            )
        return None
