"""The OpenAPI schema at /api/schema/ is the API's contract: schemathesis sends what it allows and what
it forbids to the live server, on every operation, and each answer must match what the schema says."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from retrieval.filters import OUT_OF_RANGE
from retrieval.timeexpr import TIME_FORMATS
from tests.access_support import token_of, user_granted

pytestmark = pytest.mark.django_db(databases=["default", "logs"], transaction=True)

DAY = datetime(2023, 8, 27, tzinfo=UTC)
SEED_ROUTE = "/logs/date/{day}/user/{user_id}/level/{level}"
LOG_ROUTE = "/api/v1/logs/{id}"

# What the schema cannot express, documented in it instead: a request it allows may get a 400
# only when every error named is one of these (field, message) rules.
DOCUMENTED_RULES = [
    (r"date", re.escape("Give a day or a from/to range, not both.")),
    (r"date", re.escape("Enter a valid date.")),  # the pattern takes 2023-02-31
    (r"from|to", re.escape(TIME_FORMATS)),
    (r"q", r".+ \(at character \d+\)"),
    (r"after", re.escape("This tail cursor is not valid.")),
    (r"date|from|to", r"A live tail shows logs as they arrive: this range ended at .* UTC\. .*"),
    (r"date|from|to", re.escape(OUT_OF_RANGE)),
    (r"to", re.escape("“to” must be after “from”.")),
    (r"date|from|to", r"The time range may span at most \d+ days\."),
    (r"step", r"At most \d+ points per series: a longer step for this range\."),
    (r"level", r"None of the chosen levels is “\w+” or more severe\."),
    (r"cursor", r"This cursor is not valid\.|This cursor belongs to the other sort order\."),
    # Alert rules (POST /api/v1/alerts/rules): what each kind needs, and what Django's validators refuse.
    (r"metric", r"A threshold or drop rule needs a metric\.|An errors rule counts logs: no metric\."),
    (r"model", re.escape("The error counters know users, not models: no model.")),
    (r"threshold", r"A drop is a percent above 0, at most 100\.|A count of logs is 0 or more\."),
    (r"webhook_url", r"An http:// or https:// address\.|Enter a valid URL\."),
    (r"email", re.escape("Enter a valid email address.")),
    (r"name|metric|model|email|webhook_url", re.escape("Null characters are not allowed.")),
    (r"logs\[\d+\]\.timestamp", re.escape("Out of range: before 2000 or more than a day in the future.")),
    (r"logs\[\d+\]\.id", re.escape("The same id appears twice in this batch.")),
    # Strings MongoDB on FerretDB refuses, and the documented length of context lists.
    (r"logs\[\d+\]\.(message|logger|context)", re.escape("May not contain NUL characters (\\u0000).")),
    (r"logs\[\d+\]\.context", r"A list of more than \d+ items\."),
    (
        r"logs\[\d+\]\.context",
        r"Key .* is not allowed: keys may not be empty, start with \$ or contain dots( or NUL)?\.|"
        r"Nested deeper than \d+ levels\.|More than \d+ keys\.|The integer -?\d+ does not fit in 64 bits\.",
    ),
]


def names_only_documented_rules(errors: object) -> bool:
    return (
        isinstance(errors, dict)
        and bool(errors)
        and all(
            isinstance(messages, list)
            and all(
                any(re.fullmatch(field, name) and re.fullmatch(rule, message) for field, rule in DOCUMENTED_RULES)
                for message in messages
            )
            for name, messages in errors.items()
        )
    )


def positive_data_accepted_unless_a_documented_rule(ctx: CheckContext, response: Response, case: Case) -> None:
    """schemathesis's positive_data_acceptance, except for a 400 that names only documented rules and the
    seed route's 404 when no log matches."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code in (200, 201):
        return
    body = response.json() if response.headers.get("content-type") == ["application/json"] else None
    if response.status_code == 400 and names_only_documented_rules(body):
        return
    if case.operation.path == SEED_ROUTE and response.status_code == 404 and body == {"detail": "No logs found."}:
        return
    if case.operation.path.startswith(LOG_ROUTE) and response.status_code == 404:  # an id no log has
        return
    raise AssertionError(f"A request the schema allows was refused: {response.status_code} {response.text[:2000]}")


@pytest.fixture
def token(db) -> str:
    return token_of(user_granted("schema"))


@pytest.fixture
def seeded_logs(logs_db, make_log) -> None:
    # What the examples ask for (2023-08-27, user 4, error), so that searches and the seed route find rows.
    for minute in range(3):
        make_log(timestamp=DAY + timedelta(minutes=minute), user_id=4, level="error", message=f"Recall {minute}")
    make_log(timestamp=datetime.now(UTC) - timedelta(hours=1), user_id=4, level="info", context={"run": "r1"})


def served_schema() -> dict:
    """What /api/schema/?format=json serves (test_the_live_server_serves_this_schema checks it). Built at
    collection, as `schema.parametrize()` needs it then; schemathesis's `from_fixture`, which could load it from
    the live server, fails on pytest 9 (it sets `Function._nodeid`)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(
    served_schema(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": 60, "deterministic": True},
            # Schemathesis's refusals, and 413: more records than a batch may hold (maxItems) is Content Too Large.
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
                }
            },
        }
    ),
)


@pytest.fixture
def live_api(live_server, token: str, seeded_logs: None) -> dict:
    return {"base_url": live_server.url, "headers": {"Authorization": f"Token {token}"}}


@schema.parametrize()
@settings(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_the_schema_says(case: Case, live_api: dict) -> None:
    case.call_and_validate(
        **live_api,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[positive_data_accepted_unless_a_documented_rule],
    )


def test_the_live_server_serves_this_schema(live_server, token: str) -> None:
    response = requests.get(
        f"{live_server.url}/api/schema/", {"format": "json"}, headers={"Authorization": f"Token {token}"}, timeout=30
    )
    assert response.json() == served_schema()


def test_the_schema_states_the_contract(api) -> None:
    schema = api.get("/api/schema/", {"format": "json"}).json()
    logs = schema["paths"]["/api/v1/logs"]
    body = logs["post"]["requestBody"]
    assert body["required"] is True
    batch = schema["components"]["schemas"]["LogBatch"]
    assert batch["required"] == ["logs"]
    assert (batch["properties"]["logs"]["minItems"], batch["properties"]["logs"]["maxItems"]) == (1, 10_000)
    record = schema["components"]["schemas"]["LogRecord"]
    assert set(record["required"]) == {"timestamp", "user_id", "level", "message"}
    assert record["additionalProperties"] is False

    search = {p["name"]: p for p in logs["get"]["parameters"]}
    assert search["date"]["schema"]["type"] == "string" and "yesterday" in search["date"]["schema"]["pattern"]
    assert search["user_id"]["schema"]["items"]["maximum"] == 2**31 - 1
    assert (search["user_id"]["style"], search["user_id"]["explode"]) == ("form", True)
    assert search["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}

    seed = {p["name"]: p for p in schema["paths"][SEED_ROUTE]["get"]["parameters"]}
    assert seed["day"]["schema"]["format"] == "date" and seed["day"]["schema"]["pattern"].startswith("^(19[7-9]")
    assert seed["user_id"]["schema"]["type"] == "integer"
    assert set(seed["level"]["schema"]["enum"]) == {"debug", "info", "warning", "error", "critical"}
    assert "404" in schema["paths"][SEED_ROUTE]["get"]["responses"]


def test_the_search_with_every_example_swagger_fills_in_is_a_valid_request(api) -> None:
    schema = api.get("/api/schema/", {"format": "json"}).json()
    filled = {}
    for parameter in schema["paths"]["/api/v1/logs"]["get"]["parameters"]:
        if examples := parameter.get("examples"):  # Swagger UI's "Try it out" fills in the first one
            filled[parameter["name"]] = next(iter(examples.values()))["value"]
    assert {"from", "to", "user_id"} <= set(filled) and "date" not in filled
    answer = api.get("/api/v1/logs", filled)
    assert answer.status_code == 200, answer.content
