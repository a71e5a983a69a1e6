"""Extraction of model metrics from a log (metrics.extract): the edge cases of the message syntax and of the
context, and the default names list the migration creates."""

import math

import pytest

from metrics import extract
from metrics.models import MetricName

DEFAULTS = (
    "ROC-AUC",
    "F1",
    "Precision",
    "Recall",
    "Sensitivity",
    "Specificity",
    "Accuracy",
    "Loss",
    "AUC",
    "MAE",
    "RMSE",
)
KNOWN = {name.casefold(): name for name in DEFAULTS}


def of(message: str, **fields) -> dict[str, float]:
    return extract.extract({"message": message, **fields}, KNOWN)


def test_the_demo_message_yields_its_metric_and_not_the_user():
    assert of("Validated a new model, ligula. User: 4, Recall: 0.2773660126196892") == {"Recall": 0.2773660126196892}


def test_names_match_case_insensitively_and_are_stored_in_the_lists_spelling():
    assert of("roc-auc: 0.9, RECALL=0.5, f1 = 0.25, rmse :3") == {
        "ROC-AUC": 0.9,
        "Recall": 0.5,
        "F1": 0.25,
        "RMSE": 3.0,
    }


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Loss: 1.5e-3", 1.5e-3),
        ("Loss: 2E+2", 200.0),
        ("Loss: -0.75", -0.75),
        ("Loss=+3", 3.0),
        ("Loss: .5", 0.5),
        ("Loss: 7.", 7.0),
        ("loss: 0.3.", 0.3),  # a sentence's full stop
        ("Loss: 0.3, F1: x", 0.3),
    ],
)
def test_numbers_in_scientific_notation_signed_or_bare_are_read(message, expected):
    assert of(message)["Loss"] == expected


@pytest.mark.parametrize(
    "message",
    [
        "Loss: nan",
        "Loss: NaN",
        "Loss: inf",
        "Loss: -Infinity",
        "Loss: 1e999",  # overflows to infinity
        "Loss: 0,27",  # a decimal comma: 0 or 0.27? not guessed
        "Loss: 1.000,5",
        "Loss: 12ms",  # a unit
        "Loss: 95%",
        "Loss: 0x1f",
        "Loss: 1_000",
        "Loss:",
        "Loss: -",
        "val_loss=0.3",  # another name, not Loss
        "trainLoss: 0.3",
        "my-Loss: 0.3",
        "User: 4",  # not a listed name
        "Loss 0.3",  # no separator
    ],
)
def test_what_is_not_a_metric(message):
    assert of(message) == {}


def test_a_name_repeated_in_one_message_keeps_the_last_value():
    assert of("Recall: 0.1 after warmup, Recall: 0.2 at the end") == {"Recall": 0.2}


def test_context_metrics_give_every_numeric_leaf_nested_names_joined_by_a_slash():
    context = {
        "model": "bert",
        "metrics": {"loss": 0.5, "val": {"loss": 0.7, "note": "x"}, "ok": True, "epoch": 3, "list": [1, 2]},
        "step": 10,  # outside `metrics`: not a metric
    }
    assert of("no numbers here", context=context) == {"Loss": 0.5, "val/loss": 0.7, "epoch": 3.0}


def test_otlp_metric_attributes_and_context_override_the_message():
    # OTLP's `metric.recall` attribute is stored as context {"metric": {"recall": ...}} (retrieval.otlp).
    found = of("Recall: 0.1", context={"metric": {"recall": 0.9, "Latency": 12}})
    assert found == {"Recall": 0.9, "Latency": 12.0}


def test_no_user_text_is_a_pattern():
    # Characters that would mean something to a regular expression are plain text in names and messages.
    known = {"a.c": "a.c", "(x)": "(x)"}
    assert extract.extract({"message": "abc: 1, a.c: 2, (x): 3"}, known) == {}
    assert extract.extract({"message": "Recall: 0.5 .* [", "context": {"metrics": {"(x)": 1}}}, KNOWN) == {
        "Recall": 0.5,
        "(x)": 1.0,
    }


def test_a_log_holds_at_most_so_many_metrics():
    context = {"metrics": {f"m{i}": i for i in range(extract.MAX_METRICS_PER_LOG + 10)}}
    assert len(of("", context=context)) == extract.MAX_METRICS_PER_LOG


def test_the_model_is_context_model_else_the_logger():
    assert extract.model_of({"context": {"model": "bert"}, "logger": "trainer"}) == "bert"
    assert extract.model_of({"context": {"model": 3}, "logger": "trainer"}) == "trainer"
    assert extract.model_of({"logger": "trainer"}) == "trainer"
    assert extract.model_of({}) == ""


def test_every_value_is_finite():
    assert all(math.isfinite(v) for v in of("Loss: 1e308, MAE: -1e308, RMSE: 1e-400").values())


@pytest.mark.django_db
def test_the_default_names_are_the_issues_list_and_the_cache_sees_a_new_one_once_told(metric_names):
    assert set(MetricName.objects.values_list("name", flat=True)) == set(DEFAULTS)
    extract.names.forget()
    assert extract.names.get() == KNOWN
    MetricName.objects.create(name="BLEU")
    extract.names.forget()  # the admin does this on save; other processes within NAMES_TTL_SECONDS
    assert extract.names.get()["bleu"] == "BLEU"
    extract.names.forget()
