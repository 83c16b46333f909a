// samdata dashboard: keyboard review queues. No inline script anywhere (the CSP forbids it); data
// reaches the page only as text, never as HTML.
"use strict";

// A JSON POST with the page's CSRF token; the answer, or an Error with the server's reason. Shared
// with the other pages' scripts (loaded after this one) as samdata.post.
window.samdata = {
  async post(url, body) {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  },
};
const post = window.samdata.post;

(function () {
  const queue = document.getElementById("queue");
  if (!queue) return;
  const status = document.getElementById("review-status");
  const items = () => Array.from(queue.querySelectorAll("li[data-item]"));
  // The decisions keys a/r/s take: the queue's own (data-decisions="dismiss,retry,skip"), else the secrets queue's.
  const [a, r, s] = (queue.dataset.decisions || "confirm,allow,skip").split(",");
  const keys = { a, r, s };
  const history = [];
  let current = 0;

  function select(i) {
    const all = items();
    if (!all.length) return;
    current = Math.max(0, Math.min(i, all.length - 1));
    all.forEach((li, n) => li.classList.toggle("current", n === current));
    all[current].focus({ preventScroll: false });
  }

  function show(li, decision) {
    li.className = li.className.replace(/\bdecided-\S+/g, "").trim();
    if (decision) li.classList.add("decided-" + decision);
    li.querySelector(".decision").textContent = decision || "";
  }

  async function decide(decision) {
    const li = items()[current];
    if (!li) return;
    try {
      const answer = await post("/review/" + queue.dataset.queue + "/decide", { item: li.dataset.item, decision });
      history.push({ id: answer.id, li, previous: answer.previous });
      show(li, decision);
      status.textContent = decision + ": " + li.dataset.item;
      select(current + 1);
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  }

  async function undo() {
    const last = history.pop();
    if (!last) return;
    try {
      await post("/review/undo", { id: last.id });
      show(last.li, last.previous);
      select(items().indexOf(last.li));
      status.textContent = "undone: " + last.li.dataset.item;
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches("input, textarea")) return;
    if (event.key === "j") select(current + 1);
    else if (event.key === "k") select(current - 1);
    else if (event.key in keys) decide(keys[event.key]);
    else if (event.key === "u") undo();
    else return;
    event.preventDefault();
  });
  const hash = decodeURIComponent(location.hash.slice(1));
  const start = items().findIndex((li) => li.dataset.item === hash);
  select(start >= 0 ? start : 0);
})();

// The secrets page's "allow a pattern" form and the undo buttons of allowed patterns.
(function () {
  const form = document.getElementById("allow-pattern");
  if (!form) return;
  const status = document.getElementById("review-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pattern = form.elements.pattern.value;
    const kind = form.elements.kind.value;
    try {
      const answer = await post("/review/secret_patterns/decide", { item: pattern, decision: "allow", note: kind || null });
      const li = document.createElement("li");
      li.dataset.decision = answer.id;
      const code = document.createElement("code");
      code.textContent = pattern;
      li.append(code, " " + (kind || "any kind") + " · allowed now");
      document.getElementById("patterns").append(li);
      status.textContent = "allowed pattern: " + pattern;
      form.reset();
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  });
  document.getElementById("patterns").addEventListener("click", async (event) => {
    if (!event.target.matches(".undo-pattern")) return;
    const li = event.target.closest("li");
    try {
      await post("/review/undo", { id: Number(li.dataset.decision) });
      status.textContent = "undone: " + li.querySelector("code").textContent;
      li.remove();
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  });
})();
