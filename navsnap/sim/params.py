"""Parameters of the built-in workforce and retirement-plan simulation.

``SimulationParams`` is the ``[simulation]`` section of ``navsnap.toml``; its nested
dataclasses are the tables ``[simulation.census]``, ``[simulation.workforce]``,
``[simulation.compensation]``, ``[simulation.plan]`` and ``[simulation.irs]``. The generic
loader in :mod:`navsnap.config` checks types and the inclusive ``min``/``max`` of every scalar
field from its metadata; :meth:`SimulationParams.validate` checks what metadata cannot say
(list lengths and item ranges, mixes that must sum to one, orderings between fields).

Every value ends up in an exact ``DECIMAL`` column, so rates may carry at most four decimal
places and money amounts at most two: ``0.035`` is a rate, ``0.03125`` is rejected rather than
silently rounded.

Metadata keys: ``doc`` (one line), ``min``/``max`` (inclusive), and ``unit`` for floats:
``"rate"`` (stored as ``DECIMAL(7,4)``) or ``"money"`` (``DECIMAL(18,2)``).
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "LEVELS",
    "CensusParams",
    "CompensationParams",
    "IrsParams",
    "ParamDoc",
    "PlanParams",
    "SimulationParams",
    "WorkforceParams",
    "iter_param_docs",
    "to_decimal",
]

#: Job levels are fixed: 1 (entry) to 5 (executive). Per-level lists have exactly this length.
LEVELS = 5


def _meta(doc: str, **extra: Any) -> dict[str, Any]:
    return {"doc": doc, **extra}


def _rate(default: float, doc: str, lo: float = 0.0, hi: float = 1.0) -> Any:
    return field(default=default, metadata=_meta(doc, min=lo, max=hi, unit="rate"))


def _money(default: float, doc: str, lo: float = 0.0, hi: float = 100_000_000.0) -> Any:
    return field(default=default, metadata=_meta(doc, min=lo, max=hi, unit="money"))


def _int(default: int, doc: str, lo: int, hi: int) -> Any:
    return field(default=default, metadata=_meta(doc, min=lo, max=hi))


def to_decimal(value: float | int, places: int) -> Decimal:
    """``value`` as an exact Decimal with ``places`` decimals; ValueError if it needs more."""
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    quantum = Decimal(1).scaleb(-places)
    quantized = exact.quantize(quantum)
    if quantized != exact:
        raise ValueError(f"{value!r} has more than {places} decimal places")
    return quantized


@dataclass(frozen=True)
class CensusParams:
    """``[simulation.census]``: the starting population, generated on the first simulated year."""

    level_mix: list[float] = field(
        default_factory=lambda: [0.40, 0.28, 0.18, 0.10, 0.04],
        metadata=_meta("Share of census employees at levels 1-5 (sums to 1).", unit="rate"),
    )
    min_age: int = _int(22, "Youngest census employee (age on the census date).", 16, 80)
    max_age: int = _int(64, "Oldest census employee (age on the census date).", 16, 80)
    max_tenure_years: int = _int(30, "Longest census tenure; tenure is skewed short.", 0, 60)
    participation_rate: float = _rate(
        0.75, "Share of eligible census employees already enrolled in the plan."
    )
    min_deferral_rate: float = _rate(0.02, "Lowest deferral rate of enrolled census employees.")
    max_deferral_rate: float = _rate(0.10, "Highest deferral rate of enrolled census employees.")


@dataclass(frozen=True)
class WorkforceParams:
    """``[simulation.workforce]``: terminations and hiring."""

    growth_rate: float = _rate(
        0.03, "Target headcount growth per year (active at year end over active at start).", -0.5
    )
    tenure_band_edges: list[int] = field(
        default_factory=lambda: [1, 3, 5, 10],
        metadata=_meta("Tenure band boundaries in whole years, strictly increasing."),
    )
    termination_rates: list[float] = field(
        default_factory=lambda: [0.18, 0.13, 0.10, 0.08, 0.05],
        metadata=_meta(
            "Base termination rate per tenure band (one more entry than tenure_band_edges).",
            unit="rate",
        ),
    )
    level_termination_multipliers: list[float] = field(
        default_factory=lambda: [1.10, 1.00, 0.90, 0.80, 0.70],
        metadata=_meta(
            "Multiplier of the termination rate for levels 1-5 (product capped at 1).", unit="rate"
        ),
    )
    new_hire_termination_rate: float = _rate(
        0.25, "Share of the year's hires who leave in the same year.", 0.0, 0.9
    )
    hire_level_mix: list[float] = field(
        default_factory=lambda: [0.55, 0.25, 0.12, 0.06, 0.02],
        metadata=_meta("Share of new hires at levels 1-5 (sums to 1).", unit="rate"),
    )
    new_hire_min_age: int = _int(22, "Youngest age at hire.", 16, 80)
    new_hire_max_age: int = _int(55, "Oldest age at hire.", 16, 80)


@dataclass(frozen=True)
class CompensationParams:
    """``[simulation.compensation]``: salaries, promotions, merit raises and COLA."""

    salary_by_level: list[float] = field(
        default_factory=lambda: [55_000.0, 75_000.0, 100_000.0, 140_000.0, 200_000.0],
        metadata=_meta("Salary range midpoint for levels 1-5.", unit="money"),
    )
    salary_spread: float = _rate(
        0.20, "Half-width of each salary range as a share of its midpoint.", 0.0, 0.9
    )
    merit_by_level: list[float] = field(
        default_factory=lambda: [0.035, 0.030, 0.030, 0.025, 0.025],
        metadata=_meta("Merit raise for levels 1-5.", unit="rate"),
    )
    cola_rate: float = _rate(0.02, "Cost-of-living raise added to every merit raise.", 0.0, 0.2)
    promotion_rate_by_level: list[float] = field(
        default_factory=lambda: [0.12, 0.09, 0.06, 0.04, 0.0],
        metadata=_meta(
            "Yearly promotion probability for levels 1-5 (level 5 cannot be promoted).", unit="rate"
        ),
    )
    promotion_increase: float = _rate(
        0.10, "Raise on promotion (at least the next level's range minimum).", 0.0, 1.0
    )
    promotion_min_tenure_years: int = _int(1, "Tenure needed to be promoted.", 0, 50)
    promotion_month: int = _int(2, "Promotions take effect on the 1st of this month.", 1, 12)
    merit_month: int = _int(4, "Merit raises and COLA take effect on the 1st of this month.", 1, 12)


@dataclass(frozen=True)
class PlanParams:
    """``[simulation.plan]``: eligibility, enrollment, escalation and employer contributions."""

    eligibility_waiting_days: int = _int(90, "Days from hire to plan eligibility.", 0, 730)
    auto_enroll: bool = field(
        default=True, metadata=_meta("Auto-enroll employees when they become eligible.")
    )
    auto_enroll_deferral_rate: float = _rate(0.03, "Deferral rate of auto-enrolled employees.")
    opt_out_rate: float = _rate(0.10, "Share of auto-enrolled employees who opt out.")
    voluntary_enrollment_rate: float = _rate(
        0.05, "Yearly share of eligible, unenrolled employees who enroll themselves."
    )
    voluntary_deferral_rate: float = _rate(0.06, "Deferral rate chosen by voluntary enrollees.")
    auto_escalation: bool = field(
        default=True, metadata=_meta("Raise participants' deferral rates every January 1st.")
    )
    escalation_increment: float = _rate(0.01, "Yearly deferral rate increase.", 0.0, 0.2)
    escalation_cap: float = _rate(0.10, "Escalation stops at this deferral rate.")
    match_tier_ceilings: list[float] = field(
        default_factory=lambda: [0.03, 0.05],
        metadata=_meta(
            "Upper end of each match tier as a deferral rate, strictly increasing.", unit="rate"
        ),
    )
    match_tier_rates: list[float] = field(
        default_factory=lambda: [1.0, 0.5],
        metadata=_meta("Employer match per dollar deferred within each tier.", unit="rate"),
    )
    core_contribution_rate: float = _rate(
        0.02, "Employer non-elective contribution on eligible compensation.", 0.0, 0.25
    )
    catch_up_age: int = _int(50, "Age (reached by December 31st) that allows catch-up.", 0, 120)


@dataclass(frozen=True)
class IrsParams:
    """``[simulation.irs]``: IRS limits, indexed from a base year."""

    base_year: int = _int(2025, "Year the limits below apply to.", 1950, 2200)
    elective_deferral_limit: float = _money(23_500.0, "402(g) elective deferral limit.", 1.0)
    catch_up_limit: float = _money(7_500.0, "Catch-up limit from catch_up_age.")
    compensation_limit: float = _money(350_000.0, "401(a)(17) compensation limit.", 1.0)
    indexing_rate: float = _rate(
        0.025, "Yearly indexing; limits round down to $500 ($5,000 for compensation).", 0.0, 0.2
    )


@dataclass(frozen=True)
class SimulationParams:
    """``[simulation]``: everything that shapes the simulated tables (the seed is run.seed)."""

    employees: int = _int(10_000, "Employees in the generated census.", 1, 10_000_000)
    census: CensusParams = field(
        default_factory=CensusParams, metadata=_meta("The generated starting population.")
    )
    workforce: WorkforceParams = field(
        default_factory=WorkforceParams, metadata=_meta("Terminations and hiring.")
    )
    compensation: CompensationParams = field(
        default_factory=CompensationParams, metadata=_meta("Salaries and raises.")
    )
    plan: PlanParams = field(default_factory=PlanParams, metadata=_meta("The retirement plan."))
    irs: IrsParams = field(default_factory=IrsParams, metadata=_meta("IRS limits."))

    def validate(self) -> None:
        """Raise ValueError for rules the per-field metadata cannot express."""
        for doc in iter_param_docs(self):
            _check_precision(doc.key, doc.value, doc.unit)
            if isinstance(doc.value, (int, float)) and not isinstance(doc.value, bool):
                _check_range(doc.key, doc.value, doc.min, doc.max)
        c, w, comp, plan = self.census, self.workforce, self.compensation, self.plan
        for key, values in (
            ("census.level_mix", c.level_mix),
            ("workforce.level_termination_multipliers", w.level_termination_multipliers),
            ("workforce.hire_level_mix", w.hire_level_mix),
            ("compensation.salary_by_level", comp.salary_by_level),
            ("compensation.merit_by_level", comp.merit_by_level),
            ("compensation.promotion_rate_by_level", comp.promotion_rate_by_level),
        ):
            if len(values) != LEVELS:
                raise ValueError(f"{key} needs {LEVELS} entries (levels 1-5), got {len(values)}")
        for key, values in (
            ("census.level_mix", c.level_mix),
            ("workforce.hire_level_mix", w.hire_level_mix),
        ):
            total = sum(to_decimal(v, 4) for v in values)
            if total != 1:
                raise ValueError(f"{key} must sum to 1, sums to {total}")
        for key, values, hi in (
            ("census.level_mix", c.level_mix, 1.0),
            ("workforce.hire_level_mix", w.hire_level_mix, 1.0),
            ("workforce.termination_rates", w.termination_rates, 1.0),
            ("workforce.level_termination_multipliers", w.level_termination_multipliers, 10.0),
            ("compensation.merit_by_level", comp.merit_by_level, 1.0),
            ("compensation.promotion_rate_by_level", comp.promotion_rate_by_level, 1.0),
            ("plan.match_tier_ceilings", plan.match_tier_ceilings, 1.0),
            ("plan.match_tier_rates", plan.match_tier_rates, 10.0),
        ):
            for i, v in enumerate(values):
                _check_range(f"{key}[{i}]", v, 0.0, hi)
        for i, v in enumerate(comp.salary_by_level):
            _check_range(f"compensation.salary_by_level[{i}]", v, 1.0, 100_000_000.0)
        edges = w.tenure_band_edges
        if any(e < 1 for e in edges) or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("workforce.tenure_band_edges must be positive and strictly increasing")
        if len(w.termination_rates) != len(edges) + 1:
            raise ValueError(
                "workforce.termination_rates needs one entry more than "
                f"workforce.tenure_band_edges ({len(edges) + 1}), got {len(w.termination_rates)}"
            )
        for lo_key, lo, hi_key, hi in (
            ("census.min_age", c.min_age, "census.max_age", c.max_age),
            (
                "census.min_deferral_rate",
                c.min_deferral_rate,
                "census.max_deferral_rate",
                c.max_deferral_rate,
            ),
            (
                "workforce.new_hire_min_age",
                w.new_hire_min_age,
                "workforce.new_hire_max_age",
                w.new_hire_max_age,
            ),
            (
                "compensation.promotion_month",
                comp.promotion_month,
                "compensation.merit_month",
                comp.merit_month,
            ),
        ):
            if lo > hi:
                raise ValueError(f"{lo_key} ({lo}) must not exceed {hi_key} ({hi})")
        ceilings = plan.match_tier_ceilings
        if len(ceilings) != len(plan.match_tier_rates):
            raise ValueError(
                "plan.match_tier_ceilings and plan.match_tier_rates need equal lengths"
            )
        if any(b <= a for a, b in zip([0.0, *ceilings], ceilings, strict=False)):
            raise ValueError("plan.match_tier_ceilings must be positive and strictly increasing")


@dataclass(frozen=True)
class ParamDoc:
    """One configuration key as documented: dotted key, value, type and range."""

    key: str
    value: Any
    type_name: str
    doc: str
    min: float | int | None
    max: float | int | None
    unit: str


def iter_param_docs(params: SimulationParams | None = None) -> Iterator[ParamDoc]:
    """Every leaf key of ``[simulation]`` (dotted, without the ``simulation.`` prefix)."""
    yield from _walk(params if params is not None else SimulationParams(), "")


def _walk(obj: Any, prefix: str) -> Iterator[ParamDoc]:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _walk(value, f"{key}.")
            continue
        tp = hints[f.name]
        name = getattr(tp, "__name__", str(tp)) if typing.get_origin(tp) is None else str(tp)
        yield ParamDoc(
            key=key,
            value=value,
            type_name=name,
            doc=str(f.metadata.get("doc", "")),
            min=f.metadata.get("min"),
            max=f.metadata.get("max"),
            unit=str(f.metadata.get("unit", "")),
        )


def _check_precision(key: str, value: Any, unit: str) -> None:
    places = {"rate": 4, "money": 2}.get(unit)
    if places is None:
        return
    for i, v in enumerate(value if isinstance(value, list) else [value]):
        try:
            to_decimal(v, places)
        except ValueError:
            where = f"{key}[{i}]" if isinstance(value, list) else key
            raise ValueError(f"{where}: {v!r} has more than {places} decimal places") from None


def _check_range(
    key: str, value: float | int, lo: float | int | None, hi: float | int | None
) -> None:
    if lo is not None and value < lo:
        raise ValueError(f"{key} must be >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{key} must be <= {hi}, got {value!r}")
