"""The Coding page's words in English and Dutch, and how a request picks its language. Pure."""

from __future__ import annotations

LANGUAGES = ("nl", "en")
DEFAULT = "nl"  # the schools are Dutch

TEXTS: dict[str, dict[str, str]] = {
    "app": {"en": "AI-School Coding", "nl": "AI-School Coding"},
    "console": {"en": "Coding page", "nl": "Codingpagina"},
    "signin": {"en": "Sign in", "nl": "Inloggen"},
    "signin_intro": {
        "en": "Paste your administrator token (ais-admin-…). It is exchanged for a session "
        "and not kept in your browser.",
        "nl": "Plak je beheerderstoken (ais-admin-…). Het wordt omgeruild voor een sessie en "
        "niet in je browser bewaard.",
    },
    "token": {"en": "Administrator token", "nl": "Beheerderstoken"},
    "bad_token": {
        "en": "This administrator token is not valid (unknown or revoked).",
        "nl": "Dit beheerderstoken is niet geldig (onbekend of ingetrokken).",
    },
    "signout": {"en": "Sign out", "nl": "Uitloggen"},
    "signed_in_as": {"en": "Signed in as {name}", "nl": "Ingelogd als {name}"},
    "schools_all": {"en": "all schools", "nl": "alle scholen"},
    "language": {"en": "Language", "nl": "Taal"},
    "staff": {"en": "Staff", "nl": "Medewerkers"},
    "students": {"en": "Students", "nl": "Leerlingen"},
    "usage": {"en": "Usage", "nl": "Gebruik"},
    "group": {"en": "Group", "nl": "Groep"},
    "school": {"en": "School", "nl": "School"},
    "all_schools": {"en": "All schools", "nl": "Alle scholen"},
    "show": {"en": "Show", "nl": "Toon"},
    "search": {
        "en": "Search name, username or account",
        "nl": "Zoek op naam, gebruikersnaam of account",
    },
    "search_button": {"en": "Search", "nl": "Zoeken"},
    "sort": {"en": "Sort by", "nl": "Sorteer op"},
    "name": {"en": "Name", "nl": "Naam"},
    "username": {"en": "Username", "nl": "Gebruikersnaam"},
    "account": {"en": "Account", "nl": "Account"},
    "linked": {"en": "linked", "nl": "gekoppeld"},
    "not_linked": {
        "en": "not linked: no key possible",
        "nl": "niet gekoppeld: geen sleutel mogelijk",
    },
    "key": {"en": "Key", "nl": "Sleutel"},
    "status": {"en": "Status", "nl": "Status"},
    "budget": {"en": "Budget (USD)", "nl": "Budget (USD)"},
    "used": {"en": "Used", "nl": "Verbruikt"},
    "renewal": {"en": "Renewal", "nl": "Vernieuwing"},
    "next_renewal": {"en": "next {when}", "nl": "volgende {when}"},
    "window": {"en": "Valid", "nl": "Geldig"},
    "last_use": {"en": "Last use", "nl": "Laatst gebruikt"},
    "actions": {"en": "Actions", "nl": "Acties"},
    "never": {"en": "never", "nl": "nooit"},
    "always": {"en": "always", "nl": "altijd"},
    "from": {"en": "from {when}", "nl": "vanaf {when}"},
    "until": {"en": "until {when}", "nl": "tot {when}"},
    "st_active": {"en": "active", "nl": "actief"},
    "st_revoked": {"en": "revoked", "nl": "ingetrokken"},
    "st_expired": {"en": "expired", "nl": "verlopen"},
    "st_not_yet_valid": {"en": "not yet valid", "nl": "nog niet geldig"},
    "st_none": {"en": "no key", "nl": "geen sleutel"},
    "st_elsewhere": {"en": "key from another school", "nl": "sleutel van een andere school"},
    "key_elsewhere": {
        "en": "only that school can replace or revoke it",
        "nl": "alleen die school kan hem vervangen of intrekken",
    },
    "disabled_no_key": {
        "en": "disabled in the roster: no key possible",
        "nl": "uitgeschakeld in de leerlingenadministratie: geen sleutel mogelijk",
    },
    "rn_none": {"en": "none", "nl": "geen"},
    "rn_daily": {"en": "daily", "nl": "dagelijks"},
    "rn_weekly": {"en": "weekly", "nl": "wekelijks"},
    "rn_monthly": {"en": "monthly", "nl": "maandelijks"},
    "new_key": {"en": "New key", "nl": "Nieuwe sleutel"},
    "new_key_for": {"en": "New key for {name}", "nl": "Nieuwe sleutel voor {name}"},
    "replace_key_for": {"en": "Replace the key of {name}", "nl": "Sleutel van {name} vervangen"},
    "replace": {"en": "Replace", "nl": "Vervangen"},
    "revoke": {"en": "Revoke", "nl": "Intrekken"},
    "usage_of": {"en": "Usage", "nl": "Gebruik"},
    "start": {"en": "Start ({zone}, optional)", "nl": "Begin ({zone}, optioneel)"},
    "end": {"en": "End ({zone}, optional)", "nl": "Einde ({zone}, optioneel)"},
    "save": {"en": "Save", "nl": "Opslaan"},
    "cancel": {"en": "Cancel", "nl": "Annuleren"},
    "close": {"en": "Close", "nl": "Sluiten"},
    "confirm": {"en": "Confirm", "nl": "Bevestigen"},
    "copy": {"en": "Copy key", "nl": "Sleutel kopiëren"},
    "copied": {"en": "Copied.", "nl": "Gekopieerd."},
    "key_once": {
        "en": "This key is shown only now. It cannot be shown again: copy it before you close.",
        "nl": "Deze sleutel wordt alleen nu getoond en kan niet opnieuw worden getoond: "
        "kopieer hem voordat je sluit.",
    },
    "the_new_key": {"en": "The new key", "nl": "De nieuwe sleutel"},
    "group_keys": {"en": "Create keys for this group", "nl": "Sleutels maken voor deze groep"},
    "group_keys_for": {"en": "Keys for group {name}", "nl": "Sleutels voor groep {name}"},
    "next": {"en": "Next", "nl": "Volgende"},
    "create_keys": {"en": "Create keys", "nl": "Sleutels maken"},
    "plan": {
        "en": "{count} key(s) will be made, for: {names}.",
        "nl": "Er worden {count} sleutel(s) gemaakt, voor: {names}.",
    },
    "plan_none": {
        "en": "Nobody in this group can get a new key.",
        "nl": "Niemand in deze groep kan een nieuwe sleutel krijgen.",
    },
    "skipped": {"en": "Skipped: {names}.", "nl": "Overgeslagen: {names}."},
    "sk_no_account": {"en": "no linked account", "nl": "geen gekoppeld account"},
    "sk_has_key": {"en": "already has a key", "nl": "heeft al een sleutel"},
    "made": {
        "en": "{count} key(s) made. The key sheet (PDF) is being downloaded.",
        "nl": "{count} sleutel(s) gemaakt. Het sleutelblad (PDF) wordt gedownload.",
    },
    "open_sheet": {"en": "Open the key sheet again", "nl": "Sleutelblad opnieuw openen"},
    "revoke_group": {"en": "Revoke this group's keys", "nl": "Sleutels van deze groep intrekken"},
    "revoke_count": {
        "en": "This revokes {count} key(s): {names}.",
        "nl": "Hiermee worden {count} sleutel(s) ingetrokken: {names}.",
    },
    "revoke_none": {
        "en": "This group has no keys to revoke.",
        "nl": "Deze groep heeft geen sleutels om in te trekken.",
    },
    "revoke_one": {
        "en": "This revokes 1 key: {name} ({hint}).",
        "nl": "Hiermee wordt 1 sleutel ingetrokken: {name} ({hint}).",
    },
    "revoked_n": {"en": "{count} key(s) revoked.", "nl": "{count} sleutel(s) ingetrokken."},
    "revoke_title": {"en": "Revoke keys", "nl": "Sleutels intrekken"},
    "revoke_reason": {"en": "Revoked on the Coding page", "nl": "Ingetrokken via de Codingpagina"},
    "no_people": {"en": "Nobody here.", "nl": "Niemand hier."},
    "no_groups": {"en": "No groups in your schools.", "nl": "Geen groepen in je scholen."},
    "pick_group": {"en": "Pick a group.", "nl": "Kies een groep."},
    "usage_unavailable": {
        "en": "Usage is unavailable: the ledger service cannot be reached. Keys still work.",
        "nl": "Gebruik is niet beschikbaar: de ledger-service is niet bereikbaar. Sleutels "
        "werken gewoon.",
    },
    "error": {"en": "Something went wrong: {detail}", "nl": "Er ging iets mis: {detail}"},
    "not_found": {"en": "Not found: {detail}", "nl": "Niet gevonden: {detail}"},
    "usage_group": {"en": "Usage of group {name}", "nl": "Gebruik van groep {name}"},
    "usage_user": {"en": "Usage of {name}", "nl": "Gebruik van {name}"},
    "period": {"en": "{start} to {end}", "nl": "{start} t/m {end}"},
    "requests": {"en": "Requests", "nl": "Verzoeken"},
    "cost": {"en": "Cost (USD)", "nl": "Kosten (USD)"},
    "chats": {"en": "Chats", "nl": "Chats"},
    "total": {"en": "Total", "nl": "Totaal"},
    "cost_per_day": {
        "en": "Cost per day (USD, days in {zone})",
        "nl": "Kosten per dag (USD, dagen in {zone})",
    },
    "chart_label": {
        "en": "Cost per day from {start} to {end}; highest {max} USD",
        "nl": "Kosten per dag van {start} t/m {end}; hoogste {max} USD",
    },
    "keys_of": {"en": "Keys", "nl": "Sleutels"},
    "chats_of_key": {"en": "Chats of key {hint}", "nl": "Chats van sleutel {hint}"},
    "title": {"en": "Title", "nl": "Titel"},
    "started": {"en": "Started", "nl": "Begonnen"},
    "model": {"en": "Model", "nl": "Model"},
    "chat": {"en": "Chat", "nl": "Chat"},
    "chat_requests": {"en": "Requests of the chat", "nl": "Verzoeken van de chat"},
    "at": {"en": "At", "nl": "Tijdstip"},
    "tokens_in_out": {"en": "Tokens in / out", "nl": "Tokens in / uit"},
    "untitled": {"en": "(untitled)", "nl": "(zonder titel)"},
    "back": {"en": "Back", "nl": "Terug"},
    "see_chats": {"en": "Chats", "nl": "Chats"},
    "ascending": {"en": "ascending", "nl": "oplopend"},
    "descending": {"en": "descending", "nl": "aflopend"},
    "direction": {"en": "Order", "nl": "Volgorde"},
}


def text(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` with ``values`` filled in (English when missing)."""
    entry = TEXTS[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**values) if values else template


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The switch's cookie wins; else the browser's most preferred of Dutch and English."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        q = _quality(params)
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


def _quality(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip() != "q":
        return 1.0
    try:
        return float(value)
    except ValueError:
        return 0.0
