"""The search box's query syntax (`q=`): parsed once into terms, which every source translates.

    word            the message contains it (case-insensitive literal substring, as `keyword`)
    "exact phrase"  the message contains the phrase, spaces included (\\" is a quote inside it)
    logger:name     the logger is exactly `name` (case-sensitive); logger:"a name" for spaces
    level:error     the level is `error`
    model:bert      the log's model (`model_of`: `context.model` when it is a non-empty text, else the
                    logger; how metrics are grouped per model) is exactly `bert`
    user_id:4       the user id is 4
    context.k:v     the context's key `k` (dots go deeper: context.run.id:7) equals `v`, compared
                    as text, and also as a number when `v` is one (7 finds 7, 7.0 and "7")
    Recall<0.5      the log's metric (its `metrics` field, extracted at intake) compares so with the
                    number: operators <, <=, >, >=, = and != (the metric is there and differs); the
                    number is a finite decimal, signed or scientific (-2, .5, 1e-3); a log without
                    the metric never matches. The name is letters, digits, _, - and / (val/loss);
                    a name in the admin's list (metrics.extract) matches whatever its case
                    (recall<0.5 is Recall<0.5), any other as stored. Equality is exact on the
                    stored double: Recall=0.27 finds 0.27 and 0.270, not 0.2701.
    -term           any of the above negated: -word, -"a phrase", -logger:x, -context.k:v,
                    -Recall<0.5 (a log without Recall, or with Recall >= 0.5)

Terms are separated by spaces and all must hold; `AND` between two terms says so explicitly
(`level:error AND user_id:3`). Field names are case-sensitive. What other search syntaxes
mean as operators is refused rather than searched for as text (which would find nothing):
`OR`, `NOT`, a word opening or closing a group (`(recall`, `f1)`) and `*` in an unquoted
word or value (`Recal*`: words are already found inside longer words); quoted, they are text.
A bad query raises `QuerySyntaxError` with the 1-based character position of the fault:
an unclosed quote, an empty value or phrase, an operator above, an unknown field, a context key with
characters outside [A-Za-z0-9_-] or an empty key segment, an unknown level, a user id
that is not a whole number, or more than MAX_QUERY_LENGTH characters / MAX_TERMS terms; an
unquoted word holding <, > or = that is not a comparison (a metric name with other characters,
no name, no number, a number that is not one or not finite: `a.b<1`, `<br>`, `F1>high`, `x=1e999`).

Nothing typed here becomes a regex (text is escaped by each source), an operator (values
are plain equality operands; a comparison's operator is one of ours, its number a float)
or a field path outside `context.` and `metrics.` (the key and the name are checked).
Translations: `retrieval.query.LogQuery.mongo_filter` (hot), `archive.reader` (DuckDB SQL,
cold) and `matches` here (Python), kept together by tests/retrieval/test_query_syntax.py.

`parse` gives the terms as typed (what the filterset checks); `terms_of` gives them as sources use
them, a metric named by its canonical spelling. The spelling comes from whatever the metrics app
registered with `retrieval.hooks.register_metric_names` (the search core imports no app), asked
for every time, so a name added in the admin applies to remembered queries too.
"""

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from retrieval import hooks, textfold
from retrieval.models import Level

MAX_QUERY_LENGTH = 1000
MAX_TERMS = 30
MAX_USER_ID = 2**31 - 1
FIELDS = ("logger", "level", "user_id", "model", "context.<key>")
KEY_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# A value compared as a number too: plain decimal notation only (float() would also take "nan", "1_0", "inf").
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
MAX_INT64 = 2**63 - 1
METRICS_PREFIX = "metrics."
# Longest first: "<=" is one operator, not "<" before "=0.5".
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "=": operator.eq,
}
# Names as extraction stores them (nested context keys joined by "/"); no dot, so never a deeper path.
METRIC_NAME_CHAR = re.compile(r"[A-Za-z0-9_/-]")
MAX_METRIC_NAME_LENGTH = 100  # metrics.extract.MAX_NAME_LENGTH
# A comparison's number: what extraction reads as one (signed, .5, 1e-3); finiteness is checked apart.
METRIC_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")

# Operators of other search syntaxes that would otherwise be searched for as words, finding nothing.
UNSUPPORTED = {
    "OR": "“OR” is not supported: all terms must hold; search once per alternative "
    '(several user ids or levels go in user_id= and level=), or write "OR" to find the word',
    "NOT": '“NOT” is not supported: write -term to leave logs out, or "NOT" to find the word',
}


class QuerySyntaxError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position})")
        self.position = position


@dataclass(frozen=True)
class Term:
    """One condition. `field` is "message" for text, else "logger", "level", "user_id", "model", "context.<key>", or
    "metrics.<name>" for a comparison (`op` one of COMPARISONS, `value` the number as typed)."""

    field: str
    value: str
    negated: bool = False
    op: str = ""

    @property
    def metric(self) -> str:
        """The metric a comparison is about ("metrics.Recall" -> "Recall"); "" for other terms."""
        return self.field[len(METRICS_PREFIX) :] if self.op else ""

    @property
    def threshold(self) -> float:
        """A comparison's number (checked finite by the parser)."""
        return float(self.value)

    @property
    def context_keys(self) -> tuple[str, ...]:
        """The path below `context` ("context.run.id" -> ("run", "id")); () for other fields."""
        return tuple(self.field.split(".")[1:]) if self.field.startswith("context.") else ()

    @property
    def number(self) -> int | float | None:
        """The value as a number, when it is written as one (context terms compare both ways)."""
        if not NUMBER.fullmatch(self.value):
            return None
        if "." in self.value or "e" in self.value.lower():
            return float(self.value)
        number = int(self.value)
        return number if abs(number) <= MAX_INT64 else float(number)

    def typed_values(self) -> list[object]:
        """The values a field equals: the text, plus its number for context keys; an int for user_id."""
        if self.field == "user_id":
            return [int(self.value)]
        number = self.number if self.context_keys else None
        return [self.value] if number is None else [self.value, number]


def terms_of(text: str) -> tuple[Term, ...]:
    """The terms of a checked query as sources use them: `parse`'s (remembered: every source of every page
    asks), a metric under its canonical name when the registered names know it, else as typed."""
    parsed = _parse_cached(text)
    if not any(term.op for term in parsed):
        return parsed
    known = hooks.metric_names()
    return tuple(
        replace(term, field=METRICS_PREFIX + known.get(term.metric.casefold(), term.metric)) if term.op else term
        for term in parsed
    )


def parse(text: str) -> tuple[Term, ...]:
    """The terms of a query, in the order written; QuerySyntaxError when it is not valid."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"A query may hold at most {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH + 1)
    terms: list[Term] = []
    at = 0
    joined_at: int | None = None  # the position of an AND waiting for the term after it
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            if joined_at is not None:
                raise QuerySyntaxError("“AND” needs a term after it", joined_at + 1)
            return tuple(terms)
        word = text[at:].split(maxsplit=1)[0]
        if word == "AND":
            if not terms or joined_at is not None:
                raise QuerySyntaxError("“AND” needs a term before it", at + 1)
            joined_at, at = at, at + len(word)
            continue
        if word in UNSUPPORTED:
            raise QuerySyntaxError(UNSUPPORTED[word], at + 1)
        if len(terms) == MAX_TERMS:
            raise QuerySyntaxError(f"A query may hold at most {MAX_TERMS} terms", at + 1)
        term, at = _term(text, at)
        terms.append(term)
        joined_at = None


_parse_cached = lru_cache(maxsize=256)(parse)


def _unquoted(word: str, at: int) -> str:
    """An unquoted word or field value, refused when it is meant as grouping or a wildcard rather than text."""
    if word.startswith("(") and ")" not in word or word.endswith(")") and "(" not in word:
        raise QuerySyntaxError(
            f"“{word[:50]}”: parentheses do not group terms (all terms must hold); put text with a lone "
            "parenthesis in quotes",
            at + 1,
        )
    if "*" in word:
        raise QuerySyntaxError(
            f"“{word[:50]}”: * is not a wildcard; a word is already found inside longer words (recal finds "
            "Recall); put text with a * in quotes",
            at + word.index("*") + 1,
        )
    return word


def _term(text: str, at: int) -> tuple[Term, int]:
    start = at
    negated = text[at] == "-"
    if negated:
        at += 1
        if at == len(text) or text[at].isspace():
            raise QuerySyntaxError("Nothing after “-”: write -word to leave a word out", start + 1)
    if text[at] == '"':
        phrase, at = _phrase(text, at)
        return Term("message", phrase, negated), at
    name_end = at
    while name_end < len(text) and not text[name_end].isspace() and text[name_end] != ":":
        if op := _comparison_operator(text, name_end):
            return _comparison(text, at, name_end, op, negated)
        name_end += 1
    if name_end == len(text) or text[name_end] != ":":
        word_end = _word_end(text, at)
        return Term("message", _unquoted(text[at:word_end], at), negated), word_end
    name = text[at:name_end]
    value_at = name_end + 1
    _check_field(name, at)
    if value_at < len(text) and text[value_at] == '"':
        value, end = _phrase(text, value_at)
    else:
        end = _word_end(text, value_at)
        value = _unquoted(text[value_at:end], value_at)
    if not value:
        raise QuerySyntaxError(f"No value after “{name}:”", value_at + 1)
    term = Term(name, value, negated)
    _check_value(term, value_at)
    return term, end


def _comparison_operator(text: str, at: int) -> str | None:
    return next((op for op in COMPARISONS if text.startswith(op, at)), None)


def _comparison(text: str, at: int, name_end: int, op: str, negated: bool) -> tuple[Term, int]:
    """The comparison `name<op>number` whose name spans [at, name_end), and the position after it."""
    name = text[at:name_end]
    hint = f"put text holding {op} in quotes"
    if not name:
        raise QuerySyntaxError(f"A metric name is missing before “{op}” (as in Recall{op}0.5); {hint}", at + 1)
    bad = next((i for i, char in enumerate(name) if not METRIC_NAME_CHAR.fullmatch(char)), None)
    if bad is not None:
        raise QuerySyntaxError(
            f"A metric name is letters, digits, _, - and / (comparisons are on metrics: Recall{op}0.5); {hint}",
            at + bad + 1,
        )
    if len(name) > MAX_METRIC_NAME_LENGTH:
        raise QuerySyntaxError(f"A metric name has at most {MAX_METRIC_NAME_LENGTH} characters", at + 1)
    value_at = name_end + len(op)
    end = _word_end(text, value_at)
    value = text[value_at:end]
    if not value:
        raise QuerySyntaxError(f"No number after “{name[:50]}{op}”", value_at + 1)
    if not METRIC_NUMBER.fullmatch(value):
        raise QuerySyntaxError(
            f"“{value[:50]}” is not a number: a comparison takes a decimal number such as 0.5, -2 or 1e-3; {hint}",
            value_at + 1,
        )
    if not math.isfinite(float(value)):
        raise QuerySyntaxError(f"“{value[:50]}” is too large a number", value_at + 1)
    return Term(METRICS_PREFIX + name, value, negated, op), end


def _word_end(text: str, at: int) -> int:
    end = at
    while end < len(text) and not text[end].isspace():
        if text[end] == '"':
            raise QuerySyntaxError("A quote inside a word: put the whole phrase in quotes", end + 1)
        end += 1
    return end


def _phrase(text: str, at: int) -> tuple[str, int]:
    """The phrase starting with the quote at `at` and the position after its closing quote."""
    chars: list[str] = []
    end = at + 1
    while end < len(text):
        char = text[end]
        if char == "\\" and end + 1 < len(text) and text[end + 1] in '"\\':
            chars.append(text[end + 1])
            end += 2
            continue
        if char == '"':
            if not chars:
                raise QuerySyntaxError("Empty phrase", at + 1)
            if end + 1 < len(text) and not text[end + 1].isspace():
                raise QuerySyntaxError("Put a space after a closing quote", end + 2)
            return "".join(chars), end + 1
        chars.append(char)
        end += 1
    raise QuerySyntaxError("Unclosed quote", at + 1)


def _check_field(name: str, at: int) -> None:
    if not name:
        raise QuerySyntaxError("A field name is missing before “:”", at + 1)
    if name in ("logger", "level", "user_id", "model"):
        return
    if name.startswith("context."):
        offset = at + len("context.")
        for segment in name[len("context.") :].split("."):
            bad = next((i for i, char in enumerate(segment) if not KEY_SEGMENT.fullmatch(char)), None)
            if not segment or bad is not None:
                position = offset + (bad or 0) + 1
                raise QuerySyntaxError(
                    "A context key is letters, digits, _ and -, its parts separated by single dots", position
                )
            offset += len(segment) + 1
        return
    raise QuerySyntaxError(
        f"Unknown field “{name[:50]}”: the fields are {', '.join(FIELDS)}; put text holding a colon in quotes",
        at + 1,
    )


def _check_value(term: Term, at: int) -> None:
    if term.field == "level" and term.value not in Level.values:
        raise QuerySyntaxError(f"Unknown level “{term.value[:50]}”: one of {', '.join(Level.values)}", at + 1)
    if term.field == "user_id" and not (re.fullmatch(r"[0-9]{1,10}", term.value) and int(term.value) <= MAX_USER_ID):
        raise QuerySyntaxError(f"A user id is a whole number from 0 to {MAX_USER_ID}", at + 1)


def matches(terms: tuple[Term, ...], document: Mapping) -> bool:
    """Does a log document satisfy every term? The meaning of the MongoDB filter, in Python."""
    return all(_holds(term, document) != term.negated for term in terms)


def _holds(term: Term, document: Mapping) -> bool:
    if term.field == "message":
        return textfold.contains(document["message"], term.value)
    if term.op:
        metrics = document.get("metrics")
        number = metrics.get(term.metric) if isinstance(metrics, Mapping) else None
        # A number only (MongoDB compares numbers with numbers); bool is an int in Python, not in MongoDB.
        return (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and COMPARISONS[term.op](number, term.threshold)
        )
    if term.context_keys:
        value: object = document.get("context")
        for key in term.context_keys:
            if not isinstance(value, Mapping) or key not in value:
                return False
            value = value[key]
        candidates = value if isinstance(value, list) else [value]
        wanted = term.typed_values()
        # bool is an int in Python, never equal to a number or text in MongoDB.
        return any(not isinstance(v, bool) and type(v) in (str, int, float) and v in wanted for v in candidates)
    if term.field == "model":
        return model_of(document) == term.value
    stored = document.get(term.field, "" if term.field == "logger" else None)
    return stored in term.typed_values()


def model_of(document: Mapping) -> str:
    """A log's model: `context.model` if it is a non-empty text, else its logger, else ""."""
    context = document.get("context")
    model = context.get("model") if isinstance(context, Mapping) else None
    if not isinstance(model, str) or not model:
        model = document.get("logger") or ""
    return str(model)
