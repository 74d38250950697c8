// The analyst's page: a form generated from a policy's vocabulary, and the
// service's answers about it. Every answer comes from the JSON API (/v1);
// the page holds no policy logic. No build step: a plain ES module.

const state = {
  policies: [],
  vocabulary: null, // GET /v1/policies/{name}
  facts: {}, // fact -> value as a case writes it (absent: unknown)
  keep: new Set(), // facts no what-if change may touch
  evaluation: null,
  why: null,
  controls: {}, // fact -> [{set(value)}], every control showing that fact
  generation: 0, // the latest update; older answers are dropped
  choice: 0, // the latest choice of a policy; older vocabularies are dropped
  invalid: new Set(), // facts whose typed text the browser refuses (its error stays shown)
  said: 0, // messages said so far; an answer clears only what was said before it was asked
};

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// Says a message in the status line; returns its number, for unsay.
function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
  return ++state.said;
}

// Clears the status line unless a message came after the one numbered `since`:
// a later message is about something newer than the answer that clears it.
function unsay(since) {
  if (state.said === since) say("");
}

async function api(path, body = undefined) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = answer.detail || (answer.issue && answer.issue[0].diagnostics) || response.statusText;
    throw new Error(detail);
  }
  return answer;
}

function caseDocument() {
  return { id: "case", policy: state.vocabulary.name, facts: { ...state.facts } };
}

// -- the shareable URL --------------------------------------------------------------

function writeLocation() {
  const parameters = new URLSearchParams();
  parameters.set("policy", state.vocabulary.name);
  if (Object.keys(state.facts).length) parameters.set("facts", JSON.stringify(state.facts));
  history.replaceState(null, "", `#${parameters}`);
}

function readLocation() {
  const parameters = new URLSearchParams(location.hash.slice(1));
  let facts = {};
  try {
    facts = JSON.parse(parameters.get("facts") || "{}");
  } catch {
    say("The link's facts are not valid JSON; starting from an empty case.", true);
  }
  return { policy: parameters.get("policy"), facts };
}

// -- controls, one kind per fact type ---------------------------------------------

const words = (value) => (Array.isArray(value) ? value.join(", ") : String(value));

function setFact(name, value, typing = false) {
  if (value === undefined || value === null || value === "") delete state.facts[name];
  else state.facts[name] = value;
  for (const control of state.controls[name] || []) control.set(state.facts[name]);
  scheduleUpdate(typing ? 150 : 0); // a choice at once; typing once it pauses
}

function booleanControl(fact, id) {
  const choices = [["true", "yes"], ["false", "no"], ["", "unknown"]];
  const inputs = [];
  const group = element("fieldset", { class: "choices" },
    element("legend", { text: fact.question || fact.name }),
    choices.map(([value, label]) => {
      const input = element("input", {
        type: "radio", name: id, id: `${id}-${label}`, value,
        onchange: () => setFact(fact.name, value === "" ? undefined : value === "true"),
      });
      inputs.push(input);
      return element("label", { for: `${id}-${label}` }, input, ` ${label}`);
    }));
  const set = (value) => {
    const wanted = value === undefined ? "" : String(value);
    for (const input of inputs) input.checked = input.value === wanted;
  };
  return { root: group, set, labelled: true };
}

function enumControl(fact, id) {
  const select = element("select", { id, onchange: () => setFact(fact.name, select.value || undefined) },
    element("option", { value: "", text: "unknown" }),
    fact.options.map((o) => element("option", { value: o.value, text: o.text })));
  return { root: select, set: (value) => { select.value = value ?? ""; } };
}

function listControl(fact, id) {
  const stated = element("input", { type: "checkbox", id: `${id}-stated` });
  const boxes = fact.options.map((o) => element("input", { type: "checkbox", id: `${id}-${o.value}`, value: o.value }));
  const read = () => (stated.checked ? boxes.filter((b) => b.checked).map((b) => b.value) : undefined);
  stated.addEventListener("change", () => setFact(fact.name, read()));
  for (const box of boxes) {
    box.addEventListener("change", () => {
      stated.checked = true;
      setFact(fact.name, read());
    });
  }
  const group = element("fieldset", { class: "choices" },
    element("legend", { text: fact.question || fact.name }),
    element("label", { for: stated.id }, stated, " stated (unticked: unknown)"),
    fact.options.map((o, i) => element("label", { for: boxes[i].id }, boxes[i], ` ${o.text}`)));
  const set = (value) => {
    stated.checked = Array.isArray(value);
    for (const box of boxes) box.checked = Array.isArray(value) && value.includes(box.value);
  };
  return { root: group, set, labelled: true };
}

function inputControl(fact, id) {
  const numeric = fact.type === "int" || fact.type === "decimal";
  const attributes = { id, name: fact.name, autocomplete: "off" };
  if (numeric) Object.assign(attributes, { type: "number", step: fact.type === "int" ? "1" : "any", inputmode: "decimal" });
  else if (fact.type === "date") attributes.type = "date";
  else attributes.type = "text";
  if (fact.min !== undefined) attributes.min = fact.min;
  if (fact.max !== undefined) attributes.max = fact.max;
  if (fact.type === "code_list") attributes.placeholder = "codes, separated by commas";
  if (fact.options && fact.type === "string") attributes.list = `${id}-options`;
  const input = element("input", attributes);
  const read = () => {
    const text = input.value.trim();
    if (text === "") return undefined;
    if (numeric) return Number(text);
    if (fact.type === "code_list") return text.split(",").map((c) => c.trim()).filter(Boolean);
    return text;
  };
  input.addEventListener("input", () => {
    if (numeric && input.value !== "" && !input.checkValidity()) {
      state.invalid.add(fact.name);
      say(`${fact.name}: ${input.validationMessage}`, true);
      return;
    }
    state.invalid.delete(fact.name);
    setFact(fact.name, read(), true);
  });
  const root = element("span", {}, input,
    fact.unit ? element("span", { class: "unit", text: ` ${fact.unit}` }) : null,
    fact.options && fact.type === "string"
      ? element("datalist", { id: `${id}-options` }, fact.options.map((o) => element("option", { value: o.value })))
      : null);
  return { root, set: (value) => { input.value = value === undefined ? "" : words(value); } };
}

function control(fact, id) {
  if (fact.type === "bool") return booleanControl(fact, id);
  if (fact.type === "enum") return enumControl(fact, id);
  if (fact.type === "list") return listControl(fact, id);
  return inputControl(fact, id);
}

function factRow(fact, prefix) {
  const id = `${prefix}-${fact.name}`;
  const made = control(fact, id);
  (state.controls[fact.name] ||= []).push(made);
  made.set(state.facts[fact.name]);
  const bounds = fact.min !== undefined || fact.max !== undefined
    ? `from ${fact.min ?? "…"} to ${fact.max ?? "…"}${fact.unit ? ` ${fact.unit}` : ""}` : "";
  const help = [fact.meaning, bounds, fact.system ? `${fact.system.toUpperCase()} codes` : ""].filter(Boolean).join(" · ");
  const row = element("div", { class: "fact", "data-fact": fact.name },
    made.labelled ? null : element("label", { for: id, text: fact.question || fact.name }),
    made.root,
    element("p", { class: "help", text: help }),
    fact.default !== undefined
      ? element("p", { class: "assumed", "data-assumed": fact.name, text: `assumed ${words(fact.default)} while unknown` })
      : null);
  return row;
}

function renderForm() {
  state.controls = {};
  state.invalid.clear();
  const form = $("case-form");
  form.replaceChildren(...state.vocabulary.facts.map((fact) => {
    const row = factRow(fact, "fact");
    const keep = element("input", {
      type: "checkbox", id: `keep-${fact.name}`,
      onchange: (event) => {
        if (event.target.checked) state.keep.add(fact.name);
        else state.keep.delete(fact.name);
        scheduleUpdate();
      },
    });
    keep.checked = state.keep.has(fact.name);
    row.append(element("label", { class: "keep", for: keep.id }, keep, ` keep ${fact.name}`));
    return row;
  }));
}

// -- answers ------------------------------------------------------------------------

const VERDICTS = {
  covered: "Covered",
  not_covered: "Not covered",
  needs_information: "Needs information",
};
const STATUS_WORDS = { met: "met", not_met: "not met", unknown: "unknown", not_applicable: "not applicable" };

function renderVerdict(evaluation) {
  $("verdict").replaceChildren(element("p", { class: `verdict ${evaluation.verdict}`, "data-verdict": evaluation.verdict, text: VERDICTS[evaluation.verdict] }));
  for (const note of document.querySelectorAll("[data-assumed]")) {
    note.classList.toggle("active", !(note.dataset.assumed in state.facts));
  }
}

function renderExplanation(evaluation) {
  const items = evaluation.explanation.map((item) => element("li", { "data-criterion": item.criterion },
    element("strong", { text: `${item.fact} = ${words(item.value)}` }),
    item.assumed ? element("span", { class: "assumed-mark", text: " assumed" }) : null,
    element("span", { text: ` · ${item.criterion}: ` }),
    element("q", { text: item.text })));
  if (!items.length) items.push(element("li", { text: "Nothing known decides it yet." }));
  $("explanation").replaceChildren(...items);
}

function renderMissing(evaluation) {
  const byName = Object.fromEntries(state.vocabulary.facts.map((f) => [f.name, f]));
  $("missing-block").hidden = !evaluation.missing.length;
  for (const name of Object.keys(state.controls)) {
    state.controls[name] = state.controls[name].filter((c) => !c.missing);
  }
  $("missing").replaceChildren(...evaluation.missing.map((missing) => {
    const row = factRow(byName[missing.fact], "missing");
    state.controls[missing.fact].at(-1).missing = true;
    row.append(element("p", { class: "help", text: `needed by ${missing.criteria.join(", ")}` }));
    return row;
  }));
}

function changeValue(change) {
  if ("value" in change) return change.value;
  return change.example; // a region (range, codes) or list edits: its example
}

// A change as the CLI words it ("bmi = 35 or more kg/m2"): a region or a
// list edit comes with its words from the JSON API, one wording for both.
function changeWords(change) {
  if ("value" in change) return `${change.fact} = ${words(change.value)}`;
  if (change.words) return `${change.fact} = ${change.words}`;
  return `${change.fact} = ${words(change.example)}`;
}

// A denial's earliest covered date of service (why's covered_from, present
// only when the case states a date of service): its words, and a button that
// moves the date of service there when there is one.
function coveredFrom(why) {
  if (!("covered_from" in why)) return null;
  const text = `Earliest date of service covered: ${why.covered_from_words}`;
  if (why.covered_from === null) return element("p", { id: "covered-from", text });
  return element("p", { id: "covered-from" }, element("span", { text: `${text} ` }),
    element("button", {
      type: "button", class: "covered-from",
      onclick: () => {
        state.facts.date_of_service = why.covered_from;
        for (const c of state.controls.date_of_service || []) c.set(why.covered_from);
        say(`Applied: date_of_service = ${why.covered_from}`);
        scheduleUpdate();
      },
    }, `Move the date of service to ${why.covered_from}`));
}

function renderWhy(why) {
  const target = VERDICTS[why.target].toLowerCase();
  const from = coveredFrom(why);
  if (!why.changes.length) {
    $("whatif").replaceChildren(...[element("p", { text: `No change of the facts not kept gives ${target}.` }), from].filter(Boolean));
    return;
  }
  const buttons = why.changes.map((changes) => element("li", {},
    element("button", {
      type: "button", class: "whatif",
      onclick: () => {
        for (const change of changes) state.facts[change.fact] = changeValue(change);
        for (const change of changes) for (const c of state.controls[change.fact] || []) c.set(state.facts[change.fact]);
        say(`Applied: ${changes.map(changeWords).join(", ")}`);
        scheduleUpdate();
      },
    }, `Make it ${target}: ${changes.map(changeWords).join(", ")}`)));
  const more = why.changes_left_out ? element("p", { class: "help", text: `${why.changes_left_out}${why.changes_left_out_exact ? "" : "+"} more of this size not shown` }) : null;
  $("whatif").replaceChildren(...[from, element("ul", {}, buttons), more].filter(Boolean));
}

function criterionNode(criterion, byId, statuses, seen) {
  if (seen.has(criterion.id)) return element("li", { text: criterion.id });
  seen.add(criterion.id);
  const status = statuses[criterion.id] || "unknown";
  const summary = element("summary", {},
    element("span", { class: `badge ${status}`, text: STATUS_WORDS[status] || status }),
    element("strong", { text: ` ${criterion.id}` }),
    criterion.group ? element("span", { class: "help", text: ` (${criterion.group})` }) : null,
    element("span", { text: " " }), element("q", { text: criterion.text }));
  const parts = criterion.parts.map((id) => byId[id]).filter(Boolean);
  const details = element("details", { open: true, "data-criterion": criterion.id, "data-status": status }, summary,
    parts.length ? element("ul", {}, parts.map((part) => criterionNode(part, byId, statuses, seen))) : null);
  return element("li", {}, details);
}

function renderCriteria(evaluation) {
  const criteria = state.vocabulary.criteria;
  const byId = Object.fromEntries(criteria.map((c) => [c.id, c]));
  const headings = Object.fromEntries(state.vocabulary.headings.map((h) => [h.id, h]));
  const seen = new Set();
  const sections = new Map();
  for (const criterion of criteria.filter((c) => !c.parents.length)) {
    const key = criterion.section || "";
    if (!sections.has(key)) sections.set(key, []);
    sections.get(key).push(criterion);
  }
  const blocks = [];
  for (const [section, roots] of sections) {
    const list = element("ul", { class: "tree" }, roots.map((c) => criterionNode(c, byId, evaluation.criteria, seen)));
    if (!section) {
      blocks.push(list);
      continue;
    }
    const path = headings[section] ? headings[section].path.map((id) => headings[id]?.text || id) : [section];
    blocks.push(element("details", { open: true, class: "section" }, element("summary", { text: path.join(" › ") }), list));
  }
  $("criteria").replaceChildren(...blocks);
}

let timer = null;
function scheduleUpdate(delay = 0) {
  clearTimeout(timer);
  timer = setTimeout(update, delay);
}

async function update() {
  const generation = ++state.generation;
  const since = state.said;
  writeLocation();
  closeOnDemand();
  const document_ = caseDocument();
  const keep = [...state.keep].map((fact) => `keep=${encodeURIComponent(fact)}`).join("&");
  // The verdict first; then the what-if changes, asked only once the verdict is
  // in (asked together, the slower question would hold up the verdict).
  try {
    const evaluation = await api("/v1/evaluate?audit=false", document_);
    if (generation !== state.generation) return;
    state.evaluation = evaluation;
    renderVerdict(evaluation);
    renderExplanation(evaluation);
    renderMissing(evaluation);
    renderCriteria(evaluation);
    $("whatif").setAttribute("aria-busy", "true");
    const why = await api(`/v1/why?max_changes=10${keep ? `&${keep}` : ""}`, document_);
    if (generation !== state.generation) return;
    state.why = why;
    renderWhy(why);
    $("whatif").removeAttribute("aria-busy");
    // An answer clears an error said before it was asked, but not one about text still in a field.
    if ($("status").classList.contains("error") && !state.invalid.size) unsay(since);
  } catch (error) {
    if (generation === state.generation) say(error.message, true);
  }
}

// -- on demand: proof and notice ------------------------------------------------------

function closeOnDemand() {
  for (const [button, panel] of [["show-proof", "proof"], ["show-notice", "notice"]]) {
    $(panel).hidden = true;
    $(button).setAttribute("aria-expanded", "false");
  }
}

function proofNode(node) {
  const label = `${node.goal}`;
  const children = node.children || [];
  const summary = element("summary", {},
    element("span", { class: `badge truth-${node.truth}`, text: node.truth }),
    element("code", { text: ` ${label}` }),
    node.rule ? element("span", { class: "help", text: ` by ${node.rule}` }) : null,
    node.text ? element("span", { text: ` · ${node.text}` }) : null);
  return element("li", {}, children.length
    ? element("details", { open: true, "data-goal": node.goal }, summary, element("ul", {}, children.map(proofNode)))
    : element("div", { class: "leaf", "data-goal": node.goal }, summary.childNodes.length ? [...summary.childNodes] : label));
}

// Asks `path` about the case until the answer is about the case as it is
// (the case may change while the question is out: the answer is then of another).
async function askAboutTheCase(path) {
  for (;;) {
    const generation = state.generation;
    const answer = await api(path, caseDocument());
    if (generation === state.generation) return answer;
  }
}

async function showProof() {
  const panel = $("proof");
  if (!panel.hidden) return closeOnDemand();
  const since = say("Proving with SWI-Prolog…");
  try {
    const answer = await askAboutTheCase("/v1/prove");
    panel.replaceChildren(element("p", { text: `SWI-Prolog's verdict: ${VERDICTS[answer.verdict]}` }),
      element("ul", { class: "tree proof" }, proofNode(answer.proof.root)));
    panel.hidden = false;
    $("show-proof").setAttribute("aria-expanded", "true");
    unsay(since);
  } catch (error) {
    say(error.message, true);
  }
}

async function showNotice() {
  const panel = $("notice");
  if (!panel.hidden) return closeOnDemand();
  try {
    $("notice-text").textContent = (await askAboutTheCase("/v1/notice")).markdown;
    panel.hidden = false;
    $("show-notice").setAttribute("aria-expanded", "true");
  } catch (error) {
    say(error.message, true);
  }
}

function download(name, type, text) {
  const link = element("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

// -- check and diff ---------------------------------------------------------------------

function witnessButton(policy, facts, label) {
  return element("button", {
    type: "button", class: "witness",
    onclick: async () => {
      if (!(await choosePolicy(policy, facts))) return;
      const stated = Object.entries(facts).map(([f, v]) => `${f} = ${words(v)}`).join(", ");
      say(`Opened the witness: ${stated || "no facts"}`);
    },
  }, label);
}

async function runCheck() {
  const since = say("Checking the policy…");
  try {
    const report = await api("/v1/check", { policy: state.vocabulary.name });
    const items = report.findings.map((finding) => element("li", { class: `finding ${finding.level}` },
      element("strong", { text: `${finding.kind} (${finding.level})` }),
      element("span", { text: ` ${finding.message}` }),
      finding.acknowledged ? element("p", { class: "help", text: `acknowledged: ${finding.acknowledged}` }) : null,
      finding.witness ? witnessButton(report.policy, finding.witness.facts, "Open the witness in the form") : null));
    $("findings").replaceChildren(element("h3", { text: `Check of ${report.policy}: ${report.findings.length} findings` }),
      items.length ? element("ul", {}, items) : element("p", { text: "No findings." }));
    unsay(since);
  } catch (error) {
    say(error.message, true);
  }
}

async function runDiff() {
  const old = $("diff-old").value;
  const young = $("diff-new").value;
  const since = say(`Comparing ${old} with ${young}…`);
  try {
    const report = await api("/v1/diff", { old, new: young });
    const regions = report.changes.map((change) => element("li", {},
      element("strong", { text: `${change.old} → ${change.new}` }),
      element("span", { text: ` when ${change.summary}` }), " ",
      witnessButton(report.new, change.witness.facts, "Open the witness")));
    const others = [...report.criteria, ...report.facts].map((c) => element("li", { text: `${c.id}: ${c.change} ${c.detail}` }));
    $("findings").replaceChildren(...[element("h3", { text: `Differences from ${report.old} to ${report.new}` }),
      regions.length ? element("ul", {}, regions) : element("p", { text: "No scenario changes its verdict." }),
      others.length ? element("ul", {}, others) : null].filter(Boolean));
    unsay(since);
  } catch (error) {
    say(error.message, true);
  }
}

// -- loading --------------------------------------------------------------------------

// Opens a policy with a case's facts; false when it did not (an error said, or a later choice won).
async function choosePolicy(name, facts = {}) {
  const choice = ++state.choice;
  let vocabulary;
  try {
    vocabulary = await api(`/v1/policies/${encodeURIComponent(name)}`);
  } catch (error) {
    if (choice === state.choice) say(`The policy ${name} was not opened: ${error.message}`, true);
    return false;
  }
  if (choice !== state.choice) return false;
  state.vocabulary = vocabulary;
  $("policy").value = name;
  state.facts = { ...facts };
  state.keep = new Set();
  renderForm();
  $("findings").replaceChildren();
  await update();
  return true;
}

async function loadCaseText(text) {
  try {
    const document_ = await api("/v1/cases/parse", { text, policy: state.vocabulary.name });
    if (await choosePolicy(document_.policy, document_.facts)) say(`Loaded case ${document_.id}.`);
  } catch (error) {
    say(`The case was not loaded: ${error.message}`, true);
  }
}

function wire() {
  $("policy").addEventListener("change", () => choosePolicy($("policy").value));
  $("case-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await loadCaseText(await file.text());
    event.target.value = "";
  });
  $("paste-toggle").addEventListener("click", () => {
    const panel = $("paste-panel");
    panel.hidden = !panel.hidden;
    $("paste-toggle").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) $("paste-text").focus();
  });
  $("paste-load").addEventListener("click", () => loadCaseText($("paste-text").value));
  $("download-case").addEventListener("click", () => download("case.json", "application/json", `${JSON.stringify(caseDocument(), null, 2)}\n`));
  $("copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      say("The link to this case is on the clipboard.");
    } catch {
      say(`Link to this case: ${location.href}`);
    }
  });
  $("clear-case").addEventListener("click", () => choosePolicy(state.vocabulary.name));
  $("show-proof").addEventListener("click", showProof);
  $("show-notice").addEventListener("click", showNotice);
  $("download-notice").addEventListener("click", () => download("notice.md", "text/markdown", $("notice-text").textContent));
  $("run-check").addEventListener("click", runCheck);
  $("run-diff").addEventListener("click", runDiff);
  window.addEventListener("hashchange", () => {
    const wanted = readLocation();
    const same = wanted.policy === state.vocabulary?.name && JSON.stringify(wanted.facts) === JSON.stringify(state.facts);
    if (wanted.policy && !same) choosePolicy(wanted.policy, wanted.facts);
  });
}

// The policies grouped by payer, payers by name and the undeclared last (as `policykb policies`).
function byPayer(policies) {
  const groups = new Map();
  for (const policy of policies) {
    const payer = policy.payer || "";
    if (!groups.has(payer)) groups.set(payer, []);
    groups.get(payer).push(policy);
  }
  const order = (payer) => [payer === "" ? 1 : 0, payer.toLowerCase()];
  return [...groups.entries()]
    .sort(([a], [b]) => {
      const [x, y] = [order(a), order(b)];
      return x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
    })
    .map(([payer, members]) => [payer || "payer not declared", members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))]);
}

async function start() {
  wire();
  try {
    state.policies = (await api("/v1/policies")).policies;
  } catch (error) {
    say(`The service did not answer: ${error.message}`, true);
    return;
  }
  const options = () => byPayer(state.policies).map(([payer, members]) =>
    element("optgroup", { label: payer }, members.map((p) => element("option", { value: p.name, text: `${p.title} (${p.name})` }))));
  $("policy").replaceChildren(...options());
  $("diff-old").replaceChildren(...options());
  $("diff-new").replaceChildren(...options());
  if (state.policies.length > 1) $("diff-new").selectedIndex = 1;
  const wanted = readLocation();
  const known = state.policies.some((p) => p.name === wanted.policy);
  await choosePolicy(known ? wanted.policy : state.policies[0].name, known ? wanted.facts : {});
  document.body.dataset.ready = "true";
}

start();
