"""Viewsets of the CRM API. Each resource allows only the methods of the integration contract
(/work/shared/API.md): no PUT anywhere, and the timeline, orders and events are append-only."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException

from core.pagination import FeedPagination
from core.parsers import DepthLimitedJSONParser
from crm import search, services
from crm.api.batch import (
    BatchCreateMixin,
    EventBatchResultSerializer,
    EventSerializer,
    OrderBatchResultSerializer,
    OrderSerializer,
    batch_create_schema,
)
from crm.api.merge import (
    AccountMergeRequest,
    ContactMergeRequest,
    duplicates_response,
    duplicates_schema,
    merge_into,
    merge_schema,
)
from crm.api.serializers import (
    AccountSerializer,
    ActivityRecordSerializer,
    ActivitySerializer,
    ContactSerializer,
    CustomFieldSerializer,
    DealSerializer,
    PipelineStageSerializer,
    RenewalSerializer,
    TaskSerializer,
)
from crm.filters import (
    AccountFilter,
    ActivityFilter,
    ContactFilter,
    CustomFieldFilter,
    DealFilter,
    EventFilter,
    OrderFilter,
    PipelineStageFilter,
    RenewalFilter,
    TaskFilter,
)
from crm.merge import account_merge, contact_merge
from crm.models import (
    Account,
    Activity,
    Contact,
    CustomField,
    Deal,
    Event,
    Order,
    PipelineStage,
    Renewal,
    Task,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the record."
    default_code = "conflict"


READ_WRITE_DELETE = ["get", "post", "patch", "delete", "head", "options"]
READ_WRITE = ["get", "post", "patch", "head", "options"]
APPEND_ONLY = ["get", "post", "head", "options"]


def custom_field_parameters(record: str) -> list[OpenApiParameter]:
    """The ``attr.<key>`` filters on the custom fields of the record (crm.custom_fields)."""
    return [
        OpenApiParameter(
            name="attr.{key}",
            type=OpenApiTypes.STR,
            description=(
                f"Filter {record}s by a custom field, `{{key}}` being the field's key: "
                "`attr.plan_tier=gold` (choice, yes/no `true`/`false`, number, date: equals; repeat "
                "the parameter for any of the values; multiple choice: has any of them), "
                "`attr.notes=vip` (text: contains, any case), `attr.seats.min=10` / "
                "`attr.renews_on.max=2027-01-01` (number and date: at least / at most, inclusive). "
                "An unknown key or a value the field's type cannot hold is a 400 naming the parameter."
            ),
        )
    ]


@extend_schema_view(list=extend_schema(parameters=custom_field_parameters("account")))
class AccountViewSet(viewsets.ModelViewSet):
    """Customer accounts. Deleting one keeps its contacts (detached) and deletes its deals,
    renewals, events, tasks and timeline; an account with orders cannot be deleted (409):
    merge it into another instead (``POST accounts/{id}/merge/``)."""

    queryset = Account.objects.all()
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    search_fields = ["name", "domain"]
    search_records = staticmethod(search.accounts_search)
    ordering_fields = ["name", "signed_up_at", "seats", "lifecycle_stage", "created_at", "updated_at"]
    http_method_names = READ_WRITE_DELETE

    @merge_schema("account", AccountMergeRequest, AccountSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Move the duplicate's contacts, deals, renewals, orders, events, tasks and timeline here."""
        return merge_into(
            self, request, request_class=AccountMergeRequest, service=account_merge, label="account"
        )


@extend_schema_view(list=extend_schema(parameters=custom_field_parameters("contact")))
class ContactViewSet(viewsets.ModelViewSet):
    """People. Phones are read in any common format and stored as E.164; SMS consent is
    read-only here (it changes through sms/consent/)."""

    queryset = Contact.objects.prefetch_related("tags")
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    search_fields = ["first_name", "last_name", "email", "phone"]
    search_records = staticmethod(search.contacts_search)
    ordering_fields = ["last_name", "first_name", "email", "created_at", "updated_at"]
    http_method_names = READ_WRITE_DELETE

    @merge_schema("contact", ContactMergeRequest, ContactSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Move the duplicate's messages, consent, orders, deals, tasks, events, enrollments and
        timeline to this contact, keep the chosen values, delete the duplicate."""
        return merge_into(
            self, request, request_class=ContactMergeRequest, service=contact_merge, label="contact"
        )

    @duplicates_schema
    @action(detail=False, methods=["get"], filterset_class=None, search_fields=[], ordering_fields=[])
    def duplicates(self, request):
        return duplicates_response(self, request)


class CustomFieldViewSet(viewsets.ReadOnlyModelViewSet):
    """The custom fields defined for accounts and contacts (admins define them in the UI):
    what the typed values of ``attributes`` and the ``attr.<key>`` filters accept."""

    queryset = CustomField.objects.order_by("object_type", "position", "id")
    serializer_class = CustomFieldSerializer
    filterset_class = CustomFieldFilter
    ordering_fields = ["position", "updated_at"]


class PipelineStageViewSet(viewsets.ReadOnlyModelViewSet):
    """The deal stages in pipeline order; a deal's ``stage`` is one of these slugs."""

    queryset = PipelineStage.objects.all()
    serializer_class = PipelineStageSerializer
    filterset_class = PipelineStageFilter
    lookup_field = "slug"
    ordering_fields = ["position", "probability", "updated_at"]


class DealViewSet(viewsets.ModelViewSet):
    """Deals in the pipeline. A stage change stamps or clears ``closed_at`` and lands on the
    timeline."""

    queryset = Deal.objects.select_related("stage")
    serializer_class = DealSerializer
    filterset_class = DealFilter
    search_fields = ["name", "account__name", "account__domain", "contact__first_name", "contact__last_name"]
    search_records = staticmethod(search.deals_search)
    ordering_fields = ["amount", "expected_close", "closed_at", "stage__position", "created_at", "updated_at"]
    http_method_names = READ_WRITE


class RenewalViewSet(viewsets.ModelViewSet):
    """Contract terms. Moving ``status`` out of ``upcoming`` stamps ``decided_at`` and lands on
    the timeline."""

    queryset = Renewal.objects.all()
    serializer_class = RenewalSerializer
    filterset_class = RenewalFilter
    search_fields = ["account__name"]
    ordering_fields = ["end_date", "start_date", "acv", "renewed_acv", "created_at", "updated_at"]
    http_method_names = READ_WRITE


class TaskViewSet(viewsets.ModelViewSet):
    """Work for owners. Marking a task done stamps ``completed_at``."""

    queryset = Task.objects.all()
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ["title", "notes"]
    ordering_fields = ["due_at", "status", "completed_at", "created_at", "updated_at"]
    http_method_names = READ_WRITE


@extend_schema_view(create=batch_create_schema("order", OrderSerializer, OrderBatchResultSerializer))
class OrderViewSet(BatchCreateMixin, viewsets.ReadOnlyModelViewSet):
    """Orders, append-only from the API; idempotent on ``external_id``."""

    queryset = Order.objects.all()
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    search_fields = ["external_id", "attribution"]
    ordering_fields = ["ordered_at", "amount", "created_at", "updated_at"]
    http_method_names = APPEND_ONLY
    parser_classes = [DepthLimitedJSONParser]  # a batch is a JSON list; forms cannot carry one

    def store(self, rows: list[dict]) -> services.UpsertResult:
        return services.orders_upsert(rows=rows)


@extend_schema_view(create=batch_create_schema("event", EventSerializer, EventBatchResultSerializer))
class EventViewSet(BatchCreateMixin, viewsets.ReadOnlyModelViewSet):
    """Product-usage and lifecycle events, append-only; idempotent on ``external_id``."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    filterset_class = EventFilter
    search_fields = ["name", "external_id"]
    ordering_fields = ["occurred_at", "received_at", "name", "id"]
    ordering = ["-occurred_at", "-id"]
    pagination_class = FeedPagination
    http_method_names = APPEND_ONLY
    parser_classes = [DepthLimitedJSONParser]  # a batch is a JSON list; forms cannot carry one

    def store(self, rows: list[dict]) -> services.UpsertResult:
        return services.events_ingest(rows=rows)


@extend_schema_view(
    create=extend_schema(
        summary="Record a touch from another channel",
        request=ActivityRecordSerializer,
        responses={201: ActivitySerializer},
    )
)
class ActivityViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The append-only timeline of contacts and accounts."""

    queryset = Activity.objects.all()
    filterset_class = ActivityFilter
    search_fields = ["summary"]
    ordering_fields = ["occurred_at", "id"]
    ordering = ["-occurred_at", "-id"]
    pagination_class = FeedPagination
    http_method_names = APPEND_ONLY

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ActivityRecordSerializer if self.action == "create" else ActivitySerializer
