"""The project's error for bad input: a user can fix it, so it is reported as one line, not a traceback.

Raise `UserError` when the input (a config field, a file, a flag, a work dir) is wrong, with a message that names the
input and the fix. Launchers catch it and print `error: <message>` with exit status 2 (see `datasynth.utils.cli`); any
other exception is a bug and keeps its traceback. It subclasses ValueError so callers that catch ValueError keep
working.
"""


class UserError(ValueError):
  """Bad input: the message names the input and what to do about it."""
