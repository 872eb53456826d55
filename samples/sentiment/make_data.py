"""Write the sentiment sample's train/validation/test JSONL: one-sentence product reviews -> positive | negative.

Deterministic (seeded). Reviews are composed from many products, brands, openers, details and closers; a fifth of
the products and brands, and three wordings of each label, appear only in the test split: the score measures
reviews of products never trained on, some worded in ways never trained on.

    python samples/sentiment/make_data.py [--out samples/sentiment/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from prefixdeploy.training.data import write_splits

PRODUCTS = """blender, coffee grinder, laptop stand, pair of running shoes, desk lamp, phone case, backpack, air fryer,
electric kettle, yoga mat, mechanical keyboard, wireless mouse, rice cooker, water bottle, toaster, vacuum cleaner,
hair dryer, pair of headphones, bluetooth speaker, winter jacket, tent, sleeping bag, office chair, monitor,
smartwatch, fitness tracker, camera bag, tripod, coffee maker, frying pan, knife set, cutting board, umbrella,
suitcase, baby stroller, car seat, dog bed, cat tree, bike helmet, pair of sunglasses, wallet, leather belt,
electric toothbrush, shower head, mattress, pillow, weighted blanket, space heater, desk fan, humidifier,
router, USB hub, charging cable, power bank, e-reader, tablet, gaming controller, webcam, microphone, printer,
paper shredder, label maker, stand mixer, food processor, slow cooker, pressure cooker, waffle iron, garden hose,
lawn mower, drill, toolbox, ladder, paint roller, board game, puzzle, kids' bike, scooter, skateboard,
tennis racket, pair of hiking boots, rain coat, wool sweater, pair of jeans, dress shirt, watch strap""".split(",")
BRANDS = """Acme, Norvik, Zentro, Lumo, Pexa, Halden, Brightway, Kestrel, Orbix, Velda, Quillon, Marlowe, Tessar,
Dunmore, Ysolde, Fjordia, Karoo, Sundial, Petrova, Ravel, Ostwind, Calypso, Meridian, Tanaka, Bellweather""".split(",")
PEOPLE = ["my wife", "my husband", "my son", "my daughter", "my roommate", "my mom", "my dad", "my partner",
          "my grandmother", "a friend", "my boss", "my sister", "my brother", "our neighbor", "my kids"]  # fmt: skip
TIMES = ["two days", "a week", "three weeks", "a month", "two months", "half a year", "a year", "one use", "ten days"]

POSITIVE = [
    "works exactly as described",
    "is worth every penny",
    "exceeded all my expectations",
    "feels sturdy and well made",
    "arrived early and works perfectly",
    "was easy to set up and just works",
    "has held up great after {time}",
    "is the best purchase I made this year",
    "does its job quietly and reliably",
    "looks even better in person",
    "is comfortable, light and well designed",
    "still works like new after {time}",
    "made {person} really happy",
    "is so much better than my old one",
    "is excellent value for the price",
    "performs flawlessly every single day",
    "is a joy to use",
    "has become something I use daily and love",
]
NEGATIVE = [
    "stopped working after {time}",
    "feels cheap and flimsy",
    "arrived broken and scratched",
    "is a complete waste of money",
    "never worked properly",
    "fell apart after {time}",
    "is much smaller than advertised",
    "broke the first time {person} used it",
    "is noisy, slow and hard to use",
    "looks nothing like the photos",
    "overheats and smells like burning plastic",
    "died after {time} and support never answered",
    "was missing parts and the seller ignored me",
    "is uncomfortable and poorly made",
    "is the worst purchase I made this year",
    "leaks every time I use it",
    "disappointed {person} completely",
    "is overpriced junk",
]
POS_FRAMES = [
    "{Subject} {detail}.",
    "Honestly, {subject} {detail}.",
    "After {time} of use, I can say {subject} {detail}.",
    "I bought {subject} for {person} and it {detail}.",
    "I was skeptical at first, but {subject} {detail}.",
    "{Subject} {detail}, highly recommend!",
    "Five stars: {subject} {detail}.",
    "{Subject} {detail} and I would buy it again.",
    "Great buy, {subject} {detail}.",
    "So glad I ordered {subject}, it {detail}.",
    "{Subject} {detail}, {person} agrees.",
]
NEG_FRAMES = [
    "{Subject} {detail}.",
    "Honestly, {subject} {detail}.",
    "After {time}, I can say {subject} {detail}.",
    "I bought {subject} for {person} and it {detail}.",
    "I wanted to love it, but {subject} {detail}.",
    "{Subject} {detail}, do not buy it!",
    "One star: {subject} {detail}.",
    "{Subject} {detail} and I am returning it.",
    "Avoid this one, {subject} {detail}.",
    "I regret ordering {subject}, it {detail}.",
    "{Subject} {detail}, {person} agrees.",
]


def make_review(rng: random.Random, label: str, products: list[str], brands: list[str], details: dict) -> str:
    product = rng.choice(products)
    owner = rng.choice(["the", "this", "my new", "the", f"the {rng.choice(brands)}", f"this {rng.choice(brands)}"])
    subject = f"{owner} {product}"
    frame = rng.choice(POS_FRAMES if label == "positive" else NEG_FRAMES)
    detail = rng.choice(details[label])
    fill = {"time": rng.choice(TIMES), "person": rng.choice(PEOPLE)}
    detail = detail.format(**fill)
    text = frame.format(subject=subject, Subject=subject[0].upper() + subject[1:], detail=detail, **fill)
    if rng.random() < 0.1:
        text = text.lower()
    return text


def make_split(rng: random.Random, n: int, products: list[str], brands: list[str], details: dict, seen: set[str]):
    records = []
    while len(records) < n:
        label = "positive" if len(records) % 2 == 0 else "negative"
        text = make_review(rng, label, products, brands, details)
        if text not in seen:
            seen.add(text)
            records.append({"input": text, "output": label})
    rng.shuffle(records)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--validation", type=int, default=150)
    parser.add_argument("--test", type=int, default=200)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    products, brands = [p.strip() for p in PRODUCTS], [b.strip() for b in BRANDS]
    rng.shuffle(products), rng.shuffle(brands)
    # Test-only: a fifth of the products and brands, and three wordings of each label.
    held_products, products = products[: len(products) // 5], products[len(products) // 5 :]
    held_brands, brands = brands[: len(brands) // 5], brands[len(brands) // 5 :]
    everything = {"positive": POSITIVE, "negative": NEGATIVE}
    trained = {label: details[3:] for label, details in everything.items()}
    seen: set[str] = set()
    splits = {
        "train": make_split(rng, args.train, products, brands, trained, seen),
        "validation": make_split(rng, args.validation, products, brands, trained, seen),
        "test": make_split(rng, args.test, held_products, held_brands, everything, seen),
    }
    print("\n".join(write_splits(args.out, splits)))


if __name__ == "__main__":
    main()
