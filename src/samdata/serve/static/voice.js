// samdata dashboard: the voice clip review queue (/review/voice) by keyboard. One clip has the focus;
// a/r/s store accept/reject/skip in the "voice" review queue and move to the next clip at once (the
// POST runs behind, in order); u undoes the newest decision; j/k or the arrows move; space plays or
// pauses. The focused clip's audio and the next one's are loaded ahead, so the next clip plays at
// once. No inline script (the CSP forbids it); what the server answers reaches the page as text.
"use strict";

(function () {
  const queue = document.getElementById("voice-queue");
  if (!queue) return;
  const post = window.samdata.post;
  const status = document.getElementById("review-status");
  const waitingCount = document.getElementById("voice-waiting");
  const autoplay = document.getElementById("voice-autoplay");
  const items = Array.from(queue.querySelectorAll("li[data-item]"));
  const [a, r, s] = queue.dataset.decisions.split(",");
  const keys = { a, r, s };
  const history = []; // decisions taken on this page, newest last: { li, decision, previous, done }
  let chain = Promise.resolve(); // POSTs go out one after another, in the order they were taken
  let current = -1;

  autoplay.checked = localStorage.getItem("samdata.voice.autoplay") === "1";
  autoplay.addEventListener("change", () => {
    localStorage.setItem("samdata.voice.autoplay", autoplay.checked ? "1" : "0");
    if (items[current]) items[current].focus({ preventScroll: true }); // the keys go on working
  });

  const audioOf = (li) => li.querySelector("audio");
  const waiting = (decision) => !decision || decision === "skip";

  function preload(li) {
    const audio = li && audioOf(li);
    if (!audio || audio.dataset.loading) return;
    audio.dataset.loading = "1";
    audio.preload = "auto";
    audio.load();
  }

  function select(i, play) {
    if (!items.length) return;
    const next = Math.max(0, Math.min(i, items.length - 1));
    if (next !== current && items[current]) audioOf(items[current]).pause();
    current = next;
    items.forEach((li, n) => li.classList.toggle("current", n === current));
    const li = items[current];
    li.focus({ preventScroll: true });
    li.scrollIntoView({ block: "nearest" });
    preload(li);
    preload(items[current + 1]);
    if (play && autoplay.checked) audioOf(li).play().catch(() => {});
  }

  function show(li, decision) {
    li.className = li.className.replace(/\bdecided-\S+/g, "").trim();
    if (decision) li.classList.add("decided-" + decision);
    li.dataset.decision = decision || "";
    li.querySelector(".decision").textContent = decision || "";
  }

  function count(before, after) {
    const n = Number(waitingCount.textContent.replace(/,/g, "")) + (waiting(after) ? 1 : 0) - (waiting(before) ? 1 : 0);
    waitingCount.textContent = n.toLocaleString("en");
  }

  function settled() {
    if (!queue.querySelector("li.pending")) status.textContent = status.textContent.replace(/ \(storing…\)$/, "");
  }

  function decide(decision) {
    const li = items[current];
    if (!li) return; // past the end: k goes back to the last clip
    const entry = { li, decision, previous: li.dataset.decision || null, id: null, failed: false };
    show(li, decision);
    count(entry.previous, decision);
    li.classList.add("pending");
    status.textContent = decision + ": " + li.querySelector(".recording").textContent + " (storing…)";
    entry.done = chain = chain.then(async () => {
      try {
        const answer = await post("/review/" + queue.dataset.queue + "/decide", { item: li.dataset.item, decision });
        entry.id = answer.id;
        entry.previous = answer.previous;
        li.classList.remove("pending");
        settled();
      } catch (e) {
        entry.failed = true;
        li.classList.remove("pending");
        li.classList.add("error");
        show(li, entry.previous);
        count(decision, entry.previous);
        status.textContent = "error: " + e.message + " (" + li.dataset.item + " not stored)";
      }
    });
    history.push(entry);
    if (current < items.length - 1) select(current + 1, true);
    else finish();
  }

  // Past the last clip nothing has the focus, so another key press cannot overwrite the last decision.
  function finish() {
    audioOf(items[current]).pause();
    items[current].classList.remove("current");
    current = items.length;
    status.textContent = "end of the list: reload the page for the clips still waiting";
  }

  async function undo() {
    const last = history.pop();
    if (!last) {
      status.textContent = "nothing to undo on this page";
      return;
    }
    await last.done;
    select(items.indexOf(last.li), false);
    if (last.failed) return;
    const run = chain.then(async () => {
      try {
        await post("/review/undo", { id: last.id });
        show(last.li, last.previous);
        count(last.decision, last.previous);
        status.textContent = "undone: " + last.li.dataset.item;
      } catch (e) {
        status.textContent = "error: " + e.message;
      }
    });
    chain = run;
    await run;
  }

  function toggle() {
    const li = items[current];
    if (!li) return;
    const audio = audioOf(li);
    if (audio.paused) audio.play().catch((e) => { status.textContent = "cannot play: " + e.message; });
    else audio.pause();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.matches("input, textarea, select, button")) return;
    const key = event.key;
    if (key === "j" || key === "ArrowDown" || key === "ArrowRight") select(current + 1, true);
    else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") select(current - 1, true);
    else if (key === " ") toggle();
    else if (key in keys) decide(keys[key]);
    else if (key === "u") undo();
    else return;
    event.preventDefault();
  });
  queue.addEventListener("click", (event) => {
    const li = event.target.closest("li[data-item]");
    if (li && items.indexOf(li) !== current) select(items.indexOf(li), false);
  });
  queue.addEventListener("play", (event) => {
    items.forEach((li) => { if (audioOf(li) !== event.target) audioOf(li).pause(); });
  }, true);
  const hash = decodeURIComponent(location.hash.slice(1)).replace(/^clip-/, "");
  const start = items.findIndex((li) => li.dataset.item === hash);
  select(start >= 0 ? start : 0, false);
})();
