// The symx console: plain JavaScript, no dependencies. Every value from the server is put in
// the page as text (textContent), never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGES = ["signin", "artifacts", "symbolicate", "missing", "health"];
const KEY = "symx-key";

const state = {
  key: sessionStorage.getItem(KEY),
  me: null,
  filters: null,
  tokens: [""], // page tokens of the pages seen, for "previous"
  page: 0,
  selected: null,
  metrics: null, // the previous scrape, for rates
  healthTimer: null,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function messageOf(body) {
  if (!body) return "";
  if (typeof body === "string") return body.trim();
  if (body.error && body.error.message) return body.error.message;
  if (Array.isArray(body.errors)) {
    return body.errors.map((e) => (typeof e === "string" ? e : e.detail || e.title)).join("; ");
  }
  return body.message || "";
}

// One call to this server with the signed-in key (as each route family expects it).
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) {
    headers["Authorization"] = "Bearer " + state.key;
    if (path.startsWith("/api/v2/")) {
      headers["DD-API-KEY"] = state.key;
      headers["DD-APPLICATION-KEY"] = state.key;
    }
  }
  const resp = await fetch(path, Object.assign({}, options, { headers }));
  const text = await resp.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch (_) {
    // plain text
  }
  if (!resp.ok) throw new ApiError(resp.status, messageOf(body) || resp.statusText);
  return body;
}

function say(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut("The key was refused; sign in again.");
    return;
  }
  say(e.message || String(e), true);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function bytes(n) {
  if (n === null || n === undefined || isNaN(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function can(scope) {
  return !!state.me && (state.me.scopes.includes(scope) || state.me.scopes.includes("admin"));
}

// --- pages -----------------------------------------------------------------------------------

function show(page) {
  if (!state.me) page = "signin";
  if (!PAGES.includes(page) || (page === "signin" && state.me)) page = "artifacts";
  for (const p of PAGES) $("page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clearInterval(state.healthTimer);
  state.healthTimer = null;
  if (page === "health") {
    state.metrics = null;
    health();
    state.healthTimer = setInterval(health, 5000);
  }
  if (page === "missing") missing();
  if (page === "artifacts" && state.filters && !$("artifacts-table").dataset.loaded) search(true);
  const heading = $("page-" + page).querySelector("h2");
  if (heading) document.title = heading.textContent + " · symx console";
}

function route() {
  show((location.hash || "#artifacts").slice(1));
}

async function signIn(key) {
  state.key = key || null;
  try {
    state.me = await api("/api/symx/v1/whoami");
    state.filters = await api("/api/symx/v1/filters");
  } catch (e) {
    state.me = null;
    state.key = null;
    sessionStorage.removeItem(KEY);
    say(e instanceof ApiError && e.status === 401 ? "The key was refused." : e.message, true);
    show("signin");
    return;
  }
  if (state.key) sessionStorage.setItem(KEY, state.key);
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-text").textContent =
    "tenant " + state.me.tenant + " · " + state.me.scopes.join(", ") +
    (state.me.auth_required ? "" : " (open server)");
  fillKinds();
  say("Signed in.");
  route();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.key = null;
  state.me = null;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("artifacts-table").dataset.loaded = "";
  say(message || "Signed out.");
  show("signin");
}

// --- artifacts -------------------------------------------------------------------------------

function fillKinds() {
  const select = $("f-kind");
  select.replaceChildren(...state.filters.kinds.map((k) => el("option", { value: k, text: k })));
  fillFields();
}

function fillFields() {
  const kind = $("f-kind").value;
  const fields = state.filters.filters.filter((f) => f.kinds.includes(kind));
  $("f-fields").replaceChildren(
    ...fields.map((f) =>
      el("label", {}, f.name.replace(/_/g, " "),
        el("input", { "data-filter": f.name, name: f.name, title: f.help, placeholder: f.help }))
    )
  );
}

function identifier(a) {
  const x = a.attributes || {};
  return a.debug_id || x.build_id || x.gnu_build_id || x.uuids || x.pdb_sig || x.git_commit_sha || "";
}

function fileName(a) {
  const x = a.attributes || {};
  return x.absolute_path || x.file_name || x.filename || x.bundle_name || "";
}

async function search(reset) {
  if (reset) {
    state.tokens = [""];
    state.page = 0;
  }
  const params = new URLSearchParams({ kind: $("f-kind").value, page_size: "20" });
  for (const input of document.querySelectorAll("#f-fields input")) {
    if (input.value.trim()) params.append("filter[" + input.dataset.filter + "]", input.value.trim());
  }
  if ($("f-deleted").checked) params.set("deleted", "true");
  const token = state.tokens[state.page];
  if (token) params.set("page_token", token);
  try {
    const page = await api("/api/symx/v1/artifacts?" + params);
    const rows = page.artifacts.map((a) => {
      const x = a.attributes || {};
      const row = el("tr", { class: "pick", tabindex: "0", "data-id": a.id },
        el("td", {}, a.created_at),
        el("td", {}, el("code", { text: a.id })),
        el("td", { text: x.service || "" }),
        el("td", { text: x.version || "" }),
        el("td", { text: fileName(a) }),
        el("td", {}, el("code", { text: identifier(a) })),
        el("td", { text: bytes(a.size) }),
        el("td", { text: a.deleted_at ? "deleted" : "live" }));
      row.addEventListener("click", () => details(a.id));
      row.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          details(a.id);
        }
      });
      return row;
    });
    $("artifacts-table").querySelector("tbody").replaceChildren(...rows);
    $("artifacts-table").dataset.loaded = "1";
    const first = state.page * 20 + (rows.length ? 1 : 0);
    $("artifacts-count").textContent =
      page.total + " artifact(s)" + (rows.length ? ", showing " + first + "–" + (first + rows.length - 1) : "");
    if (page.next_page_token) state.tokens[state.page + 1] = page.next_page_token;
    $("next-page").disabled = !page.next_page_token;
    $("prev-page").disabled = state.page === 0;
  } catch (e) {
    failed(e);
  }
}

async function details(id) {
  try {
    const a = await api("/api/symx/v1/artifacts/" + encodeURIComponent(id));
    state.selected = a;
    for (const tr of document.querySelectorAll("#artifacts-table tbody tr")) {
      tr.setAttribute("aria-selected", tr.dataset.id === id ? "true" : "false");
    }
    const items = [
      ["Id", a.id],
      ["Kind", a.kind],
      ["Uploaded", a.created_at],
      ["Deleted", a.deleted_at || "no"],
      ["Size", bytes(a.size)],
      ["Debug id", a.debug_id || "–"],
      ["Index cached", a.index_cached ? "yes" : "no"],
    ];
    for (const [k, v] of Object.entries(a.attributes || {})) items.push([k.replace(/_/g, " "), v]);
    $("details-list").replaceChildren(
      ...items.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])
    );
    $("details-files").querySelector("tbody").replaceChildren(
      ...a.files.map((f) => el("tr", {}, el("td", { text: f.part }), el("td", { text: bytes(f.size) }),
        el("td", {}, el("code", { text: f.sha256 }))))
    );
    $("details-title").textContent = "Artifact " + a.id;
    $("details").hidden = false;
    $("delete-confirm").hidden = true;
    $("delete-preview").hidden = !can("delete") || !!a.deleted_at;
    $("restore").hidden = !can("delete") || !a.deleted_at;
  } catch (e) {
    failed(e);
  }
}

// Datadog's delete route, narrowed to the one artifact (with its release where the kind asks
// for one).
function deletePath(a, dryRun) {
  const params = new URLSearchParams({ mapkind: a.kind });
  params.append("filter[id]", a.id);
  const x = a.attributes || {};
  const releaseKinds = state.filters.filters
    .filter((f) => f.name === "service")
    .flatMap((f) => f.kinds);
  if (releaseKinds.includes(a.kind)) {
    if (x.service) params.append("filter[service]", x.service);
    if (x.version) params.append("filter[version]", x.version);
  }
  params.set("dry_run", dryRun ? "true" : "false");
  return "/api/v2/sourcemaps?" + params;
}

async function previewDelete() {
  const a = state.selected;
  try {
    const r = await api(deletePath(a, true), { method: "DELETE" });
    const ids = r.data.map((d) => d.id);
    $("delete-preview-text").textContent =
      "Dry run: this deletes " + ids.length + " artifact(s): " + ids.join(", ") +
      ". It stops resolving and can be restored until it is purged.";
    $("delete-confirm").hidden = false;
    $("delete-confirm-button").focus();
  } catch (e) {
    failed(e);
  }
}

async function confirmDelete() {
  const a = state.selected;
  try {
    const r = await api(deletePath(a, false), { method: "DELETE" });
    say("Deleted " + r.data.length + " artifact(s).");
    $("delete-confirm").hidden = true;
    await search(false);
    await details(a.id);
  } catch (e) {
    failed(e);
  }
}

async function restore() {
  const a = state.selected;
  try {
    const r = await api("/api/v2/sourcemaps/restore?filter%5Bid%5D=" + encodeURIComponent(a.id), {
      method: "POST",
    });
    say("Restored " + r.data.length + " artifact(s).");
    await search(false);
    await details(a.id);
  } catch (e) {
    failed(e);
  }
}

// --- symbolicate -----------------------------------------------------------------------------

function context(f) {
  if (!f.context_line && !(f.pre_context || []).length) return null;
  const pre = el("pre", { class: "context" });
  let n = f.line - (f.pre_context || []).length;
  const add = (text, hl) => {
    const line = String(n++).padStart(5, " ") + "  " + text + "\n";
    pre.append(hl ? el("span", { class: "hl", text: line }) : document.createTextNode(line));
  };
  for (const l of f.pre_context || []) add(l, false);
  if (f.context_line !== null && f.context_line !== undefined) add(f.context_line, true);
  for (const l of f.post_context || []) add(l, false);
  return pre;
}

function frameLine(f) {
  const where = f.source + (f.line ? ":" + f.line : "") + (f.column ? ":" + f.column : "");
  const name = [f.class, f.function].filter(Boolean).join(".");
  const parts = [el("span", { class: "resolved" }, "at " + (name || "?") + " (" + where + ")")];
  if (f.inlined) parts.push(" (inlined)");
  if (f.managed_source) parts.push(" [C# " + f.managed_source + ":" + f.managed_line + "]");
  if (f.source_link) {
    parts.push(" ");
    parts.push(el("a", { href: f.source_link, rel: "noreferrer", target: "_blank", text: "source" }));
  }
  return el("div", { class: "frame" }, ...parts);
}

function explanation(r) {
  const box = el("div", { class: "why" });
  box.append(el("div", {}, el("strong", { class: "unresolved", text: r.status }),
    r.reason ? " (" + r.reason + ")" : "", r.message ? ": " + r.message : ""));
  if (r.explanation) {
    box.append(el("p", { class: "explanation", text: r.explanation.text }));
    if ((r.explanation.candidates || []).length) {
      box.append(el("div", {}, "Nearest: ", r.explanation.candidates.join(", ")));
    }
    if (r.explanation.fix) box.append(el("div", { class: "fix" }, "Fix: ", el("code", { text: r.explanation.fix })));
  }
  return box;
}

async function symbolicate(ev) {
  ev.preventDefault();
  const body = {
    text: $("s-text").value,
    service: $("s-service").value,
    version: $("s-version").value,
    variant: $("s-variant").value,
    build_id: $("s-build-id").value,
    explain: $("s-explain").checked,
    context_lines: 3,
  };
  say("Symbolicating…");
  try {
    const r = await api("/api/symx/v1/symbolicate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let resolved = 0;
    let frames = 0;
    const items = r.lines.map((line) => {
      const li = el("li");
      if (line.exception) {
        li.append(el("div", { class: "exception" }, line.exception.class +
          (line.exception.message ? ": " + line.exception.message : "")));
        return li;
      }
      if (!line.result) {
        li.append(el("div", { class: "raw mono", text: line.raw }));
        return li;
      }
      frames++;
      const res = line.result;
      li.append(el("div", { class: "raw mono", text: line.raw.trim() }));
      if (res.status === "resolved" && res.frames.length) {
        resolved++;
        li.classList.add("is-resolved");
        for (const f of res.frames) {
          li.append(frameLine(f));
          const c = context(f);
          if (c) li.append(c);
        }
      } else if (res.status === "resolved" || res.status === "skipped") {
        li.append(el("div", { class: "why" }, el("em", { text: res.status }), res.message ? ": " + res.message : ""));
      } else {
        li.classList.add("is-unresolved");
        li.append(explanation(res));
      }
      return li;
    });
    $("s-result").replaceChildren(...items);
    say(resolved + " of " + frames + " frame(s) resolved.");
  } catch (e) {
    failed(e);
  }
}

// --- missing ---------------------------------------------------------------------------------

function lookupText(m) {
  if (m.kind === "js") {
    return [m.service && m.service + "@" + m.version, m.url, m.debug_id && "debug id " + m.debug_id]
      .filter(Boolean).join(" ");
  }
  if (m.kind === "jvm") {
    return [m.service && m.service + "@" + m.version, m.variant, m.build_id && "build id " + m.build_id]
      .filter(Boolean).join(" ");
  }
  return [m.module, m.code_id && "code id " + m.code_id, m.debug_id && "debug id " + m.debug_id]
    .filter(Boolean).join(" ");
}

async function missing(ev) {
  if (ev) ev.preventDefault();
  const params = new URLSearchParams({ limit: "500" });
  if ($("m-kind").value) params.set("kind", $("m-kind").value);
  if ($("m-service").value.trim()) params.set("service", $("m-service").value.trim());
  try {
    const r = await api("/api/symx/v1/missing?" + params);
    const entries = r.missing.slice();
    if ($("m-order").value === "count") entries.sort((a, b) => b.count - a.count);
    $("missing-table").querySelector("tbody").replaceChildren(
      ...entries.map((m) => el("tr", {},
        el("td", { text: m.kind }),
        el("td", { class: "mono", text: lookupText(m) }),
        el("td", { text: String(m.count) }),
        el("td", { text: m.last_seen }),
        el("td", {}, m.fix ? el("code", { text: m.fix }) : "–")))
    );
    $("missing-count").textContent = entries.length + " shown, " + r.total + " in the report";
  } catch (e) {
    failed(e);
  }
}

// --- health ----------------------------------------------------------------------------------

function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    const v = Number(m[3]);
    const labels = m[2] || "";
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, v });
  }
  return out;
}

function total(metrics, name, filter = () => true) {
  return (metrics.get(name) || []).filter((s) => filter(s.labels)).reduce((a, s) => a + s.v, 0);
}

async function health() {
  let text;
  try {
    const resp = await fetch("/metrics");
    if (!resp.ok) throw new ApiError(resp.status, "metrics: " + resp.statusText);
    text = await resp.text();
  } catch (e) {
    failed(e);
    return;
  }
  const now = Date.now();
  const m = parseMetrics(text);
  const prev = state.metrics;
  state.metrics = { at: now, m };
  const index = (l) => l.includes('cache="index"');
  const hits = total(m, "symx_cache_hits_total", index);
  const misses = total(m, "symx_cache_misses_total", index);
  const rate = (name, filter) => {
    if (!prev) return "measuring…";
    const dt = (now - prev.at) / 1000;
    const d = total(m, name, filter) - total(prev.m, name, filter);
    return (dt > 0 ? (d / dt).toFixed(1) : "0") + "/s";
  };
  const rejections = (m.get("symx_rejections_total") || [])
    .filter((s) => s.v > 0)
    .map((s) => s.labels.replace(/[{}"]/g, "") + ": " + s.v);
  const items = [
    ["Index cache", bytes(total(m, "symx_cache_bytes")) + " of " + bytes(total(m, "symx_cache_budget_bytes"))],
    ["Cached indexes", String(total(m, "symx_cache_entries"))],
    ["Cache hit rate", hits + misses > 0 ? ((100 * hits) / (hits + misses)).toFixed(1) + " %" : "–"],
    ["Uploads", rate("symx_uploads_total") + " (" + total(m, "symx_uploads_total") + " in all)"],
    ["Frames symbolicated", rate("symx_frames_total") + " (" + total(m, "symx_frames_total") + " in all)"],
    ["Rejections", rejections.length ? rejections.join(", ") : "none"],
    ["Storage on disk", bytes(total(m, "symx_storage_bytes"))],
    ["Missing lookups in the report", String(total(m, "symx_missing_entries"))],
  ];
  $("health-list").replaceChildren(
    ...items.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { "data-metric": k, text: v })])
  );
}

// --- wiring ----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("api-key").value.trim());
    $("api-key").value = "";
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("f-kind").addEventListener("change", fillFields);
  $("artifacts-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("details").hidden = true;
    search(true);
  });
  $("next-page").addEventListener("click", () => {
    state.page++;
    search(false);
  });
  $("prev-page").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    search(false);
  });
  $("delete-preview").addEventListener("click", previewDelete);
  $("delete-confirm-button").addEventListener("click", confirmDelete);
  $("delete-cancel").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
  });
  $("restore").addEventListener("click", restore);
  $("symbolicate-form").addEventListener("submit", symbolicate);
  $("missing-form").addEventListener("submit", missing);
  window.addEventListener("hashchange", route);
  if (state.key !== null) signIn(state.key);
  else show("signin");
});
