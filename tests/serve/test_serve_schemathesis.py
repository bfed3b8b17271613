"""Schemathesis against /openapi.json of a real server: generated input, valid
and not, never answers 5xx, and the answers match the description."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from fansi.backends.fake import FakeBackend
from fansi.serve.service import Limits
from serve.serving import Live

from scripted_model import Model

pytestmark = pytest.mark.server

#: Generated cases per operation and generation mode.
EXAMPLES = 25


def test_generated_requests_never_get_a_server_error(serve: Callable[..., Live]) -> None:
    live = serve(backend=FakeBackend(Model()), limits=Limits(queue=16))
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=live.url, timeout=30)
                statuses[response.status_code] += 1
                case.validate_response(response, checks=[not_a_server_error,
                                                         content_type_conformance,
                                                         response_schema_conformance])

            try:
                check()
            except Unsatisfiable:
                # An operation without parameters has no invalid input to make.
                assert mode is GenerationMode.NEGATIVE
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert sum(statuses.values()) >= len(operations) * EXAMPLES
    assert not [s for s in statuses if s >= 500]
