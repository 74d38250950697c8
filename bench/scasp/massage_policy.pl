% The decision of the massage therapy policy (kb/policies/massage-therapy),
% written for s(CASP): the peer that bench/startup.py times policykb against.
% A fact the case does not state is unknown: it holds in some models and
% fails in others (an even loop), so the verdict takes two queries:
% `covered` (is there a model where it is covered?) and `not covered`.
% Both succeed: needs information; only one: that verdict.

% A case states case_true/1, case_false/1, case_value/2 and unknown/1.
% The policy's defaults (vocabulary.lp) hold for facts a case leaves out.
holds(F) :- case_true(F).
holds(F) :- unknown(F), not fails(F).
holds(benefit_in_contract) :- not stated(benefit_in_contract).
holds(health_plan_referral) :- not stated(health_plan_referral).
fails(F) :- case_false(F).
fails(F) :- unknown(F), not holds(F).
review_continuation :- case_value(review_type, continuation).

stated(F) :- case_true(F).
stated(F) :- case_false(F).
stated(F) :- unknown(F).

medicare :- holds(medicare_member).
non_medicare :- fails(medicare_member).

met_a :- holds(objective_limitations_documented), holds(physical_therapeutic_benefit),
    holds(ordered_by_treating_physician), holds(significant_improvement_expected).
met_b :- holds(terminally_ill), holds(needed_for_comfort).
met_e1 :- holds(for_prevention).
met_e1 :- holds(for_recreation).
met_e1 :- holds(for_stress_reduction).
met_e2 :- holds(directed_at_maintenance).
met_e3 :- review_continuation, holds(therapeutic_goals_achieved).
met_e3 :- review_continuation, fails(showing_meaningful_progress).
met_ben :- holds(benefit_in_contract), holds(health_plan_referral).
met_m1 :- holds(delivered_by_physical_therapist), holds(part_of_rehab_plan_of_care).
met_m2 :- fails(delivered_by_physical_therapist).

indicated :- non_medicare, met_a.
indicated :- non_medicare, met_b.
indicated :- medicare, met_m1.
excluded :- non_medicare, met_e1.
excluded :- non_medicare, met_e2.
excluded :- non_medicare, met_e3.
excluded :- medicare, met_m2.

covered :- indicated, not excluded, met_ben.
