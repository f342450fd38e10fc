"""Patient identifiers for the PHI tests (CLI and window), and the search for them in output."""

from __future__ import annotations

IDENTIFIERS = {
    "PatientName": "Zyxwvut^Qponmlk",
    "PatientID": "PID-7731-XQ",
    "PatientBirthDate": "19580317",
    "InstitutionName": "St Quillibert Clinic",
    "AccessionNumber": "ACC99881177",
}
# Each value as written, with the name's '^' as a space, and each part of the name alone.
FORMS = sorted({form for value in IDENTIFIERS.values() for form in (value, value.replace("^", " "), *value.split("^"))})


def leaks(data: bytes | str) -> list[str]:
    """The identifier forms found in ``data`` (UTF-8 or UTF-16 text, or raw bytes)."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    return [form for form in FORMS if form.encode() in data or form.encode("utf-16-le") in data]
