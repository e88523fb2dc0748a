"""Forms for the analysts' actions on the incident and task pages. They only collect input;
the views hand it to the services."""

from django import forms
from django.contrib.auth import get_user_model

from incidents.models import ResponseTask, SecurityIncident
from incidents.services import INCIDENT_TRANSITIONS, TASK_TRANSITIONS


def staff_users():
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


class IncidentTransitionForm(forms.Form):
    to_state = forms.ChoiceField(label="Move to")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Required to close or cancel.",
    )

    def __init__(self, *args, incident: SecurityIncident, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = INCIDENT_TRANSITIONS[incident.state]
        self.fields["to_state"].choices = [
            (value, label) for value, label in SecurityIncident.State.choices if value in allowed
        ]


class TaskTransitionForm(forms.Form):
    to_state = forms.ChoiceField(label="Move to")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, task: ResponseTask, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = TASK_TRANSITIONS[task.state]
        self.fields["to_state"].choices = [
            (value, label) for value, label in ResponseTask.State.choices if value in allowed
        ]


class NoteForm(forms.Form):
    text = forms.CharField(label="Work note", widget=forms.Textarea(attrs={"rows": 3}))


class TaskCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    assignee = forms.ModelChoiceField(queryset=staff_users(), required=False)
    due_at = forms.DateTimeField(
        label="Due",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class EvidenceForm(forms.Form):
    file = forms.FileField()
