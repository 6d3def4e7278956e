// The qos-sdn web page: plain JavaScript against the controller's REST service.
//
// Why it is written this way:
// - No framework, no build step, no CDN: the controller's machines have no
//   internet, and the page must work from the installed package alone.
// - Every request goes through api(), which never throws: a controller that
//   is restarting shows "unreachable" instead of an uncaught rejection.
// - Optional resources (queues, paths, statistics, topology) are only asked
//   for when /qos/openapi.json lists them, because Chromium logs every 4xx
//   answer as a console error; probing for a 404 would look like a bug.
// - Text from the controller is only ever set with textContent (names are
//   user input), never innerHTML.
// - Tables are re-rendered only when their data changed, and keyboard focus
//   is put back on the same button afterwards, so polling every 2 s does not
//   steal the focus from someone working with the keyboard.

const POLL_MS = 2000;
const CHART_WINDOW_S = 120;
const CONFIRM_MS = 5000;

/** Keys of the policy form; a modify (PUT) keeps every other key of the policy. */
const POLICY_FORM_KEYS = ["name", "ip-src", "ip-dst", "protocol", "ingress-port", "dst-port",
  "sw", "queue", "enqueue-port", "service", "priority"];
/** Keys in a policy view that are the controller's, not the policy's. */
const VIEW_ONLY_KEYS = ["id", "cookie", "install"];
const PROTOCOL_NAMES = { 1: "ICMP", 6: "TCP", 17: "UDP" };
const MATCH_LABELS = [
  ["ingress-port", "in port"], ["eth-src", "eth src"], ["eth-dst", "eth dst"], ["vlan-id", "vlan"],
  ["eth-type", "eth type"], ["ip-src", "src"], ["ip-dst", "dst"], ["protocol", "proto"],
  ["tos", "ToS"], ["src-port", "src port"], ["dst-port", "dst port"],
];

const state = {
  api: null,            // the OpenAPI document: which optional resources exist
  policies: [],
  services: [],
  switches: [],
  enabled: false,
  editing: null,        // name of the policy being modified, or null
  history: new Map(),   // policy name -> [[t, bps], ...] when the server sends none
  rendered: new Map(),  // section -> JSON of what was last drawn
  stats: null,
};

// ------------------------------------------------------------------ HTTP
/**
 * One JSON request. Resolves to {ok, status, data}; never rejects.
 * status 0 means the controller could not be reached.
 */
const TOKEN_KEY = "qos-sdn-token";

/**
 * The API token for a controller started with --token-file: asked once (when
 * the controller first answers 401), kept in sessionStorage so it lives only
 * as long as this tab and is never written to disk or sent to another site.
 */
function askToken() {
  const given = window.prompt("This controller needs its API token (qos-controller --token-file):");
  if (given && given.trim()) {
    sessionStorage.setItem(TOKEN_KEY, given.trim());
    return true;
  }
  return false;
}

async function api(method, path, body, retried) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
    if (resp.status === 401 && !retried) {
      sessionStorage.removeItem(TOKEN_KEY);
      if (askToken()) return api(method, path, body, true);
    }
  } catch (err) {
    setConnection(false, `controller unreachable (${err.message})`);
    return { ok: false, status: 0, data: { error: "controller unreachable" } };
  }
  let data = null;
  try {
    const text = await resp.text();
    data = text ? JSON.parse(text) : null;
  } catch (err) {
    data = { error: `answer is not JSON (HTTP ${resp.status})` };
  }
  setConnection(true);
  return { ok: resp.ok, status: resp.status, data };
}

/** Does the controller offer this path (per its OpenAPI document)? */
function offers(path) {
  return Boolean(state.api && state.api.paths && state.api.paths[path]);
}

// ------------------------------------------------------------------ DOM helpers
/** Create an element; attrs go to properties/attributes; children are nodes or text. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Replace a container's content only when `data` changed; put the keyboard
 * focus back on the element with the same data-key afterwards.
 */
function renderIfChanged(section, data, container, build) {
  const key = JSON.stringify(data);
  if (state.rendered.get(section) === key) return false;
  state.rendered.set(section, key);
  const active = document.activeElement;
  const focusKey = active && container.contains(active) ? active.dataset.key : undefined;
  container.replaceChildren(...[].concat(build()));
  if (focusKey) {
    const again = container.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    if (again) again.focus();
  }
  return true;
}

function setConnection(ok, text) {
  const node = $("#connection");
  if (ok) {
    node.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
    node.className = "connection ok";
  } else {
    node.textContent = text || "Controller unreachable, retrying…";
    node.className = "connection down";
  }
}

/** "00:00:00:00:00:00:00:01" -> "01": enough to tell switches apart in a table. */
function shortDpid(dpid) {
  const text = String(dpid);
  const groups = text.split(":");
  if (groups.length < 2) return text;
  while (groups.length > 1 && groups[0] === "00") groups.shift();
  return groups.join(":");
}

/** bits/s -> "1.95 Mbit/s". */
function formatRate(bps) {
  if (bps === null || bps === undefined || Number.isNaN(Number(bps))) return "–";
  const value = Number(bps);
  const units = [[1e12, "Tbit/s"], [1e9, "Gbit/s"], [1e6, "Mbit/s"], [1e3, "kbit/s"]];
  for (const [scale, unit] of units) {
    if (Math.abs(value) >= scale) return `${(value / scale).toPrecision(3).replace(/\.?0+$/, "")} ${unit}`;
  }
  return `${Math.round(value)} bit/s`;
}

function formatCount(n) {
  return n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US");
}

/** A message for "this controller has no such resource". */
function notAvailable(what) {
  return el("p", { class: "empty" }, `${what}: not available on this controller.`);
}

// ------------------------------------------------------------------ status and toggle
async function refreshStatus() {
  const res = await api("GET", "/qos/status");
  const toggle = $("#qos-enabled");
  if (!res.ok || !res.data) return;
  const s = res.data;
  state.enabled = Boolean(s.enabled);
  if (!toggle.dataset.busy) {
    toggle.checked = state.enabled;
    toggle.disabled = false;
  }
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  $("#status-text").textContent = [state.enabled ? "Enabled" : "Disabled",
    count(s.services, "service", "services"), count(s.policies, "policy", "policies"),
    count(s.switches, "switch", "switches")].join(" · ");
  document.body.classList.toggle("qos-off", !state.enabled);
}

async function onToggle(event) {
  const toggle = event.currentTarget;
  const want = toggle.checked;
  toggle.dataset.busy = "1";
  toggle.disabled = true;
  const res = await api("POST", want ? "/qos/enable" : "/qos/disable");
  delete toggle.dataset.busy;
  toggle.disabled = false;
  if (!res.ok) {
    toggle.checked = !want;
    $("#status-text").textContent = `Could not ${want ? "enable" : "disable"} QoS: ${errorText(res)}`;
  }
  toggle.focus();
  await Promise.all([refreshStatus(), refreshPolicies()]);
}

// ------------------------------------------------------------------ errors next to fields
function errorText(res) {
  const data = res.data || {};
  return data.error || `HTTP ${res.status}`;
}

function clearErrors(form) {
  for (const span of form.querySelectorAll(".field-error")) span.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const message = form.querySelector(".form-message");
  message.textContent = "";
  message.classList.remove("error");
}

/**
 * Put the REST service's {"error", "field"} next to the input whose
 * data-field is that field; anything else goes under the form.
 */
function showError(form, res) {
  const data = res.data || {};
  const input = data.field ? form.querySelector(`[data-field="${CSS.escape(data.field)}"]`) : null;
  const message = form.querySelector(".form-message");
  if (input) {
    const span = document.getElementById(input.getAttribute("aria-describedby"));
    span.textContent = errorText(res);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    message.textContent = "Not saved: see the highlighted field.";
  } else {
    message.textContent = `Not saved: ${data.field ? `${data.field}: ` : ""}${errorText(res)}`;
  }
  message.classList.add("error");
}

function showDone(form, text) {
  const message = form.querySelector(".form-message");
  message.textContent = text;
  message.classList.remove("error");
}

/** Form values by data-field, empty ones left out (an empty match field is a wildcard). */
function formValues(form) {
  const out = {};
  for (const input of form.querySelectorAll("[data-field]")) {
    const value = input.value.trim();
    if (value !== "") out[input.dataset.field] = value;
  }
  return out;
}

// ------------------------------------------------------------------ two-step delete
/** A delete button that asks "Confirm?" first instead of a modal dialog. */
function deleteButton(key, label, onConfirm) {
  const button = el("button", { type: "button", class: "danger", dataset: { key }, "aria-label": label }, "Delete");
  let timer = null;
  button.addEventListener("click", async () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Confirm delete";
      button.setAttribute("aria-label", `Confirm: ${label}`);
      timer = setTimeout(() => {
        button.classList.remove("armed");
        button.textContent = "Delete";
        button.setAttribute("aria-label", label);
      }, CONFIRM_MS);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    await onConfirm();
  });
  return button;
}

// ------------------------------------------------------------------ services
async function refreshServices() {
  const res = await api("GET", "/qos/services");
  if (!res.ok || !Array.isArray(res.data)) return;
  state.services = res.data;
  renderIfChanged("services", res.data, $("#service-table tbody"), () => res.data.map(serviceRow));
  fillServiceSelect();
}

function serviceRow(svc) {
  const builtIn = svc.name === "Best Effort";
  const action = builtIn
    ? el("span", { class: "muted" }, "built in")
    : deleteButton(`svc-del:${svc.name}`, `Delete service ${svc.name}`, () => deleteService(svc.name));
  return el("tr", { dataset: { name: svc.name } },
    el("td", {}, svc.name), el("td", { class: "num" }, svc.dscp), el("td", { class: "num" }, svc.tos),
    el("td", { class: "actions" }, action));
}

function fillServiceSelect() {
  const select = $("#pf-service");
  const current = select.value;
  const names = state.services.map((s) => s.name).filter((n) => n !== "Best Effort");
  const key = JSON.stringify(names);
  if (select.dataset.names === key) return;
  select.dataset.names = key;
  select.replaceChildren(el("option", { value: "" }, "(none)"),
    ...names.map((n) => el("option", { value: n }, n)));
  select.value = names.includes(current) ? current : "";
}

async function deleteService(name) {
  const form = $("#service-form");
  clearErrors(form);
  const res = await api("DELETE", `/qos/services/${encodeURIComponent(name)}`);
  if (res.ok) showDone(form, `Service "${name}" deleted.`);
  else showDone(form, `Could not delete service "${name}": ${errorText(res)}`);
  if (!res.ok) form.querySelector(".form-message").classList.add("error");
  await Promise.all([refreshServices(), refreshStatus()]);
}

async function onServiceSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const body = formValues(form);
  if (/^\d+$/.test(body.dscp || "")) body.dscp = Number(body.dscp);
  const res = await api("POST", "/qos/services", body);
  if (!res.ok) {
    showError(form, res);
    return;
  }
  form.reset();
  showDone(form, `Service "${res.data.name}" added (DSCP ${res.data.dscp}).`);
  await Promise.all([refreshServices(), refreshStatus()]);
}

// ------------------------------------------------------------------ policies
async function refreshPolicies() {
  const res = await api("GET", "/qos/policies");
  if (!res.ok || !Array.isArray(res.data)) return;
  state.policies = res.data;
  const body = $("#policy-table tbody");
  renderIfChanged("policies", [res.data, state.enabled, state.editing, state.services], body, () => res.data.map(policyRow));
  $("#policy-empty").hidden = res.data.length > 0;
}

function matchSummary(policy) {
  const parts = [];
  for (const [key, label] of MATCH_LABELS) {
    if (policy[key] === undefined) continue;
    let value = policy[key];
    if (key === "eth-type") value = `0x${Number(value).toString(16).padStart(4, "0")}`;
    if (key === "protocol" && PROTOCOL_NAMES[value]) value = `${PROTOCOL_NAMES[value]} (${value})`;
    parts.push(`${label} ${value}`);
  }
  return parts.length ? parts.join(" · ") : "everything";
}

function actionSummary(policy) {
  if (policy.queue !== undefined) {
    return policy["enqueue-port"] !== undefined
      ? `queue ${policy.queue} on port ${policy["enqueue-port"]}` : `queue ${policy.queue}`;
  }
  if (policy.service !== undefined) {
    const svc = state.services.find((s) => s.name === policy.service);
    return svc ? `mark "${policy.service}" (DSCP ${svc.dscp})` : `mark "${policy.service}"`;
  }
  return "–";
}

/** One badge per switch the policy applies to: installed / pending / error (+ reason). */
function installCell(policy) {
  const install = policy.install || {};
  const entries = Object.entries(install);
  if (policy.sw === "none") return el("span", { class: "muted" }, "stored only (sw: none)");
  if (!entries.length) {
    return el("span", { class: "muted" },
      state.enabled ? "no matching switch connected" : "QoS disabled; no matching switch connected");
  }
  return el("ul", { class: "install-list" }, entries.map(([dpid, st]) => el("li", {},
    el("span", { class: `badge state-${st.state}`, title: dpid }, `${shortDpid(dpid)}: ${st.state}`),
    st.reason ? el("span", { class: "reason" }, st.reason) : null)));
}

function policyRow(policy) {
  const editing = state.editing === policy.name;
  return el("tr", { dataset: { name: policy.name }, class: editing ? "editing" : "" },
    el("th", { scope: "row" }, policy.name),
    el("td", { class: "match" }, matchSummary(policy)),
    el("td", {}, actionSummary(policy)),
    el("td", { title: policy.sw }, ["all", "none"].includes(policy.sw) ? policy.sw : shortDpid(policy.sw)),
    el("td", { class: "num" }, policy.priority),
    el("td", {}, installCell(policy)),
    el("td", { class: "actions" },
      el("button", { type: "button", dataset: { key: `pol-edit:${policy.name}` },
        "aria-label": `Modify policy ${policy.name}`, onclick: () => startEdit(policy.name) }, "Modify"),
      deleteButton(`pol-del:${policy.name}`, `Delete policy ${policy.name}`, () => deletePolicy(policy.name))));
}

function startEdit(name) {
  const policy = state.policies.find((p) => p.name === name);
  if (!policy) return;
  const form = $("#policy-form");
  clearErrors(form);
  form.reset();
  for (const input of form.querySelectorAll("[data-field]")) {
    const value = policy[input.dataset.field];
    input.value = value === undefined || (input.dataset.field === "sw" && value === "all") ? "" : String(value);
  }
  state.editing = name;
  $("#policy-form-title").textContent = `Modify policy "${name}"`;
  $("#policy-submit").textContent = "Save changes";
  $("#policy-cancel").hidden = false;
  form.scrollIntoView({ block: "nearest" });
  $("#pf-name").focus();
  refreshPolicies();
}

function stopEdit() {
  const form = $("#policy-form");
  const wasEditing = state.editing;
  state.editing = null;
  form.reset();
  $("#policy-form-title").textContent = "Add a policy";
  $("#policy-submit").textContent = "Add policy";
  $("#policy-cancel").hidden = true;
  refreshPolicies();
  return wasEditing;
}

/**
 * The body to send. A modify starts from the stored policy so that keys the
 * form does not show (eth-src, vlan-id, tos, ...) survive the PUT.
 */
function policyBody(form) {
  const body = {};
  if (state.editing) {
    const old = state.policies.find((p) => p.name === state.editing) || {};
    for (const [key, value] of Object.entries(old)) {
      if (!VIEW_ONLY_KEYS.includes(key) && !POLICY_FORM_KEYS.includes(key)) body[key] = value;
    }
  }
  return Object.assign(body, formValues(form));
}

async function onPolicySubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const body = policyBody(form);
  const editing = state.editing;
  const res = editing
    ? await api("PUT", `/qos/policies/${encodeURIComponent(editing)}`, body)
    : await api("POST", "/qos/policies", body);
  if (!res.ok) {
    showError(form, res);
    return;
  }
  if (editing) stopEdit();
  else form.reset();
  showDone(form, `Policy "${res.data.name}" ${editing ? "saved" : "added"}.`);
  await Promise.all([refreshPolicies(), refreshStatus()]);
}

async function deletePolicy(name) {
  const form = $("#policy-form");
  clearErrors(form);
  if (state.editing === name) stopEdit();
  const res = await api("DELETE", `/qos/policies/${encodeURIComponent(name)}`);
  if (res.ok) showDone(form, `Policy "${name}" deleted.`);
  else {
    showDone(form, `Could not delete policy "${name}": ${errorText(res)}`);
    form.querySelector(".form-message").classList.add("error");
  }
  await Promise.all([refreshPolicies(), refreshStatus()]);
  $("#policies").focus();
}

// ------------------------------------------------------------------ switches and topology
async function refreshSwitches() {
  const res = await api("GET", "/qos/switches");
  if (!res.ok || !Array.isArray(res.data)) return;
  state.switches = res.data;
  renderIfChanged("switches", res.data, $("#switch-table tbody"), () => res.data.map((sw) => el("tr", {},
    el("th", { scope: "row", class: "mono" }, sw.dpid),
    el("td", {}, sw.openflow || "–"),
    el("td", { class: "mono" }, sw.address || "–"),
    el("td", {}, (sw.ports || []).map((p) => `${p.port} ${p.name}`).join(", ") || "–"))));
  $("#switch-empty").hidden = res.data.length > 0;
  const list = $("#sw-list");
  const key = JSON.stringify(res.data.map((s) => s.dpid));
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(el("option", { value: "all" }, "every switch"),
      el("option", { value: "none" }, "stored, not installed"),
      ...res.data.map((s) => el("option", { value: s.dpid }, `OpenFlow ${s.openflow || ""}`)));
  }
}

/** Links from whatever shape the topology resource has: [{a, b, label}]. */
function topologyLinks(topo) {
  const links = [];
  const end = (x) => (x && typeof x === "object" ? (x.dpid || x.mac || x.ip || x.name) : x);
  for (const link of topo.links || []) {
    const a = end(link.src ?? link.source ?? link.a);
    const b = end(link.dst ?? link.target ?? link.b);
    if (a !== undefined && b !== undefined) links.push({ a: String(a), b: String(b) });
  }
  for (const host of topo.hosts || []) {
    const name = host.ip || (host.ipv4 && host.ipv4[0]) || host.mac;
    const sw = host.dpid || (host.port && host.port.dpid);
    if (name && sw) links.push({ a: String(name), b: String(sw), host: true });
  }
  return links;
}

async function refreshTopology() {
  const box = $("#topology");
  if (!offers("/qos/topology")) {
    renderIfChanged("topology", "n/a", box, () => notAvailable("Topology"));
    return;
  }
  const res = await api("GET", "/qos/topology");
  if (!res.ok || !res.data) return;
  const links = topologyLinks(res.data);
  renderIfChanged("topology", links, box, () => {
    if (!links.length) return el("p", { class: "empty" }, "No links discovered yet.");
    const canvas = el("canvas", { class: "topology", role: "img",
      "aria-label": `Topology with ${links.length} links` });
    const list = el("ul", { class: "link-list" },
      links.map((l) => el("li", {}, `${l.host ? "host " : ""}${shortDpid(l.a)} — ${shortDpid(l.b)}`)));
    requestAnimationFrame(() => drawTopology(canvas, links));
    return [canvas, el("details", {}, el("summary", {}, "Links as text"), list)];
  });
}

/** Nodes on a circle (switches) with hosts just outside their switch. */
function drawTopology(canvas, links) {
  const ctx = setupCanvas(canvas, 220);
  if (!ctx) return;
  const { width, height } = canvas.getBoundingClientRect();
  const hosts = new Set(links.filter((l) => l.host).map((l) => l.a));
  const switches = [...new Set(links.flatMap((l) => (l.host ? [l.b] : [l.a, l.b])))];
  const pos = new Map();
  const cx = width / 2;
  const cy = height / 2;
  const r = Math.min(width, height) / 2 - 40;
  switches.forEach((id, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, switches.length) - Math.PI / 2;
    pos.set(id, [cx + r * 0.7 * Math.cos(angle), cy + r * 0.7 * Math.sin(angle), angle]);
  });
  const hostCount = new Map();
  for (const l of links.filter((x) => x.host)) {
    const sp = pos.get(l.b);
    if (!sp) continue;
    const n = hostCount.get(l.b) || 0;
    hostCount.set(l.b, n + 1);
    const angle = sp[2] + (n - 0.5) * 0.5;
    pos.set(l.a, [sp[0] + 46 * Math.cos(angle), sp[1] + 46 * Math.sin(angle)]);
  }
  ctx.strokeStyle = "#8894a8";
  ctx.lineWidth = 1.5;
  for (const l of links) {
    const a = pos.get(l.a);
    const b = pos.get(l.b);
    if (!a || !b) continue;
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (const [id, [x, y]] of pos) {
    const isHost = hosts.has(id);
    ctx.fillStyle = isHost ? "#e8f1ff" : "#1f4e8c";
    ctx.strokeStyle = "#1f4e8c";
    ctx.beginPath();
    if (isHost) ctx.arc(x, y, 6, 0, 2 * Math.PI);
    else ctx.roundRect(x - 24, y - 11, 48, 22, 5);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = isHost ? "#1b2430" : "#ffffff";
    ctx.fillText(isHost ? id : shortDpid(id), x, isHost ? y + 15 : y);
  }
}

// ------------------------------------------------------------------ queues
function queueSummary(queues) {
  return Object.entries(queues || {}).map(([id, q]) => {
    const limits = [];
    if (q["min-rate"] !== undefined) limits.push(`≥ ${formatRate(q["min-rate"])}`);
    if (q["max-rate"] !== undefined) limits.push(`≤ ${formatRate(q["max-rate"])}`);
    return `q${id} ${limits.join(" ") || "port rate"}${q.dscp !== undefined ? ` (DSCP ${q.dscp})` : ""}`;
  });
}

/**
 * A data table: columns are [header, cell(row), numeric?]; a cell returns
 * a node or text. Small pieces instead of one nested expression.
 */
function dataTable(caption, columns, rows) {
  const head = el("tr", {}, columns.map(([title, , num]) => el("th", { scope: "col", class: num ? "num" : "" }, title)));
  const body = rows.map((row) => el("tr", {},
    columns.map(([, cell, num]) => el("td", { class: num ? "num" : "" }, cell(row)))));
  return el("div", { class: "table-wrap" }, el("table", { class: "data" },
    el("caption", { class: "sr-only" }, caption), el("thead", {}, head), el("tbody", {}, body)));
}

/** The first of `keys` that the row has (snake_case and kebab-case both accepted). */
function pick(row, ...keys) {
  return keys.map((k) => row[k]).find((v) => v !== undefined);
}

const PROFILE_COLUMNS = [
  ["Switch", (p) => (p.sw === "all" ? "all" : shortDpid(p.sw))],
  ["Port", (p) => String(p.port)],
  ["Port max-rate", (p) => formatRate(p["max-rate"])],
  ["Queues", (p) => el("ul", { class: "plain" }, queueSummary(p.queues).map((q) => el("li", {}, q)))],
  ["Applied on", (p) => appliedList(p.applied)],
];

/** {"dpid/port": {state, reason|note}} -> one badge per switch port. */
function appliedList(applied) {
  const entries = Object.entries(applied || {});
  if (!entries.length) return el("span", { class: "muted" }, "no matching port connected");
  return el("ul", { class: "install-list" }, entries.map(([target, st]) => {
    const [dpid, port] = target.split("/");
    return el("li", {},
      el("span", { class: `badge state-${st.state === "applied" ? "installed" : st.state}`, title: target },
        `${shortDpid(dpid)} ${port}: ${st.state}`),
      st.reason || st.note ? el("span", { class: "reason" }, st.reason || st.note) : null);
  }));
}

const QUEUE_STAT_COLUMNS = [
  ["Switch", (q) => shortDpid(q.dpid)],
  ["Port", (q) => String(pick(q, "port-name", "port_name", "port") ?? "–")],
  ["Queue", (q) => String(pick(q, "queue", "queue-id", "queue_id") ?? "–")],
  ["Rate", (q) => formatRate(pick(q, "bps", "rate")), true],
  ["TX bytes", (q) => formatCount(pick(q, "tx-bytes", "tx_bytes")), true],
  ["TX packets", (q) => formatCount(pick(q, "tx-packets", "tx_packets")), true],
  ["Errors", (q) => formatCount(pick(q, "tx-errors", "tx_errors", "errors")), true],
];

/** A list from an answer that is either a list or an object holding one under `key`. */
function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of keys) {
    if (data && Array.isArray(data[key])) return data[key];
  }
  return [];
}

async function refreshQueues() {
  const box = $("#queue-profiles");
  if (!offers("/qos/queues")) {
    renderIfChanged("queues", "n/a", box, () => notAvailable("Queue profiles"));
  } else {
    const res = await api("GET", "/qos/queues");
    if (res.ok) {
      const profiles = listOf(res.data, "profiles", "queues");
      renderIfChanged("queues", profiles, box, () => (profiles.length
        ? dataTable("Queue profiles per switch and port", PROFILE_COLUMNS, profiles)
        : el("p", { class: "empty" }, "No queue profiles configured.")));
    }
  }
  await refreshQueueStats();
}

async function refreshQueueStats() {
  const box = $("#queue-stats");
  if (!offers("/qos/stats/queues")) {
    renderIfChanged("queue-stats", "n/a", box, () => notAvailable("Queue statistics"));
    return;
  }
  const res = await api("GET", "/qos/stats/queues");
  if (!res.ok) return;
  const rows = listOf(res.data, "queues");
  renderIfChanged("queue-stats", rows, box, () => (rows.length
    ? dataTable("Queue counters per switch, port and queue", QUEUE_STAT_COLUMNS, rows)
    : el("p", { class: "empty" }, "No queue counters yet (no switch with queues connected).")));
}

// ------------------------------------------------------------------ paths
function hopText(hop) {
  if (typeof hop !== "object" || hop === null) return shortDpid(hop);
  const sw = shortDpid(hop.dpid ?? hop.sw ?? hop.switch ?? "?");
  const inPort = hop["in-port"] ?? hop.in_port ?? hop.inPort;
  const outPort = hop["out-port"] ?? hop.out_port ?? hop.outPort ?? hop.port;
  if (inPort !== undefined && outPort !== undefined) return `${sw} (${inPort}→${outPort})`;
  if (outPort !== undefined) return `${sw} (→${outPort})`;
  return sw;
}

async function refreshPaths() {
  const box = $("#path-list");
  if (!offers("/qos/paths")) {
    renderIfChanged("paths", "n/a", box, () => notAvailable("Paths"));
    return;
  }
  const res = await api("GET", "/qos/paths");
  if (!res.ok || !res.data) return;
  const paths = listOf(res.data, "paths");
  renderIfChanged("paths", paths, box, () => (paths.length ? el("ul", { class: "path-list" }, paths.map((p) =>
    el("li", {},
      el("strong", {}, p.name || `${p.src} → ${p.dst}`),
      p.name && (p.src || p.dst) ? el("span", { class: "muted" }, ` ${p.src ?? "?"} → ${p.dst ?? "?"}`) : null,
      el("ol", { class: "hops" }, (p.hops || p.path || []).map((h) => el("li", {}, hopText(h)))))))
    : el("p", { class: "empty" }, "No paths.")));
}

// ------------------------------------------------------------------ live chart
async function refreshStats() {
  const box = $("#charts");
  const note = $("#rates-note");
  if (!offers("/qos/stats/policies")) {
    box.replaceChildren();
    note.textContent = "Policy statistics: not available on this controller.";
    note.hidden = false;
    return;
  }
  const res = await api("GET", "/qos/stats/policies");
  if (!res.ok || !res.data) return;
  const policies = Array.isArray(res.data.policies) ? res.data.policies : [];
  state.stats = res.data;
  note.hidden = policies.length > 0;
  note.textContent = policies.length ? "" : "No policies to measure.";
  const now = Date.now() / 1000;
  const wanted = new Set(policies.map((p) => p.name));
  for (const fig of [...box.children]) {
    if (!wanted.has(fig.dataset.policy)) fig.remove();
  }
  for (const p of policies) {
    const history = seriesOf(p, now);
    let fig = [...box.children].find((f) => f.dataset.policy === p.name);
    if (!fig) {
      fig = el("figure", { class: "chart", dataset: { policy: p.name } },
        el("canvas", { role: "img", dataset: { policy: p.name } }),
        el("figcaption", {}));
      box.append(fig);
    }
    updateCaption(fig.querySelector("figcaption"), p);
    const canvas = fig.querySelector("canvas");
    canvas.setAttribute("aria-label", `${p.name}: measured ${formatRate(p.bps)}, max-rate ${
      p["max-rate"] ? formatRate(p["max-rate"]) : "none"}`);
    drawChart(canvas, history, p["max-rate"]);
  }
}

/** The server's history if it sends one, else what this page has seen. */
function seriesOf(policy, now) {
  if (Array.isArray(policy.history) && policy.history.length) return policy.history;
  const mine = state.history.get(policy.name) || [];
  mine.push([now, Number(policy.bps) || 0]);
  while (mine.length && mine[0][0] < now - CHART_WINDOW_S) mine.shift();
  state.history.set(policy.name, mine);
  return mine;
}

function updateCaption(caption, p) {
  const max = p["max-rate"];
  const perSwitch = (p.switches || []).map((s) => `${shortDpid(s.dpid)}: ${formatRate(s.bps)}, `
    + `${formatCount(s.packets)} pkts`).join(" · ");
  caption.replaceChildren(
    el("span", { class: "chart-name" }, p.name),
    el("span", { class: "chart-now" }, formatRate(p.bps)),
    el("span", { class: "chart-max" }, max ? `max-rate ${formatRate(max)}` : "no queue max-rate"),
    el("span", { class: "chart-switches muted" }, perSwitch || "no switch counters"));
}

/** Size the canvas for the device pixel ratio; returns a context in CSS pixels. */
function setupCanvas(canvas, fallbackHeight) {
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 300;
  const cssHeight = canvas.clientHeight || fallbackHeight;
  canvas.width = Math.round(cssWidth * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  return ctx;
}

/** A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceCeiling(value) {
  if (!(value > 0)) return 1000;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * exp) return step * exp;
  }
  return 10 * exp;
}

/** Measured rate (solid) over the last CHART_WINDOW_S seconds, max-rate dashed. */
function drawChart(canvas, history, maxRate) {
  const ctx = setupCanvas(canvas, 150);
  if (!ctx) return;
  const height = canvas.clientHeight || 150;
  const width = canvas.clientWidth || 300;
  const pad = { left: 74, right: 10, top: 10, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const tEnd = history.length ? history[history.length - 1][0] : Date.now() / 1000;
  const tStart = tEnd - CHART_WINDOW_S;
  const peak = Math.max(0, ...history.map(([, v]) => Number(v) || 0));
  const top = niceCeiling(Math.max(peak, maxRate || 0) * 1.1);
  const x = (t) => pad.left + ((t - tStart) / CHART_WINDOW_S) * plotW;
  const y = (v) => pad.top + plotH - (Math.min(v, top) / top) * plotH;

  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#4a5566";
  ctx.strokeStyle = "#e3e7ee";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i += 1) {
    const v = (top * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, Math.round(y(v)) + 0.5);
    ctx.lineTo(width - pad.right, Math.round(y(v)) + 0.5);
    ctx.stroke();
    ctx.fillText(formatRate(v), pad.left - 6, y(v));
  }
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  ctx.fillText(`−${CHART_WINDOW_S} s`, pad.left, height - 6);
  ctx.textAlign = "right";
  ctx.fillText("now", width - pad.right, height - 6);

  if (maxRate) {
    ctx.save();
    ctx.strokeStyle = "#c0392b";
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(pad.left, y(maxRate));
    ctx.lineTo(width - pad.right, y(maxRate));
    ctx.stroke();
    ctx.restore();
  }
  const points = history.filter(([t]) => t >= tStart);
  if (points.length) {
    ctx.beginPath();
    points.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.strokeStyle = "#1f5fbf";
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.lineTo(x(points[points.length - 1][0]), y(0));
    ctx.lineTo(x(points[0][0]), y(0));
    ctx.closePath();
    ctx.fillStyle = "rgba(31, 95, 191, 0.12)";
    ctx.fill();
  }
}

// ------------------------------------------------------------------ main loop
async function refreshAll() {
  await refreshStatus();
  await Promise.all([refreshServices(), refreshSwitches()]);
  await Promise.all([refreshPolicies(), refreshStats(), refreshQueues(), refreshPaths(), refreshTopology()]);
}

/**
 * Refresh everything, then again in POLL_MS. A rendering bug must not stop
 * the updates, but it is re-thrown so that it shows as a page error (and
 * fails the browser tests) instead of passing silently.
 */
async function poll() {
  try {
    await refreshAll();
  } catch (err) {
    setConnection(false, `Page error: ${err.message}`);
    throw err;
  } finally {
    document.body.dataset.ready = "1";
    setTimeout(poll, POLL_MS);
  }
}

async function start() {
  $("#qos-enabled").addEventListener("change", onToggle);
  $("#policy-form").addEventListener("submit", onPolicySubmit);
  $("#service-form").addEventListener("submit", onServiceSubmit);
  $("#policy-cancel").addEventListener("click", () => {
    const name = stopEdit();
    const button = name && document.querySelector(`[data-key="${CSS.escape(`pol-edit:${name}`)}"]`);
    if (button) button.focus();
  });
  const doc = await api("GET", "/qos/openapi.json");
  state.api = doc.ok ? doc.data : { paths: {} };
  poll();
}

start();
