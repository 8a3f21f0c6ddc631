"""A delivery worker in a process of its own, for the crash-recovery fault test: it runs the
production delivery task (``sms.tasks.deliver_messages``) on the batches it is given, against
the database, cache and provider its environment names, on a clock the test controls.

    python -m tests.sms.delivery_worker CLOCK LAUNCHED STEPS_JSON

CLOCK is the test's clock (ISO) when it launched the worker at LAUNCHED (``time.monotonic()``,
which no clock travel moves and every process on the machine shares): the worker's clock runs
on from there, so it agrees with the test's. STEPS_JSON is a list of ``{"after": seconds,
"tasks": [[id, ...], ...]}``: each step runs its delivery tasks, one after the other, ``after``
seconds past CLOCK (or at once, if the clock is already past that).
Prints one JSON line per task: its results and the clock when it finished."""

import json
import sys
import time
from datetime import datetime, timedelta

import time_machine


def main(clock: str, launched: str, steps: str) -> None:
    import django

    django.setup()
    from django.core.cache import cache
    from django.utils import timezone

    from sms import tasks

    start = datetime.fromisoformat(clock)
    for step in json.loads(steps):
        running = time.monotonic() - float(launched)
        with time_machine.travel(start + timedelta(seconds=max(step["after"], running)), tick=True):
            # Steps are further apart on this clock than the recovery interval, but the cache's
            # expiry (Redis) runs on the real one: the interval has passed, so forget it.
            cache.delete(tasks.RECOVERY_KEY)
            for message_ids in step["tasks"]:
                results = tasks.deliver_messages(message_ids)
                print(json.dumps({"results": results, "finished_at": timezone.now().isoformat()}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
