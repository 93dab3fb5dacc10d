"""The years a run covers: ``--years A-B`` and ``[run] years`` as a pair (first, last)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from navsnap.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from navsnap.config import Config

__all__ = ["parse_years", "year_number", "year_span"]


def year_number(text: str) -> int:
    """'2027' -> 2027: ASCII digits only (blanks around them ignored). ValueError otherwise:
    ``int()`` alone also takes '２０２７' (full-width digits), '2_027' and '+2027'."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{text!r} is not a year")
    return int(digits)


def parse_years(text: str) -> tuple[int, int]:
    """'2025-2029' -> (2025, 2029); '2027' -> (2027, 2027). ASCII digits only."""
    raw = text.strip()
    first, sep, last = raw.partition("-")
    try:
        a = year_number(first)
        b = year_number(last) if sep else a
    except ValueError:
        raise UsageError(
            f"years {text!r} are not of the form A-B", hint="for example --years 2025-2029"
        ) from None
    if not (1 <= a <= 9999 and 1 <= b <= 9999):
        raise UsageError(f"years {text!r} are out of range", hint="use years 1-9999")
    if b < a:
        raise UsageError(
            f"years {text!r} run backwards", hint=f"write them in order: --years {b}-{a}"
        )
    return a, b


def year_span(years: str | tuple[int, int] | None, config: Config) -> tuple[int, int]:
    """``years`` as the API takes it (text, a pair or None for the config's) -> (first, last)."""
    if years is None:
        try:
            return parse_years(config.run.years)
        except UsageError as exc:  # the config's value, not an argument: name its key
            raise ConfigError(
                f"config key 'run.years': {exc.message}",
                key="run.years",
                hint="set it as 'A-B' in order within 1-9999, e.g. years = \"2025-2029\"",
            ) from None
    if isinstance(years, str):
        return parse_years(years)
    if (
        not isinstance(years, tuple | list)
        or len(years) != 2
        or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
    ):
        raise UsageError(
            f"years must be 'A-B' or a pair of years, not {years!r}",
            hint="pass years='2025-2029' or years=(2025, 2029)",
        )
    first, last = years
    return parse_years(f"{first}-{last}")
