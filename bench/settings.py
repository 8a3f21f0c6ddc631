"""The product's settings (config.settings, read from the environment as in production) with
the benchmark-only overrides that cannot be set through the environment. Used by the outbox
and webhook scenarios for their own processes and for the qcluster / gunicorn they start."""

import os as _os

from config.settings import *  # noqa: F403 - the product's settings, unchanged but for below

# The console provider stands in for the carrier: after each send it queues a task that sleeps
# 2-3 s and then reports 'delivered' (so a person sees queued -> sent -> delivered). That sleep
# holds a worker, so with it two workers deliver under one text a second whatever the product
# does. Twilio's real status callbacks arrive over HTTP (scenario 3), not on the workers; the
# benchmark keeps the playback task and its status update but drops the sleep.
SMS_CONSOLE_DELIVERY_DELAY = (0.0, 0.0)

# A queue of the run's own: the Redis broker's list is named after the cluster, so two benchmark
# runs at once (on one Redis database) would otherwise take each other's tasks.
Q_CLUSTER = {**Q_CLUSTER, "name": _os.environ.get("BENCH_QUEUE", Q_CLUSTER["name"])}  # noqa: F405
