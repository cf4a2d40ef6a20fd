"""The header of a patch: ``git format-patch`` mail headers, description and DEP-3 fields."""

from __future__ import annotations

import re

from sync.series.model import PatchMeta

_MBOX_FROM = re.compile(r"^From [^\s:]+ ")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*)$")
_DEP3 = {"description", "subject", "origin", "bug", "forwarded", "author", "from",
         "reviewed-by", "acked-by", "last-update", "applied-upstream"}
_MAIL = {"from", "date", "subject"}
_PATCH_TAG = re.compile(r"^\s*(\[[^\]]*\]\s*)+")


def parse_meta(preamble: bytes) -> PatchMeta:
    """Read subject, author, date, description and DEP-3 fields from a patch's preamble."""
    lines = preamble.decode("utf-8", "replace").split("\n")
    if lines and _MBOX_FROM.match(lines[0]):
        lines = lines[1:]
    header, rest = _paragraph(lines)
    mail: dict[str, str] = {}
    fields: list[tuple[str, str]] = []
    for key, value in header:
        if key.lower() in _MAIL:
            mail.setdefault(key.lower(), value)
        if key.lower() in _DEP3 or key.lower().startswith("bug-"):
            fields.append((key, value))
    body: list[str] = []
    for line in rest:
        if line == "---":  # end of the description in format-patch mails
            break
        body.append(line)
    fields.extend(_body_fields(body))
    is_mail = "from" in mail and ("subject" in mail or "date" in mail)
    description = "\n".join(body).strip("\n") if is_mail else ""
    subject = mail.get("subject") if is_mail else None
    if not is_mail:
        described = _field(fields, "description") or _field(fields, "subject")
        if described:
            subject, _, description = described.partition("\n")
            description = description.strip("\n")
    author = (mail.get("from") if is_mail else None) or _field(fields, "author") or _field(
        fields, "from")
    return PatchMeta(subject=_clean_subject(subject), author=_decode(author),
                     date=mail.get("date") if is_mail else _field(fields, "last-update"),
                     description=description, fields=tuple(fields))


def _paragraph(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The leading ``Key: value`` block (with folded lines) and what follows it."""
    found: list[tuple[str, str]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.strip() == "":
            index += 1
            break
        if line[:1] in (" ", "\t") and found:
            key, value = found[-1]
            found[-1] = (key, value + "\n" + line.strip() if key.lower() == "description"
                         else value + " " + line.strip())
            index += 1
            continue
        match = _FIELD.match(line)
        if not match:
            return found, lines[index:]
        found.append((match.group(1), match.group(2).strip()))
        index += 1
    return found, lines[index:]


def _body_fields(body: list[str]) -> list[tuple[str, str]]:
    """DEP-3 fields written inside a mail's description (``Forwarded: no`` and the like)."""
    found = []
    for line in body:
        match = _FIELD.match(line)
        if match and (match.group(1).lower() in _DEP3 - _MAIL or
                      match.group(1).lower().startswith("bug-")):
            found.append((match.group(1), match.group(2).strip()))
    return found


def _field(fields: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in fields if key.lower() == name), None)


def _decode(value: str | None) -> str | None:
    if value is None or "=?" not in value:
        return value
    from email.header import decode_header, make_header  # RFC 2047 words: rare, and slow to load

    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError):
        return value


def _clean_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    return _PATCH_TAG.sub("", _decode(subject) or "").strip() or None
