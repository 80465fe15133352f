"""Word lists of the person recognizer: particles, cues, stop words, field labels.

Everything here is data (lower-case words); :mod:`.tokens` and the rule modules read it.
"""

from __future__ import annotations

# particles that join the parts of a name: "Ludwig van Beethoven", "Ana de la Cruz"
PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "da",
        "di",
        "del",
        "della",
        "la",
        "le",
        "du",
        "bin",
        "binti",
        "al",
        "el",
        "ibn",
        "y",
        "dos",
        "das",
        "st",
        "ten",
        "ter",
        "dei",
        "degli",
        "los",
        "las",
        "do",
    ]
)
# words right before a name: "thanks to Jane", "cc Omar", "my wife Ana"
CUES = frozenset(
    """thanks to|thank you|thanks|thx|ty|congrats|congrats to|congratulations|
    congratulations to|cc|hi|hey|hello|dear|welcome|shoutout to|shout out to|props to|
    kudos to|credit to|ask|met|meet|meeting|married|wife|husband|son|daughter|mother|father|
    brother|sister|friend|colleague|boss|manager|partner|fiance|fiancee|girlfriend|boyfriend|
    spouse|by|with|to|and|said|told|named|called|dm|ping|contact|love|miss|ft|feat|mom|mum|
    dad|uncle|aunt|cousin|grandma|grandpa|coach|mentor|teammate|neighbor|neighbour|
    says|asked|name is|named|calls me|call me|i am|i'm|this is|from|producer|director|
    directed by|written by|starring|feat""".replace("\n", "")
    .replace("    ", "")
    .split("|")
)
WEAK_CUES = frozenset({"by", "with", "to", "and", "from", "love", "miss", "contact", "ask"})
STRONG_CUES = CUES - WEAK_CUES
# capitalised contractions are never names ("I'm", "Don't")
CONTRACTIONS = frozenset(
    [
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "don't",
        "can't",
        "won't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "didn't",
        "doesn't",
        "haven't",
        "hasn't",
        "hadn't",
        "couldn't",
        "wouldn't",
        "shouldn't",
        "it's",
        "that's",
        "there's",
        "here's",
        "what's",
        "who's",
        "let's",
        "he's",
        "she's",
        "we're",
        "they're",
        "you're",
        "you've",
        "we've",
        "they've",
        "you'll",
        "we'll",
        "they'll",
        "he'll",
        "she'll",
        "it'll",
        "i'd",
        "you'd",
        "he'd",
        "she'd",
        "we'd",
        "they'd",
        "ain't",
        "y'all",
    ]
)
# first names that are also a month or a word: a name only before a surname
FIRST_NAME_STOPS = frozenset(["jan", "may", "june", "april", "august", "will", "lord"])
# stop words that are surnames right after a first name ("Ivan King")
SURNAME_STOPS = frozenset(
    ["king", "prince", "bishop", "judge", "general", "major", "queen", "pope", "lord",
     "young", "little", "good", "best", "north", "south", "west", "east", "park", "church",
     "bank", "may", "mar", "june"]
)  # fmt: skip
# capitalised words that are never a name on their own: field labels of forms and ads
# ("Price: 800"), and places the name lists get wrong
NOT_NAMES = frozenset(
    """price|location|item|description|contact|seller|buyer|name|email|e-mail|phone|mobile|
    timestamp|category|condition|address|title|subject|date|time|status|note|notes|source|
    tags|rating|size|color|colour|model|brand|type|quantity|total|payment|shipping|delivery|
    summary|question|answer|reply|comment|message|website|link|company|role|position|salary|
    age|gender|language|city|country|zip|postcode|website|username|user|password|id|
    britain|america|europe|africa|asia|oceania|antarctica|scandinavia|
    congrats|congratulations|gracias|obrigado|obrigada|feliz|contato|contacto|kontakt|
    danke|grazie|merci|bravo|kudos|cheers|felicidades|parabéns|hola|olá|ciao|bonjour|
    hallo|saludos|escríbeme|llámame|привет|спасибо|здравствуйте|пока""".replace("\n", "")
    .replace(" ", "")
    .split("|")
)
# field labels whose value is a name ("Name: Rose", "Posted by: kim")
FIELD_CUES = frozenset(
    """name|full name|first name|last name|surname|user|username|author|posted by|written by|
    reviewed by|signed|from|contact person|spouse|mother's name|father's name|
    emergency contact|employee|patient|applicant|client|customer""".replace("\n", "")
    .replace("    ", "")
    .split("|")
)
# the last part of a CamelCase product or tech word ("DevOps", "GitHub", "JavaScript",
# "YouTube", "PayPal"): such words are not user names
TECH_TAILS = frozenset(
    """ops|hub|lab|script|phone|pad|pod|tube|in|book|press|point|soft|net|base|flow|
    cloud|shop|pal|box|drive|code|sec|kit|app|apps|bot|tech|sql|db|mail|chat|fi|bank|
    pay|cast|desk|force|works|ware|link|dash|gram|stack|mart|hat|ql|js|os|api|ai|ml|
    fox|tab|cad|star|feed|lens|cam|tok|fest|con|gate|ware|bucks|bnb|ex|ly|er""".replace("\n", "")
    .replace(" ", "")
    .split("|")
)
# words that announce a field value in lower case ("username: kim_1")
FIELD_KEYS = ("name", "user", "author", "posted by", "handle")
