from django.urls import path

from sms import views, webhooks

urlpatterns = [
    path("contacts/<int:pk>/panel/", views.contact_panel, name="sms_contact_panel"),
    path("contacts/<int:pk>/thread/", views.contact_thread, name="sms_contact_thread"),
    path("contacts/<int:pk>/send/", views.contact_send, name="sms_contact_send"),
    path("contacts/<int:pk>/consent/", views.contact_consent, name="sms_contact_consent"),
    path("twilio/inbound/", webhooks.inbound, name="twilio_inbound"),
    path("twilio/status/", webhooks.status, name="twilio_status"),
]
