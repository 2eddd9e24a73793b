"""A bounded schemathesis run over the public API's OpenAPI schema, in process: no request may get a 5xx.

Schemathesis reads /openapi.json from the app and generates requests for chat, the stream, feedback, deleting a
session and health, both ones the schema allows and ones it does not, and sends each through the ASGI app on
the real model and index, with a log of its own. The only check is schemathesis's not_a_server_error. The run is
derandomized (the same requests on every run) and bounded: EXAMPLES per operation and kind, a few hundred in all.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from conftest import make_settings
from msassistant.api import create_app
from msassistant.store import LogStore

EXAMPLES = 50  # requests for each operation and kind (valid, invalid): 4 x 2 x 50, and health once
OPERATIONS = ["POST /api/chat", "POST /api/chat/stream", "POST /api/feedback", "DELETE /api/sessions/{session_id}",
              "GET /api/health"]
SENT: Counter = Counter()  # requests sent, by operation and kind


@pytest.fixture(scope="module")
def public_api(assistant, tmp_path_factory):
    """The schema of the app's public routes, read from the app itself; the rate limit is high enough that no
    429 hides an answer, and the turns go to a log of their own."""
    from msassistant.pipeline.assistant import Assistant

    settings = make_settings(tmp_path_factory.mktemp("fuzz"), rate_limit="100000/minute")
    bot = Assistant(settings, embeddings=assistant.embeddings, index=assistant.index,
                    logstore=LogStore(settings.db_url), llm=None)
    bot.suggestions.pool = assistant.follow_ups  # the suggested questions, already worked out
    app = create_app(settings, bot)
    with TestClient(app):  # the app's start-up, once
        yield schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/api/")
    bot.logstore.engine.dispose()


def test_the_schema_has_exactly_the_public_routes(public_api):
    labels = {result.ok().label for result in public_api.get_all_operations()}
    assert labels == set(OPERATIONS)


RUNS = [(label, mode) for label in OPERATIONS for mode in GenerationMode
        if mode is GenerationMode.POSITIVE or label != "GET /api/health"]  # health takes nothing to get wrong


@pytest.mark.parametrize("label, mode", RUNS, ids=[f"{label}-{mode.value}" for label, mode in RUNS])
def test_no_request_gets_a_server_error(public_api, label, mode):
    method, path = label.split(" ", 1)
    operation = public_api[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        SENT[label, mode.value] += 1
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    run()
    assert SENT[label, mode.value] > 0

