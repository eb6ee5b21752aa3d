"""Errors meant for the user: each message is one line that says what was wrong."""


class UserError(Exception):
    """Bad input from the user: the CLI prints the message and exits with 2."""


class InputError(UserError, ValueError):
    """Input (text, frames, options) that does not fit the model."""


class ModelFileError(UserError):
    """A weights file that cannot be read as a model: names the file and the key."""


def inert(text: str) -> str:
    """Text for a one-line message: control characters and escapes shown, never obeyed."""
    return text if text.isprintable() else repr(text)[1:-1]
