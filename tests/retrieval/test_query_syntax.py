"""The query syntax (`q=`): parsed with positions, and the same rows hot (MongoDB), cold (DuckDB) and in Python."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict
from django.utils.http import urlencode

from access.scope import EVERY
from archive.source import ColdSource
from metrics import extract
from retrieval import hotstore
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery
from retrieval.querysyntax import QuerySyntaxError, Term, parse, terms_of
from retrieval.sources import HotSource
from tests.cold_archive import log, write_parts

DAY = datetime(2023, 8, 27, tzinfo=UTC)
USERS = 200  # real shape: hundreds of user ids, one part per user and level
LEVELS = ("debug", "info", "warning", "error", "critical")
MESSAGES = [
    "Trained a model (v2), Recall: 0.{n}",
    "Evaluation timed out after {n} s",
    "STRASSE closed {n}",
    "Straße open {n}",
    "price $5.00 [x] \\d+ {n}",
    "checkpoint saved {n}",
]
CONTEXTS = [
    None,
    {"run": 7, "model": "m"},
    {"run": "7", "model": "m2"},
    {"run": 7.0, "nested": {"epoch": 3, "tag-name": "a b"}},
    {"run": 8, "tags": ["x", 7], "score": 0.5},
    {"model": "m", "flag": True},
    # Metrics a sender puts in the context (any case; nested keys joined by "/"), winning over the message's.
    {"metrics": {"recall": 0.25, "F1": -1.5e-3, "val": {"loss": 2}, "ok": True}},
    {"metrics": {"Recall": 0.75, "f1": 1e-3}, "run": 7},
    # Not a model: the logger is (model:).
    {"model": "", "run": 9},
    {"model": 5},
    {"model": {"name": "m"}},
]


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    rng = random.Random(12)
    made = []
    for n in range(1200):
        user = n % USERS
        extra: dict = {}
        if n % 7:
            extra["logger"] = ("demo.trainer", "demo.eval", "a b")[n % 3]
        if context := CONTEXTS[(n // 2) % len(CONTEXTS)]:  # not in step with MESSAGES
            extra["context"] = context
        made.append(
            log(
                DAY + timedelta(seconds=rng.randrange(0, 86_400)),
                user_id=user,
                level=LEVELS[user % 5],  # one part per user
                message=MESSAGES[n % len(MESSAGES)].format(n=n),
                **extra,
            )
        )
    return made


@pytest.fixture
def hot_and_cold(logs_db, empty_archive, empty_cold_cache, metric_names, documents):
    """The same logs in MongoDB and in purged archive parts: each source alone holds all of them, with the
    metrics intake extracts (the hot insert extracts them itself; the archiver keeps them in the lines)."""
    known = extract.names.get()
    for document in documents:
        if metrics := extract.extract(document, known):
            document["metrics"] = metrics
    hotstore.insert([dict(d) for d in documents])
    write_parts(documents, purged=True)
    return documents


def query(q: str) -> LogQuery:
    filterset = LogFilterSet(QueryDict(urlencode({"date": "2023-08-27", "q": q})), scope=EVERY)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


QUERIES = [
    "RECALL model",
    '"timed out after"',
    "-recall",
    '-"timed out"',
    "strasse -straße",
    '"$5.00 [x] \\\\d+"',
    "logger:demo.trainer",
    "-logger:demo.eval",
    'logger:"a b"',
    "level:error",
    "-user_id:17 -level:error -level:debug",
    "user_id:17",
    "context.run:7",
    "-context.run:7",
    "context.model:m",
    "-context.model:m",
    "context.nested.epoch:3",
    'context.nested.tag-name:"a b"',
    "context.score:0.5",
    "context.tags:7",
    "context.flag:true",
    "context.missing:1",
    'checkpoint -level:critical context.model:m logger:"a b"',
    "level:error AND user_id:18",
    'model AND -level:critical AND "(v2)"',
    '"Recall*" -"OR"',  # quoted, operators and wildcards are text
    "Recall<0.5",
    "-Recall<0.5",  # no Recall, or Recall >= 0.5
    # Each comparison at a value logs have (context.metrics' "recall", stored as the admin list's "Recall").
    "Recall<0.25",
    "RECALL<=0.25",
    "Recall=0.25",
    "recall>=0.25",
    "Recall>0.25",
    "Recall!=0.25",
    "-recall!=0.25",
    "F1=-1.5e-3",
    "f1>-.0001",
    "F1<+1E-2",
    "val/loss>1.5",
    "Recall>0.1 level:error -context.run:7",
    # The log's model: context.model when it is a non-empty text, else the logger (metrics' grouping).
    "model:m",
    "-model:m",
    "model:demo.trainer",
    'model:"a b" -level:error',
    "-model:demo.eval",
    "Precision>0",  # a listed metric no log has
    "ok>0",  # a boolean is not a number
]
NOTHING = ("context.flag:true", "context.missing:1", '"Recall*" -"OR"', "Precision>0", "ok>0")


# The histogram counts too, for a few (each query costs a read of every part).
COUNTED = (
    "-recall",
    "-logger:demo.eval",
    "context.run:7",
    'checkpoint -level:critical context.model:m logger:"a b"',
    "-Recall<0.5",
    "model:demo.trainer",
)


@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
def test_each_syntax_element_finds_the_same_logs_hot_cold_and_in_python(hot_and_cold):
    hot, cold = HotSource(), ColdSource()
    everything = {str(d["_id"]) for d in hot_and_cold}
    found = {}
    for q in QUERIES:
        search = query(q)
        expected = found[q] = {str(d["_id"]) for d in hot_and_cold if search.matches(d)}
        hot_ids = {row.id for row in hot.fetch(search, None, 5000)}
        cold_ids = {row.id for row in cold.fetch(search, None, 5000)}
        assert hot_ids == expected, q
        assert cold_ids == expected, q
        if q not in NOTHING:  # no log has these
            assert expected and expected != everything, q
        else:
            assert not expected, q
        if q in COUNTED:
            assert sum(hot.volume(search).values()) == sum(cold.volume(search).values()) == len(expected), q
    # The boundaries, and what "no such metric" means for each side of a negation.
    below, equal, above = found["Recall<0.25"], found["Recall=0.25"], found["Recall>0.25"]
    with_recall = {str(d["_id"]) for d in hot_and_cold if "Recall" in d.get("metrics", {})}
    assert below | equal | above == with_recall != everything and not below & equal
    assert found["RECALL<=0.25"] == below | equal and found["recall>=0.25"] == above | equal
    assert found["Recall!=0.25"] == below | above and found["-recall!=0.25"] == everything - below - above
    assert found["-Recall<0.5"] == everything - found["Recall<0.5"]
    # A model from the logger only where the context names none: never a log whose context says "m".
    assert not found["model:demo.trainer"] & found["model:m"]
    assert found["-model:m"] == everything - found["model:m"]
    from_logger = {
        str(d["_id"])
        for d in hot_and_cold
        if d.get("logger") == "demo.trainer" and not isinstance((d.get("context") or {}).get("model"), str)
    }
    assert from_logger and from_logger <= found["model:demo.trainer"]
    assert len(equal) == sum(1 for d in hot_and_cold if d.get("context", {}).get("metrics", {}).get("recall") == 0.25)


@pytest.mark.django_db
def test_metric_names_compare_under_the_admin_lists_spelling_and_others_as_typed(metric_names):
    assert parse("recall<0.5 -F1>=1e-3 myScore!=2") == (
        Term("metrics.recall", "0.5", op="<"),
        Term("metrics.F1", "1e-3", negated=True, op=">="),
        Term("metrics.myScore", "2", op="!="),
    )
    assert terms_of("recall<0.5 -f1>=1e-3 myScore!=2 roc-auc=.5 recall") == (
        Term("metrics.Recall", "0.5", op="<"),
        Term("metrics.F1", "1e-3", negated=True, op=">="),
        Term("metrics.myScore", "2", op="!="),
        Term("metrics.ROC-AUC", ".5", op="="),
        Term("message", "recall"),
    )
    assert [term.threshold for term in terms_of("a<-2 b<=+2.5e2 c>.5 d>=7. e=-0")] == [-2.0, 250.0, 0.5, 7.0, -0.0]
    assert query("RECALL<0.5").mongo_filter()["$and"] == [{"metrics.Recall": {"$lt": 0.5}}]
    assert query("-Recall>=1e-3 val/loss!=2").mongo_filter()["$and"] == [
        {"$nor": [{"metrics.Recall": {"$gte": 0.001}}]},
        {"$or": [{"metrics.val/loss": {"$lt": 2.0}}, {"metrics.val/loss": {"$gt": 2.0}}]},
    ]
    # Words with other punctuation stay words.
    assert parse("done! a-b x/y") == (Term("message", "done!"), Term("message", "a-b"), Term("message", "x/y"))


def test_context_values_compare_as_text_and_as_numbers():
    seven = parse("context.run:7")[0]
    assert seven.typed_values() == ["7", 7]
    assert parse("context.run:7.0")[0].typed_values() == ["7.0", 7.0]
    assert parse("context.run:nan")[0].typed_values() == ["nan"]  # float() would read it; the syntax does not
    filter_ = query("context.run:7").mongo_filter()["$and"]
    assert filter_ == [{"context.run": {"$in": ["7", 7]}}]
    assert query("-logger:x").mongo_filter()["$and"] == [{"$nor": [{"logger": "x"}]}]


def test_terms_are_parsed_in_order_with_negation_and_quotes():
    assert parse('model -"timed out" -logger:a.b context.x-y.z:"q \\" r" user_id:4') == (
        Term("message", "model"),
        Term("message", "timed out", negated=True),
        Term("logger", "a.b", negated=True),
        Term("context.x-y.z", 'q " r'),
        Term("user_id", "4"),
    )
    assert parse("   ") == ()
    assert parse("level:error AND user_id:3") == parse("level:error user_id:3")
    assert parse('"OR" -and "a*" (v2)') == (
        Term("message", "OR"),
        Term("message", "and", negated=True),
        Term("message", "a*"),
        Term("message", "(v2)"),
    )


@pytest.mark.parametrize(
    ("q", "position", "words"),
    [
        ('recall "timed out', 8, "Unclosed quote"),
        ("logger:", 8, "No value"),
        ("-", 1, "Nothing after"),
        ("host:db1", 1, "Unknown field"),
        ("context.a$b:1", 10, "context key"),
        ("context..a:1", 9, "context key"),
        ("context.:1", 9, "context key"),
        ("level:fatal", 7, "Unknown level"),
        ("user_id:-4", 9, "user id"),
        ('ab"c', 3, "quote inside a word"),
        ('""', 1, "Empty phrase"),
        ("x" * 1001, 1001, "at most"),
        ("Recall OR F1", 8, "“OR” is not supported"),
        ("NOT debug", 1, "“NOT” is not supported"),
        ("Recal*", 6, "not a wildcard"),
        ("logger:demo.*", 13, "not a wildcard"),
        ("(Recall F1)", 1, "parentheses do not group"),
        ("-recall f1)", 9, "parentheses do not group"),
        ("AND level:error", 1, "“AND” needs a term before it"),
        ("level:error AND", 13, "“AND” needs a term after it"),
        ("level:error AND AND user_id:3", 17, "“AND” needs a term before it"),
        ("Recall<", 8, "No number after “Recall<”"),
        ("-Recall>=", 10, "No number after “Recall>=”"),
        ("F1>high", 4, "“high” is not a number"),
        ("Recall==0.5", 8, "“=0.5” is not a number"),
        ("Recall<0.5.1", 8, "“0.5.1” is not a number"),
        ("Recall<nan", 8, "“nan” is not a number"),
        ("Recall<inf", 8, "“inf” is not a number"),
        ("Recall<1_0", 8, "“1_0” is not a number"),
        ("Recall<0,5", 8, "“0,5” is not a number"),
        ("Recall>1e999", 8, "too large"),
        ("level:error <br>", 13, "A metric name is missing before “<”"),
        ("-=1", 2, "A metric name is missing"),
        ("context.run>3", 8, "A metric name is letters, digits"),
        ("Recall$gt<1", 7, "A metric name is letters, digits"),
        ("Récall<1", 2, "A metric name is letters, digits"),
        ("x" * 101 + "<1", 1, "at most 100 characters"),
        ('Recall<"0.5"', 8, "quote inside a word"),
    ],
)
def test_bad_syntax_names_the_position(q, position, words):
    with pytest.raises(QuerySyntaxError) as raised:
        parse(q)
    assert raised.value.position == position and words in str(raised.value)
    filterset = LogFilterSet(QueryDict(urlencode({"q": q})), scope=EVERY)
    assert not filterset.is_valid()
    assert f"(at character {position})" in filterset.form.errors["q"][0]


@pytest.mark.django_db(databases=["default", "logs"])
def test_the_api_answers_bad_syntax_with_a_400_naming_q_and_the_position(api, logs_db):
    response = api.get("/api/v1/logs", {"q": 'level:error "unclosed'})
    assert response.status_code == 400
    assert response.json() == {"q": ["Unclosed quote (at character 13)"]}
    assert api.get("/api/v1/logs", {"q": "level:error -recall"}).status_code == 200
    for q, error in (
        ("Recall OR F1", "“OR” is not supported"),
        ("Recal*", "“Recal*”: * is not a wildcard"),
        ("level:error AND user_id:3", None),
    ):
        response = api.get("/api/v1/logs", {"q": q})
        if error is None:
            assert response.status_code == 200, response.content
        else:
            assert response.status_code == 400 and list(response.json()) == ["q"]
            assert response.json()["q"][0].startswith(error)
