"""A test-only oracle: Medicare NCD 210.3 (colorectal cancer screening), with
42 CFR 410.37 and Social Security Act 1834(d), as plain Python.

Written from the compiled policy text alone (../shared/policies/, PARTS A-D:
NCD 210.3 version 8 effective 2026-06-08, the prior version effective
2023-01-01, 42 CFR 410.37 as revised to 2023-10-01, 42 U.S.C. 1395m(d)),
before the encoding's vocabulary existed and without reading the encoding's
rules, so the two can check each other. `covered` decides one complete
`Scenario`; `decide` is the same decision reading facts one at a time
through `get`, so that the three-valued layer (below) can
enumerate the completions of a partial case as a decision tree.

Invariants:
- `decide` reads a fact only when the branch it is on needs it, and reads
  `test` before anything else; it reads the history (records of earlier
  screening tests) only through the readings `history_signature` lists (the
  latest date of records of given kinds, whether a positive test of given
  kinds is on record), so duplicated records never change an answer and
  two histories with one signature get one decision.
- A date of service before 2023-01-01 has no version in the text and is
  refused (ValueError), as is an unknown test kind.

The field names follow the oracle's own Scenario; the encoding's vocabulary
(read after these readings were written) is adapted to them in
ncd_210_3_vocabulary.py. From the vocabulary the decision took only facts
the text implies but the first draft had not named: Medicare beneficiary
("Medicare Part B pays"), a test other than those named (not covered), the
ordering and performing practitioner as physician / PA-NP-CNS / other, and
whether a colonoscopy has followed the latest positive stool-based test up
(asked as a fact, where the first draft compared the records' dates).

Readings, each decided from the text before the encoding was compared:
- Versions. PART B (the prior NCD, effective 2023-01-01) governs dates of
  service 2023-01-01 through 2026-06-07; PART A (version 8, "effective
  06/08/2026"; its implementation date 01/04/2027 is a claims-processing
  date, not the coverage date) from 2026-06-08 on. The regulation (PART C,
  the 2023 edition) governs both periods. Earlier dates of service are not
  decided: the texts of the versions in force then are not given (PART B's
  own history sentences - ages 50 before 2023, sDNA from 2014-10-09, blood
  tests from 2021-01-19 - describe its predecessors, whose full text,
  including the then-current CFR ages, is not here).
- What the text does not reflect. The CY2025 fee schedule rule that PART A
  cites (CT colonography covered, barium enema dropped) is not in the given
  regulation text; the oracle follows the text as given: CT colonography is
  not covered ("Non-coverage specifically includes: ... (2) Screening
  computed tomographic colonography (CTC)" in PART B; PART A's "All other
  indications ... remain nationally non-covered"), and the barium enema is
  covered under 410.37(h)-(i).
- Statute against regulation. 1834(d) says "under 50 years of age" for FOBT
  and sigmoidoscopy; 410.37(c)(1), (e)(1) and the NCD (both versions, from
  2023) say 45. The later, more specific texts govern: 45.
- Ages are whole years on the date of service. "Age 45 to 85 years" includes
  85 (and a person aged 85 and some months); "45 years and older" is 45 and
  over.
- Month counts. "after at least N months have passed following the month in
  which the last ... was performed": the months after the last one's
  calendar month, before the date of service's month, number N or more.
  Only months count, never days: a last FOBT in any day of January 2024
  allows the next on any day of January 2025 (11 months, February-December
  2024, have passed) and not on 2024-12-31. Month ends and leap days change
  nothing.
- "once every 3 years" (the biomarker tests; no month count is stated): a
  prior test of the kind the limit names bars coverage when it was performed
  on a day after the date of service moved back 36 months (a month step
  keeps the day or takes the last day of a shorter month: from 2027-02-28
  the edge is 2024-02-28, so a test on 2024-02-29 still bars it); one on the
  moved day itself or before does not.
- "The last" test is the latest record of the kinds named dated on or before
  the date of service (a record on the date of service is a test already
  performed that day); records dated after the date of service are not
  "last" tests for it and are ignored. No record: the limit is met.
- Which records limit which test:
  FOBT: any gFOBT or iFOBT ("one gFOBT or one iFOBT at a frequency of every
  12 months"). Sigmoidoscopy: the last sigmoidoscopy or barium enema, 47
  months (410.37(e)(2)); not at high risk, also the last colonoscopy, 119
  months ((e)(3)). Colonoscopy: not at high risk, the last colonoscopy 119
  months ((g)(1)) and the last sigmoidoscopy 47 months ((g)(3)); at high
  risk, the last colonoscopy or barium enema 23 months ((g)(2)). Barium
  enema: not at high risk, the last barium enema or sigmoidoscopy 47 months
  ((i)(1)); at high risk, the last barium enema or colonoscopy 23 months
  ((i)(2)). PART B: Cologuard by an earlier stool DNA test, a blood-based
  test by an earlier blood-based test (two separate limits in two separate
  sections); PART A: any non-invasive biomarker test (stool DNA or blood)
  by any earlier one (one section, one limit).
- Ages by test: FOBT, sigmoidoscopy: 45 and over. Biomarker tests
  (Cologuard, blood-based, PART A's biomarker): 45 to 85. Colonoscopy: no
  age limit (none is stated). Barium enema: 45 and over when not at high
  risk ((i)(1) names "an individual age 45 or over who is not at high
  risk"); at high risk any age ((i)(2) names none).
- High risk is 410.37(a)(3): any of a close relative (sibling, parent,
  child) with colorectal cancer or an adenomatous polyp, a family history of
  FAP or of HNPCC, a personal history of adenomatous polyps or of colorectal
  cancer, inflammatory bowel disease. Average risk (the biomarker tests) is
  the NCD's own list: none of those personal histories and no FAMILY
  history of colorectal cancers or adenomatous polyps, FAP or HNPCC: a
  relative who is not a sibling, parent or child with colorectal cancer
  leaves a member not at high risk but not at average risk either.
- Signs or symptoms (the biomarker tests: "Asymptomatic (no signs or
  symptoms of colorectal disease including but not limited to lower
  gastrointestinal pain, blood in stool, positive ... test)"): the case's
  own signs or symptoms, or a positive non-invasive test (gFOBT, iFOBT,
  stool DNA, blood-based) in the history that no colonoscopy has followed
  up (for a stool-based test, colonoscopy_since_positive_stool_test; for a
  blood test, a colonoscopy record dated on or after it). PART A names a
  positive biomarker test and "blood in stool" (a positive FOBT); PART B
  names a positive gFOBT or FIT; "including but not limited to" lets both
  versions read all four. The encoding reads only the case's own answer
  (its vocabulary: the text sets no window); the text does not settle
  which is right, and `history_signs=False` gives the encoding's reading,
  which the comparison uses (test_ncd_210_3_oracle pins the difference).
- The follow-on colonoscopy (410.37(k), "Effective January 1, 2023 ... a
  follow-on screening colonoscopy after a Medicare covered non-invasive
  stool-based colorectal cancer screening test returns a positive result.
  The frequency limitations ... in paragraph (g) ... shall not apply"): a
  colonoscopy is a follow-on when the history holds a positive stool-based
  test (gFOBT, iFOBT, stool DNA; not a blood-based one) on or before the
  date of service that no colonoscopy has followed up since (the
  vocabulary's colonoscopy_since_positive_stool_test).
  No time window is stated, so none is read. The history's records are
  taken as the Medicare-covered screening tests the member had. A follow-on
  colonoscopy still needs the performer (410.37(f)), which (k) does not
  lift.
- Medicare only ("Medicare Part B pays for ..."): anyone else is not
  covered. A test the texts do not name (`other`) is not covered ("All
  other indications ... remain nationally non-covered").
- Orders and performers. FOBT: a written order by the attending physician,
  PA, NP or CNS (PART A's definition; 410.37(b)). Sigmoidoscopy: performed
  by an MD/DO, or a PA, NP or CNS authorized by State law (410.37(d)).
  Colonoscopy: performed by an MD/DO (410.37(f)). Neither needs an order
  (none is stated). Barium enema: ordered in writing by the attending
  physician (410.37(h)), and double contrast, or single contrast when the
  attending physician decides the member cannot tolerate double contrast
  (410.37(a)(4)). Blood-based test (PART B): ordered by a treating physician
  (an MD/DO; no written order is stated) and processed in a CLIA-certified
  laboratory. Cologuard (PART B): no order or laboratory is stated, none is
  read. PART A's biomarker test: ordered by a physician, PA, NP or CNS who
  will use the results; the member provided with information about the
  test's performance and a follow-on colonoscopy; FDA market authorized and
  indicated for screening; the post-approval study's requirements achieved;
  a CLIA-certified laboratory.
- Test performance. PART A: sensitivity >= 90% and specificity >= 87%, or
  sensitivity >= 79% and specificity >= 90% (both ends included). PART B's
  blood-based test: sensitivity >= 74% and specificity >= 90%, with FDA
  market authorization indicated for screening. PART B's stool DNA: only
  "The Cologuard(TM) - multi-target sDNA test" is covered; "all other
  screening sDNA tests not otherwise specified above remain nationally
  non-covered".
- Tissue removed during a screening sigmoidoscopy or colonoscopy (410.37(j))
  changes nothing here: the test stays a screening test (the statute's
  lesion rule moves the payment, not the coverage).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

PART_B_FIRST_DAY = date(2023, 1, 1)  # PART B "effective 01/01/2023"
PART_A_FIRST_DAY = date(2026, 6, 8)  # PART A "effective 06/08/2026"

MINIMUM_AGE = 45  # "The minimum age for FOBT is reduced to 45 years and older."
BIOMARKER_MAXIMUM_AGE = 85  # "Age 45 to 85 years"

# "at least N months have passed following the month in which the last ..."
FOBT_MONTHS = 11
SIGMOIDOSCOPY_MONTHS = 47
COLONOSCOPY_MONTHS = 119
HIGH_RISK_MONTHS = 23
BIOMARKER_MONTHS = 36  # "once every 3 years"

FOBT = frozenset({"gfobt", "ifobt"})
STOOL_DNA = "stool_dna"
BLOOD = "blood_biomarker"
SIGMOIDOSCOPY = "sigmoidoscopy"
COLONOSCOPY = "colonoscopy"
BARIUM_ENEMA = "barium_enema"
CT_COLONOGRAPHY = "ct_colonography"
OTHER = "other"
TESTS = (
    *sorted(FOBT),
    STOOL_DNA,
    BLOOD,
    SIGMOIDOSCOPY,
    COLONOSCOPY,
    BARIUM_ENEMA,
    CT_COLONOGRAPHY,
    OTHER,
)
NON_INVASIVE = frozenset({*FOBT, STOOL_DNA, BLOOD})
STOOL_BASED = frozenset({*FOBT, STOOL_DNA})
BIOMARKER = frozenset({STOOL_DNA, BLOOD})

PHYSICIAN = "physician"  # "a doctor of medicine or osteopathy"
PRACTITIONER = "nonphysician_practitioner"  # "physician assistant, nurse practitioner, or CNS"
# 410.37(a)(3): each makes a member at high risk.
HIGH_RISK_FACTORS = (
    "close_relative_crc_or_adenomatous_polyp",
    "family_history_fap",
    "family_history_hnpcc",
    "personal_history_adenomatous_polyps",
    "personal_history_crc",
    "inflammatory_bowel_disease",
)
# The NCD's "average risk" also excludes any family history (not only a close
# relative's) of colorectal cancer or adenomatous polyps.
FAMILY_HISTORY_CRC_OR_POLYPS = "family_history_crc_or_adenomatous_polyps"


@dataclass(frozen=True, order=True)
class Record:
    """One earlier screening test: its kind (one of TESTS), day and result
    (positive, negative or not_reported: only a positive one is read)."""

    test: str
    day: date
    result: str = "negative"

    @property
    def positive(self) -> bool:
        return self.result == "positive"


@dataclass(frozen=True)
class Scenario:
    """A complete description of one request (every field decided)."""

    date_of_service: date
    test: str
    age: int
    history: frozenset[Record] = frozenset()
    colonoscopy_since_positive_stool_test: bool | None = None
    """Whether a colonoscopy followed the latest positive stool-based test up;
    None: read from the history's dates."""
    medicare_beneficiary: bool = True
    risk_factors: frozenset[str] = frozenset()
    """The HIGH_RISK_FACTORS and FAMILY_HISTORY_CRC_OR_POLYPS the member has."""
    signs_or_symptoms: bool = False
    ordered_by: str = PHYSICIAN
    """The member's attending (treating) PHYSICIAN (MD/DO), PRACTITIONER (PA,
    NP, CNS), or anyone else."""
    order_in_writing: bool = True
    performed_by: str = PHYSICIAN
    """An MD/DO (PHYSICIAN), a PA, NP or CNS authorized by State law
    (PRACTITIONER), or anyone else."""
    barium_enema_contrast: str = "double"
    """double or single contrast of the entire colorectum, or neither."""
    cannot_tolerate_double_contrast: bool = False
    informed_of_performance_and_follow_on: bool = True
    fda_authorized_for_screening: bool = True
    post_approval_study_met: bool = True
    clia_laboratory: bool = True
    is_cologuard: bool = True
    sensitivity: Decimal = Decimal(92)
    specificity: Decimal = Decimal(90)

    def get(self, name: str) -> Any:
        if name in HIGH_RISK_FACTORS or name == FAMILY_HISTORY_CRC_OR_POLYPS:
            return name in self.risk_factors
        return getattr(self, name)


Get = Callable[[str], Any]


# --- calendar arithmetic, from the text's words ------------------------------


def month_number(day: date) -> int:
    """The calendar month of a day as a count (consecutive months differ by 1)."""
    return day.year * 12 + day.month - 1


def months_passed(last: date, day: date, months: int) -> bool:
    """ "at least `months` months have passed following the month in which"
    `last` fell, as of `day`: the whole months after last's month and before
    day's month number `months` or more."""
    return month_number(day) - month_number(last) - 1 >= months


def months_back(day: date, months: int) -> date:
    """`day` moved back `months` calendar months, keeping the day of the month
    or taking the last day of a shorter month."""
    year, month = divmod(month_number(day) - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def last_day_of_month(number: int) -> date:
    year, month = divmod(number, 12)
    return date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def version_on(day: date) -> str:
    """ "2023" (PART B) or "2026" (PART A): the NCD version in force on a date of service."""
    if day < PART_B_FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {PART_B_FIRST_DAY}: {day}")
    return "2026" if day >= PART_A_FIRST_DAY else "2023"


# --- reading the history --------------------------------------------------------


def earlier(history: Iterable[Record], day: date) -> list[Record]:
    """The records that can be "the last" test for a service on `day`."""
    return [r for r in history if r.day <= day]


def latest(history: Iterable[Record], kinds: Iterable[str], day: date) -> date | None:
    wanted = set(kinds)
    days = [r.day for r in earlier(history, day) if r.test in wanted]
    return max(days) if days else None


def limit_met(history: Iterable[Record], kinds: Iterable[str], day: date, months: int) -> bool:
    """No earlier test of `kinds`, or the last one `months` months past by month count."""
    last = latest(history, kinds, day)
    return last is None or months_passed(last, day, months)


def three_years_met(history: Iterable[Record], kinds: Iterable[str], day: date) -> bool:
    """No test of `kinds` after the date of service moved back 36 months."""
    last = latest(history, kinds, day)
    return last is None or last <= months_back(day, BIOMARKER_MONTHS)


def positive_on_record(history: Iterable[Record], kinds: Iterable[str], day: date) -> bool:
    """A positive test of `kinds` on or before `day`."""
    wanted = set(kinds)
    return any(r.test in wanted and r.positive for r in earlier(history, day))


def open_positive_stool_test(get: Get, day: date) -> bool:
    """A positive stool-based test (gFOBT, iFOBT, stool DNA) on record that no
    colonoscopy has followed up since its (latest) result."""
    if not positive_on_record(get("history"), STOOL_BASED, day):
        return False
    return not get("colonoscopy_since_positive_stool_test")


def open_positive_blood_test(history: Iterable[Record], day: date) -> bool:
    """A positive blood-based test on or before `day` that no colonoscopy dated
    on or after it (and on or before `day`) has followed up."""
    records = earlier(history, day)
    positives = [r.day for r in records if r.test == BLOOD and r.positive]
    if not positives:
        return False
    followed = [r.day for r in records if r.test == COLONOSCOPY]
    return not followed or max(followed) < max(positives)


HISTORY_SIGNS = True
"""The oracle's reading: an open positive non-invasive test on record is a
sign of colorectal disease for the biomarker tests. `decide(...,
history_signs=False)` gives the other reading (only the signs the case
states), for comparison."""


# --- the decision -----------------------------------------------------------------


def high_risk(get: Get) -> bool:
    """410.37(a)(3): "An individual at high risk for colorectal cancer means an
    individual with" any one of six."""
    return any(get(f) for f in HIGH_RISK_FACTORS)


def average_risk(get: Get) -> bool:
    """ "At average risk of developing colorectal cancer (no personal history of
    adenomatous polyps, colorectal cancer, or inflammatory bowel disease ...;
    no family history of colorectal cancers or adenomatous polyps, familial
    adenomatous polyposis, or hereditary nonpolyposis colorectal cancer)" """
    return not high_risk(get) and not get(FAMILY_HISTORY_CRC_OR_POLYPS)


def decide(get: Get, day: date, history_signs: bool = HISTORY_SIGNS) -> bool:
    """Coverage of one scenario on a date of service, reading facts through `get`."""
    version = version_on(day)
    test = get("test")
    # 410.37: "Medicare Part B pays for ..."; 1834(d) "No payment may be made under this part"
    if not get("medicare_beneficiary"):
        return False
    if test in FOBT:
        return _fobt(get, day)
    if test == STOOL_DNA:
        if version == "2023":
            return _stool_dna(get, day, history_signs)
        return _biomarker(get, day, history_signs)
    if test == BLOOD:
        if version == "2023":
            return _blood_based(get, day, history_signs)
        return _biomarker(get, day, history_signs)
    if test == SIGMOIDOSCOPY:
        return _sigmoidoscopy(get, day)
    if test == COLONOSCOPY:
        return _colonoscopy(get, day)
    if test == BARIUM_ENEMA:
        return _barium_enema(get, day)
    if test in (CT_COLONOGRAPHY, OTHER):
        # PART B C.(2) "Screening computed tomographic colonography (CTC)";
        # PART A C. "All other indications ... remain nationally non-covered."
        return False
    raise ValueError(f"not a test of NCD 210.3: {test!r}")


def _fobt(get: Get, day: date) -> bool:
    # 410.37(c)(1) "Payment may not be made for a screening fecal-occult blood
    # test performed for an individual under age 45."
    if get("age") < MINIMUM_AGE:
        return False
    # "This screening requires a written order from the beneficiary's attending
    # physician"; 410.37(b) "ordered in writing by the beneficiary's attending
    # physician, physician assistant, nurse practitioner, or clinical nurse specialist."
    if get("ordered_by") not in (PHYSICIAN, PRACTITIONER) or not get("order_in_writing"):
        return False
    # "Medicare will cover one gFOBT or one iFOBT at a frequency of every 12
    # months; i.e., at least 11 months have passed following the month in
    # which the last covered screening FOBT was performed"
    return limit_met(get("history"), FOBT, day, FOBT_MONTHS)


def _patient_criteria(get: Get, day: date, history_signs: bool) -> bool:
    """The biomarker tests' shared patient criteria: "Age 45 to 85 years; and,
    Asymptomatic ...; and, At average risk"."""
    if not MINIMUM_AGE <= get("age") <= BIOMARKER_MAXIMUM_AGE:
        return False
    if get("signs_or_symptoms"):
        return False
    if not average_risk(get):
        return False
    if not history_signs:
        return True
    return not open_positive_stool_test(get, day) and not open_positive_blood_test(
        get("history"), day
    )


def _stool_dna(get: Get, day: date, history_signs: bool) -> bool:
    # PART B C.(1) "Effective for dates of service on or after October 9, 2014,
    # all other screening sDNA tests not otherwise specified above remain
    # nationally non-covered."
    if not get("is_cologuard"):
        return False
    # "The Cologuard(TM) test is covered once every three years for Medicare
    # beneficiaries that meet all of the following criteria: - Age 50 to 85
    # years [45 from 2023], - Asymptomatic (... positive guaiac fecal occult
    # blood test (gFOBT) or fecal immunochemical test (iFOBT)), - At average risk"
    if not _patient_criteria(get, day, history_signs):
        return False
    return three_years_met(get("history"), {STOOL_DNA}, day)


def _blood_based(get: Get, day: date, history_signs: bool) -> bool:
    # PART B 3. "a blood-based biomarker test is covered ... once every 3 years
    # ... when performed in a Clinical Laboratory Improvement Act
    # (CLIA)-certified laboratory, when ordered by a treating physician and
    # when all of the following requirements are met"
    if not get("clia_laboratory") or get("ordered_by") != PHYSICIAN:
        return False
    if not _patient_criteria(get, day, history_signs):
        return False
    # "Food and Drug Administration (FDA) market authorization with an
    # indication for colorectal cancer screening; and, ... sensitivity greater
    # than or equal to 74% and specificity greater than or equal to 90%"
    if not get("fda_authorized_for_screening"):
        return False
    if not (get("sensitivity") >= 74 and get("specificity") >= 90):
        return False
    return three_years_met(get("history"), {BLOOD}, day)


def _biomarker(get: Get, day: date, history_signs: bool) -> bool:
    # PART A 2. "Non-Invasive Biomarker tests are covered once every 3 years
    # under the following conditions: Ordering Criteria When ordered by the
    # physician, physician assistant, nurse practitioner, or clinical nurse
    # specialist who will use the results in the management of the patient."
    if get("ordered_by") not in (PHYSICIAN, PRACTITIONER):
        return False
    # "Patient Criteria Age 45 to 85 years; and, Asymptomatic (...); and, At
    # average risk ...; and, Provided with information about the test
    # performance and the importance of a follow-on colonoscopy"
    if not _patient_criteria(get, day, history_signs):
        return False
    if not get("informed_of_performance_and_follow_on"):
        return False
    # "Test Criteria The test must be Food and Drug Administration (FDA) market
    # authorized and indicated for colorectal cancer screening; and, The test
    # must achieve the requirements of the FDA-required post-approval study
    # ...; and The test must be processed in a CLIA certified laboratory"
    if not get("fda_authorized_for_screening"):
        return False
    if not get("post_approval_study_met"):
        return False
    if not get("clia_laboratory"):
        return False
    # "EITHER Criteria 1 , a sensitivity of greater than or equal to 90% and a
    # specificity greater than or equal to 87%, OR Criteria 2 , a sensitivity
    # of greater than or equal to 79% and a specificity of greater than or
    # equal to 90%"
    sensitivity, specificity = get("sensitivity"), get("specificity")
    if not ((sensitivity >= 90 and specificity >= 87) or (sensitivity >= 79 and specificity >= 90)):
        return False
    return three_years_met(get("history"), BIOMARKER, day)


def _sigmoidoscopy(get: Get, day: date) -> bool:
    # 410.37(e)(1) "Payment may not be made for a screening flexible
    # sigmoidoscopy performed for an individual under age 45."
    if get("age") < MINIMUM_AGE:
        return False
    # 410.37(d) "if it is performed by a doctor of medicine or osteopathy ..., or
    # by a physician assistant, nurse practitioner, or clinical nurse specialist
    # ... who is authorized under State law to perform the examination."
    if get("performed_by") not in (PHYSICIAN, PRACTITIONER):
        return False
    history = get("history")
    # (e)(2) "after at least 47 months have passed following the month in which
    # the last screening flexible sigmoidoscopy or, ..., the last screening
    # barium enema was performed."
    if not limit_met(history, {SIGMOIDOSCOPY, BARIUM_ENEMA}, day, SIGMOIDOSCOPY_MONTHS):
        return False
    # (e)(3) "In the case of an individual who is not at high risk ... but who
    # has had a screening colonoscopy performed, ... only after at least 119
    # months have passed following the month in which the last screening
    # colonoscopy was performed."
    if latest(history, {COLONOSCOPY}, day) is None or high_risk(get):
        return True
    return limit_met(history, {COLONOSCOPY}, day, COLONOSCOPY_MONTHS)


def _colonoscopy(get: Get, day: date) -> bool:
    # 410.37(f) "if it is performed by a doctor of medicine or osteopathy"
    if get("performed_by") != PHYSICIAN:
        return False
    history = get("history")
    # (k) "a follow-on screening colonoscopy after a Medicare covered
    # non-invasive stool-based colorectal cancer screening test returns a
    # positive result. The frequency limitations described for screening
    # colonoscopy in paragraph (g) of this section shall not apply"
    if open_positive_stool_test(get, day):
        return True
    if high_risk(get):
        # (g)(2) "after at least 23 months have passed following the month in
        # which the last screening colonoscopy was performed, or, ..., the last
        # screening barium enema was performed."
        return limit_met(history, {COLONOSCOPY, BARIUM_ENEMA}, day, HIGH_RISK_MONTHS)
    # (g)(1) "not at high risk ..., after at least 119 months have passed
    # following the month in which the last screening colonoscopy was performed."
    # (g)(3) "not at high risk ... but who has had a screening flexible
    # sigmoidoscopy performed, ... only after at least 47 months have passed
    # following the month in which the last screening flexible sigmoidoscopy"
    return limit_met(history, {COLONOSCOPY}, day, COLONOSCOPY_MONTHS) and limit_met(
        history, {SIGMOIDOSCOPY}, day, SIGMOIDOSCOPY_MONTHS
    )


def _barium_enema(get: Get, day: date) -> bool:
    # 410.37(h) "if it is ordered in writing by the beneficiary's attending physician."
    if get("ordered_by") != PHYSICIAN or not get("order_in_writing"):
        return False
    # (a)(4) "(i) A screening double contrast barium enema ...; or (ii) In the
    # case of an individual whose attending physician decides that he or she
    # cannot tolerate a screening double contrast barium enema, a screening
    # single contrast barium enema"
    contrast = get("barium_enema_contrast")
    if contrast == "neither" or (
        contrast == "single" and not get("cannot_tolerate_double_contrast")
    ):
        return False
    history = get("history")
    if high_risk(get):
        # (i)(2) "at high risk ..., after at least 23 months have passed
        # following the month in which the last screening barium enema or the
        # last screening colonoscopy was performed."
        return limit_met(history, {BARIUM_ENEMA, COLONOSCOPY}, day, HIGH_RISK_MONTHS)
    # (i)(1) "In the case of an individual age 45 or over who is not at high
    # risk ..., after at least 47 months have passed following the month in
    # which the last screening barium enema or screening flexible sigmoidoscopy"
    if get("age") < MINIMUM_AGE:
        return False
    return limit_met(history, {BARIUM_ENEMA, SIGMOIDOSCOPY}, day, SIGMOIDOSCOPY_MONTHS)


def covered(scenario: Scenario, history_signs: bool = HISTORY_SIGNS) -> bool:
    """Coverage of one complete scenario; with `colonoscopy_since_positive_stool_test`
    None, whether a colonoscopy followed the latest positive stool-based test
    up is read from the history's dates."""
    if scenario.colonoscopy_since_positive_stool_test is None:
        records = earlier(scenario.history, scenario.date_of_service)
        stool = [r.day for r in records if r.test in STOOL_BASED and r.positive]
        since = [r.day for r in records if r.test == COLONOSCOPY]
        followed = bool(stool) and bool(since) and max(since) >= max(stool)
        scenario = replace(scenario, colonoscopy_since_positive_stool_test=followed)
    return decide(scenario.get, scenario.date_of_service, history_signs)


# --- the dates the text draws, as of a date of service --------------------------------


def month_edges(day: date, months: int) -> tuple[date, date]:
    """The last day whose month is `months` months past by month count, and the next day."""
    last = last_day_of_month(month_number(day) - months - 1)
    return last, last + timedelta(days=1)


def edge_days(day: date) -> dict[str, tuple[date, ...]]:
    """Each boundary of the text, as the days on both sides of it."""
    three_years = months_back(day, BIOMARKER_MONTHS)
    return {
        "fobt": month_edges(day, FOBT_MONTHS),
        "high_risk": month_edges(day, HIGH_RISK_MONTHS),
        "sigmoidoscopy": month_edges(day, SIGMOIDOSCOPY_MONTHS),
        "colonoscopy": month_edges(day, COLONOSCOPY_MONTHS),
        "three_years": (three_years, three_years + timedelta(days=1)),
        "service": (day, day + timedelta(days=1)),
    }


def history_signature(history: Iterable[Record], day: date) -> tuple[bool, ...]:
    """Every reading `decide` makes of a history, as of a date of service: two
    histories with one signature get one decision whatever the other facts
    (so completions need only one history per signature)."""
    records = frozenset(history)
    return (
        limit_met(records, FOBT, day, FOBT_MONTHS),
        positive_on_record(records, STOOL_BASED, day),
        open_positive_blood_test(records, day),
        three_years_met(records, {STOOL_DNA}, day),
        three_years_met(records, {BLOOD}, day),
        three_years_met(records, BIOMARKER, day),
        limit_met(records, {SIGMOIDOSCOPY, BARIUM_ENEMA}, day, SIGMOIDOSCOPY_MONTHS),
        latest(records, {COLONOSCOPY}, day) is None,
        limit_met(records, {COLONOSCOPY}, day, COLONOSCOPY_MONTHS),
        limit_met(records, {COLONOSCOPY, BARIUM_ENEMA}, day, HIGH_RISK_MONTHS),
        limit_met(records, {SIGMOIDOSCOPY}, day, SIGMOIDOSCOPY_MONTHS),
        limit_met(records, {BARIUM_ENEMA, SIGMOIDOSCOPY}, day, SIGMOIDOSCOPY_MONTHS),
    )
