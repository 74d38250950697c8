% examples/covered-initial.json as s(CASP) facts: what it states, and the
% policy's boolean facts it leaves unknown.
case_false(medicare_member).
case_false(for_prevention).
case_false(for_recreation).
case_false(for_stress_reduction).
case_false(directed_at_maintenance).
case_true(objective_limitations_documented).
case_true(physical_therapeutic_benefit).
case_true(ordered_by_treating_physician).
case_true(significant_improvement_expected).
case_value(cpt_code, '97124').
unknown(delivered_by_physical_therapist).
unknown(part_of_rehab_plan_of_care).
unknown(terminally_ill).
unknown(needed_for_comfort).
unknown(therapeutic_goals_achieved).
unknown(showing_meaningful_progress).
