"""The issue's list of bad search input: each front door must answer it with an error naming the field."""

BAD_SEARCH_INPUT = [
    ({"date": "2023-02-30"}, "date"),
    ({"date": "27-08-2023"}, "date"),
    ({"level": "fatal"}, "level"),
    ({"user_id": "abc"}, "user_id"),
    ({"user_id[$ne]": "1"}, "user_id[$ne]"),
    ({"keyword[$regex]": ".*"}, "keyword[$regex]"),
    ({"keyword": "k" * 10_000}, "keyword"),
    ({"from": "2023-08-28", "to": "2023-08-27"}, "to"),
    ({"from": "2023-01-01", "to": "2023-08-27"}, "from"),
    ({"page_size": "100000"}, "page_size"),
    ({"cursor": "eyJmb3JnZWQiOnRydWV9:1:abc"}, "cursor"),
    ({"cursor": "forged"}, "cursor"),
    # Out of datetime's range once converted to UTC (year 0 and year 10000): OverflowError before.
    ({"from": "0001-01-01T00:00:00+23:59", "to": "0001-01-01T10:00:00+23:59"}, "from"),
    ({"from": "0001-01-01T00:00:00+23:59", "to": "0001-01-01T10:00:00+23:59"}, "to"),
    ({"to": "9999-12-31T23:59:59-23:59"}, "to"),
    ({"from": "9999-12-31T23:00:00Z"}, "from"),
    ({"to": "0001-01-01T00:00:00Z"}, "to"),
    ({"date": "9999-12-31"}, "date"),
    ({"date": "0001-01-01"}, "date"),
    ({"from": "9998-12-31T00:00:00Z", "to": "9999-01-01T00:00:01Z"}, "to"),
    # A metric comparison: the name never a path or an operator, the number finite.
    ({"q": "Recall$gt<1"}, "q"),
    ({"q": "metrics.Recall>0"}, "q"),
    ({"q": "Recall<1e999"}, "q"),
]
