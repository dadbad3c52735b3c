// GenFarm dashboard: a read-only view of the scheduler's JSON API (/api/...).
// Routes: #/ (jobs), #/jobs/ID (one job), #/workers. Every page re-fetches its data
// every REFRESH_MS and re-renders (render() keeps what did not change); text always goes
// through textContent, never HTML.
"use strict";

const REFRESH_MS = 1500;
const TASK_PAGE_SIZE = 100;
const TASK_STATES = ["waiting", "blocked", "queued", "running", "succeeded", "failed", "canceled"];

// ---------- small helpers ----------

// h("td", {class: "num"}, "12", childNode, ...): builds an element.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// render(parent, ...nodes): makes parent's children the given nodes (or strings), keeping in
// place each child equal to its replacement. A page re-renders every REFRESH_MS; rebuilding
// unchanged rows would drop a reader's text selection in them every time.
function render(parent, ...nodes) {
  const next = nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)
    .map((n) => (n instanceof Node ? n : document.createTextNode(String(n))));
  next.forEach((node, i) => {
    const old = parent.childNodes[i];
    if (!old) parent.append(node);
    else if (!old.isEqualNode(node)) parent.replaceChild(node, old);
  });
  while (parent.childNodes.length > next.length) parent.lastChild.remove();
}

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

function stateBadge(state) {
  return h("span", { class: `state state-${state || "unknown"}` }, state || "unknown");
}

function pad2(n) { return String(n).padStart(2, "0"); }

function clockTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad2(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad2(Math.floor(s / 60) % 60)}m`;
}

// Run time of something that started at `start` and ended at `end` (0: still going).
function runTime(start, end, now) {
  if (!start) return "";
  return duration((end || now) - start);
}

function bytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

// A progress bar: finished frames in green, running and failed (estimated from task
// counts) in blue and red, "done/total" on top. Accessible as a progressbar.
function progressBar(stage, opts = {}) {
  const total = stage.frames_total || 0;
  const done = stage.frames_done || 0;
  const tasks = stage.tasks_by_state || {};
  const perTask = stage.tasks_total ? total / stage.tasks_total : 0;
  const pct = (n) => (total ? Math.min(100, (100 * n) / total) : 0);
  const running = Math.min(total - done, (tasks.running || 0) * perTask);
  const failed = Math.min(total - done - running, (tasks.failed || 0) * perTask);
  return h("div", {
      class: opts.big ? "progress big" : "progress",
      role: "progressbar",
      "aria-label": `${stage.name} progress`,
      "aria-valuemin": 0,
      "aria-valuemax": total,
      "aria-valuenow": done,
      "data-stage": stage.name,
      title: `${stage.name}: ${done} of ${total} frames`,
    },
    h("div", { class: "seg done", style: `width:${pct(done)}%` }),
    h("div", { class: "seg running", style: `width:${pct(running)}%` }),
    h("div", { class: "seg failed", style: `width:${pct(failed)}%` }),
    h("span", { class: "label" }, `${done}/${total}`));
}

function stageProgressGrid(stages) {
  return h("div", { class: "stage-progress" },
    stages.map((s) => [h("span", { class: "stage-name" }, s.name), progressBar(s)]));
}

function taskCounts(byState) {
  const order = ["running", "queued", "blocked", "waiting", "succeeded", "failed", "canceled"];
  return h("div", { class: "chips" },
    order.filter((s) => byState[s]).map((s) => h("span", { class: `state state-${s}` }, `${byState[s]} ${s}`)));
}

// ---------- page plumbing ----------

const app = document.getElementById("app");
const statusLine = document.getElementById("status");
let current = null;   // { key, refresh(), ... } of the page on screen
let timer = null;

function setStatus(error) {
  statusLine.textContent = error ? `scheduler unreachable: ${error.message}` : `updated ${clockTime(Date.now())}`;
  statusLine.style.color = error ? "var(--bad)" : "";
}

async function refreshFarm() {
  const farm = await getJson("/api/farm");
  const jobs = farm.jobs_by_state || {};
  const box = document.getElementById("farm");
  render(box,
    h("span", {}, "workers ", h("b", {}, farm.workers_online)),
    h("span", {}, "slots ", h("b", {}, `${farm.slots_busy}/${farm.slots_total}`)),
    h("span", {}, "active jobs ", h("b", {}, jobs.active || 0)),
    h("span", {}, "frames done ", h("b", {}, farm.frames_done_total)));
}

async function tick() {
  clearTimeout(timer);
  const page = current;
  try {
    await Promise.all([page.refresh(), refreshFarm()]);
    setStatus(null);
  } catch (e) {
    if (page === current && page.showError) page.showError(e);
    setStatus(e);
  }
  if (page === current) timer = setTimeout(tick, REFRESH_MS);
}

function route() {
  const hash = location.hash || "#/";
  let m;
  let page;
  if ((m = hash.match(/^#\/jobs\/(\d+)/))) page = jobPage(Number(m[1]));
  else if (hash.startsWith("#/workers")) page = workersPage();
  else page = jobsPage();
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.nav === page.nav);
  }
  current = page;
  app.replaceChildren(page.root);
  tick();
}

function errorBanner(e) {
  return h("div", { class: "error-banner", role: "alert" }, e.message);
}

// ---------- jobs ----------

function jobsPage() {
  const body = h("tbody", {});
  const error = h("div", {});
  const root = h("section", { id: "jobs-page" },
    h("h1", {}, "Jobs"),
    error,
    h("table", { id: "jobs" },
      h("thead", {}, h("tr", {},
        h("th", { class: "num" }, "ID"), h("th", {}, "Job"), h("th", {}, "Project / shot"),
        h("th", {}, "Tier"), h("th", { class: "num" }, "Prio"), h("th", {}, "State"),
        h("th", {}, "Progress (frames per stage)"), h("th", {}, "Submitted"), h("th", {}, "Run time"))),
      body));
  return {
    nav: "jobs",
    root,
    showError(e) { error.replaceChildren(errorBanner(e)); },
    async refresh() {
      const data = await getJson("/api/jobs?limit=200");
      error.replaceChildren();
      const now = data.server_time_ms;
      if (!data.jobs.length) {
        render(body, h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No jobs yet. Submit one with `genfarm submit job.yaml`.")));
        return;
      }
      render(body, ...data.jobs.map((job) => h("tr", { "data-job-id": job.id, class: job.state === "failed" ? "failed" : "" },
        h("td", { class: "num" }, job.id),
        h("td", {}, h("a", { class: "job-name", href: `#/jobs/${job.id}` }, job.name),
          job.message ? h("div", { class: "message info" }, job.message) : null),
        h("td", {}, job.project, job.shot ? h("span", { class: "muted" }, ` / ${job.shot}`) : null),
        h("td", {}, job.tier),
        h("td", { class: "num" }, job.priority),
        h("td", {}, stateBadge(job.state)),
        h("td", {}, stageProgressGrid(job.stages)),
        h("td", {}, clockTime(job.submit_time_ms)),
        h("td", {}, runTime(job.start_time_ms, job.end_time_ms, now)))));
    },
  };
}

// ---------- one job ----------

function jobPage(id) {
  const title = h("h1", {}, `Job ${id}`);
  const error = h("div", {});
  const meta = h("dl", { class: "kv" });
  const stagesBody = h("tbody", {});
  const thumbs = h("div", { id: "thumbnails" });
  const tasksBody = h("tbody", {});
  const tasksNote = h("p", { class: "muted", id: "tasks-note" });
  let thumbKey = "";
  // Tasks come a page at a time (a job may have 1,000,000): `tokens` holds the page token
  // of every page visited, the last one is on screen; `nextToken` is the page after it.
  let tokens = [""];
  let nextToken = "";
  let stateFilter = "";
  const stateSelect = h("select", { id: "task-state", "aria-label": "task state filter" },
    h("option", { value: "" }, "all states"),
    TASK_STATES.map((s) => h("option", { value: s }, s)));
  const firstButton = h("button", { id: "tasks-first", type: "button" }, "\u00ab first");
  const prevButton = h("button", { id: "tasks-prev", type: "button" }, "\u2039 previous");
  const nextButton = h("button", { id: "tasks-next", type: "button" }, "next \u203a");
  const pager = h("div", { class: "pager" }, stateSelect, firstButton, prevButton, nextButton);
  function goTo(newTokens) {
    tokens = newTokens;
    tick();
  }
  stateSelect.addEventListener("change", () => { stateFilter = stateSelect.value; goTo([""]); });
  firstButton.addEventListener("click", () => goTo([""]));
  prevButton.addEventListener("click", () => { if (tokens.length > 1) goTo(tokens.slice(0, -1)); });
  nextButton.addEventListener("click", () => { if (nextToken) goTo([...tokens, nextToken]); });

  const root = h("section", { id: "job-page", "data-job-id": id },
    h("p", {}, h("a", { href: "#/" }, "\u2190 all jobs")),
    title, error,
    h("div", { class: "card" }, meta),
    h("h2", {}, "Stages"),
    h("table", { id: "stages" },
      h("thead", {}, h("tr", {}, h("th", {}, "Stage"), h("th", {}, "Model"), h("th", {}, "Frames"),
        h("th", { class: "num" }, "Chunk"), h("th", { style: "width:35%" }, "Progress"), h("th", {}, "Tasks"))),
      stagesBody),
    h("h2", {}, "Latest frames"),
    thumbs,
    h("h2", {}, "Tasks"),
    pager,
    tasksNote,
    h("table", { id: "tasks" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Stage"), h("th", {}, "Frames"),
        h("th", {}, "State"), h("th", { class: "num" }, "Attempts"), h("th", {}, "Worker"),
        h("th", {}, "Started"), h("th", {}, "Run time"), h("th", {}, "Message"))),
      tasksBody));

  function renderMeta(job, now) {
    const rows = [
      ["State", stateBadge(job.state)],
      ["Project", job.project], ["Shot", job.shot || "\u2014"], ["Tier / priority", `${job.tier} / ${job.priority}`],
      ["Submitter", job.submitter || "\u2014"],
      ["Submitted", clockTime(job.submit_time_ms)],
      ["Started", clockTime(job.start_time_ms) || "\u2014"],
      ["Ended", clockTime(job.end_time_ms) || "\u2014"],
      ["Run time", runTime(job.start_time_ms, job.end_time_ms, now) || "\u2014"],
      ["Frames", `${job.frames_done}/${job.frames_total}`],
    ];
    const labels = Object.entries(job.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    if (labels) rows.push(["Labels", labels]);
    if (job.message) rows.push(["Message", h("span", { class: "message" }, job.message)]);
    render(meta, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  function renderThumbs(data) {
    const key = JSON.stringify(data.stages.map((s) => s.frames.map((f) => f.url)));
    if (key === thumbKey) return;  // unchanged: keep the loaded images
    thumbKey = key;
    const any = data.stages.some((s) => s.frames.length);
    if (!any) {
      render(thumbs, h("p", { class: "muted" }, "No finished frames yet."));
      return;
    }
    render(thumbs, ...data.stages.filter((s) => s.frames.length).map((s) => h("div", {},
      h("div", { class: "stage-name" }, s.name),
      h("div", { class: "thumbs" }, s.frames.map((f) => h("figure", { class: "thumb" },
        h("img", { src: f.url, alt: `${s.name} frame ${f.frame}`, "data-frame": f.frame, loading: "eager" }),
        h("figcaption", {}, `frame ${f.frame}`)))))));
  }

  return {
    nav: "jobs",
    root,
    showError(e) {
      error.replaceChildren(errorBanner(e.status === 404 ? new Error(`job ${id} does not exist`) : e));
    },
    async refresh() {
      const query = new URLSearchParams({ page_size: String(TASK_PAGE_SIZE), page_token: tokens[tokens.length - 1] });
      if (stateFilter) query.set("state", stateFilter);
      let data;
      let thumbData;
      try {
        [data, thumbData] = await Promise.all([
          getJson(`/api/jobs/${id}?${query}`), getJson(`/api/jobs/${id}/thumbnails`)]);
      } catch (e) {
        // A token the scheduler no longer takes (it restarted): back to the first page.
        if (e.status === 400 && tokens.length > 1) tokens = [""];
        throw e;
      }
      error.replaceChildren();
      const job = data.job;
      const now = data.server_time_ms;
      document.title = `${job.name} \u2014 GenFarm`;
      render(title, h("span", { class: "job-name" }, job.name), " ", h("span", { class: "muted" }, `#${job.id}`));
      renderMeta(job, now);
      render(stagesBody, ...job.stages.map((s) => h("tr", {},
        h("td", {}, s.name),
        h("td", {}, s.kind === "dailies" ? h("span", { class: "muted" }, "dailies") : s.model),
        h("td", { class: "mono" }, s.frames),
        h("td", { class: "num" }, s.chunk),
        h("td", {}, progressBar(s, { big: true })),
        h("td", {}, taskCounts(s.tasks_by_state || {})))));
      renderThumbs(thumbData);
      nextToken = data.next_page_token || "";
      const failed = job.stages.reduce((n, s) => n + ((s.tasks_by_state || {}).failed || 0), 0);
      const shown = data.tasks.length
        ? `showing tasks ${data.tasks[0].index}\u2013${data.tasks[data.tasks.length - 1].index}`
        : "no tasks on this page";
      tasksNote.textContent = `${data.tasks_total} tasks` + (failed ? `, ${failed} failed` : "") +
        (stateFilter ? `, ${data.tasks_matching} ${stateFilter}` : "") +
        ` \u2014 page ${tokens.length}, ${shown}` + (nextToken ? "" : " (last page)");
      firstButton.disabled = tokens.length <= 1;
      prevButton.disabled = tokens.length <= 1;
      nextButton.disabled = !nextToken;
      render(tasksBody, ...data.tasks.map((t) => h("tr", { class: t.state === "failed" ? "failed" : "" },
        h("td", { class: "num" }, t.index),
        h("td", {}, t.stage),
        h("td", { class: "mono" }, t.frames),
        h("td", {}, stateBadge(t.state),
          t.state === "running" && t.frame_count > 1 ? h("span", { class: "muted" }, ` ${t.frames_done}/${t.frame_count}`) : null),
        h("td", { class: "num" }, t.attempts),
        h("td", {}, t.worker),
        h("td", {}, clockTime(t.start_time_ms)),
        h("td", {}, runTime(t.start_time_ms, t.end_time_ms, now)),
        h("td", {}, t.failure_reason || t.message
          ? h("div", { class: t.state === "failed" || t.failure_reason ? "message" : "message info" },
              [t.failure_reason, t.message].filter(Boolean).join(": "))
          : null))));
    },
  };
}

// ---------- workers ----------

function workersPage() {
  const grid = h("div", { class: "cards", id: "workers" });
  const error = h("div", {});
  const root = h("section", { id: "workers-page" }, h("h1", {}, "Workers"), error, grid);

  function meter(used, total) {
    const pct = total ? Math.min(100, (100 * used) / total) : 0;
    return h("div", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": used },
      h("div", { style: `width:${pct}%` }));
  }

  function card(w, now) {
    const devices = w.devices.length ? w.devices.map((d) => h("div", {},
      h("span", {}, d.name), " ",
      h("span", { class: "muted" }, `${bytes(d.memory_used_bytes)} / ${bytes(d.memory_total_bytes)}`),
      meter(d.memory_used_bytes, d.memory_total_bytes))) : h("span", { class: "muted" }, "none reported");
    const running = w.running.length ? h("div", { class: "chips" }, w.running.map((r) => {
      const jobId = r.split("/")[0];
      return h("a", { class: "chip", href: `#/jobs/${jobId}` }, r);
    })) : h("span", { class: "muted" }, "idle");
    const models = w.models.length ? h("div", { class: "chips" }, w.models.map((m) =>
      h("span", { class: m.loaded ? "chip loaded" : "chip", title: `${m.kind} v${m.version}, ~${bytes(m.memory_bytes)}${m.loaded ? ", loaded" : ""}` },
        m.name))) : h("span", { class: "muted" }, "none");
    const seen = w.last_seen_ms ? `${duration(Math.max(0, now - w.last_seen_ms))} ago` : "never";
    return h("div", { class: "card worker", "data-worker-id": w.id },
      h("h3", {}, h("span", {}, w.id), stateBadge(w.state)),
      h("dl", { class: "kv" },
        h("dt", {}, "Host"), h("dd", {}, w.hostname || "\u2014"),
        h("dt", {}, "Slots"), h("dd", {}, `${w.busy_slots}/${w.slots} busy`, meter(w.busy_slots, w.slots)),
        h("dt", {}, "Devices"), h("dd", {}, devices),
        h("dt", {}, "Running"), h("dd", {}, running),
        h("dt", {}, "Models"), h("dd", {}, models),
        h("dt", {}, "Tags"), h("dd", {}, w.tags.length ? w.tags.join(", ") : "\u2014"),
        h("dt", {}, "Drain"), h("dd", {}, w.draining ? "draining: finishing current tasks, taking no new ones" : "no"),
        h("dt", {}, "Last seen"), h("dd", {}, seen)));
  }

  return {
    nav: "workers",
    root,
    showError(e) { error.replaceChildren(errorBanner(e)); },
    async refresh() {
      const data = await getJson("/api/workers");
      error.replaceChildren();
      render(grid, ...(data.workers.length
        ? data.workers.map((w) => card(w, data.server_time_ms))
        : [h("p", { class: "muted" }, "No workers have connected.")]));
    },
  };
}

window.addEventListener("hashchange", route);
route();
