"""Write the extract sample's train/validation/test JSONL: a sentence naming one person and one city ->
`{"person": "<name>", "city": "<city>"}` (exactly that JSON, keys in that order).

Deterministic (seeded). Names and cities come from many regions and the sentences from many frames; a quarter of
the first names, last names and cities are held out for the test split, where each test sentence uses at least one
held-out name or city (and a fifth of the sentence frames are test-only), so the score measures copying names the
prefix has never seen, in sentences it has partly never seen.

    python samples/extract/make_data.py [--out samples/extract/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from prefixdeploy.training.data import write_splits

FIRST = """Maria, James, Aisha, Wei, Olga, Carlos, Priya, Kenji, Fatima, Lukas, Amara, Diego, Ingrid, Tomasz, Mei,
Omar, Sofia, Arjun, Chloe, Mateo, Yuki, Nadia, Kwame, Elena, Hiroshi, Leila, Finn, Zanele, Rafael, Anya, Jamal,
Greta, Tariq, Lucia, Sven, Ayumi, Joao, Hana, Emeka, Clara, Dmitri, Ines, Kofi, Rosa, Pavel, Noor, Liam, Astrid,
Ravi, Beatriz, Oskar, Thandiwe, Marco, Yara, Felix, Siobhan, Hamid, Ivana, Santiago, Eun-ji, Bjorn, Farah, Mateus,
Nkechi, Alejandro, Katarzyna, Samuel, Leilani, Arash, Emma, Chidi, Ana, Rohan, Freya, Gabriel, Zeynep, Mikhail,
Aroha, Julien, Esperanza, Tenzin, Marta, Kaito, Amina, Henrik, Valentina, Dawit, Ingrid, Nicolas, Sunita"""
LAST = """Lopez, Smith, Okafor, Zhang, Petrova, Mendes, Sharma, Tanaka, Haddad, Becker, Nwosu, Alvarez, Larsen,
Kowalski, Chen, Farouk, Rossi, Patel, Dubois, Fernandez, Sato, Karimi, Mensah, Popescu, Yamamoto, Nasser, Murphy,
Dlamini, Costa, Ivanova, Brooks, Schmidt, Aziz, Romero, Nilsson, Kobayashi, Silva, Novak, Eze, Moreau, Volkov,
Garcia, Boateng, Marino, Horvat, Rahman, O'Brien, Lindqvist, Iyer, Carvalho, Berg, Ndlovu, Bianchi, Haidari, Weber,
Kelly, Hosseini, Kovac, Ortega, Park, Andersson, Qureshi, Santos, Adeyemi, Navarro, Wisniewski, Mwangi, Kahale,
Tehrani, Taylor, Obi, Nakamura, Reyes, Fischer, Demir, Sokolov, Ngata, Laurent, Herrera, Dorji, Ferreira"""
CITIES = """Lyon, Nairobi, Osaka, Lisbon, Toronto, Krakow, Mumbai, Cairo, Oslo, Lima, Hanoi, Dublin, Accra, Seville,
Melbourne, Tbilisi, Quito, Busan, Porto, Helsinki, Marrakesh, Denver, Bergen, Cork, Kyoto, Salvador, Lagos,
Vancouver, Munich, Valencia, Bangalore, Tallinn, Havana, Nagoya, Glasgow, Dakar, Montreal, Naples, Istanbul, Perth,
Bogota, Zagreb, Manila, Austin, Rotterdam, Chennai, Kigali, Sapporo, Bilbao, Wellington, Gdansk, Tunis, Hamburg,
Cusco, Antwerp, Jaipur, Adelaide, Santiago, Bordeaux, Durban, Seattle, Riga, Casablanca, Leeds, Medellin, Graz,
Da Nang, Fukuoka, Turin, Windhoek, Halifax, Porto Alegre, Thessaloniki, Cape Town, San Diego, Kuala Lumpur,
Buenos Aires, New Orleans, Addis Ababa, Ho Chi Minh City, Rio de Janeiro, Mexico City, Hong Kong, Tel Aviv"""
FRAMES = [
    "{person} moved to {city} last spring.",
    "Yesterday I ran into {person} at a small cafe in {city}.",
    "The conference in {city} was opened by {person}.",
    "{person} has lived in {city} for almost ten years.",
    "According to {person}, {city} has the best street food in the region.",
    "{city} welcomed {person} as its new head librarian.",
    "After a long flight, {person} finally landed in {city}.",
    "{person} grew up in {city} and still visits every summer.",
    "We met {person} during a rainy weekend in {city}.",
    "The new bakery in {city} is run by {person}.",
    "{person} is giving a talk about urban gardens in {city} on Friday.",
    "My cousin says {person} just bought an apartment in {city}.",
    "In {city}, {person} won the local chess tournament.",
    "{person} sent us a postcard from {city}.",
    "The museum in {city} hired {person} to restore old paintings.",
    "Last night {person} called from a hotel in {city}.",
    "{person} will coach the youth football team in {city} next season.",
    "It was in {city} that {person} opened her first restaurant.",
    "It was in {city} that {person} wrote his first novel.",
    "{person} commutes to {city} by train every morning.",
    "Few people know that {person} was born in {city}.",
    "The mayor of {city} thanked {person} for the donation.",
    "{person} spent the whole winter studying architecture in {city}.",
    "A photo of {person} walking through {city} went viral.",
    "{person} and her dog are relocating to {city}.",
    "Our team in {city} is now led by {person}.",
    "Tickets for the show in {city} sold out after {person} joined the cast.",
    "{person} recommended a quiet bookshop near the old harbor of {city}.",
    "Every August, {person} runs the marathon in {city}.",
    "The festival in {city} featured a surprise concert by {person}.",
]


def names(text: str) -> list[str]:
    return sorted({w.strip() for w in text.split(",")})


def make_split(rng: random.Random, n: int, frames: list[str], pools: dict, held: dict | None, seen: set[str]):
    """`held`: test-only pools; every record then uses at least one held-out first name, last name or city."""
    records = []
    while len(records) < n:
        use = {k: v for k, v in pools.items()}
        if held is not None:
            fresh = rng.sample(sorted(held), rng.randint(1, 3))  # which parts come from the held-out pools
            use.update({k: held[k] for k in fresh})
        first, last, city = rng.choice(use["first"]), rng.choice(use["last"]), rng.choice(use["city"])
        person = first if rng.random() < 0.15 else f"{first} {last}"
        frame = rng.choice(frames)
        text = frame.format(person=person, city=city)
        if text in seen:
            continue
        seen.add(text)
        output = json.dumps({"person": person, "city": city}, ensure_ascii=False)
        records.append({"input": text, "output": output})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--validation", type=int, default=120)
    parser.add_argument("--test", type=int, default=200)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pools, held = {}, {}
    for key, text in (("first", FIRST), ("last", LAST), ("city", CITIES)):
        values = names(text)
        rng.shuffle(values)
        held[key], pools[key] = values[: len(values) // 4], values[len(values) // 4 :]
    frames = list(FRAMES)
    rng.shuffle(frames)
    trained_frames = frames[len(frames) // 5 :]  # a fifth of the sentence frames: test only
    seen: set[str] = set()
    splits = {
        "train": make_split(rng, args.train, trained_frames, pools, None, seen),
        "validation": make_split(rng, args.validation, trained_frames, pools, None, seen),
        "test": make_split(rng, args.test, frames, pools, held, seen),
    }
    print("\n".join(write_splits(args.out, splits)))


if __name__ == "__main__":
    main()
