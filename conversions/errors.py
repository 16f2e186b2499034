from core.errors import ConflictError, DomainError, NotFoundError


class ConversionInvalid(DomainError):
    """Bad input for a conversion; `fields` names what is wrong."""

    code = "invalid"


class ConversionNotFound(NotFoundError):
    """An offer, click or conversion the caller does not own, or that does not exist."""


class ConversionTransitionNotAllowed(ConflictError):
    code = "transition_not_allowed"


class UnknownClick(ConversionInvalid):
    """A click id that no click has (input error, 400); another advertiser's click is a 404 instead."""
