"""default-event-loop: uvicorn would serve the app on asyncio's own event loop and the
pure-Python h11 parser, because the app's dependency file (requirements.txt, pyproject.toml)
installs uvicorn without uvloop or httptools; without such a file, because they are not
installed where perfaudit runs; for a live server, because its stacks show it ran without.

Not measured by the profile run: perfaudit drives the app in-process, with no socket and
no HTTP parsing, which is where uvloop and httptools earn their gain (an in-process A/B of
the two loops would time callback scheduling only). So the finding states the facts, cites
the published gain and stays `low`; `--verify` measures it over real sockets with two
uvicorn servers (agent/verify/experiments/default_event_loop.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import EvidenceValue, Finding, Severity
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.sampling import ServerStack, server_stack
from perfaudit.model import DeclaredServer, Environment

# What the switch gained where it was measured over sockets (research notes, P17): cited,
# not measured here.
PUBLISHED_GAIN = (
    "uvicorn with uvloop and httptools served a trivial route about 2x faster than with "
    "asyncio and h11 on this kind of machine (httptools alone about +40%); uvloop's own "
    "benchmarks claim 2-4x for socket-heavy servers"
)


class DefaultEventLoop:
    id = "default-event-loop"
    needs = SAMPLES_SUFFICE
    title = "The server would run on asyncio's loop and the h11 parser"
    explanation = (
        "uvicorn picks its event loop and HTTP parser at start-up: uvloop and httptools "
        "when they are installed (`uvicorn[standard]`), otherwise asyncio's own loop and the "
        "pure-Python h11 parser, which cost more per request on cheap routes. perfaudit reads "
        "the app's dependency file (requirements.txt or pyproject.toml, from the app's folder "
        "up to its root), which builds the image you deploy; without one, what is installed "
        "where it runs; for a live server, which loop and parser its stacks show. The profile "
        "run cannot measure the difference in-process, where no socket or HTTP parsing "
        "happens, so the finding stays `low`; `--verify` serves the app with both and "
        "compares over HTTP.\n\n"
        "Example: requirements.txt lists `uvicorn==0.30.1`, so the image runs "
        "`uvicorn main:app` on asyncio and h11 even if your laptop has uvloop. Require "
        "`uvicorn[standard]` (or `fastapi[standard]`) instead."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        env = ctx.session.environment
        if ctx.session.sampling is not None:  # attach: the live server's own frames tell
            seen = server_stack(ctx.session.sampling)
            loop = seen.loop or env.loop
            if seen.server == "uvicorn" and (loop == "asyncio" or seen.http == "h11"):
                yield self._seen_finding(env, seen)
            return
        if ctx.session.mode == "load":  # it only knows the client's machine, not the server's
            return
        if env.declared is not None:  # the app's dependency file builds the deployed image
            declared = env.declared
            missing = [name for name in ("uvloop", "httptools") if not getattr(declared, name)]
            if missing:
                yield self._declared_finding(env, declared, missing)
            return
        # Without uvicorn here or in the app's dependencies we cannot tell which server
        # runs the app, nor its knobs.
        if "uvicorn" not in env.packages:
            return
        missing = _missing(env)
        # A live server tells which loop it ran; an in-process run's loop is perfaudit's.
        unused = ctx.session.mode == "attach" and env.loop != "uvloop" and "uvloop" not in missing
        if missing or unused:
            yield self._finding(env, missing, unused)

    def _finding(self, env: Environment, missing: list[str], unused: bool) -> Finding:
        fallbacks = [FALLBACK[name] for name in (["uvloop"] if unused else []) + missing]
        why = (
            f"{', '.join(missing)} not installed"
            if missing
            else "uvloop is installed but was not used"
        )
        return self._note(
            f"uvicorn {'ran' if unused else 'would run'} this app on "
            f"{' and '.join(fallbacks)}: {why}",
            {
                "loop_used_by_this_run": env.loop,
                "uvicorn": env.packages.get("uvicorn", ""),
                "uvloop": env.packages.get("uvloop", "not installed"),
                "httptools": env.packages.get("httptools", "not installed"),
                "platform": env.platform,
            },
            _suggestion(env, unused and not missing),
            confidence=0.3,
        )

    def _declared_finding(
        self, env: Environment, declared: DeclaredServer, missing: list[str]
    ) -> Finding:
        fallbacks = " and ".join(FALLBACK[name] for name in missing)
        return self._note(
            f"{declared.file} installs uvicorn without {' or '.join(missing)}: it would "
            f"serve this app on {fallbacks}",
            {
                "declared_in": declared.file,
                "requirement": declared.requirement,
                "uvloop": "declared" if declared.uvloop else "not declared",
                "httptools": "declared" if declared.httptools else "not declared",
                "installed_here": ", ".join(
                    f"{name} {env.packages[name]}" for name in FALLBACK if name in env.packages
                )
                or "neither",
            },
            (
                f"In {declared.file}, require `uvicorn[standard]` instead of "
                f"`{declared.requirement}` (or `fastapi[standard]`): it adds uvloop and "
                "httptools, which uvicorn's `--loop auto` and `--http auto` pick at start-up; "
                "with gunicorn, use uvicorn's worker class. For reference, "
                f"{PUBLISHED_GAIN}. `perfaudit profile --verify` measures it on this app."
            ),
            confidence=0.6,
        )

    def _seen_finding(self, env: Environment, seen: ServerStack) -> Finding:
        loop = seen.loop or env.loop
        fallbacks = [FALLBACK["uvloop"]] if loop == "asyncio" else []
        fallbacks += [FALLBACK["httptools"]] if seen.http == "h11" else []
        return self._note(
            f"uvicorn ran this app on {' and '.join(fallbacks)} (seen in its stacks)",
            {"loop_seen": loop, "http_seen": seen.http or "unknown"},
            (
                "Install `uvicorn[standard]` (uvloop and httptools) in the server's "
                "environment, or start it with `--loop uvloop --http httptools`; with "
                "gunicorn, use uvicorn's worker class in the same environment. For reference, "
                f"{PUBLISHED_GAIN}. Compare throughput with your own load test before and after."
            ),
            confidence=0.5,
        )

    def _note(
        self, title: str, evidence: dict[str, EvidenceValue], suggestion: str, *, confidence: float
    ) -> Finding:
        """Every finding of this rule: app-wide and `low`, the fix being in the deployment's
        packages or flags rather than the code; unmeasured by the run (impact 0), so it
        never outranks a measured finding (`--verify`'s gain ranks it)."""
        return Finding(
            id=self.id,
            severity=Severity.LOW,
            title=title,
            route=None,
            location=None,
            evidence=evidence,
            suggestion=suggestion,
            impact=0.0,
            confidence=confidence,
        )


FALLBACK = {"uvloop": "asyncio's event loop", "httptools": "the h11 HTTP parser"}


def _missing(env: Environment) -> list[str]:
    windows = env.platform.lower().startswith("windows")
    missing = []
    if "uvloop" not in env.packages and not windows:  # uvloop does not exist on Windows
        missing.append("uvloop")
    if "httptools" not in env.packages:
        missing.append("httptools")
    return missing


def _suggestion(env: Environment, only_unused: bool) -> str:
    start = (
        "Start uvicorn with `--loop uvloop` (or leave `--loop auto`, its default)"
        if only_unused
        else "Install `uvicorn[standard]` (uvloop and httptools) in the image you deploy"
    )
    return (
        f"{start}, so `--loop auto` and `--http auto` pick the faster implementations; with "
        f"gunicorn, use uvicorn's worker class in the same environment. For reference, "
        f"{PUBLISHED_GAIN}. This run used the {env.loop} loop in-process, where neither is "
        "measured; compare throughput with your own load test before and after."
    )


RULE = DefaultEventLoop()
