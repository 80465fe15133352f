"""Names in a name position: the word(s) right after a greeting, a thank-you or a
relation word, whatever the word also means.

"Congrats Chase!", "Happy work anniversary Martin!", "So proud of you June!", "Hi Josh,",
"Thank you Diamond Miller,", "my former manager Robin Chambers had", "Met 许利 from": in
such a slot a capitalised first name is a name even when it is also a common word, a
month or a place (Hope, Grace, Will, Mark, Bill, Rose, June, Chase), and a word the
name lists do not hold is a name when punctuation or a second name word follows it.
CJK names (one to four Han, kana or Hangul characters) are taken in the same slots.

:func:`cjk_names` finds Chinese and Japanese names written in Han characters inside text
of another script ("My former manager 檀岩 had a rule"): a run of two to four Han
characters, with no other CJK character on either side, that starts with a common
family name; and any such run (or a Latin name) right before an honorific (さん, 様, 先生).

Scores: 0.7 for a known first name or surname in a slot, 0.65 for an unknown word or a
CJK name in a slot, 0.6 for a CJK family name in other-script text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from optin.privacy.detect import lexicon
from optin.privacy.detect.context import phrase_suffixes
from optin.privacy.detect.recognizers.person.words import (
    FIRST_NAME_STOPS,
    NOT_NAMES,
    SURNAME_STOPS,
)
from optin.privacy.detect.scan import cap_spans
from optin.privacy.findings import Finding, Label

FIRST, LAST, WORD, PLACE = lexicon.FIRST, lexicon.LAST, lexicon.WORD, lexicon.PLACE
_NAME_BITS = FIRST | LAST

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

# the slot: a greeting, thanks or relation right before a name (lower-case phrases of
# one to four words, punctuation stripped as :func:`..context.last_words` does)
_POSSESSED = tuple(
    f"{who} {adj}{rel}"
    for who in ("my", "our")
    for adj in ("", "former ", "new ", "old ", "amazing ")
    for rel in (
        "manager", "mentor", "mentee", "colleague", "boss", "teammate", "co-founder",
        "cofounder", "intern",
    )
)  # fmt: skip
SLOT_PHRASES = frozenset(
    (
        *_POSSESSED,
        "congrats", "congrats to", "congratulations", "congratulations to", "thanks",
        "thanks to", "thank you", "thank you so much", "thx", "hi", "hey", "hello", "dear",
        "welcome", "welcome aboard", "proud of you", "proud of my mentee",
        "proud of my colleague", "proud of my teammate", "happy anniversary",
        "happy work anniversary", "happy birthday", "shoutout to", "shout-out to",
        "kudos to", "cc", "met", "meet", "led by", "mentor like", "vouch for", "panel with",
        "grateful to", "sorry to bother you", "danke", "danke an", "gracias", "gracias a",
        "obrigado", "obrigada", "obrigado a", "obrigada a", "obrigado ao", "grazie",
        "grazie a", "merci", "merci à", "bravo", "félicitations", "félicitations à",
        "felicidades", "felicidades a", "parabéns", "parabéns a", "hola", "olá", "ciao",
        "bonjour", "hallo", "con", "mit", "avec", "com", "hired", "new hire", "we hired",
        "welcome to the team", "i'm", "i’m", "i am", "this is", "im",
    )
)  # fmt: skip
_SLOT_LAST = frozenset(p.rsplit(" ", 1)[-1] for p in SLOT_PHRASES)
_RELATION_WORDS = frozenset(
    (
        "hire", "hired", "manager", "mentor", "mentee", "colleague", "boss", "teammate",
        "co-founder", "cofounder", "intern", "by", "with", "for",
    )
)  # fmt: skip
_SIGNATURE_LINE = re.compile(r"(?m)^[—–][ \t]*(?=\S)")
_PUNCT = ".,;:!?()[]\"'“”"
_WORD_AT = re.compile(r"(?:[A-Z]\.-)?[^\W\d_][^\W\d_'’]*(?:-[^\W\d_]+)?")
_CJK_AT = re.compile(rf"[{_CJK}]{{1,5}}(?![{_CJK}])")
_LATIN_NAME_WORD = r"[A-Z][^\W\d_'’]*(?:[-'’][^\W\d_]+)?"
# "Anthony English | (201) 501-9604 | ...", "檀岩 | 8118 7179": a name opening a contact line
_CONTACT_LINE = re.compile(
    rf"(?:({_LATIN_NAME_WORD}(?:[ \t]{_LATIN_NAME_WORD}){{1,2}})"
    rf"|([{_CJK}]{{2,5}}))[ \t]+\|[ \t]"
)
# "Hazel, here's the card": a first name addressed at the start of a line
_ADDRESSED = re.compile(
    r"([A-Z][^\W\d_'’]+(?:-[A-Z][^\W\d_]+)?|[" + _CJK + r"]{1,5}),[ \t]+"
    r"(?=here|thanks|thank|congrats|please|can |could |would |great|happy|welcome|hope|just|"
    r"i |i'|we |you |the contract|for the|sorry|quick)"
)
# what may follow a name in a slot
_END_KNOWN = re.compile(
    r"[ \t]*(?:[!?,.:;)(\[|—–]|$)|[ \t]*\n|[ \t]+(?:for|and|from|on|who|had|has|is|was|"
    r"at|y|e|und|et|para|por|für|per|con|with|-|&)(?![\w])"
)
_LOWER_NEXT = re.compile(r"[ \t]+[a-z]")
_END_UNKNOWN = re.compile(r"[ \t]*[!?,:;(]|[ \t]*$|[ \t]*\n")

# common family names (Chinese in simplified and traditional forms, Japanese), for Han
# names inside text of another script
_CN_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
    "覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚"
    "符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆"
    "農陳楊黃趙吳劉張鄭謝許韓馮鄧蕭葉蘇呂盧鐘譚陸賈韋鄒閆龍賀顧龔錢嚴湯蔣羅孫馬劉"
)
_JP_SURNAMES_TEXT = """
    佐藤 鈴木 高橋 田中 伊藤 渡辺 渡邊 山本 中村 小林 加藤 吉田
    山田 佐々木 山口 松本 井上 木村 斎藤 斉藤 清水 山崎 池田 橋本
    阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤
    村上 遠藤 青木 坂本 福田 太田 西村 藤井 金子 岡本 藤原 中野
    三浦 原田 中川 松田 竹内 小野 田村 中山 和田 石田 森田 上田
    柴田 酒井 工藤 横山 宮崎 宮本 内田 高木 安藤 島田 谷口 大野
    高田 丸山 今井 河野 藤本 村田 武田 上野 杉山 増田 小山 大塚
    平野 菅原 久保 松井 千葉 岩崎 桜井 木下 野口 松尾 菊地 野村
    新井 渡部 小島 吉川 山内 西田 福島 北村 三宅
"""
_JP_SURNAMES = frozenset(_JP_SURNAMES_TEXT.split())
# Han runs that start with a family-name character but are places or common words
_HAN_NOT_NAMES_TEXT = """
    北京 上海 香港 台北 臺北 東京 东京 大阪 京都 横浜 名古屋 南京
    天津 重庆 重慶 广州 廣州 深圳 成都 武汉 武漢 杭州 西安 苏州
    蘇州 长沙 長沙 高雄 台中 台湾 臺灣 中国 中國 日本 韩国 韓國
    美国 美國 英国 英國 法国 法國 德国 德國 金融 安全 文化 方法
    时间 時間 高级 高級 成功 石油 周末 周年 马上 馬上 白色 黄色
    黃色 金色 关于 關於 安装 安裝 万一 萬一 江湖 程序 文件 高速
    高中 林业 温度 常见 常見 华为 華為 万科 成本 史上 周一 周二
    周三 周四 周五 周六 周日
"""
_HAN_NOT_NAMES = frozenset(_HAN_NOT_NAMES_TEXT.split())
_HONORIFIC_AFTER = re.compile(r"さん|様|さま|先生|くん|君|ちゃん|氏")
_HAN_RUN = re.compile(rf"(?<![{_CJK}])[{_HAN}]{{2,4}}(?![{_CJK}])")
_HAN_HONORIFIC = re.compile(rf"(?<![{_HAN}])[{_HAN}]{{2,4}}(?=さん|様|先生|くん|ちゃん|氏)")
# letters of any script but CJK (Latin with its extensions: "Hải Đặng"), the first a capital
_NON_CJK_LETTER = rf"[^\W\d_{_CJK}]"
_LATIN_WORD = rf"(?=[A-ZÀ-ÖØ-ÞĀ-ſḀ-ỿ]){_NON_CJK_LETTER}[^\W\d_{_CJK}'’]*(?:-{_NON_CJK_LETTER}+)?"
_LATIN_HONORIFIC = re.compile(
    rf"(?<![A-Za-z])({_LATIN_WORD}(?:[ \t]{_LATIN_WORD}){{0,2}})(?=さん|様|先生|くん|ちゃん|氏)"
)
_HAS_CJK = re.compile(rf"[{_CJK}]")
_CJK_START = re.compile(rf"(?<![{_CJK}])[{_CJK}]")


def _word_ok(tok: str, lex: dict[str, tuple[int, int]], second: bool) -> int:
    """0: not a name word; 1: a word the lists do not hold; 2: a known first name or
    surname (also when it is a common word, a month or a place)."""
    if len(tok) < 2 or not tok[0].isupper() or tok.isupper():
        return 0
    if any(ch.isupper() for ch in tok[1:]) and "-" not in tok:
        return 0  # CamelCase: a product or event name ("DevOpsDays")
    low = tok.lower()
    if low in NOT_NAMES or low.rstrip(".") in lexicon.TITLES:
        return 0
    f = lex.get(low, (0, 0))[0]
    if low in lexicon.STOP and low not in FIRST_NAME_STOPS:
        if second:
            rank = lex.get(low, (0, 0))[1]
            return 2 if f & LAST and (low in SURNAME_STOPS or 0 < rank <= 2000) else 0
        return 3 if f & _NAME_BITS else 0  # "Jun Han": a name only with a surname
    if second:
        if f & LAST or (f & FIRST and not f & (WORD | PLACE)):
            return 2
    elif f & _NAME_BITS:
        return 2
    if f == 0:
        return 1
    if not second and f == PLACE:
        return 3  # "Xiuying Tang": a given name the place lists also hold, before a surname
    return 0


_ENDS_CUE: dict[str, bool] = {}  # the word before a capitalised word -> _ends_cue


def _ends_cue(raw: str) -> bool:
    """Whether ``raw`` (the text from the previous space to the one before a capitalised
    word) ends in the last word of a slot phrase; remembered per distinct string."""
    if len(_ENDS_CUE) >= 65536:
        _ENDS_CUE.clear()
    hit = _ENDS_CUE[raw] = raw.rsplit("\n", 1)[-1].lower().strip(_PUNCT) in _SLOT_LAST
    return hit


def _slot_starts(text: str) -> Iterator[tuple[int, bool]]:
    """(start, relation cue) of every capitalised word or CJK run right after a slot cue:
    one look at the previous word, the phrases of the last four words only where it may
    end a cue; and signature lines ("— Xia Qiao")."""
    starts: Iterable[int] = (a for a, _ in cap_spans(text))
    if not text.isascii() and _HAS_CJK.search(text):  # isascii: O(1), no scan
        starts = sorted({*starts, *(m.start() for m in _CJK_START.finditer(text))})
    for pos in starts:
        if pos < 2 or text[pos - 1] != " ":
            continue
        j = text.rfind(" ", max(0, pos - 30), pos - 1)
        raw = text[j + 1 : pos - 1]
        ends_cue = _ENDS_CUE.get(raw)
        if ends_cue is None:
            ends_cue = _ends_cue(raw)
        if ends_cue:
            phrases = phrase_suffixes(text, pos, 4)
            if not SLOT_PHRASES.isdisjoint(phrases):
                yield pos, phrases[0] in _RELATION_WORDS or "hire" in phrases[0]
    if "—" in text or "–" in text:
        for m in _SIGNATURE_LINE.finditer(text):
            yield m.end(), False


def name_slots(text: str, name: str) -> Iterator[Finding]:
    """Names right after a greeting, thanks or relation word (see the module doc)."""
    lex = lexicon.names()
    for p, relation in _slot_starts(text):
        if text[p] >= "\u3040" and _HAS_CJK.match(text, p):
            c = _CJK_AT.match(text, p)
            if c is not None:
                yield Finding(p, c.end(), Label.PERSON, 0.65, name, "CJK name after a cue")
            continue
        w1 = _WORD_AT.match(text, p)
        if w1 is None:
            continue
        k1 = _word_ok(w1.group(), lex, second=False)
        if not k1:
            continue
        e1 = w1.end()
        end = -1
        if text[e1 : e1 + 1] == " ":
            w2 = _WORD_AT.match(text, e1 + 1)
            k2 = 0 if w2 is None else _word_ok(w2.group(), lex, second=True)
            if (
                w2 is not None
                and k2
                and (_END_KNOWN.match(text, w2.end()) or (k1 >= 2 and k2 == 2))
            ):
                end = w2.end()
        if end < 0 and k1 == 3:
            if _END_UNKNOWN.match(text, e1):  # "Happy work anniversary Jun!"
                yield Finding(p, e1, Label.PERSON, 0.65, name, "name after a cue")
            continue
        if end > e1:
            # a first name and a surname outrank a repetition of one of their words
            yield Finding(p, end, Label.PERSON, 0.8, name, "name after a cue")
            continue
        ends = _END_KNOWN if k1 == 2 or relation else _END_UNKNOWN
        if ends.match(text, e1) or (k1 == 1 and relation and _LOWER_NEXT.match(text, e1)):
            score = 0.7 if k1 == 2 else 0.65
            yield Finding(p, e1, Label.PERSON, score, name, "name after a cue")
    yield from _lines(text, lex, name)


_AND_I = re.compile(r"(?<![\w'’\-])([A-Z][^\W\d_'’]{2,})[ \t]+and[ \t]+(?:I|me)\b")


def _lines(text: str, lex: dict[str, tuple[int, int]], name: str) -> Iterator[Finding]:
    """Names opening a contact line ("Jane Roe | +1 ...") or addressed at a line start,
    and "X and I"."""
    contact = " | " in text
    addressed = ", " in text
    if contact or addressed:
        pos = 0
        for line in text.split("\n"):
            if contact and " | " in line:
                m = _CONTACT_LINE.match(line)
                if m is not None:
                    yield from _contact(m, pos, lex, name)
            if addressed and ", " in line[:40]:
                m = _ADDRESSED.match(line)
                if m is not None:
                    w = m.group(1)
                    if _HAS_CJK.match(w) or _word_ok(w, lex, second=False) in (1, 2):
                        yield Finding(
                            pos + m.start(1), pos + m.end(1), Label.PERSON, 0.7, name,
                            "name addressed",
                        )  # fmt: skip
            pos += len(line) + 1
    if " and I" in text or " and me" in text:
        for m in _AND_I.finditer(text):
            # "Parisa and I met": a person beside the writer
            if _word_ok(m.group(1), lex, second=False) in (1, 2):
                yield Finding(m.start(1), m.end(1), Label.PERSON, 0.65, name, "name and I")


def _contact(
    m: re.Match[str], pos: int, lex: dict[str, tuple[int, int]], name: str
) -> Iterator[Finding]:
    if m.group(2) is not None:
        yield Finding(
            pos + m.start(2), pos + m.end(2), Label.PERSON, 0.7, name, "name on a contact line"
        )
        return
    words = m.group(1).split()
    kinds = [_word_ok(w, lex, second=i > 0) for i, w in enumerate(words)]
    if all(kinds) and any(k == 2 for k in kinds):
        yield Finding(
            pos + m.start(1), pos + m.end(1), Label.PERSON, 0.8, name, "name on a contact line"
        )


def cjk_names(text: str, name: str) -> Iterator[Finding]:
    """Han names inside other-script text (a family name first) and names before an
    honorific (さん); see the module doc."""
    if text.isascii() or not _HAS_CJK.search(text):
        return
    for m in _HAN_RUN.finditer(text):
        run = m.group()
        if run in _HAN_NOT_NAMES:
            continue
        if run[0] in _CN_SURNAMES or run[:2] in _JP_SURNAMES or run[:3] in _JP_SURNAMES:
            yield Finding(m.start(), m.end(), Label.PERSON, 0.6, name, "CJK family name")
    if _HONORIFIC_AFTER.search(text):
        for m in _HAN_HONORIFIC.finditer(text):
            if m.group() not in _HAN_NOT_NAMES:
                yield Finding(m.start(), m.end(), Label.PERSON, 0.7, name, "name + honorific")
        for m in _LATIN_HONORIFIC.finditer(text):
            yield Finding(m.start(1), m.end(1), Label.PERSON, 0.7, name, "name + honorific")
