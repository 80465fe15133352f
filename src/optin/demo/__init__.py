"""The demo platform's pure parts: countries, names, templates, personal-data generators,
and the text composer that keeps ground-truth spans. No database, no clock: the service
:mod:`optin.services.demo` drives them with a seeded random generator and a fixed "now".
"""
