"""Person names from a shipped lexicon, capitalisation and context cues.

How a name is found (scores in brackets; the analyzer resolves overlaps by score):

* a title before capitalised words: "Dr. Jane Roe", "Mr Murray" (0.9);
* a run of 2-4 capitalised words that starts with a known first name (or an initial)
  and continues with surnames, initials or unknown capitalised words (0.85);
* an unknown capitalised word followed by a known surname (0.7);
* a single known first name that is not also a common English word or a place (0.7);
* a single known surname, not a common word or place, not sentence-initial (0.55);
* any capitalised word after a cue such as "thanks to", "congrats", "cc", "hi",
  "Name:", "posted by" (0.65 / 0.8 for field labels);
* CamelCase user names that start with a first name, "JohnResearcher62" (0.6);
* every later mention of a word of a name already found in the same text (0.75),
  so "Mr Robert Murray ... Murray" is caught twice;
* optionally (``lowercase=True``, the ``accurate`` profile) lower-case first names that
  are not common words ("emma", "ryan") (0.5).

Negatives: function words, months, days, common capitalised nouns, hashtags, words
after ``@``/``#``, all-caps headings (unless the lexicon says first name + surname), a
word that is not a known name before a job-role noun ("DevOps Engineer"), CamelCase
product or tech words that are not known names ("GitHub", "JavaScript", "MacBook").

The package, one concern per module:

=================  =======================================================================
``words``          word lists: particles, cues, contractions, field labels, tech tails
``tokens``         token classes: what one word can be (kind, lexicon flags), cached
``rules``          the rule tables: when one word, or a run of words, is a name
``cues``           finders driven by the text around a name: fields, "my name is",
                   lower-case names, enumerations, later mentions
``filters``        findings that are an address, a product or a field
``recognizer``     :class:`PersonRecognizer`: runs of capitalised words, in that order
=================  =======================================================================
"""

from optin.privacy.detect.recognizers.person.recognizer import PersonRecognizer

__all__ = ["PersonRecognizer"]
