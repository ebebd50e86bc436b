"""The paper's Table 4, asked of people: ``reports/rate.html`` and the ratings it saves.

The page (:func:`rating_page`, written by the report stage, no server) shows, for each transfer of
a personal video × reference, the variants' result videos side by side in an order shuffled afresh
for every visit, with the paper's five questions (:data:`QUESTIONS`). Each question is answered by
choosing one of the videos; *Save ratings* downloads ``ratings-<time>.json``:

    {"format": "dancegen-ratings/1", "rater": "...", "saved": "<ISO time>",
     "choices": [{"video": ..., "reference": ..., "question": "Q1", "variant": "ours",
                  "order": ["pix2pixhd", "ours", ...]}, ...]}

Put saved files in ``reports/ratings/``; the report stage reads every ``*.json`` there
(:func:`read_ratings`) and shows Table 4: per question, the share of choices each variant won.
"""

from __future__ import annotations

import json
from pathlib import Path

from dancegen.core.errors import DanceGenError

FORMAT = "dancegen-ratings/1"
# The paper's questions (Sec. 4.5, Table 4).
QUESTIONS = {
    "Q1": "Which video shows the most complete body of the person?",
    "Q2": "Which video shows the clearest face?",
    "Q3": "Which video separates the person from the background best?",
    "Q4": "Which video is the most stable over time?",
    "Q5": "Which video is the best overall?",
}
SHORT = {"Q1": "complete body", "Q2": "clearest face", "Q3": "separation", "Q4": "temporal stability",
         "Q5": "overall"}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dancegen: rate the transfers</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }}
.trial {{ border-top: 1px solid #ddd; padding: 0.5em 0 1em; }}
.videos {{ display: flex; flex-wrap: wrap; gap: 0.8em; }}
.videos figure {{ margin: 0; text-align: center; }}
.videos video {{ height: 256px; background: #000; }}
fieldset {{ border: none; padding: 0.2em 0; }}
legend {{ font-weight: 600; }}
#save {{ font-size: 1.1em; padding: 0.4em 1.2em; margin: 1em 0; }}
</style>
</head>
<body>
<h1>Which transfer looks best?</h1>
<p>For each reference below, the same person performs the same moves, made by different methods shown
in a random order. Play the videos, answer each question by choosing a video, then press
<b>Save ratings</b> and put the downloaded file in <code>reports/ratings/</code>; the next
<code>dvc repro</code> adds it to the report's Table 4.</p>
<p><label>Your name or initials (optional): <input id="rater" type="text"></label></p>
<div id="trials"></div>
<button id="save" type="button">Save ratings</button>
<p id="status" role="status"></p>
<script>
const TRIALS = {trials};
const QUESTIONS = {questions};
const LETTERS = "ABCDEFGH";
function shuffled(items) {{
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {{
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }}
  return out;
}}
const root = document.getElementById("trials");
TRIALS.forEach((trial, k) => {{
  trial.order = shuffled(Object.keys(trial.videos));
  const section = document.createElement("section");
  section.className = "trial";
  section.innerHTML = `<h2>${{trial.video}} driven by ${{trial.reference}}</h2>`;
  const row = document.createElement("div");
  row.className = "videos";
  trial.order.forEach((variant, i) => {{
    const fig = document.createElement("figure");
    fig.innerHTML = `<video controls loop muted playsinline preload="metadata"></video><figcaption>${{LETTERS[i]}}</figcaption>`;
    fig.querySelector("video").src = trial.videos[variant];
    row.append(fig);
  }});
  section.append(row);
  for (const [q, text] of Object.entries(QUESTIONS)) {{
    const set = document.createElement("fieldset");
    set.innerHTML = `<legend>${{q}}: ${{text}}</legend>`;
    trial.order.forEach((variant, i) => {{
      const label = document.createElement("label");
      label.innerHTML = `<input type="radio" name="t${{k}}-${{q}}" value="${{variant}}" data-trial="${{k}}" data-question="${{q}}"> ${{LETTERS[i]}} `;
      set.append(label);
    }});
    section.append(set);
  }}
  root.append(section);
}});
document.getElementById("save").addEventListener("click", () => {{
  const choices = [];
  for (const input of document.querySelectorAll("input[type=radio]:checked")) {{
    const trial = TRIALS[Number(input.dataset.trial)];
    choices.push({{video: trial.video, reference: trial.reference, question: input.dataset.question,
                   variant: input.value, order: trial.order}});
  }}
  const status = document.getElementById("status");
  if (!choices.length) {{ status.textContent = "Choose a video for at least one question first."; return; }}
  const saved = new Date().toISOString();
  const doc = {{format: "{format}", rater: document.getElementById("rater").value, saved, choices}};
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], {{type: "application/json"}}));
  link.download = "ratings-" + saved.replace(/[:.]/g, "-") + ".json";
  document.body.append(link);
  link.click();
  link.remove();
  status.textContent = `Saved ${{choices.length}} choices as ${{link.download}}.`;
}});
</script>
</body>
</html>
"""


def rating_page(trials: list[dict]) -> str:
    """``rate.html`` for ``trials``: ``[{video, reference, videos: {variant: path relative to reports/}}]``."""
    return _PAGE.format(trials=json.dumps(trials), questions=json.dumps(QUESTIONS), format=FORMAT)


def trials_of(transfers: list[dict]) -> list[dict]:
    """``[{video, reference, variant, path}]`` (one per transfer) → the page's trials, one per personal
    video × reference: ``[{video, reference, videos: {variant: path}}]``."""
    trials: dict[tuple[str, str], dict] = {}
    for t in transfers:
        trial = trials.setdefault((t["video"], t["reference"]), {"video": t["video"], "reference": t["reference"],
                                                                 "videos": {}})
        trial["videos"][t["variant"]] = t["path"]
    return list(trials.values())


def read_ratings(folder: Path) -> list[dict]:
    """Every choice in ``folder``'s ``*.json`` rating files (none when the folder is missing); a file
    that is not a rating file is a one-line error naming it."""
    choices = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DanceGenError(path, f"is not a ratings file saved by rate.html (not JSON: {err})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("choices"), list):
            raise DanceGenError(path, f"is not a ratings file saved by rate.html (format is not {FORMAT})")
        for choice in doc["choices"]:
            if not isinstance(choice, dict) or choice.get("question") not in QUESTIONS or "variant" not in choice:
                raise DanceGenError(path, f"has a choice that names no question or variant: {choice!r}")
            choices.append(choice)
    return choices


def table4(choices: list[dict], variants: list[str]) -> dict[str, dict[str, float]]:
    """Per question, the share (%) of its choices that each variant won, over every transfer and
    rater; questions nobody answered are left out."""
    out = {}
    for q in QUESTIONS:
        asked = [c["variant"] for c in choices if c["question"] == q]
        if asked:
            out[q] = {v: 100.0 * asked.count(v) / len(asked) for v in variants}
            out[q]["n"] = len(asked)
    return out


def table4_markdown(shares: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    """Table 4 in the paper's form: rows are the questions, columns the variants (``labels``)."""
    names = list(labels)
    lines = ["| question | " + " | ".join(labels[v] for v in names) + " | choices |",
             "|---|" + "---|" * (len(names) + 1)]
    for q, share in shares.items():
        lines.append(f"| {q} {SHORT[q]} | " + " | ".join(f"{share[v]:.1f} %" for v in names) + f" | {share['n']} |")
    return "\n".join(lines)
