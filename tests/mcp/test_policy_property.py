"""Issue 18's promise, as a property over random policies × identities × tools: the tools ``tools/list`` shows
(``ToolPolicies.allows``, what the virtual server filters its catalog with) are exactly the tools ``tools/call``
admits (``ToolPolicyStage.before``, the stage every call goes through)."""

from __future__ import annotations

from time import perf_counter

from hypothesis import given, settings
from hypothesis import strategies as st

from wardgate.config.mcp import ToolPolicyConfig
from wardgate.core.call import Call
from wardgate.core.principal import Principal
from wardgate.mcp.policy import ToolDenied, ToolPolicies, ToolPolicyStage

TOOLS = [f"{s}.{t}" for s in ("github", "files", "jira") for t in ("read_file", "delete_repo", "create_issue", "x")]
GLOBS = ["*", "github.*", "files.read_*", "*.delete_*", "jira.x", "*issue", "files.?", "nope.*", "[gf]*.x"]
VALUES = ["p1", "acme", "t1", "u1", "k1", "k2"]

principals = st.builds(
    Principal,
    kind=st.sampled_from(["key", "jwt", "master", "agent"]),
    id=st.sampled_from(["k1", "k2", "j1"]),
    project=st.sampled_from([None, "p1", "p2"]),
    project_name=st.sampled_from([None, "acme"]),
    team=st.sampled_from([None, "t1"]),
    user=st.sampled_from([None, "u1"]),
)


@st.composite
def policies(draw: st.DrawFn) -> ToolPolicyConfig:
    scope = draw(st.sampled_from(["global", "project", "team", "user", "key"]))
    match = None if scope == "global" else draw(st.sampled_from([None, *VALUES]))
    return ToolPolicyConfig(
        name=f"p{draw(st.integers(0, 99))}",
        scope=scope,
        match=match,
        allow=tuple(draw(st.lists(st.sampled_from(GLOBS), min_size=1, max_size=3))),
        deny=tuple(draw(st.lists(st.sampled_from(GLOBS), max_size=2))),
    )


def callable_by_stage(stage: ToolPolicyStage, principal: Principal, tool: str) -> bool:
    call = Call("id", "mcp", "tools/call", tool, {}, False, None, perf_counter(), principal=principal, tool=tool)
    step = stage.before(call)
    try:
        step.send(None)  # the policy check never awaits: it finishes on its first step
    except StopIteration:
        return True
    except ToolDenied:
        return False
    finally:
        step.close()
    raise AssertionError("the policy stage awaited something")


@settings(max_examples=120, deadline=None)
@given(st.lists(policies(), max_size=4), principals)
def test_listed_equals_callable(configs: list[ToolPolicyConfig], principal: Principal) -> None:
    rules = ToolPolicies(configs)
    stage = ToolPolicyStage(rules)
    listed = {t for t in TOOLS if rules.allows(principal, t)}
    admitted = {t for t in TOOLS if callable_by_stage(stage, principal, t)}
    assert listed == admitted
