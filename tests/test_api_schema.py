"""Property-based fuzzing of the API against its own OpenAPI document.

schemathesis loads the document from the app (``from_asgi``) and generates
calls for every operation, valid ones and invalid ones, sent with a valid
secretariat token to the real app: a real Ringi on the time-skipping server
with a worker, on the test's event loop (the generation runs in a thread, each
call is handed to the loop). No call may answer 5xx, and every answer must
match what the document says of it: its status, content type, headers and
body schema.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ringi.api import ApiSettings
from ringi.service import Ringi
from tests.api_harness import Api, serving

#: examples per operation and generation mode: about a minute for the whole API
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def to_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis' requests-style keyword arguments, as httpx takes them."""
    sent: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
    }
    if kwargs.get("cookies"):
        sent["headers"] = {
            **sent["headers"],
            "Cookie": "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items()),
        }
    if "json" in kwargs:
        sent["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        sent["content" if isinstance(data, bytes | str) else "data"] = data
    return sent


async def seed(api: Api) -> None:
    """Something for the generated calls to act on: requests in a few stages, a meeting."""
    for _ in range(3):
        await api.file()
    await api.file(category="意見")
    await api.call("secretariat", "POST", "/v1/meetings", {"number": 1})
    for company in ("B社", "C社", "D社", "E社"):
        await api.call(company, "POST", "/v1/requests/1/endorse")


async def test_fuzzing_the_openapi_document_finds_no_5xx_and_no_schema_violation(
    ringi: Ringi,
) -> None:
    async with serving(ringi, ApiSettings(rate_per_second=0)) as api:
        await seed(api)
        schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
        loop = asyncio.get_running_loop()
        auth = api.auth("secretariat")

        def send(case: Any) -> httpx.Response:
            kwargs = case.as_transport_kwargs(base_url="http://ringi.test", headers=auth)
            call = api.client.request(**to_httpx(kwargs))
            return asyncio.run_coroutine_threadsafe(call, loop).result(timeout=120)

        def fuzz() -> list[str]:
            exercised = []
            for result in schema.get_all_operations():
                operation = result.ok()
                strategies = [
                    operation.as_strategy(generation_mode=mode)
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                ]
                if "{number}" in operation.path:  # also the requests that exist
                    strategies += [
                        operation.as_strategy(path_parameters={"number": n}) for n in (1, 2, 4)
                    ]

                @settings(
                    max_examples=EXAMPLES * len(strategies) // 2,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=st.one_of(strategies))
                def calls(case: Any) -> None:
                    case.validate_response(send(case), checks=CHECKS, headers=auth)

                calls()
                exercised.append(operation.label)
            return exercised

        started = time.monotonic()
        exercised = await asyncio.to_thread(fuzz)
        assert len(exercised) == len(
            [m for ops in api.app.openapi()["paths"].values() for m in ops]
        ), exercised
        print(f"fuzzed {len(exercised)} operations in {time.monotonic() - started:.0f} s")
