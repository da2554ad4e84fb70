"""The one typed parameter object of the model and its validation.

Every number the model uses lives here (with its unit and source in the field's docstring) or in
a data file under ``model/core/data/`` with a source column. Scenario files and ``--set``
overrides are read into Params by ``model.study.scenarios``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

from .data import anchor_focus_city, anchor_reference_cities, load_cities
from .errors import InputError, shown
from .levers import LEVERS, Spell, check_overlaps

@dataclass(frozen=True)
class Params:
    """All model parameters (built-in defaults; scenarios override them). Each field's docstring gives
    its unit and its source: a seed fact, a public statistic, "assumption" or "calibrated"."""

    # --- focus ----------------------------------------------------------------
    focus_city: str = field(default_factory=anchor_focus_city)
    """The city that figures, summaries, reporters and the wage-gap switch follow (a city name from
    model/core/data/cities.csv). Default: the anchor case of the sources, Neijiang (case_role focus)."""
    reference_cities: tuple[str, ...] = field(default_factory=anchor_reference_cities)
    """Cities the focus city's SO pay is compared with (the mean of their SO wages). Default: Chengdu
    and Chongqing (case_role reference); the source states Neijiang's pay as 70-80% of theirs
    (seed article 000)."""

    # --- time and scale -------------------------------------------------------
    start_year: int = 2005
    """First simulated calendar year (year): the years before the coastal-to-inland shift of the
    sources (Zhang and Zhang 2023: inland cities gain after about 2006)."""
    end_year: int = 2030
    """Last simulated calendar year, inclusive (year)."""
    persons_per_agent: float = 100.0
    """Persons (workers) represented by one worker agent (persons/agent). Outputs are in persons."""

    # --- demand ---------------------------------------------------------------
    modelled_share: float = 0.35
    """Share of national SO employment (national.csv, the seat demand) in the modelled cities
    (0-1). Prior: the 21 national demonstration cities held 83-91% of offshore execution 2020-22
    (public_stats regional_split); our 26 cities hold 18 of them. Calibrated."""
    revenue_growth: float = 0.045
    """Annual nominal growth of SO revenue per seat (1/year). Prior [0.02, 0.08] around MOFCOM
    execution / SO employment (national.csv), 2014 (82k CNY) to 2023 (124k CNY): 4.7% a year.
    Calibrated."""
    revenue_level: float = 1.0
    """Multiplies every segment's revenue per seat of model/core/data/segments.csv (dimensionless):
    the level of SO prices, calibrated against MOFCOM's execution per SO worker (targets
    revenue_per_worker_*); the segments' relative prices stay as in the data file. Calibrated."""
    productivity_wage_elasticity: float = 0.0
    """Share of a city's SO pay gap (in logs, against the national level) that is a productivity gap
    and comes back as revenue per seat (0-1): revenue scales with (city wage / national)^(this x
    so_wage_city_elasticity). 0: pure cost gaps, the sources' case for Neijiang (the same work at
    70-80% of Chengdu pay); 1: no cost advantage. Prior [0, 0.5], an assumption. Calibrated."""
    inland_client_price_factor: float = 1.0
    """Price per seat paid by clients in central and western cities relative to coastal and
    foreign clients, for the same segment (dimensionless). Prices are set where the work is sold
    (what a seat produces may still differ by city: productivity_wage_elasticity). 1: no source
    found gives a price difference by client market."""
    demand_growth_after_2023: float = 0.10
    """Annual growth of national SO employment (seat demand) after the last observed year 2023 (1/year).
    Source: assumption, below the 2020-23 average of 17.4% (MOFCOM)."""
    inland_client_share: float = 0.1
    """Share of SO demand whose clients sit in central and western cities rather than on the
    coast or abroad (0-1), constant over the run. Calibrated."""

    # --- firms ----------------------------------------------------------------
    firm_of_size_staff: float = 50.0
    """Staff from which an operating establishment counts as "of meaningful size" (初具规模) in the
    firm counts the sources give (persons). Assumption."""
    top_group_count: int = 150
    """Firm groups counted as the industry's leaders: the global top 100 and national top 50 SO firms
    of the Wuxi source, read as the 150 groups with the most seats (groups)."""
    mean_new_firm_seats: float = 180.0
    """Mean seats of a new establishment (persons). Source: Nanchang 2010, 27,136 new jobs /
    188 new firms = 144 (seed article 004, Nanchang 2010); Neijiang 2021, ~7,000 staff / 33 firms."""
    firm_size_sigma: float = 1.0
    """Log-normal sigma of new establishment size (dimensionless). Assumption."""
    expansion_share: float = 0.6
    """Share of the national seat gap filled by expansion of existing establishments (0-1). Assumption."""
    max_expansion_rate: float = 0.179
    """Largest quarterly growth of one establishment's seats by expansion (1/quarter). Assumption; it
    bounds Gibrat growth where only a few establishments qualify (a 300-seat branch would otherwise
    reach ~10,000 seats within a decade). Value: the 16-parameter ABC estimate of 2026-11-26, held
    fixed since (weakly identified)."""
    expansion_fill_threshold: float = 0.8
    """Share of its seats an establishment must have staffed before it expands (0-1). Assumption."""
    onboarding_per_quarter: float = 1.0e6
    """Most new staff one establishment can take on in a quarter (persons/quarter): front-line SO
    staff are hired in training classes, so a large new centre fills over several quarters.
    Calibrated (nj_majorel_ramp)."""
    max_shrink_rate: float = 0.3
    """Largest share of one establishment's seats cut in a quarter when national demand falls short
    of seats (1/quarter). Assumption."""
    beta_margin: float = 4.959
    """Firm location logit: weight on expected profit margin over the planning horizon (per unit margin). Calibrated."""
    beta_agglomeration: float = 1.0
    """Firm location logit: weight on ln(1 + SO establishments in the city serving the entrant's client market).
    1: entry in proportion to the establishments there (Gibrat), the location-choice literature's
    agglomeration pull without a size bias."""
    beta_talent: float = 1.0
    """Firm location logit: weight on ln(expected vacancy fill rate). Calibrated."""
    min_entry_fill_rate: float = 1e-3
    """Floor of the expected vacancy fill rate in the firm location logit (0-1), so that a city
    with no talent in sight gets a large penalty rather than ln(0). Assumption."""
    talent_depth_cap: float = 1.0
    """Expected talent per open seat above which a deeper pool brings an entrant no more in the
    firm location logit (candidates per seat). 1: only whether the seats can be filled counts;
    above 1, a deeper pool (choice of candidates, room to grow and replace quits) keeps counting
    up to the cap. Calibrated."""
    beta_city_size_firms: float = 0.0
    """Firm location logit: weight on ln(urban population in millions) (managers, suppliers, offices). Calibrated."""
    beta_hub: float = 0.524
    """Firm location logit: weight on ln(1 + rail hours to the client hub), for work needing client visits
    (segments.csv client_contact). Calibrated."""
    default_setup_months: float = 12.0
    """Months from first contact to operation without a fast-set-up policy (months). Assumption;
    Neijiang's task force did it in ~4.3 months (seed article 000: four months to sign, ten days to operate)."""
    other_cost_share: float = 0.25
    """Delivery costs other than pay and office rent (telecom, IT, management, sales), as a share of
    revenue (0-1). Source: salaries are 62.7% of Asian contact centres' operating budgets (Datacraft
    2009 benchmark, Inquirer 2009-11-22), so the rest is 37.3% of costs; with net margins of about 7%
    (listed SO firms) and office rent of 2-8% of revenue, the other costs are about 0.25 of revenue."""
    wage_cost_multiplier: float = 1.35
    """Employer cost per yuan of pay: social insurance and housing fund on top of wages
    (dimensionless). Source: typical employer contributions of about 30-40% of pay."""
    office_m2_per_seat: float = 6.0
    """Office floor per seat (m2/seat). Assumption typical of call centres."""
    fitout_cny_per_seat: float = 15000.0
    """Firm's own fit-out cost per seat outside a turnkey park (CNY/seat). Assumption; the
    Neijiang transitional park fit-out cost 6e7 CNY for ~8,000 seats (seed articles 000 and 002)."""
    amortisation_years: float = 5.0
    """Years over which one-off costs and grants are spread in firms' and workers' choices (years)."""
    exit_margin: float = -0.05
    """Profit margin below which an establishment shrinks and may exit (share of revenue)."""
    exit_rate_base: float = 0.02
    """Quarterly exit hazard of an establishment regardless of margin (1/quarter). Assumption."""
    distress_exit_rate: float = 0.15
    """Extra quarterly exit hazard once an establishment has been below the exit margin for a year
    (1/quarter). Assumption."""
    distress_shrink_rate: float = 0.10
    """Share of seats a loss-making establishment sheds each quarter (1/quarter). Assumption."""
    relocation_rate: float = 0.01
    """Quarterly chance an establishment reviews its location (1/quarter). Assumption."""
    relocation_threshold: float = 0.10
    """Margin gain (share of revenue) needed to relocate: the destination's entrant margin (grants and
    fit-out included) against the current one. Assumption."""
    relocation_max_seats: float = 400.0
    """Largest establishment that relocates whole (persons); larger ones stay (their firm's growth
    elsewhere comes as new branches, by the entry rule). Assumption (the relocation in seed 000/002 is a small data-annotation firm moving from Chongqing)."""
    branch_share: float = 0.5
    """Share of new establishments that are delivery centres of an existing firm (0-1). Assumption."""

    # --- labour market and wages ----------------------------------------------
    so_pay_to_graduate_pay: float = 1.0
    """SO front-line pay (balanced market, city at the national average wage) over vocational graduates'
    national starting pay (MyCOS, graduate_pay.csv; dimensionless): front-line staff are young vocational
    graduates. Calibrated within 0.8-1.25 for the SO segment's pay against the graduate average."""
    so_wage_city_elasticity: float = 0.6
    """Elasticity of SO reservation pay to the city's average wage (dimensionless). Below 1: SO pay
    varies less across cities than average pay, since graduates' job market is national. Calibrated."""
    focus_wage_ratio_pin: float = 0.0
    """If > 0, hold the focus city's SO wage at this multiple of the mean SO wage of its reference
    cities instead of letting its labour market set it (dimensionless; 0 = off). For the wage-gap
    experiment only."""
    wage_gap_scale: float = 1.0
    """Scales every city's log deviation of pay from the national level: city average wages (and so
    SO reservation pay, housing costs and outside options) and the tightness markup of SO pay
    (0 = no coastal-inland pay gap, 1 = the data, 2 = doubled). A what-if and knock-out control."""
    rent_gap_scale: float = 1.0
    """Scales every city's log deviation of office rent from the cities' geometric mean, scarcity
    premium included (0 = the same rent everywhere, 1 = the data). A what-if and knock-out control."""
    talent_scale: float = 1.0
    """Scales talent as a location factor: firms' weight on the expected fill rate, every tie keeping
    seekers near a place (home distance, province and city, college city, networks, locals entering
    where they live) and graduates' weight on city size (1 = as estimated, 0 = talent follows the
    jobs, firms ignore it). A what-if and knock-out control."""
    national_policy: float = 1.0
    """Share of the national demonstration-city preferences in force: the lower income tax of
    certified service enterprises and national SO funds (1 = as legislated, 0 = none). A knock-out control."""
    wage_growth_shift: float = 0.0
    """Added to every city's annual average-wage growth from 2005 on (1/year). A what-if control; 0 = data."""
    rent_growth_to_2015: float = 0.07
    """Annual growth of office rents before 2015 (1/year). Source: assumption; prime rents roughly
    doubled over 2005-2013 in the coastal megacities (Shanghai 405 CNY/m2/month in 2013, public_stats)."""
    rent_growth_after_2015: float = 0.0
    """Annual growth of office rents after 2015 (1/year). Source: prime rents fell or stayed flat
    2013-2023 (Shanghai 405 -> 246 CNY/m2/month, Chengdu 83 -> 99; public_stats)."""
    so_rent_to_prime: float = 0.4
    """SO rent relative to prime rent where prime is the cities' geometric mean (dimensionless).
    Assumption: delivery centres sit in parks and B-grade space, not grade-A towers."""
    so_rent_prime_elasticity: float = 1.0
    """Elasticity of SO rent to the city's prime rent (dimensionless). Assumption; calibrated: below 1,
    centres in dear cities lease further out (no source gives SO rents by city, only grade-A)."""
    wage_tightness_elasticity: float = 0.1
    """Elasticity of the SO wage to labour-market tightness (vacancies / seekers). Calibrated."""
    wage_adjustment_speed: float = 0.25
    """Share of the gap to the target SO wage closed each quarter (1/quarter). Assumption (no source
    found, not calibrated): pay reviewed about once a year closes about a quarter of the gap a quarter."""
    max_tightness: float = 4.0
    """Cap on tightness used in wage setting (dimensionless), to avoid runaway wages in empty markets."""
    tightness_smoothing: float = 1.0
    """Added to both vacancies and seekers before taking their ratio in wage setting (persons), so an
    empty market has tightness 1. Assumption."""
    quit_rate_first_year: float = 0.12
    """Quarterly chance that an SO worker in the first year with an employer leaves the SO labour
    market (1/quarter). Prior: Chinese call centres lose 10-50% of agents a month on average and
    3-5% in the best ones; agents who pass probation mostly stay (industry pages, weak). Calibrated."""
    quit_rate_later: float = 0.04
    """Quarterly chance that an SO worker with more than a year at the employer leaves (1/quarter).
    Prior: 20-30% a year in well-run Chinese call centres; 23.3% a year in Asian contact centres
    (Datacraft 2009). Calibrated."""
    exit_age: float = 45.0
    """Age after which workers leave SO front-line work (years). Assumption."""
    search_quarters: int = 3
    """Quarters an unmatched job seeker keeps searching before leaving the SO labour market."""
    return_home_rate: float = 0.015
    """Quarterly chance an SO worker or job seeker away from home moves back and seeks SO work there
    (1/quarter). Assumption."""
    return_home_job_rate_gain: float = 2.0
    """The return-home chance is ``return_home_rate`` x min(1, this x the home city's smoothed job-finding
    rate) (dimensionless; 2: the full rate once half of the seekers there find a job in a quarter).
    Assumption."""
    initial_job_rate: float = 0.5
    """Smoothed job-finding rate of seekers at start in cities with SO seats (1/quarter; 0 elsewhere).
    Assumption."""
    job_rate_memory: float = 0.75
    """Weight of last quarter's smoothed job-finding rate in this quarter's; the rest is this
    quarter's hires per seeker (0-1, exponential smoothing). Assumption."""

    # --- graduates and other entrants -----------------------------------------
    so_interest_share: float = 1.0
    """Share of a city's graduates who weigh SO work at all (0-1). 1: every graduate of
    cities.csv graduates_2021 weighs it against the outside option, whose utility
    (outside_option_utility, calibrated) sets how many seek SO work."""
    graduate_local_share: float = 0.7
    """Share of a college's graduates whose home is the college city (0-1). Source: assumption;
    Huang, Xing and Cui (IZA DP 12462): graduates prefer home and their college city."""
    hometown_province_boost: float = 2.0
    """Hometowns of the other graduates are drawn by city population x (1 + this) within the
    college's province, x 1 outside it (dimensionless; 2 triples in-province cities). Assumption."""
    graduation_quarter: int = 3
    """Quarter of the year in which graduate cohorts enter the SO labour market (1-4). Source: Chinese
    colleges graduate in June-July."""
    graduate_age_min: float = 20.0
    """Youngest graduate at entry (years): vocational college leavers. Assumption."""
    graduate_age_max: float = 23.0
    """Oldest graduate at entry (years): university leavers; ages are uniform in between. Assumption."""
    initial_workforce_age_max: float = 35.0
    """Oldest SO worker of the 2005 workforce (years); ages are uniform from ``graduate_age_min``.
    Assumption."""
    experienced_entry_rate: float = 5.0e-5
    """Quarterly SO job seekers from the non-graduate local labour force, per urban resident
    (1/quarter): SO centres sit in the urban districts and hire from them, not from a prefecture's
    rural counties.
    Gives the older staff (42% of Neijiang's park staff are over 26, seed article 002). Calibrated."""
    experienced_entry_job_rate_gain: float = 2.0
    """Experienced entry is ``experienced_entry_rate`` x min(1, this x the city's smoothed job-finding
    rate) (dimensionless; 2: the full rate once half of the seekers find a job in a quarter). Assumption."""
    experienced_age_min: float = 24.0
    """Youngest non-graduate local entrant (years): returning migrants, career changers. Assumption."""
    experienced_age_max: float = 40.0
    """Oldest non-graduate local entrant (years); ages are uniform in between. Assumption."""
    beta_income: float = 1.5
    """Graduate logit: weight on ln(expected net income). Calibrated; the distance weight below
    is tied to it by the IZA DP 7160 ratio (10% farther needs ~15% more income)."""
    distance_income_ratio: float = 1.466
    """Graduate logit: weight on -ln(1 + km from home / distance_offset_km) relative to the weight on
    ln(expected net income) (dimensionless). Calibrated; prior 0.1-1.5, up to the IZA DP 7160 value
    for rural-urban migrants (10% farther needs about 15% more income: ln(1.15)/ln(1.10) = 1.466),
    which graduates, more mobile, need not reach. The default is that value."""
    distance_offset_km: float = 100.0
    """Distance scale of the graduate logit's -ln(1 + km / offset) term (km): zero at home, close to
    -ln(km) beyond a few hundred km. Assumption."""
    beta_same_province: float = 0.36
    """Graduate logit: bonus for a city in the home province. Source: Liu, Zhuo and Wang (2020): 0.34-0.38."""
    beta_home: float = 2.5
    """Graduate logit: bonus for the home city itself. Source: Huang, Xing and Cui; calibrated."""
    beta_college: float = 0.5
    """Graduate logit: bonus for staying in the college city. Source: Huang, Xing and Cui; calibrated."""
    beta_network: float = 1.0
    """Graduate logit: weight on the share of the city's SO workers from the same province.
    Prior: migrant network share 2.7-3.7 (Liu, Zhuo and Wang 2020) scaled down for graduates."""
    beta_city_size_graduates: float = 0.5
    """Graduate logit: weight on ln(urban population in millions) of the city where SO work is sought:
    the amenities and prospects that draw graduates up the urban hierarchy (MyCOS: 22-28% of
    undergraduates work in Beijing, Shanghai, Guangzhou and Shenzhen, 2013-2017). Calibrated."""
    outside_option_utility: float = 0.0
    """Graduate logit: utility of not taking SO work, relative to ln(income) units. Calibrated."""
    housing_share_of_wage: float = 0.25
    """Monthly housing cost of a young worker as a share of the city's average monthly wage.
    Assumption (shared rooms near parks)."""
    net_income_floor_share: float = 0.05
    """Lowest net income (after housing) in the graduate logit, as a share of the city's SO wage, or of
    reservation pay for the outside option (0-1); keeps ln(net income) finite. Assumption."""

    # --- fiscal ----------------------------------------------------------------
    tax_rate_on_output: float = 0.078
    """Taxes paid per yuan of SO revenue (share). Source: Ping An Neijiang branch 2022,
    1.96e7 tax / 2.5e8 revenue (Ping An's Neijiang branch in 2022, seed article 000)."""
    local_tax_share: float = 0.5
    """Share of those taxes kept by the city (share). Source: VAT 50/50 central-local split
    since 2016; corporate income tax 40% local."""
    park_cost_per_seat: float = 66700.0
    """Public construction cost of one turnkey park seat (CNY/seat). Source: 1e10 CNY for
    150,000 seats (facts nj_new_park_plan, nj_new_park_capacity)."""
    apartment_cost_per_unit_year: float = 12000.0
    """Annual public cost of one talent apartment unit (CNY/unit/year). Assumption."""
    fast_setup_cost_per_firm: float = 200000.0
    """Public cost of a dedicated task force per firm set up (CNY/firm). Assumption."""
    corporate_income_tax_rate: float = 0.25
    """Standard corporate income tax rate on profit (share). Source: Enterprise Income Tax Law of 2007,
    in force 2008 (25%); applied to every year."""
    tase_income_tax_rate: float = 0.15
    """Corporate income tax rate of certified "technologically advanced service enterprises" (share).
    Source: 财税〔2010〕65号 and 财税〔2014〕59号 (21 demonstration cities, 15%); 财税〔2017〕79号 (nationwide, 15%)."""
    tase_demo_from: int = 2009
    """First year the lower rate applies to certified SO firms in national demonstration cities (year).
    Source: 财税〔2009〕63号 of 2009-04-24 extended the Suzhou pilot to 20 demonstration cities."""
    tase_nationwide_from: int = 2017
    """First year the lower rate applies to certified SO firms in every city (year). Source:
    财税〔2017〕79号: "Since 1st January 2017 ... implemented nationwide"."""
    tase_share: float = 0.72
    """Share of SO profit covered by the lower rate where it applies (0-1). Certification requires a
    large offshore share of revenue (50% until 2011, 35% from 2012: Suzhou pilot notice; Beijing
    rules 2019), so this is read as the offshore share of SO execution: 72% in 2012 (MOFCOM: offshore
    3.364e10 of 4.657e10 USD; public_stats and national.csv)."""
    national_training_subsidy: float = 4500.0
    """National training support paid to an SO firm in a demonstration city for every college-educated
    new hire on a contract of a year or more (CNY per hire). Source: MOF/MOFCOM 财企〔2009〕44号
    (2009-03-27): "每人不超过4500元"."""
    national_training_from: int = 2009
    """First year of the national training support (year). Source: 财企〔2009〕44号 covers hires from
    2008-08-01; the notice is of 2009-03."""
    national_training_to: int = 2013
    """Last year of the national training support (year). Source: 财企〔2013〕52号 covers hires to
    2013-03; "截至2013年底…累计支持…大学生75万人" (经济日报, 2014-09-25). No later notice was found."""
    graduate_hire_share: float = 0.686
    """Share of an SO firm's hires that are college graduates in their first SO job, for its
    expectation of national training support (0-1). Source: MOFCOM 2014 review: 711,000 new
    employees, 488,000 of them college graduates."""
    apartment_rent_discount: float = 0.8
    """Share of housing cost a talent apartment saves its tenant (share). Assumption."""

    # --- market office space ----------------------------------------------------
    office_seats_per_1000_urban: float = 4.0
    """Ready office seats the private market offers SO firms per 1,000 urban residents at start
    (seats per 1,000 persons). Assumption; binds in small cities, which is why parks matter."""
    office_build_rate: float = 0.05
    """Quarterly growth of market office capacity when occupancy exceeds ``office_build_occupancy``
    (1/quarter). Assumption; calibrated. It sets how long a growing city's scarcity premium lasts."""
    office_scarcity_elasticity: float = 1.0
    """Rent x (occupancy / office_build_occupancy)^this above that occupancy (dimensionless). Assumption;
    calibrated. Scarce space acts through its price (rent channel, rent_gap_scale), never as a cap."""
    office_build_occupancy: float = 0.85
    """SO office occupancy above which the market builds (0-1). Assumption: structural vacancy 10-15%."""
    office_headroom_start: float = 1.25
    """Market office space at start per seat occupied in 2005, where above the per-resident rule. Assumption."""
    staffed_share_start: float = 0.95
    """Share of the 2005 establishments' seats that are staffed at start (0-1). Assumption."""

    # --- policies ----------------------------------------------------------------
    levers: tuple[Spell, ...] = field(default_factory=tuple)
    """Policy levers by city (see LEVERS for units)."""

    # ------------------------------------------------------------------------
    def replace(self, **changes: Any) -> "Params":
        """A copy with some fields changed (values validated)."""
        return _validated(dataclasses.replace(self, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (TOML/JSON-ready): fields plus a ``levers`` table by city and lever."""
        d = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
             for f in fields(self) if f.name != "levers"}
        lev: dict[str, dict[str, dict[str, Any]]] = {}
        for lv in self.levers:
            spec = {"start": lv.start, "end": lv.end, "intensity": lv.intensity}
            if lv.unit_cost is not None:
                spec["unit_cost"] = lv.unit_cost
            by_city = lev.setdefault(lv.city, {})
            if lv.lever in by_city:
                prev = by_city[lv.lever]
                by_city[lv.lever] = (prev if isinstance(prev, list) else [prev]) + [spec]
            else:
                by_city[lv.lever] = spec
        d["levers"] = lev
        return d

    def spells(self, city: str, lever: str) -> list[Spell]:
        """The spells of one lever in one city (a lever may run more than once)."""
        return [lv for lv in self.levers if lv.city == city and lv.lever == lever]


# Allowed ranges for every scalar field: (low, high). Inclusive.
RANGES: dict[str, tuple[float, float]] = {
    "start_year": (2000, 2030), "end_year": (2005, 2040), "persons_per_agent": (1, 10000),
    "modelled_share": (0.01, 1.0), "revenue_growth": (-0.2, 0.3), "inland_client_price_factor": (0.3, 1.5), "revenue_level": (0.1, 10), "productivity_wage_elasticity": (0, 1), "wage_gap_scale": (0, 3), "rent_gap_scale": (0, 3), "national_policy": (0, 1), "talent_scale": (0, 1), "relocation_max_seats": (0, 1e6), "demand_growth_after_2023": (-0.5, 0.5),
    "inland_client_share": (0, 1), "mean_new_firm_seats": (5, 10000), "firm_of_size_staff": (0, 1e5), "top_group_count": (1, 10000),
    "firm_size_sigma": (0, 3), "expansion_share": (0, 1), "beta_margin": (0, 100),
    "beta_agglomeration": (-5, 5), "onboarding_per_quarter": (1, 1e7), "beta_talent": (0, 10), "beta_hub": (0, 10), "beta_city_size_firms": (-5, 5),
    "default_setup_months": (0, 60), "wage_cost_multiplier": (1, 3), "other_cost_share": (0, 0.9), "office_m2_per_seat": (1, 50),
    "fitout_cny_per_seat": (0, 1e6), "amortisation_years": (0.25, 50), "exit_margin": (-1, 1),
    "exit_rate_base": (0, 1), "distress_exit_rate": (0, 1), "distress_shrink_rate": (0, 1), "relocation_rate": (0, 1), "relocation_threshold": (0, 1),
    "branch_share": (0, 1), "so_pay_to_graduate_pay": (0.1, 3), "so_wage_city_elasticity": (0, 2),
    "focus_wage_ratio_pin": (0, 2), "wage_growth_shift": (-0.1, 0.1), "rent_growth_to_2015": (-0.2, 0.3), "rent_growth_after_2015": (-0.2, 0.3),
    "so_rent_to_prime": (0.05, 2), "wage_tightness_elasticity": (0, 3),
    "wage_adjustment_speed": (0, 1), "max_tightness": (1, 100), "quit_rate_first_year": (0, 1), "quit_rate_later": (0, 1),
    "exit_age": (20, 70), "search_quarters": (1, 40), "return_home_rate": (0, 1),
    "so_interest_share": (0, 1), "graduate_local_share": (0, 1), "experienced_entry_rate": (0, 0.01),
    "beta_income": (0, 20), "distance_income_ratio": (0, 5), "beta_same_province": (-5, 5), "beta_home": (-5, 10),
    "beta_college": (-5, 10), "beta_network": (-10, 10), "outside_option_utility": (-50, 50), "beta_city_size_graduates": (-5, 5),
    "housing_share_of_wage": (0, 2), "tax_rate_on_output": (0, 1), "corporate_income_tax_rate": (0, 1), "tase_income_tax_rate": (0, 1), "tase_demo_from": (2000, 2040), "tase_nationwide_from": (2000, 2040), "tase_share": (0, 1), "local_tax_share": (0, 1),
    "park_cost_per_seat": (0, 1e7), "apartment_cost_per_unit_year": (0, 1e6),
    "fast_setup_cost_per_firm": (0, 1e9), "national_training_subsidy": (0, 1e6), "national_training_from": (2000, 2040), "national_training_to": (2000, 2040), "graduate_hire_share": (0, 1),
    "apartment_rent_discount": (0, 1), "office_seats_per_1000_urban": (0, 1000),
    "office_build_rate": (0, 1), "so_rent_prime_elasticity": (0, 2), "office_scarcity_elasticity": (0, 10), "office_build_occupancy": (0, 1), "office_headroom_start": (1, 10),
    "staffed_share_start": (0, 1), "max_expansion_rate": (0, 1), "expansion_fill_threshold": (0, 1),
    "max_shrink_rate": (0, 1),
    "min_entry_fill_rate": (1e-9, 1), "talent_depth_cap": (1, 1e4), "tightness_smoothing": (0.01, 1e5),
    "return_home_job_rate_gain": (0, 100), "initial_job_rate": (0, 1), "job_rate_memory": (0, 1),
    "hometown_province_boost": (0, 100), "graduation_quarter": (1, 4), "graduate_age_min": (15, 40),
    "graduate_age_max": (15, 40), "initial_workforce_age_max": (15, 70),
    "experienced_entry_job_rate_gain": (0, 100), "experienced_age_min": (15, 70), "experienced_age_max": (15, 70),
    "distance_offset_km": (0.1, 1000), "net_income_floor_share": (1e-6, 1),
}

_TYPES = {"int": int, "float": float, "str": str, "tuple[str, ...]": tuple}
#: Every field but ``levers`` and its type: int, float, str (a city name) or tuple (city names).
FIELD_TYPES: dict[str, type] = {f.name: _TYPES[f.type] for f in fields(Params) if f.name != "levers"}
#: Numeric fields (those with a range in RANGES).
NUMERIC_FIELDS: tuple[str, ...] = tuple(k for k, t in FIELD_TYPES.items() if t in (int, float))


def _city_name(name: str, value: Any, cities: set[str] | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name}: expected a city name, got {shown(value)}")
    value = value.strip()
    if cities is not None and value not in cities:
        raise InputError(f"{name}: unknown city {value[:60]!r} (allowed: {', '.join(sorted(cities))})")
    return value


def _city_list(name: str, value: Any, cities: set[str] | None) -> tuple[str, ...]:
    """A tuple of city names from a TOML array or a comma-separated --set string."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise InputError(f"{name}: expected one or more city names, e.g. [\"Chengdu\", \"Chongqing\"]")
    out = tuple(_city_name(name, v, cities) for v in items)
    if len(set(out)) != len(out):
        raise InputError(f"{name}: a city is listed twice (each once)")
    return out


def _fmt(x: float) -> str:
    return f"{x:g}"


def _coerce(name: str, value: Any, cities: set[str] | None = None) -> Any:
    """Value of a field with its declared type, or an InputError."""
    kind = FIELD_TYPES[name]
    if kind is str:
        return _city_name(name, value, cities)
    if kind is tuple:
        return _city_list(name, value, cities)
    what = "whole number" if kind is int else "number"
    lo, hi = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{name}: expected a {what}, got {shown(value)}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"{name}: expected a {what}, got {shown(value)}") from None
    if isinstance(value, int):  # exact, however large (a huge integer is out of range, not "not a number")
        if not lo <= value <= hi:
            raise InputError(f"{name}: {shown(value)} is out of range (allowed {_fmt(lo)} to {_fmt(hi)})")
        return value if kind is int else float(value)
    if not math.isfinite(value):
        raise InputError(f"{name}: expected a finite number, got {shown(value)}")
    if kind is int:
        if value != int(value):
            raise InputError(f"{name}: expected a whole number, got {shown(value)}")
        value = int(value)
    if not lo <= value <= hi:
        raise InputError(f"{name}: {shown(value)} is out of range (allowed {_fmt(lo)} to {_fmt(hi)})")
    return value


def _lever(city: str, name: str, spec: Any, cities: set[str] | None) -> Spell:
    where = f"levers.{city}.{name}"
    if cities is not None and city not in cities:
        raise InputError(f"levers.{city}: unknown city (allowed: {', '.join(sorted(cities))})")
    if name not in LEVERS:
        raise InputError(f"{where}: unknown lever (allowed: {', '.join(LEVERS)})")
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a table (or array of tables) with start, end, intensity")
    keys = {"start", "end", "intensity"} | ({"unit_cost"} if LEVERS[name].effect == "park" else set())
    if unknown := set(spec) - keys:
        raise InputError(f"{where}.{sorted(unknown)[0]}: unknown key (allowed: {', '.join(sorted(keys))})")
    for k in ("start", "end", "intensity"):
        if k not in spec:
            raise InputError(f"{where}.{k}: missing (every lever needs start, end, intensity)")
    years = {}
    for k in ("start", "end"):
        v = spec[k]
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise InputError(f"{where}.{k}: expected a year (whole number 2000 to 2040), got {shown(v)}")
        try:
            fv = float(v)
        except (ValueError, OverflowError):
            raise InputError(f"{where}.{k}: expected a year (whole number 2000 to 2040), got {shown(v)}") from None
        if not math.isfinite(fv) or fv != int(fv) or not 2000 <= fv <= 2040:
            raise InputError(f"{where}.{k}: expected a year (whole number 2000 to 2040), got {shown(v)}")
        years[k] = int(fv)
    if years["end"] < years["start"]:
        raise InputError(f"{where}.end: {years['end']} is before start {years['start']} (allowed: end >= start)")
    unit, lo, hi = LEVERS[name].unit, LEVERS[name].low, LEVERS[name].high
    v = spec["intensity"]
    try:
        if isinstance(v, bool):
            raise ValueError
        iv = float(v)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}.intensity: expected a number ({unit}), got {shown(v)}") from None
    if not math.isfinite(iv) or not lo <= iv <= hi:
        raise InputError(f"{where}.intensity: {shown(v)} is out of range (allowed {_fmt(lo)} to {_fmt(hi)}: {unit})")
    unit_cost = spec.get("unit_cost")
    if unit_cost is not None:  # from TOML a number, from --set a string
        try:
            uc = float("nan") if isinstance(unit_cost, bool) else float(unit_cost)
        except (TypeError, ValueError, OverflowError):
            uc = float("nan")
        if not 0 <= uc <= 1e7:
            raise InputError(f"{where}.unit_cost: expected CNY per seat from 0 to 1e7, got {shown(unit_cost)}")
        unit_cost = uc
    return Spell(city, name, years["start"], years["end"], iv, unit_cost)


def _validated(p: Params, cities: set[str] | None = None) -> Params:
    cities = known_cities() if cities is None else cities
    for name in FIELD_TYPES:
        _coerce(name, getattr(p, name), cities)
    if p.focus_city in p.reference_cities:
        raise InputError(f"reference_cities: {p.focus_city} is the focus city (allowed: other cities)")
    if p.end_year <= p.start_year:
        raise InputError(f"end_year: {p.end_year} must be after start_year {p.start_year}")
    for lo, hi in (("graduate_age_min", "graduate_age_max"), ("graduate_age_min", "initial_workforce_age_max"),
                   ("experienced_age_min", "experienced_age_max")):
        if getattr(p, hi) < getattr(p, lo):
            raise InputError(f"{hi}: {getattr(p, hi)} must not be below {lo} {getattr(p, lo)}")
    return p


def known_cities() -> set[str]:
    return set(load_cities().index)


def params_from_dict(raw: dict[str, Any], *, cities: set[str] | None = None) -> Params:
    """Build validated Params from a plain dict (as read from TOML)."""
    if cities is None:
        cities = known_cities()
    values: dict[str, Any] = {}
    levers: dict[tuple[str, str, int], Spell] = {}
    for key, value in raw.items():
        if key == "levers":
            if not isinstance(value, dict):
                raise InputError("levers: expected tables [levers.<City>.<lever>]")
            for city, by_lever in value.items():
                if not isinstance(by_lever, dict):
                    raise InputError(f"levers.{city}: expected tables [levers.{city}.<lever>]")
                for name, spec in by_lever.items():
                    spells = spec if isinstance(spec, list) else [spec]
                    for i, one in enumerate(spells):
                        levers[(city, name, i)] = _lever(city, name, one, cities)
        elif key in FIELD_TYPES:
            values[key] = _coerce(key, value, cities)
        else:
            raise InputError(f"{key}: unknown parameter (see `outsourcing-abm params` for the list)")
    check_overlaps(levers)
    p = Params(**values, levers=tuple(levers[k] for k in sorted(levers)))
    return _validated(p, cities)


def field_docs() -> dict[str, str]:
    """Field name -> docstring text, read from this module's source (for --help and docs)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(Params))
    out: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            out[node.target.id] = " ".join(str(nxt.value.value).split())  # type: ignore[attr-defined]
    return out
