from django.urls import path

from sms import views
from sms.inbox import views as inbox_views
from sms.providers.twilio import webhooks

# The reply inbox, mounted at /inbox/ by config/urls.py.
inbox_urlpatterns = [
    path("", inbox_views.inbox_page, name="inbox"),
    path("queue/", inbox_views.inbox_queue, name="inbox_queue"),
    path("<int:pk>/messages/", inbox_views.inbox_messages, name="inbox_messages"),
    path("<int:pk>/reply/", inbox_views.inbox_reply, name="inbox_reply"),
    path("<int:pk>/assign/", inbox_views.inbox_assign, name="inbox_assign"),
    path("<int:pk>/unread/", inbox_views.inbox_mark_unread, name="inbox_mark_unread"),
    path("<int:pk>/resolve/", inbox_views.inbox_resolve, name="inbox_resolve"),
    path("<int:pk>/snooze/", inbox_views.inbox_snooze, name="inbox_snooze"),
    path("<int:pk>/relabel/", inbox_views.inbox_relabel, name="inbox_relabel"),
    path("<int:pk>/record-opt-out/", inbox_views.inbox_record_opt_out, name="inbox_record_opt_out"),
    path("<int:pk>/reverse-opt-out/", inbox_views.inbox_reverse_opt_out, name="inbox_reverse_opt_out"),
    path("<int:pk>/review/", inbox_views.inbox_review_decide, name="inbox_review_decide"),
    path("home-panel/", inbox_views.home_panel, name="sms_home_panel"),
]

urlpatterns = [
    path("contacts/<int:pk>/panel/", views.contact_panel, name="sms_contact_panel"),
    path("contacts/<int:pk>/thread/", views.contact_thread, name="sms_contact_thread"),
    path("contacts/<int:pk>/send/", views.contact_send, name="sms_contact_send"),
    path("contacts/<int:pk>/consent/", views.contact_consent, name="sms_contact_consent"),
    path("scheduled/<int:message_id>/cancel/", views.scheduled_cancel, name="sms_scheduled_cancel"),
    path("scheduled/<int:message_id>/edit/", views.scheduled_edit, name="sms_scheduled_edit"),
    path("media/<int:media_id>/", views.media_view, name="sms_media"),
    path("media/<int:media_id>/<str:token>/", views.media_signed, name="sms_media_signed"),
    path("twilio/inbound/", webhooks.inbound, name="twilio_inbound"),
    path("twilio/status/", webhooks.status, name="twilio_status"),
]
