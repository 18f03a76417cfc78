"""cacheable-call: the culprit function memoised (functools.lru_cache), only when the call
tracer saw hashable arguments and the same result for the same arguments."""

from __future__ import annotations

from perfaudit.agent.verify.base import Change, Refusal, Target
from perfaudit.agent.verify.experiments.memo import memoised
from perfaudit.agent.verify.patching import function_at
from perfaudit.model import CallRecord


class CacheableCallExperiment:
    finding_id = "cacheable-call"

    def prepare(self, target: Target) -> Change | Refusal:
        location = target.finding.location
        if location is None:
            return Refusal("the finding names no function")
        file = target.absolute(location.file)
        record = self._record(target, file.as_posix(), location.function)
        refusal = self._refuse(record)
        if refusal:
            return Refusal(refusal)
        function = function_at(file, location.function, target.app_root)
        if function is None:
            return Refusal(f"{location.function}() is not a module-level function")
        return Change(f"`{location.function}` memoised", memoised(function, target.app_root))

    def _record(self, target: Target, file: str, function: str) -> CallRecord | None:
        calls = target.evidence.calls if target.evidence else None
        for record in calls.functions if calls else ():
            if (
                record.function.function == function
                and target.absolute(record.function.file).as_posix() == file
            ):
                return record
        return None

    @staticmethod
    def _refuse(record: CallRecord | None) -> str:
        if record is None:
            return "the call tracer did not see the function's arguments"
        if record.coroutine:
            return "an `async def`: lru_cache would cache a coroutine, awaitable only once"
        if record.unhashable_args:
            return f"its arguments cannot key a cache ({', '.join(record.unhashable_args)})"
        if record.context_args or record.opaque_args:
            args = ", ".join(record.context_args + record.opaque_args)
            return f"it takes per-request or uncomparable arguments ({args})"
        if not record.same_result:
            return "the same arguments gave different results"
        return ""


EXPERIMENT = CacheableCallExperiment()
