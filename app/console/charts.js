// The funnel chart (SVG) and the breakdown bar lists. DOM is built node by node: values
// coming from the API are only ever set as text, never parsed as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";
const intFmt = new Intl.NumberFormat("en-US");
const pctFmt = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });

export const formatInt = (n) => intFmt.format(n);
export const formatRate = (rate) => (rate == null ? "—" : pctFmt.format(rate));

export function stageLabel(name) {
  if (name === "clicks") return "Clicks";
  const words = name.replace(/[-_]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = text;
  return node;
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = text;
  return node;
}

/**
 * Horizontal bars, one per stage, scaled to the first stage. Each bar sits on a faint
 * "ghost" of the previous stage so the drop-off is visible; between two stages a line
 * gives the rate carried over and the drop-off count.
 */
export function renderFunnel(container, stages) {
  const width = 760;
  const labelW = 150;
  const valueW = 96;
  const barH = 34;
  const gap = 30;
  const top = 8;
  const barMax = width - labelW - valueW - 16;
  const height = top * 2 + stages.length * barH + Math.max(0, stages.length - 1) * gap;
  const max = Math.max(1, ...stages.map((s) => s.count));
  const scale = (count) => (count <= 0 ? 0 : Math.max(3, (count / max) * barMax));

  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    "aria-label": "Funnel: " + stages.map((s) => `${stageLabel(s.name)} ${s.count}`).join(", "),
    "data-testid": "funnel-svg",
    class: "funnel-svg",
  });

  stages.forEach((stage, i) => {
    const y = top + i * (barH + gap);
    const group = svg("g", { "data-testid": "funnel-stage", "data-stage": stage.name });
    group.append(
      svg("text", { x: labelW - 12, y: y + barH / 2, class: "stage-label", "text-anchor": "end",
        "dominant-baseline": "central" }, stageLabel(stage.name)),
    );
    if (i > 0) {
      const prevW = scale(stages[i - 1].count);
      group.append(svg("rect", { x: labelW, y, width: prevW, height: barH, rx: 4,
        class: "stage-ghost" }));
    }
    group.append(svg("rect", { x: labelW, y, width: scale(stage.count), height: barH, rx: 4,
      class: `stage-bar stage-bar-${Math.min(i, 5)}` }));
    const valueX = labelW + Math.max(scale(stage.count), i > 0 ? scale(stages[i - 1].count) : 0) + 10;
    group.append(
      svg("text", { x: valueX, y: y + barH / 2, class: "stage-count", "dominant-baseline": "central",
        "data-testid": `stage-count-${stage.name}` }, formatInt(stage.count)),
    );
    if (i > 0) {
      const midY = y - gap / 2;
      const note = svg("text", { x: labelW + 6, y: midY, class: "stage-flow",
        "dominant-baseline": "central" });
      note.append(svg("tspan", { class: "stage-arrow" }, "↓ "));
      note.append(svg("tspan", { "data-testid": `stage-rate-${stage.name}`, class: "stage-rate" },
        formatRate(stage.rate)));
      note.append(svg("tspan", {}, stage.rate == null ? " (previous stage is 0) · " : " continue · "));
      note.append(svg("tspan", { "data-testid": `stage-dropoff-${stage.name}`,
        class: stage.dropOff > 0 ? "stage-drop" : "" }, formatInt(stage.dropOff)));
      note.append(svg("tspan", {}, " drop off"));
      group.append(note);
    }
    root.append(group);
  });

  container.replaceChildren(root);
}

/** One breakdown: value, a share bar and the count; rows sorted by count. */
export function renderBreakdown(container, rows, total) {
  const list = container.querySelector("ul");
  const sorted = [...rows].sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
  if (!sorted.length) {
    list.replaceChildren(el("li", { class: "muted small", "data-testid": "breakdown-empty" },
      "No qualified clicks yet."));
    return;
  }
  const sum = total || sorted.reduce((acc, r) => acc + r.count, 0) || 1;
  list.replaceChildren(
    ...sorted.map((row) => {
      const li = el("li", { "data-testid": "breakdown-row", "data-value": row.value });
      li.append(el("span", { class: "bar-label", title: row.value }, row.value));
      const track = el("span", { class: "bar-track" });
      const fill = el("span", { class: "bar-fill" });
      fill.style.width = `${Math.max(2, (row.count / sum) * 100).toFixed(1)}%`;
      track.append(fill);
      li.append(track);
      li.append(el("span", { class: "bar-count", "data-testid": "breakdown-count" },
        formatInt(row.count)));
      return li;
    }),
  );
}
