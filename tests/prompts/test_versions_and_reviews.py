"""Immutable content-addressed versions, four-eyes promotions to protected labels, rollbacks, and the audit trail
that records every move (issue 17, points 1 and 2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from tests.api.admin.support import admin, flush
from tests.prompts.support import SUPPORT_V1, Team, variant
from tests.support import RunningGateway
from wardgate.store.tables import audit_log


def test_pushing_the_same_content_twice_makes_one_version(team: Team) -> None:
    with team.as_user(0) as client:
        name, (first,) = team.new_prompt(client, SUPPORT_V1)
        again = client.post(f"/admin/v1/prompts/{name}/versions", json=SUPPORT_V1)
        assert again.status_code == 200 and again.json()["id"] == first and again.json()["number"] == 1
        reordered = {k: SUPPORT_V1[k] for k in reversed(list(SUPPORT_V1))}  # key order is not content
        assert client.post(f"/admin/v1/prompts/{name}/versions", json=reordered).json()["id"] == first
        other = client.post(f"/admin/v1/prompts/{name}/versions", json=variant(SUPPORT_V1, "Be brief."))
        assert other.status_code == 201 and other.json()["number"] == 2 and other.json()["id"] != first
        listed = client.get(f"/admin/v1/prompts/{name}/versions").json()["data"]
        assert [v["number"] for v in listed] == [1, 2]
        by_number = client.get(f"/admin/v1/prompts/{name}/versions/1").json()
        assert by_number["id"] == first and by_number["messages"] == SUPPORT_V1["messages"]


def test_a_template_that_tries_to_leave_the_sandbox_is_refused_at_creation(team: Team) -> None:
    escapes = [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ name.upper() }}",
        "{{ x['__class__'] }}",
        "{{ x|attr('__class__') }}",
        "{% import 'os' as os %}",
        "{{ range(10) }}",
    ]
    with team.as_user(0) as client:
        name, _ = team.new_prompt(client)
        for source in escapes:
            spec = {"messages": [{"role": "system", "content": source}]}
            refused = client.post(f"/admin/v1/prompts/{name}/versions", json=spec)
            assert refused.status_code == 400, source
            error = refused.json()["error"]
            assert error["code"] == "invalid_prompt_template" and error["param"] == "messages[0].content"
        bad_params = client.post(
            f"/admin/v1/prompts/{name}/versions",
            json={"messages": [{"role": "user", "content": "hi"}], "params": {"temperature": "hot"}},
        )
        assert bad_params.status_code == 400 and bad_params.json()["error"]["param"] == "params.temperature"
        stream = client.post(
            f"/admin/v1/prompts/{name}/versions",
            json={"messages": [{"role": "user", "content": "hi"}], "params": {"stream": True}},
        )
        assert stream.status_code == 400
        assert client.get(f"/admin/v1/prompts/{name}/versions").json()["data"] == []


def _promote(client: Any, name: str, label: str, version: str, reason: str = "ship it") -> dict[str, Any]:
    response = client.post(
        f"/admin/v1/prompts/{name}/promotions", json={"label": label, "version": version, "reason": reason}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _actions(gateway: RunningGateway, target: str) -> list[tuple[str, str, dict[str, Any]]]:
    import orjson

    async def read() -> list[tuple[str, str, dict[str, Any]]]:
        query = select(audit_log.c.action, audit_log.c.actor, audit_log.c.details).where(audit_log.c.target == target)
        async with gateway.worker.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(audit_log.c.seq))).all()
        return [(a, who, orjson.loads(d)) for a, who, d in rows]

    flush(gateway)
    return gateway.run(read())


def test_a_protected_label_needs_two_approvals_from_people_other_than_the_author(
    gateway: RunningGateway, team: Team
) -> None:
    author, reviewer, second = (team.as_user(i) for i in range(3))
    name, (v1,) = team.new_prompt(author, SUPPORT_V1)
    promotion = _promote(author, name, "production", v1, "first release")
    assert promotion["status"] == "pending" and promotion["required"] == 2
    pid = promotion["id"]
    own = author.post(f"/admin/v1/prompts/{name}/promotions/{pid}/approve", json={})
    assert own.status_code == 403 and own.json()["error"]["code"] == "permission_denied"
    first = reviewer.post(f"/admin/v1/prompts/{name}/promotions/{pid}/approve", json={"reason": "read it"})
    assert first.status_code == 200 and first.json()["status"] == "pending"
    twice = reviewer.post(f"/admin/v1/prompts/{name}/promotions/{pid}/approve")
    assert twice.status_code == 409  # the same reviewer counts once
    assert author.get(f"/admin/v1/prompts/{name}").json()["labels"] == []
    done = second.post(f"/admin/v1/prompts/{name}/promotions/{pid}/approve")
    assert done.status_code == 200 and done.json()["status"] == "applied"
    assert len(done.json()["approvals"]) == 2
    view = author.get(f"/admin/v1/prompts/{name}").json()
    assert [(lb["label"], lb["version"], lb["approvals_required"]) for lb in view["labels"]] == [("production", v1, 2)]
    # someone else's push: the pusher is the author, who may not approve it either
    v2 = reviewer.post(f"/admin/v1/prompts/{name}/versions", json=variant(SUPPORT_V1, "v2 {{ tier }}")).json()["id"]
    other = _promote(author, name, "production", v2)
    assert reviewer.post(f"/admin/v1/prompts/{name}/promotions/{other['id']}/approve").status_code == 403
    rejected = second.post(f"/admin/v1/prompts/{name}/promotions/{other['id']}/reject", json={"reason": "no"})
    assert rejected.json()["status"] == "rejected"
    # an unprotected label moves at once
    assert _promote(author, name, "dev", v2)["status"] == "applied"

    target = f"{team.project}/{name}"
    actions = _actions(gateway, target)
    moves = [(who, d) for a, who, d in actions if a == "prompt.label.move"]
    assert [(d["label"], d["before"], d["after"]) for _, d in moves] == [("production", None, v1), ("dev", None, v2)]
    assert moves[0][0] == f"user:{team.users[2]}" and moves[0][1]["reason"] == "first release"
    kinds = [a for a, _, _ in actions]
    assert kinds.count("prompt.promotion.approve") == 2 and kinds.count("prompt.promotion.reject") == 1
    for a in (author, reviewer, second):
        a.close()


def test_rollback_and_audit_verify_then_a_tampered_move_is_found(gateway: RunningGateway, team: Team) -> None:
    with team.as_user(0) as author, team.as_user(1) as reviewer:
        name, (v1, v2) = team.new_prompt(author, SUPPORT_V1, variant(SUPPORT_V1, "second"))
        _promote(author, name, "staging", v1)
        pid = _promote(author, name, "staging", v2)["id"]
        assert reviewer.post(f"/admin/v1/prompts/{name}/promotions/{_pending(author, name)}/approve").status_code == 200
        assert reviewer.post(f"/admin/v1/prompts/{name}/promotions/{pid}/approve").json()["status"] == "applied"
        back = reviewer.post(f"/admin/v1/prompts/{name}/labels/staging/rollback", json={"reason": "bad answers"})
        assert back.status_code == 200 and (back.json()["version"], back.json()["previous"]) == (v1, v2)
        never = reviewer.post(f"/admin/v1/prompts/{name}/labels/dev/rollback", json={"reason": "x"})
        assert never.status_code == 404
    actions = _actions(gateway, f"{team.project}/{name}")
    rollback = [d for a, _, d in actions if a == "prompt.label.rollback"]
    assert rollback == [{"label": "staging", "before": v2, "after": v1, "reason": "bad answers"}]
    with admin(gateway) as master:
        assert master.get("/admin/v1/audit/verify").json()["ok"] is True

        async def tamper() -> None:
            async with gateway.worker.engine.begin() as conn:
                seq = await conn.scalar(
                    select(audit_log.c.seq).where(audit_log.c.action == "prompt.label.rollback").limit(1)
                )
                await conn.execute(
                    update(audit_log).where(audit_log.c.seq == seq).values(details='{"label":"staging"}')
                )

        gateway.run(tamper())
        broken = master.get("/admin/v1/audit/verify").json()
        assert broken["ok"] is False and broken["problem"] == "the row was edited"


def _pending(client: Any, name: str) -> str:
    pending = client.get(f"/admin/v1/prompts/{name}").json()["pending"]
    return str(pending[0]["id"])
