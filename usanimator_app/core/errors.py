"""Errors that carry a message meant for the user (the CLI prints it as one line and exits 2)."""


class UserInputError(Exception):
    """Bad input from the user: an unreadable file, an incompatible checkpoint, a wrong option.

    The message names the file (when there is one) and the problem, in one human line.
    """
