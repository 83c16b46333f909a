"""One category per SFT example from the owner's set, by transparent rules.

The rules look at the last user turn (the request) and the answer:
1. `personality`: the user asks about the assistant itself (who/what are you, your name, do you like…).
2. `roleplay`: "act as", "pretend", "role-play", "you are a <role>", "in character".
3. `debugging`: an error, traceback, exception, bug, "doesn't work", "fix" — with code or code words.
4. `code_explanation`: the prompt holds code and asks what it does / to explain it.
5. `code_generation`: the prompt asks to write/implement/create code, or the answer is mostly a code block.
6. `code_general`: other programming talk (languages, tools, APIs, git, SQL…).
7. `planning`: plans, schedules, itineraries, roadmaps, steps to reach a goal, agendas.
8. `reasoning`: arithmetic, logic, proofs, puzzles, probabilities, "how many".
9. `coaching`: advice for the user's own life or work ("should I", habits, motivation, career).
10. `explanation`: explain / what is / why / how does / describe / compare, or a factual
    question (when / who / which / where / what / how … ?).
11. `general`: everything else.
The first rule that fires wins; the confidence says how many independent cues supported it. A
source's configured default category, or a per-example override, wins over the rules.
"""

from __future__ import annotations

import re
from typing import Any

VERSION = 1

# A line that starts like code (matched per line: scanning every position of an answer for a
# line start cost more than all the other rules together).
_CODE_LINE = re.compile(
    r"\s*(def |class |import |from \w+ import|function\b|const |let |var |public |private |#include|"
    r"SELECT |INSERT |UPDATE |CREATE TABLE|for \(|if \(|while \(|return\b|print\(|console\.log|\$ |[}{]\s*$)"
)
_CODE_WORDS = re.compile(
    r"\b(python|javascript|typescript|java|c\+\+|c#|rust|golang|sql|html|css|regex|api|function|class|method|"
    r"variable|compile|compiler|git|docker|bash|shell|script|library|framework|array|string|json|query|"
    r"algorithm|recursion|database|endpoint|npm|pip)\b",
    re.I,
)
_WRITE = re.compile(r"\b(write|implement|create|generate|build|code|make|give me|show me)\b", re.I)
_CODE_NOUN = re.compile(
    r"\b(function|program|script|code|class|query|regex|snippet|algorithm|method|component|sql)\b", re.I
)
_EXPLAIN_CODE = re.compile(
    r"\b(what does (this|the following)|explain (this|the following|what)|how does (this|the following)|walk me through)\b",
    re.I,
)
_DEBUG = re.compile(
    r"\b(error|exception|traceback|stack trace|bug|crash(es|ed)?|segfault|doesn'?t work|not working|fails?|failing|fix)\b",
    re.I,
)
_PERSONALITY = re.compile(
    r"\b(who are you|what are you|your name|about yourself|introduce yourself|are you (a|an|human|real|conscious)|do you (like|feel|have)|your favou?rite|who (made|created|built|trained) you)\b",
    re.I,
)
_ROLEPLAY = re.compile(
    r"\b(act as|pretend (to be|you are)|role-?play|you are an? (?!ai\b|assistant\b)\w+|in character|imagine you are|stay in character)\b",
    re.I,
)
_PLANNING = re.compile(
    r"\b(plan|schedule|itinerary|roadmap|agenda|timeline|steps? to|organi[sz]e|prioriti[sz]e|checklist|outline|strategy)\b",
    re.I,
)
_REASONING = re.compile(
    r"(\b(calculate|solve|prove|how many|probability|riddle|puzzle|logic(al)?|deduce|if .+ then)\b|\d+\s*[-+*/×÷^]\s*\d+)",
    re.I,
)
_COACHING = re.compile(
    r"\b(should i|advice|how (can|do) i (improve|get better|stop|start|stay)|motivat\w*|habit|career|feel(ing)? (stuck|anxious|overwhelmed|sad)|confidence|productiv\w*|tips? for me|help me (decide|cope))\b",
    re.I,
)
_EXPLAIN = re.compile(
    r"\b(explain|what is|what are|why|how does|how do|describe|difference between|compare|meaning of|tell me about)\b"
    r"|^\s*(when|who|which|where|what|how)\b[^\n]*\?",
    re.I,
)


def _is_code(text: str) -> bool:
    if "```" in text:
        return True
    lines = 0
    for line in text.split("\n"):
        if _CODE_LINE.match(line):
            lines += 1
            if lines == 2:
                return True
    return False


def classify(body: dict[str, Any]) -> tuple[str, float, str]:
    """(category, confidence 0-1, the rule that fired) for an example body."""
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    prompt = users[-1] if users else ""
    answers = body.get("chosen") or [m for m in body["messages"] if m["role"] == "assistant"]
    answer = answers[-1]["content"] if answers else ""
    prompt_code, answer_code = _is_code(prompt), _is_code(answer)
    code_talk = bool(_CODE_WORDS.search(prompt)) or prompt_code

    def result(category: str, *cues: bool) -> tuple[str, float, str]:
        return category, round(min(1.0, 0.4 + 0.2 * sum(cues)), 2), category

    if _PERSONALITY.search(prompt):
        return result("personality", True)
    if _ROLEPLAY.search(prompt):
        return result("roleplay", True)
    if _DEBUG.search(prompt) and code_talk:
        return result("debugging", prompt_code, answer_code, bool(_CODE_WORDS.search(prompt)))
    if prompt_code and _EXPLAIN_CODE.search(prompt):
        return result("code_explanation", True, not answer_code)
    if (_WRITE.search(prompt) and _CODE_NOUN.search(prompt)) or (
        answer_code and not prompt_code and code_talk
    ):
        return result("code_generation", answer_code, bool(_WRITE.search(prompt)))
    if code_talk or answer_code:
        return result("code_general", code_talk, answer_code)
    if _PLANNING.search(prompt):
        return result("planning", True)
    if _REASONING.search(prompt):
        return result("reasoning", True)
    if _COACHING.search(prompt):
        return result("coaching", True)
    if _EXPLAIN.search(prompt):
        return result("explanation", True)
    return "general", 0.3, "general"


# Dolly's categories in the owner's set, for measuring agreement with a labelled public set.
DOLLY_TO_OURS = {
    "open_qa": "explanation",
    "general_qa": "explanation",
    "closed_qa": "explanation",
    "classification": "reasoning",
    "brainstorming": "planning",
    "information_extraction": "general",
    "summarization": "general",
    "creative_writing": "general",
}
