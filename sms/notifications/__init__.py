"""Telling users what needs them: in the app (the bell, ``notifications/`` in the API) and by
email for those who opted in. ``services`` writes, in bulk and at most once per occurrence."""
