"""Names of the groups the seed migration creates; permissions follow them."""

SOC_ANALYST = "SOC analyst"
RUNBOOK_AUTHOR = "Runbook author"
