"""Errors a user can fix, and how the command lines report them.

`UserError` is bad input the user can correct: a missing or unreadable file, a config field with
a wrong value, a damaged checkpoint. Its message names the file, field or value and what was
expected. The command lines (`main`, `search`, `aggregate`, `regdb_trials`) print it as one
message and exit with status 2, without a traceback; every other exception keeps its traceback.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from absl import flags

EXIT_STATUS = 2


class UserError(ValueError):
  """Bad input, named in the message with what was expected."""


def problems_error(what: str, problems: Sequence[str]) -> UserError:
  """One UserError listing every problem found in `what` (e.g. "the config")."""
  if len(problems) == 1:
    return UserError(problems[0])
  return UserError(f"{len(problems)} problems in {what}:\n  " + "\n  ".join(problems))


def _exit(message: str) -> NoReturn:
  sys.stderr.write(f"error: {message}\n")
  sys.stderr.flush()
  raise SystemExit(EXIT_STATUS)


def reports_user_errors(main: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
  """Wraps an absl `main(argv)`: a UserError becomes `error: <message>` and exit status 2."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except UserError as e:
      _exit(str(e))

  return wrapped


def _last_traceback_line(message: str) -> str:
  """ml_collections puts a config file's whole traceback in its flag error: keep the exception line."""
  head, sep, tail = message.partition("Traceback (most recent call last):")
  if not sep:
    return message.strip()
  lines = [line.strip() for line in tail.strip().splitlines() if line.strip()]
  return f"{head.strip()} {lines[-1]}"


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing for the command lines, where a config file that fails to load or an
  override of a field the config does not have is one message (exit status 2), not a traceback."""
  try:
    remaining = flags.FLAGS(argv)
    if "config" in flags.FLAGS and flags.FLAGS.config is not None:
      flags.FLAGS.config.keys()  # a config file that failed to load raises here, not while parsing
    return remaining
  except flags.Error as e:
    _exit(_last_traceback_line(str(e)))
  except OSError as e:
    _exit(f"--config: {str(e).strip().splitlines()[-1].strip()}")
  except (AttributeError, KeyError) as e:
    while e.args and isinstance(e.args[0], BaseException):  # ml_collections wraps the KeyError
      e = e.args[0]
    first, _, hint = str(e.args[0] if e.args else e).partition("\n")  # "'margn'", "Did you mean ...?"
    field = first.strip("'\" ")
    named = [a.split("=")[0] for a in argv[1:] if re.match(rf"--config\.(.*\.)?{re.escape(field)}(\.|=|$)", a)]
    _exit(
        f"{', '.join(named) or '--config.*'}: the config has no field {field!r}{f' ({hint})' if hint else ''}; "
        "overrides can only set fields that the config file's get_config() defines."
    )
