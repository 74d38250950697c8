// Populates Questionnaires with @aehrc/sdc-populate (CSIRO's SDC $populate,
// an implementation independent of policykb) from an EHR's record, as a DTR
// client does. Reads a JSON array of cases on stdin:
//   {questionnaire, patient, record: [resources], fhirContext: ["Type/id", ...]}
// and prints a JSON array of {response, issues} (the populated
// QuestionnaireResponse, or null when population failed).
//
// The EHR here answers only what a US Core server answers: a read by
// Type/id, `Condition?patient=`, `Procedure?patient=`,
// `MedicationDispense?patient=`, `MedicationRequest?patient=&intent=`, and
// `Observation?patient=` with `code=` (system|code) or `category=`; any
// other query fails the test loudly.
"use strict";
const { populateQuestionnaire } = require("@aehrc/sdc-populate");

function searchset(resources) {
  return {
    resourceType: "Bundle",
    type: "searchset",
    total: resources.length,
    entry: resources.map((resource) => ({ resource })),
  };
}

function about(resource, patientId) {
  const reference = (resource.subject || resource.patient || {}).reference || "";
  return reference === `Patient/${patientId}`;
}

function codings(concept) {
  return (concept && concept.coding) || [];
}

function ehr(record) {
  return async (query) => {
    const [path, search] = query.split("?");
    if (search === undefined) {
      const [type, id] = path.split("/");
      const found = record.find((r) => r.resourceType === type && r.id === id);
      if (!found) throw new Error(`no ${path} in the record`);
      return found;
    }
    const params = new URLSearchParams(search);
    const patientId = params.get("patient");
    const keys = [...params.keys()].sort().join("+");
    let hits = record.filter((r) => r.resourceType === path && about(r, patientId));
    if (path === "Condition" && keys === "patient") return searchset(hits);
    if (path === "Procedure" && keys === "patient") return searchset(hits);
    if (path === "MedicationDispense" && keys === "patient") return searchset(hits);
    if (path === "MedicationRequest" && keys === "intent+patient") {
      return searchset(hits.filter((r) => r.intent === params.get("intent")));
    }
    if (path === "Observation" && keys === "code+patient") {
      const wanted = params.get("code").split(",");
      hits = hits.filter((r) =>
        codings(r.code).some((c) => wanted.includes(`${c.system}|${c.code}`)),
      );
      return searchset(hits);
    }
    if (path === "Observation" && keys === "category+patient") {
      const wanted = params.get("category").split(",");
      hits = hits.filter((r) =>
        (r.category || []).some((cat) => codings(cat).some((c) => wanted.includes(c.code))),
      );
      return searchset(hits);
    }
    throw new Error(`not a US Core search: ${query}`);
  };
}

async function populate(item) {
  const fetchResourceCallback = ehr(item.record);
  const { populateSuccess, populateResult } = await populateQuestionnaire({
    questionnaire: item.questionnaire,
    fetchResourceCallback,
    fetchResourceRequestConfig: { sourceServerUrl: "http://ehr.invalid/fhir" },
    patient: item.patient,
    fhirContext: (item.fhirContext || []).map((reference) => ({ reference })),
  });
  if (!populateSuccess || !populateResult) return { response: null, issues: null };
  return {
    response: populateResult.populatedResponse,
    issues: populateResult.issues || null,
  };
}

// Nothing here reaches a network: a request that would (a terminology
// server's $lookup or $expand) fails at once and is reported.
const offline = [];
globalThis.fetch = async (url) => {
  offline.push(String(url));
  throw new Error(`offline: ${url}`);
};

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const originalWarn = console.warn;
  const warnings = [];
  console.warn = (...args) => warnings.push(args.join(" "));
  const results = [];
  for (const item of JSON.parse(input)) {
    results.push(await populate(item));
  }
  console.warn = originalWarn;
  // sdc-populate's time limits leave their timers running: exit once written.
  process.stdout.write(JSON.stringify({ results, warnings, offline }), () => process.exit(0));
});
