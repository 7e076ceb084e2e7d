"""The API as an installation serves it: `ringi token` issues, lists and
revokes tokens; `ringi up` serves the API on localhost next to the worker;
`ringi serve` serves it alone against the same Temporal and event store.
Real processes, real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_harness import RINGI, Installation, Result, free_port

pytestmark = pytest.mark.slow


def ok(result: Result) -> Result:
    assert result.status == 0, f"exit {result.status}: {result.err}"
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_and_the_api_served_by_up_and_by_serve(tmp_path: Path) -> None:
    inst = Installation(tmp_path / "data", free_port(), free_port())

    # tokens may be issued before the first `ringi up`; each is printed once, alone on stdout
    desk = ok(inst.ringi("token", "issue", "--role", "secretariat", "--name", "desk")).out.strip()
    issued = ok(
        inst.ringi("token", "issue", "--role", "member", "--company", "A社", "--json")
    ).json()
    member = issued["token"]
    assert desk.startswith("ringi_") and "\n" not in desk
    assert (issued["role"], issued["company"]) == ("member", "A社")
    refused = inst.ringi("token", "issue", "--role", "member")
    assert refused.status == 1 and "--company" in refused.err
    assert inst.ringi("token", "issue", "--role", "timer").status == 2

    inst.up()
    try:
        endpoint = json.loads((inst.data_dir / "endpoint.json").read_text())
        assert endpoint["api_url"] == inst.api_url
        with httpx.Client(base_url=inst.api_url, timeout=30) as api:
            filed = api.post(
                "/v1/requests", json={"target": "API", "body": "一括"}, headers=bearer(member)
            )
            assert filed.status_code == 201, filed.text
            number = filed.json()["request"]["number"]
            assert api.get("/v1/me", headers=bearer(desk)).json()["name"] == "desk"
            assert api.get("/v1/me").status_code == 401

            # the command line sees what the API wrote, attributed to the token
            shown = ok(inst.ringi("show", str(number), "--json")).json()
            assert shown["timeline"][0]["actor"]["user"] == f"A社#{issued['token_id']}"

            listed = ok(inst.ringi("token", "list", "--json"))
            assert {t["name"] for t in listed.json()} == {"desk", "A社"}
            assert (
                desk.split("_", 2)[2] not in listed.out
                and member.split("_", 2)[2] not in listed.out
            )

            # revoked by another process: the running API refuses it at once
            ok(inst.ringi("token", "revoke", issued["token_id"], "--reason", "test"))
            assert api.get("/v1/me", headers=bearer(member)).status_code == 401
            assert "revoked" in ok(inst.ringi("token", "list")).out

        # `ringi serve`: the API alone, against the same Temporal and store
        port = free_port()
        serve = subprocess.Popen(
            [*RINGI, "serve", "--port", str(port)],
            env=inst.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert serve.stdout is not None
            line = serve.stdout.readline()
            assert f"ringi API is up: http://127.0.0.1:{port}" in line, line
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
                hearing = api.post(f"/v1/requests/{number}/open-hearing", headers=bearer(desk))
                assert hearing.status_code == 409
                assert "the hearing needs 5" in hearing.json()["message"]
                answered = api.post(
                    f"/v1/requests/{number}/answers",
                    json={"text": "検討します"},
                    headers=bearer(desk),
                )
                assert answered.status_code == 200, answered.text
            # a second API on a port in use says so and stops
            busy = subprocess.run(
                [*RINGI, "serve", "--port", str(port)],
                env=inst.env(),
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            assert busy.returncode == 1 and "cannot listen" in busy.stderr
        finally:
            serve.send_signal(signal.SIGINT)
            assert serve.wait(timeout=30) == 0
    finally:
        started = time.monotonic()
        assert inst.down() == 0
        assert time.monotonic() - started < 30
