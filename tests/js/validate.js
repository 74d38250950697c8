// Validates FHIR R4 resources with FHIR.js, independently of policykb's
// Python: reads a JSON array of resources on stdin, prints one JSON result
// per resource ({valid, messages}) as a JSON array.
"use strict";
const { Fhir } = require("fhir");

const fhir = new Fhir();
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((resource) => {
    const result = fhir.validate(resource, { errorOnUnexpected: true });
    return {
      valid: result.valid,
      messages: result.messages.filter((m) => m.severity === "error"),
    };
  });
  process.stdout.write(JSON.stringify(results));
});
