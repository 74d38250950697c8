// Validates FHIR R4 resources with FHIR.js, independently of policykb's
// Python: reads a JSON array of resources on stdin, prints one JSON result
// per resource ({valid, messages}) as a JSON array.
"use strict";
const { Fhir } = require("fhir");

const fhir = new Fhir();

// FHIR.js tests a required choice element (answer[x]) by the truthiness of
// its value, so `"answerBoolean": false` or `"valueInteger": 0` is reported
// "Missing property" though present. Such a report is dropped only when the
// element at its location does have a key of that choice.
// The location is relative to the resource named by its first part and the
// report's resourceId, which may be contained or in a Bundle or Parameters.
function findResource(node, type, id) {
  if (node === null || typeof node !== "object") return undefined;
  if (node.resourceType === type && (node.id === id || id === "#initial")) return node;
  for (const value of Object.values(node)) {
    const found = findResource(value, type, id);
    if (found) return found;
  }
  return undefined;
}

function presentChoice(root, message) {
  const parts = message.location.split(".");
  const type = parts.shift();
  const choice = parts.pop();
  if (!choice || !choice.endsWith("[x]")) return false;
  let node = findResource(root, type, message.resourceId);
  for (const part of parts) {
    const match = /^([A-Za-z]+)(?:\[(\d+)\])?$/.exec(part);
    if (!match || node == null) return false;
    node = node[match[1]];
    if (match[2] !== undefined) node = Array.isArray(node) ? node[Number(match[2])] : undefined;
  }
  const prefix = choice.slice(0, -3);
  return (
    node != null &&
    Object.keys(node).some(
      (key) => key.startsWith(prefix) && /^[A-Z]/.test(key.slice(prefix.length)) && node[key] !== null,
    )
  );
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((resource) => {
    const result = fhir.validate(resource, { errorOnUnexpected: true });
    const messages = result.messages.filter(
      (m) =>
        m.severity === "error" &&
        !(m.message === "Missing property" && presentChoice(resource, m)),
    );
    return { valid: messages.length === 0, messages };
  });
  process.stdout.write(JSON.stringify(results));
});
