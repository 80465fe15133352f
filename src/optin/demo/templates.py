"""Text templates of a professional network, as data.

Slots in braces are filled by :mod:`optin.demo.text`. Slots that insert personal data
(and become ground-truth spans): ``me`` ``name`` ``name2`` ``first`` (PERSON),
``handle`` ``handle2`` (HANDLE), ``email`` (EMAIL), ``phone`` (PHONE), ``url``
``url_other`` (URL), ``address`` (LOCATION), ``card`` (CREDIT_CARD), ``iban`` (IBAN),
``govid`` (GOV_ID), ``ip`` (IP_ADDRESS). The rest are not personal data: ``org``
``org2`` ``role`` ``city`` ``conf`` ``topic`` ``topic2`` ``product`` ``n`` ``years``
``skill`` ``tag`` ``tag2``.
"""

from __future__ import annotations

POSTS_EN: tuple[str, ...] = (
    # job changes
    "Thrilled to share that I'm starting a new position as {role} at {org}! Huge thanks to "
    "{name} and {handle2} for the referral and the many coffee chats. {tag} {tag2}",
    "After {years} wonderful years at {org}, today is my last day. I'm joining {org2} as "
    "{role} next month. Grateful to my manager {name} for everything. {tag}",
    "Personal news: I've been promoted to {role} at {org}. Couldn't have done it without "
    "{handle} and the whole team in {city}.",
    "I'm #opentowork! Looking for {role} roles in {city} or remote. {n} years of {skill}. "
    "Recommendations welcome, or reach me at {email}.",
    # conference recaps
    "Back from {conf} in {city}. Three takeaways on {topic}: measure first, ship small, "
    "and talk to users. Great panel with {name} ({handle}). Slides: {url}",
    "What a week at {conf}! My talk on {topic} had {n}00 people in the room. Thanks "
    "{handle} for the invite and {name2} for the hard questions. {tag}",
    "Recap of {conf}: the hallway track on {topic} beat every keynote. Met {name} from "
    "{org} and we are already planning a follow-up in {city}.",
    # hiring
    "We're hiring! {org} is looking for a {role} to work on {topic}. Remote-friendly, "
    "{city} office optional. DM me or send your CV to {email}. {tag}",
    "My team at {org} has {n} open roles ({role}, {skill}). Apply through my profile "
    "{url} or call me on {phone}. Referrals from {handle} get priority :)",
    "Hiring a {role} in {city}. If you know someone great at {skill}, tag them below. "
    "cc {handle} {handle2}",
    # congratulations
    "Congratulations to {name} on the new role at {org}! {handle}, they are lucky to "
    "have you. {tag}",
    "Proud of my mentee {name} who just shipped {product} at {org}. Follow {handle} for "
    "more on {topic}.",
    "Happy work anniversary {first}! {years} years at {org} and still the person everyone "
    "asks about {topic}.",
    # product launches
    "Today we launched {product} at {org}: {topic} made simple. Built by an amazing team "
    "led by {name}. Try it and tell me what breaks: {email}",
    "{product} is live! It took {n} months, {n}00 cups of coffee and one very patient "
    "{role} ({handle}). Demo in {city} on Thursday. {tag}",
    "Big milestone: {product} just crossed {n}0,000 users. Thank you {name}, {name2} and "
    "everyone at {org} who believed in {topic}.",
    # advice threads
    "Unpopular opinion: most {topic} problems are communication problems. What do you "
    "think, {handle}? {tag}",
    "{n} things I wish I knew before becoming a {role}: 1) write things down 2) say no "
    "more often 3) find a mentor like {name}. What would you add?",
    "Asking for advice: moving from {skill} into {topic}. Which courses or books helped "
    "you? Happy to buy coffee in {city} for a chat, text me at {phone}.",
    "A thread on negotiating your first {role} offer, based on {years} years of hiring "
    "at {org} and {org2}. Bookmark it. {tag}",
    "Mentoring office hours are open again. Book through {url} or e-mail {email}. "
    "Priority for people switching careers into {skill}.",
    # oversharing (rare slots are added by the composer, not only here)
    "Moving to {city} next month! New address for the farewell card: {address}. "
    "{name}, thanks for helping with the boxes.",
    "Quick favour: could someone at {org} vouch for {name} ({url_other})? Great "
    "{role}, just relocated to {city}.",
    "Our meetup on {topic} is at {address} this Friday, doors at 6pm. Questions to "
    "{email} or {phone}. {tag}",
)

COMMENTS_EN: tuple[str, ...] = (
    "Congrats {first}! Well deserved.",
    "Great post, {handle}. Totally agree on {topic}.",
    "Thanks for sharing! Looping in {handle} who was asking about this.",
    "Interested! Sent you a message, my e-mail is {email}.",
    "Love this. {name} said the same at {conf} last year.",
    "Congratulations {name}, {org} is lucky to have you!",
    "Is this role open to people in {city}? You can reach me on {phone}.",
    "So proud of you {first}! {tag}",
    "Following. {handle} {handle2} you should see this.",
    "Could you share the slides? {email}",
    "Agree with {handle}: {topic} is underrated.",
    "Well said. Connect with me here: {url}",
)

MESSAGES_EN: tuple[str, ...] = (
    "Hi {first}, great to meet you at {conf}. Here is my number {phone} and my personal "
    "e-mail {email}. Let's talk about the {role} role.",
    "Hey {first}, the contract is ready. Please send it back to {address}.",
    "Hi {first}, for the reimbursement please use IBAN {iban}. Thanks!",
    "Sorry to bother you {first}: HR asked for your SSN again, I think it's {govid}? "
    "Please double-check.",
    "{first}, here's the card for the team dinner: {card}, expires next year.",
    "Hi {first}, call me at {phone} when you land in {city}.",
)

ARTICLE_PARAGRAPHS_EN: tuple[str, ...] = (
    "When I joined {org} as a {role}, I thought {topic} was a tooling problem. It is not. "
    "It is a habit problem, and habits change one team at a time.",
    "My former manager {name} had a rule: never ship on a Friday, never skip a retro. "
    "I have broken the first rule twice and regretted it both times.",
    "The data says the same thing. Across {n} projects, the teams that invested in "
    "{skill} early shipped {n}0% faster and churned fewer people.",
    "If you are starting out, find the people who explain things well. For me that was "
    "{handle}, whose notes on {topic} I still reread.",
    "We tried three approaches to {topic2}: buy, build and borrow. Borrowing from open "
    "source won, with a small team in {city} keeping it healthy.",
    "None of this is new. What is new is the pace: what took a year at {org2} now takes "
    "a quarter, and {product} is the proof.",
    "A note on hiring: ask candidates to explain {topic} to a ten-year-old. The best "
    "{role} I ever hired, {name2}, did it in two sentences.",
)

ARTICLE_TITLES_EN: tuple[str, ...] = (
    "What {years} years of {topic} taught me",
    "Why {topic} is a people problem",
    "The {role}'s guide to {topic}",
    "Lessons from shipping {product}",
    "How we rebuilt {topic2} at {org}",
)

FOOTERS_EN: tuple[str, ...] = (
    "\n\nReach me at {email}.",
    "\n\nCall or text: {phone}",
    "\n\nMore on my profile: {url}",
    "\n\n— {me}, {role} at {org}",
    "\n\n{me} | {phone} | {email}",
    "\n\nOffice: {address}",
    "\n\n(Connecting from {ip} while travelling, apologies for typos.)",
)

OVERSHARE_EN: tuple[str, ...] = (
    " PSA: my card {card} was charged twice by a conference ticket site, anyone else?",
    " For the group gift, send your share to IBAN {iban}.",
    " HR sent my ID number {govid} over plain e-mail. Is that normal?",
    " Server logs show logins from {ip}, security team is on it.",
)

#: a few posts in other languages: (language, template)
POSTS_OTHER: dict[str, tuple[str, ...]] = {
    "de": (
        "Ich freue mich, dass ich als {role} bei {org} anfange! Danke an {name} und "
        "{handle} für die Unterstützung. Erreichbar unter {email}.",
        "Wir stellen ein: {role} in {city}. Meldet euch bei mir unter {phone}. {tag}",
        "Rückblick auf die {conf}: spannende Gespräche über {topic} mit {name}.",
    ),
    "fr": (
        "Ravi de rejoindre {org} en tant que {role} ! Merci à {name} et {handle}. "
        "Contact : {email}",
        "Nous recrutons un(e) {role} à {city}. Écrivez-moi ou appelez le {phone}. {tag}",
        "Retour sur {conf} : trois idées sur {topic}, merci {handle} pour l'invitation.",
    ),
    "es": (
        "¡Feliz de anunciar que empiezo como {role} en {org}! Gracias {name} y {handle}. "
        "Escríbeme a {email}.",
        "Estamos contratando: {role} en {city}. Llámame al {phone}. {tag}",
        "Resumen de {conf}: aprendí mucho sobre {topic} con {name}.",
    ),
    "pt": (
        "Feliz em anunciar que comecei como {role} na {org}! Obrigado {name} e {handle}. "
        "Contato: {email}",
        "Estamos contratando {role} em {city}. Me chama no {phone}. {tag}",
    ),
    "it": (
        "Felice di annunciare che inizio come {role} in {org}! Grazie a {name} e {handle}. "
        "Scrivetemi a {email}.",
        "Cerchiamo un {role} a {city}. Chiamatemi al {phone}. {tag}",
    ),
    "nl": ("Trots dat ik begin als {role} bij {org}! Dank aan {name} en {handle}. Mail: {email}",),
    "ja": (
        "{org}で{role}として働き始めました！{name}さん、{handle}さん、ありがとうございます。"
        "連絡先：{email}",
        "{conf}に参加しました。{topic}について{name}さんと議論できて楽しかったです。",
    ),
}

ORG_HEADS = (
    "Northwind",
    "Bluefin",
    "Cobalt",
    "Helix",
    "Lumen",
    "Quanta",
    "Redwood",
    "Silverline",
    "Tidewater",
    "Vantage",
    "Zephyr",
    "Brightpath",
    "Cedar",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Granite",
    "Harbor",
    "Ironclad",
    "Juniper",
    "Keystone",
    "Lighthouse",
    "Nimbus",
    "Orchid",
    "Pinnacle",
    "Quill",
    "Riverstone",
    "Summit",
    "Tessellate",
    "Umbra",
)
ORG_TAILS = (
    "Labs",
    "Analytics",
    "Robotics",
    "Health",
    "Systems",
    "Capital",
    "Logistics",
    "Software",
    "Bank",
    "Energy",
    "Media",
    "Consulting",
    "AI",
    "Foods",
    "Games",
    "Security",
    "Bio",
)
ROLES = (
    "Senior Data Engineer",
    "Product Manager",
    "Staff Software Engineer",
    "UX Researcher",
    "Head of Growth",
    "ML Engineer",
    "Engineering Manager",
    "Data Scientist",
    "Customer Success Lead",
    "DevOps Engineer",
    "Marketing Director",
    "Technical Writer",
    "Solutions Architect",
    "Recruiter",
    "Security Analyst",
    "Chief of Staff",
    "Designer",
    "Frontend Developer",
    "Sales Engineer",
    "VP of Engineering",
)
CONFERENCES = (
    "PyCon US",
    "KubeCon",
    "NeurIPS",
    "Web Summit",
    "DevOpsDays",
    "SaaStr Annual",
    "Grace Hopper Celebration",
    "RSA Conference",
    "JSConf",
    "Strata Data",
    "re:Invent",
    "Google I/O",
    "Collision",
    "VivaTech",
    "Slush",
)
TOPICS = (
    "platform engineering",
    "LLM evaluation",
    "supply-chain resilience",
    "B2B pricing",
    "developer experience",
    "observability",
    "data contracts",
    "remote onboarding",
    "accessibility",
    "zero-trust security",
    "product analytics",
    "technical debt",
    "hiring pipelines",
    "design systems",
    "cost optimisation",
    "responsible AI",
)
SKILLS = (
    "Python",
    "Kubernetes",
    "SQL",
    "product strategy",
    "React",
    "people management",
    "data modelling",
    "Go",
    "TypeScript",
    "customer research",
    "cloud security",
    "Rust",
)
PRODUCTS = (
    "Atlas",
    "Beacon",
    "Compass",
    "Drift",
    "Ember",
    "Forge",
    "Glide",
    "Harbor Pay",
    "Insight 2.0",
    "Jetstream",
    "Keel",
    "Loop",
    "Mosaic",
    "Nova",
    "Orbit",
)
TAGS = (
    "#hiring",
    "#opentowork",
    "#leadership",
    "#datascience",
    "#careers",
    "#engineering",
    "#productmanagement",
    "#AI",
    "#startups",
    "#mentoring",
    "#remotework",
    "#DEI",
)
