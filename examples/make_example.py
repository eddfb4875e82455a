"""Write the bundled example: a small outdoor & home-improvement catalog and graded shopper queries.

The team wrote the product types, brands, vocabularies and query templates below;
the script combines them deterministically (seed 7) into ``catalog.csv`` (id,
title, brand, description, bullet_points, attributes, category) and
``queries.csv`` (query, product_id, label on the WANDS scale:
Exact / Partial / Irrelevant). Shoppers often use words the titles do not
(“couch” for a sofa, “weed whacker” for a string trimmer): exactly the gap
that fine-tuning on a catalog's own queries closes and BM25 cannot.

    python examples/make_example.py   # rewrites examples/catalog.csv and examples/queries.csv
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

# type: (category, title noun, shopper words (rarely in titles), use / need phrase, sibling type)
TYPES = {
    "string trimmer": ("Outdoor > Lawn Care", "String Trimmer", ["weed whacker", "weed eater"], "edging along fences and walkways", "leaf blower"),
    "leaf blower": ("Outdoor > Lawn Care", "Leaf Blower", ["yard blower", "leaf vac"], "clearing leaves from patios and driveways", "string trimmer"),
    "lawn mower": ("Outdoor > Lawn Care", "Walk-Behind Mower", ["lawnmower", "grass cutter"], "cutting grass on small to mid-size lawns", "string trimmer"),
    "pressure washer": ("Outdoor > Cleaning", "Pressure Washer", ["power washer", "jet washer"], "cleaning decks, siding and cars", "garden hose"),
    "garden hose": ("Outdoor > Watering", "Garden Hose", ["water hose", "hosepipe"], "watering beds and washing the car", "pressure washer"),
    "patio umbrella": ("Outdoor > Patio", "Market Umbrella", ["patio umbrella", "sun shade"], "shade over a patio table", "patio set"),
    "patio set": ("Outdoor > Patio", "Patio Dining Set", ["outdoor furniture", "deck furniture"], "outdoor dining for the family", "patio umbrella"),
    "fire pit": ("Outdoor > Patio", "Fire Bowl", ["fire pit", "outdoor fireplace"], "cozy evenings in the backyard", "patio set"),
    "drill": ("Tools > Power Tools", "Drill/Driver Kit", ["cordless drill", "power drill"], "drilling holes and driving screws", "impact driver"),
    "impact driver": ("Tools > Power Tools", "Impact Driver", ["impact gun", "screw gun"], "driving long lag screws", "drill"),
    "circular saw": ("Tools > Power Tools", "Circular Saw", ["skill saw", "skilsaw"], "cutting plywood and framing lumber", "jigsaw"),
    "jigsaw": ("Tools > Power Tools", "Jig Saw", ["jigsaw", "scroll saw"], "cutting curves in wood", "circular saw"),
    "shop vacuum": ("Tools > Cleaning", "Wet/Dry Vac", ["shop vac", "wet dry vacuum"], "cleaning up sawdust and water", "pressure washer"),
    "ladder": ("Tools > Ladders", "Step Ladder", ["stepladder", "folding ladder"], "reaching high shelves and ceilings", "extension ladder"),
    "extension ladder": ("Tools > Ladders", "Extension Ladder", ["roof ladder", "tall ladder"], "reaching gutters and roofs", "ladder"),
    "faucet": ("Bath > Faucets", "Single-Handle Bathroom Faucet", ["sink tap", "bathroom tap"], "replacing an old vanity faucet", "shower head"),
    "shower head": ("Bath > Showers", "Fixed Shower Head", ["rain shower", "showerhead"], "a stronger, wider shower spray", "faucet"),
    "toilet": ("Bath > Toilets", "Two-Piece Elongated Toilet", ["commode", "water closet"], "a water-saving bathroom upgrade", "faucet"),
    "ceiling fan": ("Lighting > Fans", "Ceiling Fan with Light Kit", ["overhead fan", "fan light"], "cooling bedrooms and living rooms", "chandelier"),
    "chandelier": ("Lighting > Indoor", "Chandelier", ["hanging light", "dining room light"], "lighting above a dining table", "ceiling fan"),
    "light bulb": ("Lighting > Bulbs", "LED Light Bulb (4-Pack)", ["led bulb", "lamp bulb"], "replacing old incandescent bulbs", "chandelier"),
    "paint": ("Paint > Interior", "Interior Paint and Primer, 1 gal.", ["wall paint", "house paint"], "repainting walls in one coat", "paint roller"),
    "paint roller": ("Paint > Supplies", "Paint Roller Kit", ["roller brush", "paint brush roller"], "painting walls quickly", "paint"),
    "smoke detector": ("Safety > Detectors", "Smoke and CO Alarm", ["smoke alarm", "fire alarm"], "early warning of fire and carbon monoxide", "light bulb"),
    "door lock": ("Hardware > Locks", "Smart Deadbolt", ["keyless lock", "smart lock"], "locking the front door without keys", "door knob"),
    "door knob": ("Hardware > Locks", "Passage Door Knob", ["door handle", "doorknob"], "interior doors that do not lock", "door lock"),
}
BRANDS = {"Outdoor": ["Ryobi", "Greenworks", "Husqvarna", "Sun Joe", "Hampton Bay", "Craftsman"],
          "Tools": ["Ryobi", "DeWalt", "Makita", "Craftsman", "Werner", "Little Giant"],
          "Bath": ["Moen", "Delta", "Kohler", "Glacier Bay"], "Lighting": ["Hampton Bay", "Feit", "Philips", "Home Decorators"],
          "Paint": ["Behr", "Glidden", "Wooster"], "Safety": ["First Alert", "Kidde"], "Hardware": ["Kwikset", "Schlage"]}
COLORS = ["black", "white", "brushed nickel", "matte black", "bronze", "chrome", "gray", "green", "red", "blue"]
MATERIALS = {"Outdoor": ["steel", "aluminum", "resin", "polyester"], "Tools": ["steel", "aluminum", "fiberglass"],
             "Bath": ["brass", "ceramic", "stainless steel"], "Lighting": ["glass", "metal", "wood"],
             "Paint": ["acrylic", "latex", "microfiber"], "Safety": ["plastic"], "Hardware": ["zinc", "steel", "brass"]}
POWER = ["18V cordless", "40V cordless", "corded electric", "gas", "20V MAX cordless", "battery-powered"]
SIZES = ["small", "compact", "standard", "large", "heavy-duty"]


def make(seed: int = 7):
    rng = random.Random(seed)
    products, by_type = [], {}
    pid = 10000
    for tname, (category, noun, _words, use, _sib) in TYPES.items():
        dept = category.split(" > ")[0]
        for _ in range(11):
            pid += 1
            brand = rng.choice(BRANDS[dept])
            color, material, size = rng.choice(COLORS), rng.choice(MATERIALS[dept]), rng.choice(SIZES)
            power = rng.choice(POWER) if dept in ("Tools", "Outdoor") and tname not in ("patio set", "patio umbrella", "fire pit", "garden hose", "ladder", "extension ladder") else ""
            model = f"{brand[:2].upper()}{rng.randint(100, 999)}"
            title = " ".join(x for x in [brand, power.title() if power else "", noun, "in", color.title()] if x)
            title = title.replace(" in ", f" {model} in ", 1) if rng.random() < 0.5 else title
            desc = (f"The {brand} {noun.lower()} is built for {use}. {size.capitalize()} {material} construction "
                    f"with a {color} finish" + (f", {power} power" if power else "") + ". Backed by a limited warranty.")
            bullets = [f"{material.capitalize()} construction", f"{color.capitalize()} finish", f"Ideal for {use}",
                       f"{size.capitalize()} size"]
            attrs = {"color": color, "material": material, "size": size}
            if power:
                attrs["power source"] = power
            p = {"id": str(pid), "title": title, "brand": brand, "description": desc,
                 "bullet_points": json.dumps(bullets), "attributes": json.dumps(attrs), "category": category}
            products.append(p)
            by_type.setdefault(tname, []).append((p, attrs))
    judgments = []
    for tname, (category, noun, words, use, sib) in TYPES.items():
        items = by_type[tname]
        colors = sorted({a["color"] for _, a in items})
        materials = sorted({a["material"] for _, a in items})
        queries = [(w, None) for w in words]
        queries += [(f"{c} {rng.choice(words)}", ("color", c)) for c in rng.sample(colors, min(3, len(colors)))]
        queries += [(f"{m} {rng.choice(words)}", ("material", m)) for m in rng.sample(materials, min(2, len(materials)))]
        queries.append((f"{rng.choice(words)} for {use.split(' and ')[0]}", None))
        for query, constraint in queries:
            for p, attrs in items:
                gain = "Exact" if constraint is None or attrs[constraint[0]] == constraint[1] else "Partial"
                judgments.append({"query": query, "product_id": p["id"], "label": gain})
            for p, _ in rng.sample(by_type[sib], 3):
                judgments.append({"query": query, "product_id": p["id"], "label": "Irrelevant"})
    return products, judgments


def main() -> None:
    here = Path(__file__).parent
    products, judgments = make()
    with open(here / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(products[0]))
        w.writeheader()
        w.writerows(products)
    with open(here / "queries.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["query", "product_id", "label"])
        w.writeheader()
        w.writerows(judgments)
    print(f"{len(products)} products, {len({j['query'] for j in judgments})} queries, {len(judgments)} judgments")


if __name__ == "__main__":
    main()
