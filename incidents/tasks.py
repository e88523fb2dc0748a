"""django-q2 entry points for the incident record."""

from incidents.timeline import timeline_sweep


def sweep_timeline() -> int:
    return timeline_sweep()
