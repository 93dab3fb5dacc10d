-- A global table with a PRIMARY KEY (enforced by the model contract), rebuilt every year.
select
    plan_id::varchar as plan_id,
    match_rate::decimal(4, 2) as match_rate,
    match_cap::decimal(4, 2) as match_cap,
    raise_pct::decimal(5, 3) as raise_pct
from {{ ref('plan_params') }}
