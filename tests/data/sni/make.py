"""Writes the small Super-NaturalInstructions-format folder the tests import (tasks/*.json).
The texts are made up here from word lists; run it again to regenerate the same files."""

import json
import random
from pathlib import Path

HERE = Path(__file__).parent / "tasks"
NOUNS = ["battery", "screen", "keyboard", "charger", "manual", "speaker", "camera", "case", "strap", "lid"]
GOOD = ["great", "reliable", "sturdy", "bright", "lovely", "quick"]
BAD = ["awful", "flimsy", "dim", "broken", "noisy", "slow"]
TOPICS = {
    "Sports": ["match", "goal", "coach", "league"],
    "Politics": ["vote", "senate", "minister", "law"],
    "Science": ["atom", "genome", "telescope", "enzyme"],
}


def task(definition, instances, *, lang="English", positives=(), categories=("Text Classification",), summary=None):
    doc = {
        "Contributors": ["lbtui tests"],
        "Source": ["lbtui"],
        "Categories": list(categories),
        "Definition": [definition],
        "Input_language": [lang],
        "Output_language": [lang],
        "Instruction_language": ["English"],
        "Domains": ["Reviews"],
        "Positive Examples": [{"input": i, "output": o, "explanation": "made up"} for i, o in positives],
        "Negative Examples": [],
        "Instances": instances,
    }
    if summary:  # SNI's one-line summaries live outside the task files; some copies add them
        doc["Summary"] = summary
    return doc


def sentiment(rng, n, name):
    """n reviews, no two alike (lbtui refuses a test input that repeats a demonstration)."""
    out, seen = [], set()
    while len(out) < n:
        good = rng.random() < 0.5
        words = GOOD if good else BAD
        text = f"The {rng.choice(NOUNS)} is {rng.choice(words)} and the {rng.choice(NOUNS)} is {rng.choice(words)}"
        if text not in seen:
            seen.add(text)
            out.append({"id": f"{name}-{len(out)}", "input": text, "output": ["Positive" if good else "Negative"]})
    return out


def main():
    rng = random.Random(0)
    HERE.mkdir(parents=True, exist_ok=True)
    files = {
        # a candidate by its summary only
        "task001_toy_sentiment": task(
            "Classify the review as Positive or Negative",
            sentiment(rng, 420, "task001"),
            positives=[("The lid is sturdy", "Positive")],
            categories=["Sentiment Analysis"],
            summary="Classify a product review as positive or negative",
        ),
        "task002_toy_topic": task(
            "Classify the headline by topic",
            [
                {
                    "id": f"task002-{i}",
                    "input": f"News {i}: the {rng.choice(w)} and the {rng.choice(w)} made headlines",
                    "output": [t],
                }
                for i, (t, w) in enumerate(rng.choice(list(TOPICS.items())) for _ in range(400))
            ],
            categories=["Topic Classification"],
        ),
        "task003_too_small": task("Classify the review", sentiment(rng, 120, "task003")),
        "task004_not_english": task("Classez l'avis", sentiment(rng, 400, "task004"), lang="French"),
        "task005_generation": task(
            "Repeat the number", [{"id": f"task005-{i}", "input": f"Say {i}", "output": [str(i)]} for i in range(400)]
        ),
        "task006_two_outputs": task(
            "Give two answers",
            [{"id": f"task006-{i}", "input": f"Item {i}", "output": ["Yes", "Y"]} for i in range(400)],
        ),
        # valid in every other way, but not a classification task by name, category or summary
        "task007_toy_question_answering": task(
            "Answer the question", sentiment(rng, 400, "task007"), categories=["Question Answering"]
        ),
        "task008_toy_incorrect_answer_classification": task("Pick a wrong answer", sentiment(rng, 400, "task008")),
        "task302_record_classification": task(
            "One of the nine tasks the paper leaves out", sentiment(rng, 400, "task302")
        ),
    }
    for name, doc in files.items():
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
