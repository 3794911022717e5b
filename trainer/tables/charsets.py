"""Which character set a text file was saved in, when it is not UTF-8.

Excel saves CSV in the computer's "ANSI" code page: Windows-1251 on a Russian or Ukrainian
Windows, Windows-1252 on a Western one, Windows-1250 in Central Europe, and so on. Those code
pages give every byte some character, so decoding never fails; the question is which reading
makes words. charset-normalizer ranks the code pages by how messy and how much like a language
each reading is. It needs text to judge, and a table holds little: a few header words among
numbers. So its ranking is checked word by word: a reading that makes a word no language writes
is put behind one that does not. Such a word mixes scripts ("tempйrature"), holds a symbol
between letters ("£ódŸ" for "Łódź"), puts a capital after a small letter ("зПТПД" for
"Город" in KOI8-R), or is Latin letters all accented ("Öåíà" for "Цена"), which Latin words
never are.

This module must stay free of Keras.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

# The code pages Excel writes CSV in, most common first among this bot's users: the order
# breaks ties between readings that are equally plausible.
CODE_PAGES = ("cp1252", "cp1251", "cp1250", "cp1253", "cp1254", "cp1257", "koi8_r", "cp1255")
_SAMPLE = 1 << 20
_WORDS = 2000
# A run of letters: ASCII ones and any byte over 0x7f (possessive, so linear on any file).
_RUN = re.compile(rb"[A-Za-z\x80-\xff]++")
_HIGH = re.compile(rb"[\x80-\xff]")


def decode_legacy(data: bytes) -> str:
    """``data`` (not UTF-8) decoded with the code page whose reading makes words."""
    from charset_normalizer import from_bytes  # here: UTF-8 files, most of them, never need it

    sample = data[:_SAMPLE]
    words: dict[bytes, None] = {}
    for run in _RUN.finditer(sample):
        word = run.group()
        if len(word) <= 64 and _HIGH.search(word):
            words[word] = None
            if len(words) >= _WORDS:
                break
    # charset-normalizer's judgement of each reading: how messy (chaos) and how much like a
    # language (coherence), both 0 to 1; rounded, since a table's few words give it noise.
    judged = {
        match.encoding: (round(match.chaos, 1), -round(match.coherence, 1))
        for match in from_bytes(sample, cp_isolation=list(CODE_PAGES), threshold=1.0)
    }
    # It keeps one of the pages that read the sample alike; the others share its judgement.
    readings = {page: sample.decode(page, errors="replace") for page in CODE_PAGES}
    for page in CODE_PAGES:
        if page not in judged:
            alike = [kept for kept in judged if readings[kept] == readings[page]]
            judged[page] = judged[alike[0]] if alike else (1.0, 0.0)
    best = min(
        CODE_PAGES,
        key=lambda page: (_odd_words(list(words), page), judged[page], CODE_PAGES.index(page)),
    )
    return data.decode(best, errors="replace")


def _odd_words(words: list[bytes], page: str) -> int:
    """How many of ``words`` read with ``page`` are words no language writes."""
    odd = 0
    for raw in words:
        try:
            word = raw.decode(page)
        except UnicodeDecodeError:
            return len(words) + 1  # this page cannot read the file
        odd += _is_odd(word)
    return odd


def _is_odd(word: str) -> bool:
    letters = [char for char in word if char.isalpha()]
    if not letters:
        return False  # a sign alone: "€", "°"
    if len(letters) < len(word):
        return True  # a symbol among letters
    if any(b.isupper() and a.islower() for a, b in itertools.pairwise(word)):
        return True
    scripts = {unicodedata.name(char, "?").split(" ", 1)[0] for char in word}
    if len(scripts) > 1:
        return True
    accented = sum(not char.isascii() for char in word)
    return scripts == {"LATIN"} and accented == len(word) and len(word) >= 3
