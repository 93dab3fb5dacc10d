-- Year-scoped facts: year Y is computed from the rows of year Y-1 (raises by plan, hires).
-- depends_on: {{ ref('dim_plan') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='simulation_year'
) }}
{% set year = var('simulation_year') | int %}
{% if is_incremental() and year > var('start_year') | int %}
select
    {{ year }} as simulation_year,
    w.employee_id,
    w.plan_id,
    round(w.salary * (1 + p.raise_pct), 2)::decimal(12, 2) as salary,
    w.hired_year,
    current_timestamp as loaded_at
from {{ this }} as w
join {{ ref('dim_plan') }} as p using (plan_id)
where w.simulation_year = {{ year - 1 }}
  and hash(w.employee_id, {{ year }}) % 10 <> 0
union all
select
    {{ year }} as simulation_year,
    {{ year }} * 10000 + i as employee_id,
    case when i % 2 = 0 then 'P1' else 'P2' end as plan_id,
    (40000 + i * 37)::decimal(12, 2) as salary,
    {{ year }} as hired_year,
    current_timestamp as loaded_at
from range(1, 21) as r(i)
{% else %}
select
    {{ year }} as simulation_year,
    i as employee_id,
    case when i % 2 = 0 then 'P1' else 'P2' end as plan_id,
    (30000 + i * 113)::decimal(12, 2) as salary,
    {{ year - 5 }} as hired_year,
    current_timestamp as loaded_at
from range(1, 201) as r(i)
{% endif %}
