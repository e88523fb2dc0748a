"""The analysts' workplace. Pages read freely; every change is handed to a service, and a
refused change (DomainError) comes back as an admin message, never a 500.

One module per part of the case record, each registering its model admins:
    directory   people and configuration items (with their CSV import pages)
    category    incident categories
    incident    incidents, their page with the timeline and action forms, their tasks inline
    task        response tasks
    evidence    evidence, read-only, with its download and preview
    timeline    the timeline of every incident, read-only

and what they use:
    search      record numbers and email addresses searched through an index
    csv_import  the "Import CSV" page of the directory admins
    panels      the panels higher layers add to the incident page (INCIDENT_PAGE_PANELS)
    list_filters  the filters behind the dashboard's figures (open, overdue)
"""

from incidents.admin import category, directory, evidence, incident, task, timeline

__all__ = ["category", "directory", "evidence", "incident", "task", "timeline"]
