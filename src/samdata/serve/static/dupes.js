// samdata dashboard: a near-duplicate cluster's "make this the keeper" buttons. Each click stores a
// review decision (queue "keepers", item = the cluster's anchor, decision = "keep:<example id>"),
// which the next curate run applies; "Undo" takes back the newest one. No inline script (the CSP
// forbids it); what the server answers reaches the page only as text.
"use strict";

(function () {
  const cluster = document.getElementById("cluster");
  if (!cluster) return;
  const status = document.getElementById("keeper-status");
  const undoButton = document.getElementById("keeper-undo");
  // Decisions taken on this page, newest last; one already in force when the page loaded comes first.
  const history = [];
  // (what was in force before that one is not known here: `previous` undefined)
  if (undoButton.dataset.decision) history.push({ id: Number(undoButton.dataset.decision), previous: undefined });

  const post = window.samdata.post;

  function mark(example) {
    cluster.querySelectorAll("article.member").forEach((m) => m.classList.toggle("chosen", m.dataset.example === example));
  }

  function chosenOf(decision) {
    return decision && decision.startsWith("keep:") ? decision.slice(5) : null;
  }

  cluster.addEventListener("click", async (event) => {
    const button = event.target.closest("button.make-keeper");
    if (!button) return;
    const example = button.dataset.example;
    try {
      const answer = await post("/review/keepers/decide", { item: cluster.dataset.anchor, decision: "keep:" + example });
      history.push({ id: answer.id, previous: answer.previous });
      mark(example);
      status.textContent = "Stored (decision #" + answer.id + "): " + example.slice(0, 12) +
        " becomes the keeper at the next curate run.";
      undoButton.hidden = false;
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  });

  undoButton.addEventListener("click", async () => {
    const last = history.pop();
    if (!last) return;
    try {
      await post("/review/undo", { id: last.id });
      const previous = chosenOf(last.previous);
      mark(previous);
      if (last.previous === undefined) {
        status.textContent = "Undone (decision #" + last.id + "): reload to see what is in force now.";
      } else if (previous) {
        status.textContent = "Undone (decision #" + last.id + "): " + previous.slice(0, 12) + " is the reviewed keeper again.";
      } else {
        status.textContent = "Undone (decision #" + last.id + "): the priority rule chooses the keeper at the next curate run.";
      }
      undoButton.hidden = history.length === 0;
    } catch (e) {
      history.push(last);
      status.textContent = "error: " + e.message;
    }
  });
})();
