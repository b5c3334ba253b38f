"""Settings from the environment: the one typed parser every read in eventcapture/settings.py goes through.

django-environ reads the values (the process environment, then the project's ``.env``, which
settings loads first; a plain value ``$OTHER`` is another variable's, as django-environ has it) and
parses database URLs. This module turns the values into what the settings need and refuses what
does not parse, where django-environ alone would guess (``DEBUG=maybe`` is false to it, ``5s`` is
5.0): an ``ImproperlyConfigured`` that names the variable, the value given and what it accepts,
raised while the settings load, so a process with a mistyped setting never starts.

An empty or blank value is an unset one (the default applies), except for text settings, where
empty is a value. Secrets (``secret``) are read literally, or from the file ``<name>_FILE`` names,
and never repeated in an error.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
BOOLEAN_ACCEPTS = "true, false, 1, 0, yes or no (any case)"


def invalid(name: str, given: str, accepts: str) -> ImproperlyConfigured:
    """The error of a value that does not parse: the variable, the value given and what it accepts."""
    return ImproperlyConfigured(f"{name} must be {accepts}, got {given!r}.")


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" of at least {minimum}"
    if maximum is not None:
        return f" of at most {maximum}"
    return ""


def ip_network_check(entry: str) -> None:
    """An address or network (CIDR) as TRUSTED_PROXIES lists them (eventcapture/client_address.py
    reads them so: a bare address is a /32 or /128, host bits allowed); raises ValueError."""
    ipaddress.ip_network(entry, strict=False)


class Env:
    """Typed reads of the environment; each raises ``ImproperlyConfigured`` on a value it cannot parse."""

    def __init__(self, reader: Any = None) -> None:
        self._reader = reader if reader is not None else environ.Env()

    # --- The values as given ------------------------------------------------------------------------

    def raw(self, name: str) -> str | None:
        """The value exactly as the environment holds it, or None when it is unset."""
        value = self._reader.ENVIRON.get(name)
        return None if value is None else str(value)

    def _given(self, name: str) -> str | None:
        """The value (a ``$OTHER`` reference resolved by django-environ), or None when unset or blank."""
        if name not in self._reader.ENVIRON:
            return None
        value = str(self._reader.str(name))
        return value if value.strip() else None

    # --- Text ---------------------------------------------------------------------------------------

    def text(self, name: str, default: str) -> str:
        """Text, as given (empty is a value)."""
        if name not in self._reader.ENVIRON:
            return default
        return str(self._reader.str(name))

    def choice(self, name: str, default: str, choices: Sequence[str], *, case: Callable[[str], str] = str.lower) -> str:
        """One of ``choices``, compared after blanks are dropped and ``case`` (lower or upper) applied."""
        given = self._given(name)
        if given is None:
            return default
        value = case(given.strip())
        if value not in choices:
            raise invalid(name, given, f"one of {', '.join(choices)}")
        return value

    def matching(self, name: str, default: str, pattern: re.Pattern[str], *, accepts: str) -> str:
        """Text that ``pattern`` matches in full (blanks around it dropped)."""
        given = self._given(name)
        if given is None:
            return default
        if not pattern.fullmatch(given.strip()):
            raise invalid(name, given, accepts)
        return given.strip()

    def path(self, name: str, default: Path) -> Path:
        given = self._given(name)
        return default if given is None else Path(given.strip())

    # --- Booleans and numbers -----------------------------------------------------------------------

    def boolean(self, name: str, default: bool) -> bool:
        """Only true/false, 1/0 or yes/no, in any case: anything else is a mistake, not false."""
        given = self._given(name)
        if given is None:
            return default
        try:
            return BOOLEAN_WORDS[given.strip().lower()]
        except KeyError:
            raise invalid(name, given, BOOLEAN_ACCEPTS) from None

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.optional_integer(name, minimum=minimum, maximum=maximum)
        return default if value is None else value

    def optional_integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
        """An integer, or None when unset."""
        given = self._given(name)
        if given is None:
            return None
        try:
            value = int(given.strip())
        except ValueError:
            raise invalid(name, given, f"an integer{_range(minimum, maximum)}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise invalid(name, given, f"an integer{_range(minimum, maximum)}")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        """A finite decimal number (``2``, ``0.5``, ``1e3``)."""
        given = self._given(name)
        if given is None:
            return default
        accepts = f"a number{_range(minimum, None)}"
        try:
            value = float(given.strip())
        except ValueError:
            raise invalid(name, given, accepts) from None
        if not math.isfinite(value) or (minimum is not None and value < minimum):
            raise invalid(name, given, accepts)
        return value

    def duration(self, name: str, default: float, *, unit: str = "seconds", zero: bool = False) -> float:
        """A length of time in ``unit`` (the variable's name says which): a finite number greater
        than 0, or also 0 when ``zero`` (which then means "at once" or "never", as documented)."""
        given = self._given(name)
        if given is None:
            return default
        accepts = f"0 or a positive number of {unit}" if zero else f"a positive number of {unit}"
        try:
            value = float(given.strip())
        except ValueError:
            raise invalid(name, given, accepts) from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise invalid(name, given, accepts)
        return value

    # --- Lists --------------------------------------------------------------------------------------

    def text_list(
        self,
        name: str,
        default: list[str],
        *,
        item: Callable[[str], object] | None = None,
        items: str = "values",
    ) -> list[str]:
        """Comma-separated values, blanks around each dropped, empty ones skipped. ``item`` checks
        each (raising ValueError); ``items`` says what they are, for the error."""
        given = self._given(name)
        if given is None:
            return list(default)
        values = [part.strip() for part in given.split(",") if part.strip()]
        if item is not None:
            for value in values:
                try:
                    item(value)
                except ValueError:
                    raise ImproperlyConfigured(
                        f"{name} must be comma-separated {items}, got {given!r}: {value!r} is not one."
                    ) from None
        return values

    def pattern_list(self, name: str, default: list[str]) -> list[str]:
        """Regular expressions: a JSON array of strings, or comma-separated (then holding no commas)."""
        given = self._given(name)
        if given is None:
            return list(default)
        accepts = "regular expressions, comma-separated or as a JSON array of strings"
        raw = given.strip()
        if raw.startswith("["):
            try:
                patterns = json.loads(raw)
            except json.JSONDecodeError:
                raise invalid(name, given, accepts) from None
        else:
            patterns = [part.strip() for part in raw.split(",")]
        if not isinstance(patterns, list) or not all(isinstance(pattern, str) and pattern for pattern in patterns):
            raise invalid(name, given, f"non-empty {accepts}")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ImproperlyConfigured(
                    f"{name} must be {accepts}, got {given!r}: {pattern!r} is not a regular expression ({exc})."
                ) from None
        return list(patterns)

    # --- Secrets ------------------------------------------------------------------------------------

    def secret(self, name: str, default: str = "") -> str:
        """A secret from the environment, read literally (django-environ would take a leading ``$``
        for a reference to another variable), or from the file ``<name>_FILE`` names (a mounted
        secret; one trailing line break dropped). Both set is an error."""
        path = self._reader.ENVIRON.get(f"{name}_FILE", "")
        if path:
            if self._reader.ENVIRON.get(name):
                raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE names a file that cannot be read: {exc.strerror}") from exc
            return text.removesuffix("\n").removesuffix("\r")
        return str(self._reader.ENVIRON.get(name, default))

    def secret_list(self, name: str) -> list[str]:
        """Secrets separated by commas or line breaks (a file: one a line), blanks around each dropped."""
        return [part.strip() for part in re.split(r"[,\r\n]", self.secret(name)) if part.strip()]

    def database(self, name: str, default: str) -> dict[str, Any]:
        """Django's DATABASES entry from a database URL (a secret: it may hold a password, so an
        error names the variable and what it accepts, not the value)."""
        url = self.secret(name, default)
        error = ImproperlyConfigured(
            f"{name} must be a database URL such as postgres://user:password@host:5432/name or "
            "sqlite:////absolute/path.sqlite3; the value given is not one (not repeated here: it is a secret)."
        )
        try:
            with warnings.catch_warnings():
                # django-environ warns of a URL it cannot read, repeating its parts, password included.
                warnings.simplefilter("ignore")
                config: dict[str, Any] = environ.Env.db_url_config(url)
        except (KeyError, ValueError, TypeError):
            raise error from None
        # A URL without a scheme it knows gives no engine, or the scheme for one.
        if config.get("ENGINE") not in set(environ.Env.DB_SCHEMES.values()):
            raise error
        return config
