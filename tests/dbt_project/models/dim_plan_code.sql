-- A global table with a UNIQUE constraint that stays empty.
select cast(null as varchar) as code, cast(null as varchar) as plan_id
where false
