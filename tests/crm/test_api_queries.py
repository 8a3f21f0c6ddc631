"""Every API list runs a constant number of queries, whatever the page size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    DealFactory,
    EventFactory,
    OrderFactory,
    RenewalFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

# Token lookup, COUNT(*) and the page itself.
LIST_QUERY_BUDGET = 3
# Contacts read their tags in one more query (a prefetch for the whole page).
EXTRA = {"contacts": 1}

LISTS = [
    ("accounts", AccountFactory),
    ("contacts", ContactFactory),
    ("deals", DealFactory),
    ("renewals", RenewalFactory),
    ("orders", OrderFactory),
    ("events", EventFactory),
    ("tasks", TaskFactory),
    ("activities", ActivityFactory),
]


@pytest.mark.parametrize(("resource", "factory"), LISTS)
def test_list_queries_do_not_grow_with_rows(api, django_assert_max_num_queries, resource, factory):
    api.get("/api/v1/pipeline-stages/")  # token use is recorded once a minute; keep that out
    counts = []
    for batch in (3, 27):
        factory.create_batch(batch)
        with (
            django_assert_max_num_queries(LIST_QUERY_BUDGET + EXTRA.get(resource, 0)),
            CaptureQueriesContext(connection) as queries,
        ):
            response = api.get(f"/api/v1/{resource}/", {"page_size": 100})
        assert response.status_code == 200
        # events and activities page by cursor (no count): compare the rows themselves
        assert len(response.json()["results"]) == 3 + 27 * len(counts)
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(("resource", "factory"), LISTS)
def test_detail_is_cheap(api, django_assert_max_num_queries, resource, factory):
    obj = factory()
    api.get("/api/v1/pipeline-stages/")
    with django_assert_max_num_queries(2 + EXTRA.get(resource, 0)):
        assert api.get(f"/api/v1/{resource}/{obj.pk}/").status_code == 200


def test_pipeline_stage_list_is_cheap(api, django_assert_max_num_queries):
    api.get("/api/v1/accounts/")
    with django_assert_max_num_queries(LIST_QUERY_BUDGET):
        assert api.get("/api/v1/pipeline-stages/").json()["count"] == 6
