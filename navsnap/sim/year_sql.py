"""The SQL of one simulated year.

One ``CREATE TEMP TABLE ... AS`` computes every employee's year (a chain of CTEs), then one
``INSERT ... SELECT ... ORDER BY`` per year table copies the result out. Every random draw is
``sim_uniform(seed, employee_id, year, kind)``, a hash, so nothing depends on row or thread
order; money and rates stay ``DECIMAL`` throughout (proration works in integer cents).

Bound parameters: ``$year`` and ``$seed``. ``@baseline@`` and ``@max_id@`` are filled in by
:mod:`navsnap.sim.model` with the census or the previous year's snapshot.
"""

from __future__ import annotations

__all__ = [
    "CONTRIBUTIONS_INSERT",
    "EVENTS_INSERT",
    "SNAPSHOT_INSERT",
    "TEMP_MACROS",
    "WORK_TABLE",
    "work_table_sql",
]

WORK_TABLE = "_navsnap_sim_year"

# Connection-local helpers: they exist only while run_year runs, never in the database file.
TEMP_MACROS = """
CREATE OR REPLACE TEMP MACRO sim_uniform(seed, employee_id, year, kind) AS
    (hash(seed::BIGINT, employee_id::BIGINT, year::INTEGER, kind::VARCHAR) % 1000000)
        ::DECIMAL(18,0) * 0.000001;
CREATE OR REPLACE TEMP MACRO sim_overlap(a_start, a_end, b_start, b_end) AS
    greatest(0, least(a_end, b_end) - greatest(a_start, b_start) + 1);
CREATE OR REPLACE TEMP MACRO sim_earned(s0, s1, s2, d1, d2, y_start, y_end, y_days, w_start, w_end)
    AS ((
        (s0 * 100)::BIGINT * sim_overlap(y_start, d1 - 1, w_start, w_end)
        + (s1 * 100)::BIGINT * sim_overlap(d1, d2 - 1, w_start, w_end)
        + (s2 * 100)::BIGINT * sim_overlap(d2, y_end, w_start, w_end)
    ) // y_days)::DECIMAL(18,0) * 0.01;
"""

BASELINE_CENSUS = """
    SELECT employee_id, birth_date, hire_date, level_id, annual_salary AS salary,
           is_enrolled, deferral_rate, enrollment_date
    FROM census
"""
BASELINE_SNAPSHOT = """
    SELECT employee_id, birth_date, hire_date, level_id, current_compensation AS salary,
           is_enrolled, deferral_rate, enrollment_date
    FROM fct_workforce_snapshot
    WHERE simulation_year = $year - 1 AND employment_status = 'active'
"""
MAX_ID_CENSUS = "SELECT max(employee_id) FROM census"
MAX_ID_SNAPSHOT = (
    "SELECT max(employee_id) FROM fct_workforce_snapshot WHERE simulation_year = $year - 1"
)

WORK_TABLE_SQL = f"""
CREATE TEMP TABLE {WORK_TABLE} AS
WITH
p AS (SELECT * FROM plan_parameters),
cal AS (
    SELECT make_date($year, 1, 1) AS y_start,
           make_date($year, 12, 31) AS y_end,
           (make_date($year + 1, 1, 1) - make_date($year, 1, 1))::INTEGER AS y_days,
           make_date($year, p.compensation_promotion_month::INTEGER, 1) AS promo_date,
           make_date($year, p.compensation_merit_month::INTEGER, 1) AS merit_date
    FROM p
),
lim AS (SELECT * FROM irs_limits WHERE limit_year = $year),
mix AS (
    SELECT max(hire_mix_upper) FILTER (WHERE level_id = 1) AS c1,
           max(hire_mix_upper) FILTER (WHERE level_id = 2) AS c2,
           max(hire_mix_upper) FILTER (WHERE level_id = 3) AS c3,
           max(hire_mix_upper) FILTER (WHERE level_id = 4) AS c4
    FROM level_parameters
),
base AS (@baseline@),
-- Experienced terminations: rate by level and tenure band at January 1st.
experienced AS (
    SELECT b.*,
           FALSE AS is_new_hire,
           CASE WHEN sim_uniform($seed, b.employee_id, $year, 'termination') < r.termination_rate
                THEN cal.y_start + floor(
                         sim_uniform($seed, b.employee_id, $year, 'termination_date')
                         * cal.y_days)::INTEGER
           END AS termination_date
    FROM base AS b
    CROSS JOIN cal
    JOIN termination_rates AS r
      ON r.level_id = b.level_id
     AND datesub('year', b.hire_date, cal.y_start) >= r.min_tenure_years
     AND datesub('year', b.hire_date, cal.y_start) < r.max_tenure_years
),
-- Hires: enough that actives at year end reach the growth target after new-hire terminations.
counts AS (
    SELECT count(*) AS n_start, count(termination_date) AS n_term FROM experienced
),
max_id(max_id) AS (@max_id@),
hiring AS (
    SELECT h.*,
           (h.need * 10000 + (10000 - h.nht_bp) - 1) // (10000 - h.nht_bp) AS n_hires
    FROM (
        SELECT greatest(0, round(c.n_start * (1 + p.workforce_growth_rate))::BIGINT
                           - (c.n_start - c.n_term)) AS need,
               (p.workforce_new_hire_termination_rate * 10000)::BIGINT AS nht_bp,
               m.max_id
        FROM counts AS c CROSS JOIN p CROSS JOIN max_id AS m
    ) AS h
),
hire_ids AS (
    SELECT h.max_id + s.n AS employee_id, (h.n_hires * h.nht_bp) // 10000 AS n_nh_terms
    FROM hiring AS h, unnest(range(1, h.n_hires + 1)) AS s(n)
),
hire_draws AS (
    SELECT i.employee_id,
           i.n_nh_terms,
           cal.y_start + floor(sim_uniform($seed, i.employee_id, $year, 'hire_date')
                               * cal.y_days)::INTEGER AS hire_date,
           p.workforce_new_hire_min_age
             + floor(sim_uniform($seed, i.employee_id, $year, 'hire_age')
                     * (p.workforce_new_hire_max_age - p.workforce_new_hire_min_age + 1))::INTEGER
             AS hire_age,
           sim_uniform($seed, i.employee_id, $year, 'hire_level') AS u_level
    FROM hire_ids AS i CROSS JOIN cal CROSS JOIN p
),
new_hires AS (
    SELECT d.employee_id,
           (d.hire_date - to_years(d.hire_age)
               - to_days(floor(
                   sim_uniform($seed, d.employee_id, $year, 'hire_birth') * 365)::INTEGER)
           )::DATE AS birth_date,
           d.hire_date,
           l.level_id,
           round(l.salary_mid * (1 + p.compensation_salary_spread
               * (2 * sim_uniform($seed, d.employee_id, $year, 'hire_salary') - 1)), 2)
               ::DECIMAL(18,2) AS salary,
           FALSE AS is_enrolled,
           0::DECIMAL(7,4) AS deferral_rate,
           NULL::DATE AS enrollment_date,
           TRUE AS is_new_hire,
           CASE WHEN row_number() OVER (
                         ORDER BY sim_uniform($seed, d.employee_id, $year, 'new_hire_termination'),
                                  d.employee_id) <= d.n_nh_terms
                THEN d.hire_date + floor(
                         sim_uniform($seed, d.employee_id, $year, 'new_hire_termination_date')
                         * (cal.y_end - d.hire_date + 1))::INTEGER
           END AS termination_date
    FROM hire_draws AS d
    CROSS JOIN cal CROSS JOIN p CROSS JOIN mix
    JOIN level_parameters AS l
      ON l.level_id = 1 + (d.u_level >= mix.c1)::INTEGER + (d.u_level >= mix.c2)::INTEGER
                        + (d.u_level >= mix.c3)::INTEGER + (d.u_level >= mix.c4)::INTEGER
),
population AS (
    SELECT employee_id, birth_date, hire_date, level_id, salary, is_enrolled, deferral_rate,
           enrollment_date, is_new_hire, termination_date
    FROM experienced
    UNION ALL
    SELECT employee_id, birth_date, hire_date, level_id, salary, is_enrolled, deferral_rate,
           enrollment_date, is_new_hire, termination_date
    FROM new_hires
),
-- Promotions (compensation.promotion_month) then merit + COLA (compensation.merit_month).
promoted AS (
    SELECT x.*,
           CASE WHEN x.is_promoted THEN x.level_id + 1 ELSE x.level_id END AS level_after,
           CASE WHEN x.is_promoted
                THEN greatest(round(x.salary * (1 + p.compensation_promotion_increase), 2),
                              nxt.salary_min)::DECIMAL(18,2)
                ELSE x.salary END AS salary_promoted
    FROM (
        SELECT pop.*, cal.*,
               greatest(pop.hire_date, cal.y_start) AS start_date,
               coalesce(pop.termination_date, cal.y_end) AS end_date,
               NOT pop.is_new_hire
                 AND pop.level_id < 5
                 AND cal.promo_date <= coalesce(pop.termination_date, cal.y_end)
                 AND datesub('year', pop.hire_date, cal.promo_date)
                     >= p.compensation_promotion_min_tenure_years
                 AND sim_uniform($seed, pop.employee_id, $year, 'promotion') < l.promotion_rate
                 AS is_promoted
        FROM population AS pop
        CROSS JOIN cal CROSS JOIN p
        JOIN level_parameters AS l ON l.level_id = pop.level_id
    ) AS x
    CROSS JOIN p
    LEFT JOIN level_parameters AS nxt ON nxt.level_id = x.level_id + 1
),
raised AS (
    SELECT x.*,
           NOT x.is_new_hire AND x.merit_date <= x.end_date AS got_merit,
           l.merit_rate,
           p.compensation_cola_rate AS cola_rate,
           CASE WHEN NOT x.is_new_hire AND x.merit_date <= x.end_date
                THEN round(x.salary_promoted * (1 + l.merit_rate + p.compensation_cola_rate), 2)
                     ::DECIMAL(18,2)
                ELSE x.salary_promoted END AS salary_final,
           x.hire_date + p.plan_eligibility_waiting_days::INTEGER AS eligibility_date
    FROM promoted AS x
    CROSS JOIN p
    JOIN level_parameters AS l ON l.level_id = x.level_after
),
-- Plan: eligibility, auto-enrollment or opt-out, voluntary enrollment, escalation.
enrolled AS (
    SELECT x.*,
           CASE
             WHEN x.is_enrolled THEN 'continuing'
             WHEN x.eligibility_date > x.end_date THEN 'none'
             WHEN x.eligibility_date >= x.y_start THEN
                 CASE WHEN p.plan_auto_enroll THEN
                          CASE WHEN sim_uniform($seed, x.employee_id, $year, 'opt_out')
                                    < p.plan_opt_out_rate
                               THEN 'opt_out' ELSE 'auto' END
                      WHEN sim_uniform($seed, x.employee_id, $year, 'enroll')
                           < p.plan_voluntary_enrollment_rate THEN 'voluntary'
                      ELSE 'none' END
             WHEN sim_uniform($seed, x.employee_id, $year, 'enroll')
                  < p.plan_voluntary_enrollment_rate
                  AND x.voluntary_date <= x.end_date THEN 'voluntary'
             ELSE 'none'
           END AS enrollment_action
    FROM (
        SELECT r.*,
               r.eligibility_date <= r.end_date AS is_eligible,
               r.y_start + floor(sim_uniform($seed, r.employee_id, $year, 'enroll_date')
                                 * r.y_days)::INTEGER AS voluntary_date
        FROM raised AS r
    ) AS x
    CROSS JOIN p
),
planned AS (
    SELECT e.*,
           e.enrollment_action IN ('continuing', 'auto', 'voluntary') AS is_enrolled_final,
           e.enrollment_action = 'continuing' AND p.plan_auto_escalation
               AND e.deferral_rate < p.plan_escalation_cap AS is_escalated,
           CASE e.enrollment_action
               WHEN 'continuing' THEN
                   CASE WHEN p.plan_auto_escalation AND e.deferral_rate < p.plan_escalation_cap
                        THEN least(e.deferral_rate + p.plan_escalation_increment,
                                   p.plan_escalation_cap)
                        ELSE e.deferral_rate END
               WHEN 'auto' THEN p.plan_auto_enroll_deferral_rate
               WHEN 'voluntary' THEN p.plan_voluntary_deferral_rate
               ELSE 0
           END::DECIMAL(7,4) AS deferral_rate_final,
           CASE e.enrollment_action
               WHEN 'continuing' THEN e.enrollment_date
               WHEN 'voluntary' THEN
                   CASE WHEN e.eligibility_date >= e.y_start THEN e.eligibility_date
                        ELSE e.voluntary_date END
               WHEN 'auto' THEN e.eligibility_date
           END AS enrollment_date_final,
           sim_earned(e.salary, e.salary_promoted, e.salary_final, e.promo_date, e.merit_date,
                      e.y_start, e.y_end, e.y_days, e.start_date, e.end_date)
               AS prorated_compensation,
           datesub('year', e.birth_date, e.y_end) AS age
    FROM enrolled AS e
    CROSS JOIN p
),
contributing AS (
    SELECT x.*,
           x.deferral_limit_base
             + CASE WHEN x.catch_up_eligible THEN x.catch_up_limit ELSE 0 END AS irs_deferral_limit,
           round(x.deferral_compensation * x.deferral_rate_final, 2) AS requested_contribution
    FROM (
        SELECT pl.*,
               pl.age >= p.plan_catch_up_age AS catch_up_eligible,
               lim.elective_deferral_limit AS deferral_limit_base,
               lim.catch_up_limit,
               CASE WHEN pl.is_eligible
                    THEN least(lim.compensation_limit, sim_earned(
                             pl.salary, pl.salary_promoted, pl.salary_final, pl.promo_date,
                             pl.merit_date, pl.y_start, pl.y_end, pl.y_days,
                             greatest(pl.eligibility_date, pl.start_date), pl.end_date))
                    ELSE 0 END::DECIMAL(18,2) AS eligible_compensation,
               CASE WHEN pl.is_enrolled_final
                    THEN least(lim.compensation_limit, sim_earned(
                             pl.salary, pl.salary_promoted, pl.salary_final, pl.promo_date,
                             pl.merit_date, pl.y_start, pl.y_end, pl.y_days,
                             CASE WHEN pl.enrollment_action = 'continuing' THEN pl.start_date
                                  ELSE greatest(pl.enrollment_date_final, pl.start_date) END,
                             pl.end_date))
                    ELSE 0 END::DECIMAL(18,2) AS deferral_compensation
        FROM planned AS pl CROSS JOIN p CROSS JOIN lim
    ) AS x
),
contributed AS (
    SELECT c.*,
           least(c.requested_contribution, c.irs_deferral_limit)::DECIMAL(18,2)
               AS employee_contribution,
           c.requested_contribution > 0
               AND c.requested_contribution >= c.irs_deferral_limit AS irs_limit_reached,
           round(c.eligible_compensation * p.plan_core_contribution_rate, 2)::DECIMAL(18,2)
               AS employer_core
    FROM contributing AS c CROSS JOIN p
),
matched AS (
    SELECT c.employee_id,
           round(sum(t.match_rate * greatest(0, least(
               c.employee_contribution - t.deferral_floor * c.deferral_compensation,
               (t.deferral_ceiling - t.deferral_floor) * c.deferral_compensation))), 2)
               AS employer_match
    FROM contributed AS c CROSS JOIN match_tiers AS t
    WHERE c.employee_contribution > 0
    GROUP BY c.employee_id
)
SELECT c.*, coalesce(m.employer_match, 0)::DECIMAL(18,2) AS employer_match
FROM contributed AS c LEFT JOIN matched AS m USING (employee_id)
"""

SNAPSHOT_INSERT = f"""
INSERT INTO fct_workforce_snapshot
SELECT $year,
       employee_id,
       birth_date,
       hire_date,
       termination_date,
       CASE WHEN termination_date IS NULL THEN 'active' ELSE 'terminated' END,
       CASE WHEN is_new_hire AND termination_date IS NULL THEN 'new_hire_active'
            WHEN is_new_hire THEN 'new_hire_termination'
            WHEN termination_date IS NULL THEN 'continuous_active'
            ELSE 'experienced_termination' END,
       level_after,
       salary,
       salary_final,
       prorated_compensation,
       prorated_compensation + employer_match + employer_core,
       age,
       datesub('year', hire_date, end_date),
       eligibility_date,
       is_eligible,
       is_enrolled_final,
       enrollment_date_final,
       deferral_rate_final
FROM {WORK_TABLE}
ORDER BY employee_id
"""

CONTRIBUTIONS_INSERT = f"""
INSERT INTO int_employee_contributions
SELECT $year,
       employee_id,
       age,
       is_enrolled_final,
       deferral_rate_final,
       eligible_compensation,
       deferral_compensation,
       requested_contribution,
       employee_contribution,
       irs_deferral_limit,
       catch_up_eligible,
       irs_limit_reached,
       employer_match,
       employer_core,
       employer_match + employer_core
FROM {WORK_TABLE}
WHERE is_eligible
ORDER BY employee_id
"""

# Same-day events are ordered by priority: hire, eligibility, enrollment/opt-out, escalation,
# promotion, merit raise, termination.
EVENTS_INSERT = f"""
INSERT INTO fct_yearly_events
SELECT $year,
       employee_id,
       event_type,
       effective_date,
       row_number() OVER (PARTITION BY employee_id
                          ORDER BY effective_date, priority, event_type)::INTEGER,
       compensation_amount,
       previous_compensation,
       level_id,
       employee_deferral_rate,
       event_details
FROM (
    SELECT employee_id, 'hire' AS event_type, hire_date AS effective_date, 1 AS priority,
           salary AS compensation_amount, NULL::DECIMAL(18,2) AS previous_compensation,
           level_id, NULL::DECIMAL(7,4) AS employee_deferral_rate,
           format('new hire at level {{}}', level_id) AS event_details
    FROM {WORK_TABLE} WHERE is_new_hire
    UNION ALL
    SELECT employee_id, 'eligibility', eligibility_date, 2, NULL, NULL, level_after, NULL,
           format('eligible after {{}} days', eligibility_date - hire_date)
    FROM {WORK_TABLE} WHERE is_eligible AND eligibility_date >= y_start
    UNION ALL
    SELECT employee_id, 'enrollment', enrollment_date_final, 3, NULL, NULL, level_after,
           deferral_rate_final, format('{{}} enrollment', enrollment_action)
    FROM {WORK_TABLE} WHERE enrollment_action IN ('auto', 'voluntary')
    UNION ALL
    SELECT employee_id, 'opt_out', eligibility_date, 3, NULL, NULL, level_after, 0,
           'declined auto-enrollment'
    FROM {WORK_TABLE} WHERE enrollment_action = 'opt_out'
    UNION ALL
    SELECT employee_id, 'deferral_escalation', y_start, 4, NULL, NULL, level_after,
           deferral_rate_final, format('from {{}} to {{}}', deferral_rate, deferral_rate_final)
    FROM {WORK_TABLE} WHERE is_escalated
    UNION ALL
    SELECT employee_id, 'promotion', promo_date, 5, salary_promoted, salary, level_after, NULL,
           format('level {{}} to {{}}', level_id, level_after)
    FROM {WORK_TABLE} WHERE level_after > level_id
    UNION ALL
    SELECT employee_id, 'merit_raise', merit_date, 6, salary_final, salary_promoted,
           level_after, NULL, format('merit {{}} + cola {{}}', merit_rate, cola_rate)
    FROM {WORK_TABLE} WHERE got_merit
    UNION ALL
    SELECT employee_id,
           CASE WHEN is_new_hire THEN 'new_hire_termination' ELSE 'termination' END,
           termination_date, 9, salary_final, NULL, level_after, NULL,
           format('tenure {{}} years', datesub('year', hire_date, termination_date))
    FROM {WORK_TABLE} WHERE termination_date IS NOT NULL
) AS events
ORDER BY employee_id, 5
"""


def work_table_sql(*, from_census: bool) -> str:
    """The work-table statement, reading the census or the previous year's snapshot."""
    baseline = BASELINE_CENSUS if from_census else BASELINE_SNAPSHOT
    max_id = MAX_ID_CENSUS if from_census else MAX_ID_SNAPSHOT
    return WORK_TABLE_SQL.replace("@baseline@", baseline).replace("@max_id@", max_id)
