"""Writes the bundled tasks' data files (tasks/*.jsonl) from the phrase banks below.

Every sentence here was written for lbtui; no text comes from a third-party data set.
Examples are composed from hand-written parts with a fixed seed, so running this again
gives byte-identical files:  python tools/make_tasks.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tasks"


def write(name: str, rows: list[dict]) -> None:
    path = OUT / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            f.write(json.dumps({"id": f"{name}-{i:04d}", **row}, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows")


def unique(gen, n: int, rng: random.Random) -> list:
    seen, out = set(), []
    for _ in range(n * 200):
        item = gen(rng)
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
        if len(out) == n:
            return out
    raise RuntimeError(f"only {len(out)} distinct examples")


# --- reviews: product review sentiment --------------------------------------------------

PRODUCTS = [
    "blender",
    "pair of headphones",
    "desk lamp",
    "backpack",
    "coffee grinder",
    "phone case",
    "rain jacket",
    "kettle",
    "office chair",
    "keyboard",
    "water bottle",
    "air fryer",
    "tent",
    "vacuum cleaner",
    "toaster",
    "set of knives",
    "yoga mat",
    "smartwatch",
    "printer",
    "frying pan",
]
GOOD = [
    "works exactly as described",
    "feels sturdy and well made",
    "was easy to set up",
    "has lasted through months of daily use",
    "is quieter than I expected",
    "arrived quickly and well packed",
    "looks even better in person",
    "is worth every penny",
    "does its job without any fuss",
    "has a battery that lasts for days",
    "cleans up in seconds",
    "is comfortable for hours",
    "came with clear instructions",
    "outperforms the one I had before",
    "is light but solid",
    "heats up fast",
    "keeps everything organized",
    "has buttons that feel great",
]
BAD = [
    "stopped working after a week",
    "feels cheap and flimsy",
    "was a nightmare to assemble",
    "broke the second time I used it",
    "is much louder than advertised",
    "arrived scratched and dented",
    "looks nothing like the photos",
    "is a waste of money",
    "needs constant fiddling to work",
    "has a battery that dies within an hour",
    "is impossible to clean",
    "hurts after ten minutes",
    "came with no instructions at all",
    "is worse than the cheap one I replaced",
    "is heavy and awkward",
    "takes forever to heat up",
    "leaks every single time",
    "has buttons that stick",
]
GOOD_END = [
    "I would buy it again.",
    "Highly recommended.",
    "My whole family loves it.",
    "Five stars from me.",
    "Great value.",
    "I already ordered a second one.",
    "No complaints at all.",
    "",
]
BAD_END = [
    "I am returning it.",
    "Avoid this one.",
    "Customer service never replied.",
    "One star is generous.",
    "Save your money.",
    "I regret this purchase.",
    "Very disappointed.",
    "",
]
OPEN = ["This {p}", "The {p} I got", "My new {p}", "Honestly, this {p}", "The {p} we ordered", "This little {p}"]


def review(rng: random.Random) -> dict:
    pos = rng.random() < 0.5
    a, b = rng.sample(GOOD if pos else BAD, 2)
    text = f"{rng.choice(OPEN).format(p=rng.choice(PRODUCTS))} {a} and {b}. {rng.choice(GOOD_END if pos else BAD_END)}"
    return {"text": text.strip(), "label": "positive" if pos else "negative"}


# --- headlines: news topic ----------------------------------------------------------------

HEAD = {
    "business": [
        "{co} shares {move} after quarterly {metric} {beat}",
        "{co} to cut {n} jobs as demand for {good} slows",
        "Central bank {rate} interest rates by {pct} points",
        "{co} agrees to buy rival {co2} in {money} deal",
        "Retail sales {move} in {month} as shoppers {shop}",
        "Oil prices {move} on fears of weaker {good} demand",
        "{co} opens new factory, creating {n} jobs in {city}",
        "Start-up {co} raises {money} to expand {good} business",
    ],
    "politics": [
        "Parliament {vote} new {policy} bill after long debate",
        "Prime minister calls early election for {month}",
        "Opposition leader attacks government over {policy} plans",
        "Senate committee opens inquiry into {policy} spending",
        "Voters in {city} elect first new mayor in {n} years",
        "Ministers clash over {policy} reform ahead of vote",
        "President signs {policy} law amid protests in {city}",
        "Coalition talks collapse as parties split over {policy}",
    ],
    "science": [
        "Astronomers spot {thing} orbiting a distant star",
        "New study links {habit} to better {organ} health",
        "Researchers grow {organ} tissue in the lab for the first time",
        "Fossil of {creature} found in {city} quarry",
        "Telescope captures clearest image yet of {thing}",
        "Scientists map the genome of the {creature}",
        "Physicists measure {thing} with record precision",
        "Ocean survey finds {n} new species of {creature}",
    ],
    "sports": [
        "{team} beat {team2} {win} to reach the cup final",
        "Star striker signs {n}-year deal with {team}",
        "{team} coach sacked after {n} straight defeats",
        "Injury rules captain out of {team} match against {team2}",
        "Record crowd watches {team} clinch the league title",
        "Sprinter breaks national record at {city} meeting",
        "{team} and {team2} draw {draw} in tense derby",
        "Tennis champion wins fifth title in {city}",
    ],
}
FILL = {
    "co": ["Northwind", "Acme Foods", "Bluewave Energy", "Helix Motors", "Orchard Bank", "Pinecrest Retail", "Solara"],
    "co2": ["Greenfield", "Lumen Tech", "Harbor Freight Lines", "Redstone Mining", "Vista Air"],
    "move": ["rise", "fall", "jump", "slide", "surge", "tumble"],
    "metric": ["profits", "revenue", "earnings", "sales"],
    "beat": ["beat forecasts", "miss expectations", "disappoint investors", "top estimates"],
    "n": ["2", "3", "5", "12", "40", "300", "1,200"],
    "good": ["smartphone", "steel", "electric car", "coffee", "housing", "travel"],
    "rate": ["raises", "cuts", "holds"],
    "pct": ["0.25", "0.5", "0.75"],
    "money": ["$2 billion", "$450 million", "$80 million", "$12 billion"],
    "month": ["March", "June", "September", "November"],
    "shop": ["cut back", "return to stores", "spend on holidays", "buy online"],
    "city": ["Lisbon", "Osaka", "Denver", "Nairobi", "Glasgow", "Perth", "Toronto"],
    "vote": ["passes", "rejects", "delays", "approves"],
    "policy": ["housing", "climate", "tax", "immigration", "health care", "pension", "education"],
    "thing": ["a giant planet", "a black hole", "a comet", "the mass of the neutrino", "a young galaxy"],
    "habit": ["daily walking", "regular sleep", "eating fish", "learning music", "drinking tea"],
    "organ": ["heart", "brain", "liver", "lung", "kidney"],
    "creature": ["deep-sea squid", "giant tortoise", "ancient shark", "honeybee", "flying reptile", "coral"],
    "team": ["United", "Rovers", "City", "Athletic", "the Eagles", "the Hawks", "Wanderers"],
    "team2": ["Albion", "the Lions", "Rangers", "Town", "the Sharks", "Dynamo"],
    "win": ["2-1", "3-0", "4-2", "1-0"],
    "draw": ["1-1", "0-0", "2-2"],
}


def fill(template: str, rng: random.Random) -> str:
    out = template
    for key, values in FILL.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", rng.choice(values), 1)
    return out[0].upper() + out[1:]


def headline(rng: random.Random) -> dict:
    label = rng.choice(sorted(HEAD))
    return {"text": fill(rng.choice(HEAD[label]), rng), "label": label}


# --- intents: assistant requests, multi-token labels --------------------------------------

INTENT = {
    "play music": [
        "put on some {genre}",
        "play {artist} please",
        "can you play my {genre} playlist",
        "I want to hear something by {artist}",
        "start the {genre} station",
        "shuffle my {genre} songs",
        "play that new song by {artist}",
        "some {genre} would be nice right now",
    ],
    "set alarm": [
        "wake me up at {time}",
        "set an alarm for {time}",
        "I need to be up by {time} tomorrow",
        "alarm at {time} on {day}",
        "make sure I get up at {time}",
        "ring at {time} so I don't oversleep",
        "can you set a wake-up call for {time}",
        "get me up at {time} on {day}",
    ],
    "check weather": [
        "will it rain in {place} {when}",
        "how cold is it going to be {when}",
        "do I need an umbrella {when}",
        "what's the forecast for {place}",
        "is it sunny in {place} {when}",
        "how windy will it be {when}",
        "should I expect snow {when}",
        "what's the temperature in {place}",
    ],
    "order food": [
        "get me a {food} delivered",
        "order a large {food} for dinner",
        "I'm hungry, order some {food}",
        "can you get {food} from the usual place",
        "send a {food} to my address",
        "book a {food} delivery for {time}",
        "order {food} for two people",
        "I'd like {food} delivered {when}",
    ],
    "call contact": [
        "ring {person}",
        "call {person} on speaker",
        "phone {person} for me",
        "get {person} on the line",
        "dial {person}'s mobile",
        "I need to talk to {person} now",
        "call {person} back",
        "start a video call with {person}",
    ],
}
SLOTS = {
    "genre": ["jazz", "rock", "classical", "hip hop", "folk", "reggae", "techno"],
    "artist": ["the Beatles", "Nina Simone", "Miles Davis", "Adele", "Bob Marley", "Queen"],
    "time": ["6 am", "6:30", "seven", "7:15 am", "5:45", "eight o'clock", "noon"],
    "day": ["Monday", "Friday", "the weekend", "Tuesday"],
    "place": ["Berlin", "the city", "Chicago", "the mountains", "Madrid", "my area"],
    "when": ["tomorrow", "this afternoon", "tonight", "on Saturday", "this week", "later"],
    "food": ["pizza", "pad thai", "burrito", "sushi", "curry", "burger", "noodle soup"],
    "person": ["mom", "Dad", "my sister", "Alex", "the office", "Dr. Patel", "grandma", "Sam"],
}


def intent(rng: random.Random) -> dict:
    label = rng.choice(sorted(INTENT))
    text = rng.choice(INTENT[label])
    for key, values in SLOTS.items():
        text = text.replace("{" + key + "}", rng.choice(values))
    return {"text": text[0].upper() + text[1:], "label": label}


# --- entailment: does the premise imply the hypothesis? ------------------------------------

SCENES = [
    # (premise, hypotheses that follow, hypotheses that do not follow)
    (
        "A {who} is slicing tomatoes in a small kitchen",
        ["Someone is preparing food", "A person is using a knife", "There is a kitchen"],
        ["Nobody is cooking", "The {who} is asleep", "The {who} is swimming in a lake", "The kitchen is enormous"],
    ),
    (
        "Two {pl} are playing chess in a park",
        ["People are playing a board game", "Two people are outdoors", "A game is being played"],
        ["The {pl} are playing football", "Nobody is in the park", "They are indoors watching television"],
    ),
    (
        "A {who} rode a bicycle to work in the rain",
        ["It was raining", "The {who} went to work", "Someone rode a bicycle"],
        ["The {who} drove a car to work", "The weather was dry and sunny", "The {who} stayed home all day"],
    ),
    (
        "The {who} painted the fence blue on Saturday",
        ["The fence is blue", "Someone painted something", "Painting happened on a weekend"],
        ["The fence is red", "The {who} painted the house on Monday", "The fence was never painted"],
    ),
    (
        "A group of {pl} is singing on a crowded stage",
        ["People are performing", "There is an audience", "Several people are singing"],
        ["The stage is empty", "The {pl} are silent", "Only one person is singing"],
    ),
    (
        "The {who} bought three loaves of bread at the bakery",
        ["The {who} bought bread", "The {who} visited a bakery", "More than one loaf was bought"],
        ["The {who} bought only cake", "The bakery was closed", "The {who} bought one loaf"],
    ),
    (
        "A {who} is reading a book on a crowded train",
        ["Someone is reading", "The {who} is travelling", "There are other people nearby"],
        ["The {who} is driving the train", "The train is empty", "The {who} is writing a letter at home"],
    ),
    (
        "The {who} planted tulips in the garden last spring",
        ["Flowers were planted", "The {who} did some gardening", "The garden has tulips"],
        ["The {who} planted potatoes", "Nothing was planted in spring", "The {who} has never gardened"],
    ),
    (
        "A {who} is carrying a heavy box up the stairs",
        ["Someone is climbing stairs", "The {who} is holding a box", "The box is heavy"],
        ["The {who} is taking the elevator", "The box is empty and light", "The {who} is sitting down"],
    ),
    (
        "Several {pl} waited at the bus stop in the snow",
        ["It was snowing", "People were waiting", "There was a bus stop"],
        ["The {pl} were at the beach", "Nobody was waiting", "It was a hot day"],
    ),
    (
        "The {who} fixed the leaking tap in ten minutes",
        ["The tap was repaired", "The tap had been leaking", "The repair was quick"],
        ["The tap still leaks", "The repair took all day", "The {who} broke the tap"],
    ),
    (
        "A {who} is feeding ducks by the river",
        ["There are ducks", "Someone is near the river", "Animals are being fed"],
        ["The {who} is feeding cats", "There is no water nearby", "The ducks are being chased away"],
    ),
]
WHO = ["woman", "man", "teacher", "chef", "student", "nurse", "farmer", "boy", "girl", "grandfather"]
PL = ["friends", "children", "students", "musicians", "tourists", "neighbours", "workers"]


def entail(rng: random.Random) -> dict:
    premise, yes, no = rng.choice(SCENES)
    follows = rng.random() < 0.5
    hyp = rng.choice(yes if follows else no)
    who, pl = rng.choice(WHO), rng.choice(PL)
    fmt = lambda s: s.replace("{who}", who).replace("{pl}", pl)  # noqa: E731
    return {"premise": fmt(premise) + ".", "hypothesis": fmt(hyp) + ".", "label": "yes" if follows else "no"}


# --- tickets: support ticket urgency, imbalanced ------------------------------------------

TICKET = {
    "low": [
        "How do I change the colour theme of my {app} dashboard",
        "Is there a way to export my {app} settings",
        "Small typo on the {app} pricing page",
        "Could you add a dark mode to the {app} mobile app",
        "Where can I find last year's invoices in {app}",
        "The {app} help article about {feature} is out of date",
        "Just wondering if {app} will support {feature} at some point",
        "Can I rename my {app} workspace",
        "The icon for {feature} looks blurry on my screen",
        "Feature idea: let us pin favourite {feature} reports",
        "Question about the difference between the two {app} plans",
        "How do I add a profile picture in {app}",
    ],
    "medium": [
        "{feature} has been slow for the past two days",
        "I was charged twice for this month's {app} plan",
        "Two of my colleagues cannot see the {feature} page",
        "The {app} export keeps timing out for large files",
        "Password reset emails from {app} arrive hours late",
        "Some {feature} numbers in {app} look wrong since the update",
        "The {app} mobile app crashes when I open {feature}",
        "Our {app} invoice shows the wrong company address",
    ],
    "high": [
        "{app} is completely down for our whole company",
        "We think someone broke into our {app} account",
        "All our {feature} data disappeared from {app} this morning",
        "{app} is charging every customer of ours twice",
        "Nobody in the team can log in to {app} and we have a deadline today",
        "Customer payment details are visible to other {app} users",
    ],
}
APPS = ["Ledgerly", "TaskTide", "ShopNest", "CloudCrate", "PayPilot", "Roster"]
FEATURES = ["reporting", "billing", "calendar sync", "inventory", "payroll", "analytics", "file sharing"]
T_END = ["", " Thanks!", " Please help.", " Any ideas?", " This is urgent.", " No rush."]


def ticket(rng: random.Random) -> dict:
    label = rng.choices(["low", "medium", "high"], weights=[60, 28, 12])[0]
    text = rng.choice(TICKET[label]).replace("{app}", rng.choice(APPS)).replace("{feature}", rng.choice(FEATURES))
    end = rng.choice(T_END)
    if label == "low" and end == " This is urgent.":
        end = " No rush."
    if label == "high" and end == " No rush.":
        end = " Please help."
    return {"text": (text[0].upper() + text[1:] + "." + end).strip(), "label": label}


# --- emotions: how the writer feels -------------------------------------------------------

EMO = {
    "joy": [
        "I finally got the job at {place} and I can't stop smiling",
        "We spent the whole day at {place} laughing together",
        "My {rel} surprised me with my favourite cake and I felt so happy",
        "Passed my exam, what a wonderful feeling",
        "Dancing in the kitchen with my {rel} made my week",
        "The sun came out at {place} and everything felt perfect",
    ],
    "sadness": [
        "I miss my {rel} so much since they moved away",
        "Nobody came to my party at {place} and I cried afterwards",
        "Our old dog died this morning and the house feels empty",
        "I walked past {place} and remembered better days",
        "My {rel} and I are not speaking anymore and it hurts",
        "Another rejection letter today, I feel so low",
    ],
    "anger": [
        "The landlord ignored my calls about {place} again and I am furious",
        "Someone keyed my car outside {place}, unbelievable",
        "My {rel} read my diary and I am livid",
        "They cancelled my flight without telling me, this is outrageous",
        "The shop at {place} refused my refund and I am fuming",
        "I'm so mad that my {rel} lied to me again",
    ],
    "fear": [
        "I heard footsteps behind me near {place} and started running",
        "The doctor wants to run more tests and I'm terrified",
        "Walking home past {place} at night makes me so nervous",
        "The plane shook so hard I thought we would crash",
        "My {rel} has not answered the phone all day and I'm scared",
        "There is a strange noise in the attic and I'm afraid to look",
    ],
    "surprise": [
        "I opened the door at {place} and all my friends jumped out",
        "I never expected my {rel} to show up today, wow",
        "Out of nowhere I won the raffle at {place}",
        "My quiet {rel} just announced they are moving to Peru",
        "I can't believe the old shop at {place} is a circus now",
        "Wait, the test was today? I had no idea",
    ],
}
PLACES = ["the office", "the beach", "the station", "the old school", "the market", "the park", "the library"]
RELS = ["sister", "brother", "best friend", "mother", "father", "cousin", "roommate"]
E_END = ["", "!", "...", ". Honestly.", ". Still thinking about it."]


def emotion(rng: random.Random) -> dict:
    label = rng.choice(sorted(EMO))
    text = rng.choice(EMO[label]).replace("{place}", rng.choice(PLACES)).replace("{rel}", rng.choice(RELS))
    return {"text": text + rng.choice(E_END), "label": label}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    write("reviews", unique(review, 260, random.Random(101)))
    write("headlines", unique(headline, 260, random.Random(102)))
    write("intents", unique(intent, 260, random.Random(103)))
    write("entailment", unique(entail, 240, random.Random(104)))
    write("tickets", unique(ticket, 300, random.Random(105)))
    write("emotions", unique(emotion, 260, random.Random(106)))


if __name__ == "__main__":
    main()
