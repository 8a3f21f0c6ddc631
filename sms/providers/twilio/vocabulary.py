"""Twilio's status and error vocabulary: what its status callbacks and error codes mean to us."""

from sms.models import MessageStatus

# Twilio's statuses onto ours. Intermediate provider states below 'sent' add nothing.
PROVIDER_STATUS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}

# The recipient texted STOP to the sender: Twilio refuses the send, and we record the opt-out.
UNSUBSCRIBED_CODE = "21610"

# Errors that will not go away by trying again.
PERMANENT_CODES = {
    "21211",  # invalid 'To' number
    "21408",  # region not enabled
    "21602",  # body required
    "21606",  # 'From' number not capable
    UNSUBSCRIBED_CODE,  # recipient unsubscribed (STOP)
    "21612",  # cannot route to this number
    "21614",  # 'To' is not a mobile number
    "21617",  # body too long
    "21635",  # 'To' is a landline
    "30004",  # message blocked
    "30005",  # unknown destination
    "30006",  # landline or unreachable carrier
    "30007",  # carrier filtering
}
# Rejected before anything was sent: safe to send again.
RETRYABLE_CODES = {"20429", "20503"}
RETRYABLE_STATUS = {401, 403, 429, 503}
