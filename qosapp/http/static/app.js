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
// - Two libraries from npm, at pinned versions and served by the controller
//   (qosapp/http/vendored.txt; index.html loads them before this module):
//   cytoscape.js draws the network and the selected path's route on it,
//   uPlot draws the rates over time. Nothing here draws on a canvas itself.

const POLL_MS = 2000;
const CHART_WINDOW_S = 120;
const CHART_HEIGHT = 160;
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
  history: new Map(),   // "policy:name" / "path:name" -> [[t, bps], ...] when the server sends none
  queueHistory: [],     // [{t, rates: Map("dpid/port/queue" -> bps)}], the last CHART_WINDOW_S seconds
  paths: [],
  cy: null,             // the cytoscape.js graph of the network
  topology: null,       // JSON of the elements it shows
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

// ------------------------------------------------------------------ the cluster (GET /qos/cluster)
const MEMBER_COLUMNS = [
  ["Member", (m) => m.id],
  ["Connected switches", (m) => String(m.switches), true],
  ["Masters", (m) => String(m.masters), true],
];
const MASTERSHIP_COLUMNS = [
  ["Switch", (s) => switchLabel(s.dpid)],
  ["Master", (s) => s.master || "none"],
  ["Generation id", (s) => (s.generation == null ? "–" : String(s.generation)), true],
  ["Role here", (s) => s["role-error"] ? `${s.role}: ${s["role-error"]}` : (s["role-confirmed"] || s.role || "–")],
];
const ENDPOINT_COLUMNS = [
  ["etcd endpoint", (e) => e.endpoint],
  ["State", (e) => (e.ok ? (e["is-leader"] ? "up, leader" : "up") : `down: ${e.error || "no answer"}`)],
];

async function refreshCluster() {
  const res = await api("GET", "/qos/cluster");
  if (!res.ok || !res.data) return;
  const c = res.data;
  // only what changes the picture (not the role timestamps or each endpoint's revision)
  const shown = c.cluster ? {
    me: c.me, lease: c.lease, members: c.members,
    switches: c.switches.map((s) => [s.dpid, s.master, s.generation, s["role-confirmed"], s.role, s["role-error"]]),
    endpoints: c.endpoints.map((e) => [e.endpoint, e.ok, e["is-leader"], e.error]),
  } : {};
  renderIfChanged("cluster", shown, $("#cluster-view"), () => (c.cluster ? [
    el("p", {}, `This instance: ${c.me}; lease ${c.lease || "none (registering)"}, TTL ${c.ttl} s.`),
    dataTable("Cluster members", MEMBER_COLUMNS, c.members),
    dataTable("Switch mastership", MASTERSHIP_COLUMNS, c.switches),
    dataTable("etcd endpoints", ENDPOINT_COLUMNS, c.endpoints),
  ] : [el("p", { class: "muted" }, "One instance on the SQLite store: no cluster.")]));
}

// ------------------------------------------------------------------ the network map (cytoscape.js)
/** Mininet's names: dpid 1 is s1. Any other dpid keeps its short hex form. */
function switchLabel(dpid) {
  const n = parseInt(String(dpid).replace(/:/g, ""), 16);
  return Number.isSafeInteger(n) && n > 0 && n < 1e6 ? `s${n}` : shortDpid(dpid);
}

const byEnd = (x, y) => (x.dpid < y.dpid ? -1 : x.dpid > y.dpid ? 1 : x.port - y.port);

/**
 * Cytoscape elements for GET /qos/topology: a node per switch and host, one
 * edge per cable (the two directions the controller lists are one line),
 * the port numbers at the ends.
 */
function topologyElements(topo) {
  const nodes = (topo.switches || []).map((sw) => ({ group: "nodes", data: {
    id: `sw:${sw.dpid}`, label: switchLabel(sw.dpid), routeLabel: switchLabel(sw.dpid), kind: "switch", dpid: sw.dpid } }));
  const edges = new Map();
  for (const link of topo.links || []) {
    const [a, b] = [link.src, link.dst].sort(byEnd);
    const id = `link:${a.dpid}/${a.port}-${b.dpid}/${b.port}`;
    edges.set(id, { group: "edges", data: { id, kind: "link", source: `sw:${a.dpid}`, target: `sw:${b.dpid}`,
      srcPort: a.port, dstPort: b.port, sourceLabel: String(a.port), targetLabel: String(b.port) } });
  }
  for (const host of topo.hosts || []) {
    nodes.push({ group: "nodes", data: { id: `host:${host.mac}`, label: host.ip || host.mac, routeLabel: host.ip || host.mac,
      kind: "host", dpid: host.dpid, port: host.port } });
    const id = `hostlink:${host.mac}`;
    edges.set(id, { group: "edges", data: { id, kind: "hostlink", source: `host:${host.mac}`, target: `sw:${host.dpid}`,
      srcPort: null, dstPort: host.port, sourceLabel: "", targetLabel: String(host.port) } });
  }
  const ids = new Set(nodes.map((n) => n.data.id)); // a host on a switch not listed (yet) would make cytoscape throw
  return [...nodes, ...[...edges.values()].filter((e) => ids.has(e.data.source) && ids.has(e.data.target))];
}

const ROUTE = "#b35900";
/** A network of two switches is not drawn at four times the size of one of ten. */
const MAX_ZOOM = 1.6;
const GRAPH_STYLE = [
  { selector: "node", style: { label: "data(label)", "font-size": 12, "text-valign": "center", "text-halign": "center",
    color: "#1b2430", "font-family": "system-ui, DejaVu Sans, sans-serif" } },
  { selector: "node[kind = 'switch']", style: { shape: "round-rectangle", width: 48, height: 26, color: "#ffffff",
    "background-color": "#1f4e8c", "border-width": 3, "border-color": "#1f4e8c" } },
  { selector: "node[kind = 'host']", style: { shape: "ellipse", width: 16, height: 16, "background-color": "#e8f1ff",
    "border-width": 1.5, "border-color": "#1f4e8c", "text-valign": "bottom", "text-margin-y": 4, "font-size": 11 } },
  { selector: "edge", style: { width: 2, "line-color": "#8894a8", "curve-style": "straight",
    "source-label": "data(sourceLabel)", "target-label": "data(targetLabel)", "source-text-offset": 20,
    "target-text-offset": 20, "font-size": 10, color: "#3d4756", "text-background-color": "#ffffff",
    "text-background-opacity": 1, "text-background-padding": 1 } },
  { selector: "edge[kind = 'hostlink']", style: { "line-style": "dashed", width: 1.5 } },
  { selector: "edge.on-route", style: { width: 5, "line-color": ROUTE, "line-style": "solid", "arrow-scale": 1.3,
    "target-arrow-color": ROUTE, "source-arrow-color": ROUTE } },
  { selector: "edge.to-target", style: { "target-arrow-shape": "triangle" } },
  { selector: "edge.to-source", style: { "source-arrow-shape": "triangle" } },
  { selector: "node.on-route", style: { "background-color": ROUTE, "border-color": ROUTE, label: "data(routeLabel)" } },
  { selector: "node[kind = 'switch'].on-route", style: { width: 64 } },
  { selector: "node.installed-here", style: { "border-color": "#1e7b34", "border-width": 5 } },
  { selector: "node.failed-here", style: { "border-color": "#b3261e", "border-width": 5 } },
];

/** Switches on a circle (in dpid order), each switch's hosts just outside it; any bigger fabric: cytoscape's cose. */
function layoutNetwork(cy) {
  const switches = cy.nodes("[kind = 'switch']").sort((a, b) => (a.data("dpid") < b.data("dpid") ? -1 : 1));
  if (switches.length > 16) {
    cy.layout({ name: "cose", animate: false, randomize: false, fit: true, padding: 24 }).run();
    return;
  }
  const radius = switches.length > 1 ? 40 + 22 * switches.length : 0;
  const angles = new Map();
  switches.forEach((node, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, switches.length) - Math.PI / 2;
    angles.set(node.data("dpid"), angle);
    node.position({ x: radius * Math.cos(angle), y: radius * Math.sin(angle) });
  });
  const perSwitch = new Map();
  cy.nodes("[kind = 'host']").sort((a, b) => a.data("port") - b.data("port")).forEach((node) => {
    const dpid = node.data("dpid");
    const n = perSwitch.get(dpid) || 0;
    perSwitch.set(dpid, n + 1);
    const angle = (angles.get(dpid) ?? 0) + n * 0.35;
    const sw = cy.getElementById(`sw:${dpid}`).position();
    node.position({ x: sw.x + 55 * Math.cos(angle), y: sw.y + 55 * Math.sin(angle) });
  });
  cy.fit(cy.elements(), 28);
  if (cy.zoom() > MAX_ZOOM) {
    cy.zoom(MAX_ZOOM);
    cy.center();
  }
}

async function refreshTopology() {
  const box = $("#topology");
  if (!offers("/qos/topology")) {
    renderIfChanged("topology", "n/a", box, () => notAvailable("Topology"));
    return;
  }
  const res = await api("GET", "/qos/topology");
  if (!res.ok || !res.data) return;
  const elements = topologyElements(res.data);
  if (!elements.length) {
    if (state.cy) state.cy.destroy();
    state.cy = null;
    renderIfChanged("topology", "empty", box, () => el("p", { class: "empty" }, "No switch connected yet."));
    return;
  }
  const key = JSON.stringify(elements);
  if (state.cy && state.topology === key) return;
  state.topology = key;
  if (!state.cy) {
    state.rendered.set("topology", "graph");
    const graph = el("div", { class: "graph", id: "topology-graph", role: "img" });
    const list = el("ul", { class: "link-list" });
    box.replaceChildren(graph, el("details", {}, el("summary", {}, "Links as text"), list));
    state.cy = cytoscape({ container: graph, style: GRAPH_STYLE, layout: { name: "preset" },
      userZoomingEnabled: false, userPanningEnabled: false, boxSelectionEnabled: false });
    window.qosNetwork = state.cy; // for the browser tests and anyone curious in the console
  }
  const cy = state.cy;
  cy.elements().remove();
  cy.add(elements);
  layoutNetwork(cy);
  const count = (kind) => cy.elements(`[kind = '${kind}']`).length;
  $("#topology-graph").setAttribute("aria-label", `Network: ${count("switch")} switches, ${count("link")} links `
    + `between them, ${count("host")} hosts`);
  box.querySelector(".link-list").replaceChildren(...cy.edges().map((e) => el("li", {},
    `${e.source().data("label")} port ${e.data("sourceLabel") || "-"} — ${e.target().data("label")} port ${e.data("targetLabel")}`)));
  showSelection();
}

/** The selector above the map: every QoS path and every policy. */
function fillRouteSelect() {
  const select = $("#route-select");
  const options = [
    ...state.paths.map((p) => [`path:${p.name}`, `path ${p.name} (${p.src} ${p.direction === "forward" ? "→" : "⇄"} ${p.dst})`]),
    ...state.policies.map((p) => [`policy:${p.name}`, `policy ${p.name}`])];
  const key = JSON.stringify(options);
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  const current = select.value;
  select.replaceChildren(el("option", { value: "" }, "nothing selected"),
    ...options.map(([value, text]) => el("option", { value }, text)));
  select.value = options.some(([value]) => value === current) ? current : "";
}

/** The cable at switch `dpid`'s port `port`, and whether it is that cable's source end. */
function cableAt(cy, dpid, port) {
  const id = `sw:${dpid}`;
  const edge = cy.edges().filter((e) => (e.data("source") === id && e.data("srcPort") === port)
    || (e.data("target") === id && e.data("dstPort") === port))[0];
  return edge ? [edge, edge.data("source") === id] : [null, false];
}

/** Mark a cable as on the route, its arrow pointing away from `fromSource`'s end or towards it. */
function markCable(edge, leavingSource) {
  edge.addClass("on-route");
  edge.addClass(leavingSource ? "to-target" : "to-source");
  (leavingSource ? edge.target() : edge.source()).filter("[kind = 'host']").addClass("on-route");
}

/** One direction of a path: each hop's switch (numbered when `numbered`), the cables between, the hosts at the ends. */
function markHops(cy, hops, numbered) {
  hops.forEach((hop, i) => {
    const node = cy.getElementById(`sw:${hop.dpid}`);
    node.addClass("on-route");
    if (numbered) node.data("routeLabel", `${i + 1}: ${switchLabel(hop.dpid)}`);
    if (i === 0) {
      const [edge, isSource] = cableAt(cy, hop.dpid, hop["in-port"]);
      if (edge) markCable(edge, !isSource);
    }
    const [edge, isSource] = cableAt(cy, hop.dpid, hop["out-port"]);
    if (edge) markCable(edge, isSource);
  });
}

function markInstalled(cy, install) {
  for (const [dpid, st] of Object.entries(install || {})) {
    const node = cy.getElementById(`sw:${dpid}`);
    if (st.state === "installed") node.addClass("installed-here");
    else if (st.state === "error" || st.state === "missing-queue") node.addClass("failed-here");
  }
}

function installText(install) {
  const entries = Object.entries(install || {});
  if (!entries.length) return "installed nowhere";
  return entries.map(([dpid, st]) => `${switchLabel(dpid)} ${st.state}${st.reason ? ` (${st.reason})` : ""}`).join(", ");
}

/** Draw what the selector names on the map, and say it in words under it. */
function showSelection() {
  const cy = state.cy;
  const value = $("#route-select").value;
  const text = $("#route-text");
  if (cy) {
    cy.elements().removeClass("on-route to-source to-target installed-here failed-here");
    cy.nodes().forEach((n) => n.data("routeLabel", n.data("label")));
  }
  const colon = value.indexOf(":");
  const kind = value.slice(0, colon);
  const name = value.slice(colon + 1);
  if (kind === "path") {
    const path = state.paths.find((p) => p.name === name);
    if (!path) return void text.replaceChildren();
    const status = path.status || {};
    const ways = [["forward", status.hops || [], path.src, path.dst],
      ["reverse", status["reverse-hops"] || [], path.dst, path.src]].filter(([, hops]) => hops.length);
    if (cy) {
      ways.forEach(([, hops], i) => markHops(cy, hops, i === 0));
      markInstalled(cy, path.install);
    }
    text.replaceChildren(
      el("p", {}, el("strong", {}, `Path ${path.name}`), `: ${status.state || "pending"}`,
        status.reason ? ` (${status.reason})` : "", ` · ${installText(path.install)}`),
      el("ol", { class: "route-ways" }, ways.map(([way, hops, from, to]) => el("li", { dataset: { way } },
        `${way} ${from} → ${to}: `, el("span", { class: "mono" }, hops.map(hopText).join(" → "))))));
  } else if (kind === "policy") {
    const policy = state.policies.find((p) => p.name === name);
    if (!policy) return void text.replaceChildren();
    if (cy) {
      markInstalled(cy, policy.install);
      const port = Number(policy["enqueue-port"]);
      for (const [dpid, st] of Object.entries(policy.install || {})) {
        const [edge, isSource] = st.state === "installed" && Number.isInteger(port) ? cableAt(cy, dpid, port) : [null];
        if (edge) markCable(edge, isSource);
      }
    }
    text.replaceChildren(el("p", {}, el("strong", {}, `Policy ${policy.name}`), `: ${actionSummary(policy)} · `
      + installText(policy.install)));
  } else {
    text.replaceChildren();
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
  recordQueueRates(rows);
  renderIfChanged("queue-stats", rows, box, () => (rows.length
    ? dataTable("Queue counters per switch, port and queue", QUEUE_STAT_COLUMNS, rows)
    : el("p", { class: "empty" }, "No queue counters yet (no switch with queues connected).")));
}

// ------------------------------------------------------------------ meters
const METER_STAT_COLUMNS = [
  ["Meter", (m) => m.name],
  ["Rate", (m) => formatRate(m.rate), true],
  ["Switch", (m) => (m.dpid ? shortDpid(m.dpid) : "–")],
  ["Id", (m) => (m["meter-id"] === undefined ? "–" : String(m["meter-id"])), true],
  ["In packets", (m) => formatCount(m["packets-in"]), true],
  ["In bytes", (m) => formatCount(m["bytes-in"]), true],
  ["In rate", (m) => formatRate(m["bps-in"]), true],
  ["Dropped packets", (m) => formatCount(m["dropped-packets"]), true],
  ["Dropped bytes", (m) => formatCount(m["dropped-bytes"]), true],
  ["Drop rate", (m) => formatRate(m["bps-dropped"]), true],
];

/** /qos/stats/meters -> one row per meter and switch (a meter not on any switch yet: one row of its own). */
function meterRows(meters) {
  return meters.flatMap((m) => ((m.switches || []).length
    ? m.switches.map((s) => ({ name: m.name, rate: m.rate, ...s }))
    : [{ name: m.name, rate: m.rate }]));
}

async function refreshMeterStats() {
  const box = $("#meter-stats");
  if (!offers("/qos/stats/meters")) {
    renderIfChanged("meter-stats", "n/a", box, () => notAvailable("Meter statistics"));
    return;
  }
  const res = await api("GET", "/qos/stats/meters");
  if (!res.ok) return;
  const rows = meterRows(listOf(res.data, "meters"));
  renderIfChanged("meter-stats", rows, box, () => (rows.length
    ? dataTable("Meter counters per meter and switch", METER_STAT_COLUMNS, rows)
    : el("p", { class: "empty" }, "No meters.")));
}

// ------------------------------------------------------------------ paths
function hopText(hop) {
  if (typeof hop !== "object" || hop === null) return shortDpid(hop);
  const sw = switchLabel(hop.dpid ?? hop.sw ?? hop.switch ?? "?");
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
  state.paths = paths;
  renderIfChanged("paths", paths, box, () => (paths.length ? el("ul", { class: "path-list" }, paths.map((p) =>
    el("li", { dataset: { path: p.name } },
      el("strong", {}, p.name || `${p.src} → ${p.dst}`),
      p.name && (p.src || p.dst) ? el("span", { class: "muted" }, ` ${p.src ?? "?"} → ${p.dst ?? "?"}`) : null,
      el("span", { class: `badge state-${(p.status || {}).state === "installed" ? "installed" : "pending"}` },
        (p.status || {}).state || "pending"),
      el("ol", { class: "hops" }, ((p.status || {}).hops || []).map((h) => el("li", {}, hopText(h)))))))
    : el("p", { class: "empty" }, "No paths.")));
}

// ------------------------------------------------------------------ static flow entries
/** A static entry's match in Floodlight's field names ("ingress-port 1, src-ip 10.0.0.1"). */
function staticMatch(entry) {
  const keys = ["ingress-port", "src-mac", "dst-mac", "vlan-id", "vlan-priority", "ether-type", "tos-bits",
    "protocol", "src-ip", "dst-ip", "src-port", "dst-port"];
  const parts = keys.filter((k) => entry[k] !== undefined).map((k) => `${k} ${entry[k]}`);
  return parts.length ? parts.join(", ") : "everything";
}

async function deleteStaticFlow(name) {
  const res = await api("DELETE", `/qos/static-flows/${encodeURIComponent(name)}`);
  const note = $("#static-flow-error");
  note.hidden = res.ok;
  note.textContent = res.ok ? "" : `Could not delete ${name}: ${(res.data || {}).error || res.status}`;
  await refreshStaticFlows();
}

const STATIC_COLUMNS = [
  ["Name", (f) => f.name],
  ["Switch", (f) => switchLabel(f.switch)],
  ["Priority", (f) => String(f.priority), true],
  ["Match", (f) => staticMatch(f)],
  ["Actions", (f) => el("code", {}, f.actions || "(drop)")],
  ["State", (f) => el("span", { class: `badge state-${f.install.state}`, title: f.install.reason || "" },
    f.install.state + (f.install.reason ? `: ${f.install.reason}` : ""))],
  ["", (f) => deleteButton(`static-del:${f.name}`, `Delete static flow entry ${f.name}`,
    () => deleteStaticFlow(f.name))],
];

async function refreshStaticFlows() {
  const box = $("#static-flow-list");
  if (!offers("/qos/static-flows")) {
    renderIfChanged("static-flows", "n/a", box, () => notAvailable("Static flow entries"));
    return;
  }
  const res = await api("GET", "/qos/static-flows");
  if (!res.ok || !Array.isArray(res.data)) return;
  const flows = res.data;
  renderIfChanged("static-flows", flows, box, () => (flows.length
    ? dataTable("Static flow entries per switch", STATIC_COLUMNS, flows)
    : el("p", { class: "empty" }, "No static flow entries.")));
}

// ------------------------------------------------------------------ live charts (uPlot)
const SERIES_COLORS = ["#1f5fbf", "#1e7b34", "#8a3ffc", "#b35900", "#007d79", "#9f1853", "#525252", "#8a6d00"];
const MAX_QUEUE_SERIES = 8;

/** The controller's history times (its monotonic clock) as Unix seconds, from the answer's own clock. */
function wallClock(answer) {
  const received = Date.now() / 1000;
  const clock = Number(answer.clock);
  return Number.isFinite(clock) ? (t) => received - (clock - t) : (t) => t;
}

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
  const paths = Array.isArray(res.data.paths) ? res.data.paths : [];
  state.stats = res.data;
  const wall = wallClock(res.data);
  const items = [...policies.map((p) => ["policy", p]), ...paths.map((p) => ["path", p])];
  note.hidden = items.length > 0;
  note.textContent = items.length ? "" : "No policies or paths to measure.";
  const wanted = new Set(items.map(([kind, p]) => `${kind}:${p.name}`));
  for (const fig of box.querySelectorAll("figure[data-chart]")) {
    if (fig.dataset.chart !== "queues" && !wanted.has(fig.dataset.chart)) dropChart(fig);
  }
  for (const [kind, p] of items) {
    const fig = chartFigure(box, `${kind}:${p.name}`, { [kind]: p.name });
    updateCaption(fig.querySelector("figcaption"), p, kind);
    const history = seriesOf(`${kind}:${p.name}`, p, wall);
    const max = p["max-rate"] || null;
    fig.querySelector(".plot").setAttribute("aria-label", `${p.name}: measured ${formatRate(p.bps)}, max-rate ${
      max ? formatRate(max) : "none"}`);
    drawChart(fig, [{ label: "measured", color: SERIES_COLORS[0], fill: true },
      { label: "max-rate", color: "#c0392b", dash: [6, 4] }],
    [history.map(([t]) => t), history.map(([, v]) => v), history.map(() => max)]);
  }
}

/** The server's history (times made Unix seconds) if it sends one, else what this page has seen. */
function seriesOf(key, item, wall) {
  if (Array.isArray(item.history) && item.history.length) return item.history.map(([t, v]) => [wall(t), v]);
  const now = Date.now() / 1000;
  const mine = state.history.get(key) || [];
  mine.push([now, Number(item.bps) || 0]);
  while (mine.length && mine[0][0] < now - CHART_WINDOW_S) mine.shift();
  state.history.set(key, mine);
  return mine;
}

function updateCaption(caption, p, kind) {
  const max = p["max-rate"];
  const perSwitch = (p.switches || []).map((s) => `${switchLabel(s.dpid)}: ${formatRate(s.bps)}, `
    + `${formatCount(s.packets)} pkts`).join(" · ");
  caption.replaceChildren(
    el("span", { class: "chart-name" }, kind === "path" ? `path ${p.name}` : p.name),
    el("span", { class: "chart-now" }, formatRate(p.bps)),
    el("span", { class: "chart-max" }, max ? `max-rate ${formatRate(max)}` : "no queue max-rate"),
    el("span", { class: "chart-switches muted" }, perSwitch || "no switch counters"));
}

/** Every queue that carried traffic in the window, one line each (the page keeps their history). */
function recordQueueRates(rows) {
  const now = Date.now() / 1000;
  const rates = new Map(rows.map((q) => [`${q.dpid}/${q.port}/${q.queue}`, Number(q.bps) || 0]));
  const names = new Map(rows.map((q) => [`${q.dpid}/${q.port}/${q.queue}`,
    `${q["port-name"] || `${switchLabel(q.dpid)} port ${q.port}`} q${q.queue}`]));
  state.queueHistory.push({ t: now, rates });
  while (state.queueHistory.length && state.queueHistory[0].t < now - CHART_WINDOW_S) state.queueHistory.shift();
  const peak = new Map();
  for (const { rates: r } of state.queueHistory) {
    for (const [key, bps] of r) peak.set(key, Math.max(peak.get(key) || 0, bps));
  }
  const busy = [...peak].filter(([, bps]) => bps > 0).sort((a, b) => b[1] - a[1]).slice(0, MAX_QUEUE_SERIES)
    .map(([key]) => key).sort();
  const box = $("#charts");
  if (!busy.length) {
    const fig = box.querySelector("figure[data-chart='queues']");
    if (fig) dropChart(fig);
    return;
  }
  const fig = chartFigure(box, "queues", { queues: "all" });
  fig.querySelector("figcaption").replaceChildren(el("span", { class: "chart-name" }, "Queues"),
    el("span", { class: "muted" }, `transmit rate of the ${busy.length} busiest queues (switch port, queue)`));
  fig.querySelector(".plot").setAttribute("aria-label", `Queues: ${busy.map((k) => `${names.get(k) || k} `
    + `${formatRate(rates.get(k))}`).join(", ")}`);
  drawChart(fig, busy.map((key, i) => ({ label: names.get(key) || key, color: SERIES_COLORS[i % SERIES_COLORS.length] })),
    [state.queueHistory.map((s) => s.t), ...busy.map((key) => state.queueHistory.map((s) => s.rates.get(key) ?? null))]);
}

/** The <figure> for one chart, made on first use. */
function chartFigure(box, key, dataset) {
  let fig = [...box.querySelectorAll("figure[data-chart]")].find((f) => f.dataset.chart === key);
  if (!fig) {
    fig = el("figure", { class: "chart", dataset: { chart: key, ...dataset } },
      el("div", { class: "plot", role: "img" }), el("figcaption", {}));
    if (key === "queues") box.append(fig);
    else box.insertBefore(fig, box.querySelector("figure[data-chart='queues']"));
  }
  return fig;
}

function dropChart(fig) {
  if (fig.qosPlot) fig.qosPlot.destroy();
  fig.remove();
}

/**
 * One uPlot per figure: time on x, bit/s on y from 0. The plot is made again
 * only when its lines change; otherwise it just gets the new data.
 */
function drawChart(fig, lines, data) {
  const plotBox = fig.querySelector(".plot");
  const width = Math.max(280, plotBox.clientWidth);
  const shape = JSON.stringify(lines.map((l) => l.label));
  if (fig.qosPlot && fig.dataset.shape === shape) {
    fig.qosPlot.setData(data);
    if (Math.abs(fig.qosPlot.width - width) > 2) fig.qosPlot.setSize({ width, height: CHART_HEIGHT });
    return;
  }
  if (fig.qosPlot) fig.qosPlot.destroy();
  fig.dataset.shape = shape;
  const rate = (u, v) => (v === null || v === undefined ? "–" : formatRate(v));
  const options = {
    width, height: CHART_HEIGHT,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1000, (max || 0) * 1.15)] } },
    axes: [{ stroke: "#4a5566" }, { stroke: "#4a5566", size: 78, values: (u, splits) => splits.map((v) => formatRate(v)) }],
    series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, dash: l.dash, value: rate,
      fill: l.fill ? "rgba(31, 95, 191, 0.12)" : undefined, spanGaps: false }))],
    legend: { live: true },
  };
  // uPlot is the plot behind the figure; kept on the element for the browser tests and the console
  fig.qosPlot = new uPlot(options, data, plotBox);
}

window.addEventListener("resize", () => {
  for (const fig of document.querySelectorAll("figure[data-chart]")) {
    const width = Math.max(280, fig.querySelector(".plot").clientWidth);
    if (fig.qosPlot) fig.qosPlot.setSize({ width, height: CHART_HEIGHT });
  }
});

// ------------------------------------------------------------------ main loop
async function refreshAll() {
  await refreshStatus();
  await Promise.all([refreshServices(), refreshSwitches(), refreshCluster()]);
  await Promise.all([refreshPolicies(), refreshStats(), refreshPaths(), refreshStaticFlows()]);
  await refreshQueues(); // after the policy and path charts: the queue chart goes last
  await refreshMeterStats();
  fillRouteSelect();
  await refreshTopology();
  showSelection();
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
  $("#route-select").addEventListener("change", showSelection);
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
