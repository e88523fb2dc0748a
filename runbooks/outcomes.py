"""The outcomes a run can be resumed with besides an option key of its question."""

UNRECOGNISED = "unrecognised"
NO_ANSWER = "no_answer"
UNDELIVERABLE = "undeliverable"
# Every question email also offers "this email looks suspicious to me", so a person who
# distrusts the email reaches the SOC; runbooks can branch on it like on an option.
SUSPICIOUS = "suspicious"
# The step had nobody to ask (the person has no manager in the directory); the run goes
# on at once.
NO_TARGET = "no_target"
# The person's automatic reply says they are away for longer than the step waits.
OUT_OF_OFFICE = "out_of_office"
SPECIAL_OUTCOMES = (UNRECOGNISED, NO_ANSWER, UNDELIVERABLE, SUSPICIOUS, NO_TARGET, OUT_OF_OFFICE)
