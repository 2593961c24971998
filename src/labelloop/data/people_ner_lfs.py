"""Span labeling functions for the shipped named-entity example (PER=0, ORG=1, LOC=2).

Dictionaries of known names and a few patterns, each right on part of the sentences and
silent (or wrong) on the rest, so the span label model has something to combine.
"""

from __future__ import annotations

import re
from typing import Any

from labelloop.weak.spans import dictionary_span_lf, regex_span_lf, span_labeling_function

PER, ORG, LOC = 0, 1, 2

famous_people = dictionary_span_lf(
    ["Ada Lovelace", "Charles Babbage", "Grace Hopper", "Alan Turing", "Marie Curie",
     "Nelson Mandela", "Frida Kahlo", "Katherine Johnson", "Albert Einstein",
     "Leonardo da Vinci", "Isaac Newton", "Kofi Annan", "Angela Merkel", "Leo Tolstoy"],
    PER, name="famous_people")

organisations = dictionary_span_lf(
    ["Siemens", "Toyota", "Nokia", "Amazon", "Samsung", "Sony", "Spotify", "Airbus",
     "Netflix", "IKEA", "Volvo", "NASA", "Greenpeace", "Oxfam", "Unicef", "United Nations",
     "Red Cross"], ORG, name="organisations")

places = dictionary_span_lf(
    ["London", "Paris", "Berlin", "Geneva", "Munich", "Milan", "Japan", "Finland", "Dublin",
     "Stockholm", "Russia", "Lisbon", "Kenya", "Toronto", "Vancouver", "New York", "Jakarta",
     "Osaka", "Florence", "Rotterdam", "Shanghai", "Nigeria", "Zurich", "Cairo", "Nepal",
     "Brazil", "Seoul", "Belgium", "England"], LOC, name="places")

titled_person = regex_span_lf(
    r"\b(?:Dr|Mr|Ms|Mrs|Professor)\.? ([A-Z][a-z]+(?: [A-Z][a-z]+)+)", PER,
    name="title_then_name")

institution = regex_span_lf(
    r"\b(?:(?:[A-Z][a-z']+ )+(?:University|Hospital|Bank|Society|Fund|Organization|Corp|"
    r"Movement)(?: of [A-Z][a-z]+)?|(?:University|Bank) of [A-Z][a-z]+(?: [A-Z][a-z]+)?)",
    ORG, name="institution_words")

subject_person = regex_span_lf(
    r"^((?:[A-Z][a-z]+ ){1,2}[A-Z][a-z]+) (?:was|wrote|worked|joined|taught|spent|lived|"
    r"studied|won|runs|received|performed|painted|founded|calculated|spoke|designed)\b",
    PER, name="person_as_subject", group=1)


@span_labeling_function()
def place_after_in(x: Any) -> list[tuple[int, int, int]]:
    """Capitalised words after "in", "near", "from" or "to": often a place (noisy)."""
    return [(m.start(1), m.end(1), LOC) for m in re.finditer(
        r"\b(?:in|near|from|to|outside) ((?:[A-Z][a-z]+ ?)+)(?<! )", x.text)]


lfs = [famous_people, organisations, places, titled_person, institution,
       subject_person, place_after_in]
