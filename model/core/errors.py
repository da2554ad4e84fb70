"""Errors a user can fix: reported as one line naming the field, exit code 2, no traceback."""


class InputError(ValueError):
    """Bad input (parameter, scenario, design, path). The message names the field and the allowed range."""


class InputWarning(UserWarning):
    """Input that is accepted but may not mean what the user intends; the message says what will happen."""
