"""Write the e2e sample's train/validation/test JSONL: an E2E-style restaurant meaning representation -> one fluent
English sentence, e.g. `name[The Eagle], eatType[coffee shop], food[French], area[riverside]` ->
"The Eagle is a French coffee shop by the riverside."

Deterministic (seeded). The slots and values follow the E2E NLG challenge (plus a few more cuisines); the sentences
come from a small grammar with many wordings and clause orders. Restaurant and landmark names are composed from
word lists; a quarter of those words appear only in test names. Each test record carries three reference sentences
(`references`, for multi-reference BLEU); `output` is the first.

    python samples/e2e/make_data.py [--out samples/e2e/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from prefixdeploy.training.data import write_splits

SLOTS = ("name", "eatType", "food", "priceRange", "customer rating", "area", "familyFriendly", "near")
VALUES = {
    "eatType": ["coffee shop", "pub", "restaurant"],
    "food": ["French", "Italian", "Chinese", "Indian", "Japanese", "English", "Fast food", "Thai", "Mexican", "Greek"],
    "priceRange": ["cheap", "moderate", "high", "less than £20", "£20-25", "more than £30"],
    "customer rating": ["low", "average", "high", "1 out of 5", "3 out of 5", "5 out of 5"],
    "area": ["riverside", "city centre"],
    "familyFriendly": ["yes", "no"],
}
ADJECTIVES = """Golden, Blue, Red, Green, Silver, Old, Little, Royal, Black, Wild, Crooked, Happy, Olive, Rusty, Twin,
Velvet, Copper, Lucky, Hidden, Jolly, Brass, Amber, Scarlet, Ivory, Windy, Honest, Merry, Quiet, Flying,
Dancing""".split(",")
NOUNS = """Eagle, Mill, Plough, Phoenix, Spice, Curry, Rice Boat, Punter, Wrestlers, Cricketers, Vaults, Dumpling,
Lantern, Anchor, Fox, Oak, Harbour, Crown, Lion, Kettle, Swan, Bell, Garden, Bridge, Lotus, Pepper, Olive Tree, Fig,
Compass, Orchard""".split(",")
SINGLE = """Zizzi, Cotto, Aromi, Bibimbap House, Giraffe, Loch Fyne, Strada, Midsummer House, Browns Cambridge, Clowns,
Alimentum, Fitzbillies, Cocum, Taste of Cambridge, Wildwood, Travellers Rest Beefeater, Bakers, Sorrento, Nando's,
Yippee Noodle Bar, Kashmir, Rosalia, Montego, Saffron, Baraka, Tamarind, Pomodoro, Sakura, Marigold, Brisa""".split(",")

PRICE = {  # (adjective before the food or None, phrase after the noun); both contain the slot value
    "cheap": ("cheap", "with cheap prices"),
    "moderate": ("moderately priced", "with moderate prices"),
    "high": ("high-priced", "in the high price range"),
    "less than £20": (None, "with meals for less than £20"),
    "£20-25": (None, "with prices of £20-25"),
    "more than £30": (None, "where meals cost more than £30"),
}
RATING = {  # {r}: the rating, {a}: its article; word ratings read badly in some frames
    "word": ["with {a} {r} customer rating", "with {r} customer ratings", "rated {r} by customers"],
    "number": ["with a customer rating of {r}", "rated {r} by customers", "with {a} {r} customer rating"],
}
AREA = {
    "riverside": ["by the riverside", "in the riverside area", "on the riverside"],
    "city centre": ["in the city centre", "in the centre of the city"],
}
FAMILY = {  # (adjectives, phrases after the noun); each says "family", "child" or "kid"
    "yes": (["family-friendly", "kid-friendly"], ["that welcomes children", "where kids are welcome"]),
    "no": ([], ["that is not family friendly", "that is not suitable for children", "that is not kid friendly"]),
}


def place_names(rng: random.Random, adjectives, nouns, singles, n: int) -> list[str]:
    made = {f"The {rng.choice(adjectives)} {rng.choice(nouns)}" for _ in range(n)}
    made |= {f"The {noun}" for noun in nouns} | set(singles)
    return sorted(made)


def make_mr(rng: random.Random, restaurants: list[str], landmarks: list[str]) -> dict:
    mr = {"name": rng.choice(restaurants)}
    for slot in SLOTS[1:]:
        if rng.random() < 0.55:
            options = [n for n in landmarks if n != mr["name"]] if slot == "near" else VALUES[slot]
            mr[slot] = rng.choice(options)
    if len(mr) < 3:  # at least two attributes besides the name
        return make_mr(rng, restaurants, landmarks)
    return mr


def mr_text(mr: dict) -> str:
    return ", ".join(f"{slot}[{mr[slot]}]" for slot in SLOTS if slot in mr)


def realize(rng: random.Random, mr: dict) -> str:
    """One sentence saying every slot of `mr` (each slot's value, or for familyFriendly a word for it)."""
    name, kind = mr["name"], mr.get("eatType", rng.choice(["place", "venue", "spot"]))
    before, after = [], []  # adjectives before the noun; phrases after it
    if "familyFriendly" in mr:
        adjectives, phrases = FAMILY[mr["familyFriendly"]]
        (
            before.append(rng.choice(adjectives))
            if adjectives and rng.random() < 0.5
            else after.append(rng.choice(phrases))
        )
    price = PRICE.get(mr.get("priceRange"))
    if price:
        (before.append(price[0]) if price[0] and rng.random() < 0.6 else after.append(price[1]))
    if "food" in mr:
        before.append("fast food" if mr["food"] == "Fast food" else mr["food"])
    if "area" in mr:
        after.append(rng.choice(AREA[mr["area"]]))
    if "near" in mr:
        after.append(f"near {mr['near']}")
    if "customer rating" in mr:
        rating = mr["customer rating"]
        phrase = rng.choice(RATING["number" if rating[0].isdigit() else "word"])
        after.append(phrase.format(r=rating, a="an" if rating[0] in "aeiou" else "a"))
    rng.shuffle(after)
    noun = " ".join(before + [kind])
    article = "an" if noun[0].lower() in "aeiou" else "a"
    opener = rng.choice(["{name} is {a} {noun}", "There is {a} {noun} called {name}", "{name} is {a} {noun}"])
    text = opener.format(name=name, a=article, noun=noun)
    if after:
        text += " " + (", ".join(after[:-1]) + " and " + after[-1] if len(after) > 1 else after[0])
    return text + "."


def make_split(rng, n: int, restaurants, landmarks, seen: set[str], references: int = 1) -> list[dict]:
    records = []
    while len(records) < n:
        mr = make_mr(rng, restaurants, landmarks)
        key = mr_text(mr)
        if key in seen:
            continue
        seen.add(key)
        refs = list(dict.fromkeys(realize(rng, mr) for _ in range(references * 3)))[:references]
        record = {"input": key, "output": refs[0]}
        if references > 1:
            record["references"] = refs
        records.append(record)
    return records


def split_words(text: str, rng: random.Random) -> tuple[list[str], list[str]]:
    words = sorted({w.strip() for w in text})
    rng.shuffle(words)
    return words[len(words) // 4 :], words[: len(words) // 4]  # (shared, test only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=1200)
    parser.add_argument("--validation", type=int, default=100)
    parser.add_argument("--test", type=int, default=150)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    (adj, adj_held), (nouns, nouns_held), (single, single_held) = (
        split_words(t, rng) for t in (ADJECTIVES, NOUNS, SINGLE)
    )
    names = place_names(rng, adj, nouns, single, 300)
    test_names = place_names(rng, adj_held, nouns_held, single_held, 100)
    half = len(names) // 2  # restaurants and landmarks from different names
    seen: set[str] = set()
    splits = {
        "train": make_split(rng, args.train, names[:half], names[half:], seen),
        "validation": make_split(rng, args.validation, names[:half], names[half:], seen),
        "test": make_split(rng, args.test, test_names, test_names, seen, references=3),
    }
    print("\n".join(write_splits(args.out, splits)))


if __name__ == "__main__":
    main()
