"""HTML pages of the CRM."""

from django.urls import path

from crm.views import accounts, contacts, dashboard, deals, renewals, tasks, tokens

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("accounts/", accounts.account_list, name="account_list"),
    path("accounts/new/", accounts.account_create, name="account_create"),
    path("accounts/<int:pk>/", accounts.account_detail, name="account_detail"),
    path("accounts/<int:pk>/edit/", accounts.account_edit, name="account_edit"),
    path("accounts/<int:pk>/touch/", accounts.account_log_touch, name="account_log_touch"),
    path("contacts/", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/<int:pk>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/touch/", contacts.contact_log_touch, name="contact_log_touch"),
    path("deals/", deals.deal_board, name="deal_board"),
    path("deals/new/", deals.deal_create, name="deal_create"),
    path("deals/<int:pk>/edit/", deals.deal_edit, name="deal_edit"),
    path("deals/<int:pk>/move/", deals.deal_move, name="deal_move"),
    path("renewals/", renewals.renewal_list, name="renewal_list"),
    path("renewals/new/", renewals.renewal_create, name="renewal_create"),
    path("renewals/<int:pk>/edit/", renewals.renewal_edit, name="renewal_edit"),
    path("tasks/", tasks.task_list, name="task_list"),
    path("tasks/new/", tasks.task_create, name="task_create"),
    path("tasks/<int:pk>/edit/", tasks.task_edit, name="task_edit"),
    path("tasks/<int:pk>/done/", tasks.task_done, name="task_done"),
    path("settings/api-tokens/", tokens.api_tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", tokens.api_token_revoke, name="api_token_revoke"),
]
