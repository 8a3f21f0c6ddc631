"""API for duplicates and merges: POST contacts/{id}/merge/, accounts/{id}/merge/ and
GET contacts/duplicates/ (actions of the CRM viewsets)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crm.merge import ACCOUNT_FIELDS, CONTACT_FIELDS, OTHER, duplicate_groups, load_group_contacts
from crm.models import Account, Contact


def merge_request_serializer(model, fields: tuple[str, ...], name: str) -> type[serializers.Serializer]:
    class MergeRequest(serializers.Serializer):
        duplicate = serializers.PrimaryKeyRelatedField(
            queryset=model.objects.all(),
            help_text=f"Id of the {name} to merge into this one; it is deleted once its records have moved.",
        )
        use_duplicate_values = serializers.ListField(
            child=serializers.ChoiceField(choices=fields),
            required=False,
            default=list,
            help_text="Fields whose value comes from the duplicate. Other fields keep this record's value, "
            "except that a blank here is filled from the duplicate.",
        )

        def validate(self, attrs):
            attrs["use_duplicate_values"] = list(dict.fromkeys(attrs["use_duplicate_values"]))
            return attrs

    MergeRequest.__name__ = f"{model.__name__}MergeRequest"
    return MergeRequest


ContactMergeRequest = merge_request_serializer(Contact, CONTACT_FIELDS, "contact")
AccountMergeRequest = merge_request_serializer(Account, ACCOUNT_FIELDS, "account")


class DuplicateContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "first_name", "last_name", "email", "phone", "phone_raw", "account", "created_at"]


class DuplicateGroupSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=["email", "phone", "name"], help_text="The first rule that found it."
    )
    reason = serializers.CharField()
    contacts = DuplicateContactSerializer(many=True)


def _merge_response_schema(name: str, serializer):
    return inline_serializer(
        name=f"{name}MergeResult",
        fields={
            name.lower(): serializer(),
            "merged": serializers.DictField(help_text="The record that went away (id, name, keys)."),
            "moved": serializers.DictField(
                child=serializers.IntegerField(), help_text="Rows moved, by kind."
            ),
        },
    )


def merge_into(viewset, request, *, request_class, service, label: str) -> Response:
    """``POST {id}/merge/``: merge the ``duplicate`` into the record of the URL."""
    survivor = viewset.get_object()
    data = request_class(data=request.data)
    data.is_valid(raise_exception=True)
    duplicate = data.validated_data["duplicate"]
    if duplicate.pk == survivor.pk:
        raise ValidationError({"duplicate": [f"A {label} cannot be merged with itself."]})
    # Named fields come from the duplicate; the others follow the service's default (this
    # record's value, a blank filled from the duplicate).
    keep = dict.fromkeys(data.validated_data["use_duplicate_values"], OTHER)
    try:
        result = service(survivor=survivor, other=duplicate, keep=keep, actor=request.user)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
    body = {
        label: viewset.get_serializer(result.survivor).data,
        "merged": result.merged,
        "moved": result.moved,
    }
    return Response(body, status=status.HTTP_200_OK)


def merge_schema(label: str, request_class, serializer_class):
    return extend_schema(
        summary=f"Merge a duplicate {label} into this one",
        request=request_class,
        responses={
            200: _merge_response_schema(label.capitalize(), serializer_class),
            400: OpenApiResponse(description="Bad input: each bad field named."),
            404: OpenApiResponse(description=f"No such {label}."),
        },
    )


def duplicates_response(viewset, request) -> Response:
    page = viewset.paginate_queryset(duplicate_groups())
    load_group_contacts(page)
    return viewset.get_paginated_response(DuplicateGroupSerializer(page, many=True).data)


duplicates_schema = extend_schema(
    summary="Groups of contacts that look like one person",
    description="Same email (ignoring case and +tags), same phone (ignoring formatting), or same name "
    "in the same account. Merge them with POST contacts/{id}/merge/.",
    responses=DuplicateGroupSerializer(many=True),
)
