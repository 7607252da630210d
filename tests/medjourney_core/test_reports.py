from medjourney_core.reports import findings_and_impression, impression_or_findings, split_sections

MIMIC_WITH_WET_READ = """ WET READ: ___ ___ ___ 4:23 PM
  No evidence of pneumonia.  Small left effusion.
 ______________________________________________________________________________
                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___M with cough

 COMPARISON:  ___

 FINDINGS:

 PA and lateral views of the chest provided.  There is no focal consolidation,
 effusion, or pneumothorax.  The cardiomediastinal silhouette is normal.

 IMPRESSION:

 No acute intrathoracic
 process.
"""


def test_sections_of_a_mimic_report_with_a_wet_read():
    sections = split_sections(MIMIC_WITH_WET_READ)
    assert sections["WET READ"] == "No evidence of pneumonia. Small left effusion."
    assert sections["FINDINGS"].startswith("PA and lateral views") and "\n" not in sections["FINDINGS"]
    assert sections["IMPRESSION"] == "No acute intrathoracic process."  # wrapped lines joined
    assert sections["INDICATION"] == "___M with cough"  # de-identification blanks kept
    assert impression_or_findings(MIMIC_WITH_WET_READ) == "No acute intrathoracic process."


def test_headings_in_any_case_and_synonyms():
    report = "Findings: Moderate right effusion.\nimpression: moderate right effusion, increased.\n"
    assert impression_or_findings(report) == "moderate right effusion, increased."
    assert impression_or_findings("FINDINGS: Clear lungs.\nCONCLUSION: Normal study.") == "Normal study."
    combined = "FINDINGS AND IMPRESSION: Stable cardiomegaly."
    assert split_sections(combined) == {"FINDINGS AND IMPRESSION": "Stable cardiomegaly."}
    assert impression_or_findings(combined) == "Stable cardiomegaly."


def test_missing_impression_falls_back_to_findings():
    report = "EXAMINATION: CHEST PA\n\nFINDINGS:\n New small left pleural effusion.\n Heart size normal.\n"
    assert impression_or_findings(report) == "New small left pleural effusion. Heart size normal."
    assert findings_and_impression(report) == "New small left pleural effusion. Heart size normal."


def test_report_without_any_heading_is_kept_whole():
    assert impression_or_findings("  Lungs are clear.\n No effusion. ") == "Lungs are clear. No effusion."
    assert impression_or_findings("") == ""
