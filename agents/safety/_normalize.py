"""Extra views of a message for matching, so that hidden words are read as words.

A message is matched as written (the *original* view, after :func:`clean_text`, which already removes
zero-width and bidi characters and folds fullwidth letters) and, when they differ from it, as:

``deobfuscated``
    Cyrillic / Greek look-alike letters folded to Latin ("kіll" with a Cyrillic i), leetspeak read as letters
    ("k1ll mys3lf", "@" -> a, "$" -> s), spaced or dotted letters joined ("k i l l  m y s e l f",
    "k.i.l.l").
``decoded``
    base64, hex, ``\\x..`` and percent-encoded runs (bounded in length and number) decoded in place when they
    decode to readable text, then deobfuscated too.
``emoji``
    emoji read as their meaning from a small table (🔫 gun, 💊 pills, 🪢 rope, ⚰️ coffin, 🩸 blood ...).

Everything here is total (never raises) and linear in the message length.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from dataclasses import dataclass

__all__ = ["TextView", "text_views", "deobfuscate", "fold_homoglyphs", "fold_leetspeak", "join_spaced_letters",
           "decode_embedded", "read_emoji", "EMOJI_WORDS"]


@dataclass(frozen=True)
class TextView:
    name: str  # original, deobfuscated, decoded, emoji
    text: str


# -- homoglyphs ------------------------------------------------------------------------------------------------

_HOMOGLYPHS = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "һ": "h", "ԛ": "q",
    "ԝ": "w", "ɡ": "g", "ү": "y", "ӏ": "l",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ϲ": "c", "ϳ": "j",
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z",
    # Latin look-alikes and symbols
    "ı": "i", "ȷ": "j", "ℓ": "l", "ß": "ss", "ø": "o", "đ": "d", "ħ": "h", "ł": "l", "ŧ": "t",
})
_LATIN = re.compile(r"[a-zA-Z]")
_LOOKALIKE = re.compile("[" + "".join(chr(k) for k in _HOMOGLYPHS) + "]")
_CYRILLIC_GREEK = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0500-\u052f]")


def fold_homoglyphs(text: str) -> str:
    """Fold look-alike letters to Latin in words that mix scripts, or everywhere when the text is mostly Latin.

    A Russian or Greek message keeps its own letters (only its mixed words are folded).
    """
    if not _LOOKALIKE.search(text):
        return text
    latin = len(_LATIN.findall(text))
    foreign = len(_CYRILLIC_GREEK.findall(text))
    if latin >= foreign:
        return text.translate(_HOMOGLYPHS)
    return re.sub(r"\S+", lambda m: m.group().translate(_HOMOGLYPHS) if _LATIN.search(m.group()) else m.group(),
                  text)


# -- leetspeak -------------------------------------------------------------------------------------------------

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g", "@": "a", "$": "s", "!": "i",
         "|": "l", "€": "e", "£": "l", "¡": "i"}
_LEET_CHARS = re.compile(r"[013457@$9!|€£¡]")
_TOKEN = re.compile(r"\S+")
_EDGE = re.compile(r"^([\"'(\[{<*_~]*)(.*?)([\"')\]}>*_~.,;:?]*)$", re.DOTALL)
_PLAIN_NUMBER = re.compile(r"[#~]?\d+([.,:/-]\d+)*")
_WITH_UNIT = re.compile(r"(\d+)(am|pm|k|h|hrs?|mins?|mg|ml|kg|g|lbs?|x|%|s)")
_ORDINAL = re.compile(r"\d*(1st|2nd|3rd|[04-9]th|1[0-9]th)")


def _is_number(core: str, loose: bool) -> bool:
    """A number, a time, a quantity or an ordinal ("40", "3am", "10mg", "14th"), not a leet word."""
    if _PLAIN_NUMBER.fullmatch(core):
        return not (loose and core in ("0", "1", "3", "4"))  # a lone leet letter in a leetspeak message
    unit = _WITH_UNIT.fullmatch(core)
    if unit:
        return not (loose and unit.group(2) == "s" and len(unit.group(1)) == 1)  # "1s" is "is"
    return bool(_ORDINAL.fullmatch(core))


def _leet_token(token: str, loose: bool) -> str:
    lead, core, tail = _EDGE.match(token).groups()
    if not core or len(core) > 24 or _is_number(core, loose) or not _LEET_CHARS.search(core):
        return token
    has_letter = any(ch.isalpha() for ch in core)
    if not has_letter and not (loose and len(core) <= 2 and core not in ("!", "!!", "$", "|", "||")):
        return token  # a bare number or symbol, unless the message is clearly written in leetspeak
    if has_letter and core.endswith("!") and not _LEET_CHARS.search(core.rstrip("!")):
        return token  # "wow!" is punctuation, not leet
    out = []
    for i, ch in enumerate(core):
        if ch == "1" and (i > 0 and core[i - 1] == "1" or core[i + 1:i + 2] == "1"):
            out.append("l")  # "ki11" -> kill
        elif ch == "!" and (i == len(core) - 1):
            out.append("!")
        else:
            out.append(_LEET.get(ch, ch))
    return lead + "".join(out) + tail


def fold_leetspeak(text: str) -> str:
    """Read leetspeak as letters: "k1ll mys3lf" -> "kill myself", "1 t00k 4ll" -> "i took all".

    A token is rewritten when it mixes letters with leet digits or symbols; a lone "1", "4", "0" only when the
    message has at least two such mixed tokens. Numbers ("40", "3am", "10mg", "14th") stay numbers.
    """
    if not _LEET_CHARS.search(text):
        return text
    mixed = sum(1 for t in _TOKEN.findall(text)
                if _LEET_CHARS.search(t.strip(".,;:?!'\"")) and any(c.isalpha() for c in t)
                and len(t) <= 24 and not _is_number(t.strip(".,;:?!'\""), False))
    loose = mixed >= 2
    return _TOKEN.sub(lambda m: _leet_token(m.group(), loose), text)


# -- spaced and dotted letters ----------------------------------------------------------------------------------

_SPACED_RUN = re.compile(r"(?<!\S)(?:[^\s]\s{1,3}){2,}[^\s](?!\S)")
_DOTTED = re.compile(r"(?<![\w.])(?:\w[.\-_*·•+~]){2,}\w(?![\w])")

# Words a run of single letters is split into when the writer used single spaces throughout ("k i l l m y s e l f").
_VOCAB = frozenset("""
a about after all alone am an and anymore at be been before bleed blood bridge but bye can cant cut cutting dead
death die dying do done dont down end ending enough everyone for forever from gave give gone goodbye gun hang hate
have he her him hurt i im in is it jump kill killing knife last leave life live me my myself need never night no
not now of off on overdose pills please roof rope save saving self shoot sleep so stab stop suicide take taking
need going gonna tired alive hang myself cutting jumping
the them this to today tomorrow tonight wake want wish with won wont you
""".split())


def _segment(blob: str) -> str | None:
    """Split ``blob`` into known words (the fewest possible), or ``None`` when it cannot be done."""
    n = len(blob)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - 9), end):
            word = blob[start:end]
            if best[start] is not None and word in _VOCAB:
                candidate = best[start] + [word]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return " ".join(best[n]) if best[n] else None


def _join_run(run: str) -> str:
    parts = re.split(r"\s{2,}", run.strip())
    words = ["".join(p.split()) for p in parts]
    out = []
    for word in words:
        if 5 <= len(word) <= 60 and word.lower() not in _VOCAB:
            segmented = _segment(word.lower())  # "ineed" -> "i need", "killmyself" -> "kill myself"
            if segmented and " " in segmented:
                out.append(segmented)
                continue
        out.append(word)
    return " ".join(out)


def join_spaced_letters(text: str) -> str:
    """Join letters written apart: "k i l l  m y s e l f" -> "kill myself", "k.i.l.l" -> "kill".

    A run needs three or more single characters in a row; two or more spaces separate its words (a run written
    with single spaces throughout is split into known words when it can be).
    """
    def spaced(match: re.Match[str]) -> str:
        run = match.group()
        letters = [c for c in run if not c.isspace()]
        if len(letters) < 3 or sum(c.isalnum() for c in letters) < 0.7 * len(letters):
            return run
        return _join_run(run)

    text = _SPACED_RUN.sub(spaced, text)
    return _DOTTED.sub(lambda m: re.sub(r"[.\-_*·•+~]", "", m.group()) if len(m.group()) >= 5 else m.group(), text)


def deobfuscate(text: str) -> str:
    """Homoglyphs, then spaced letters, then leetspeak (see the module docstring)."""
    return fold_leetspeak(join_spaced_letters(fold_homoglyphs(text)))


# -- embedded encodings -----------------------------------------------------------------------------------------

_MAX_RUN = 4096  # characters of one encoded run that are decoded
_MAX_RUNS = 6
_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{12,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[\s:]?){6,}(?![0-9A-Fa-f])")
_ESCAPED = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){4,}")
_PERCENT_CODE = re.compile(r"%[0-9A-Fa-f]{2}")


def _readable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return None
    good = sum(ch.isalpha() or ch.isspace() or ch in ".,;:!?'\"-()" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    if good < 0.85 * len(text) or letters < 3 or any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        return None
    return text


def _b64(run: str) -> str | None:
    core = run.rstrip("=")
    if not re.search(r"[A-Za-z]", core) or core.isalpha() and core.islower():
        return None  # a long plain word is not base64
    padded = core + "=" * (-len(core) % 4)
    for alphabet in (None, b"-_"):
        try:
            raw = base64.b64decode(padded, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _readable(raw)
        if text:
            return text
    return None


def _hex(run: str) -> str | None:
    digits = re.sub(r"[\s:]", "", run)
    if len(digits) % 2 or digits.isdigit():
        return None
    try:
        return _readable(bytes.fromhex(digits))
    except ValueError:
        return None


def decode_embedded(text: str) -> str | None:
    """``text`` with its base64 / hex / escaped / percent-encoded runs decoded in place, or ``None`` if none."""
    found = 0

    def replace(decoder):
        def sub(match: re.Match[str]) -> str:
            nonlocal found
            run = match.group()
            if found >= _MAX_RUNS or len(run) > _MAX_RUN:
                return run
            decoded = decoder(run)
            if decoded is None:
                return run
            found += 1
            return " " + decoded + " "
        return sub

    out = _HEX.sub(replace(_hex), text)
    out = _B64.sub(replace(_b64), out)
    out = _ESCAPED.sub(replace(lambda r: _readable(bytes.fromhex(r.replace("\\x", "")))), out)
    if out.count("%") >= 2:  # a token with two or more %XX codes ("I%20want%20to%20die")
        percent = replace(lambda r: _readable(urllib.parse.unquote_to_bytes(r))
                          if len(_PERCENT_CODE.findall(r)) >= 2 else None)
        out = _TOKEN.sub(percent, out)
    return " ".join(out.split()) if found else None


# -- emoji ------------------------------------------------------------------------------------------------------

# Emoji read as words. Risky objects get plain words the rules know (gun, pills, rope, knife, coffin); a few
# everyday ones are there so context stays readable ("🔫💦" is a water gun, "🔪🥕" is cooking).
EMOJI_WORDS: dict[str, str] = {
    "🔫": "gun", "💊": "pills", "💉": "syringe", "🪢": "rope", "🔪": "knife", "🗡": "knife", "⚔": "swords",
    "🪒": "razor", "✂": "scissors", "🩸": "blood", "⚰": "coffin", "⚱": "urn", "🪦": "grave", "💀": "skull",
    "☠": "skull", "🪓": "axe", "💣": "bomb", "🧨": "explosive", "🌉": "bridge", "🏢": "building",
    "🏙": "city", "🚆": "train", "🚂": "train", "🚄": "train", "🚅": "train", "🚇": "train", "🛤": "railway",
    "🚉": "station", "⬇": "down", "👇": "down", "⤵": "down", "📉": "down", "🧗": "climbing", "🪜": "ladder",
    "🩹": "bandage", "🥃": "alcohol", "🍷": "wine", "🍺": "beer", "🍾": "bottle", "🚬": "cigarette",
    "🔥": "fire", "😵": "dizzy", "😴": "sleepy", "🥱": "sleepy", "💤": "sleep", "😢": "crying", "😭": "sobbing",
    "😔": "sad", "😞": "sad", "😩": "weary", "😫": "tired", "💔": "heartbroken", "👋": "goodbye",
    "🫡": "salute", "🕊": "dove", "🤕": "injured", "🤮": "vomiting", "🆘": "sos", "🚑": "ambulance",
    "🏥": "hospital", "🐶": "dog", "🐕": "dog", "🐱": "cat", "🐈": "cat", "➡": "to", "→": "to",
    "📝": "note", "✉": "letter", "💌": "letter", "🪑": "chair", "🌳": "tree", "🚗": "car", "⛓": "chains",
    "😡": "angry", "🤬": "furious", "👊": "punch", "🤜": "punch", "🏫": "school", "🎯": "target",
    "💦": "water", "🔚": "end", "⌛": "time", "⏳": "time", "🕛": "midnight", "🌙": "night", "🌚": "night",
    "🥕": "carrot", "🧅": "onion", "🍅": "tomato", "🥒": "cucumber", "🥩": "meat", "🍳": "cooking",
    "🍕": "pizza", "🍿": "popcorn", "🎬": "movie", "🎮": "game", "🎉": "party", "🎂": "birthday",
    "🎁": "present", "✈": "plane", "🧸": "teddy", "👵": "grandmother", "👴": "grandfather", "🙃": "",
    "💧": "water", "🌊": "water", "🏊": "swimming", "🤡": "clown", "🖤": "black heart",
}
_EMOJI = re.compile("(" + "|".join(sorted(map(re.escape, EMOJI_WORDS), key=len, reverse=True)) + ")\ufe0f?")


def read_emoji(text: str) -> str | None:
    """``text`` with known emoji replaced by their meaning, or ``None`` when it has none."""
    if not _EMOJI.search(text):
        return None
    out = _EMOJI.sub(lambda m: f" {EMOJI_WORDS[m.group(1)]} " if EMOJI_WORDS[m.group(1)] else " ", text)
    return " ".join(out.replace("\ufe0f", "").split())


# -- all views --------------------------------------------------------------------------------------------------

def text_views(text: str) -> list[TextView]:
    """The original view of a cleaned message plus each extra view that differs from it."""
    views = [TextView("original", text)]
    seen = {text}

    def add(name: str, value: str | None) -> None:
        if value and value not in seen:
            seen.add(value)
            views.append(TextView(name, value))

    add("deobfuscated", deobfuscate(text))
    decoded = decode_embedded(text)
    if decoded:
        add("decoded", decoded)
        add("decoded", deobfuscate(decoded))
    emoji = read_emoji(text)
    if emoji:
        add("emoji", emoji)
        add("emoji", deobfuscate(emoji))
    return views
