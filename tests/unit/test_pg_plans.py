"""pg_plans on real PostgreSQL 15 plans: `EXPLAIN (FORMAT JSON)` of statements on a
120,000-row `pgo_orders`, a 200,000-row `pgo_items`, a 5,000-row `pgo_customers`, a
200-row `pgo_small` (none of them indexed beyond their primary key) and a 50,000-row
`pgo_indexed` (indexed on email and created_at), analysed. Statements with `$1` were
planned generically (`SET plan_cache_mode = force_generic_plan; PREPARE …; EXPLAIN
EXECUTE …`), as EXPLAIN (GENERIC_PLAN) plans them on PostgreSQL 16; those with literals
as the agent's bound parameters make them. The texts are PostgreSQL's, compacted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from perfaudit.analysis.pg_plans import (
    JOIN_MAX_SHARE,
    MAX_RETURNED_SHARE,
    MIN_TABLE_ROWS,
    IndexAdvice,
    describe_plan,
    missing_indexes,
)

TABLE_ROWS = {
    "pgo_orders": 120_000.0,
    "pgo_items": 200_000.0,
    "pgo_customers": 5_000.0,
    "pgo_small": 200.0,
    "pgo_indexed": 50_000.0,
}

PLANS = {
    # SELECT * FROM pgo_orders WHERE customer_email = $1
    "eq_param": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":24,"Plan Width":48,'
        '"Filter":"(customer_email = $1)"}}]'
    ),
    # SELECT * FROM pgo_orders o WHERE o.customer_email = $1 ORDER BY o.created_at DESC LIMIT 20
    "sort_limit": (
        '[{"Plan":{"Node Type":"Limit","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":2736.55,"Total Cost":2736.6,"Plan Rows":20,"Plan Width":48,'
        '"Plans":[{"Node Type":"Sort","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Startup Cost":2736.55,'
        '"Total Cost":2736.61,"Plan Rows":24,"Plan Width":48,'
        '"Sort Key":["created_at DESC"],"Plans":[{"Node Type":"Seq Scan",'
        '"Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"o","Startup Cost":0.0,"Total Cost":2736.0,'
        '"Plan Rows":24,"Plan Width":48,"Filter":"(customer_email = $1)"}]}]}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email = $1 ORDER BY created_at
    "sort_no_limit": (
        '[{"Plan":{"Node Type":"Sort","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":2736.55,"Total Cost":2736.61,"Plan Rows":24,"Plan Width":48,'
        '"Sort Key":["created_at"],"Plans":[{"Node Type":"Seq Scan",'
        '"Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":24,"Plan Width":48,'
        '"Filter":"(customer_email = $1)"}]}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email = $1 ORDER BY created_at DESC, id DESC LIMIT 20
    "sort_two_keys": (
        '[{"Plan":{"Node Type":"Limit","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":2736.55,"Total Cost":2736.6,"Plan Rows":20,"Plan Width":48,'
        '"Plans":[{"Node Type":"Sort","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Startup Cost":2736.55,'
        '"Total Cost":2736.61,"Plan Rows":24,"Plan Width":48,'
        '"Sort Key":["created_at DESC","id DESC"],"Plans":[{"Node Type":"Seq Scan",'
        '"Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":24,"Plan Width":48,'
        '"Filter":"(customer_email = $1)"}]}]}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_id = $1 AND created_at > $2 ORDER BY created_at DESC
    #   LIMIT 10
    "eq_range_sort": (
        '[{"Plan":{"Node Type":"Limit","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":3036.12,"Total Cost":3036.14,"Plan Rows":8,"Plan Width":48,'
        '"Plans":[{"Node Type":"Sort","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Startup Cost":3036.12,'
        '"Total Cost":3036.14,"Plan Rows":8,"Plan Width":48,'
        '"Sort Key":["created_at DESC"],"Plans":[{"Node Type":"Seq Scan",'
        '"Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":8,"Plan Width":48,'
        '"Filter":"((created_at > $2) AND (customer_id = $1))"}]}]}}]'
    ),
    # SELECT * FROM pgo_items WHERE sku = 'SKU7' ORDER BY qty LIMIT 5
    # (captured after SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
    #  SET min_parallel_table_scan_size = 0)
    "gather_merge": (
        '[{"Plan":{"Node Type":"Limit","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":2320.29,"Total Cost":2320.35,"Plan Rows":5,"Plan Width":18,'
        '"Plans":[{"Node Type":"Gather Merge","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Startup Cost":2320.29,'
        '"Total Cost":2326.76,"Plan Rows":554,"Plan Width":18,"Workers Planned":2,'
        '"Plans":[{"Node Type":"Sort","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Startup Cost":2320.27,'
        '"Total Cost":2320.96,"Plan Rows":277,"Plan Width":18,"Sort Key":["qty"],'
        '"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer",'
        '"Parallel Aware":true,"Async Capable":false,"Relation Name":"pgo_items",'
        '"Alias":"pgo_items","Startup Cost":0.0,"Total Cost":2315.67,"Plan Rows":277,'
        '"Plan Width":18,"Filter":"(sku = \'SKU7\'::text)"}]}]}]}}]'
    ),
    # SELECT id FROM pgo_orders WHERE status = 'held'
    "varchar_literal": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":272,"Plan Width":4,'
        '"Filter":"((status)::text = \'held\'::text)"}}]'
    ),
    # SELECT id FROM pgo_orders WHERE status = $1
    "varchar_param": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":40000,"Plan Width":4,'
        '"Filter":"((status)::text = $1)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE status = 'paid'
    "unselective": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":79656,"Plan Width":48,'
        '"Filter":"((status)::text = \'paid\'::text)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_id = $1 AND created_at > $2
    "eq_range": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":8,"Plan Width":48,'
        '"Filter":"((created_at > $2) AND (customer_id = $1))"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE created_at BETWEEN $1 AND $2
    "between": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":600,"Plan Width":48,'
        '"Filter":"((created_at >= $1) AND (created_at <= $2))"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_id <> $1 AND total < 0.5
    "not_equal": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":588,"Plan Width":48,'
        '"Filter":"((customer_id <> $1) AND (total < 0.5))"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE lower(customer_email) = $1
    "lower": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":600,"Plan Width":48,'
        '"Filter":"(lower(customer_email) = $1)"}}]'
    ),
    # SELECT id FROM pgo_orders WHERE lower(status) = 'held'
    "lower_varchar": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":600,"Plan Width":4,'
        '"Filter":"(lower((status)::text) = \'held\'::text)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email LIKE 'user12@%'
    "like_prefix": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":12,"Plan Width":48,'
        '"Filter":"(customer_email ~~ \'user12@%\'::text)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email LIKE $1
    "like_param": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":600,"Plan Width":48,'
        '"Filter":"(customer_email ~~ $1)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email LIKE '%er12@example.com'
    "like_suffix": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":12,"Plan Width":48,'
        '"Filter":"(customer_email ~~ \'%er12@example.com\'::text)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email ILIKE 'user12@%'
    "ilike": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2736.0,"Plan Rows":12,"Plan Width":48,'
        '"Filter":"(customer_email ~~* \'user12@%\'::text)"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_id = ANY($1)
    "any_param": (
        '[{"Plan":{"Node Type":"Gather","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":1000.0,"Total Cost":3848.24,"Plan Rows":240,"Plan Width":48,'
        '"Workers Planned":1,"Single Copy":false,"Plans":[{"Node Type":"Seq Scan",'
        '"Parent Relationship":"Outer","Parallel Aware":true,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2824.24,"Plan Rows":141,"Plan Width":48,'
        '"Filter":"(customer_id = ANY ($1))"}]}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_id IN (1, 2, 3)
    "in_list": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":2886.0,"Plan Rows":72,"Plan Width":48,'
        '"Filter":"(customer_id = ANY (\'{1,2,3}\'::integer[]))"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email = $1 OR customer_id = $2
    "or": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":48,"Plan Width":48,'
        '"Filter":"((customer_email = $1) OR (customer_id = $2))"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email = $1 OR customer_email LIKE '%abc'
    "or_suffix": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":36,"Plan Width":48,'
        '"Filter":"((customer_email = $1) OR (customer_email ~~ \'%abc\'::text))"}}]'
    ),
    # SELECT * FROM pgo_orders WHERE customer_email = $1 OR customer_email NOT LIKE 'user%'
    "or_none": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_orders","Alias":"pgo_orders","Startup Cost":0.0,'
        '"Total Cost":3036.0,"Plan Rows":36,"Plan Width":48,'
        '"Filter":"((customer_email = $1) OR (customer_email !~~ \'user%\'::text))"}}]'
    ),
    # SELECT o.id, i.sku FROM pgo_orders o JOIN pgo_items i ON i.order_id = o.id WHERE
    #   o.customer_email = $1
    "hash_join": (
        '[{"Plan":{"Node Type":"Gather","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":3118.53,"Total Cost":5881.83,"Plan Rows":40,"Plan Width":10,'
        '"Workers Planned":1,"Single Copy":false,"Plans":[{"Node Type":"Hash Join",'
        '"Parent Relationship":"Outer","Parallel Aware":true,"Async Capable":false,'
        '"Join Type":"Inner","Startup Cost":2118.53,"Total Cost":4877.83,"Plan Rows":24,'
        '"Plan Width":10,"Inner Unique":true,"Hash Cond":"(i.order_id = o.id)",'
        '"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer",'
        '"Parallel Aware":true,"Async Capable":false,"Relation Name":"pgo_items",'
        '"Alias":"i","Startup Cost":0.0,"Total Cost":2450.47,"Plan Rows":117647,'
        '"Plan Width":10},{"Node Type":"Hash","Parent Relationship":"Inner",'
        '"Parallel Aware":true,"Async Capable":false,"Startup Cost":2118.35,'
        '"Total Cost":2118.35,"Plan Rows":14,"Plan Width":4,'
        '"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer",'
        '"Parallel Aware":true,"Async Capable":false,"Relation Name":"pgo_orders",'
        '"Alias":"o","Startup Cost":0.0,"Total Cost":2118.35,"Plan Rows":14,'
        '"Plan Width":4,"Filter":"(customer_email = $1)"}]}]}]}}]'
    ),
    # SELECT c.name, o.total FROM pgo_customers c JOIN pgo_orders o ON o.customer_email = c.email
    #   WHERE c.id = $1
    "join_filter": (
        '[{"Plan":{"Node Type":"Hash Join","Parallel Aware":false,"Async Capable":false,'
        '"Join Type":"Inner","Startup Cost":8.31,"Total Cost":2759.58,"Plan Rows":24,'
        '"Plan Width":15,"Inner Unique":true,"Hash Cond":"(o.customer_email = c.email)",'
        '"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Relation Name":"pgo_orders",'
        '"Alias":"o","Startup Cost":0.0,"Total Cost":2436.0,"Plan Rows":120000,'
        '"Plan Width":26},{"Node Type":"Hash","Parent Relationship":"Inner",'
        '"Parallel Aware":false,"Async Capable":false,"Startup Cost":8.3,'
        '"Total Cost":8.3,"Plan Rows":1,"Plan Width":29,'
        '"Plans":[{"Node Type":"Index Scan","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Scan Direction":"Forward",'
        '"Index Name":"pgo_customers_pkey","Relation Name":"pgo_customers","Alias":"c",'
        '"Startup Cost":0.28,"Total Cost":8.3,"Plan Rows":1,"Plan Width":29,'
        '"Index Cond":"(id = $1)"}]}]}}]'
    ),
    # SELECT c.name, o.total FROM pgo_customers c JOIN pgo_orders o ON o.customer_email = c.email
    #   WHERE c.id = $1
    # (captured after SET enable_hashjoin = off; SET enable_mergejoin = off)
    "nested_loop_join_filter": (
        '[{"Plan":{"Node Type":"Nested Loop","Parallel Aware":false,'
        '"Async Capable":false,"Join Type":"Inner","Startup Cost":0.28,'
        '"Total Cost":3944.3,"Plan Rows":24,"Plan Width":15,"Inner Unique":false,'
        '"Join Filter":"(c.email = o.customer_email)","Plans":[{"Node Type":"Index Scan",'
        '"Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,'
        '"Scan Direction":"Forward","Index Name":"pgo_customers_pkey",'
        '"Relation Name":"pgo_customers","Alias":"c","Startup Cost":0.28,'
        '"Total Cost":8.3,"Plan Rows":1,"Plan Width":29,'
        '"Index Cond":"(id = $1)"},{"Node Type":"Seq Scan","Parent Relationship":"Inner",'
        '"Parallel Aware":false,"Async Capable":false,"Relation Name":"pgo_orders",'
        '"Alias":"o","Startup Cost":0.0,"Total Cost":2436.0,"Plan Rows":120000,'
        '"Plan Width":26}]}}]'
    ),
    # SELECT c.id, (SELECT count(*) FROM pgo_orders o WHERE o.customer_id = c.id) FROM pgo_customers
    #   c WHERE c.id < $1
    "correlated_subplan": (
        '[{"Plan":{"Node Type":"Index Only Scan","Parallel Aware":false,'
        '"Async Capable":false,"Scan Direction":"Forward",'
        '"Index Name":"pgo_customers_pkey","Relation Name":"pgo_customers","Alias":"c",'
        '"Startup Cost":0.28,"Total Cost":4561082.15,"Plan Rows":1667,"Plan Width":12,'
        '"Index Cond":"(id < $1)","Plans":[{"Node Type":"Aggregate","Strategy":"Plain",'
        '"Partial Mode":"Simple","Parent Relationship":"SubPlan",'
        '"Subplan Name":"SubPlan 1","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":2736.06,"Total Cost":2736.07,"Plan Rows":1,"Plan Width":8,'
        '"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer",'
        '"Parallel Aware":false,"Async Capable":false,"Relation Name":"pgo_orders",'
        '"Alias":"o","Startup Cost":0.0,"Total Cost":2736.0,"Plan Rows":24,'
        '"Plan Width":0,"Filter":"(customer_id = c.id)"}]}]},"JIT":{"Functions":7,'
        '"Options":{"Inlining":true,"Optimization":true,"Expressions":true,'
        '"Deforming":true}}}]'
    ),
    # SELECT * FROM pgo_items WHERE order_id = $1
    "items_by_order": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_items","Alias":"pgo_items","Startup Cost":0.0,'
        '"Total Cost":3774.0,"Plan Rows":2,"Plan Width":18,"Filter":"(order_id = $1)"}}]'
    ),
    # SELECT * FROM pgo_indexed WHERE email = $1
    "index_scan": (
        '[{"Plan":{"Node Type":"Index Scan","Parallel Aware":false,"Async Capable":false,'
        '"Scan Direction":"Forward","Index Name":"ix_pgo_indexed_email",'
        '"Relation Name":"pgo_indexed","Alias":"pgo_indexed","Startup Cost":0.41,'
        '"Total Cost":8.43,"Plan Rows":1,"Plan Width":33,"Index Cond":"(email = $1)"}}]'
    ),
    # SELECT email FROM pgo_indexed WHERE email = $1
    "index_only": (
        '[{"Plan":{"Node Type":"Index Only Scan","Parallel Aware":false,'
        '"Async Capable":false,"Scan Direction":"Forward",'
        '"Index Name":"ix_pgo_indexed_email","Relation Name":"pgo_indexed",'
        '"Alias":"pgo_indexed","Startup Cost":0.41,"Total Cost":8.43,"Plan Rows":1,'
        '"Plan Width":21,"Index Cond":"(email = $1)"}}]'
    ),
    # SELECT * FROM pgo_indexed WHERE created_at > now() - interval '2 hours' OR email =
    #   'user1@example.com'
    "bitmap": (
        '[{"Plan":{"Node Type":"Bitmap Heap Scan","Parallel Aware":false,'
        '"Async Capable":false,"Relation Name":"pgo_indexed","Alias":"pgo_indexed",'
        '"Startup Cost":9.68,"Total Cost":275.58,"Plan Rows":121,"Plan Width":33,'
        '"Recheck Cond":"((created_at > (now() - \'02:00:00\'::interval)) OR (email ='
        ' \'user1@example.com\'::text))","Plans":[{"Node Type":"BitmapOr",'
        '"Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,'
        '"Startup Cost":9.68,"Total Cost":9.68,"Plan Rows":121,"Plan Width":0,'
        '"Plans":[{"Node Type":"Bitmap Index Scan","Parent Relationship":"Member",'
        '"Parallel Aware":false,"Async Capable":false,'
        '"Index Name":"ix_pgo_indexed_created","Startup Cost":0.0,"Total Cost":5.19,'
        '"Plan Rows":120,"Plan Width":0,'
        '"Index Cond":"(created_at > (now() - \'02:00:00\'::interval))"},{"Node'
        ' Type":"Bitmap Index Scan","Parent Relationship":"Member",'
        '"Parallel Aware":false,"Async Capable":false,'
        '"Index Name":"ix_pgo_indexed_email","Startup Cost":0.0,"Total Cost":4.42,'
        '"Plan Rows":1,"Plan Width":0,'
        '"Index Cond":"(email = \'user1@example.com\'::text)"}]}]}}]'
    ),
    # SELECT * FROM pgo_small WHERE code = $1
    "small": (
        '[{"Plan":{"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,'
        '"Relation Name":"pgo_small","Alias":"pgo_small","Startup Cost":0.0,'
        '"Total Cost":3.5,"Plan Rows":1,"Plan Width":8,"Filter":"(code = $1)"}}]'
    ),
}


def advise(name: str, table_rows: dict[str, float] | None = None) -> list[IndexAdvice]:
    return missing_indexes(PLANS[name], TABLE_ROWS if table_rows is None else table_rows)


def only(name: str) -> IndexAdvice:
    found = advise(name)
    assert len(found) == 1, found
    return found[0]


def changed(name: str, **fields: Any) -> str:
    """The plan with its deepest scan's fields replaced (threshold and naming checks)."""
    document = json.loads(PLANS[name])
    node = document[0]["Plan"]
    while node.get("Plans"):
        node = node["Plans"][0]
    node.update(fields)
    return json.dumps(document)


# --- a filter that keeps few rows -------------------------------------------------------


def test_an_equality_filter_on_a_large_table_asks_for_an_index_on_its_column() -> None:
    advice = only("eq_param")
    assert advice == IndexAdvice(
        table="pgo_orders",
        alias="pgo_orders",
        kind="filter",
        condition="(customer_email = $1)",
        columns=("customer_email",),
        sort_columns=(),
        index_columns=("customer_email",),
        table_rows=120_000.0,
        rows=24.0,
        create=(
            "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_email ON pgo_orders (customer_email)",
        ),
        note="",
    )


def test_a_cast_to_text_of_a_varchar_column_is_the_column() -> None:
    advice = only("varchar_literal")
    assert advice.condition == "((status)::text = 'held'::text)"
    assert advice.columns == ("status",)
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_status ON pgo_orders (status)",
    )


def test_equality_columns_come_before_the_range_column() -> None:
    advice = only("eq_range")  # the plan prints ((created_at > $2) AND (customer_id = $1))
    assert advice.columns == ("customer_id", "created_at")
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_id_created_at "
        "ON pgo_orders (customer_id, created_at)",
    )


def test_between_is_one_range_column() -> None:
    assert only("between").index_columns == ("created_at",)


def test_a_not_equal_condition_is_left_out_of_the_index() -> None:
    advice = only("not_equal")  # (customer_id <> $1) AND (total < 0.5)
    assert advice.columns == ("total", "customer_id")
    assert advice.index_columns == ("total",)


@pytest.mark.parametrize("name", ["any_param", "in_list"])
def test_any_of_a_list_is_an_equality(name: str) -> None:
    advice = only(name)
    assert advice.index_columns == ("customer_id",)
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_id ON pgo_orders (customer_id)",
    )


def test_a_parallel_scan_counts_the_rows_of_every_process() -> None:
    """141 rows per process, one worker and the leader: PostgreSQL divides by 1.7."""
    assert only("any_param").rows == pytest.approx(240, abs=1)
    assert only("gather_merge").rows == pytest.approx(665, abs=1)


# --- ORDER BY … LIMIT -------------------------------------------------------------------


def test_a_sorted_limit_appends_the_sort_column_to_the_index() -> None:
    advice = only("sort_limit")
    assert (advice.table, advice.alias) == ("pgo_orders", "o")
    assert advice.columns == ("customer_email",)
    assert advice.sort_columns == ("created_at",)
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_email_created_at "
        "ON pgo_orders (customer_email, created_at)",
    )
    assert "without a sort" in advice.note


def test_several_sort_columns_in_one_direction_are_appended_in_order() -> None:
    advice = only("sort_two_keys")  # ORDER BY created_at DESC, id DESC: read backwards
    assert advice.index_columns == ("customer_email", "created_at", "id")


def test_a_sort_through_gather_merge_counts() -> None:
    advice = only("gather_merge")
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_items_sku_qty ON pgo_items (sku, qty)",
    )


def test_a_sort_on_the_range_column_is_served_without_appending_it() -> None:
    advice = only("eq_range_sort")
    assert advice.sort_columns == ("created_at",)
    assert advice.index_columns == ("customer_id", "created_at")


def test_a_sort_without_limit_adds_nothing() -> None:
    advice = only("sort_no_limit")
    assert advice.sort_columns == ()
    assert advice.index_columns == ("customer_email",)


# --- expressions and patterns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("lower", "ix_pgo_orders_lower_customer_email ON pgo_orders ((lower(customer_email)))"),
        ("lower_varchar", "ix_pgo_orders_lower_status ON pgo_orders ((lower(status)))"),
    ],
)
def test_a_function_of_a_column_asks_for_an_expression_index(name: str, index: str) -> None:
    advice = only(name)
    assert advice.create == (f"CREATE INDEX CONCURRENTLY {index}",)
    assert "expression index" in advice.note


def test_a_like_prefix_asks_for_text_pattern_ops() -> None:
    advice = only("like_prefix")  # (customer_email ~~ 'user12@%'::text)
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_email "
        "ON pgo_orders (customer_email text_pattern_ops)",
    )


def test_a_like_parameter_says_when_the_index_serves_it() -> None:
    advice = only("like_param")  # (customer_email ~~ $1): the pattern is unknown
    assert advice.create[0].endswith("(customer_email text_pattern_ops)")
    assert "fixed prefix" in advice.note
    assert "trigram" in advice.note


@pytest.mark.parametrize("name", ["like_suffix", "ilike"])
def test_a_leading_wildcard_or_ilike_gets_a_trigram_index_not_a_btree(name: str) -> None:
    advice = only(name)
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_email_trgm "
        "ON pgo_orders USING gin (customer_email gin_trgm_ops)",
    )
    assert "no b-tree index" in advice.note
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in advice.note


# --- OR ---------------------------------------------------------------------------------


def test_an_or_gets_one_index_per_branch() -> None:
    advice = only("or")
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_email ON pgo_orders (customer_email)",
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_id ON pgo_orders (customer_id)",
    )
    assert "BitmapOr" in advice.note


def test_an_or_branch_with_a_leading_wildcard_gets_a_trigram_index() -> None:
    advice = only("or_suffix")
    assert [c.split(" ON ")[1] for c in advice.create] == [
        "pgo_orders (customer_email)",
        "pgo_orders USING gin (customer_email gin_trgm_ops)",
    ]


def test_an_or_branch_no_index_serves_means_no_index_is_suggested() -> None:
    advice = only("or_none")  # (customer_email = $1) OR (customer_email !~~ 'user%'::text)
    assert advice.create == ()
    assert advice.index_columns == ()
    assert "customer_email !~~ 'user%'::text" in advice.note
    assert "whole table" in advice.note


# --- joins ------------------------------------------------------------------------------


def test_a_hash_join_over_a_whole_table_asks_for_an_index_on_its_join_column() -> None:
    """pgo_items is read whole (~200,000 rows over the Gather) to join ~24 orders: the
    Hash Cond names its column. The orders' own filter is reported as well."""
    on_orders, on_items = advise("hash_join")
    assert (on_orders.kind, on_orders.alias, on_orders.columns) == (
        "filter",
        "o",
        ("customer_email",),
    )
    assert (on_items.kind, on_items.table, on_items.alias) == ("join", "pgo_items", "i")
    assert on_items.condition == "(i.order_id = o.id)"
    assert on_items.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_items_order_id ON pgo_items (order_id)",
    )
    assert on_items.table_rows == 200_000.0
    assert "~24 rows of the other side" in on_items.note


@pytest.mark.parametrize("name", ["join_filter", "nested_loop_join_filter"])
def test_a_join_filter_or_hash_cond_names_the_unindexed_column(name: str) -> None:
    advice = only(name)
    assert (advice.kind, advice.table, advice.alias) == ("join", "pgo_orders", "o")
    assert advice.create == (
        "CREATE INDEX CONCURRENTLY ix_pgo_orders_customer_email ON pgo_orders (customer_email)",
    )
    assert advice.rows == 24.0


def test_a_scan_in_a_correlated_subquery_says_it_runs_per_outer_row() -> None:
    advice = only("correlated_subplan")  # Filter: (o.customer_id = c.id)
    assert advice.index_columns == ("customer_id",)
    assert "SubPlan 1" in advice.note
    assert "~1,667 rows" in advice.note


def test_the_join_rule_wants_few_lookups() -> None:
    """The big side must be read for many rows of the other side: no index then."""
    plan = json.loads(PLANS["join_filter"])
    plan[0]["Plan"]["Plans"][1]["Plan Rows"] = JOIN_MAX_SHARE * 120_000 + 1
    assert missing_indexes(json.dumps(plan), TABLE_ROWS) == []


# --- nothing to report ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["index_scan", "index_only", "bitmap"])
def test_a_plan_that_uses_an_index_reports_nothing(name: str) -> None:
    assert advise(name) == []


def test_a_small_table_or_an_unselective_filter_reports_nothing() -> None:
    assert advise("small") == []  # 200 rows
    assert advise("unselective") == []  # 79,656 of 120,000 rows
    assert advise("varchar_param") == []  # generic plan: a third of the rows


def test_a_table_of_unknown_size_is_not_judged() -> None:
    assert advise("eq_param", {}) == []
    assert advise("eq_param", {"pgo_orders": -1.0}) == []


@pytest.mark.parametrize("text", ["", "not json", "[]", "[{}]", '{"Plan": 3}', "[1, 2]"])
def test_text_that_is_no_plan_gives_nothing(text: str) -> None:
    assert missing_indexes(text, TABLE_ROWS) == []
    assert describe_plan(text) == ()


# --- thresholds -------------------------------------------------------------------------


def test_the_share_of_rows_returned_decides() -> None:
    at_limit = MAX_RETURNED_SHARE * 120_000
    assert missing_indexes(changed("eq_param", **{"Plan Rows": at_limit}), TABLE_ROWS)
    assert not missing_indexes(changed("eq_param", **{"Plan Rows": at_limit + 1}), TABLE_ROWS)


def test_the_table_must_be_large_enough() -> None:
    assert advise("eq_param", {"pgo_orders": MIN_TABLE_ROWS})
    assert not advise("eq_param", {"pgo_orders": MIN_TABLE_ROWS - 1})


# --- names ------------------------------------------------------------------------------


def test_names_that_need_quotes_get_them_and_index_names_fit_postgresql() -> None:
    plan = changed(
        "eq_param",
        **{"Relation Name": "Orders", "Alias": "Orders", "Filter": '("customerEmail" = $1)'},
    )
    (advice,) = missing_indexes(plan, {"Orders": 120_000.0})
    assert advice.create == (
        'CREATE INDEX CONCURRENTLY ix_orders_customeremail ON "Orders" ("customerEmail")',
    )
    long_name = "a" * 70
    plan = changed("eq_param", **{"Relation Name": long_name, "Alias": long_name})
    (advice,) = missing_indexes(plan, {long_name: 120_000.0})
    name = advice.create[0].split()[3]
    assert len(name) == 63


def test_a_schema_in_a_verbose_plan_qualifies_the_table() -> None:
    plan = changed("eq_param", Schema="shop")
    (advice,) = missing_indexes(plan, {"shop.pgo_orders": 120_000.0})
    assert advice.table == "shop.pgo_orders"
    assert advice.create[0].endswith(" ON shop.pgo_orders (customer_email)")


# --- reading other conditions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "index"),
    [
        ("((customer_id = $1) AND (deleted_at IS NULL))", "(customer_id, deleted_at)"),
        ("(NOT archived)", "(archived)"),
        ("(email ~ '^abc'::text)", "(email text_pattern_ops)"),
        ("(data @> '{\"a\": 1}'::jsonb)", "USING gin (data)"),
        ("((o.total + (1)::numeric) > (InitPlan 1).col1)", "((total + 1::numeric))"),
        ('("Status" = ANY (ARRAY[$1, $2]))', '("Status")'),
        ("((created_at)::date = '2024-01-01'::date)", "((created_at::date))"),
        ("((a = 1) AND ((b = 2) OR (c = 3)))", "(a)"),
        ("(((b = 2) OR (c = 3)) AND (d <> 4))", None),
    ],
)
def test_conditions_as_postgresql_prints_them(condition: str, index: str | None) -> None:
    plan = changed("eq_param", Alias="o", Filter=condition)
    (advice,) = missing_indexes(plan, TABLE_ROWS)
    if index is None:
        assert len(advice.create) == 2  # one per OR branch
    else:
        assert advice.create[0].endswith(f" ON pgo_orders {index}"), advice.create


@pytest.mark.parametrize(
    "condition",
    [
        "(hashed SubPlan 1)",
        "(NOT (hashed SubPlan 1))",
        "(customer_email <> $1)",
        "(total > (SubPlan 1))",
        "(customer_id = total)",
        "(customer_email IS DISTINCT FROM $1)",
        "(alternatives: SubPlan 1 or hashed SubPlan 2)",
        "((unbalanced",
    ],
)
def test_conditions_no_index_serves_are_reported_without_an_index(condition: str) -> None:
    (advice,) = missing_indexes(changed("eq_param", Filter=condition), TABLE_ROWS)
    assert advice.create == ()
    assert advice.note


# --- describing a plan ------------------------------------------------------------------


def test_a_chain_of_nodes_is_one_line() -> None:
    assert describe_plan(PLANS["sort_limit"], TABLE_ROWS) == (
        "Limit → Sort (created_at DESC) → Seq Scan on pgo_orders o "
        "(Filter: customer_email = $1; ~24 of 120,000 rows)",
    )
    assert describe_plan(PLANS["any_param"]) == (
        "Gather (1 worker) → Parallel Seq Scan on pgo_orders "
        "(Filter: customer_id = ANY ($1); ~240 rows)",
    )


def test_each_input_of_a_join_is_a_line() -> None:
    assert describe_plan(PLANS["join_filter"], TABLE_ROWS) == (
        "Hash Join (o.customer_email = c.email; ~24 rows)",
        "  Seq Scan on pgo_orders o (~120,000 of 120,000 rows)",
        "  Hash → Index Scan using pgo_customers_pkey on pgo_customers c "
        "(Index Cond: id = $1; ~1 of 5,000 rows)",
    )


def test_a_subplan_is_a_line_of_its_own() -> None:
    lines = describe_plan(PLANS["correlated_subplan"], TABLE_ROWS)
    assert lines[1] == (
        "  [SubPlan 1] Aggregate → Seq Scan on pgo_orders o "
        "(Filter: customer_id = c.id; ~24 of 120,000 rows)"
    )
