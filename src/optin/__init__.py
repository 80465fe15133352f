"""optin: consent-first training data for generative AI."""

__version__ = "0.1.0"
