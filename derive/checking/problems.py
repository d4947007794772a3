"""What can go wrong while checking one equation, as exceptions the orchestrator turns into verdicts."""


class Wrong(Exception):
    """The equation is readable but incorrect; the message says why."""


class Unreadable(Exception):
    """The equation cannot be checked (parse error, limit exceeded); the message says why."""


class Undefined(Exception):
    """A side has no real value at this point (log of a negative number, overflow)."""
