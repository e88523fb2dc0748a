class DomainError(Exception):
    """A request the business rules refuse; the message is shown to the person as is."""


class IllegalTransition(DomainError):
    pass
