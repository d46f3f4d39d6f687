"""The control plane's logging scopes (`controlplane.scopes`) and ControlZ (`controlplane.
controlz`): a level change changes what the loggers emit, stack traces are added at their level,
and only the mesh owner may change levels or see the environment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pilotfish.controlplane.controlz import COOKIE, ControlZ
from pilotfish.controlplane.scopes import NONE, ScopeError, Scopes, ScopeSpec, level_name

SPECS = (
    ScopeSpec("ads", "ads debugging", ("test_scopes.xds",)),
    ScopeSpec("default", "Unscoped logging messages.", ("test_scopes",)),
)


@pytest.fixture
def scopes() -> Iterator[Scopes]:
    found = Scopes(SPECS)
    found.install(logging.INFO)
    yield found
    for handler in logging.getLogger().handlers:
        handler.removeFilter(found._stack_filter)


def test_levels_are_istios_and_each_scope_has_its_own(
    scopes: Scopes, caplog: pytest.LogCaptureFixture
) -> None:
    assert [level_name(x) for x in (10, 20, 30, 40, NONE)] == [
        "debug", "info", "warn", "error", "none"
    ]  # fmt: skip
    assert scopes.scope_of("test_scopes.xds.server") == "ads"
    assert scopes.scope_of("test_scopes.other") == "default"
    assert scopes.scope_of("elsewhere") is None
    scopes.update("ads", "debug")
    assert [s["output_level"] for s in scopes.all()] == ["debug", "info"]
    with caplog.at_level(logging.NOTSET, logger="test_scopes"):
        logging.getLogger("test_scopes").setLevel(logging.INFO)  # caplog's reset: as installed
        logging.getLogger("test_scopes.xds.server").debug("pushed")
        logging.getLogger("test_scopes.other").debug("hidden")
    assert [r.getMessage() for r in caplog.records] == ["pushed"]
    scopes.update("default", "none")
    assert scopes.info("default")["output_level"] == "none"
    assert scopes.info("ads")["output_level"] == "debug"  # not the parent's


def test_bad_names_and_levels_change_nothing(scopes: Scopes) -> None:
    with pytest.raises(ScopeError, match="unknown scope name: nosuch"):
        scopes.update("nosuch", "debug")
    with pytest.raises(ScopeError, match="unknown level 'verbose'"):
        scopes.update("ads", "debug", "verbose")
    assert scopes.info("ads")["output_level"] == "info"  # the good half was not applied


def test_stack_traces_at_the_scopes_level(scopes: Scopes) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign, assignment]
    handler.addFilter(scopes._stack_filter)
    logger = logging.getLogger("test_scopes.xds")
    logger.addHandler(handler)
    try:
        logger.warning("no stack")
        scopes.update("ads", stack_trace_level="warn")
        logger.info("below the stack level")
        logger.warning("with a stack")
    finally:
        logger.removeHandler(handler)
    assert [bool(r.stack_info) for r in records] == [False, False, True]
    stack = str(records[2].stack_info)
    assert stack.startswith("Stack (most recent call last):") and "test_controlz.py" in stack
    assert "logging/__init__.py" not in stack


async def _calls(scopes: Scopes) -> dict[str, Any]:
    token = "owner-token"
    app = ControlZ(scopes, token, "http://127.0.0.1:15014/metrics").app()
    out: dict[str, Any] = {}
    async with TestClient(TestServer(app)) as client:
        out["list"] = await (await client.get("/scopej/")).json()
        out["one"] = await (await client.get("/scopej/ads")).json()
        out["unknown"] = (await client.get("/scopej/nosuch")).status
        level = {"output_level": "debug"}
        out["anonymous"] = (await client.put("/scopej/ads", json=level)).status
        out["form_anonymous"] = (await client.post("/scopez/", data={"scope": "ads"})).status
        out["rebinding"] = (await client.get("/scopej/", headers={"Host": "evil.example"})).status
        page = await (await client.get("/")).text()
        out["page_hides_env"] = "PATH" not in page and "Logging Scopes" in page
        owner = {"authorization": f"Bearer {token}"}
        out["owner"] = (await client.put("/scopej/ads", json=level, headers=owner)).status
        out["owner_unknown"] = (await client.put("/scopej/x", json=level, headers=owner)).status
        entered = await client.get(f"/?token={token}", allow_redirects=False)
        out["redirect"] = (entered.status, entered.headers.get("Location"))
        client.session.cookie_jar.update_cookies({COOKIE: token})
        out["page_env"] = "PATH" in await (await client.get("/")).text()
        form = {"scope": "ads", "stack_trace_level": "error"}
        cross = await client.post("/scopez/", data=form, headers={"Origin": "http://evil"})
        out["cross_origin"] = cross.status
        posted = await client.post("/scopez/", data=form, allow_redirects=False)
        out["form_owner"] = posted.status
    return out


def test_controlz_serves_scopes_and_only_the_owner_changes_them(scopes: Scopes) -> None:
    out = asyncio.run(_calls(scopes))
    assert [s["name"] for s in out["list"]] == ["ads", "default"]
    assert out["one"] == {"name": "ads", "description": "ads debugging", "output_level": "info",
                          "stack_trace_level": "none", "log_callers": False}  # fmt: skip
    assert out["unknown"] == 400
    assert out["anonymous"] == 401 and out["form_anonymous"] == 401
    assert out["rebinding"] == 403 and out["cross_origin"] == 403
    assert out["page_hides_env"] and out["page_env"]
    assert out["owner"] == 202 and out["owner_unknown"] == 400
    assert out["redirect"] == (302, "/")
    assert out["form_owner"] == 303
    assert scopes.info("ads")["output_level"] == "debug"  # the owner's PUT
    assert scopes.info("ads")["stack_trace_level"] == "error"  # the owner's form
