"""Orders and events: posted one at a time or in batches, stored idempotently on
``external_id`` by crm.services.orders_upsert / events_ingest."""

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from crm import services
from crm.api.serializers import AttributesField, check_contact_account
from crm.models import Account, Contact, Event, Order

MAX_BATCH_SIZE = 1000
NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY


class BatchReferenceField(serializers.PrimaryKeyRelatedField):
    """A reference by id that is only type-checked per item: BatchListSerializer looks up the
    ids of the whole batch with one query per model instead of one query per item."""

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = int(data)
        except ValueError:
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < pk < 2**63:
            self.fail("does_not_exist", pk_value=data)
        return pk


class BatchListSerializer(serializers.ListSerializer):
    """Validates a batch as a whole. Any bad item rejects the batch; errors are keyed by the
    item's index, e.g. ``{"3": {"contact": [...]}}``."""

    def to_internal_value(self, data) -> list[dict]:
        if not isinstance(data, list):
            raise ValidationError({NON_FIELD_ERRORS: ["Send an object or a list of objects."]})
        if len(data) > MAX_BATCH_SIZE:
            raise ValidationError(
                {NON_FIELD_ERRORS: [f"Send at most {MAX_BATCH_SIZE} items per request, not {len(data)}."]}
            )
        rows: dict[int, dict] = {}
        errors: dict[int, dict] = {}
        for index, item in enumerate(data):
            try:
                rows[index] = self.child.run_validation(item)
            except ValidationError as exc:
                errors[index] = exc.detail
        self._resolve_references(rows, errors)
        for index, row in rows.items():
            if index not in errors:
                try:
                    check_contact_account(row)
                except ValidationError as exc:
                    errors[index] = exc.detail
        if errors:
            raise ValidationError({str(index): errors[index] for index in sorted(errors)})
        return [rows[index] for index in range(len(data))]

    def _resolve_references(self, rows: dict[int, dict], errors: dict[int, dict]) -> None:
        """Swap ids for instances: one query per referenced model, whatever the batch size."""
        for name, field in self.child.fields.items():
            if not isinstance(field, BatchReferenceField) or field.read_only:
                continue
            ids = {row[name] for row in rows.values() if row.get(name) is not None}
            found = {obj.pk: obj for obj in field.get_queryset().filter(pk__in=ids)} if ids else {}
            for index, row in rows.items():
                pk = row.get(name)
                if pk is None:
                    continue
                if pk in found:
                    row[name] = found[pk]
                else:
                    message = field.error_messages["does_not_exist"].format(pk_value=pk)
                    errors.setdefault(index, {})[name] = [message]


class _IngestSerializer(serializers.ModelSerializer):
    contact = BatchReferenceField(
        queryset=Contact.objects.only("id", "account_id"), required=False, allow_null=True
    )
    account = BatchReferenceField(
        queryset=Account.objects.only("id"),
        required=False,
        allow_null=True,
        help_text="Defaults to the contact's account.",
    )
    external_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Your system's id. Posting a known external_id again updates that record "
        "instead of adding one, so re-sending a batch is harmless.",
    )

    class Meta:
        list_serializer_class = BatchListSerializer

    def validate(self, attrs: dict) -> dict:
        if attrs.get("contact") is None and attrs.get("account") is None:
            message = "Give a contact, an account or both."
            raise ValidationError({"contact": [message], "account": [message]})
        return attrs


class OrderSerializer(_IngestSerializer):
    class Meta(_IngestSerializer.Meta):
        model = Order
        fields = [
            "id",
            "contact",
            "account",
            "amount",
            "gross_margin",
            "ordered_at",
            "attribution",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {
            "gross_margin": {
                "help_text": "Gross margin as a fraction of amount, normally 0 to 1 "
                "(0.62 means 62%, not 62); down to -1 for an order sold at a loss."
            }
        }


class EventSerializer(_IngestSerializer):
    properties = AttributesField(help_text="Event details as a JSON object.")

    class Meta(_IngestSerializer.Meta):
        model = Event
        fields = [
            "id",
            "account",
            "contact",
            "name",
            "properties",
            "occurred_at",
            "external_id",
            "received_at",
        ]
        read_only_fields = ["received_at"]


class _BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Records added.")
    updated = serializers.IntegerField(
        help_text="Records whose external_id was already known, overwritten with the posted values."
    )


class OrderBatchResultSerializer(_BatchResultSerializer):
    results = OrderSerializer(many=True, help_text="The stored orders, in the order posted.")


class EventBatchResultSerializer(_BatchResultSerializer):
    results = EventSerializer(many=True, help_text="The stored events, in the order posted.")


def batch_create_schema(noun: str, serializer, result_serializer):
    name = noun.capitalize()
    return extend_schema(
        summary=f"Store one {noun} or a batch",
        description=(
            f"Post one {noun} object, or a list of up to {MAX_BATCH_SIZE}. The whole request is "
            f"validated first: if any item is bad nothing is stored and the 400 body is keyed by "
            f"item index. Posting a known `external_id` again updates that {noun} instead of adding one. "
            f"One object in, that {noun} out; a list in, counts and the stored {noun}s out."
        ),
        request=PolymorphicProxySerializer(
            component_name=f"{name}Upsert",
            serializers=[serializer, serializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name=f"{name}UpsertResult",
                serializers=[serializer, result_serializer],
                resource_type_field_name=None,
                many=False,
            ),
            400: OpenApiResponse(description="Bad items, keyed by index for a list; nothing stored."),
        },
    )


class BatchCreateMixin:
    # POST takes one object or a list; ``store`` saves the validated rows in one service call.

    def store(self, rows: list[dict]) -> services.UpsertResult:
        raise NotImplementedError

    def create(self, request, *args, **kwargs) -> Response:
        single = not isinstance(request.data, list)
        serializer = self.get_serializer(data=[request.data] if single else request.data, many=True)
        if not serializer.is_valid():
            errors = serializer.errors
            raise ValidationError(errors.get("0", errors) if single else errors)
        result = self.store(serializer.validated_data)
        stored = self.get_serializer(result.objects, many=True).data
        if single:
            return Response(stored[0], status=status.HTTP_201_CREATED)
        body = {"created": result.created, "updated": result.updated, "results": stored}
        return Response(body, status=status.HTTP_201_CREATED)
