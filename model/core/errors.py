"""Errors a user can fix: reported as one line naming the field, exit code 2, no traceback."""


class InputError(ValueError):
    """Bad input (parameter, scenario, design, path). The message names the field and the allowed range."""
