-- A per-year view; dbt renders ref() as "<catalog>"."main"."fct_workforce", so the view's SQL
-- names the database's catalog.
{{ config(materialized='view') }}
select simulation_year, count(*) as headcount, sum(salary) as payroll
from {{ ref('fct_workforce') }}
where simulation_year = {{ var('simulation_year') }}
group by simulation_year
