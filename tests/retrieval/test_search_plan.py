"""How the server runs a user + day + level search: a real assertion on each server.

- MongoDB: the winning plan walks the `user_level_time` index.
- FerretDB 1.24, PostgreSQL handler (the local default): the user and level equalities
  are pushed down into the SQL query (`filterPushdown`), where the app's GIN index serves
  them (a Bitmap Index Scan), with the bucket walk's `hour` equality too; an `$in` would not be.
- FerretDB 1.24, SQLite handler (FERRETDB_HANDLER=sqlite): nothing is pushed down but
  `_id` (docs/ferretdb.md); the plan is a full SCAN of the collection's table.
"""

import os
from datetime import UTC, datetime, timedelta

from django.http import QueryDict
from pymongo.collection import Collection

from access.scope import EVERY
from devservices import pytest_plugin
from retrieval import hotstore
from retrieval.buckets import hour_of
from retrieval.filters import LogFilterSet
from retrieval.query import ALL_LEVELS
from retrieval.sources import ROW_FIELDS

DAY = datetime(2023, 8, 27, tzinfo=UTC)


def indexes_used(plan: object) -> set[str]:
    """Every indexName in a MongoDB winning plan (classic inputStage(s), or SBE's queryPlan)."""
    if isinstance(plan, dict):
        found = {plan["indexName"]} if "indexName" in plan else set()
        for value in plan.values():
            found |= indexes_used(value)
        return found
    if isinstance(plan, list):
        return set().union(*(indexes_used(item) for item in plan)) if plan else set()
    return set()


def sql_filters(plan: dict) -> list[str]:
    """The conditions PostgreSQL applies: each node's `Filter` (a big table's is under Gather's Parallel Seq
    Scan), or the `Index Cond` of the Bitmap Index Scan on the GIN index (logsite.mongodb.ferretdb)."""
    found = [plan[key] for key in ("Filter", "Index Cond") if key in plan]
    for child in plan.get("Plans", []):
        found += sql_filters(child)
    return found


def node_types(plan: dict) -> list[str]:
    return [plan["Node Type"], *(kind for child in plan.get("Plans", []) for kind in node_types(child))]


def test_a_user_day_level_search_uses_the_servers_own_filter_or_index(logs_db: Collection) -> None:
    hotstore.insert(
        [
            {
                "timestamp": DAY + timedelta(minutes=i),
                "user_id": 1 + i % 7,
                "level": ALL_LEVELS[i % 5],
                "message": "m",
            }
            for i in range(2000)
        ]
    )
    filterset = LogFilterSet(QueryDict("user_id=4&date=2023-08-27&level=error"), scope=EVERY)
    assert filterset.is_valid()
    query = filterset.log_query()
    mongo_filter = query.mongo_filter()
    assert mongo_filter["user_id"] == 4 and mongo_filter["level"] == "error"

    def explain(search_filter: dict) -> dict:
        return logs_db.find(search_filter, ROW_FIELDS).sort(query.mongo_sort()).limit(query.limit).explain()

    found = explain(mongo_filter)
    server_info = logs_db.database.client.server_info()
    if "ferretdbVersion" not in server_info:
        winning = found["queryPlanner"]["winningPlan"]
        print(f"MongoDB {server_info['version']} winning plan: {winning}")
        assert "user_level_time" in indexes_used(winning)
        return

    plan = found["queryPlanner"]["Plan"]
    pushdown = {key: found[key] for key in ("filterPushdown", "sortPushdown", "limitPushdown")}
    print(f"FerretDB {server_info['ferretdbVersion']} plan: {plan} {pushdown}")
    started_here = any(service.name == "mongodb" for service in pytest_plugin._services.started)
    if isinstance(plan, dict):  # PostgreSQL's EXPLAIN (FORMAT JSON)
        if started_here:
            assert os.environ.get("FERRETDB_HANDLER", "postgresql") == "postgresql"
        assert found["filterPushdown"] is True
        [where] = sql_filters(plan)
        assert node_types(plan)[-1] == "Bitmap Index Scan"
        assert "'user_id'" in where and "'level'" in where
        assert """'"error"'""" in where and "'4'" in where
        # The bucket walk's filter: the GIN index FerretDB's btree indexes cannot replace serves it.
        bucket_plan = explain({"hour": hour_of(DAY), **mongo_filter})
        print(f"with an hour bucket: {bucket_plan['queryPlanner']['Plan']}")
        assert "Bitmap Index Scan" in node_types(bucket_plan["queryPlanner"]["Plan"])
        # The shape it replaced: `$in` of one value is not pushed down.
        one_value_in = {**mongo_filter, "user_id": {"$in": [4]}, "level": {"$in": ["error"]}}
        assert explain(one_value_in)["filterPushdown"] is False
    else:  # SQLite's EXPLAIN QUERY PLAN rows
        if started_here:
            assert os.environ.get("FERRETDB_HANDLER") == "sqlite"
        assert found["filterPushdown"] is False
        assert any("SCAN" in row for row in plan)
