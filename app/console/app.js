// funnelgate console: sign in, pick a handle, manage campaigns and watch their funnels.
// Plain ES modules, no framework; every call goes through GraphQL (api.js).

import {
  ApiError, decodeJwt, gql,
  M_CREATE, M_LINK, M_STATUS, M_TEST, Q_CAMPAIGNS, Q_FUNNEL, Q_HEALTH, Q_LINKS,
} from "./api.js";
import { formatInt, renderBreakdown, renderFunnel } from "./charts.js";

const POLL_MS = 2000;
const STORE = { token: "fg.console.token", handle: "fg.console.handle", campaign: "fg.console.campaign" };

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  claims: null,
  handle: null,
  selected: null, // campaignId
  campaign: null, // last campaign payload
  statusFilter: "",
  endCursor: null,
  pollTimer: null,
  pollGen: 0,
  liveOk: null,
  pages: 0, // campaign pages loaded (a quiet refresh only runs while there is one)
  ticks: 0,
  healthShown: false,
  quickStartFor: null,
  flashTimer: null,
};

// --- small helpers --------------------------------------------------------------------

function show(node, visible) {
  node.hidden = !visible;
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = text;
  return node;
}

function flash(message, { code = null, kind = "error" } = {}) {
  const box = $("flash");
  clearTimeout(state.flashTimer);
  if (kind === "ok") state.flashTimer = setTimeout(clearFlash, 4000);
  box.className = `flash flash-${kind}`;
  box.dataset.kind = kind;
  box.dataset.code = code || "";
  $("flash-text").textContent = message;
  $("flash-code").textContent = code || "";
  show($("flash-code"), Boolean(code));
  show(box, true);
}

function clearFlash() {
  show($("flash"), false);
}

function reportError(err) {
  if (err instanceof ApiError) {
    flash(err.message, { code: err.code });
    if (err.code === "unauthenticated") signOut("Your token was rejected or has expired. Sign in again.");
  } else {
    flash(String(err && err.message ? err.message : err), { code: "client_error" });
    console.error(err);
  }
}

/** Run an async action with its button disabled; errors go to the flash banner. */
async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    reportError(err);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

const call = (query, variables) => gql(state.token, query, variables);

function statusBadge(node, status) {
  node.textContent = status;
  node.className = `badge badge-${String(status).toLowerCase().replace(/_/g, "-")}`;
  node.dataset.status = status;
}

function money(amount, currency) {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(amount);
  } catch {
    return `${amount.toFixed(2)} ${currency}`;
  }
}

// --- session ---------------------------------------------------------------------------

function signIn(token, handle) {
  token = token.trim().replace(/^Bearer\s+/i, "");
  if (!token) throw new Error("Paste a token first.");
  const claims = decodeJwt(token);
  if (claims && typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    throw new Error("This JWT has expired.");
  }
  const handles = claims && claims.handles && typeof claims.handles === "object"
    ? Object.keys(claims.handles) : [];
  if (!handle && !handles.length) {
    throw new Error("This token names no handle: type the handle it is bound to.");
  }
  state.token = token;
  state.claims = claims;
  sessionStorage.setItem(STORE.token, token);
  enterConsole(handle || sessionStorage.getItem(STORE.handle) || handles[0]);
}

function signOut(message = null) {
  stopPolling();
  for (const key of Object.values(STORE)) sessionStorage.removeItem(key);
  Object.assign(state, {
    token: null, claims: null, handle: null, selected: null, campaign: null,
    pages: 0, healthShown: false, quickStartFor: null,
  });
  show($("quick-start-box"), false);
  show($("console-view"), false);
  show($("session-bar"), false);
  show($("signin-view"), true);
  $("token-input").value = "";
  const error = $("signin-error");
  error.textContent = message || "";
  show(error, Boolean(message));
  $("token-input").focus();
}

function enterConsole(handle) {
  const handles = state.claims && state.claims.handles ? state.claims.handles : {};
  const select = $("handle-select");
  select.replaceChildren(
    ...Object.entries(handles).map(([name, role]) => el("option", { value: name }, `${name} (${role})`)),
  );
  if (handle && !(handle in handles) && Object.keys(handles).length) {
    select.prepend(el("option", { value: handle }, handle));
  }
  show($("handle-select-label"), select.options.length > 0);
  const who = state.claims && state.claims.sub ? `signed in as ${state.claims.sub}` : "signed in with a PAT";
  $("principal").textContent = who;
  show($("signin-view"), false);
  show($("session-bar"), true);
  show($("console-view"), true);
  clearFlash();
  openHandle(handle);
}

function openHandle(handle) {
  handle = (handle || "").trim();
  if (!handle) return;
  if (state.handle && state.handle !== handle) {
    state.selected = null;
    sessionStorage.removeItem(STORE.campaign);
  }
  state.handle = handle;
  sessionStorage.setItem(STORE.handle, handle);
  const select = $("handle-select");
  if ([...select.options].some((o) => o.value === handle)) select.value = handle;
  $("handle-input").value = "";
  document.title = `${handle} · funnelgate console`;
  loadCampaigns();
  const remembered = sessionStorage.getItem(STORE.campaign);
  if (remembered) selectCampaign(remembered);
  else showDetail(false);
}

// --- campaigns list --------------------------------------------------------------------

async function loadCampaigns({ append = false, quiet = false } = {}) {
  const handle = state.handle;
  const status = state.statusFilter || null;
  const vars = { handle, status, after: append ? state.endCursor : null };
  let data;
  if (quiet) {
    data = await call(Q_CAMPAIGNS, vars).catch(() => null);
  } else {
    data = await busy($("refresh-campaigns"), () => call(Q_CAMPAIGNS, vars));
  }
  if (!data || handle !== state.handle || status !== (state.statusFilter || null)) return;
  state.pages = append ? state.pages + 1 : 1;
  const conn = data.campaigns;
  state.endCursor = conn.pageInfo.endCursor;
  const list = $("campaign-list");
  const items = conn.edges.map(({ node }) => campaignItem(node));
  if (append) list.append(...items);
  else list.replaceChildren(...items);
  $("campaign-count").textContent = formatInt(conn.totalCount);
  show($("campaigns-empty"), conn.totalCount === 0);
  show($("campaigns-more"), conn.pageInfo.hasNextPage);
  markSelected();
}

function campaignItem(c) {
  const li = el("li", { "data-testid": "campaign-item", "data-campaign-id": c.campaignId });
  const button = el("button", { type: "button", class: "campaign-button",
    "data-testid": `campaign-${c.campaignId}` });
  const title = el("span", { class: "campaign-name" }, c.name || c.campaignId);
  const badge = el("span");
  statusBadge(badge, c.status);
  const meta = el("span", { class: "campaign-meta" },
    `${c.campaignId} · ${formatInt(c.funnel.qualifiedClicks)} clicks · ` +
    `${formatInt(c.funnel.conversions)} conv.`);
  button.append(title, badge, meta);
  button.addEventListener("click", () => selectCampaign(c.campaignId));
  li.append(button);
  return li;
}

function markSelected() {
  for (const li of $("campaign-list").children) {
    li.classList.toggle("selected", li.dataset.campaignId === state.selected);
  }
}

function updateListItem(c) {
  const li = [...$("campaign-list").children].find((n) => n.dataset.campaignId === c.campaignId);
  if (!li) return;
  const badge = li.querySelector(".badge");
  if (badge && badge.dataset.status !== c.status) statusBadge(badge, c.status);
}

async function createCampaign(event) {
  event.preventDefault();
  const input = { goalType: $("new-goal-type").value };
  const name = $("new-campaign-name").value.trim();
  const id = $("new-campaign-id").value.trim();
  const slug = $("new-primary-slug").value.trim();
  if (name) input.name = name;
  if (id) input.campaignId = id;
  if (slug) input.primarySlug = slug;
  if ($("new-start-active").checked) input.status = "ACTIVE";
  const data = await busy($("create-campaign"), () => call(M_CREATE, { handle: state.handle, input }));
  if (!data) return;
  const { campaign, quickStart } = data.createCampaign;
  $("quick-start").replaceChildren(...quickStart.map((step) => el("li", {}, step)));
  state.quickStartFor = campaign.campaignId;
  show($("quick-start-box"), true);
  $("create-form").reset();
  flash(`Campaign ${campaign.campaignId} created.`, { kind: "ok" });
  await loadCampaigns();
  selectCampaign(campaign.campaignId);
}

// --- campaign detail -------------------------------------------------------------------

function showDetail(visible) {
  show($("detail-body"), visible);
  show($("detail-empty"), !visible);
}

function selectCampaign(campaignId) {
  const changed = state.selected !== campaignId;
  state.selected = campaignId;
  sessionStorage.setItem(STORE.campaign, campaignId);
  markSelected();
  if (changed) {
    state.campaign = null;
    $("funnel-chart").replaceChildren();
    for (const dim of ["source", "country", "device"]) {
      $(`breakdown-${dim}`).querySelector("ul").replaceChildren();
    }
    for (const id of ["kpi-clicks", "kpi-qualified", "kpi-conversions", "kpi-revenue",
      "kpi-confidence", "kpi-last-seen"]) $(id).textContent = "–";
    $("health-checks").replaceChildren();
    statusBadge($("health-readiness"), "not run");
    $("health-readiness").className = "badge";
    show($("test-conversion-result"), false);
    show($("quick-start-box"), state.quickStartFor === campaignId);
    state.healthShown = false;
    $("link-form").reset();
    $("test-form").reset();
  }
  showDetail(true);
  startPolling();
  loadLinks();
}

function renderCampaign(c) {
  state.campaign = c;
  $("detail-title").textContent = c.name || c.campaignId;
  $("detail-id").textContent = c.campaignId;
  $("detail-goal").textContent = c.goalType.replace(/_/g, " ").toLowerCase();
  $("detail-preset").textContent = c.trackingPreset;
  $("detail-event").textContent = c.conversionEventType;
  $("detail-primary").textContent = c.primarySlug || "none";
  statusBadge($("campaign-status"), c.status);
  $("activate").disabled = c.status === "ACTIVE";
  $("pause").disabled = c.status !== "ACTIVE";
  $("activate").textContent = c.status === "PAUSED" ? "Resume" : "Activate";
  $("test-event-type").placeholder = c.conversionEventType;
  $("link-slug").placeholder = c.primarySlug || "spring";
  updateListItem(c);
}

function renderFunnelData(f) {
  $("kpi-clicks").textContent = formatInt(f.clicks);
  $("kpi-qualified").textContent = formatInt(f.qualifiedClicks);
  $("kpi-conversions").textContent = formatInt(f.conversions);
  $("kpi-revenue").textContent = money(f.revenue, f.currency);
  $("kpi-confidence").textContent = f.confidence == null ? "—" : `${f.confidence}%`;
  $("kpi-last-seen").textContent = f.lastSeenAt ? new Date(f.lastSeenAt).toLocaleString() : "never";
  renderFunnel($("funnel-chart"), f.stages);
  renderBreakdown($("breakdown-source"), f.source, f.qualifiedClicks);
  renderBreakdown($("breakdown-country"), f.country, f.qualifiedClicks);
  renderBreakdown($("breakdown-device"), f.device, f.qualifiedClicks);
}

function setLive(ok, text) {
  const live = $("live-status");
  live.textContent = text;
  live.className = `live ${ok ? "live-ok" : "live-error"}`;
  live.dataset.state = ok ? "ok" : "error";
}

// --- polling -----------------------------------------------------------------------------

function stopPolling() {
  state.pollGen += 1;
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function startPolling() {
  stopPolling();
  state.liveOk = null;
  setLive(true, "Loading…");
  poll(state.pollGen);
}

async function poll(gen) {
  if (gen !== state.pollGen || !state.selected) return;
  if (!document.hidden) {
    await refreshFunnel(gen);
    // The list's click and conversion counts follow every 10 s (first page only).
    state.ticks += 1;
    if (gen === state.pollGen && state.ticks % 5 === 0 && state.pages === 1) {
      loadCampaigns({ quiet: true });
    }
  }
  if (gen === state.pollGen && state.selected) {
    state.pollTimer = setTimeout(() => poll(gen), POLL_MS);
  }
}

async function refreshFunnel(gen) {
  const vars = {
    handle: state.handle,
    campaignId: state.selected,
    dateRange: $("date-range").value || null,
    includeTest: $("include-test").checked,
  };
  try {
    const data = await call(Q_FUNNEL, vars);
    if (gen !== state.pollGen) return;
    renderCampaign(data.campaign);
    renderFunnelData(data.campaign.funnel);
    setLive(true, `Live · updated ${new Date().toLocaleTimeString()}`);
    state.liveOk = true;
  } catch (err) {
    if (gen !== state.pollGen) return;
    setLive(false, err.code ? `Not updating: ${err.code}` : "Not updating");
    // Report the first failure of a streak, not one banner every two seconds.
    if (state.liveOk !== false) reportError(err);
    state.liveOk = false;
    if (err.code === "campaign_not_found") {
      stopPolling();
      sessionStorage.removeItem(STORE.campaign);
      state.selected = null;
      markSelected();
      showDetail(false);
    }
  }
}

// --- actions -----------------------------------------------------------------------------

async function setStatus(button, status) {
  const campaignId = state.selected;
  const data = await busy(button, () =>
    call(M_STATUS, { handle: state.handle, campaignId, status }),
  );
  if (!data) return;
  renderCampaign(data.setCampaignStatus);
  flash(`Campaign ${campaignId} is now ${status}.`, { kind: "ok" });
  if (state.statusFilter) loadCampaigns();
  refreshHealthIfShown();
}

async function loadLinks() {
  const campaignId = state.selected;
  const data = await busy(null, () => call(Q_LINKS, { handle: state.handle, campaignId }));
  if (!data || campaignId !== state.selected) return;
  const links = data.links.edges.map((e) => e.node);
  $("link-count").textContent = formatInt(data.links.totalCount);
  show($("links-empty"), links.length === 0);
  $("links-body").replaceChildren(...links.map(linkRow));
}

function linkRow(link) {
  const tr = el("tr", { "data-testid": "link-row", "data-slug": link.slug });
  const shortUrl = new URL(link.shortPath, window.location.origin).href;
  const cell = el("td");
  const anchor = el("a", { href: shortUrl, target: "_blank", rel: "noopener noreferrer",
    "data-testid": "link-short-url" }, link.shortPath);
  const copy = el("button", { type: "button", class: "ghost tiny", title: "Copy short URL",
    "data-testid": `copy-${link.slug}` }, "copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(shortUrl);
      flash(`Copied ${shortUrl}`, { kind: "ok" });
    } catch {
      flash(shortUrl, { kind: "ok" });
    }
  });
  cell.append(anchor, " ", copy);
  const dest = el("td", { class: "dest", title: link.destinationUrl }, link.destinationUrl);
  const ctx = el("td", { "data-testid": "link-append-context-value" },
    link.trackingPolicy.appendContextParam ? "on" : "off");
  tr.append(cell, dest, ctx);
  return tr;
}

async function saveLink(event) {
  event.preventDefault();
  const primary = state.campaign && state.campaign.primarySlug;
  const slug = $("link-slug").value.trim() || primary;
  if (!slug) {
    flash("Enter a slug for the link.", { code: "invalid_request" });
    return;
  }
  const input = {
    destinationUrl: $("link-destination").value.trim(),
    campaignId: state.selected,
    trackingPolicy: { appendContextParam: $("link-append-context").checked },
  };
  const data = await busy($("link-save"), () =>
    call(M_LINK, { handle: state.handle, slug, input }),
  );
  if (!data) return;
  flash(`Link ${data.upsertLink.shortPath} saved.`, { kind: "ok" });
  $("link-form").reset();
  await loadLinks();
  refreshHealthIfShown();
}

function refreshHealthIfShown() {
  if (state.healthShown) runHealth();
}

async function runHealth() {
  const campaignId = state.selected;
  const data = await busy($("run-health"), () =>
    call(Q_HEALTH, { handle: state.handle, campaignId }),
  );
  if (!data || campaignId !== state.selected) return;
  const health = data.campaignHealth;
  state.healthShown = true;
  statusBadge($("health-readiness"), health.readiness);
  $("health-checks").replaceChildren(
    ...health.checks.map((check) => {
      const li = el("li", { "data-testid": "health-check", "data-name": check.name,
        "data-status": check.status });
      const badge = el("span", { "data-testid": "health-status" });
      statusBadge(badge, check.status);
      const body = el("div");
      body.append(el("strong", {}, check.name.replace(/_/g, " ")), el("p", {}, check.detail));
      li.append(badge, body);
      return li;
    }),
  );
}

async function sendTestConversion(event) {
  event.preventDefault();
  const input = {};
  const eventType = $("test-event-type").value.trim();
  const value = $("test-value").value.trim();
  const currency = $("test-currency").value.trim().toUpperCase();
  if (eventType) input.eventType = eventType;
  if (value) input.value = Number(value);
  if (currency) input.currency = currency;
  const campaignId = state.selected;
  const data = await busy($("send-test-conversion"), () =>
    call(M_TEST, { handle: state.handle, campaignId, input }),
  );
  if (!data) return;
  const { status, conversion } = data.testConversion;
  const result = $("test-conversion-result");
  const amount = conversion.value != null ? ` worth ${conversion.value} ${conversion.currency || ""}` : "";
  result.textContent = `${status}: ${conversion.eventType}${amount} (${conversion.eventId})`;
  result.dataset.status = status;
  show(result, true);
  refreshHealthIfShown();
}

// --- wiring ------------------------------------------------------------------------------

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      signIn($("token-input").value, $("signin-handle").value.trim());
    } catch (err) {
      $("signin-error").textContent = err.message;
      show($("signin-error"), true);
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("flash-dismiss").addEventListener("click", clearFlash);
  $("handle-select").addEventListener("change", (e) => openHandle(e.target.value));
  $("handle-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openHandle($("handle-input").value);
  });
  $("status-filter").addEventListener("change", (e) => {
    state.statusFilter = e.target.value;
    loadCampaigns();
  });
  $("refresh-campaigns").addEventListener("click", () => loadCampaigns());
  $("campaigns-more").addEventListener("click", () => loadCampaigns({ append: true }));
  $("create-form").addEventListener("submit", createCampaign);
  $("activate").addEventListener("click", (e) => setStatus(e.currentTarget, "ACTIVE"));
  $("pause").addEventListener("click", (e) => setStatus(e.currentTarget, "PAUSED"));
  $("link-form").addEventListener("submit", saveLink);
  $("run-health").addEventListener("click", runHealth);
  $("test-form").addEventListener("submit", sendTestConversion);
  $("date-range").addEventListener("change", startPolling);
  $("include-test").addEventListener("change", startPolling);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.selected) startPolling();
  });
}

function boot() {
  wire();
  const token = sessionStorage.getItem(STORE.token);
  if (token) {
    try {
      signIn(token, sessionStorage.getItem(STORE.handle));
    } catch (err) {
      signOut(err.message);
    }
  } else {
    signOut();
  }
  document.body.dataset.ready = "true";
}

boot();
