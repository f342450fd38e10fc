"""Patient identifiers for the PHI tests (CLI and window), and the search for them in output.

``IDENTIFIERS`` go into a DICOM header; ``PATIENT_FOLDER`` and ``PATIENT_FILE`` name the folders and
files that hold the inputs, as clinics name exports after the patient (name, record number, birth
date). :func:`leaks` looks for each of them, and each part of a name, in any case, as UTF-8,
UTF-16, percent-encoded or JSON-escaped text.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

IDENTIFIERS = {
    "PatientName": "Zyxwvut^Qponmlk",
    "PatientID": "PID-7731-XQ",
    "PatientBirthDate": "19580317",
    "InstitutionName": "St Quillibert Clinic",
    "AccessionNumber": "ACC99881177",
}
PATIENT_FOLDER = "Quimbledorf_Janetta_1970-01-01"
PATIENT_FILE = "QUIMBLEDORF^JANETTA_MRN123456_19700101"
PATH_IDENTIFIERS = (PATIENT_FOLDER, PATIENT_FILE, "QUIMBLEDORF^JANETTA", "MRN123456", "19700101", "1970-01-01")


def _forms(value: str) -> set[str]:
    """The value, with the name's '^' as a space or '_', and each part of it (4 characters or more)."""
    parts = value.replace("^", "_").split("_")
    return {value, value.replace("^", " "), value.replace("^", "_")} | {part for part in parts if len(part) >= 4}


FORMS = sorted({form.lower() for value in (*IDENTIFIERS.values(), *PATH_IDENTIFIERS) for form in _forms(value)})
HEADER_FORMS = sorted({form.lower() for value in IDENTIFIERS.values() for form in _forms(value)})


def _encodings(form: str) -> set[bytes]:
    texts = {form, quote(form), quote(form, safe=""), json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]}
    return {text.lower().encode(codec) for text in texts for codec in ("utf-8", "utf-16-le")}


ENCODED = {form: _encodings(form) for form in FORMS}


def leaks(data: bytes | str, forms: list[str] = FORMS) -> list[str]:
    """The identifier ``forms`` found in ``data`` (text or raw bytes), in any case and encoding above
    (``HEADER_FORMS``: only the DICOM header's, for what may name the user's own files)."""
    data = (data.encode("utf-8") if isinstance(data, str) else data).lower()
    return [form for form in forms if any(e in data for e in ENCODED[form])]


def leaks_under(folder: Path) -> dict[str, list[str]]:
    """Every file under ``folder`` whose bytes or path (relative to ``folder``) hold an identifier form,
    with the forms found; {} when none does."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        name = str(path.relative_to(folder))
        forms = leaks(name) + (leaks(path.read_bytes()) if path.is_file() else [])
        if forms:
            found[name] = sorted(set(forms))
    return found
