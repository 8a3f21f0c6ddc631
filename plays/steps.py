"""A journey's definition: its ordered steps and play-level exits, how they are checked, and the
pure rules the engine applies to them (which variant a contact gets, when a wait ends).

Step objects (``../shared/API.md``, "Plays as journeys"):
``{"type": "send", "variants": [{"name": "A", "template": "...", "weight": 1}, ...]}``,
``{"type": "wait", "minutes" | "hours" | "days" | "business_hours": N}`` or
``{"type": "wait", "until": "weekday_morning", "hour": 9}``,
``{"type": "task", "title": "...", "assignee": "owner" | "manager"}``,
``{"type": "branch", "if": "replied" | "clicked" | "intent:<x>" | "event:<name>", "then": i, "else": j}``
(``else`` defaults to the next step; an index equal to the number of steps ends the journey).
Nothing here touches the database."""

import hashlib
import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError

from plays.templates import validate_template
from sms.inbox.business_hours import add_business_hours
from sms.models import Intent

MAX_STEPS = 30
MAX_VARIANTS = 5
WAIT_UNITS = {"minutes": 60 * 24 * 365, "hours": 24 * 365, "days": 365, "business_hours": 24 * 30}
WEEKDAY_MORNING = "weekday_morning"
DEFAULT_MORNING_HOUR = 9
ASSIGNEES = ("owner", "manager")
BRANCH_CONDITIONS = ("replied", "clicked", "intent:<intent>", "event:<name>")
EXITS = ("reply", "opt_out", "deal_opened", "event:<name>")
STEP_KEYS = {
    "send": {"type", "variants"},
    "wait": {"type", "until", "hour", *WAIT_UNITS},
    "task": {"type", "title", "assignee", "due_hours"},
    "branch": {"type", "if", "then", "else"},
}


def _event_name(value: str, prefix: str) -> str | None:
    if not value.startswith(prefix):
        return None
    name = value[len(prefix) :].strip()
    return name if name and len(name) <= 100 else ""


def validate_exit_on(exit_on) -> None:
    """A list of ``reply``, ``opt_out``, ``deal_opened``, ``event:<name>``."""
    if not isinstance(exit_on, list):
        raise ValidationError('`exit_on` is a list, e.g. ["reply", "opt_out"] ([] for none).')
    for item in exit_on:
        if not isinstance(item, str):
            raise ValidationError(f"Exit {item!r} is not text. Use: {', '.join(EXITS)}.")
        if item in ("reply", "opt_out", "deal_opened"):
            continue
        if _event_name(item, "event:"):
            continue
        raise ValidationError(f"Unknown exit {item!r}. Use: {', '.join(EXITS)}.")
    if len(set(exit_on)) != len(exit_on):
        raise ValidationError("`exit_on` lists an exit twice.")


def _positive_int(value, *, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit


def _check_send(step: dict, where: str) -> None:
    variants = step.get("variants")
    if not isinstance(variants, list) or not 1 <= len(variants) <= MAX_VARIANTS:
        raise ValidationError(f"{where}: `variants` is a list of 1 to {MAX_VARIANTS} variants.")
    names = set()
    for variant in variants:
        if not isinstance(variant, dict) or set(variant) - {"name", "template", "weight"}:
            raise ValidationError(f'{where}: each variant is {{"name", "template", "weight"}}.')
        name = variant.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 20:
            raise ValidationError(f"{where}: each variant needs a `name` of 1 to 20 characters.")
        if name in names:
            raise ValidationError(f"{where}: variant name {name!r} is used twice.")
        names.add(name)
        template = variant.get("template")
        if not isinstance(template, str) or not template.strip():
            raise ValidationError(f"{where}: variant {name!r} needs a `template`.")
        try:
            validate_template(template)
        except ValidationError as error:
            raise ValidationError(f"{where}: variant {name!r}: {' '.join(error.messages)}") from None
        weight = variant.get("weight", 1)
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise ValidationError(f"{where}: variant {name!r} needs a `weight` from 0 to 100.")
    if not any(variant.get("weight", 1) for variant in variants):
        raise ValidationError(f"{where}: at least one variant needs a weight above 0.")


def _check_wait(step: dict, where: str) -> None:
    units = [unit for unit in WAIT_UNITS if unit in step]
    if "until" in step:
        if units or step["until"] != WEEKDAY_MORNING:
            raise ValidationError(f'{where}: a wait is either `until: "{WEEKDAY_MORNING}"` or one duration.')
        hour = step.get("hour", DEFAULT_MORNING_HOUR)
        if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
            raise ValidationError(f"{where}: `hour` is the local hour the wait ends, 0 to 23.")
        return
    if "hour" in step:
        raise ValidationError(f'{where}: `hour` goes with `until: "{WEEKDAY_MORNING}"` only.')
    if len(units) != 1:
        raise ValidationError(
            f'{where}: a wait needs exactly one of {", ".join(WAIT_UNITS)} (or until: "{WEEKDAY_MORNING}").'
        )
    unit = units[0]
    if not _positive_int(step[unit], limit=WAIT_UNITS[unit]):
        raise ValidationError(f"{where}: `{unit}` must be a whole number from 1 to {WAIT_UNITS[unit]}.")


def _check_task(step: dict, where: str) -> None:
    title = step.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise ValidationError(f"{where}: a task needs a `title` of 1 to 200 characters.")
    if step.get("assignee", "owner") not in ASSIGNEES:
        raise ValidationError(f"{where}: `assignee` is one of {', '.join(ASSIGNEES)}.")
    if "due_hours" in step and not _positive_int(step["due_hours"], limit=24 * 90):
        raise ValidationError(f"{where}: `due_hours` must be a whole number from 1 to {24 * 90}.")


def _check_branch(step: dict, where: str, count: int) -> None:
    condition = step.get("if")
    valid = isinstance(condition, str) and (
        condition in ("replied", "clicked")
        or (_event_name(condition, "intent:") in Intent.values)
        or bool(_event_name(condition, "event:"))
    )
    if not valid:
        intents = ", ".join(f"intent:{value}" for value in Intent.values)
        raise ValidationError(
            f"{where}: unknown branch condition {condition!r}. "
            f"Use replied, clicked, event:<name> or {intents}."
        )
    for key in ("then", "else"):
        if key == "else" and key not in step:
            continue
        target = step.get(key)
        if not isinstance(target, int) or isinstance(target, bool):
            raise ValidationError(f"{where}: `{key}` is the index of a step (0 is the first).")
        if not 0 <= target <= count:
            raise ValidationError(
                f"{where}: `{key}` goes to step {target}, but the steps are numbered 0 to {count - 1} "
                f"({count} ends the journey)."
            )


def successors(steps: list[dict], index: int) -> list[int]:
    """Where a step may lead (an index equal to len(steps) is the end)."""
    step = steps[index]
    if step["type"] == "branch":
        return [step["then"], step.get("else", index + 1)]
    return [index + 1]


def _check_no_loop_without_wait(steps: list[dict]) -> None:
    """Every loop must pass a wait: otherwise an enrollment would run its loop forever at once."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done

    def visit(index: int, path: list[int]) -> None:
        if index >= len(steps) or steps[index]["type"] == "wait" or state.get(index) == 2:
            return
        if state.get(index) == 1:
            loop = [*path[path.index(index) :], index]
            raise ValidationError(
                f"Steps {' -> '.join(map(str, loop))} loop without a wait; put a wait in the loop."
            )
        state[index] = 1
        for target in successors(steps, index):
            visit(target, [*path, index])
        state[index] = 2

    for start in range(len(steps)):
        visit(start, [])


def validate_steps(steps) -> None:
    """The ordered steps of a journey ([] : one text from the play's template)."""
    if not isinstance(steps, list):
        raise ValidationError("`steps` is a list of step objects ([] for a one-text play).")
    if len(steps) > MAX_STEPS:
        raise ValidationError(f"A journey has at most {MAX_STEPS} steps.")
    for index, step in enumerate(steps):
        where = f"Step {index}"
        if not isinstance(step, dict):
            raise ValidationError(f"{where} is not an object.")
        kind = step.get("type")
        if kind not in STEP_KEYS:
            raise ValidationError(f"{where}: unknown type {kind!r}. Use: {', '.join(STEP_KEYS)}.")
        unknown = sorted(set(step) - STEP_KEYS[kind])
        if unknown:
            raise ValidationError(f"{where}: unknown key(s) {', '.join(unknown)} for a {kind} step.")
        if kind == "send":
            _check_send(step, where)
        elif kind == "wait":
            _check_wait(step, where)
        elif kind == "task":
            _check_task(step, where)
        else:
            _check_branch(step, where, len(steps))
    if steps and not any(step["type"] == "send" for step in steps):
        raise ValidationError("A journey needs at least one send step.")
    _check_no_loop_without_wait(steps)


def steps_renumbered(steps: list[dict], order: list[int]) -> list[dict]:
    """The steps in a new order (``order[new] = old index``, some old indices possibly left out),
    with every branch target following its step. A branch to a step that is left out raises a
    ValidationError naming it."""
    new_index = {old: new for new, old in enumerate(order)}
    new_index[len(steps)] = len(order)  # the end stays the end
    renumbered = []
    for new, old in enumerate(order):
        step = dict(steps[old])
        if step.get("type") == "branch":
            for key in ("then", "else"):
                # An implicit else is the old next step, which keeps pointing at that step.
                target = step[key] if key in step else old + 1
                if target not in new_index:
                    raise ValidationError(f"Step {new} branches to the step being removed; change it first.")
                if key in step or new_index[target] != new + 1:
                    step[key] = new_index[target]
        renumbered.append(step)
    return renumbered


def templates_of(steps: list[dict]) -> list[str]:
    return [variant["template"] for step in steps if step["type"] == "send" for variant in step["variants"]]


# --- Variants -------------------------------------------------------------------------------


def variant_for(play_id: int, step_index: int, contact_id: int, variants: list[dict]) -> str:
    """The contact's variant of a send step, by weight: stable across runs and machines (a hash
    of play, step and contact), independent of the holdout split's hash."""
    weights = [max(int(variant.get("weight", 1)), 0) for variant in variants]
    total = sum(weights)
    digest = hashlib.sha256(f"play:{play_id}:step:{step_index}:variant:{contact_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for variant, weight in zip(variants, weights, strict=True):
        if point < weight:
            return variant["name"]
        point -= weight
    raise AssertionError("unreachable: the weights add up to total")


def rotated(assigned: str, variants: list[dict], used: set[str]) -> str | None:
    """The variant to send given those the contact got recently: the assigned one unless used,
    else the next unused one in the step's order (weight 0 ones included: rotation is about not
    repeating a text, not about the split); None when every variant was used."""
    names = [variant["name"] for variant in variants]
    if assigned not in used:
        return assigned
    start = names.index(assigned) if assigned in names else 0
    for offset in range(1, len(names)):
        candidate = names[(start + offset) % len(names)]
        if candidate not in used:
            return candidate
    return None


def first_variant_step(steps: list[dict]) -> int | None:
    """The index of the journey's first send step: its variant is the enrollment's ``variant``,
    the split that per-variant results compare."""
    return next((index for index, step in enumerate(steps) if step["type"] == "send"), None)


# --- Waits ----------------------------------------------------------------------------------


def next_weekday_morning(
    after: datetime, tz: zoneinfo.ZoneInfo, hour: int = DEFAULT_MORNING_HOUR
) -> datetime:
    """The first Monday-Friday ``hour``:00 local time strictly after ``after``, as aware UTC."""
    local = after.astimezone(tz)
    day = local.date()
    while True:
        moment = datetime.combine(day, time(hour), tzinfo=tz)
        if day.weekday() < 5 and moment > local:
            return moment.astimezone(UTC)
        day += timedelta(days=1)


def wait_ends(
    step: dict,
    start: datetime,
    *,
    contact_tz: zoneinfo.ZoneInfo,
    team_tz: zoneinfo.ZoneInfo,
    open_hour: int,
    close_hour: int,
    workdays: frozenset[int],
) -> datetime:
    """When a wait that began at ``start`` ends. Weekday mornings are the contact's; business
    hours are the team's (the owner's time zone when set), as the inbox's SLAs count them."""
    if step.get("until") == WEEKDAY_MORNING:
        return next_weekday_morning(start, contact_tz, step.get("hour", DEFAULT_MORNING_HOUR))
    if "business_hours" in step:
        return add_business_hours(
            start,
            step["business_hours"],
            team_tz,
            open_hour=open_hour,
            close_hour=close_hour,
            workdays=workdays,
        )
    for unit in ("minutes", "hours", "days"):
        if unit in step:
            return start + timedelta(**{unit: step[unit]})
    raise ValueError(f"not a wait step: {step!r}")


def describe_step(step: dict) -> str:
    """One line for the play page and the editor's summary."""
    kind = step.get("type")
    if kind == "send":
        names = ", ".join(f"{v['name']} ({v.get('weight', 1)})" for v in step["variants"])
        return f"Send a text (variants: {names})" if len(step["variants"]) > 1 else "Send a text"
    if kind == "wait":
        if step.get("until") == WEEKDAY_MORNING:
            return f"Wait until the next weekday {step.get('hour', DEFAULT_MORNING_HOUR)}:00, contact's time"
        unit = next(unit for unit in WAIT_UNITS if unit in step)
        return f"Wait {step[unit]} {unit.replace('_', ' ')}"
    if kind == "task":
        return f"Task for the {step.get('assignee', 'owner')}: {step['title']}"
    if kind == "branch":
        return f"If {step['if']}: go to step {step['then']}, else step {step.get('else', 'next')}"
    return str(kind)
