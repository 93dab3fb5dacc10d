"""DDL of the simulation and the one-time creation of its global tables.

Global tables have no year column and never change after the first simulated year created
them: ``census``, ``plan_parameters``, ``level_parameters``, ``termination_rates``,
``match_tiers`` and ``irs_limits``. The year tables (``YEAR_TABLES``) are created empty at the
same time. The persistent macro ``sim_age_band`` and the view ``v_workforce_summary`` (which
calls it) are created last, after the tables they read.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

import duckdb

from navsnap.sim.params import LEVELS, SimulationParams, iter_param_docs, to_decimal

__all__ = [
    "GLOBAL_TABLES",
    "IRS_YEARS_AFTER",
    "IRS_YEARS_BEFORE",
    "YEAR_TABLES",
    "create_schema",
    "params_json",
    "plan_parameter_columns",
]

YEAR_TABLES: tuple[str, ...] = (
    "fct_yearly_events",
    "fct_workforce_snapshot",
    "int_employee_contributions",
)
GLOBAL_TABLES: tuple[str, ...] = (
    "census",
    "plan_parameters",
    "level_parameters",
    "termination_rates",
    "match_tiers",
    "irs_limits",
)
#: irs_limits covers base_year - IRS_YEARS_BEFORE .. base_year + IRS_YEARS_AFTER.
IRS_YEARS_BEFORE = 30
IRS_YEARS_AFTER = 75

MONEY = "DECIMAL(18,2)"
RATE = "DECIMAL(7,4)"

_YEAR_DDL = f"""
CREATE TABLE fct_yearly_events (
    simulation_year INTEGER NOT NULL,
    employee_id BIGINT NOT NULL,
    event_type VARCHAR NOT NULL,
    effective_date DATE NOT NULL,
    event_sequence INTEGER NOT NULL,
    compensation_amount {MONEY},
    previous_compensation {MONEY},
    level_id INTEGER NOT NULL,
    employee_deferral_rate {RATE},
    event_details VARCHAR NOT NULL
);
CREATE TABLE fct_workforce_snapshot (
    simulation_year INTEGER NOT NULL,
    employee_id BIGINT NOT NULL,
    birth_date DATE NOT NULL,
    hire_date DATE NOT NULL,
    termination_date DATE,
    employment_status VARCHAR NOT NULL,
    detailed_status VARCHAR NOT NULL,
    level_id INTEGER NOT NULL,
    starting_compensation {MONEY} NOT NULL,
    current_compensation {MONEY} NOT NULL,
    prorated_annual_compensation {MONEY} NOT NULL,
    total_compensation {MONEY} NOT NULL,
    age INTEGER NOT NULL,
    tenure_years INTEGER NOT NULL,
    eligibility_date DATE NOT NULL,
    is_eligible BOOLEAN NOT NULL,
    is_enrolled BOOLEAN NOT NULL,
    enrollment_date DATE,
    deferral_rate {RATE} NOT NULL
);
CREATE TABLE int_employee_contributions (
    simulation_year INTEGER NOT NULL,
    employee_id BIGINT NOT NULL,
    age INTEGER NOT NULL,
    is_enrolled BOOLEAN NOT NULL,
    deferral_rate {RATE} NOT NULL,
    eligible_compensation {MONEY} NOT NULL,
    deferral_compensation {MONEY} NOT NULL,
    requested_contribution_amount {MONEY} NOT NULL,
    annual_contribution_amount {MONEY} NOT NULL,
    irs_deferral_limit {MONEY} NOT NULL,
    catch_up_eligible BOOLEAN NOT NULL,
    irs_limit_reached BOOLEAN NOT NULL,
    employer_match_amount {MONEY} NOT NULL,
    employer_core_amount {MONEY} NOT NULL,
    total_employer_amount {MONEY} NOT NULL
);
"""

_GLOBAL_DDL = f"""
CREATE TABLE census (
    employee_id BIGINT PRIMARY KEY,
    birth_date DATE NOT NULL,
    hire_date DATE NOT NULL,
    level_id INTEGER NOT NULL CHECK (level_id BETWEEN 1 AND {LEVELS}),
    annual_salary {MONEY} NOT NULL CHECK (annual_salary > 0),
    is_enrolled BOOLEAN NOT NULL,
    deferral_rate {RATE} NOT NULL,
    enrollment_date DATE
);
CREATE TABLE level_parameters (
    level_id INTEGER PRIMARY KEY,
    salary_min {MONEY} NOT NULL,
    salary_mid {MONEY} NOT NULL,
    salary_max {MONEY} NOT NULL,
    merit_rate {RATE} NOT NULL,
    promotion_rate {RATE} NOT NULL,
    termination_multiplier {RATE} NOT NULL,
    census_mix_upper {RATE} NOT NULL,
    hire_mix_upper {RATE} NOT NULL
);
CREATE TABLE termination_rates (
    level_id INTEGER NOT NULL,
    tenure_band INTEGER NOT NULL,
    min_tenure_years INTEGER NOT NULL,
    max_tenure_years INTEGER NOT NULL,
    termination_rate {RATE} NOT NULL,
    PRIMARY KEY (level_id, tenure_band)
);
CREATE TABLE match_tiers (
    tier INTEGER PRIMARY KEY,
    deferral_floor {RATE} NOT NULL,
    deferral_ceiling {RATE} NOT NULL,
    match_rate {RATE} NOT NULL
);
CREATE TABLE irs_limits (
    limit_year INTEGER PRIMARY KEY,
    elective_deferral_limit {MONEY} NOT NULL,
    catch_up_limit {MONEY} NOT NULL,
    compensation_limit {MONEY} NOT NULL
);
"""

_VIEW_DDL = """
CREATE MACRO sim_age_band(age) AS
    CASE WHEN age < 30 THEN '<30' WHEN age < 40 THEN '30-39' WHEN age < 50 THEN '40-49'
         WHEN age < 60 THEN '50-59' ELSE '60+' END;
CREATE VIEW v_workforce_summary AS
SELECT s.simulation_year,
       sim_age_band(s.age) AS age_band,
       count(*) FILTER (WHERE s.employment_status = 'active') AS active_headcount,
       count(*) FILTER (WHERE s.employment_status = 'terminated') AS terminations,
       count(*) FILTER (WHERE s.employment_status = 'active' AND s.is_enrolled) AS enrolled,
       sum(s.prorated_annual_compensation) AS prorated_compensation,
       sum(s.total_compensation) AS total_compensation
FROM fct_workforce_snapshot AS s
GROUP BY ALL;
"""

# The census: ids 1..N, every attribute a hash draw keyed by (seed, employee_id, 0, kind).
_CENSUS_SQL = """
INSERT INTO census
WITH p AS (SELECT * FROM plan_parameters),
mix AS (
    SELECT max(census_mix_upper) FILTER (WHERE level_id = 1) AS c1,
           max(census_mix_upper) FILTER (WHERE level_id = 2) AS c2,
           max(census_mix_upper) FILTER (WHERE level_id = 3) AS c3,
           max(census_mix_upper) FILTER (WHERE level_id = 4) AS c4
    FROM level_parameters
),
ids AS (SELECT range + 1 AS employee_id FROM range($employees::BIGINT)),
drawn AS (
    SELECT i.employee_id,
           p.census_date,
           p.census_min_age + floor(sim_uniform($seed, i.employee_id, 0, 'census_age')
               * (p.census_max_age - p.census_min_age + 1))::INTEGER AS age,
           sim_uniform($seed, i.employee_id, 0, 'census_level') AS u_level,
           1 + (u_level >= mix.c1)::INTEGER + (u_level >= mix.c2)::INTEGER
             + (u_level >= mix.c3)::INTEGER + (u_level >= mix.c4)::INTEGER AS level_id
    FROM ids AS i CROSS JOIN p CROSS JOIN mix
),
dated AS (
    SELECT d.*,
           (d.census_date - to_years(d.age)
               - to_days(floor(sim_uniform($seed, d.employee_id, 0, 'census_birth') * 365)::INTEGER)
           )::DATE AS birth_date,
           (d.census_date - floor(
               sim_uniform($seed, d.employee_id, 0, 'census_tenure_a')
               * sim_uniform($seed, d.employee_id, 0, 'census_tenure_b')
               * (least(p.census_max_tenure_years, d.age - p.census_min_age) * 365 + 365)
           )::INTEGER) AS hire_date
    FROM drawn AS d CROSS JOIN p
)
SELECT d.employee_id,
       d.birth_date,
       d.hire_date,
       d.level_id,
       round(l.salary_mid * (1 + p.compensation_salary_spread
           * (2 * sim_uniform($seed, d.employee_id, 0, 'census_salary') - 1)), 2)::DECIMAL(18,2),
       enrolled,
       CASE WHEN enrolled THEN round(p.census_min_deferral_rate
           + sim_uniform($seed, d.employee_id, 0, 'census_deferral')
             * (p.census_max_deferral_rate - p.census_min_deferral_rate), 2)
           ELSE 0 END::DECIMAL(7,4),
       CASE WHEN enrolled THEN d.hire_date + p.plan_eligibility_waiting_days END
FROM (
    SELECT d.*,
           d.hire_date + p.plan_eligibility_waiting_days <= d.census_date
               AND sim_uniform($seed, d.employee_id, 0, 'census_enroll')
                   < p.census_participation_rate AS enrolled
    FROM dated AS d CROSS JOIN p
) AS d
CROSS JOIN p
JOIN level_parameters AS l ON l.level_id = d.level_id
ORDER BY d.employee_id
"""


def params_json(params: SimulationParams) -> str:
    """The canonical JSON of ``params``, stored with the globals to detect later changes."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True, separators=(",", ":"))


def plan_parameter_columns(params: SimulationParams) -> list[tuple[str, str, Any]]:
    """``(column, SQL type, value)`` of every scalar parameter, named ``<group>_<field>``."""
    out: list[tuple[str, str, Any]] = []
    for doc in iter_param_docs(params):
        if isinstance(doc.value, (list, dict)):
            continue
        column = doc.key.replace(".", "_")
        if isinstance(doc.value, bool):
            out.append((column, "BOOLEAN", doc.value))
        elif isinstance(doc.value, int):
            out.append((column, "INTEGER", doc.value))
        elif isinstance(doc.value, float):
            if doc.unit == "money":
                out.append((column, MONEY, to_decimal(doc.value, 2)))
            else:
                out.append((column, RATE, to_decimal(doc.value, 4)))
        else:
            out.append((column, "VARCHAR", str(doc.value)))
    return out


def create_schema(
    con: duckdb.DuckDBPyConnection, *, first_year: int, params: SimulationParams, seed: int
) -> None:
    """Create and fill the global tables, the empty year tables, the macro and the view.

    Runs inside the caller's transaction. ``sim_uniform`` must already exist (a temp macro).
    """
    con.execute(_GLOBAL_DDL)
    _create_plan_parameters(con, first_year=first_year, params=params)
    _fill_level_tables(con, params)
    con.executemany("INSERT INTO irs_limits VALUES (?, ?, ?, ?)", _irs_rows(params))
    con.execute(_CENSUS_SQL, {"employees": params.employees, "seed": seed})
    con.execute(_YEAR_DDL)
    con.execute(_VIEW_DDL)


def _create_plan_parameters(
    con: duckdb.DuckDBPyConnection, *, first_year: int, params: SimulationParams
) -> None:
    columns = [
        ("parameter_set", "INTEGER PRIMARY KEY CHECK (parameter_set = 1)", 1),
        ("first_year", "INTEGER NOT NULL", first_year),
        ("census_date", "DATE NOT NULL", f"{first_year - 1:04d}-12-31"),
        *((name, f"{sql} NOT NULL", value) for name, sql, value in plan_parameter_columns(params)),
        ("params_json", "VARCHAR NOT NULL", params_json(params)),
    ]
    ddl = ",\n    ".join(f"{name} {sql}" for name, sql, _ in columns)
    con.execute(f"CREATE TABLE plan_parameters (\n    {ddl}\n)")
    marks = ", ".join("?" for _ in columns)
    con.execute(f"INSERT INTO plan_parameters VALUES ({marks})", [v for _, _, v in columns])


def _fill_level_tables(con: duckdb.DuckDBPyConnection, params: SimulationParams) -> None:
    comp, wf, plan = params.compensation, params.workforce, params.plan
    spread = to_decimal(comp.salary_spread, 4)
    cents = Decimal("0.01")
    census_upper = _cumulative(params.census.level_mix)
    hire_upper = _cumulative(wf.hire_level_mix)
    level_rows = []
    for i in range(LEVELS):
        mid = to_decimal(comp.salary_by_level[i], 2)
        level_rows.append(
            (
                i + 1,
                (mid * (1 - spread)).quantize(cents, ROUND_HALF_EVEN),
                mid,
                (mid * (1 + spread)).quantize(cents, ROUND_HALF_EVEN),
                to_decimal(comp.merit_by_level[i], 4),
                to_decimal(comp.promotion_rate_by_level[i], 4) if i + 1 < LEVELS else Decimal(0),
                to_decimal(wf.level_termination_multipliers[i], 4),
                census_upper[i],
                hire_upper[i],
            )
        )
    con.executemany("INSERT INTO level_parameters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", level_rows)
    edges = [0, *wf.tenure_band_edges, 999]
    rate_rows = []
    for level in range(1, LEVELS + 1):
        multiplier = to_decimal(wf.level_termination_multipliers[level - 1], 4)
        for band, base in enumerate(wf.termination_rates):
            rate = min(Decimal(1), to_decimal(base, 4) * multiplier)
            rate_rows.append(
                (
                    level,
                    band,
                    edges[band],
                    edges[band + 1],
                    rate.quantize(Decimal("0.0001"), ROUND_HALF_EVEN),
                )
            )
    con.executemany("INSERT INTO termination_rates VALUES (?, ?, ?, ?, ?)", rate_rows)
    floors = [0.0, *plan.match_tier_ceilings[:-1]]
    tier_rows = [
        (i + 1, to_decimal(lo, 4), to_decimal(hi, 4), to_decimal(rate, 4))
        for i, (lo, hi, rate) in enumerate(
            zip(floors, plan.match_tier_ceilings, plan.match_tier_rates, strict=True)
        )
    ]
    if tier_rows:
        con.executemany("INSERT INTO match_tiers VALUES (?, ?, ?, ?)", tier_rows)


def _cumulative(mix: list[float]) -> list[Decimal]:
    out: list[Decimal] = []
    total = Decimal(0)
    for share in mix:
        total += to_decimal(share, 4)
        out.append(total)
    return out


def _irs_rows(params: SimulationParams) -> list[tuple[int, Decimal, Decimal, Decimal]]:
    """Limits indexed from base_year by indexing_rate, rounded down like the IRS does."""
    irs = params.irs
    growth = 1 + to_decimal(irs.indexing_rate, 4)
    rows = []
    for year in range(irs.base_year - IRS_YEARS_BEFORE, irs.base_year + IRS_YEARS_AFTER + 1):
        factor = growth ** (year - irs.base_year)
        if year == irs.base_year:
            rows.append(
                (
                    year,
                    to_decimal(irs.elective_deferral_limit, 2),
                    to_decimal(irs.catch_up_limit, 2),
                    to_decimal(irs.compensation_limit, 2),
                )
            )
            continue
        rows.append(
            (
                year,
                _round_down(to_decimal(irs.elective_deferral_limit, 2) * factor, 500),
                _round_down(to_decimal(irs.catch_up_limit, 2) * factor, 500),
                _round_down(to_decimal(irs.compensation_limit, 2) * factor, 5000),
            )
        )
    return rows


def _round_down(value: Decimal, step: int) -> Decimal:
    steps = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (steps * step).quantize(Decimal("0.01"))
