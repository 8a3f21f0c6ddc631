from django.urls import path

from webhooks import views

urlpatterns = [
    path("", views.endpoint_list, name="webhook_endpoints"),
    path("<int:pk>/", views.endpoint_detail, name="webhook_endpoint"),
    path("<int:pk>/toggle/", views.endpoint_toggle, name="webhook_endpoint_toggle"),
    path("<int:pk>/rotate-secret/", views.endpoint_rotate_secret, name="webhook_endpoint_rotate_secret"),
    path(
        "<int:pk>/deliveries/<int:delivery_id>/replay/", views.delivery_replay, name="webhook_delivery_replay"
    ),
]
